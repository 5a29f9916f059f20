// The two local identity providers the web example signs in with, in one
// process, sharing one set of test accounts (STATE/idp.json, written by
// setup.mjs):
//   - an OpenID Connect provider: `oidc-provider` (a certified OP), the
//     authorization code flow with PKCE, a `groups` claim in the ID token;
//   - a SAML 2.0 IdP: `samlify`, AuthnRequest by the HTTP-Redirect binding,
//     the signed Response auto-posted to the application (HTTP-POST binding).
// Both listen on 127.0.0.1 only. A small admin endpoint on each changes an
// account's groups, as an IdP administrator would:
//   PUT /admin/accounts/<login>  {"groups": [...]}  Authorization: Bearer <adminToken>
//
//   node idp.mjs --state DIR

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Provider from 'oidc-provider';
import * as samlify from 'samlify';
import * as xmllint from '@authenio/samlify-node-xmllint';

const { values: opt } = parseArgs({ options: { state: { type: 'string' } } });
if (!opt.state) throw new Error('--state DIR is required');
const config = JSON.parse(readFileSync(join(opt.state, 'idp.json'), 'utf8'));
const accounts = config.accounts;

// ---------------------------------------------------------------- helpers

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function readBody(req, limit = 1 << 20) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) { reject(new Error('request body too large')); req.destroy(); } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res, status, html, headers = {}) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(html);
}

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font:16px system-ui,sans-serif;background:#eef1f5;margin:0}main{max-width:380px;margin:60px auto;background:#fff;
padding:28px 32px;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.15)}h1{font-size:20px;margin:0 0 6px}p.sub{color:#555;margin:0 0 18px}
label{display:block;margin:12px 0 4px;font-size:14px}input{width:100%;box-sizing:border-box;padding:8px;font-size:15px}
button{margin-top:18px;width:100%;padding:10px;font-size:15px;background:#2d5be3;color:#fff;border:0;border-radius:4px}
.err{color:#b00020}small{color:#666}</style></head><body><main>${body}</main></body></html>`;
}

function loginForm({ title, action, hidden = {}, error = '' }) {
  const fields = Object.entries(hidden)
    .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join('');
  return page(title, `<h1>${esc(title)}</h1><p class="sub">Sign in to continue to the application.</p>
${error ? `<p class="err" id="login-error">${esc(error)}</p>` : ''}
<form method="post" action="${esc(action)}">${fields}
<label for="login">Username</label><input id="login" name="login" autocomplete="username" autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password">
<button type="submit">Sign in</button></form>
<p><small>Test accounts: ${Object.keys(accounts).map((a) => `<code>${esc(a)}</code> / <code>${esc(accounts[a].password)}</code>`).join(', ')}</small></p>`);
}

function checkPassword(login, password) {
  const account = Object.hasOwn(accounts, login) ? accounts[login] : null;
  if (!account) return null;
  const a = Buffer.from(String(password));
  const b = Buffer.from(account.password);
  return a.length === b.length && timingSafeEqual(a, b) ? account : null;
}

// PUT /admin/accounts/<login> {"groups": [...]}: the IdP administrator's change.
async function admin(req, res) {
  const auth = Buffer.from(req.headers.authorization || '');
  const want = Buffer.from(`Bearer ${config.adminToken}`);
  if (auth.length !== want.length || !timingSafeEqual(auth, want)) {
    res.writeHead(401, { 'content-type': 'application/json' });
    return res.end('{"error":"unauthorized"}');
  }
  const login = decodeURIComponent(new URL(req.url, 'http://x').pathname.slice('/admin/accounts/'.length));
  if (req.method !== 'PUT' || !Object.hasOwn(accounts, login)) {
    res.writeHead(404, { 'content-type': 'application/json' });
    return res.end('{"error":"not found"}');
  }
  const { groups } = JSON.parse(await readBody(req));
  if (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string')) {
    res.writeHead(400, { 'content-type': 'application/json' });
    return res.end('{"error":"groups must be an array of strings"}');
  }
  accounts[login].groups = groups;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ login, groups }));
}

// ---------------------------------------------------------------- OpenID Connect

const oidcConf = config.oidc;
const claimsOf = (login) => {
  const a = accounts[login];
  return {
    sub: login, email: a.email, email_verified: a.email_verified, name: a.name,
    given_name: a.given_name, family_name: a.family_name, groups: [...a.groups],
  };
};

const provider = new Provider(oidcConf.issuer, {
  clients: [{
    ...oidcConf.client,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: oidcConf.jwks,
  cookies: { keys: oidcConf.cookieKeys },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
    groups: ['groups'],
  },
  // Put the claims of the granted scopes (groups included) into the ID
  // token itself: jit_login reads the ID token, not the userinfo endpoint.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    if (!Object.hasOwn(accounts, id)) return undefined;
    // Read at every token issuance: a change of groups shows in the next token.
    return { accountId: id, claims: async () => claimsOf(id) };
  },
  // The application is first-party: its scopes are granted without a consent screen.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Sign-in error', `<h1>Sign-in error</h1>${Object.entries(out)
      .map(([k, v]) => `<p><b>${esc(k)}</b>: ${esc(v)}</p>`).join('')}`);
  },
});
const oidcCallback = provider.callback();

async function oidcServer(req, res) {
  const path = new URL(req.url, oidcConf.issuer).pathname;
  if (path.startsWith('/admin/accounts/')) return admin(req, res);
  const m = path.match(/^\/interaction\/([\w-]+)(\/login)?$/);
  if (!m) return oidcCallback(req, res);
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== m[1]) return send(res, 400, page('Sign-in error', '<h1>Sign-in error</h1><p>Unknown interaction.</p>'));
  const action = `/interaction/${details.uid}/login`;
  if (details.prompt.name !== 'login') {
    // Only a login is ever asked for (consent is implied for this client).
    return provider.interactionFinished(req, res, {}, { mergeWithLastSubmission: true });
  }
  if (req.method === 'GET') return send(res, 200, loginForm({ title: 'Example OpenID Provider', action }));
  const form = new URLSearchParams(await readBody(req));
  const login = form.get('login') || '';
  if (!checkPassword(login, form.get('password') || '')) {
    return send(res, 200, loginForm({ title: 'Example OpenID Provider', action, error: 'Wrong username or password.' }));
  }
  return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
}

// ---------------------------------------------------------------- SAML

const samlConf = config.saml;
samlify.setSchemaValidator(xmllint);
const REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';

const idp = samlify.IdentityProvider({
  entityID: samlConf.entityId,
  signingCert: samlConf.certificate,
  privateKey: samlConf.privateKey,
  singleSignOnService: [{ Binding: REDIRECT, Location: samlConf.ssoUrl }],
  nameIDFormat: [EMAIL_FORMAT],
  wantAuthnRequestsSigned: false,
});
const sp = samlify.ServiceProvider({
  entityID: samlConf.sp.entityId,
  assertionConsumerService: [{ Binding: POST, Location: samlConf.sp.acsUrl }],
  // Sign the Assertion and the Response around it, as Okta does.
  wantAssertionsSigned: true,
  wantMessageSigned: true,
});

// The IdP's own sign-in session: a signed cookie naming the account.
const SESSION = 'saml_idp_session';
const sign = (v) => createHmac('sha256', samlConf.cookieKey).update(v).digest('base64url');
function sessionAccount(req) {
  const raw = (req.headers.cookie || '').split(/;\s*/).find((c) => c.startsWith(`${SESSION}=`));
  if (!raw) return null;
  const [login, mac] = decodeURIComponent(raw.slice(SESSION.length + 1)).split('.');
  const want = sign(login || '');
  if (!mac || mac.length !== want.length || !timingSafeEqual(Buffer.from(mac), Buffer.from(want))) return null;
  return Object.hasOwn(accounts, login) ? login : null;
}

const isoNow = (offsetSeconds = 0) => new Date(Date.now() + offsetSeconds * 1000).toISOString();
const newId = () => '_' + randomBytes(20).toString('hex');

// A Web SSO Response as IdPs send it: Subject with a bearer confirmation
// answering the AuthnRequest, Conditions with the SP as audience, an
// AuthnStatement and the attributes (multi-valued `groups`).
function responseXml(requestId, login) {
  const a = accounts[login];
  const now = isoNow();
  const notOnOrAfter = isoNow(300);
  const attr = (name, values) => `<saml:Attribute Name="${esc(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">${
    values.map((v) => `<saml:AttributeValue xsi:type="xs:string">${esc(v)}</saml:AttributeValue>`).join('')}</saml:Attribute>`;
  return `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${newId()}" Version="2.0" IssueInstant="${now}" Destination="${esc(samlConf.sp.acsUrl)}" InResponseTo="${esc(requestId)}">`
    + `<saml:Issuer>${esc(samlConf.entityId)}</saml:Issuer>`
    + '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>'
    + `<saml:Assertion xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="${newId()}" Version="2.0" IssueInstant="${now}">`
    + `<saml:Issuer>${esc(samlConf.entityId)}</saml:Issuer>`
    + `<saml:Subject><saml:NameID Format="${EMAIL_FORMAT}">${esc(a.email)}</saml:NameID>`
    + '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
    + `<saml:SubjectConfirmationData InResponseTo="${esc(requestId)}" NotOnOrAfter="${notOnOrAfter}" Recipient="${esc(samlConf.sp.acsUrl)}"/>`
    + '</saml:SubjectConfirmation></saml:Subject>'
    + `<saml:Conditions NotBefore="${isoNow(-5)}" NotOnOrAfter="${notOnOrAfter}"><saml:AudienceRestriction><saml:Audience>${esc(samlConf.sp.entityId)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>`
    + `<saml:AuthnStatement AuthnInstant="${now}" SessionIndex="${newId()}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>`
    + '<saml:AttributeStatement>'
    + attr('email', [a.email]) + attr('displayName', [a.name]) + attr('givenName', [a.given_name])
    + attr('sn', [a.family_name]) + attr('groups', a.groups)
    + '</saml:AttributeStatement></saml:Assertion></samlp:Response>';
}

// Parses and checks the AuthnRequest (samlify: schema, then our SP's issuer
// and ACS URL); returns its ID.
async function authnRequestId(samlRequest) {
  const parsed = await idp.parseLoginRequest(sp, 'redirect', { query: { SAMLRequest: samlRequest } });
  const { request, issuer } = parsed.extract;
  if (issuer !== samlConf.sp.entityId) throw new Error(`AuthnRequest from an unknown SP: ${issuer}`);
  if (request.assertionConsumerServiceUrl && request.assertionConsumerServiceUrl !== samlConf.sp.acsUrl) {
    throw new Error(`AuthnRequest asks for an unregistered ACS URL: ${request.assertionConsumerServiceUrl}`);
  }
  return { parsed, id: request.id };
}

// The page the HTTP-POST binding uses: a form that posts itself to the ACS.
async function postResponse(res, samlRequest, relayState, login, extraHeaders = {}) {
  const { parsed, id } = await authnRequestId(samlRequest);
  const { context } = await idp.createLoginResponse(sp, parsed, 'post', { email: accounts[login].email }, {
    customTagReplacement: () => ({ id, context: responseXml(id, login) }),
  });
  send(res, 200, `<!doctype html><html><head><meta charset="utf-8"><title>Signing in…</title></head>
<body onload="document.forms[0].submit()"><form method="post" action="${esc(samlConf.sp.acsUrl)}">
<input type="hidden" name="SAMLResponse" value="${esc(context)}">
${relayState ? `<input type="hidden" name="RelayState" value="${esc(relayState)}">` : ''}
<noscript><button type="submit">Continue</button></noscript></form></body></html>`, extraHeaders);
}

async function samlServer(req, res) {
  const url = new URL(req.url, samlConf.ssoUrl);
  if (url.pathname.startsWith('/admin/accounts/')) return admin(req, res);
  if (url.pathname === '/metadata') {
    res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' });
    return res.end(idp.getMetadata());
  }
  if (url.pathname === '/logout') {
    const back = url.searchParams.get('return') || '/';
    const safe = back.startsWith(new URL(samlConf.sp.acsUrl).origin + '/') ? back : '/';
    res.writeHead(303, { location: safe, 'set-cookie': `${SESSION}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0` });
    return res.end();
  }
  const action = new URL(samlConf.ssoUrl).pathname;
  if (url.pathname !== action) return send(res, 404, page('Not found', '<h1>Not found</h1>'));
  const title = 'Example SAML IdP';
  if (req.method === 'GET') {
    const samlRequest = url.searchParams.get('SAMLRequest');
    const relayState = url.searchParams.get('RelayState') || '';
    if (!samlRequest) return send(res, 400, page(title, '<h1>Missing SAMLRequest</h1>'));
    await authnRequestId(samlRequest); // refuse a bad request before showing the form
    const login = sessionAccount(req);
    if (login) return postResponse(res, samlRequest, relayState, login);
    return send(res, 200, loginForm({ title, action, hidden: { SAMLRequest: samlRequest, RelayState: relayState } }));
  }
  const form = new URLSearchParams(await readBody(req));
  const samlRequest = form.get('SAMLRequest') || '';
  const relayState = form.get('RelayState') || '';
  const login = form.get('login') || '';
  if (!checkPassword(login, form.get('password') || '')) {
    return send(res, 200, loginForm({ title, action, hidden: { SAMLRequest: samlRequest, RelayState: relayState }, error: 'Wrong username or password.' }));
  }
  const cookie = `${SESSION}=${encodeURIComponent(`${login}.${sign(login)}`)}; Path=/; HttpOnly; SameSite=Lax`;
  return postResponse(res, samlRequest, relayState, login, { 'set-cookie': cookie });
}

// ---------------------------------------------------------------- servers

function serve(name, port, handler) {
  const server = http.createServer((req, res) => {
    handler(req, res).catch((err) => {
      console.error(`${name}: ${req.method} ${req.url}: ${err?.stack || err}`);
      if (!res.headersSent) send(res, 400, page('Sign-in error', `<h1>Sign-in error</h1><p>${esc(err?.message || err)}</p>`));
      else res.end();
    });
  });
  server.listen(port, '127.0.0.1', () => console.log(`${name} listening on http://127.0.0.1:${port}`));
  return server;
}

serve('OpenID Connect provider', oidcConf.port, oidcServer);
serve('SAML IdP', samlConf.port, samlServer);
