"""Replay of an ID token without jti under a malleated ECDSA signature.

ECDSA signatures are malleable: when (r, s) verifies, so does (r, n - s).
An ID token without `jti` is keyed in jit.seen_tokens by a hash; if that hash
covered the signature, the same token re-sent with its twin signature would
get a fresh key and log in a second time. The key is the SHA-256 of the JWS
signing input (header.payload), which no re-encoding of the signature
changes."""

import base64
import hashlib

from db import login, rejection, snapshot

# Order of the P-256 group.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64url_encode(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def malleate(token):
    """The same ES256 token with the signature (r, s) replaced by (r, n - s)."""
    signing_input, sig_b64 = token.rsplit(".", 1)
    sig = b64url_decode(sig_b64)
    assert len(sig) == 64  # JWS ES256: raw R || S, 32 bytes each
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    assert 0 < s < P256_N
    twin = r.to_bytes(32, "big") + (P256_N - s).to_bytes(32, "big")
    return f"{signing_input}.{b64url_encode(twin)}"


def test_malleated_es256_signature_is_a_replay(idp, app, admin):
    token = idp.mint(idp.claims(sub="mal", jti=None), alg="ES256")
    twin = malleate(token)
    assert twin != token
    # The twin really is a valid signature: jit.verify (no replay check) accepts it.
    assert admin.execute("select jit.verify(%s) ->> 'subject'", (twin,)).fetchone()[0] == "mal"

    assert login(app, token)["created"] is True
    stored = admin.execute("select token_id from jit.seen_tokens").fetchall()
    signing_input = token.rsplit(".", 1)[0]
    assert stored == [(hashlib.sha256(signing_input.encode("ascii")).hexdigest(),)]

    before = snapshot(admin)
    assert rejection(app, twin) == ("28000", "replayed")
    assert rejection(app, token) == ("28000", "replayed")
    assert snapshot(admin) == before


def test_tokens_with_jti_keep_the_jti_as_key(idp, app, admin):
    token = idp.mint(idp.claims(sub="mal2", jti="jti-mal-1"), alg="ES256")
    login(app, token)
    assert admin.execute("select token_id from jit.seen_tokens").fetchall() == [("jti-mal-1",)]
    assert rejection(app, malleate(token)) == ("28000", "replayed")
