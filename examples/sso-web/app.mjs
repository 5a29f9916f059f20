// A small web application that signs users in with OpenID Connect or SAML
// and hands the identity provider's token to the database: `jit_login`
// verifies it, provisions the user and their groups, and establishes the
// identity that row-level security uses, all in one transaction. The
// application itself holds no key, verifies no signature and keeps no
// session: every page that shows a user's data is rendered in the
// transaction of a fresh sign-in (see README.md).
//
//   node app.mjs --state DIR      (STATE/app.json is written by setup.mjs)

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { deflateRawSync } from 'node:zlib';
import pg from 'pg';

const { values: opt } = parseArgs({ options: { state: { type: 'string' } } });
if (!opt.state) throw new Error('--state DIR is required');
const config = JSON.parse(readFileSync(join(opt.state, 'app.json'), 'utf8'));

// A pool of connections as the application role (not a superuser). Each
// request takes one connection for its whole transaction.
const pool = new pg.Pool({ ...config.database, max: 4 });

// ---------------------------------------------------------------- HTTP helpers

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const b64url = (buf) => Buffer.from(buf).toString('base64url');

function readBody(req, limit = 2 << 20) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) { reject(new HttpError(413, 'The request is too large.')); req.destroy(); } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
};

function send(res, status, html, headers = {}) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS, ...headers });
  res.end(html);
}

function redirect(res, location, headers = {}) {
  res.writeHead(303, { location, ...SECURITY_HEADERS, ...headers });
  res.end();
}

const STYLE = `body{font:15px system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2433}
header{background:#1d2433;color:#fff;padding:14px 28px;font-weight:600}main{max-width:720px;margin:28px auto;padding:0 20px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:18px 24px;margin-bottom:18px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:0 0 10px}table{border-collapse:collapse}td{padding:3px 14px 3px 0;vertical-align:top}
td:first-child{color:#667}code{font-size:13px}.groups li{display:inline-block;background:#e3ecff;color:#1c3f9e;border-radius:12px;padding:2px 10px;margin:0 6px 6px 0;list-style:none}
ul.groups{padding:0;margin:0}ul.notes{margin:0 0 12px;padding-left:20px}textarea{width:100%;box-sizing:border-box;height:56px;font:inherit}
button,a.button{display:inline-block;background:#2d5be3;color:#fff;border:0;border-radius:4px;padding:8px 16px;font:inherit;text-decoration:none;margin:8px 8px 0 0;cursor:pointer}
a.secondary{background:#e8eaf0;color:#1d2433}.muted{color:#667}.refused{border-left:4px solid #b00020}.reason{font-size:18px;color:#b00020}`;

function layout(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>${STYLE}</style></head><body><header>Notes — an example application for jit_provision</header><main>${body}</main></body></html>`;
}

// ---------------------------------------------------------------- the flow cookie
// What a sign-in in progress needs to remember between leaving for the IdP
// and coming back (OIDC state, nonce and PKCE verifier; the SAML AuthnRequest
// ID; a note to add), HMAC-signed, in the browser. It is not
// a session: it proves nothing about who the user is.

const FLOW = 'sso_web_flow';
const FLOW_TTL = 600;
const mac = (v) => createHmac('sha256', config.cookieSecret).update(v).digest('base64url');

function setFlow(flow) {
  const payload = b64url(JSON.stringify({ ...flow, exp: Math.floor(Date.now() / 1000) + FLOW_TTL }));
  return `${FLOW}=${payload}.${mac(payload)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${FLOW_TTL}`;
}

function getFlow(req) {
  const raw = (req.headers.cookie || '').split(/;\s*/).find((c) => c.startsWith(`${FLOW}=`));
  if (!raw) return null;
  const [payload, sig] = raw.slice(FLOW.length + 1).split('.');
  const want = mac(payload || '');
  if (!sig || sig.length !== want.length || !timingSafeEqual(Buffer.from(sig), Buffer.from(want))) return null;
  const flow = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  return flow.exp > Date.now() / 1000 ? flow : null;
}

// ---------------------------------------------------------------- starting a sign-in

let discovery = null;
async function oidcConfiguration() {
  if (!discovery) {
    const r = await fetch(`${config.oidc.issuer}/.well-known/openid-configuration`);
    if (!r.ok) throw new HttpError(502, `The identity provider's discovery document: HTTP ${r.status}.`);
    discovery = await r.json();
  }
  return discovery;
}

async function startOidc(res, note) {
  const { authorization_endpoint: endpoint } = await oidcConfiguration();
  const state = b64url(randomBytes(24));
  const nonce = b64url(randomBytes(24));
  const verifier = b64url(randomBytes(32));
  const url = new URL(endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: config.oidc.clientId,
    redirect_uri: config.oidc.redirectUri,
    scope: 'openid email profile groups',
    state,
    nonce,
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
  }).toString();
  redirect(res, url.href, { 'set-cookie': setFlow({ protocol: 'oidc', state, nonce, verifier, note }) });
}

async function startSaml(res, note) {
  const id = '_' + randomBytes(20).toString('hex');
  const xml = '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"'
    + ` ID="${id}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${esc(config.saml.ssoUrl)}"`
    + ` ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" AssertionConsumerServiceURL="${esc(config.saml.acsUrl)}">`
    + `<saml:Issuer>${esc(config.saml.spEntityId)}</saml:Issuer>`
    + '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/>'
    + '</samlp:AuthnRequest>';
  // HTTP-Redirect binding: DEFLATE, base64, URL-encode.
  const url = new URL(config.saml.ssoUrl);
  url.search = new URLSearchParams({ SAMLRequest: deflateRawSync(Buffer.from(xml)).toString('base64') }).toString();
  redirect(res, url.href, { 'set-cookie': setFlow({ protocol: 'saml', requestId: id, note }) });
}

const start = (protocol, res, note = null) => (protocol === 'saml' ? startSaml(res, note) : startOidc(res, note));

// ---------------------------------------------------------------- coming back

async function oidcCallback(req, res, url) {
  const flow = getFlow(req);
  const q = url.searchParams;
  if (q.get('error')) throw new HttpError(400, `The identity provider answered: ${q.get('error')} ${q.get('error_description') || ''}`);
  if (!flow || flow.protocol !== 'oidc' || !q.get('state') || q.get('state') !== flow.state) {
    throw new HttpError(400, 'No OpenID Connect sign-in is in progress in this browser (or it expired). Start again.');
  }
  // The authorization code for the ID token: the app's own request to the
  // token endpoint, authenticated with its client secret, with the PKCE verifier.
  const { token_endpoint: endpoint } = await oidcConfiguration();
  const r = await fetch(endpoint, {
    method: 'POST',
    headers: {
      authorization: 'Basic ' + Buffer.from(`${encodeURIComponent(config.oidc.clientId)}:${encodeURIComponent(config.oidc.clientSecret)}`).toString('base64'),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code: q.get('code') || '',
      redirect_uri: config.oidc.redirectUri, code_verifier: flow.verifier,
    }),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok || typeof body.id_token !== 'string') {
    throw new HttpError(502, `The token endpoint refused the code: ${body.error || `HTTP ${r.status}`}.`);
  }
  // The ID token goes to the database unverified by the app: jit_login
  // checks its signature, issuer, audience, expiry and nonce.
  await signedInPage(res, 'oidc', body.id_token, flow.nonce, flow.note);
}

async function samlAcs(req, res) {
  const form = new URLSearchParams(await readBody(req));
  const flow = getFlow(req);
  if (!form.get('SAMLResponse')) throw new HttpError(400, 'The form carries no SAMLResponse.');
  if (!flow || flow.protocol !== 'saml') {
    throw new HttpError(400, 'No SAML sign-in is in progress in this browser (or it expired). Start again.');
  }
  // The base64 SAMLResponse as posted; jit_login checks its signature,
  // issuer, audience, recipient and time window, and that it answers this
  // browser's AuthnRequest (InResponseTo = the ID kept in the flow cookie).
  await signedInPage(res, 'saml', form.get('SAMLResponse'), flow.requestId, flow.note);
}

// One transaction: jit_login, then everything the page shows, read through
// row-level security as the user just signed in.
async function signedInPage(res, protocol, token, requestId, note) {
  const db = await pool.connect();
  let login;
  try {
    await db.query('begin');
    try {
      login = (await db.query('select * from jit_login($1, $2)', [token, requestId])).rows[0];
    } catch (err) {
      await db.query('rollback');
      if (err.code === '28000') return refused(res, err.message);
      throw err;
    }
    if (note) await db.query('insert into notes (body) values ($1)', [note]);
    const user = (await db.query(
      'select id, provider, subject, email, name, login_count from jit.users where id = jit.current_user_id()',
    )).rows[0];
    const groups = (await db.query('select array(select g from unnest(jit.current_groups()) g order by g) as groups')).rows[0].groups;
    // No WHERE clause: the policy on `notes` shows this user's rows only.
    const notes = (await db.query('select body, created_at from notes order by id')).rows;
    await db.query('commit');
    send(res, 200, userPage({ protocol, created: login.created, user, groups, notes }));
  } catch (err) {
    await db.query('rollback').catch(() => {});
    throw err;
  } finally {
    db.release();
  }
}

function refused(res, message) {
  const reason = message.split(':', 1)[0];
  const detail = message.slice(reason.length + 1).trim();
  send(res, 403, layout('Sign-in refused', `<section class="refused"><h1>Sign-in refused</h1>
<p>The database did not accept the identity provider's answer.</p>
<p>Reason: <code class="reason" id="reason">${esc(reason)}</code></p>
<p class="muted" id="detail">${esc(detail)}</p>
<p><a class="button" href="/">Start again</a></p></section>`));
}

const PROTOCOLS = { oidc: 'OpenID Connect', saml: 'SAML 2.0' };

function userPage({ protocol, created, user, groups, notes }) {
  const other = protocol === 'saml' ? 'oidc' : 'saml';
  const logout = protocol === 'saml'
    ? `${config.saml.logoutUrl}?return=${encodeURIComponent(config.url + '/')}`
    : `${config.oidc.issuer}/session/end?client_id=${encodeURIComponent(config.oidc.clientId)}&post_logout_redirect_uri=${encodeURIComponent(config.url + '/')}`;
  return layout(`${user.name} — signed in`, `<section>
<h1 id="user-name">${esc(user.name)}</h1>
<p class="muted" id="welcome">${created ? 'Welcome! Your account was created just now.' : 'Welcome back.'}</p>
<table>
<tr><td>Email</td><td id="user-email">${esc(user.email)}</td></tr>
<tr><td>Signed in with</td><td id="protocol">${esc(PROTOCOLS[protocol])}</td></tr>
<tr><td>Provider</td><td id="provider">${esc(user.provider)}</td></tr>
<tr><td>Subject</td><td id="subject">${esc(user.subject)}</td></tr>
<tr><td>User id</td><td><code id="user-id">${esc(user.id)}</code></td></tr>
<tr><td>Sign-ins</td><td id="login-count">${esc(user.login_count)}</td></tr>
</table></section>
<section><h2>Groups <span class="muted">(jit.current_groups())</span></h2>
${groups.length ? `<ul class="groups" id="groups">${groups.map((g) => `<li>${esc(g)}</li>`).join('')}</ul>` : '<p class="muted" id="groups">none</p>'}
</section>
<section><h2>Your notes <span class="muted">(row-level security)</span></h2>
${notes.length ? `<ul class="notes" id="notes">${notes.map((n) => `<li>${esc(n.body)}</li>`).join('')}</ul>` : '<p class="muted" id="notes">No notes yet.</p>'}
<form method="post" action="/notes"><input type="hidden" name="protocol" value="${esc(protocol)}">
<label for="note">New note</label><textarea id="note" name="note" maxlength="500" required></textarea>
<button type="submit" id="add-note">Add note</button> <span class="muted">(signs in again with ${esc(PROTOCOLS[protocol])})</span></form>
</section>
<p><a class="button secondary" id="sign-in-again" href="/login/${protocol}">Sign in again</a>
<a class="button secondary" href="/login/${other}">Sign in with ${esc(PROTOCOLS[other])}</a>
<a class="button secondary" id="sign-out" href="${esc(logout)}">Sign out at the identity provider</a></p>`);
}

function homePage() {
  return layout('Sign in', `<section><h1>Sign in</h1>
<p>This application keeps notes for each user. It has no user table of its own: the database provisions you from your identity provider's token.</p>
<p><a class="button" id="oidc-login" href="/login/oidc">Sign in with OpenID Connect</a>
<a class="button" id="saml-login" href="/login/saml">Sign in with SAML</a></p></section>`);
}

function spMetadata() {
  return `<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${esc(config.saml.spEntityId)}">
<md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${esc(config.saml.acsUrl)}" index="0"/>
</md:SPSSODescriptor></md:EntityDescriptor>\n`;
}

// ---------------------------------------------------------------- routes

async function handle(req, res) {
  const url = new URL(req.url, config.url);
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case 'GET /': return send(res, 200, homePage());
    case 'GET /login/oidc': return start('oidc', res);
    case 'GET /login/saml': return start('saml', res);
    case 'GET /oidc/callback': return oidcCallback(req, res, url);
    case 'POST /saml/acs': return samlAcs(req, res);
    case 'GET /saml/metadata':
      res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' });
      return res.end(spMetadata());
    case 'POST /notes': {
      // Adding a note is a write as the user: it happens in the transaction
      // of a fresh sign-in, so the note travels through the IdP round trip.
      const form = new URLSearchParams(await readBody(req, 16 << 10));
      const note = (form.get('note') || '').trim().slice(0, 500);
      if (!note) throw new HttpError(400, 'A note needs some text.');
      return start(form.get('protocol') === 'saml' ? 'saml' : 'oidc', res, note);
    }
    default:
      throw new HttpError(404, 'There is no such page.');
  }
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    const status = err instanceof HttpError ? err.status : 500;
    if (status === 500) console.error(`${req.method} ${req.url}: ${err?.stack || err}`);
    const text = status === 500 ? 'Something went wrong on our side; the details are in the server log.' : err.message;
    if (res.headersSent) return res.end();
    send(res, status, layout('Error', `<section class="refused"><h1>Something is not right</h1><p id="error">${esc(text)}</p>
<p><a class="button" href="/">Start again</a></p></section>`));
  });
});
server.listen(config.port, '127.0.0.1', () => console.log(`sso-web listening on ${config.url}`));
