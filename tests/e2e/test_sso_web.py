"""The web example (examples/sso-web) in a real browser: Debian's Chromium,
headless, driven by Playwright (playwright-core from npm), signs two users in
through two real identity providers running locally, an OpenID Connect
provider (`oidc-provider`, authorization code flow with PKCE and nonce) and a
SAML IdP (`samlify`, HTTP-POST binding), against an application that hands
their tokens to jit_login as a non-superuser role.

The browser script (examples/sso-web/test/browser.mjs) reports what every
page showed; this test checks it field by field and against the database:
the provisioned users, their synced groups after the IdP changed them, their
RLS-separated notes, a replayed SAMLResponse POST refused with a readable
page that names the reason `replayed`, and a SAMLResponse posted from a
browser other than the one that asked for it refused as `request_mismatch`. It also takes
the screenshot of the signed-in page; with JIT_UPDATE_SCREENSHOT=1 it writes
docs/sso-web.png, the one the README shows."""

import json
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import APP_ROLE, HOST, PORT

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sso-web"
# The README's screenshot is this test's: JIT_UPDATE_SCREENSHOT=1 writes it
# to docs/sso-web.png; otherwise it goes to a scratch file, so that a test
# run leaves the work tree as it was.
SCREENSHOT = (ROOT / "docs" / "sso-web.png" if os.environ.get("JIT_UPDATE_SCREENSHOT") == "1"
              else Path(tempfile.gettempdir()) / f"sso-web-{os.getpid()}.png")


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_listening(port, proc, log, deadline=20):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"not listening on {port} after {deadline}s:\n{log.read_text()}")


@pytest.fixture
def sso_web(dbname, tmp_path):
    """setup.mjs for this test's database, then the IdPs and the app on free
    ports; stopped afterwards."""
    app_port, oidc_port, saml_port = free_ports(3)
    urls = {
        "app": f"http://127.0.0.1:{app_port}",
        "oidc": f"http://127.0.0.1:{oidc_port}",
        "saml": f"http://127.0.0.1:{saml_port}",
    }
    state = tmp_path / "state"
    env = dict(os.environ, PGHOST=HOST, PGPORT=str(PORT), PGDATABASE=dbname, PGUSER="postgres")
    subprocess.run(
        ["node", "setup.mjs", "--state", str(state), "--app-url", urls["app"], "--oidc-url", urls["oidc"],
         "--saml-url", urls["saml"], "--app-role", APP_ROLE],
        cwd=EXAMPLE, env=env, check=True, capture_output=True, timeout=60,
    )
    procs = []
    try:
        for name, port in (("idp", oidc_port), ("app", app_port)):
            log = tmp_path / f"{name}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen(["node", f"{name}.mjs", "--state", str(state)], cwd=EXAMPLE,
                                        stdout=out, stderr=subprocess.STDOUT)
            procs.append((proc, log))
            wait_listening(port, proc, log)
        wait_listening(saml_port, *procs[0])
        idp_conf = json.loads((state / "idp.json").read_text())
        yield {"urls": urls, "admin_token": idp_conf["adminToken"], "logs": [log for _, log in procs]}
    finally:
        for proc, _ in procs:
            proc.terminate()
        for proc, _ in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def run_browser(sso_web):
    SCREENSHOT.parent.mkdir(exist_ok=True)
    env = dict(
        os.environ,
        APP_URL=sso_web["urls"]["app"],
        OIDC_URL=sso_web["urls"]["oidc"],
        SAML_URL=sso_web["urls"]["saml"],
        ADMIN_TOKEN=sso_web["admin_token"],
        SCREENSHOT=str(SCREENSHOT),
    )
    started = time.time()
    proc = subprocess.run(["node", "test/browser.mjs"], cwd=EXAMPLE, env=env, capture_output=True, text=True,
                          timeout=100)
    if proc.returncode != 0:
        logs = "\n".join(f"--- {p.name}\n{p.read_text()}" for p in sso_web["logs"])
        raise AssertionError(f"browser script failed:\n{proc.stdout}\n{proc.stderr}\n{logs}")
    assert SCREENSHOT.stat().st_mtime >= started - 1
    return json.loads(proc.stdout.strip().splitlines()[-1])


def user_page(seen, *, name, email, protocol, provider, subject, login_count, groups, notes, welcome):
    """Asserts every field of a signed-in page."""
    assert seen["title"] == f"{name} — signed in"
    assert seen["name"] == name
    assert seen["welcome"] == welcome
    assert seen["email"] == email
    assert seen["protocol"] == protocol
    assert seen["provider"] == provider
    assert seen["subject"] == subject
    assert seen["login_count"] == str(login_count)
    assert seen["groups"] == groups
    if notes:
        assert seen["notes"] == notes
    else:
        assert seen["notes"] is None and seen["notes_text"] == "No notes yet."


CREATED = "Welcome! Your account was created just now."
BACK = "Welcome back."


def test_browser_sign_in_through_oidc_and_saml(sso_web, admin):
    seen = run_browser(sso_web)

    alice = dict(name="Alice Anderson", email="alice@example.com", protocol="OpenID Connect",
                 provider="sso-web-oidc", subject="alice")
    bob = dict(name="Bob Brown", email="bob@example.com", protocol="SAML 2.0",
               provider="sso-web-saml", subject="bob@example.com")

    # Alice: the app, the OP's login page, back to the app's callback.
    first = seen["oidc_first"]
    assert first["navigations"] == ["app/", "oidc/interaction/*", "app/oidc/callback"]
    user_page(first, **alice, login_count=1, groups=["developers", "everyone"], notes=[], welcome=CREATED)
    # Adding a note signs in again; the OP's session answers without a form.
    note = seen["oidc_note"]
    assert note["navigations"] == ["app/oidc/callback"]
    user_page(note, **alice, login_count=2, groups=["developers", "everyone"], notes=["Buy milk"], welcome=BACK)

    # Bob: the IdP's login form, its auto-posting page, the app's ACS.
    first = seen["saml_first"]
    assert first["navigations"] == ["app/", "saml/sso", "saml/sso", "app/saml/acs"]
    user_page(first, **bob, login_count=1, groups=["everyone", "sales"], notes=[], welcome=CREATED)
    note = seen["saml_note"]
    assert note["navigations"] == ["saml/sso", "app/saml/acs"]
    # Bob's page shows his note only, not Alice's.
    user_page(note, **bob, login_count=2, groups=["everyone", "sales"], notes=["Call the customer"], welcome=BACK)

    # After the IdP changed their groups: developers gone for Alice, added for Bob.
    user_page(seen["oidc_resync"], **alice, login_count=3, groups=["everyone", "operators"], notes=["Buy milk"],
              welcome=BACK)
    user_page(seen["saml_resync"], **bob, login_count=3, groups=["developers", "everyone", "sales"],
              notes=["Call the customer"], welcome=BACK)

    # The last SAMLResponse posted again: a readable refusal, no stack trace.
    replay = seen["saml_replay"]
    assert seen["saml_acs_posts"] == 4  # first sign-in, note, re-sync, replay
    assert replay["same_body_as_before"] is True
    assert replay["navigations"] == ["app/saml/acs"]
    assert replay["status"] == 403
    assert replay["title"] == "Sign-in refused"
    assert replay["reason"] == "replayed"
    assert replay["name"] is None
    # The whole page: heading, explanation, reason code, the server's one-line
    # message after the code, a way back; nothing else (no stack trace).
    lines = [line for line in replay["body_text"].splitlines() if line.strip()]
    assert len(lines) == 5, lines
    assert lines[:3] == [
        "Sign-in refused",
        "The database did not accept the identity provider's answer.",
        "Reason: replayed",
    ]
    assert lines[3] == replay["detail"] and lines[3].strip()
    assert lines[4] == "Start again"

    # Bob's next Response, held back, posted from another browser whose own
    # SAML sign-in is in progress: it answers Bob's AuthnRequest, not this
    # browser's, and jit_login says so. From Bob's browser it is accepted.
    other = seen["saml_other_browser"]
    assert other["navigations"] == ["app/saml/acs"]
    assert other["title"] == "Sign-in refused" and other["reason"] == "request_mismatch"
    assert other["name"] is None
    user_page(seen["saml_held_back"], **bob, login_count=4, groups=["developers", "everyone", "sales"],
              notes=["Call the customer"], welcome=BACK)

    # The database agrees with the pages.
    users = admin.execute(
        "select provider, subject, email, name, login_count, id::text from jit.users order by provider"
    ).fetchall()
    assert [u[:5] for u in users] == [
        ("sso-web-oidc", "alice", "alice@example.com", "Alice Anderson", 3),
        ("sso-web-saml", "bob@example.com", "bob@example.com", "Bob Brown", 4),
    ]
    ids = {u[1]: u[5] for u in users}
    assert seen["oidc_resync"]["user_id"] == ids["alice"] == seen["oidc_first"]["user_id"]
    assert seen["saml_held_back"]["user_id"] == ids["bob@example.com"] == seen["saml_first"]["user_id"]
    memberships = admin.execute(
        "select u.subject, array_agg(m.group_name order by m.group_name) from jit.memberships m "
        "join jit.users u on u.id = m.user_id group by 1 order by 1"
    ).fetchall()
    assert memberships == [("alice", ["everyone", "operators"]),
                           ("bob@example.com", ["developers", "everyone", "sales"])]
    notes = admin.execute("select owner::text, body from notes order by id").fetchall()
    assert notes == [(ids["alice"], "Buy milk"), (ids["bob@example.com"], "Call the customer")]
    outcomes = admin.execute(
        "select provider, outcome, count(*) from jit.login_events group by 1, 2 order by 1, 2"
    ).fetchall()
    assert outcomes == [("sso-web-oidc", "created", 1), ("sso-web-oidc", "updated", 2),
                        ("sso-web-saml", "created", 1), ("sso-web-saml", "updated", 3)]
