"""A test identity provider: fresh keys, a JWKS, and ID tokens minted by two
independent libraries (Python PyJWT and the npm `jose` package)."""

import json
import os
import subprocess
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, RSAPSSAlgorithm

NODE_MINTER = os.path.join(os.path.dirname(__file__), "..", "node", "mint.mjs")

# alg -> (key family, PyJWT algorithm class)
ALGS = {
    "RS256": ("rsa", RSAAlgorithm),
    "PS256": ("rsa", RSAPSSAlgorithm),
    "ES256": ("p256", ECAlgorithm),
    "ES384": ("p384", ECAlgorithm),
    "EdDSA": ("ed25519", OKPAlgorithm),
}


def _new_key(family):
    if family == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if family == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if family == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    return ed25519.Ed25519PrivateKey.generate()


class OidcIdP:
    def __init__(self, name, issuer, client_id):
        self.name = name
        self.issuer = issuer
        self.client_id = client_id
        self.keys = {fam: _new_key(fam) for fam in ("rsa", "p256", "p384", "ed25519")}

    def kid(self, family):
        return f"{self.name}-{family}"

    def jwk(self, family, private=False):
        algcls = {"rsa": RSAAlgorithm, "p256": ECAlgorithm, "p384": ECAlgorithm, "ed25519": OKPAlgorithm}[family]
        key = self.keys[family] if private else self.keys[family].public_key()
        d = json.loads(algcls.to_jwk(key))
        d["kid"] = self.kid(family)
        return d

    def jwks(self):
        return {"keys": [self.jwk(f) for f in self.keys]}

    def register(self, conn, **columns):
        cols = {
            "name": self.name,
            "protocol": "oidc",
            "issuer": self.issuer,
            "audiences": [self.client_id],
            "jwks": json.dumps(self.jwks()),
        }
        cols.update(columns)
        names = ", ".join(cols)
        marks = ", ".join(["%s"] * len(cols))
        conn.execute(f"insert into jit.providers ({names}) values ({marks})", list(cols.values()))

    def claims(self, sub="alice", **extra):
        now = int(time.time())
        c = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": sub,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            "email": f"{sub}@example.com" if sub else None,
            "name": sub.title() if sub else None,
        }
        c.update(extra)
        return {k: v for k, v in c.items() if v is not None}

    def mint(self, claims=None, alg="RS256", via="pyjwt", headers=None, key_family=None):
        claims = self.claims() if claims is None else claims
        family = key_family or ALGS[alg][0]
        header = {"kid": self.kid(family), "typ": "JWT"}
        header.update(headers or {})
        header = {k: v for k, v in header.items() if v is not None}
        if via == "pyjwt":
            return jwt.encode(claims, self.keys[family], algorithm=alg, headers=header)
        if via == "jose":
            header.pop("alg", None)
            payload = json.dumps({"alg": alg, "jwk": self.jwk(family, private=True), "header": header, "claims": claims})
            out = subprocess.run(["node", NODE_MINTER], input=payload, capture_output=True, text=True, check=True)
            return out.stdout.strip()
        raise ValueError(via)
