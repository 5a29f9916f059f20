"""OIDC login through SQL, as the application role."""

import base64
import json
import os
import time

import psycopg
import pytest

from db import login, rejection, snapshot
from idp import OidcIdP


@pytest.mark.parametrize("via", ["pyjwt", "jose"])
@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "ES384", "EdDSA"])
def test_tokens_from_independent_libraries_are_accepted(idp, app, admin, alg, via):
    claims = idp.claims(sub=f"user-{alg}-{via}")
    r = login(app, idp.mint(claims, alg=alg, via=via))
    assert r["created"] is True
    row = admin.execute(
        "select provider, subject, email, login_count from jit.users where id = %s", (r["user_id"],)
    ).fetchone()
    assert row == ("acme", f"user-{alg}-{via}", f"user-{alg}-{via}@example.com", 1)


def test_user_created_then_updated(idp, app, admin):
    first = login(app, idp.mint(idp.claims(sub="bob", name="Bob One")))
    assert first["created"] is True
    second = login(app, idp.mint(idp.claims(sub="bob", name="Bob Two", email="bob@new.example.com"), alg="ES256"))
    assert second["created"] is False
    assert second["user_id"] == first["user_id"]
    row = admin.execute(
        "select name, email, login_count, last_login_at >= created_at from jit.users where subject = 'bob'"
    ).fetchone()
    assert row == ("Bob Two", "bob@new.example.com", 2, True)
    events = admin.execute("select outcome from jit.login_events order by id").fetchall()
    assert events == [("created",), ("updated",)]


def _b64(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _cases(idp):
    """(name, token factory, request_id, expected reason). Factories run after
    the provider exists so tokens are fresh."""
    now = int(time.time())
    other = OidcIdP(name="evil", issuer=idp.issuer, client_id=idp.client_id)
    return [
        ("garbage", lambda: "not a token", None, "malformed"),
        ("two segments", lambda: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0", None, "malformed"),
        ("unknown issuer", lambda: idp.mint(idp.claims(iss="https://other.example.com")), None, "unknown_issuer"),
        ("wrong key", lambda: other.mint(idp.claims()), None, "bad_signature"),
        ("tampered", lambda: _tamper(idp.mint(idp.claims())), None, "bad_signature"),
        ("alg none", lambda: _b64({"alg": "none"}) + "." + _b64(idp.claims()) + ".", None, "unsupported_algorithm"),
        ("hs256 confusion", lambda: _hs256_with_public_key(idp), None, "unsupported_algorithm"),
        ("expired", lambda: idp.mint(idp.claims(iat=now - 1000, exp=now - 600)), None, "expired"),
        ("issued in future", lambda: idp.mint(idp.claims(iat=now + 600, exp=now + 900)), None, "not_yet_valid"),
        ("nbf in future", lambda: idp.mint(idp.claims(nbf=now + 600)), None, "not_yet_valid"),
        ("wrong audience", lambda: idp.mint(idp.claims(aud="someone-else")), None, "audience_mismatch"),
        ("multi aud without azp", lambda: idp.mint(idp.claims(aud=[idp.client_id, "x"])), None, "audience_mismatch"),
        ("nonce mismatch", lambda: idp.mint(idp.claims(nonce="n-1")), "n-2", "request_mismatch"),
        ("no sub", lambda: idp.mint(idp.claims(sub=None)), None, "missing_claim"),
        ("no exp", lambda: idp.mint({k: v for k, v in idp.claims().items() if k != "exp"}), None, "missing_claim"),
    ]


def _tamper(token):
    h, p, s = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    claims["sub"] = "mallory"
    return f"{h}.{_b64(claims)}.{s}"


def _hs256_with_public_key(idp):
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import serialization

    pem = idp.keys["rsa"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = _b64({"alg": "HS256", "kid": idp.kid("rsa")}) + "." + _b64(idp.claims())
    sig = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def test_every_rejection_names_its_reason_and_leaves_no_row(idp, app, admin):
    login(app, idp.mint(idp.claims(sub="existing")))  # some state to preserve
    before = snapshot(admin)
    seen = []
    for name, make, request_id, reason in _cases(idp):
        sqlstate, got = rejection(app, make(), request_id)
        assert (name, sqlstate, got) == (name, "28000", reason)
        assert snapshot(admin) == before, name
        seen.append(reason)
    assert len(seen) == len(_cases(idp))


def test_replayed_token_is_refused(idp, app, admin):
    token = idp.mint()
    login(app, token)
    before = snapshot(admin)
    assert rejection(app, token) == ("28000", "replayed")
    assert snapshot(admin) == before


def test_token_without_jti_is_keyed_by_its_hash(idp, app, admin):
    claims = idp.claims(jti=None)
    token = idp.mint(claims)
    login(app, token)
    import hashlib

    # The hash of the signing input (header.payload), not of the whole token:
    # see test_replay_malleability.py for why the signature is left out.
    stored = admin.execute("select token_id from jit.seen_tokens").fetchone()[0]
    assert stored == hashlib.sha256(token.rsplit(".", 1)[0].encode()).hexdigest()
    assert rejection(app, token) == ("28000", "replayed")


def _server_log():
    from conftest import HOST

    return os.path.join(os.path.dirname(HOST), "server.log")


def _log_lines_since(offset):
    """The server log after ``offset``, split the way Python splits text:
    at U+2028, U+2029 and U+0085 too, as many log readers do."""
    time.sleep(0.5)
    with open(_server_log(), encoding="utf-8", errors="replace") as f:
        f.seek(offset)
        return f.read().splitlines()


def test_unicode_line_separators_cannot_forge_log_lines(idp, app):
    offset = os.path.getsize(_server_log())
    # Rust side: the issuer is echoed in the detail of the rejection.
    forged = "x\u2028jit_provision: reason=forged\u2029forged-y\x85forged-z"
    sqlstate, reason, msg = _rejection_message(app, idp.mint(idp.claims(iss="https://n/" + forged)))
    assert (sqlstate, reason) == ("28000", "unknown_issuer")
    escaped = "x\\u{2028}jit_provision: reason=forged\\u{2029}forged-y\\u{85}forged-z"
    assert escaped in msg, msg
    assert not any(c in msg for c in "\u2028\u2029\x85")
    # SQL side: a jti is the token id of the replay rejection's log line.
    token = idp.mint(idp.claims(jti="j\u2028forged-a\u2029forged-b\x85forged-c"))
    login(app, token)
    assert rejection(app, token) == ("28000", "replayed")
    lines = _log_lines_since(offset)
    assert not [line for line in lines if line.startswith(("jit_provision", "forged-"))]
    # No log line of the extension's own reports the forged reason.
    assert not [line for line in lines if "login rejected" in line and "reason=forged" in line.split("detail=")[0]]
    assert [line for line in lines if "reason=replayed token_id=j?forged-a?forged-b?forged-c detail=" in line]
    assert [line for line in lines if "reason=unknown_issuer" in line and escaped in line]


def _rejection_message(conn, token):
    try:
        login(conn, token)
    except psycopg.Error as e:
        msg = e.diag.message_primary or ""
        return e.sqlstate, msg.split(":", 1)[0], msg
    raise AssertionError("token was accepted")


def test_disabled_provider_and_email_domain(idp, app, admin):
    admin.execute("update jit.providers set email_domains = array['Corp.example'] where name = 'acme'")
    assert rejection(app, idp.mint(idp.claims(sub="x", email="x@example.com"))) == ("28000", "domain_not_allowed")
    login(app, idp.mint(idp.claims(sub="y", email="y@corp.EXAMPLE")))
    admin.execute("update jit.providers set enabled = false where name = 'acme'")
    assert rejection(app, idp.mint(idp.claims(sub="y", email="y@corp.example"))) == ("28000", "provider_disabled")


def test_request_id_matches_nonce(idp, app):
    r = login(app, idp.mint(idp.claims(nonce="req-42")), request_id="req-42")
    assert r["created"] is True


def test_oversized_token_is_malformed_before_parsing(idp, app):
    assert rejection(app, "a" * (1024 * 1024 + 1)) == ("28000", "malformed")


@pytest.mark.parametrize(
    "jwks, message",
    [
        ('{"keys": []}', "no usable signing key"),
        ('{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}', "no usable signing key"),
        ('{"nokeys": true}', "jwks"),
        (None, "needs jwks"),
    ],
)
def test_unusable_jwks_is_refused_on_write(admin, jwks, message):
    with pytest.raises(psycopg.errors.InvalidParameterValue) as e:
        admin.execute(
            "insert into jit.providers (name, protocol, issuer, audiences, jwks) values ('p', 'oidc', 'https://p', array['a'], %s)",
            (jwks,),
        )
    assert message in str(e.value)


def test_unknown_algorithm_name_is_refused_on_write(idp, admin):
    with pytest.raises(psycopg.errors.InvalidParameterValue) as e:
        admin.execute("update jit.providers set algorithms = array['RS257'] where name = 'acme'")
    assert "unknown algorithm name 'RS257'" in str(e.value)


def test_verify_is_a_dry_run(idp, admin):
    admin.execute("insert into jit.group_map values ('acme', 'eng', 'engineering')")
    token = idp.mint(idp.claims(sub="carol", groups=["eng", "unmapped"]))
    before = snapshot(admin)
    v = admin.execute("select jit.verify(%s)", (token,)).fetchone()[0]
    assert v["subject"] == "carol" and v["provider"] == "acme"
    assert v["groups"] == ["engineering"] and v["idp_groups"] == ["eng", "unmapped"]
    assert snapshot(admin) == before


def test_identity_lasts_one_transaction(idp, app):
    with app.transaction():
        r = app.execute("select * from jit_login(%s)", (idp.mint(),)).fetchone()
        assert app.execute("select jit.current_user_id()").fetchone()[0] == r[0]
        assert app.execute("select count(*) from jit.users").fetchone()[0] == 1
    assert app.execute("select jit.current_user_id()").fetchone()[0] is None
    assert app.execute("select count(*) from jit.users").fetchone()[0] == 0


@pytest.mark.parametrize("how", ["update", "claim_map", "truncate"])
def test_config_change_under_replica_role_is_seen_by_an_open_connection(idp, app, admin, how):
    """A change made with session_replication_role = replica (data loads,
    the apply worker of logical replication) still drops every backend's
    cached provider: the invalidation triggers are row triggers enabled ALWAYS."""
    if how == "truncate":
        admin.execute("insert into jit.claim_map values ('acme', 'email', 'upn')")
    def claims():  # a fresh jti each time
        return idp.claims(sub="dave", email="dave@example.com", upn="d@corp.example")

    login(app, idp.mint(claims()))  # warms this backend's cache
    rotated = OidcIdP(name="acme", issuer=idp.issuer, client_id=idp.client_id)
    admin.execute("set session_replication_role = replica")
    if how == "update":
        admin.execute("update jit.providers set jwks = %s where name = 'acme'", (json.dumps(rotated.jwks()),))
    elif how == "claim_map":
        admin.execute("insert into jit.claim_map values ('acme', 'email', 'upn')")
    else:
        admin.execute("truncate jit.claim_map")
    admin.execute("reset session_replication_role")
    if how == "update":
        assert rejection(app, idp.mint(claims())) == ("28000", "bad_signature")
        assert login(app, rotated.mint(claims()))["created"] is False
    else:
        want = "d@corp.example" if how == "claim_map" else "dave@example.com"
        r = login(app, idp.mint(claims()))
        assert admin.execute("select email from jit.users where id = %s", (r["user_id"],)).fetchone()[0] == want


def test_config_change_is_seen_by_an_open_connection(idp, app, admin):
    login(app, idp.mint(idp.claims(sub="dave")))  # warms this backend's cache
    rotated = OidcIdP(name="acme", issuer=idp.issuer, client_id=idp.client_id)
    admin.execute("update jit.providers set jwks = %s where name = 'acme'", (__import__("json").dumps(rotated.jwks()),))
    assert rejection(app, idp.mint(idp.claims(sub="dave"))) == ("28000", "bad_signature")
    assert login(app, rotated.mint(rotated.claims(sub="dave")))["created"] is False
