"""jit.try_login: the verdict as a row. One test per reason code (verdict,
exactly one rejected jit.login_events row with reason, token id, provider
and subject, nothing else changed), acceptance, and what still raises."""

import base64
import hashlib
import json
import os
import re
import time

import psycopg
import pytest

from conftest import APP_ROLE, HOST, connect
from db import TABLES, login
from idp import OidcIdP
from saml_idp import SamlIdP
from test_standby import standby  # noqa: F401  (the fixture)

SERVER_LOG = os.path.join(os.path.dirname(HOST), "server.log")
README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def sha(token):
    return hashlib.sha256(token.encode()).hexdigest()


def _b64(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def try_login(conn, token, request_id=None):
    """jit.try_login in its own transaction (committed); the row as a dict."""
    with conn.transaction():
        cur = conn.execute("select * from jit.try_login(%s, %s)", (token, request_id))
        cols = [d.name for d in cur.description]
        rows = cur.fetchall()
    assert len(rows) == 1
    return dict(zip(cols, rows[0]))


def state(admin):
    """Every data row but the audit's, seat claims included."""
    out = {t: admin.execute(f"select * from jit.{t} order by 1, 2").fetchall() for t in TABLES if t != "login_events"}
    out["seat_claims"] = admin.execute("select * from jit.seat_claims order by 1").fetchall()
    return out


def jit_login_message(conn, token, request_id=None):
    """What jit_login raises for the token (its transaction rolls back)."""
    try:
        with conn.transaction():
            conn.execute("select * from jit_login(%s, %s)", (token, request_id)).fetchone()
    except psycopg.Error as e:
        return e.sqlstate, e.diag.message_primary
    raise AssertionError("token was accepted")


def last_event_id(admin):
    return admin.execute("select coalesce(max(id), 0) from jit.login_events").fetchone()[0]


def assert_rejected(app, admin, token, reason, provider, token_id, subject, request_id=None):
    """try_login refuses ``token`` with ``reason``: the verdict row, exactly
    one rejected login_events row, and no other row changed."""
    sqlstate, message = jit_login_message(app, token, request_id)
    assert (sqlstate, message.split(":", 1)[0]) == ("28000", reason), message
    before, since = state(admin), last_event_id(admin)
    r = try_login(app, token, request_id)
    # The message of jit_login, word for word (but the clock it may quote).
    def tick(m):
        return re.sub(r"\bnow \d+", "now N", m or "")
    assert {**r, "detail": tick(r["detail"])} == {
        "user_id": None, "created": None, "groups": None, "reason": reason, "detail": tick(message)}
    events = admin.execute(
        "select provider, subject, user_id, outcome, reason, token_id from jit.login_events where id > %s",
        (since,)).fetchall()
    assert events == [(provider, subject, None, "rejected", reason, token_id)]
    assert state(admin) == before
    return r


@pytest.fixture
def saml(admin):
    p = SamlIdP()
    p.register(admin)
    return p


# ------------------------------------------------------------ one test per reason


def test_malformed(idp, app, admin):
    assert_rejected(app, admin, "not a token", "malformed", None, sha("not a token"), None)


def test_unknown_issuer(idp, app, admin):
    token = idp.mint(idp.claims(iss="https://nobody.example", jti="j-unknown"))
    assert_rejected(app, admin, token, "unknown_issuer", None, sha(token), None)


def test_provider_disabled(idp, app, admin):
    admin.execute("update jit.providers set enabled = false")
    token = idp.mint(idp.claims(jti="j-disabled"))
    assert_rejected(app, admin, token, "provider_disabled", "acme", sha(token), None)


def test_unsupported_algorithm(idp, app, admin):
    token = _b64({"alg": "none"}) + "." + _b64(idp.claims(jti="j-none")) + "."
    assert_rejected(app, admin, token, "unsupported_algorithm", "acme", sha(token), None)


def test_bad_signature_is_recorded_by_the_hash_never_by_the_claimed_jti(idp, app, admin):
    mallory = OidcIdP(name="evil", issuer=idp.issuer, client_id=idp.client_id)
    token = mallory.mint(idp.claims(sub="ceo", jti="j-claimed-by-a-forger"))
    offset = os.path.getsize(SERVER_LOG)
    assert_rejected(app, admin, token, "bad_signature", "acme", sha(token), None)
    lines = log_lines_after(offset, "reason=bad_signature")
    assert len(lines) == 2  # jit_login's and try_login's
    assert all(f"provider=acme reason=bad_signature token_id={sha(token)} detail=" in line for line in lines)
    assert not [line for line in log_lines_after(offset, "j-claimed-by-a-forger", wait=0)]


def test_expired(idp, app, admin):
    now = int(time.time())
    token = idp.mint(idp.claims(sub="eve", iat=now - 1000, exp=now - 600, jti="j-expired"))
    assert_rejected(app, admin, token, "expired", "acme", "j-expired", "eve")


def test_not_yet_valid(idp, app, admin):
    token = idp.mint(idp.claims(sub="nat", nbf=int(time.time()) + 600, jti="j-nbf"))
    assert_rejected(app, admin, token, "not_yet_valid", "acme", "j-nbf", "nat")


def test_too_old(idp, app, admin):
    admin.execute("update jit.providers set max_age = '1 minute'")
    token = idp.mint(idp.claims(sub="old", iat=int(time.time()) - 600, jti="j-old"))
    assert_rejected(app, admin, token, "too_old", "acme", "j-old", "old")


def test_audience_mismatch(idp, app, admin):
    token = idp.mint(idp.claims(sub="aud", aud="someone-else", jti="j-aud"))
    assert_rejected(app, admin, token, "audience_mismatch", "acme", "j-aud", "aud")


def test_audience_mismatch_without_jti_is_recorded_by_the_signing_input_hash(idp, app, admin):
    token = idp.mint(idp.claims(sub="aud", aud="someone-else", jti=None))
    assert_rejected(app, admin, token, "audience_mismatch", "acme", sha(token.rsplit(".", 1)[0]), "aud")


def test_recipient_mismatch(saml, app, admin):
    xml = saml.issue(name_id="rita@example.com", recipient="https://evil.example.net/saml/acs",
                     assertion_id="_assertion-recipient")
    assert_rejected(app, admin, xml, "recipient_mismatch", "okta-saml", "_assertion-recipient", "rita@example.com")


def test_request_mismatch(idp, app, admin):
    token = idp.mint(idp.claims(sub="req", nonce="n-1", jti="j-nonce"))
    assert_rejected(app, admin, token, "request_mismatch", "acme", "j-nonce", "req", request_id="n-2")


def test_status_not_success(saml, app, admin):
    xml = saml.error_response()  # unsigned: nothing in it is the IdP's word
    assert_rejected(app, admin, xml, "status_not_success", "okta-saml", sha(xml), None)


def test_replayed(idp, app, admin):
    token = idp.mint(idp.claims(sub="rep", jti="j-replayed"))
    login(app, token)
    assert_rejected(app, admin, token, "replayed", "acme", "j-replayed", "rep")


def test_missing_claim(idp, app, admin):
    token = idp.mint(idp.claims(sub=None, jti="j-nosub"))
    assert_rejected(app, admin, token, "missing_claim", "acme", "j-nosub", None)


def test_domain_not_allowed(idp, app, admin):
    admin.execute("update jit.providers set email_domains = array['corp.example']")
    token = idp.mint(idp.claims(sub="dom", email="dom@example.com", jti="j-domain"))
    assert_rejected(app, admin, token, "domain_not_allowed", "acme", "j-domain", "dom")


def test_seat_limit_reached(idp, app, admin):
    admin.execute("update jit.providers set seat_limit = 1")
    login(app, idp.mint(idp.claims(sub="first")))
    token = idp.mint(idp.claims(sub="second", jti="j-seat"))
    assert_rejected(app, admin, token, "seat_limit_reached", "acme", "j-seat", "second")


def test_user_blocked(idp, app, admin):
    login(app, idp.mint(idp.claims(sub="blk")))
    admin.execute("update jit.users set blocked = true where subject = 'blk'")
    token = idp.mint(idp.claims(sub="blk", jti="j-blocked"))
    assert_rejected(app, admin, token, "user_blocked", "acme", "j-blocked", "blk")


def test_unsupported(idp, app, admin):
    token = idp.mint(idp.claims(jti="j-cty"), headers={"cty": "JWT"})
    assert_rejected(app, admin, token, "unsupported", "acme", sha(token), None)


REASONS = ["malformed", "unknown_issuer", "provider_disabled", "unsupported_algorithm", "bad_signature",
           "expired", "not_yet_valid", "too_old", "audience_mismatch", "recipient_mismatch", "request_mismatch",
           "status_not_success", "replayed", "missing_claim", "domain_not_allowed", "seat_limit_reached",
           "user_blocked", "unsupported"]


def test_every_reason_code_has_a_test():
    """The contract's 18 codes (sql-api.md, "Errors"), each produced above."""
    source = open(__file__).read()
    for code in REASONS:
        assert re.search(rf'assert_rejected\(app, admin, [^,]+, "{code}"', source), code


# ------------------------------------------------------------ token ids in the log


def log_lines_after(offset, needle, wait=5):
    deadline = time.time() + wait
    while True:
        with open(SERVER_LOG, errors="replace") as f:
            f.seek(offset)
            hits = [line for line in f if needle in line]
        if hits or time.time() >= deadline:
            return hits
        time.sleep(0.1)


@pytest.mark.parametrize("case", ["audience", "expired"])
def test_rejected_token_with_jti_is_found_by_its_jti(idp, app, admin, case):
    now = int(time.time())
    jti = f"jti-{case}-{now}"
    claims = (idp.claims(aud="someone-else", jti=jti) if case == "audience"
              else idp.claims(iat=now - 1000, exp=now - 600, jti=jti))
    token = idp.mint(claims)
    offset = os.path.getsize(SERVER_LOG)
    assert try_login(app, token)["reason"] in ("audience_mismatch", "expired")
    lines = log_lines_after(offset, f"token_id={jti} ")
    assert len(lines) == 1 and "jit_provision: login rejected provider=acme reason=" in lines[0]
    assert admin.execute("select reason from jit.login_events where token_id = %s", (jti,)).fetchall() == [
        ("audience_mismatch" if case == "audience" else "expired",)]


def test_saml_rejection_after_the_signature_is_found_by_assertion_id(saml, app, admin):
    xml = saml.issue(name_id="sam@example.com", audience="https://other-app.example.com/saml",
                     assertion_id="_assertion-aud-7")
    offset = os.path.getsize(SERVER_LOG)
    assert try_login(app, base64.b64encode(xml.encode()).decode())["reason"] == "audience_mismatch"
    assert len(log_lines_after(offset, "reason=audience_mismatch token_id=_assertion-aud-7 ")) == 1
    assert admin.execute("select provider, subject, token_id from jit.login_events").fetchall() == [
        ("okta-saml", "sam@example.com", "_assertion-aud-7")]


def test_control_characters_in_the_facts_are_kept_exactly_and_never_logged_raw(idp, app, admin):
    jti = "j\u2028forged\x85line\nx"
    sub = "s\u2029u\x7fb"
    token = idp.mint(idp.claims(sub=sub, jti=jti))
    login(app, token)
    offset = os.path.getsize(SERVER_LOG)
    assert try_login(app, token)["reason"] == "replayed"  # the SQL side's facts
    expired = idp.mint(idp.claims(sub=sub, jti=jti + "2", iat=int(time.time()) - 1000, exp=int(time.time()) - 600))
    assert try_login(app, expired)["reason"] == "expired"  # the Rust side's facts
    assert admin.execute(
        "select reason, subject, token_id from jit.login_events where outcome = 'rejected' order by id").fetchall() == [
        ("replayed", sub, jti), ("expired", sub, jti + "2")]
    # The error's DETAIL (logged with jit_login's error) is one line.
    jit_login_message(app, expired)
    time.sleep(0.5)
    with open(SERVER_LOG, encoding="utf-8", errors="replace") as f:
        f.seek(offset)
        lines = f.read().splitlines()
    assert not [line for line in lines if line.startswith(("forged", "line", "x", "u", "b"))]


# ------------------------------------------------------------ acceptance


def test_accepted_is_what_jit_login_returns_and_establishes_the_identity(idp, app, admin):
    admin.execute("insert into jit.group_map values ('acme', '*', 'everyone'), ('acme', 'eng', 'developers')")
    with app.transaction():
        r = app.execute("select * from jit.try_login(%s)", (idp.mint(idp.claims(sub="acc", groups=["eng"])),)).fetchall()
        assert len(r) == 1
        user_id, created, groups, reason, detail = r[0]
        assert (created, groups, reason, detail) == (True, ["developers", "everyone"], None, None)
        assert app.execute("select jit.current_user_id(), jit.current_groups()").fetchone() == (
            user_id, ["developers", "everyone"])
        # RLS: the application sees its own row.
        assert app.execute("select id from jit.users").fetchall() == [(user_id,)]
    assert app.execute("select jit.current_user_id()").fetchone()[0] is None
    again = login(app, idp.mint(idp.claims(sub="acc", groups=["eng"])))
    assert again == {"user_id": user_id, "created": False, "groups": ["developers", "everyone"]}
    third = try_login(app, idp.mint(idp.claims(sub="acc", groups=["eng"])))
    assert third == {**again, "reason": None, "detail": None}
    events = admin.execute("select outcome, reason from jit.login_events order by id").fetchall()
    assert events == [("created", None), ("updated", None), ("updated", None)]


def test_rejection_row_is_written_in_the_callers_transaction(idp, app, admin):
    with connect(admin.info.dbname, user=APP_ROLE, autocommit=False) as c:
        r = c.execute("select reason from jit.try_login('garbage')").fetchone()
        assert r == ("malformed",)
        c.rollback()
    assert admin.execute("select count(*) from jit.login_events").fetchone()[0] == 0
    # A rejection does not establish anything, nor does it end an identity
    # established earlier in the transaction.
    with connect(admin.info.dbname, user=APP_ROLE, autocommit=False) as c:
        u = c.execute("select user_id from jit.try_login(%s)", (idp.mint(idp.claims(sub="k")),)).fetchone()[0]
        assert c.execute("select reason from jit.try_login('garbage')").fetchone() == ("malformed",)
        assert c.execute("select jit.current_user_id()").fetchone()[0] == u
        c.commit()
    assert admin.execute("select outcome from jit.login_events order by id").fetchall() == [("created",), ("rejected",)]


def test_a_28000_of_an_on_login_hook_is_raised_not_a_verdict(idp, app, admin):
    admin.execute("""
        create function refuse(user_id uuid, identity jsonb) returns void language plpgsql as $$
        begin raise exception 'not today' using errcode = '28000', detail = 'hook'; end $$""")
    admin.execute("update jit.providers set on_login = 'refuse(uuid, jsonb)'")
    with pytest.raises(psycopg.Error) as e:
        try_login(app, idp.mint())
    assert (e.value.sqlstate, e.value.diag.message_primary) == ("28000", "not today")
    assert admin.execute("select count(*) from jit.login_events").fetchone()[0] == 0


def test_a_hook_cannot_forge_a_rejection_for_try_login(idp, app, admin):
    """A hook chooses its own DETAIL: one shaped like a rejection's facts is
    marked as the hook's, so try_login raises instead of recording it."""
    admin.execute("""
        create function forge(user_id uuid, identity jsonb) returns void language plpgsql as $$
        begin raise exception 'replayed: forged' using errcode = '28000',
            detail = '{"reason":"replayed","provider":"acme","token_id":"victim-jti","subject":"victim"}';
        end $$""")
    admin.execute("update jit.providers set on_login = 'forge(uuid, jsonb)'")
    with pytest.raises(psycopg.Error) as e:
        try_login(app, idp.mint())
    assert e.value.sqlstate == "28000"
    assert e.value.diag.message_detail.startswith("from the on_login hook: ")
    assert admin.execute("select count(*) from jit.login_events").fetchone()[0] == 0


def test_same_privileges_as_jit_login(idp, admin):
    rows = admin.execute("""
        select p.oid::regprocedure::text, p.prosecdef, has_function_privilege('public', p.oid, 'execute'),
               has_function_privilege(%s, p.oid, 'execute')
        from pg_proc p where p.oid in ('jit.try_login(text, text)'::regprocedure, 'jit_login(text, text)'::regprocedure)
        order by 1""", (APP_ROLE,)).fetchall()
    assert [r[1:] for r in rows] == [(True, True, True), (True, True, True)]


# ------------------------------------------------------------ still raises


@pytest.mark.parametrize("level", ["repeatable read", "serializable"])
def test_serialization_failure_still_raises(idp, admin, dbname, level):
    admin.execute("update jit.providers set seat_limit = 2")
    login(connect(dbname, user=APP_ROLE), idp.mint(idp.claims(sub="early")))
    a, b = connect(dbname, user=APP_ROLE), connect(dbname, user=APP_ROLE)
    for c in (a, b):
        c.execute(f"begin isolation level {level}")
        c.execute("select count(*) from jit.users")
    assert a.execute("select created from jit.try_login(%s)", (idp.mint(idp.claims(sub="a")),)).fetchone() == (True,)
    a.execute("commit")
    with pytest.raises(psycopg.errors.SerializationFailure):
        b.execute("select * from jit.try_login(%s)", (idp.mint(idp.claims(sub="b")),))
    b.execute("rollback")
    # Its retry gets the verdict.
    assert try_login(b, idp.mint(idp.claims(sub="b")))["reason"] == "seat_limit_reached"
    assert admin.execute("select outcome, subject from jit.login_events where subject in ('a', 'b') order by id").fetchall() == [
        ("created", "a"), ("rejected", "b")]


def test_hot_standby_still_raises(admin, dbname, standby):  # noqa: F811
    idp = OidcIdP(name="acme", issuer="https://idp.example.com/acme", client_id="app-1")
    idp.register(admin)
    lsn = admin.execute("select pg_current_wal_lsn()").fetchone()[0]
    for _ in range(100):
        if standby.execute("select pg_last_wal_replay_lsn() >= %s", (lsn,)).fetchone()[0]:
            break
        time.sleep(0.1)
    for token in (idp.mint(), "garbage"):
        with pytest.raises(psycopg.Error) as e:
            standby.execute("select * from jit.try_login(%s)", (token,))
        assert e.value.sqlstate == "25006"


# ------------------------------------------------------------ README


def readme_blocks():
    text = open(README).read()
    return re.findall(r"<!-- tested: tests/e2e/test_try_login.py -->\n```sql\n(.*?)```", text, re.S)


def test_readme_failed_logins_per_provider_and_reason(idp, saml, admin, dbname):
    call, report = readme_blocks()
    assert "$1" in call
    with connect(dbname, user=APP_ROLE) as app:
        now = int(time.time())
        for token in (idp.mint(idp.claims(aud="x")), idp.mint(idp.claims(aud="y")),
                      idp.mint(idp.claims(exp=now - 600, iat=now - 900)), "garbage",
                      saml.error_response()):
            r = app.execute(call.replace("$1", "%s"), (token,)).fetchone()
            assert r[0] is None and r[3] is not None
        r = app.execute(call.replace("$1", "%s"), (idp.mint(),)).fetchone()
        assert r[0] is not None and r[3] is None
    admin.execute("insert into jit.login_events (at, provider, outcome, reason) "
                  "values (now() - interval '2 hours', 'acme', 'rejected', 'expired')")
    assert admin.execute(report).fetchall() == [
        ("-", "malformed", 1),
        ("acme", "audience_mismatch", 2),
        ("acme", "expired", 1),
        ("okta-saml", "status_not_success", 1),
    ]
