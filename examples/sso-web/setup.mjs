// Prepares everything the web example needs, in one database:
//   - fresh signing keys for the two identity providers (an RSA JWK for the
//     OpenID Connect provider, an RSA key and a self-signed certificate for
//     the SAML IdP), written to STATE/idp.json together with the test accounts;
//   - STATE/app.json: the application's client credentials, URLs and database;
//   - the jit.providers rows pinning those keys, the jit.group_map rows, and
//     the application's RLS-protected `notes` table, granted to the app role.
//
// Connects as a superuser through the usual PG* variables (PGHOST, PGPORT,
// PGDATABASE, PGUSER). Safe to re-run: keys are renewed, rows replaced.
//
//   node setup.mjs --state DIR --app-url URL --oidc-url URL --saml-url URL --app-role ROLE

import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';

const { values: opt } = parseArgs({
  options: {
    state: { type: 'string' },
    'app-url': { type: 'string', default: 'http://127.0.0.1:8700' },
    'oidc-url': { type: 'string', default: 'http://127.0.0.1:8701' },
    'saml-url': { type: 'string', default: 'http://127.0.0.1:8702' },
    'app-role': { type: 'string', default: 'sso_web_app' },
  },
});
if (!opt.state) throw new Error('--state DIR is required');
const appUrl = opt['app-url'].replace(/\/$/, '');
const oidcUrl = opt['oidc-url'].replace(/\/$/, '');
const samlUrl = opt['saml-url'].replace(/\/$/, '');
const appRole = opt['app-role'];
if (!/^[a-z_][a-z0-9_]*$/.test(appRole)) throw new Error(`unusable role name: ${appRole}`);

const secret = () => randomBytes(32).toString('base64url');
const port = (url) => Number(new URL(url).port);

// The test accounts both identity providers know. `groups` is what the IdP
// asserts; jit.group_map below turns it into application groups.
const accounts = {
  alice: {
    password: 'alice-password', email: 'alice@example.com', email_verified: true,
    name: 'Alice Anderson', given_name: 'Alice', family_name: 'Anderson',
    groups: ['engineering', 'vpn-users'],
  },
  bob: {
    password: 'bob-password', email: 'bob@example.com', email_verified: true,
    name: 'Bob Brown', given_name: 'Bob', family_name: 'Brown',
    groups: ['sales'],
  },
};

// OpenID Connect provider: one RS256 signing key.
const { privateKey: oidcKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const kid = 'sso-web-' + randomBytes(6).toString('hex');
const privateJwk = { ...oidcKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
const publicJwks = { keys: [{ kty: 'RSA', n: privateJwk.n, e: privateJwk.e, kid, alg: 'RS256', use: 'sig' }] };

// SAML IdP: an RSA key and the self-signed certificate IdPs publish.
const tmp = mkdtempSync(join(tmpdir(), 'sso-web-'));
let samlKey, samlCert;
try {
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '3650',
    '-subj', '/O=Example Identity/CN=sso-web SAML IdP',
    '-keyout', join(tmp, 'key.pem'), '-out', join(tmp, 'cert.pem'),
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  samlKey = readFileSync(join(tmp, 'key.pem'), 'utf8');
  samlCert = readFileSync(join(tmp, 'cert.pem'), 'utf8');
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const oidc = {
  provider: 'sso-web-oidc',
  issuer: oidcUrl,
  clientId: 'sso-web',
  clientSecret: secret(),
  redirectUri: `${appUrl}/oidc/callback`,
};
const saml = {
  provider: 'sso-web-saml',
  entityId: `${samlUrl}/metadata`,
  ssoUrl: `${samlUrl}/sso`,
  spEntityId: `${appUrl}/saml/metadata`,
  acsUrl: `${appUrl}/saml/acs`,
};

mkdirSync(opt.state, { recursive: true });
const write = (name, data) =>
  writeFileSync(join(opt.state, name), JSON.stringify(data, null, 2) + '\n', { mode: 0o600 });

// What the identity providers need (private keys stay here).
write('idp.json', {
  adminToken: secret(),
  accounts,
  oidc: {
    issuer: oidc.issuer, port: port(oidcUrl), cookieKeys: [secret()], jwks: { keys: [privateJwk] },
    client: {
      client_id: oidc.clientId, client_secret: oidc.clientSecret,
      redirect_uris: [oidc.redirectUri], post_logout_redirect_uris: [`${appUrl}/`],
    },
  },
  saml: {
    entityId: saml.entityId, ssoUrl: saml.ssoUrl, port: port(samlUrl), cookieKey: secret(),
    privateKey: samlKey, certificate: samlCert,
    sp: { entityId: saml.spEntityId, acsUrl: saml.acsUrl },
  },
});

// What the application needs: no IdP key, only its own client secret.
write('app.json', {
  url: appUrl, port: port(appUrl), cookieSecret: secret(),
  database: {
    host: process.env.PGHOST, port: Number(process.env.PGPORT || 5432),
    database: process.env.PGDATABASE, user: appRole,
  },
  oidc: { issuer: oidc.issuer, clientId: oidc.clientId, clientSecret: oidc.clientSecret, redirectUri: oidc.redirectUri },
  saml: { ssoUrl: saml.ssoUrl, logoutUrl: `${samlUrl}/logout`, spEntityId: saml.spEntityId, acsUrl: saml.acsUrl },
});

// The database side, as the DBA.
const db = new pg.Client();
await db.connect();
try {
  await db.query('begin');
  await db.query('create extension if not exists jit_provision');
  await db.query(`do $$ begin
      if not exists (select from pg_roles where rolname = '${appRole}') then
        create role ${appRole} login nosuperuser;
      end if; end $$`);

  await db.query(
    `insert into jit.providers (name, protocol, issuer, audiences, jwks)
     values ($1, 'oidc', $2, $3, $4)
     on conflict (name) do update set issuer = excluded.issuer, audiences = excluded.audiences,
                                      jwks = excluded.jwks`,
    [oidc.provider, oidc.issuer, [oidc.clientId], publicJwks],
  );
  await db.query(
    `insert into jit.providers (name, protocol, issuer, audiences, certificates, acs_urls)
     values ($1, 'saml', $2, $3, $4, $5)
     on conflict (name) do update set issuer = excluded.issuer, audiences = excluded.audiences,
                                      certificates = excluded.certificates, acs_urls = excluded.acs_urls`,
    [saml.provider, saml.entityId, [saml.spEntityId], [samlCert], [saml.acsUrl]],
  );
  // IdP group -> application group, the same for both providers.
  await db.query('delete from jit.group_map where provider = any($1)', [[oidc.provider, saml.provider]]);
  await db.query(
    `insert into jit.group_map (provider, idp_group, app_group)
     select p, g, a from unnest($1::text[]) p,
       (values ('engineering', 'developers'), ('sales', 'sales'), ('ops', 'operators'), ('*', 'everyone')) m(g, a)`,
    [[oidc.provider, saml.provider]],
  );

  // The application's own table: each user sees and adds only their notes.
  await db.query(`
    create table if not exists notes (
        id bigserial primary key,
        owner uuid not null default jit.current_user_id(),
        body text not null check (length(body) between 1 and 500),
        created_at timestamptz not null default now()
    )`);
  await db.query('alter table notes enable row level security');
  await db.query('drop policy if exists notes_owner on notes');
  await db.query(`create policy notes_owner on notes
                    using (owner = jit.current_user_id())
                    with check (owner = jit.current_user_id())`);
  await db.query(`grant select, insert on notes to ${appRole}`);
  await db.query(`grant usage on sequence notes_id_seq to ${appRole}`);
  await db.query('commit');
} finally {
  await db.end();
}
console.log(`providers ${oidc.provider} (${oidc.issuer}) and ${saml.provider} (${saml.entityId}) registered; state in ${opt.state}`);
