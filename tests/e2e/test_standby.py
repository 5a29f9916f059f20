"""A hot standby: jit_login refuses with 25006, jit.verify still works."""

import os
import subprocess
import time

import psycopg
import pytest

from conftest import HOST, PORT
from idp import OidcIdP

ROOT = "/tmp/jit_provision"
BIN = "/usr/lib/postgresql/15/bin"
STANDBY_PORT = PORT + 7


def as_postgres(*cmd):
    subprocess.run(["sudo", "-u", "postgres", "--", *cmd], check=True, capture_output=True)


@pytest.fixture
def standby(admin, dbname):
    """A streaming replica of the test cluster, started from pg_basebackup."""
    d = f"{ROOT}/standby-{STANDBY_PORT}"
    subprocess.run(["rm", "-rf", d], check=True)
    os.makedirs(f"{d}/sock")
    subprocess.run(["chown", "-R", "postgres:postgres", d], check=True)
    as_postgres(f"{BIN}/pg_basebackup", "-h", HOST, "-p", str(PORT), "-U", "postgres",
                "-D", f"{d}/data", "-R", "-X", "stream", "-c", "fast")
    with open(f"{d}/data/postgresql.auto.conf", "a") as f:
        f.write(f"port = {STANDBY_PORT}\nunix_socket_directories = '{d}/sock'\nhot_standby = on\n")
    as_postgres(f"{BIN}/pg_ctl", "-D", f"{d}/data", "-l", f"{d}/server.log", "-w", "start")
    try:
        for _ in range(100):
            try:
                conn = psycopg.connect(host=f"{d}/sock", port=STANDBY_PORT, dbname=dbname,
                                       user="postgres", autocommit=True)
                break
            except psycopg.OperationalError:
                time.sleep(0.1)
        else:
            raise AssertionError("standby did not accept connections")
        with conn:
            assert conn.execute("select pg_is_in_recovery()").fetchone()[0] is True
            yield conn
    finally:
        as_postgres(f"{BIN}/pg_ctl", "-D", f"{d}/data", "-m", "immediate", "-w", "stop")
        subprocess.run(["rm", "-rf", d], check=True)


def test_standby_refuses_login_but_verifies(admin, dbname, standby):
    idp = OidcIdP(name="acme", issuer="https://idp.example.com/acme", client_id="app-1")
    idp.register(admin)
    # Make sure the provider row reached the standby.
    lsn = admin.execute("select pg_current_wal_lsn()").fetchone()[0]
    for _ in range(100):
        if standby.execute("select pg_last_wal_replay_lsn() >= %s", (lsn,)).fetchone()[0]:
            break
        time.sleep(0.1)
    token = idp.mint()
    with pytest.raises(psycopg.Error) as e:
        standby.execute("select * from jit_login(%s)", (token,))
    assert e.value.sqlstate == "25006"
    assert "hot standby" in e.value.diag.message_primary
    assert standby.execute("select jit.verify(%s) ->> 'subject'", (token,)).fetchone()[0] == "alice"
