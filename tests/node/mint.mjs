// Mints a compact JWS with the npm `jose` package, for the end-to-end tests.
// stdin: {"alg": "...", "jwk": {private JWK}, "header": {...}, "claims": {...}}
// stdout: the token.
import { importJWK, SignJWT } from 'jose';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const { alg, jwk, header, claims } = JSON.parse(input);
const key = await importJWK(jwk, alg);
const token = await new SignJWT(claims)
  .setProtectedHeader({ alg, ...header })
  .sign(key);
process.stdout.write(token);
