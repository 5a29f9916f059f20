"""jit_login behind PgBouncer (Debian's package), started here in front of the
test cluster.

- Transaction pooling, 4 server connections, 24 clients logging in as 24
  users concurrently for many rounds: each transaction sees its own identity
  and its own rows only, while server connections pass between users.
- Session pooling, 4 server connections, 24 clients connecting and
  disconnecting, with psycopg's default automatic prepares and explicit
  protocol-level prepared statements (server_reset_query = DISCARD ALL).
- Pool size 1, so the next client gets the same backend: after a committed,
  rolled-back, aborted or rejected login and DISCARD ALL, the next client
  sees no identity and no rows; the same after a client killed or closed
  mid-transaction (PgBouncer then closes that backend).
- Prepared statements in transaction mode: what the installed PgBouncer does.
- The five programs of examples/clients through both pooling modes, and what
  the drivers' default named statements do in transaction mode.
"""

import random
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pytest
from psycopg import errors

from clients_util import GROUP_MAP, LANGUAGES, PgBouncer, check_program, conn_string, create_notes
from clients_util import pgbouncer_version, programs, run_client  # noqa: F401 - programs is a fixture
from conftest import APP_ROLE, HOST, PORT

CLIENTS = 24
ROUNDS = 25


@pytest.fixture
def notes(admin, idp):
    create_notes(admin)
    admin.execute(
        "insert into jit.group_map (provider, idp_group, app_group) values ('acme', '*', 'everyone')"
    )


@pytest.fixture
def bouncer(dbname):
    """Starts PgBouncers in front of the test cluster; stops them afterwards
    (before the database is dropped)."""
    started = []

    def start(pool_mode, pool_size, **extra):
        b = PgBouncer(HOST, PORT, pool_mode, pool_size, max_client_conn=100, extra=extra)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


def connect(b, dbname, **kw):
    kw.setdefault("autocommit", True)
    return psycopg.connect(b.conninfo(dbname), **kw)


def run_threads(fn, n):
    """Runs fn(i) in n threads at once; re-raises the first failure."""
    errors_seen = []
    barrier = threading.Barrier(n)

    def wrap(i):
        try:
            barrier.wait()
            fn(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors_seen.append((i, e))

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not [t for t in threads if t.is_alive()], "client threads hung"
    if errors_seen:
        i, e = errors_seen[0]
        raise AssertionError(f"client {i} of {n} failed ({len(errors_seen)} failed): {e!r}") from e


def one_transaction(conn, idp, sub, body, prepared_sql=False, prepare=None):
    """begin; jit_login; check identity; insert; read; commit. Returns
    (user_id, backend pid, bodies seen)."""
    token = idp.mint(idp.claims(sub=sub))
    with conn.transaction():
        if prepared_sql:
            # An explicit SQL-level prepared statement, created and dropped
            # inside the transaction: it never outlives the server connection
            # that the pooler lends for this transaction.
            conn.execute("prepare jit_login_q(text) as select user_id from jit_login($1)")
            # EXECUTE is a utility statement: its arguments cannot be bound
            # parameters, so this cursor quotes the token client-side.
            with psycopg.ClientCursor(conn) as cur:
                user_id = cur.execute("execute jit_login_q(%s)", (token,)).fetchone()[0]
            conn.execute("deallocate jit_login_q")
        else:
            user_id = conn.execute("select user_id from jit_login(%s)", (token,), prepare=prepare).fetchone()[0]
        time.sleep(random.random() * 0.005)  # let the other clients interleave
        current, pid = conn.execute(
            "select jit.current_user_id(), pg_backend_pid()", prepare=prepare
        ).fetchone()
        assert current == user_id, f"{sub}: current_user_id {current} != {user_id}"
        conn.execute("insert into notes (body) values (%s)", (body,), prepare=prepare)
        rows = conn.execute("select owner, body from notes", prepare=prepare).fetchall()
        assert {owner for owner, _ in rows} == {user_id}, f"{sub} saw rows of {rows}"
        users = conn.execute("select id from jit.users", prepare=prepare).fetchall()
        assert users == [(user_id,)], f"{sub} saw users {users}"
    # The identity ended with the transaction.
    assert conn.execute("select jit.current_user_id()").fetchone()[0] is None
    return user_id, pid, sorted(b for _, b in rows)


def test_transaction_pooling_many_users_concurrently(admin, idp, notes, bouncer, dbname):
    b = bouncer("transaction", 4)
    pids_by_user = {}

    def client(i):
        sub = f"user{i}"
        # psycopg's automatic server-side prepares are off: in transaction
        # mode the next transaction may run on another server connection.
        with connect(b, dbname, prepare_threshold=None) as conn:
            ids, pids = set(), []
            for r in range(ROUNDS):
                uid, pid, bodies = one_transaction(conn, idp, sub, f"{sub}/{r}", prepared_sql=(i + r) % 2 == 0)
                assert bodies == sorted(f"{sub}/{k}" for k in range(r + 1))
                ids.add(uid)
                pids.append(pid)
            assert len(ids) == 1
            pids_by_user[ids.pop()] = pids

    run_threads(client, CLIENTS)

    assert len(pids_by_user) == CLIENTS
    all_pids = {p for pids in pids_by_user.values() for p in pids}
    # 4 backends served 24 users...
    assert len(all_pids) == 4, all_pids
    # ... so backends passed from user to user: the test exercised reuse.
    users_per_pid = {p: {u for u, pids in pids_by_user.items() if p in pids} for p in all_pids}
    assert max(len(u) for u in users_per_pid.values()) > 1
    per_owner = admin.execute("select owner, count(*) from notes group by owner").fetchall()
    assert sorted(n for _, n in per_owner) == [ROUNDS] * CLIENTS


def test_session_pooling_with_prepared_statements(admin, idp, notes, bouncer, dbname):
    b = bouncer("session", 4)
    sessions = 4
    users = {}

    def client(i):
        sub = f"user{i}"
        for s in range(sessions):
            # Session mode pins a server connection to the client until it
            # disconnects; PgBouncer then runs DISCARD ALL, which drops this
            # client's prepared statements before the next client gets it.
            # Odd clients prepare every statement explicitly, even ones use
            # psycopg's default (prepare after 5 executions).
            prepare = True if i % 2 else None
            with connect(b, dbname) as conn:
                for r in range(6):
                    uid, _, _ = one_transaction(conn, idp, sub, f"{sub}/{s}/{r}", prepare=prepare)
                    users.setdefault(sub, set()).add(uid)
                # Six times the same statements: psycopg did prepare them.
                prepared = conn.execute("select count(*) from pg_prepared_statements").fetchone()[0]
                assert prepared > 0

    run_threads(client, CLIENTS)
    assert all(len(ids) == 1 for ids in users.values())
    assert len({next(iter(ids)) for ids in users.values()}) == CLIENTS
    assert admin.execute("select count(*) from notes").fetchone()[0] == CLIENTS * sessions * 6


# --- the next client on the same backend -------------------------------------

def probe(conn):
    """What a fresh client sees: identity, groups, backend, visible rows."""
    return conn.execute(
        "select jit.current_user_id(), jit.current_groups(), pg_backend_pid(),"
        " (select count(*) from notes), (select count(*) from jit.users),"
        " (select count(*) from jit.memberships)"
    ).fetchone()


def login_and_check(conn, idp, sub, token=None):
    """Logs in inside the caller's open transaction; the identity is set."""
    token = token or idp.mint(idp.claims(sub=sub))
    uid = conn.execute("select user_id from jit_login(%s)", (token,)).fetchone()[0]
    conn.execute("insert into notes (body) values ('secret')")
    current, pid, n = conn.execute(
        "select jit.current_user_id(), pg_backend_pid(), (select count(*) from notes)"
    ).fetchone()
    assert current == uid and n >= 1
    return uid, pid


def end_committed(conn, idp):
    conn.execute("begin")
    _, pid = login_and_check(conn, idp, "alice")
    conn.execute("commit")
    return pid


def end_rolled_back(conn, idp):
    conn.execute("begin")
    _, pid = login_and_check(conn, idp, "alice")
    conn.execute("rollback")
    return pid


def end_error_after_login(conn, idp):
    conn.execute("begin")
    _, pid = login_and_check(conn, idp, "alice")
    with pytest.raises(errors.DivisionByZero):
        conn.execute("select 1 / 0")
    # The transaction is aborted; the client rolls it back.
    conn.execute("rollback")
    return pid


def end_rejected(conn, idp):
    token = idp.mint(idp.claims(sub="alice"))
    conn.execute("begin")
    _, pid = login_and_check(conn, idp, "alice", token)
    # A second login in the same transaction with a replayed token.
    with pytest.raises(psycopg.Error) as e:
        conn.execute("select * from jit_login(%s)", (token,))
    assert e.value.sqlstate == "28000"
    assert e.value.diag.message_primary.split(":", 1)[0] == "replayed"
    conn.execute("rollback")
    return pid


def end_discard_all(conn, idp):
    # An autocommit login: the statement is its own transaction.
    uid = conn.execute("select user_id from jit_login(%s)", (idp.mint(idp.claims(sub="alice")),)).fetchone()[0]
    assert uid is not None
    pid = conn.execute("select pg_backend_pid()").fetchone()[0]
    conn.execute("discard all")
    assert probe(conn)[0] is None
    return pid


SCENARIOS = {
    "committed": end_committed,
    "rolled_back": end_rolled_back,
    "error_after_login": end_error_after_login,
    "rejected": end_rejected,
    "discard_all": end_discard_all,
}


def assert_clean(snapshot, pid=None):
    current, groups, backend, notes_seen, users_seen, memberships_seen = snapshot
    assert current is None
    assert groups in (None, [])
    assert (notes_seen, users_seen, memberships_seen) == (0, 0, 0)
    if pid is not None:
        assert backend == pid, "the pooler did not reuse the backend; the test proves nothing"


@pytest.mark.parametrize("mode", ["transaction", "session"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_next_client_on_same_backend_sees_nothing(mode, scenario, admin, idp, notes, bouncer, dbname):
    b = bouncer(mode, 1)
    with connect(b, dbname, prepare_threshold=None) as first:
        pid = SCENARIOS[scenario](first, idp)
        if mode == "transaction":
            # The server connection went back to the pool at the end of the
            # transaction: a second client gets it while the first is open.
            with connect(b, dbname, prepare_threshold=None) as second:
                assert_clean(probe(second), pid)
    # Session mode: the backend is handed on after the first disconnects
    # (and after PgBouncer's DISCARD ALL).
    with connect(b, dbname, prepare_threshold=None) as nxt:
        assert_clean(probe(nxt), pid)
    # The probes saw no rows because RLS hid them, not because there were none.
    assert admin.execute("select count(*) from notes").fetchone()[0] == (1 if scenario == "committed" else 0)


KILLED_CLIENT = """
import sys, psycopg
conn = psycopg.connect(sys.argv[1], autocommit=True, prepare_threshold=None)
conn.execute("begin")
uid = conn.execute("select user_id from jit_login(%s)", (sys.argv[2],)).fetchone()[0]
conn.execute("insert into notes (body) values ('secret')")
current, pid = conn.execute("select jit.current_user_id(), pg_backend_pid()").fetchone()
assert current == uid
print(pid, flush=True)
sys.stdin.read()  # hold the transaction open until killed
"""


@pytest.mark.parametrize("mode", ["transaction", "session"])
@pytest.mark.parametrize("how", ["killed", "closed"])
def test_client_gone_mid_transaction(how, mode, admin, idp, notes, bouncer, dbname):
    b = bouncer(mode, 1)
    token = idp.mint(idp.claims(sub="alice"))
    if how == "killed":
        # SIGKILL: the socket just closes, no Terminate message.
        p = subprocess.Popen(
            [sys.executable, "-c", KILLED_CLIENT, b.conninfo(dbname), token],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            line = p.stdout.readline()
            assert line.strip().isdigit(), p.stderr.read() if p.poll() is not None else line
            pid = int(line)
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait()
    else:
        # close() inside the transaction: a Terminate message, no COMMIT.
        conn = connect(b, dbname, prepare_threshold=None)
        conn.execute("begin")
        _, pid = login_and_check(conn, idp, "alice", token)
        conn.close()
    with connect(b, dbname, prepare_threshold=None) as nxt:
        snapshot = probe(nxt)
    # PgBouncer does not hand on a server connection that is inside a
    # transaction: it closes it, and the next client gets a new backend.
    assert_clean(snapshot)
    assert snapshot[2] != pid
    assert admin.execute("select count(*) from notes").fetchone()[0] == 0


# --- prepared statements in transaction mode ---------------------------------

def test_protocol_prepared_statements_in_transaction_mode(idp, notes, bouncer, dbname):
    """A named (protocol-level) prepared statement lives on one server
    connection. PgBouncer before 1.21 does not track them, so in transaction
    mode the next transaction may land on a backend that lacks it; 1.21+
    tracks them when max_prepared_statements is set."""
    version = pgbouncer_version()
    if version < (1, 21):
        # The setting does not exist: PgBouncer refuses the configuration.
        with pytest.raises(RuntimeError, match="unknown parameter: pgbouncer/max_prepared_statements"):
            bouncer("transaction", 2, max_prepared_statements=100)
        b = bouncer("transaction", 2)
    else:
        b = bouncer("transaction", 2, max_prepared_statements=100)

    with connect(b, dbname) as a, connect(b, dbname) as other:
        pid_a = a.execute("select pg_backend_pid()", prepare=True).fetchone()[0]
        # `other` takes the only server connection (it is idle) and holds it.
        other.execute("begin")
        assert other.execute("select pg_backend_pid()").fetchone()[0] == pid_a
        # `a` runs its prepared statement again, on a second backend.
        if version < (1, 21):
            with pytest.raises(errors.InvalidSqlStatementName, match="does not exist"):
                a.execute("select pg_backend_pid()", prepare=True)
        else:
            assert a.execute("select pg_backend_pid()", prepare=True).fetchone()[0] != pid_a
        other.execute("rollback")

    # With psycopg's server-side prepares off (prepare_threshold=None), the
    # same sequence works: every statement is parsed in its own transaction.
    with connect(b, dbname, prepare_threshold=None) as a, connect(b, dbname, prepare_threshold=None) as other:
        for _ in range(10):
            a.execute("select 1")
        token = idp.mint(idp.claims(sub="alice"))
        other.execute("begin")
        with a.transaction():
            uid = a.execute("select user_id from jit_login(%s)", (token,)).fetchone()[0]
            assert a.execute("select jit.current_user_id()").fetchone()[0] == uid
        other.execute("rollback")


# --- the example programs behind transaction pooling ---------------------------

# Connection-string settings that keep a driver from leaving named prepared
# statements on a server connection: needed behind transaction pooling with
# PgBouncer < 1.21 (see the next test for what happens without them).
NO_NAMED_STATEMENTS = {
    "go": " statement_cache_mode=describe",
    "java": "&prepareThreshold=0",
}


@pytest.mark.parametrize("mode", ["transaction", "session"])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_example_program_behind_pgbouncer(lang, mode, admin, idp, dbname, bouncer, programs):
    """Each program runs one transaction per process; with one server
    connection, its three runs share a backend. Session pooling: the drivers'
    defaults (PgBouncer's DISCARD ALL drops what a client prepared)."""
    create_notes(admin)
    admin.execute(GROUP_MAP, (idp.name, idp.name))
    b = bouncer(mode, 1)
    conninfo = conn_string(lang, "127.0.0.1", b.port, dbname, APP_ROLE)
    if mode == "transaction":
        conninfo += NO_NAMED_STATEMENTS.get(lang, "")
    check_program(programs(lang), conninfo, admin, idp, f"{lang} via pgbouncer")


@pytest.mark.parametrize("lang, leftover", [("go", "lrupsc_1_0"), ("java", "S_1")])
def test_driver_default_named_statements_behind_transaction_pooling(lang, leftover, admin, idp, dbname, bouncer, programs):
    """pgx v4 prepares every parameterised query under a name, and pgjdbc its
    COMMIT, names that are the same in every process. In transaction
    mode PgBouncer does not reset a server connection between clients, so the
    next process on it fails to prepare: 42P05 duplicate_prepared_statement.
    With the settings above the same programs pass."""
    create_notes(admin)
    b = bouncer("transaction", 1)
    conninfo = conn_string(lang, "127.0.0.1", b.port, dbname, APP_ROLE)
    rc, out, err = run_client(programs(lang), conninfo, idp.mint(idp.claims(sub="bob")), "first")
    assert rc == 0, err
    rc, out, err = run_client(programs(lang), conninfo, idp.mint(idp.claims(sub="alice")), "second")
    if pgbouncer_version() < (1, 21):
        assert rc == 1 and f'prepared statement "{leftover}" already exists' in err, (rc, out, err)
    # (1.21+ tracks prepared statements only with max_prepared_statements > 0,
    # whose default differs between releases: no claim about it here.)
    assert admin.execute("select count(*) from notes where body = 'second'").fetchone()[0] == 0
    conninfo += NO_NAMED_STATEMENTS[lang]
    rc, out, err = run_client(programs(lang), conninfo, idp.mint(idp.claims(sub="carol")), "third")
    assert rc == 0, err
    assert [n["body"] for n in out["notes"]] == ["third"]
