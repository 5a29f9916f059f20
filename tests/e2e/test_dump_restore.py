"""pg_dump -Fc / pg_restore: configuration, users and audit survive, and the
restored database keeps logging users in."""

import subprocess
import uuid

import pytest

from conftest import APP_ROLE, connect
from db import TABLES, login, rejection, snapshot

BIN = "/usr/lib/postgresql/15/bin"


def pg(tool, cluster, *args):
    cmd = [f"{BIN}/{tool}", "-h", cluster["host"], "-p", str(cluster["port"]), "-U", "postgres", *args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"{tool} failed: {r.stderr}"
    return r


@pytest.fixture
def restored(cluster, dbname, tmp_path):
    """Returns a function that dumps `dbname` and restores it into a new
    database; yields that database's name."""
    made = []

    def dump_and_restore():
        path = tmp_path / "jit.dump"
        pg("pg_dump", cluster, "-Fc", "-f", str(path), dbname)
        name = "r_" + uuid.uuid4().hex[:12]
        with connect("postgres") as c:
            c.execute(f"create database {name}")
        made.append(name)
        pg("pg_restore", cluster, "--exit-on-error", "-d", name, str(path))
        return name

    yield dump_and_restore
    with connect("postgres") as c:
        for name in made:
            c.execute(f"drop database {name} with (force)")


def populate(idp, app, admin):
    admin.execute("insert into jit.claim_map values ('acme', 'attributes.department', 'dept')")
    admin.execute("insert into jit.group_map values ('acme', 'eng', 'developers'), ('acme', '*', 'everyone')")
    admin.execute("update jit.providers set stale_after = '30 days', seat_limit = 100, "
                  "email_domains = array['example.com']")
    # An application hook: its regprocedure must resolve in the restored database.
    admin.execute("""
        create schema appdata;
        create table appdata.profiles (user_id uuid primary key, email text);
        create function appdata.provision(u uuid, identity jsonb) returns void
        language sql as $$ insert into appdata.profiles values (u, identity ->> 'email')
                           on conflict (user_id) do nothing $$;
        update jit.providers set on_login = 'appdata.provision(uuid, jsonb)' where name = 'acme';
    """)
    alice = login(app, idp.mint(idp.claims(sub="alice", groups=["eng"], dept="R&D")))
    old_token = idp.mint(idp.claims(sub="bob"))
    bob = login(app, old_token)
    admin.execute("insert into jit.groups values ('auditors')")
    admin.execute("insert into jit.memberships (user_id, group_name, source) values (%s, 'auditors', null)",
                  (bob["user_id"],))
    admin.execute("select jit.deprovision('acme', array['carol'])")  # not there: a no-op
    login(app, idp.mint(idp.claims(sub="carol")))
    admin.execute("select jit.deprovision('acme', array['carol'])")
    # A DBA's own grants on extension objects.
    admin.execute(f"grant select on jit.login_events to {APP_ROLE}")
    admin.execute(f"grant execute on function jit.cleanup to {APP_ROLE}")
    return alice, bob, old_token


def test_dump_and_restore_keeps_rows_and_logins_work(idp, app, admin, restored, cluster):
    alice, bob, old_token = populate(idp, app, admin)
    before = snapshot(admin)
    config = {t: admin.execute(f"select * from jit.{t} order by 1, 2").fetchall()
              for t in ("providers", "claim_map", "group_map")}

    name = restored()

    with connect(name) as r_admin, connect(name, user=APP_ROLE) as r_app:
        assert snapshot(r_admin) == before
        assert {t: r_admin.execute(f"select * from jit.{t} order by 1, 2").fetchall()
                for t in ("providers", "claim_map", "group_map")} == config
        assert all(before[t] for t in TABLES), "every data table had rows to carry over"
        assert r_admin.execute("select count(*) from appdata.profiles").fetchone()[0] == 3

        # An existing user logs in: same row, counted, groups synced, audit id fresh.
        r = login(r_app, idp.mint(idp.claims(sub="alice", groups=["eng"], dept="R&D")))
        assert (r["user_id"], r["created"]) == (alice["user_id"], False)
        assert r["groups"] == ["developers", "everyone"]
        assert r_admin.execute("select login_count, attributes from jit.users where subject = 'alice'"
                               ).fetchone() == (2, {"department": "R&D"})
        r = login(r_app, idp.mint(idp.claims(sub="bob")))
        assert (r["user_id"], r["created"]) == (bob["user_id"], False)
        assert r["groups"] == ["auditors", "everyone"]
        # A new user: created, hook ran.
        dave = login(r_app, idp.mint(idp.claims(sub="dave")))
        assert dave["created"] is True
        assert r_admin.execute("select email from appdata.profiles where user_id = %s",
                               (dave["user_id"],)).fetchone() == ("dave@example.com",)
        events = r_admin.execute("select id, subject, outcome from jit.login_events order by id").fetchall()
        assert [e[0] for e in events] == sorted({e[0] for e in events})  # ids unique and increasing
        assert [(s, o) for _, s, o in events[-3:]] == [("alice", "updated"), ("bob", "updated"), ("dave", "created")]

        # Replay protection and the block survived too.
        assert rejection(r_app, old_token) == ("28000", "replayed")
        assert rejection(r_app, idp.mint(idp.claims(sub="carol"))) == ("28000", "user_blocked")

        # Privileges: PUBLIC's and the DBA's grants are as before.
        # (the grant on login_events survived; RLS shows no rows outside a login)
        assert r_app.execute("select count(*) from jit.login_events").fetchone()[0] == 0
        r_app.execute("select * from jit.cleanup()")
        with pytest.raises(Exception) as e:
            r_app.execute("select * from jit.seen_tokens")
        assert e.value.sqlstate == "42501"
        # RLS is still on: outside a login the application sees no user.
        assert r_app.execute("select count(*) from jit.users").fetchone()[0] == 0


def test_restored_database_is_independent_of_the_original(idp, app, admin, restored):
    populate(idp, app, admin)
    name = restored()
    token = idp.mint(idp.claims(sub="erin"))
    with connect(name, user=APP_ROLE) as r_app:
        assert login(r_app, token)["created"] is True
    # The same token in the original database is a first use there.
    assert login(app, token)["created"] is True
    assert admin.execute("select count(*) from jit.users where subject = 'erin'").fetchone()[0] == 1
