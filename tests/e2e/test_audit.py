"""Audit: a login_events row for every success; a server-log line for every
rejection, which survives the caller's rollback."""

import hashlib
import os
import time

from conftest import HOST
from db import login, rejection

SERVER_LOG = os.path.join(os.path.dirname(HOST), "server.log")


def log_lines_after(offset, needle):
    deadline = time.time() + 5
    while time.time() < deadline:
        with open(SERVER_LOG, errors="replace") as f:
            f.seek(offset)
            hits = [line for line in f if needle in line]
        if hits:
            return hits
        time.sleep(0.1)
    return []


def test_every_success_is_audited(idp, app, admin):
    a = login(app, idp.mint(idp.claims(sub="ann", jti="jti-1")))
    login(app, idp.mint(idp.claims(sub="ann", jti="jti-2")))
    rows = admin.execute("select provider, subject, user_id, outcome, reason, token_id "
                         "from jit.login_events order by id").fetchall()
    assert rows == [("acme", "ann", a["user_id"], "created", None, "jti-1"),
                    ("acme", "ann", a["user_id"], "updated", None, "jti-2")]


def test_rejection_leaves_a_log_line_after_rollback(idp, app, admin):
    offset = os.path.getsize(SERVER_LOG)
    bad = idp.mint(idp.claims(aud="someone-else", jti="jti-aud-1"))
    assert rejection(app, bad) == ("28000", "audience_mismatch")
    # The signature verified: the token is named by its jti, as in seen_tokens.
    lines = log_lines_after(offset, "token_id=jti-aud-1 ")
    assert len(lines) == 1
    assert "jit_provision: login rejected provider=acme reason=audience_mismatch" in lines[0]
    assert admin.execute("select count(*) from jit.login_events").fetchone()[0] == 0
    # A token whose signature does not verify is named by its hash.
    offset = os.path.getsize(SERVER_LOG)
    good = idp.mint(idp.claims(jti="jti-forged-1"))
    forged = good[:-8] + ("AAAAAAAA" if not good.endswith("AAAAAAAA") else "BBBBBBBB")
    assert rejection(app, forged) == ("28000", "bad_signature")
    fp = hashlib.sha256(forged.encode()).hexdigest()
    lines = log_lines_after(offset, f"token_id={fp}")
    assert len(lines) == 1 and "reason=bad_signature" in lines[0]


def test_replay_rejection_logs_the_token_id(idp, app):
    token = idp.mint(idp.claims(jti="the-jti-42"))
    login(app, token)
    offset = os.path.getsize(SERVER_LOG)
    assert rejection(app, token) == ("28000", "replayed")
    lines = log_lines_after(offset, "reason=replayed")
    assert len(lines) == 1 and "provider=acme" in lines[0] and "token_id=the-jti-42" in lines[0]


def test_unknown_issuer_is_logged_without_provider(idp, app):
    offset = os.path.getsize(SERVER_LOG)
    assert rejection(app, idp.mint(idp.claims(iss="https://nobody.example"))) == ("28000", "unknown_issuer")
    lines = log_lines_after(offset, "reason=unknown_issuer")
    assert len(lines) == 1 and "provider=-" in lines[0]


def test_a_token_cannot_forge_log_lines(idp, app):
    offset = os.path.getsize(SERVER_LOG)
    forged = "x\njit_provision: login rejected provider=acme reason=forged"
    assert rejection(app, idp.mint(idp.claims(iss="https://nobody.example" + forged))) == ("28000", "unknown_issuer")
    # A jti with a newline reaches the SQL side's log line (replay).
    token = idp.mint(idp.claims(jti="j\nforged-line"))
    login(app, token)
    assert rejection(app, token) == ("28000", "replayed")
    time.sleep(0.5)
    with open(SERVER_LOG, errors="replace") as f:
        f.seek(offset)
        lines = f.read().splitlines()
    assert not [line for line in lines if line.startswith("jit_provision") or "reason=forged" in line.split("detail=")[0]]
    assert not [line for line in lines if line.startswith("forged-line")]
