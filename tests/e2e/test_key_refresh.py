"""jit.refresh end to end (issue 14, sql-api.md "Providers that keep
themselves current"): a local HTTPS identity provider on 127.0.0.1 with its
own test CA publishes discovery + JWKS or SAML metadata, rotates its keys,
and the database follows, including in connections that were already open.
Every failure keeps the keys in force and says why; cancel and
statement_timeout end a refresh that waits on a silent server; pg_cron runs
it; jit.cleanup warns about certificates about to expire.

The HTTP layer on its own (URL policy, framing, redirects, the 15 s total
timeout, the superuser-only CA setting) is tested in test_http_fetch.py and
the metadata parser in test_saml_metadata.py; this file tests what
jit.refresh makes of them. All traffic goes to 127.0.0.1."""

import contextlib
import datetime
import json
import os
import socket
import subprocess
import threading
import time

import psycopg
import pytest

from conftest import APP_ROLE, connect
from db import login, rejection
from https_server import HttpsServer, TestCA
from refresh_idp import RollingSamlIdP, RotatingOidcIdP, cert_with_validity, pem
from saml_idp import new_key

REQUEST_ID = "_req-3a5e1c2b9d"  # the InResponseTo SamlIdP.build writes
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


# --- fixtures and helpers -----------------------------------------------------

@pytest.fixture(scope="module")
def ca():
    return TestCA("jit_provision refresh test CA")


@pytest.fixture(scope="module")
def ca_file(ca):
    return ca.write_pem()


@pytest.fixture
def trusted(admin, dbname, ca_file):
    """The test CA trusted for this database: ALTER DATABASE, so that every
    new connection to it sees the setting (not only the DBA's session), and
    in the DBA's already open session. The database is dropped afterwards;
    the setting is reset first all the same."""
    admin.execute(f"alter database {dbname} set jit_provision.http_ca_file = '{ca_file}'")
    admin.execute("select set_config('jit_provision.http_ca_file', %s, false)", (ca_file,))
    yield admin
    admin.execute(f"alter database {dbname} reset jit_provision.http_ca_file")


@pytest.fixture
def srv(ca):
    with HttpsServer(ca) as s:
        yield s


def refresh(conn, provider=None):
    """jit.refresh as rows of dicts."""
    if provider is None:
        cur = conn.execute("select * from jit.refresh()")
    else:
        cur = conn.execute("select * from jit.refresh(%s)", (provider,))
    cols = [d.name for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def status(conn, provider):
    cur = conn.execute("select * from jit.provider_status where provider = %s", (provider,))
    cols = [d.name for d in cur.description]
    row = cur.fetchone()
    assert row is not None, f"no provider_status row for {provider}"
    return dict(zip(cols, row))


def stored_keys(conn, provider):
    return conn.execute("select jwks, certificates from jit.providers where name = %s",
                        (provider,)).fetchone()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def just_now(ts):
    return ts is not None and abs(datetime.datetime.now(datetime.timezone.utc) - ts) < datetime.timedelta(minutes=1)


# --- pg_cron (first part) ------------------------------------------------------
#
# pg_cron 1.4 schedules by the minute only (interval schedules such as
# '1 seconds' came with 1.5), so the job's first run may be up to a minute
# away. The job is scheduled by the first test of this file and checked by
# the last, so that the wait overlaps with everything in between.

CRON_NAME = "refreshcron"
CRON_PORT = int(os.environ.get("JIT_REFRESH_CRON_PGPORT", "54392"))
CRON_SOCK = f"/tmp/jit_provision/{CRON_NAME}/sock"
CRON_COMMAND = "select * from jit.refresh()"  # as README.md shows it


def pg_cluster(*args):
    subprocess.run([os.path.join(ROOT, "scripts", "pg-cluster"), *args], check=True)


@pytest.fixture(scope="module")
def cron_job(ca, ca_file):
    """A cluster of its own with pg_cron preloaded (its jobs run in
    cron.database_name, here 'postgres'), a provider there with key A pinned
    and a discovery_url, an IdP publishing A+B, and the job scheduled."""
    pg_cluster("start", CRON_NAME, str(CRON_PORT),
               "shared_preload_libraries = 'pg_cron'",
               "cron.database_name = 'postgres'",
               f"cron.host = '{CRON_SOCK}'")
    try:
        with HttpsServer(ca) as site, psycopg.connect(
                host=CRON_SOCK, port=CRON_PORT, dbname="postgres", user="postgres",
                autocommit=True) as c:
            c.execute("create extension pg_cron")
            c.execute("create extension jit_provision")
            # The job's own connection is a new session: the setting must be
            # the database's, not this session's.
            c.execute(f"alter database postgres set jit_provision.http_ca_file = '{ca_file}'")
            idp = RotatingOidcIdP("cron-idp", "https://idp.example.test/cron")
            idp.add_key("A")
            idp.add_key("B")
            url = idp.publish(site, "A", "B")
            idp.register(c, discovery_url=url, jwks_labels=["A"])
            jobid = c.execute("select cron.schedule('jit-refresh', '* * * * *', %s)",
                              (CRON_COMMAND,)).fetchone()[0]
            yield {"conn": c, "jobid": jobid, "idp": idp, "site": site}
            c.execute("select cron.unschedule(%s)", (jobid,))
    finally:
        pg_cluster("stop", CRON_NAME)


def test_pg_cron_job_is_scheduled(cron_job):
    c = cron_job["conn"]
    assert c.execute("select command, database, active from cron.job where jobid = %s",
                     (cron_job["jobid"],)).fetchone() == (CRON_COMMAND, "postgres", True)
    assert status(c, "cron-idp")["keys"] == ["cron-idp-A"]


# --- 1. OIDC rotation end to end ----------------------------------------------

def test_oidc_rotation_end_to_end(trusted, app, srv):
    admin = trusted
    idp = RotatingOidcIdP("rotor", "https://idp.example.test/realms/rotor")
    idp.add_key("A")
    idp.add_key("B")
    url = idp.publish(srv, "A")

    # Registered with its discovery URL only: no keys until the first refresh.
    idp.register(admin, discovery_url=url)
    before = status(admin, "rotor")
    assert before["keys"] == [] and before["refreshed_at"] is None
    assert rejection(app, idp.mint("A", sub="early")) == ("28000", "bad_signature")

    assert refresh(admin) == [{"provider": "rotor", "changed": True, "keys": ["rotor-A"], "error": None}]
    assert [p for p, _ in srv.requests] == ["/.well-known/openid-configuration", "/jwks"]
    assert stored_keys(admin, "rotor")[0] == idp.jwks("A")
    assert login(app, idp.mint("A"))["created"] is True
    app_pid = app.execute("select pg_backend_pid()").fetchone()[0]

    # The IdP publishes B next to A; the app's connection stays open.
    idp.publish(srv, "A", "B")
    assert refresh(admin) == [{"provider": "rotor", "changed": True,
                               "keys": ["rotor-A", "rotor-B"], "error": None}]
    assert app.execute("select pg_backend_pid()").fetchone()[0] == app_pid
    assert login(app, idp.mint("B"))["created"] is False
    assert login(app, idp.mint("A"))["created"] is False

    # Nothing new: nothing written; the same keys in another order are
    # nothing new either.
    assert refresh(admin, "rotor") == [{"provider": "rotor", "changed": False,
                                        "keys": ["rotor-A", "rotor-B"], "error": None}]
    idp.publish(srv, "B", "A")
    assert refresh(admin, "rotor") == [{"provider": "rotor", "changed": False,
                                        "keys": ["rotor-A", "rotor-B"], "error": None}]
    assert stored_keys(admin, "rotor")[0] == idp.jwks("A", "B")

    # The IdP drops A: A-signed tokens stop working, in the same connection.
    idp.publish(srv, "B")
    assert refresh(admin) == [{"provider": "rotor", "changed": True, "keys": ["rotor-B"], "error": None}]
    assert rejection(app, idp.mint("A")) == ("28000", "bad_signature")
    assert login(app, idp.mint("B"))["created"] is False
    assert app.execute("select pg_backend_pid()").fetchone()[0] == app_pid

    st = status(admin, "rotor")
    assert st["keys"] == ["rotor-B"]
    assert st["discovery_url"] == url
    assert just_now(st["refreshed_at"])
    assert st["refresh_error"] is None
    assert st["earliest_expiry"] is None  # no x5c in this JWKS


# --- 2. SAML certificate rollover through metadata_url -------------------------

def test_saml_certificate_rollover_end_to_end(trusted, app, srv):
    admin = trusted
    idp = RollingSamlIdP(name="rolling", issuer="http://www.okta.com/exkROLL1ng2Cert3")
    fp_a, fp_b = idp.add_cert("A"), idp.add_cert("B")
    idp.add_cert("E")  # an encryption-only certificate: never a signing key
    url = idp.publish(srv, "A")
    idp.register_refreshed(admin, metadata_url=url)
    assert status(admin, "rolling")["keys"] == []

    assert refresh(admin) == [{"provider": "rolling", "changed": True, "keys": [fp_a], "error": None}]
    assert stored_keys(admin, "rolling")[1] == [idp.pem("A")]
    assert login(app, idp.issue_with("A"), REQUEST_ID)["created"] is True

    # Rollover: B published next to A (and an encryption key, left out).
    srv.route("/saml/metadata", 200, {"Content-Type": "application/samlmetadata+xml"},
              idp.metadata("A", "B", encryption="E"))
    assert refresh(admin) == [{"provider": "rolling", "changed": True, "keys": [fp_a, fp_b], "error": None}]
    assert login(app, idp.issue_with("B"), REQUEST_ID)["created"] is False

    # The same certificates in the other order: the same key set.
    idp.publish(srv, "B", "A")
    assert refresh(admin, "rolling") == [{"provider": "rolling", "changed": False,
                                          "keys": [fp_a, fp_b], "error": None}]

    idp.publish(srv, "B")
    assert refresh(admin) == [{"provider": "rolling", "changed": True, "keys": [fp_b], "error": None}]
    sqlstate, reason = rejection(app, idp.issue_with("A"), REQUEST_ID)
    assert (sqlstate, reason) == ("28000", "bad_signature")
    assert login(app, idp.issue_with("B"), REQUEST_ID)["created"] is False

    st = status(admin, "rolling")
    assert st["keys"] == [fp_b]
    assert st["metadata_url"] == url
    assert just_now(st["refreshed_at"]) and st["refresh_error"] is None
    expected = idp.signing["B"][1].not_valid_after_utc
    assert abs(st["earliest_expiry"] - expected) < datetime.timedelta(seconds=1)


# --- 3. failures keep the keys in force ----------------------------------------

@pytest.fixture
def steady(trusted, app, srv):
    """An OIDC provider filled by a first successful refresh (key A)."""
    idp = RotatingOidcIdP("steady", "https://idp.example.test/steady")
    idp.add_key("A")
    idp.add_key("B")
    idp.publish(srv, "A")
    idp.register(trusted, discovery_url=srv.url("/.well-known/openid-configuration"))
    assert refresh(trusted)[0]["changed"] is True
    login(app, idp.mint("A"))  # the app's backend holds the parsed keys
    return idp


def assert_kept(admin, idp, rows, word):
    """One row, nothing changed, the old key still listed, the error (with
    `word` in it) in the row and in jit.provider_status."""
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["provider"] == idp.name and row["changed"] is False, row
    assert row["error"] and word.lower() in row["error"].lower(), row["error"]
    assert row["keys"] == [idp.kid("A")], row
    st = status(admin, idp.name)
    assert st["refresh_error"] == row["error"]
    assert just_now(st["refreshed_at"])
    return row["error"]


def twenty_mib():
    for _ in range(20 * 16):
        yield b" " * 65536


def _refused(stack, srv, idp, ca):
    return f"https://127.0.0.1:{free_port()}/.well-known/openid-configuration"


def _http_500(stack, srv, idp, ca):
    srv.route("/.well-known/openid-configuration", 500, {"Content-Type": "text/html"},
              b"<html><body>upstream error</body></html>")
    return srv.url("/.well-known/openid-configuration")


def _jwks_20_mib(stack, srv, idp, ca):
    # The discovery document is fine; its jwks_uri answers 20 MiB, chunked.
    idp.publish(srv, "A", "B")
    srv.route("/jwks", 200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
              twenty_mib)
    return srv.url("/.well-known/openid-configuration")


def _jwks_invalid_json(stack, srv, idp, ca):
    idp.publish(srv, "A", "B")
    srv.route("/jwks", 200, {"Content-Type": "application/json"}, b'{"keys": [{"kty": "RSA",')
    return srv.url("/.well-known/openid-configuration")


def _jwks_no_usable_key(stack, srv, idp, ca):
    idp.publish(srv, "A", "B")
    oct_only = {"keys": [{"kty": "oct", "kid": "hmac", "alg": "HS256", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"}]}
    srv.route("/jwks", 200, {"Content-Type": "application/json"}, json.dumps(oct_only))
    return srv.url("/.well-known/openid-configuration")


def _jwks_truncated(stack, srv, idp, ca):
    # Content-Length promises A+B, the connection ends halfway.
    idp.publish(srv, "A", "B")
    full = json.dumps(idp.jwks("A", "B")).encode()
    srv.route("/jwks", 200, {"Content-Type": "application/json", "Content-Length": str(len(full))},
              lambda: [full[:len(full) // 2]])
    return srv.url("/.well-known/openid-configuration")


def _jwks_uri_plain_http(stack, srv, idp, ca):
    # The IdP's own document names a URL the policy refuses: nothing is sent.
    srv.route("/.well-known/openid-configuration", 200, {"Content-Type": "application/json"},
              json.dumps(idp.discovery("http://192.0.2.1/jwks")))
    return srv.url("/.well-known/openid-configuration")


def _jwks_uri_loopback_http(stack, srv, idp, ca):
    """An https discovery naming a plain-http jwks_uri on loopback: held to
    the redirect rule (never https down to http), refused before connecting."""
    plain = stack.enter_context(HttpsServer(ca, tls=False))
    plain.route("/jwks", 200, {"Content-Type": "application/json"}, json.dumps(idp.jwks("A", "B")))
    srv.route("/.well-known/openid-configuration", 200, {"Content-Type": "application/json"},
              json.dumps(idp.discovery(plain.url("/jwks"))))
    stack.callback(lambda: _assert_no_request(plain))
    return srv.url("/.well-known/openid-configuration")


def _assert_no_request(server):
    assert server.requests == [], server.requests


def _other_issuer(stack, srv, idp, ca):
    # Another tenant of the same IdP, publishing its own keys.
    return idp.publish(srv, "A", "B", issuer="https://idp.example.test/other-tenant")


def _untrusted_ca(stack, srv, idp, ca):
    rogue = stack.enter_context(HttpsServer(TestCA("someone else's CA")))
    return idp.publish(rogue, "A", "B")


def _wrong_host_name(stack, srv, idp, ca):
    wrong = stack.enter_context(HttpsServer(ca, names=("idp.example.test",)))
    return idp.publish(wrong, "A", "B")


FAILURES = [
    ("connection-refused", _refused, "refused"),
    ("http-500", _http_500, "500"),
    ("body-20-mib", _jwks_20_mib, "exceeds 1 MiB"),
    ("truncated-body", _jwks_truncated, "connection closed before the end of the body"),
    ("invalid-json", _jwks_invalid_json, "not valid JSON"),
    ("no-usable-key", _jwks_no_usable_key, "no usable"),
    ("jwks-uri-plain-http", _jwks_uri_plain_http, "plain http"),
    ("jwks-uri-loopback-http", _jwks_uri_loopback_http, "jwks_uri"),
    ("other-issuer", _other_issuer, "issuer"),
    ("untrusted-ca", _untrusted_ca, "trusted CA"),
    ("wrong-host-name", _wrong_host_name, "not valid for name"),
]


@pytest.mark.parametrize("breaker, word", [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])
def test_failure_keeps_the_keys(trusted, app, srv, ca, steady, breaker, word):
    idp = steady
    before = stored_keys(trusted, "steady")
    with contextlib.ExitStack() as stack:
        url = breaker(stack, srv, idp, ca)
        trusted.execute("update jit.providers set discovery_url = %s where name = 'steady'", (url,))
        start = time.monotonic()
        rows = refresh(trusted)  # does not raise
        seconds = time.monotonic() - start
    assert seconds < 5, seconds
    assert_kept(trusted, idp, rows, word)
    assert stored_keys(trusted, "steady") == before
    assert login(app, idp.mint("A"))["created"] is False
    assert rejection(app, idp.mint("B")) == ("28000", "bad_signature")


def test_failure_after_success_is_cleared_by_the_next_success(trusted, app, srv, steady):
    srv.route("/.well-known/openid-configuration", 500, {}, b"")
    assert "500" in refresh(trusted)[0]["error"]
    assert "500" in status(trusted, "steady")["refresh_error"]
    steady.publish(srv, "A", "B")
    assert refresh(trusted) == [{"provider": "steady", "changed": True,
                                 "keys": ["steady-A", "steady-B"], "error": None}]
    assert status(trusted, "steady")["refresh_error"] is None
    assert login(app, steady.mint("B"))["created"] is False


def test_saml_metadata_for_another_entity_keeps_the_certificates(trusted, app, srv):
    idp = RollingSamlIdP(name="sso", issuer="https://sso.example.test/idp/shibboleth")
    fp_a = idp.add_cert("A")
    idp.add_cert("B")
    url = idp.publish(srv, "A")
    idp.register_refreshed(trusted, metadata_url=url)
    assert refresh(trusted)[0]["keys"] == [fp_a]
    before = stored_keys(trusted, "sso")

    # The same URL now serves the metadata of another IdP, with B.
    idp.publish(srv, "B", entity_id="https://evil.example.test/idp/shibboleth")
    rows = refresh(trusted)
    assert len(rows) == 1 and rows[0]["changed"] is False and rows[0]["keys"] == [fp_a], rows
    assert "entityID" in rows[0]["error"], rows[0]["error"]
    assert status(trusted, "sso")["refresh_error"] == rows[0]["error"]
    assert stored_keys(trusted, "sso") == before
    assert login(app, idp.issue_with("A"), REQUEST_ID)["created"] is True
    assert rejection(app, idp.issue_with("B"), REQUEST_ID) == ("28000", "bad_signature")


def cancel_after(dbname, pid, seconds):
    def run():
        time.sleep(seconds)
        with connect(dbname) as c:
            c.execute("select pg_cancel_backend(%s)", (pid,))
    t = threading.Thread(target=run)
    t.start()
    return t


def expect_cancel(conn):
    start = time.monotonic()
    with pytest.raises(psycopg.errors.QueryCanceled) as info:
        refresh(conn)
    return info.value.sqlstate, time.monotonic() - start


def test_expired_saml_metadata_keeps_the_certificates(trusted, app, srv):
    """Metadata past its validUntil is not relied on (SAML metadata 2.1.1)."""
    idp = RollingSamlIdP(name="stale-md", issuer="https://stale.example.test/idp")
    fp_a = idp.add_cert("A")
    idp.add_cert("B")
    url = idp.publish(srv, "A")
    idp.register_refreshed(trusted, metadata_url=url)
    assert refresh(trusted)[0]["keys"] == [fp_a]
    expired = idp.metadata("B").replace(
        "<md:EntityDescriptor ", '<md:EntityDescriptor validUntil="2001-01-01T00:00:00Z" ', 1)
    srv.route("/saml/metadata", 200, {"Content-Type": "application/xml"}, expired)
    rows = refresh(trusted)
    assert len(rows) == 1 and rows[0]["changed"] is False and rows[0]["keys"] == [fp_a], rows
    assert "expired" in rows[0]["error"], rows[0]["error"]


def test_a_server_that_never_answers_times_out_and_keeps_the_keys(trusted, app, srv, steady):
    """The whole fetch has 15 s (TOTAL_TIMEOUT): a server that accepts and
    never answers is an error of this refresh, not a hung backend."""
    before = stored_keys(trusted, "steady")
    srv.mode = "hang"
    start = time.monotonic()
    rows = refresh(trusted)
    seconds = time.monotonic() - start
    assert 14 < seconds < 20, seconds
    assert len(rows) == 1 and rows[0]["changed"] is False, rows
    assert "timed out" in rows[0]["error"], rows[0]["error"]
    assert status(trusted, "steady")["refresh_error"] == rows[0]["error"]
    assert stored_keys(trusted, "steady") == before
    assert login(app, steady.mint("A"))["created"] is False
    srv.mode = "normal"


@pytest.mark.parametrize("mode", ["silent", "hang"])
def test_cancel_ends_a_refresh_waiting_on_a_silent_server(trusted, dbname, app, srv, steady, mode):
    before = stored_keys(trusted, "steady")
    before_status = status(trusted, "steady")
    srv.mode = mode
    pid = trusted.execute("select pg_backend_pid()").fetchone()[0]
    t = cancel_after(dbname, pid, 0.5)
    sqlstate, seconds = expect_cancel(trusted)
    t.join()
    assert sqlstate == "57014"
    assert 0.4 < seconds < 2, seconds
    # The backend is usable; the cancel rolled the whole call back.
    assert trusted.execute("select 1").fetchone() == (1,)
    assert stored_keys(trusted, "steady") == before
    after = status(trusted, "steady")
    assert (after["refreshed_at"], after["refresh_error"]) == (before_status["refreshed_at"], None)
    assert login(app, steady.mint("A"))["created"] is False
    # And refreshes again once the server answers.
    srv.mode = "normal"
    steady.publish(srv, "A", "B")
    assert refresh(trusted)[0]["keys"] == ["steady-A", "steady-B"]


def test_statement_timeout_ends_a_refresh(trusted, app, srv, steady):
    before = stored_keys(trusted, "steady")
    srv.mode = "silent"
    trusted.execute("set statement_timeout = '1s'")
    sqlstate, seconds = expect_cancel(trusted)
    assert sqlstate == "57014"
    assert 0.9 < seconds < 2.5, seconds
    trusted.execute("reset statement_timeout")
    assert trusted.execute("select 1").fetchone() == (1,)
    assert stored_keys(trusted, "steady") == before
    assert status(trusted, "steady")["refresh_error"] is None
    assert login(app, steady.mint("A"))["created"] is False


def test_one_failing_provider_does_not_stop_the_others(trusted, app, srv):
    broken = RotatingOidcIdP("a-broken", "https://idp.example.test/broken")
    broken.add_key("A")
    broken.register(trusted, jwks_labels=["A"],
                    discovery_url=f"https://127.0.0.1:{free_port()}/.well-known/openid-configuration")
    saml = RollingSamlIdP(name="b-saml", issuer="https://sso.example.test/b-saml")
    saml.add_cert("A")
    saml.register_refreshed(trusted, metadata_url=saml.publish(srv, "A"))
    srv.route("/saml/metadata", 500, {}, b"")  # the SAML IdP breaks, too
    good = RotatingOidcIdP("c-good", "https://idp.example.test/good")
    good.add_key("A")
    good.register(trusted, discovery_url=good.publish(srv, "A", prefix="/good"))
    # A provider without any URL is not refreshed by jit.refresh().
    manual = RotatingOidcIdP("d-manual", "https://idp.example.test/manual")
    manual.add_key("A")
    manual.register(trusted, jwks_labels=["A"])

    rows = refresh(trusted)
    assert [r["provider"] for r in rows] == ["a-broken", "b-saml", "c-good"]
    assert rows[0]["changed"] is False and rows[0]["keys"] == ["a-broken-A"]
    assert "refused" in rows[0]["error"].lower(), rows[0]["error"]
    assert rows[1]["changed"] is False and rows[1]["keys"] == [] and "500" in rows[1]["error"]
    assert rows[2] == {"provider": "c-good", "changed": True, "keys": ["c-good-A"], "error": None}
    assert login(app, good.mint("A"))["created"] is True
    assert login(app, broken.mint("A"))["created"] is True
    errors = dict(trusted.execute("select provider, refresh_error from jit.provider_status").fetchall())
    assert errors["a-broken"] == rows[0]["error"] and errors["b-saml"] == rows[1]["error"]
    assert errors["c-good"] is None and errors["d-manual"] is None


# --- 4. privileges and arguments ------------------------------------------------

def test_app_role_may_not_refresh(trusted, app, srv):
    idp = RotatingOidcIdP("priv", "https://idp.example.test/priv")
    idp.add_key("A")
    idp.register(trusted, discovery_url=idp.publish(srv, "A"))
    for sql in ("select * from jit.refresh()", "select * from jit.refresh('priv')",
                "select * from jit.refresh('nope')", "select * from jit.provider_status"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute(sql)
    assert srv.requests == []
    assert status(trusted, "priv")["refreshed_at"] is None


def test_admin_role_granted_execute_may_refresh(trusted, dbname, srv):
    """Admin = granted EXECUTE, not necessarily superuser."""
    idp = RotatingOidcIdP("granted", "https://idp.example.test/granted")
    idp.add_key("A")
    idp.register(trusted, discovery_url=idp.publish(srv, "A"))
    trusted.execute(f"grant execute on function jit.refresh(text) to {APP_ROLE}")
    with connect(dbname, user=APP_ROLE) as dba:
        assert refresh(dba, "granted") == [{"provider": "granted", "changed": True,
                                            "keys": ["granted-A"], "error": None}]


def test_unknown_provider_is_22023(trusted):
    with pytest.raises(psycopg.Error) as info:
        refresh(trusted, "nope")
    assert info.value.sqlstate == "22023"
    assert "nope" in info.value.diag.message_primary


def test_named_provider_without_url_reports_it(trusted):
    idp = RotatingOidcIdP("pinned", "https://idp.example.test/pinned")
    idp.add_key("A")
    idp.register(trusted, jwks_labels=["A"])
    assert refresh(trusted) == []  # not a provider jit.refresh() looks at
    rows = refresh(trusted, "pinned")
    assert len(rows) == 1 and rows[0]["changed"] is False and rows[0]["keys"] == ["pinned-A"]
    assert "discovery_url" in rows[0]["error"]


# (A non-superuser setting jit_provision.http_ca_file is refused with 42501:
# test_http_fetch.py, test_ca_file_is_superuser_only.)


# --- 6. jit.cleanup warns about certificates running out -----------------------

def server_log_path(conn):
    sock = conn.execute("show unix_socket_directories").fetchone()[0].split(",")[0].strip()
    return os.path.join(os.path.dirname(sock), "server.log")


def test_cleanup_warns_about_expiring_certificates(trusted):
    admin = trusted
    soon_key, later_key = new_key("rsa"), new_key("rsa")
    soon = cert_with_validity(soon_key, "short-lived", days=10)
    later = cert_with_validity(later_key, "long-lived", days=400)
    for name, cert in (("short-lived", soon), ("long-lived", later)):
        admin.execute(
            "insert into jit.providers (name, protocol, issuer, audiences, certificates, acs_urls) "
            "values (%s, 'saml', %s, array['https://app.example.com/saml/metadata'], %s, "
            "array['https://app.example.com/saml/acs'])",
            (name, f"https://sso.example.test/{name}", [pem(cert)]))
    expiry = status(admin, "short-lived")["earliest_expiry"]
    assert abs(expiry - soon.not_valid_after_utc) < datetime.timedelta(seconds=1)

    log = server_log_path(admin)
    offset = admin.execute("select (pg_stat_file(%s)).size", (log,)).fetchone()[0]
    notices = []
    # A Diagnostic is only readable inside the handler: keep its fields.
    admin.add_notice_handler(lambda d: notices.append((d.severity_nonlocalized, d.message_primary)))
    rows = admin.execute("select * from jit.cleanup()").fetchall()
    assert [r[0] for r in rows] == ["long-lived", "short-lived"]

    warnings = [msg for severity, msg in notices if severity == "WARNING"]
    assert len(warnings) == 1, warnings
    assert "short-lived" in warnings[0] and "expires" in warnings[0], warnings[0]
    assert not any("long-lived" in w for w in warnings)

    # In the server log too (what pg_cron's daily run leaves behind).
    deadline = time.monotonic() + 3
    while True:
        written = admin.execute("select pg_read_file(%s, %s, 1000000)", (log, offset)).fetchone()[0]
        if "short-lived" in written or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    lines = [line for line in written.splitlines() if "WARNING:" in line and "signing certificate" in line]
    assert any("short-lived" in line and "expires" in line for line in lines), written[-2000:]
    assert not any("long-lived" in line for line in lines)


# --- 5. pg_cron (second part): the job ran -------------------------------------

def test_pg_cron_job_refreshes(cron_job):
    c, jobid, idp = cron_job["conn"], cron_job["jobid"], cron_job["idp"]
    deadline = time.monotonic() + 75  # the next minute, and some
    row = None
    while time.monotonic() < deadline:
        row = c.execute("select status, return_message from cron.job_run_details "
                        "where jobid = %s and status in ('succeeded', 'failed') order by runid limit 1",
                        (jobid,)).fetchone()
        if row:
            break
        time.sleep(0.5)
    assert row is not None, c.execute("select * from cron.job_run_details").fetchall()
    assert row == ("succeeded", "1 row")
    st = status(c, "cron-idp")
    assert st["keys"] == [idp.kid("A"), idp.kid("B")]
    assert st["refresh_error"] is None and just_now(st["refreshed_at"])
    assert [p for p, _ in cron_job["site"].requests][:2] == ["/.well-known/openid-configuration", "/jwks"]
    # The new key works for a login in that database.
    assert login(c, idp.mint("B"))["created"] is True
