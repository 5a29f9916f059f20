"""Admission under concurrency: seats and first logins, over 20 real
connections as the application role."""

import threading

import psycopg
import pytest

from conftest import APP_ROLE, connect
from db import login, rejection

N = 20


def race(dbname, tokens):
    """Logs every token in at once from its own connection; returns
    (results, reasons) where reasons holds the code of each rejection."""
    conns = [connect(dbname, user=APP_ROLE) for _ in tokens]
    barrier = threading.Barrier(len(tokens))
    results, reasons, errors = [], [], []

    def go(conn, token):
        barrier.wait()
        try:
            results.append(login(conn, token))
        except psycopg.Error as e:
            if e.sqlstate == "28000":
                reasons.append((e.diag.message_primary or "").split(":", 1)[0])
            else:
                errors.append(f"{e.sqlstate}: {e}")

    threads = [threading.Thread(target=go, args=(c, t)) for c, t in zip(conns, tokens)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in conns:
        c.close()
    assert errors == []
    return results, reasons


def test_seat_limit_holds_under_concurrent_new_users(idp, admin, dbname):
    admin.execute("update jit.providers set seat_limit = 5 where name = 'acme'")
    login(connect(dbname, user=APP_ROLE), idp.mint(idp.claims(sub="early")))
    tokens = [idp.mint(idp.claims(sub=f"new-{i}")) for i in range(N)]
    results, reasons = race(dbname, tokens)
    assert len(results) == 4
    assert reasons == ["seat_limit_reached"] * (N - 4)
    seats = admin.execute(
        "select count(*) from jit.users where disabled_at is null and not blocked").fetchone()[0]
    assert seats == 5
    # Existing users still log in when the provider is full.
    assert login(connect(dbname, user=APP_ROLE), idp.mint(idp.claims(sub="early")))["created"] is False


@pytest.mark.parametrize("level", ["repeatable read", "serializable"])
def test_seat_limit_holds_for_snapshot_isolation_callers(idp, admin, dbname, level):
    """Two callers whose snapshots predate each other's admission: the second
    must not count seats from its stale snapshot. It gets a serialization
    failure (40001), and its retry finds the provider full."""
    admin.execute("update jit.providers set seat_limit = 2 where name = 'acme'")
    login(connect(dbname, user=APP_ROLE), idp.mint(idp.claims(sub="early")))
    a, b = connect(dbname, user=APP_ROLE), connect(dbname, user=APP_ROLE)
    for c in (a, b):
        c.execute(f"begin isolation level {level}")
        c.execute("select count(*) from jit.users")  # takes the transaction snapshot
    a.execute("select * from jit_login(%s)", (idp.mint(idp.claims(sub="a")),))
    a.execute("commit")
    with pytest.raises(psycopg.errors.SerializationFailure):
        b.execute("select * from jit_login(%s)", (idp.mint(idp.claims(sub="b")),))
    b.execute("rollback")
    assert rejection(b, idp.mint(idp.claims(sub="b"))) == ("28000", "seat_limit_reached")
    seats = admin.execute(
        "select count(*) from jit.users where disabled_at is null and not blocked").fetchone()[0]
    assert seats == 2


def test_seat_claims_do_not_serialize_existing_users(idp, admin, dbname):
    """Only admissions of new users touch jit.seat_claims: a returning user in
    REPEATABLE READ logs in beside a concurrent admission."""
    admin.execute("update jit.providers set seat_limit = 3 where name = 'acme'")
    login(connect(dbname, user=APP_ROLE), idp.mint(idp.claims(sub="early")))
    a, b = connect(dbname, user=APP_ROLE), connect(dbname, user=APP_ROLE)
    for c in (a, b):
        c.execute("begin isolation level repeatable read")
        c.execute("select count(*) from jit.users")
    a.execute("select * from jit_login(%s)", (idp.mint(idp.claims(sub="new")),))
    a.execute("commit")
    b.execute("select * from jit_login(%s)", (idp.mint(idp.claims(sub="early")),))
    b.execute("commit")
    assert admin.execute("select count(*) from jit.seat_claims").fetchone()[0] == 1


def test_freed_seat_admits_the_next_user(idp, admin, dbname):
    admin.execute("update jit.providers set seat_limit = 1 where name = 'acme'")
    app = connect(dbname, user=APP_ROLE)
    login(app, idp.mint(idp.claims(sub="one")))
    try:
        login(app, idp.mint(idp.claims(sub="two")))
        raise AssertionError("second user took a seat")
    except psycopg.Error as e:
        assert e.sqlstate == "28000" and e.diag.message_primary.startswith("seat_limit_reached")
    admin.execute("update jit.users set disabled_at = now() where subject = 'one'")
    assert login(app, idp.mint(idp.claims(sub="two")))["created"] is True


def test_concurrent_first_logins_of_one_user_make_one_row(idp, admin, dbname):
    tokens = [idp.mint(idp.claims(sub="same-person")) for _ in range(N)]
    results, reasons = race(dbname, tokens)
    assert reasons == []
    assert len(results) == N
    assert len({r["user_id"] for r in results}) == 1
    assert sum(r["created"] for r in results) == 1
    row = admin.execute("select count(*), max(login_count) from jit.users").fetchone()
    assert row == (1, N)


def test_concurrent_replays_of_one_token_admit_exactly_one(idp, admin, dbname):
    token = idp.mint(idp.claims(sub="replayer"))
    results, reasons = race(dbname, [token] * 8)
    assert len(results) == 1
    assert reasons == ["replayed"] * 7
