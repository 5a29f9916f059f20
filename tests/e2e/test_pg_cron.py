"""jit.cleanup scheduled by pg_cron, on a cluster of its own (pg_cron must be
in shared_preload_libraries, and runs its jobs in cron.database_name)."""

import os
import subprocess
import time

import psycopg
import pytest

from db import login
from idp import OidcIdP

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
NAME = "crontest"
PORT = int(os.environ.get("JIT_CRON_PGPORT", "54391"))
SOCK = f"/tmp/jit_provision/{NAME}/sock"
# The command README.md shows.
COMMAND = "select * from jit.cleanup()"


def pg_cluster(*args):
    subprocess.run([os.path.join(ROOT, "scripts", "pg-cluster"), *args], check=True)


@pytest.fixture(scope="module")
def cron_db():
    pg_cluster("start", NAME, str(PORT),
               "shared_preload_libraries = 'pg_cron'",
               "cron.database_name = 'postgres'",
               # listen_addresses is empty: pg_cron connects through the socket.
               f"cron.host = '{SOCK}'")
    try:
        with psycopg.connect(host=SOCK, port=PORT, dbname="postgres", user="postgres", autocommit=True) as c:
            c.execute("create extension pg_cron")
            c.execute("create extension jit_provision")
            yield c
    finally:
        pg_cluster("stop", NAME)


def wait_for_run(conn, jobid, timeout=100):
    """Waits for a finished run of the job; returns (status, return_message)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(
            "select status, return_message from cron.job_run_details "
            "where jobid = %s and status in ('succeeded', 'failed') order by runid limit 1", (jobid,)).fetchone()
        if row:
            return row
        time.sleep(2)
    runs = conn.execute("select status, return_message from cron.job_run_details where jobid = %s",
                        (jobid,)).fetchall()
    raise AssertionError(f"no finished run of job {jobid} within {timeout} s; runs: {runs}")


def test_cleanup_runs_from_pg_cron(cron_db):
    c = cron_db
    acme = OidcIdP(name="acme", issuer="https://idp.example.com/acme", client_id="app-1")
    lone = OidcIdP(name="lone", issuer="https://idp.example.com/lone", client_id="app-1")
    acme.register(c, stale_after="30 days")
    lone.register(c, stale_after="30 days")
    c.execute("insert into jit.group_map values ('acme', '*', 'everyone')")
    for sub in ("stale", "fresh-1", "fresh-2"):
        login(c, acme.mint(acme.claims(sub=sub)))
    login(c, lone.mint(lone.claims(sub="only")))
    c.execute("update jit.users set last_login_at = now() - interval '40 days' where subject in ('stale', 'only')")
    c.execute("insert into jit.seen_tokens values ('acme', 'old', now() - interval '1 day')")

    jobid = c.execute("select cron.schedule('jit-cleanup', '* * * * *', $$select * from jit.cleanup()$$)"
                      ).fetchone()[0]
    assert c.execute("select command from cron.job where jobid = %s", (jobid,)).fetchone()[0] == COMMAND
    try:
        status, message = wait_for_run(c, jobid)
    finally:
        c.execute("select cron.unschedule(%s)", (jobid,))

    # "lone" held by the safety valve (1 of 1) only warns: the job succeeds,
    # returning one row per provider.
    assert (status, message) == ("succeeded", "2 rows")
    rows = c.execute("select subject, disabled_at is null from jit.users order by 1").fetchall()
    assert rows == [("fresh-1", True), ("fresh-2", True), ("only", True), ("stale", False)]
    assert c.execute("select count(*) from jit.memberships m join jit.users u on u.id = m.user_id "
                     "where u.subject = 'stale'").fetchone()[0] == 0
    assert c.execute("select count(*) from jit.seen_tokens where token_id = 'old'").fetchone()[0] == 0
