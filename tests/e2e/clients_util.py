"""Helpers for the client-stack and pooler tests: the notes table that the
example programs use, a TCP relay for drivers without unix-socket support,
building and running the programs in examples/clients, and PgBouncer."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLIENTS = os.path.join(REPO, "examples", "clients")
JDBC_JAR = "/usr/share/java/postgresql.jar"
GOPATH = "/usr/share/gocode"

NOTES_DDL = """
create table notes (
    id bigserial primary key,
    owner uuid not null default jit.current_user_id(),
    body text not null
);
alter table notes enable row level security;
create policy notes_owner on notes
    using (owner = jit.current_user_id())
    with check (owner = jit.current_user_id());
grant select, insert on notes to jit_app;
grant usage on sequence notes_id_seq to jit_app;
"""


def create_notes(admin):
    """The RLS-protected table every example program writes to and reads."""
    admin.execute(NOTES_DDL)


# --- a TCP relay to a unix socket -------------------------------------------

class TcpRelay:
    """127.0.0.1:<port> -> the cluster's unix socket, byte for byte. The test
    clusters listen on a unix socket only, and the JDBC driver cannot open
    one without a third-party socket factory."""

    def __init__(self, sock_dir, port):
        self.target = os.path.join(sock_dir, f".s.PGSQL.{port}")
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.connect(self.target)
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.closed = True
        self.listener.close()


# --- the five example programs ---------------------------------------------

LANGUAGES = ["python", "node", "java", "go", "ruby"]


def build(lang, outdir):
    """Compiles what needs compiling into outdir; returns the argv prefix."""
    src = os.path.join(CLIENTS, lang)
    if lang == "python":
        # The interpreter running the tests has psycopg 3 (tests/requirements.txt).
        import sys
        return [sys.executable, os.path.join(src, "login.py")]
    if lang == "node":
        return ["node", os.path.join(src, "login.mjs")]
    if lang == "ruby":
        return ["ruby", os.path.join(src, "login.rb")]
    if lang == "java":
        out = os.path.join(outdir, "java")
        subprocess.run(["javac", "-cp", JDBC_JAR, "-d", out, os.path.join(src, "Login.java")],
                       check=True, capture_output=True, text=True)
        return ["java", "-cp", f"{JDBC_JAR}:{out}", "Login"]
    if lang == "go":
        exe = os.path.join(outdir, "login-go")
        env = dict(os.environ, GO111MODULE="off", GOPATH=GOPATH, GOFLAGS="")
        env.setdefault("GOCACHE", os.path.join(tempfile.gettempdir(), "jit_provision-gocache"))
        subprocess.run(["go", "build", "-o", exe, "login.go"], cwd=src, env=env,
                       check=True, capture_output=True, text=True)
        return [exe]
    raise ValueError(lang)


@pytest.fixture(scope="session")
def programs(tmp_path_factory):
    """Builds each program once (javac, go build); returns lang -> argv."""
    out = tmp_path_factory.mktemp("clients")
    cache = {}

    def get(lang):
        if lang not in cache:
            cache[lang] = build(lang, str(out))
        return cache[lang]

    return get


def conn_string(lang, host, port, dbname, user):
    """Each driver's own connection string format. host is a unix-socket
    directory or an IP address (JDBC: TCP only)."""
    if lang == "java":
        assert not host.startswith("/"), "JDBC connects over TCP only"
        return f"jdbc:postgresql://{host}:{port}/{dbname}?user={user}"
    if lang == "node":
        # pg reads a unix-socket directory from a percent-encoded URL host.
        from urllib.parse import quote
        return f"postgresql://{user}@{quote(host, safe='')}:{port}/{dbname}"
    return f"host={host} port={port} dbname={dbname} user={user}"


def run_client(argv, conninfo, token, note, timeout=120):
    """Runs a program; returns (exit status, parsed JSON line, stderr)."""
    env = dict(os.environ, JIT_TOKEN=token, NOTE=note)
    p = subprocess.run(argv + [conninfo], env=env, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    out = json.loads(lines[-1]) if lines else None
    assert len(lines) <= 1, f"more than one line printed: {p.stdout!r}"
    return p.returncode, out, p.stderr


def check_program(argv, conninfo, admin, idp, label):
    """The scenario every stack must pass: another user's note first; then
    alice logs in (user id = her jit.users row, mapped groups, only her own
    note visible); then her token again is refused as 28000 / replayed and
    writes nothing. Expects group_map ('Engineering' -> developers,
    '*' -> everyone) and an empty notes table."""
    rc, bob, err = run_client(argv, conninfo, idp.mint(idp.claims(sub="bob")), "bob's note")
    assert rc == 0, err
    assert [n["body"] for n in bob["notes"]] == ["bob's note"], bob

    token = idp.mint(idp.claims(sub="alice", groups=["Engineering", "Unmapped"]))
    rc, out, err = run_client(argv, conninfo, token, f"alice via {label}")
    assert rc == 0, err

    user_id = admin.execute(
        "select id::text from jit.users where provider = %s and subject = 'alice'", (idp.name,)
    ).fetchone()[0]
    assert out["user_id"] == user_id, (out, user_id)
    assert out["user_id"] != bob["user_id"]
    assert sorted(out["groups"]) == ["developers", "everyone"], out
    assert sorted(bob["groups"]) == ["everyone"], bob
    # RLS: exactly alice's own row, though bob's is in the table too.
    assert out["notes"] == [{"owner": user_id, "body": f"alice via {label}"}], out
    assert admin.execute("select count(*) from notes").fetchone()[0] == 2

    # The same token again: refused as a replay, and the stack sees 28000.
    rc, out, err = run_client(argv, conninfo, token, "must not be written")
    assert rc == 2, (rc, out, err)
    assert out["sqlstate"] == "28000", out
    assert out["reason"] == "replayed", out
    assert out["message"].startswith("replayed: "), out
    assert admin.execute("select count(*) from notes where body = 'must not be written'").fetchone()[0] == 0
    assert admin.execute("select login_count from jit.users where id = %s", (user_id,)).fetchone()[0] == 1


GROUP_MAP = (
    "insert into jit.group_map (provider, idp_group, app_group) values "
    "(%s, 'Engineering', 'developers'), (%s, '*', 'everyone')"
)


# --- PgBouncer --------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgBouncer:
    """One PgBouncer process in front of the test cluster, with its own
    config directory; stopped with stop()."""

    def __init__(self, pg_host, pg_port, pool_mode, pool_size, max_client_conn=100, extra=None):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"jit_pgbouncer_{pool_mode}_")
        self.log = os.path.join(self.dir, "pgbouncer.log")
        settings = {
            "listen_addr": "127.0.0.1",
            "listen_port": self.port,
            "unix_socket_dir": "",
            # The cluster trusts local connections; PgBouncer still wants the
            # user names in its auth_file.
            "auth_type": "trust",
            "auth_file": os.path.join(self.dir, "userlist.txt"),
            "admin_users": "postgres",
            "pool_mode": pool_mode,
            "default_pool_size": pool_size,
            "min_pool_size": 0,
            "reserve_pool_size": 0,
            "max_client_conn": max_client_conn,
            "server_reset_query": "DISCARD ALL",
            "ignore_startup_parameters": "extra_float_digits",
            "logfile": self.log,
        }
        settings.update(extra or {})
        with open(os.path.join(self.dir, "userlist.txt"), "w") as f:
            f.write('"jit_app" ""\n"postgres" ""\n')
        self.ini = os.path.join(self.dir, "pgbouncer.ini")
        with open(self.ini, "w") as f:
            f.write(f"[databases]\n* = host={pg_host} port={pg_port}\n\n[pgbouncer]\n")
            for k, v in settings.items():
                f.write(f"{k} = {v}\n")
        argv = ["pgbouncer", self.ini]
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root; -u drops to the postgres user.
            argv[1:1] = ["-u", "postgres"]
            for path in [self.dir] + [os.path.join(self.dir, n) for n in os.listdir(self.dir)]:
                shutil.chown(path, "postgres", "postgres")
        # Its stderr repeats the log; a file, so that a full pipe never blocks it.
        self.stderr = os.path.join(self.dir, "stderr.txt")
        with open(self.stderr, "wb") as err:
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    with open(self.stderr) as f:
                        why = f.read()
                    self.stop()
                    raise RuntimeError(f"pgbouncer did not start: {why}")
                time.sleep(0.05)

    def log_text(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def conninfo(self, dbname, user="jit_app"):
        return f"host=127.0.0.1 port={self.port} dbname={dbname} user={user}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def pgbouncer_version():
    out = subprocess.run(["pgbouncer", "--version"], capture_output=True, text=True, check=True).stdout
    # "PgBouncer 1.18.0\n..."
    return tuple(int(x) for x in out.split()[1].split(".")[:2])
