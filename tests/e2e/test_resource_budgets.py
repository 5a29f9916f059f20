"""Resource budgets of SAML verification (issue 13).

A ~1 MiB Response whose canonical form is hundreds of times its size (see
amplify.py: a long namespace URI, then tens of thousands of tiny elements
that use it under a parent that does not) once made a backend allocate
until it aborted, and the cluster went through crash recovery. Now:

* the SignatureValue over canonical SignedInfo is checked before the
  Reference digest: a junk signature is ``bad_signature`` at once;
* canonical output is bounded by ``jit_provision.canonical_limit_factor ×
  document bytes + 64 KiB`` (default factor 8, superuser-only); past it the
  token is ``malformed``;
* the verifier checks for interrupts, so ``pg_cancel_backend`` and
  ``statement_timeout`` stop even a verification allowed to run long.

Every rejection here must arrive in under a second, leave the connection
usable and the postmaster where it was.

The tokens are signed by hand (amplify.py); the first tests prove that
signing trick on small Responses the verifier accepts.
"""

import re
import threading
import time
import uuid

import psycopg
import pytest

import amplify as A
from conftest import APP_ROLE, connect
from db import login
from saml_idp import SamlIdP, rejection_detail, xmlsec1_verifies

GUC = "jit_provision.canonical_limit_factor"
DEFAULT_FACTOR = 8
SLACK = 64 * 1024
FAST = 1.0  # seconds a rejection may take, round trip included
REQ = "_req-3a5e1c2b9d"


# ------------------------------------------------------------------ fixtures
# One database for the module: every test here only sends tokens that are
# refused (or logs in distinct users), so they need no fresh database each.


@pytest.fixture(scope="module")
def mdb(cluster):
    name = "t_" + uuid.uuid4().hex[:12]
    with connect("postgres") as c:
        c.execute(f"create database {name}")
    with connect(name) as c:
        c.execute("create extension jit_provision")
    yield name
    with connect("postgres") as c:
        c.execute(f"drop database {name} with (force)")


@pytest.fixture(scope="module")
def msaml(mdb):
    p = SamlIdP()
    with connect(mdb) as c:
        p.register(c)
    return p


@pytest.fixture(scope="module")
def mapp(mdb, msaml):
    """The application's connection (not a superuser), kept open."""
    with connect(mdb, user=APP_ROLE) as c:
        yield c


@pytest.fixture(scope="module")
def watcher(mdb):
    """A superuser connection opened before any amplified token is sent,
    with the postmaster's start time: both must survive every test."""
    with connect(mdb) as c:
        start = c.execute("select pg_postmaster_start_time()").fetchone()[0]
        yield c, start


def assert_cluster_intact(conn, watcher):
    """The connection that sent the token still runs queries, and the
    postmaster did not restart (a crashed backend would have taken every
    other connection with it)."""
    assert conn.execute("select 1").fetchone()[0] == 1
    w, start = watcher
    assert w.execute("select pg_postmaster_start_time()").fetchone()[0] == start


def load_library(conn):
    """Loads the extension's library in this session (its GUCs exist from
    then on): any jit_login call does."""
    sqlstate, reason, _ = rejection_detail(conn, "x")
    assert (sqlstate, reason) == ("28000", "malformed")


def timed_rejection(conn, token, request_id=None):
    t0 = time.perf_counter()
    sqlstate, reason, msg = rejection_detail(conn, token, request_id)
    return sqlstate, reason, msg, time.perf_counter() - t0


def backend_peak_rss(pid):
    """VmHWM of a backend in bytes (None when /proc does not show it)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def limit_in(msg):
    m = re.search(r"exceeds its limit of (\d+) bytes", msg)
    assert m, msg
    return int(m.group(1))


TIMES = {}  # test id -> measured seconds, printed at the end (pytest -s or -rA)


@pytest.fixture(scope="module", autouse=True)
def report_times():
    yield
    if TIMES:
        print("\nresource budget timings (s):")
        for k, v in TIMES.items():
            print(f"  {k}: {v}")


@pytest.fixture(scope="module")
def bounded(mdb, msaml, watcher):
    """Refuses to go on unless the installed extension bounds canonical
    output: an amplified token sent to a build without the budget makes the
    backend allocate gigabytes. A moderately amplified token (20x, about
    1 MB of canonical output: harmless either way) must be refused as
    malformed at the default factor."""
    with connect(mdb) as c:
        a = moderate(msaml, "bogus-digest")
        sqlstate, reason, msg = rejection_detail(c, a.token)
        if (sqlstate, reason) != ("28000", "malformed") or "exceeds its limit" not in msg:
            pytest.fail(f"canonical output is not bounded by the installed build ({sqlstate} {reason}: {msg}): not sending amplified tokens")
    assert_cluster_intact(watcher[0], watcher)


@pytest.fixture(scope="module")
def budgeted(bounded, mdb):
    """...and the factor is the GUC (the tests that raise it need it)."""
    with connect(mdb) as c:
        load_library(c)
        if c.execute("select count(*) from pg_settings where name = %s", (GUC,)).fetchone()[0] != 1:
            pytest.fail(f"the installed jit_provision defines no {GUC}")


# ------------------------------------------------------------------ the signing trick


@pytest.mark.parametrize("ns", A.NAMESPACES)
@pytest.mark.parametrize("c14n", ["exc", "exc-prefixlist"])
@pytest.mark.parametrize("path, decl", [("response", "on"), ("assertion", "on"), ("assertion", "above")])
def test_hand_signed_response_is_accepted(mapp, msaml, path, decl, c14n, ns):
    """The hand-made Signature (SignedInfo written in exclusive canonical
    form, signed with cryptography, DigestValue from lxml's exclusive c14n)
    is a genuine one: xmlsec1 verifies it and jit_login logs the user in.
    With a few of the amplifier's elements inside (well under the budget)."""
    subject = f"hand.signed.{path}.{decl}.{c14n}.{ns}@example.com"
    a = A.build(msaml, path=path, decl=decl, c14n=c14n, ns=ns, junk=20, signature="valid", name_id=subject)
    A.check_offline(a, msaml)
    assert xmlsec1_verifies(a.xml, msaml.certs["rsa"])
    r = login(mapp, a.token, REQ)
    assert r["created"] is True


@pytest.mark.parametrize("signature, fragment", [("bogus-digest", "DigestValue"), ("junk", "SignatureValue")])
def test_hand_signed_small_response_rejections(mapp, msaml, signature, fragment):
    """The same small Response with a wrong DigestValue fails on the digest
    (so the SignatureValue over SignedInfo verified), and with a junk
    SignatureValue on the signature."""
    a = A.build(msaml, junk=20, signature=signature)
    A.check_offline(a, msaml)
    assert not xmlsec1_verifies(a.xml, msaml.certs["rsa"])
    sqlstate, reason, msg = rejection_detail(mapp, a.token, REQ)
    assert (sqlstate, reason) == ("28000", "bad_signature"), msg
    assert fragment in msg, msg


# ------------------------------------------------------------------ the shapes offline


SHAPES = [
    (path, decl, ns, c14n)
    for path, decl in [("response", "on"), ("assertion", "on"), ("assertion", "above")]
    for ns in A.NAMESPACES
    for c14n in A.C14NS
]
SHAPE_IDS = [f"{p}-{d}-{n}-{c}" for p, d, n, c in SHAPES]


@pytest.fixture(scope="module")
def offline_saml():
    """An IdP that is registered nowhere: offline checks need no database."""
    return SamlIdP()


@pytest.mark.parametrize("path, decl, ns, c14n", SHAPES, ids=SHAPE_IDS)
def test_amplified_shapes_offline(offline_saml, path, decl, ns, c14n):
    """The 1 MiB tokens are what they claim, without any database: about
    1 MiB as sent, well-formed and namespace-well-formed (lxml), the
    Signature where the verifier looks for it, SignedInfo canonical and
    (for 'bogus-digest') genuinely signed, and, for exclusive c14n, a
    canonical form over 90 times the document."""
    for encoding, signature in (("raw", "junk"), ("base64", "bogus-digest")):
        a = A.build(offline_saml, path=path, decl=decl, ns=ns, c14n=c14n, encoding=encoding, signature=signature)
        assert A.MAX_TOKEN - 1024 < len(a.token) <= A.MAX_TOKEN
        A.check_offline(a, offline_saml)
        if c14n != "inclusive":
            assert a.canonical_estimate(c14n) > 90 * a.doc_bytes


# ------------------------------------------------------------------ 1 MiB amplified tokens


@pytest.mark.parametrize("path, decl, ns, c14n", SHAPES, ids=SHAPE_IDS)
def test_amplified_response_is_refused_quickly(bounded, mapp, msaml, watcher, path, decl, ns, c14n):
    """(a) junk SignatureValue: bad_signature, nothing canonicalized but
    SignedInfo; (b) SignedInfo genuinely signed, DigestValue bogus: the
    Reference's canonical form runs into its limit, malformed (inclusive
    c14n does not amplify: its canonical form stays about the document's
    size, so the digest is computed and does not match: bad_signature).
    Each in under a second, raw XML and base64, the connection usable
    after, the postmaster not restarted."""
    pid = mapp.execute("select pg_backend_pid()").fetchone()[0]
    for encoding in A.ENCODINGS:
        for signature in ("junk", "bogus-digest"):
            a = A.build(msaml, path=path, decl=decl, ns=ns, c14n=c14n, encoding=encoding, signature=signature)
            sqlstate, reason, msg, took = timed_rejection(mapp, a.token, REQ)
            TIMES[f"{path}-{decl}-{ns}-{c14n}-{encoding}-{signature}"] = round(took, 3)
            assert sqlstate == "28000", msg
            if signature == "junk":
                assert reason == "bad_signature" and "SignatureValue" in msg, msg
            elif c14n == "inclusive":
                assert reason == "bad_signature" and "DigestValue" in msg, msg
            else:
                assert reason == "malformed" and "canonical form of the signed element" in msg, msg
                assert limit_in(msg) == DEFAULT_FACTOR * a.doc_bytes + SLACK, msg
            assert took < FAST, f"{encoding} {signature}: {took:.3f} s"
            assert_cluster_intact(mapp, watcher)
    peak = backend_peak_rss(pid)
    if peak is not None:
        TIMES[f"peak RSS of the app backend after {path}-{decl}-{ns}-{c14n} (MiB)"] = peak // 2**20
        assert peak < 512 * 2**20, f"backend peak RSS {peak // 2**20} MiB"


@pytest.mark.parametrize("path", A.PATHS)
@pytest.mark.parametrize("ns", A.NAMESPACES)
def test_escaped_uri_amplification_is_refused_quickly(bounded, mapp, msaml, watcher, path, ns):
    """The worst case: the URI is 1000 '&', each written as '&amp;', so
    every 4-byte <a/> becomes 5 KB of canonical output (about 470 MB in
    all). Same outcome, same speed."""
    for encoding in A.ENCODINGS:
        for signature in ("junk", "bogus-digest"):
            a = A.build(msaml, path=path, ns=ns, uri=A.AMP_URI, encoding=encoding, signature=signature)
            assert a.canonical_estimate("exc") > 400 * a.doc_bytes
            sqlstate, reason, msg, took = timed_rejection(mapp, a.token, REQ)
            TIMES[f"amp-{path}-{ns}-{encoding}-{signature}"] = round(took, 3)
            expected = "bad_signature" if signature == "junk" else "malformed"
            assert (sqlstate, reason) == ("28000", expected), msg
            assert took < FAST, f"{encoding} {signature}: {took:.3f} s"
            assert_cluster_intact(mapp, watcher)


# ------------------------------------------------------------------ the factor GUC


def moderate(saml, signature, name_id="moderate@example.com"):
    """A ~64 KB Response whose exclusive canonical form is about 20 times
    its size: over the default limit (8x + 64 KiB), under 64x."""
    doc = 64 * 1024
    # ~1020 bytes of canonical output per 6-byte <p:a/>: 19 x doc extra.
    junk = 19 * doc // (len(A.junk_canonical("prefixed", A.PLAIN_URI)) - len(A.junk_element("prefixed")))
    probe = A.build(saml, junk=junk, filler=0, signature="junk", name_id=name_id)
    filler = max(doc - probe.doc_bytes, 0)
    a = A.build(saml, junk=junk, filler=filler, signature=signature, name_id=name_id)
    est = a.canonical_estimate("exc")
    assert a.limit(DEFAULT_FACTOR) * 1.5 < est < a.limit(64) / 2, (a.doc_bytes, est)
    return a


def test_factor_guc_is_read(budgeted, msaml, mdb, mapp, watcher):
    """The same moderately amplified Response: malformed at the default
    factor (the detail names the limit, 8 x document + 64 KiB); with the
    factor set to 64 by a superuser its canonical form is computed in full:
    a bogus DigestValue then fails on the digest, and a correct one (lxml's
    exclusive c14n of the amplified element) logs the user in."""
    bogus = moderate(msaml, "bogus-digest")
    valid = moderate(msaml, "valid", name_id="moderate.valid@example.com")
    A.check_offline(valid, msaml)
    assert xmlsec1_verifies(valid.xml, msaml.certs["rsa"])
    with connect(mdb) as su:
        load_library(su)
        assert su.execute(f"show {GUC}").fetchone()[0] == str(DEFAULT_FACTOR)
        for a in (bogus, valid):
            sqlstate, reason, msg, took = timed_rejection(su, a.token, REQ)
            assert (sqlstate, reason) == ("28000", "malformed"), msg
            assert limit_in(msg) == DEFAULT_FACTOR * a.doc_bytes + SLACK, msg
        su.execute(f"set {GUC} = 64")
        assert su.execute(f"show {GUC}").fetchone()[0] == "64"
        sqlstate, reason, msg, took = timed_rejection(su, bogus.token, REQ)
        assert (sqlstate, reason) == ("28000", "bad_signature"), msg
        assert "DigestValue" in msg, msg
        assert login(su, valid.token, REQ)["created"] is True
        # The setting is the session's own: the application's is untouched.
        sqlstate, reason, msg = rejection_detail(mapp, bogus.token, REQ)
        assert (sqlstate, reason) == ("28000", "malformed"), msg
        su.execute(f"reset {GUC}")
        sqlstate, reason, msg = rejection_detail(su, bogus.token, REQ)
        assert (sqlstate, reason) == ("28000", "malformed"), msg
        assert_cluster_intact(su, watcher)


def test_factor_guc_is_superuser_only(budgeted, mdb, msaml):
    """The application role cannot raise the factor: SET and set_config are
    refused with 42501 once the library is loaded; a value it SET before
    the library was loaded (a placeholder then) is dropped when the library
    defines the GUC, and the default limit applies."""
    with connect(mdb, user=APP_ROLE) as app:
        load_library(app)
        assert app.execute(f"show {GUC}").fetchone()[0] == str(DEFAULT_FACTOR)
        for stmt in (f"set {GUC} = 1000000", f"set local {GUC} = 1000000", f"select set_config('{GUC}', '1000000', false)"):
            with pytest.raises(psycopg.Error) as e:
                with app.transaction():
                    app.execute(stmt)
            assert e.value.sqlstate == "42501", (stmt, e.value)
        assert app.execute(f"show {GUC}").fetchone()[0] == str(DEFAULT_FACTOR)

    with connect(mdb, user=APP_ROLE) as app:
        # A fresh session: the library is not loaded yet.
        try:
            app.execute(f"set {GUC} = 1000000")
        except psycopg.Error as e:
            assert e.sqlstate == "42501", e
        a = moderate(msaml, "bogus-digest")
        sqlstate, reason, msg = rejection_detail(app, a.token, REQ)
        assert (sqlstate, reason) == ("28000", "malformed"), msg
        assert limit_in(msg) == DEFAULT_FACTOR * a.doc_bytes + SLACK, msg
        assert app.execute(f"show {GUC}").fetchone()[0] == str(DEFAULT_FACTOR)


def test_placeholder_set_before_a_security_definer_loads_the_library(bounded, mdb, msaml, mapp):
    """jit.verify is SECURITY DEFINER (owned by the superuser who created the
    extension). An application role granted it SETs the factor while the
    library is not loaded yet (a placeholder), then calls jit.verify, so the
    library is loaded, and the GUC defined, while the superuser is the
    current user: the placeholder must still be judged by the role that set
    it (dropped with a warning), not by the function's owner."""
    with connect(mdb) as su:
        su.execute(f"grant usage on schema jit to {APP_ROLE}")
        su.execute(f"grant execute on function jit.verify(text, text, timestamptz) to {APP_ROLE}")
    try:
        a = moderate(msaml, "bogus-digest")
        with connect(mdb, user=APP_ROLE) as app:
            warnings = []
            app.add_notice_handler(lambda d: warnings.append(d.message_primary))
            try:
                app.execute(f"set {GUC} = 64")
            except psycopg.Error as e:
                assert e.sqlstate == "42501", e
            with pytest.raises(psycopg.Error) as e:
                app.execute("select jit.verify(%s)", (a.token,))
            msg = e.value.diag.message_primary
            assert e.value.sqlstate == "28000" and msg.startswith("malformed:"), msg
            assert limit_in(msg) == DEFAULT_FACTOR * a.doc_bytes + SLACK, msg
            assert app.execute(f"show {GUC}").fetchone()[0] == str(DEFAULT_FACTOR)
    finally:
        with connect(mdb) as su:
            su.execute(f"revoke execute on function jit.verify(text, text, timestamptz) from {APP_ROLE}")
            su.execute(f"revoke usage on schema jit from {APP_ROLE}")


def test_jit_verify_is_bounded_too(bounded, mdb, msaml, watcher):
    """jit.verify (the admins' dry run) shares the verifier and its budget."""
    a = A.build(msaml, path="assertion", ns="default", uri=A.AMP_URI, signature="bogus-digest")
    with connect(mdb) as su:
        t0 = time.perf_counter()
        with pytest.raises(psycopg.Error) as e:
            su.execute("select jit.verify(%s)", (a.token,))
        took = time.perf_counter() - t0
        TIMES["jit.verify amplified (b)"] = round(took, 3)
        msg = e.value.diag.message_primary
        assert e.value.sqlstate == "28000" and msg.startswith("malformed:") and "exceeds its limit" in msg, msg
        assert took < FAST
        assert_cluster_intact(su, watcher)


# ------------------------------------------------------------------ interrupts


@pytest.fixture(scope="module")
def long_token(msaml):
    """1 MiB; both the Response and its Assertion signed (SignedInfo
    genuinely, each), the Response's DigestValue correct, the Assertion's
    bogus. Each of the 93 000 tiny elements is ``<a q:a=""/>`` with two
    1000-byte URIs of '&' (each written as '&amp;'), so each Reference's
    canonical form is about 900 MB: with the factor at 1 000 000 the
    verifier hashes one in full, then the other, before it finds the
    Assertion's DigestValue wrong (over 5 s on the machine this was written
    on, with a backend of under 50 MB)."""
    a = A.build(msaml, path="assertion", ns="default", attrs=1, uri=A.AMP_URI, signature="bogus-digest", response_signature=True)
    assert a.canonical_estimate("exc") > 800 * 2**20
    A.check_offline(a, msaml)
    return a


def test_streamed_response_digest_is_right(offline_saml):
    """The long token's Response DigestValue is hashed as a stream (lxml
    cannot hold 900 MB of output); on small documents with plain URIs it
    equals lxml's digest of the whole canonical form, and xmlsec1 verifies
    the Response's signature."""
    for ns in A.NAMESPACES:
        for attrs in (0, 1):
            for decl in ("on", "above"):
                a = A.build(offline_saml, path="assertion", ns=ns, attrs=attrs, decl=decl, junk=300, signature="bogus-digest", response_signature=True)
                A.check_offline(a, offline_saml)
                assert A.response_digest_matches(a)
                assert xmlsec1_verifies(a.xml, offline_saml.certs["rsa"])


def test_pg_cancel_backend_stops_a_long_verification(budgeted, mdb, long_token, watcher):
    a = long_token
    with connect(mdb) as su, connect(mdb) as other:
        su.execute(f"set {GUC} = 1000000")
        pid = su.execute("select pg_backend_pid()").fetchone()[0]
        result = {}

        def run():
            t0 = time.perf_counter()
            try:
                result["outcome"] = rejection_detail(su, a.token, REQ)
            except BaseException as e:  # accepted: AssertionError
                result["outcome"] = e
            result["ended"] = time.perf_counter()
            result["took"] = result["ended"] - t0

        t = threading.Thread(target=run)
        t.start()
        time.sleep(0.5)
        state = other.execute("select state from pg_stat_activity where pid = %s", (pid,)).fetchone()
        peak = backend_peak_rss(pid)
        cancel_at = time.perf_counter()
        assert other.execute("select pg_cancel_backend(%s)", (pid,)).fetchone()[0] is True
        t.join(20)
        if t.is_alive():  # do not leave it running: terminate, then fail
            other.execute("select pg_terminate_backend(%s)", (pid,))
            t.join(20)
            pytest.fail("pg_cancel_backend did not stop the verification within 20 s")
        assert state == ("active",), f"the verification was over before the cancel ({result})"
        outcome = result["outcome"]
        assert not isinstance(outcome, BaseException), outcome
        sqlstate, _, msg = outcome
        stop = result["ended"] - cancel_at
        TIMES["cancel: total"] = round(result["took"], 3)
        TIMES["cancel: from pg_cancel_backend to the error"] = round(stop, 3)
        if peak is not None:
            TIMES["cancel: backend peak RSS while running (MiB)"] = peak // 2**20
        assert sqlstate == "57014", (sqlstate, msg)
        assert stop < 2.0, f"{stop:.3f} s from pg_cancel_backend to the error"
        if peak is not None:
            assert peak < 512 * 2**20, f"backend peak RSS {peak // 2**20} MiB while hashing"
        assert_cluster_intact(su, watcher)


def test_statement_timeout_stops_a_long_verification(budgeted, mdb, long_token, watcher):
    a = long_token
    with connect(mdb) as su:
        su.execute(f"set {GUC} = 1000000")
        su.execute("set statement_timeout = '500ms'")
        sqlstate, _, msg, took = timed_rejection(su, a.token, REQ)
        TIMES["statement_timeout 500ms: error after"] = round(took, 3)
        assert sqlstate == "57014", (sqlstate, msg)
        assert 0.45 < took < 2.5, f"{took:.3f} s"
        su.execute("reset statement_timeout")
        assert_cluster_intact(su, watcher)
