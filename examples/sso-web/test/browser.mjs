// Drives Debian's Chromium, headless, through the web example as two users
// and prints what each page showed as one JSON document on stdout; the
// assertions are in tests/e2e/test_sso_web.py. Steps:
//   1. Alice signs in through the OpenID Connect provider, adds a note.
//   2. Bob signs in through the SAML IdP (another browser context), adds a note.
//   3. The IdP administrator changes both users' groups; both sign in again.
//   4. Bob's browser posts the last SAMLResponse form again, byte for byte.
//   5. Bob's next SAMLResponse, held back, is posted from another browser,
//      then from Bob's.
//
// Environment: APP_URL, OIDC_URL, SAML_URL, ADMIN_TOKEN, SCREENSHOT (a PNG
// path for Alice's signed-in page), CHROMIUM (default /usr/bin/chromium).

import { chromium } from 'playwright-core';

const env = (name) => {
  if (!process.env[name]) throw new Error(`${name} is not set`);
  return process.env[name];
};
const APP_URL = env('APP_URL');
const OIDC_URL = env('OIDC_URL');
const SAML_URL = env('SAML_URL');
const ADMIN_TOKEN = env('ADMIN_TOKEN');
const SCREENSHOT = env('SCREENSHOT');
const TIMEOUT = 15000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  // Playwright starts the browser with a fresh, temporary user-data-dir.
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

const origins = { [new URL(APP_URL).origin]: 'app', [new URL(OIDC_URL).origin]: 'oidc', [new URL(SAML_URL).origin]: 'saml' };

// A browser context (its own cookies: one user's browser) with a record of
// the main-frame navigations and of the forms posted to the ACS.
async function browserFor() {
  const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const b = { page, navigations: [], acsPosts: [] };
  page.on('framenavigated', (frame) => {
    if (frame !== page.mainFrame()) return;
    const u = new URL(frame.url());
    b.navigations.push(`${origins[u.origin] || u.origin}${u.pathname.replace(/\/interaction\/[\w-]+/, '/interaction/*')}`);
  });
  page.on('request', (req) => {
    if (req.method() === 'POST' && req.url() === `${APP_URL}/saml/acs` && req.isNavigationRequest()) {
      b.acsPosts.push(req.postData());
    }
  });
  return b;
}

// What the page shows, read from the DOM.
function shown(page) {
  return page.evaluate(() => {
    const text = (id) => document.getElementById(id)?.textContent ?? null;
    const items = (id) => {
      const el = document.getElementById(id);
      return el && el.tagName === 'UL' ? [...el.querySelectorAll('li')].map((li) => li.textContent) : null;
    };
    return {
      path: location.pathname,
      title: document.title,
      name: text('user-name'),
      welcome: text('welcome'),
      email: text('user-email'),
      protocol: text('protocol'),
      provider: text('provider'),
      subject: text('subject'),
      user_id: text('user-id'),
      login_count: text('login-count'),
      groups: items('groups'),
      groups_text: text('groups'),
      notes: items('notes'),
      notes_text: text('notes'),
    };
  });
}

// Runs one step and returns what the page showed and the navigations it took.
async function step(b, action) {
  b.navigations.length = 0;
  await action(b.page);
  await b.page.waitForSelector('#user-name, #reason, #error');
  return { ...(await shown(b.page)), navigations: [...b.navigations] };
}

async function signInAtIdp(page, login, password) {
  await page.waitForSelector('#login');
  await page.fill('#login', login);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  await page.waitForURL(`${APP_URL}/**`);
}

async function addNote(page, body) {
  await page.fill('#note', body);
  await page.click('#add-note');
  await page.waitForURL(`${APP_URL}/**`);
}

async function setGroups(idpUrl, login, groups) {
  const r = await fetch(`${idpUrl}/admin/accounts/${login}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ groups }),
  });
  if (!r.ok) throw new Error(`admin endpoint: HTTP ${r.status}`);
}

// Posts a captured SAMLResponse form body to the ACS from the page, as its
// auto-posting form would; returns the HTTP status of the answer.
async function postForm(page, body) {
  const [response] = await Promise.all([
    page.waitForNavigation(),
    page.evaluate(({ action, fields }) => {
      const form = document.createElement('form');
      form.method = 'post';
      form.action = action;
      for (const [name, value] of fields) {
        const input = document.createElement('input');
        input.type = 'hidden';
        input.name = name;
        input.value = value;
        form.appendChild(input);
      }
      document.body.appendChild(form);
      form.submit();
    }, { action: `${APP_URL}/saml/acs`, fields: [...new URLSearchParams(body)] }),
  ]);
  return response.status();
}

const out = {};
const watchdog = setTimeout(() => {
  console.error(`gave up after 80 s; seen so far: ${JSON.stringify(out)}`);
  process.exit(3);
}, 80000);
try {
  const alice = await browserFor();
  const bob = await browserFor();

  out.oidc_first = await step(alice, async (page) => {
    await page.goto(APP_URL);
    await page.click('#oidc-login');
    await signInAtIdp(page, 'alice', 'alice-password');
  });
  out.oidc_note = await step(alice, (page) => addNote(page, 'Buy milk'));
  await alice.page.screenshot({ path: SCREENSHOT, fullPage: true });

  out.saml_first = await step(bob, async (page) => {
    await page.goto(APP_URL);
    await page.click('#saml-login');
    await signInAtIdp(page, 'bob', 'bob-password');
  });
  out.saml_note = await step(bob, (page) => addNote(page, 'Call the customer'));

  // The IdP administrator moves Alice from engineering to ops and adds Bob
  // to engineering; the next sign-in syncs the application groups.
  await setGroups(OIDC_URL, 'alice', ['ops', 'vpn-users']);
  await setGroups(SAML_URL, 'bob', ['sales', 'engineering']);
  out.oidc_resync = await step(alice, (page) => page.click('#sign-in-again'));
  out.saml_resync = await step(bob, (page) => page.click('#sign-in-again'));

  // The same SAMLResponse form posted again from Bob's browser (with the
  // flow cookie it was answering still in place).
  const last = bob.acsPosts.at(-1);
  let status = null;
  out.saml_replay = await step(bob, async (page) => { status = await postForm(page, last); });
  Object.assign(out.saml_replay, {
    status,
    reason: await bob.page.textContent('#reason').catch(() => null),
    detail: await bob.page.textContent('#detail').catch(() => null),
    body_text: await bob.page.innerText('main'),
    same_body_as_before: bob.acsPosts.at(-1) === last,
  });
  out.saml_acs_posts = bob.acsPosts.length;

  // A Response is bound to the browser that asked for it: Bob's next
  // Response, held back before it reaches the app, is refused in another
  // browser that has a SAML sign-in of its own in progress, and still
  // accepted in Bob's.
  let held;
  const heldBack = new Promise((resolve) => {
    bob.page.route(`${APP_URL}/saml/acs`, (route) => {
      held = route.request().postData();
      route.abort();
      resolve();
    });
  });
  // (the navigation ends in the aborted POST)
  await bob.page.goto(`${APP_URL}/login/saml`).catch(() => {});
  await heldBack;
  await bob.page.unrouteAll();
  const other = await browserFor();
  await other.page.goto(`${APP_URL}/login/saml`);
  await other.page.waitForSelector('#login');
  out.saml_other_browser = await step(other, (page) => postForm(page, held));
  out.saml_other_browser.reason = await other.page.textContent('#reason').catch(() => null);
  await bob.page.goto(APP_URL);
  out.saml_held_back = await step(bob, (page) => postForm(page, held));
} finally {
  await browser.close();
  clearTimeout(watchdog);
}
process.stdout.write(JSON.stringify(out) + '\n');
