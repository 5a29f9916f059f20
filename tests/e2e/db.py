"""Small helpers over a psycopg connection."""

import psycopg

TABLES = ["users", "groups", "memberships", "login_events", "seen_tokens"]


def snapshot(conn):
    """Every row of every data table, to show that a rejection left no trace."""
    return {t: conn.execute(f"select * from jit.{t} order by 1, 2").fetchall() for t in TABLES}


def login(conn, token, request_id=None):
    """jit_login in its own transaction; returns the row as a dict."""
    with conn.transaction():
        cur = conn.execute("select * from jit_login(%s, %s)", (token, request_id))
        cols = [d.name for d in cur.description]
        return dict(zip(cols, cur.fetchone()))


def rejection(conn, token, request_id=None):
    """Calls jit_login expecting a rejection; returns (sqlstate, reason code)."""
    try:
        login(conn, token, request_id)
    except psycopg.Error as e:
        msg = e.diag.message_primary or ""
        return e.sqlstate, msg.split(":", 1)[0]
    raise AssertionError("token was accepted")
