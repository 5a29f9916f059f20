"""The HTTP fetch layer behind jit.refresh, through jit._http_get: HTTPS to a
local server with its own test CA, the URL policy, limits, TLS failures, and
cancellation of a fetch that waits on a silent server. All traffic goes to
127.0.0.1; the one non-loopback URL is refused before any connection."""

import os
import socket
import tempfile
import threading
import time

import psycopg
import pytest

from conftest import APP_ROLE, connect
from https_server import HttpsServer, TestCA

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def ca():
    return TestCA()


@pytest.fixture(scope="module")
def ca_file(ca):
    return ca.write_pem()


@pytest.fixture
def db(admin, ca_file):
    """The DBA's connection, trusting the test CA for this session."""
    admin.execute("select set_config('jit_provision.http_ca_file', %s, false)", (ca_file,))
    return admin


@pytest.fixture
def srv(ca):
    with HttpsServer(ca) as s:
        yield s


def get(conn, url):
    return conn.execute("select jit._http_get(%s)", (url,)).fetchone()[0]


def failure(conn, url):
    """(sqlstate, message, seconds) of a fetch that must fail."""
    start = time.monotonic()
    with pytest.raises(psycopg.Error) as info:
        get(conn, url)
    return info.value.sqlstate, info.value.diag.message_primary or "", time.monotonic() - start


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- success ---------------------------------------------------------------

def test_get_over_https(db, srv):
    srv.route("/.well-known/openid-configuration", 200,
              {"Content-Type": "application/json"}, b'{"issuer": "https://idp"}')
    assert get(db, srv.url("/.well-known/openid-configuration?x=1#frag")) == '{"issuer": "https://idp"}'
    path, headers = srv.requests[-1]
    assert path == "/.well-known/openid-configuration?x=1"
    assert headers["host"] == f"127.0.0.1:{srv.port}"
    assert headers["connection"] == "close"
    assert headers["accept-encoding"] == "identity"


def test_get_by_host_name(db, srv):
    srv.route("/jwks", 200, {}, b'{"keys": []}')
    assert get(db, f"https://localhost:{srv.port}/jwks") == '{"keys": []}'
    assert srv.requests[-1][1]["host"] == f"localhost:{srv.port}"


def test_body_framings(db, srv):
    srv.route("/chunked", 200, {"Transfer-Encoding": "chunked"}, b"abc" * 50000)
    srv.route("/to-close", 200, {}, lambda: [b"x" * 1000, b"y" * 1000])
    srv.route("/exactly-1mib", 200, {}, b"z" * MiB)
    srv.route("/empty", 200, {}, b"")
    assert get(db, srv.url("/chunked")) == "abc" * 50000
    assert get(db, srv.url("/to-close")) == "x" * 1000 + "y" * 1000
    assert len(get(db, srv.url("/exactly-1mib"))) == MiB
    assert get(db, srv.url("/empty")) == ""


def test_plain_http_to_loopback(db):
    with HttpsServer(tls=False) as plain:
        plain.route("/doc", 200, {}, b"clear")
        assert get(db, plain.url("/doc")) == "clear"


def test_redirects(db, srv):
    with HttpsServer(srv.ca) as other:
        other.route("/final", 200, {}, b"arrived")
        srv.route("/a", 302, {"Location": "/b"}, b"")
        srv.route("/b", 301, {"Location": f"https://localhost:{srv.port}/c"}, b"")
        srv.route("/c", 307, {"Location": other.url("/final")}, b"")
        assert get(db, srv.url("/a")) == "arrived"  # three redirects: the limit

        srv.route("/zero", 308, {"Location": "/a"}, b"")
        state, msg, _ = failure(db, srv.url("/zero"))
        assert state == "08006" and "more than 3 redirects" in msg

    srv.route("/rel", 302, {"Location": "elsewhere"}, b"")
    state, msg, _ = failure(db, srv.url("/rel"))
    assert state == "08006" and "relative" in msg
    srv.route("/noloc", 302, {}, b"")
    assert "without a Location" in failure(db, srv.url("/noloc"))[1]


def test_redirect_from_https_to_http_refused(db, srv):
    with HttpsServer(tls=False) as plain:
        plain.route("/keys", 200, {}, b"clear")
        srv.route("/go", 302, {"Location": plain.url("/keys")}, b"")
        state, msg, _ = failure(db, srv.url("/go"))
        assert state == "08006"
        assert "https to plain http" in msg, msg
        assert plain.requests == []


# --- policy: refused before connecting --------------------------------------

@pytest.mark.parametrize("url, says", [
    ("http://192.0.2.1/jwks", "loopback"),
    ("http://192.0.2.1:80/.well-known/openid-configuration", "loopback"),
    ("ftp://192.0.2.1/", "only https"),
    ("https://user:pw@192.0.2.1/", "user name"),
    ("http://127.1/", "numeric"),
    ("https://192.0.2.1\\@127.0.0.1/", "backslash"),
])
def test_policy_refuses_without_connecting(db, url, says):
    state, msg, seconds = failure(db, url)
    assert state == "08006"
    assert says in msg, msg
    assert seconds < 0.5


# --- failures ---------------------------------------------------------------

def test_connection_refused(db):
    state, msg, seconds = failure(db, f"https://127.0.0.1:{free_port()}/jwks")
    assert state == "08006"
    assert "refused" in msg.lower(), msg
    assert seconds < 2


def test_untrusted_ca(db):
    with HttpsServer(TestCA("someone else's CA")) as rogue:
        rogue.route("/jwks", 200, {}, b"{}")
        state, msg, _ = failure(db, rogue.url("/jwks"))
        assert state == "08006"
        assert "not issued by a trusted CA" in msg, msg


def test_test_ca_is_not_trusted_without_the_setting(admin, srv):
    srv.route("/jwks", 200, {}, b"{}")
    state, msg, _ = failure(admin, srv.url("/jwks"))
    assert "not issued by a trusted CA" in msg, msg


def test_wrong_host_name(db, ca):
    with HttpsServer(ca, names=("idp.example.test",)) as wrong:
        wrong.route("/jwks", 200, {}, b"{}")
        state, msg, _ = failure(db, wrong.url("/jwks"))
        assert state == "08006"
        assert "not valid for name" in msg and "idp.example.test" in msg, msg


def test_http_error_status(db, srv):
    srv.route("/jwks", 500, {}, b"boom")
    state, msg, _ = failure(db, srv.url("/jwks"))
    assert state == "08006"
    assert "HTTP status 500" in msg, msg
    assert "404" in failure(db, srv.url("/missing"))[1]


def twenty_mib():
    for _ in range(20 * 16):
        yield b"a" * 65536


@pytest.mark.parametrize("headers", [
    {"Content-Length": str(20 * MiB)},  # refused from the header
    {"Transfer-Encoding": "chunked"},   # refused while reading
    {},                                 # no framing: refused while reading
], ids=["content-length", "chunked", "until-close"])
def test_body_over_1_mib_refused_quickly(db, srv, headers):
    srv.route("/big", 200, headers, twenty_mib)
    state, msg, seconds = failure(db, srv.url("/big"))
    assert state == "08006"
    assert "body exceeds 1 MiB" in msg, msg
    assert seconds < 3


def test_one_byte_over_the_limit(db, srv):
    srv.route("/big", 200, {}, b"a" * (MiB + 1))
    assert "body exceeds 1 MiB" in failure(db, srv.url("/big"))[1]


def test_truncated_body(db, srv):
    srv.route("/short", 200, {"Content-Length": "100"}, lambda: [b"x" * 10])
    msg = failure(db, srv.url("/short"))[1]
    assert "connection closed before the end of the body" in msg, msg


def test_ca_file_problems(admin, srv):
    srv.route("/jwks", 200, {}, b"{}")
    admin.execute("set jit_provision.http_ca_file = '/nonexistent/ca.pem'")
    assert "cannot read" in failure(admin, srv.url("/jwks"))[1]
    d = tempfile.mkdtemp(prefix="jit_https_")
    os.chmod(d, 0o755)
    empty = os.path.join(d, "empty.pem")
    with open(empty, "w") as f:
        f.write("not a certificate\n")
    os.chmod(empty, 0o644)
    admin.execute("select set_config('jit_provision.http_ca_file', %s, false)", (empty,))
    assert "no PEM certificate" in failure(admin, srv.url("/jwks"))[1]


# --- cancellation and the total deadline ------------------------------------

def cancel_after(dbname, pid, seconds):
    def run():
        time.sleep(seconds)
        with connect(dbname) as c:
            c.execute("select pg_cancel_backend(%s)", (pid,))
    t = threading.Thread(target=run)
    t.start()
    return t


@pytest.mark.parametrize("mode", ["silent", "hang"])
def test_cancel_ends_a_fetch_waiting_on_a_silent_server(db, dbname, srv, mode):
    srv.mode = mode
    pid = db.execute("select pg_backend_pid()").fetchone()[0]
    t = cancel_after(dbname, pid, 0.5)
    state, msg, seconds = failure(db, srv.url("/jwks"))
    t.join()
    assert state == "57014", (state, msg)
    assert seconds < 2
    assert db.execute("select 1").fetchone() == (1,)
    srv.mode = "normal"
    srv.route("/jwks", 200, {}, b"again")
    assert get(db, srv.url("/jwks")) == "again"
    # The abandoned worker ends on its own once its server goes away.
    srv.stop()
    assert wait_for_no_worker(pid, 3), "jit_http thread still running"


def worker_threads(pid):
    n = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                n += f.read().strip() == "jit_http"
        except FileNotFoundError:
            pass
    return n


def wait_for_no_worker(pid, seconds):
    deadline = time.monotonic() + seconds
    while worker_threads(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_statement_timeout_ends_a_fetch(db, srv):
    srv.mode = "silent"
    db.execute("set statement_timeout = '300ms'")
    state, _, seconds = failure(db, srv.url("/jwks"))
    assert state == "57014"
    assert seconds < 2
    db.execute("reset statement_timeout")
    assert db.execute("select 1").fetchone() == (1,)


def sigblk(pid, tid):
    with open(f"/proc/{pid}/task/{tid}/status") as f:
        for line in f:
            if line.startswith("SigBlk:"):
                return int(line.split()[1], 16)
    raise AssertionError("no SigBlk")


def test_worker_thread_blocks_every_signal(db, dbname, srv):
    """PostgreSQL's signal handlers must run on the backend's own thread."""
    srv.mode = "silent"
    pid = db.execute("select pg_backend_pid()").fetchone()[0]
    seen = {}

    def watch():
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not seen:
            for tid in os.listdir(f"/proc/{pid}/task"):
                try:
                    with open(f"/proc/{pid}/task/{tid}/comm") as f:
                        if f.read().strip() == "jit_http":
                            seen["worker"] = sigblk(pid, tid)
                            seen["main"] = sigblk(pid, pid)
                except FileNotFoundError:
                    pass
            time.sleep(0.05)
        with connect(dbname) as c:
            c.execute("select pg_cancel_backend(%s)", (pid,))

    t = threading.Thread(target=watch)
    t.start()
    failure(db, srv.url("/jwks"))
    t.join()
    assert "worker" in seen, "no jit_http thread seen"
    for signo in (2, 10, 12, 14, 15):  # SIGINT SIGUSR1 SIGUSR2 SIGALRM SIGTERM
        bit = 1 << (signo - 1)
        assert seen["worker"] & bit, f"signal {signo} not blocked in the worker"
        assert not seen["main"] & bit, f"signal {signo} left blocked in the backend"


def test_total_timeout_on_a_server_that_never_answers(db, srv):
    """The 15 s contract itself: TLS done, request sent, no answer."""
    srv.mode = "hang"
    state, msg, seconds = failure(db, srv.url("/jwks"))
    assert state == "08006"
    assert "timed out after 15 s" in msg, msg
    assert 14 <= seconds < 17


# --- privileges --------------------------------------------------------------

def test_app_role_cannot_fetch(app, srv):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        get(app, srv.url("/jwks"))


def test_ca_file_is_superuser_only(app, ca_file):
    app.execute("select jit.current_user_id()")  # the library is loaded
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute("set jit_provision.http_ca_file = '/tmp/evil.pem'")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute("select set_config('jit_provision.http_ca_file', '/tmp/evil.pem', false)")
    assert app.execute("show jit_provision.http_ca_file").fetchone() == ("",)


def test_ca_file_set_before_the_library_loads_is_not_applied(dbname):
    """A placeholder set by a non-superuser is dropped when the setting is
    defined (PostgreSQL 15 keeps who set it)."""
    with connect(dbname, user=APP_ROLE) as app:
        app.execute("set jit_provision.http_ca_file = '/tmp/evil.pem'")
        app.execute("select jit.current_user_id()")
        assert app.execute("show jit_provision.http_ca_file").fetchone() == ("",)
