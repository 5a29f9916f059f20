"""The login write path: a returning user whose groups did not change is
settled by one statement (src/write_path.rs) with the provider's group
mappings read once per backend; everything else goes through the plpgsql
of sql/login.sql. These tests pin what that split must not change."""

import threading
import time

import psycopg
import pytest

from conftest import connect
from db import login, rejection, snapshot

MAP = [("eng", "developers"), ("ops", "operators"), ("*", "everyone")]


@pytest.fixture
def mapped(admin):
    for idp_group, app_group in MAP:
        admin.execute("insert into jit.group_map values ('acme', %s, %s)", (idp_group, app_group))


def memberships(admin, sub):
    return admin.execute(
        "select m.group_name, m.source, m.xmin::text from jit.memberships m "
        "join jit.users u on u.id = m.user_id where u.subject = %s order by 1", (sub,)).fetchall()


def test_group_map_changes_reach_a_session_that_already_logged_in(idp, app, admin, mapped):
    assert login(app, idp.mint(idp.claims(sub="u", groups=["eng"])))["groups"] == ["developers", "everyone"]
    # The app's backend now holds acme's mappings; each change below must
    # reach its next login.
    admin.execute("insert into jit.group_map values ('acme', 'eng', 'builders')")
    assert login(app, idp.mint(idp.claims(sub="u", groups=["eng"])))["groups"] == [
        "builders", "developers", "everyone"]
    admin.execute("delete from jit.group_map where app_group = 'developers'")
    assert login(app, idp.mint(idp.claims(sub="u", groups=["eng"])))["groups"] == ["builders", "everyone"]
    admin.execute("update jit.group_map set app_group = 'makers' where app_group = 'builders'")
    assert login(app, idp.mint(idp.claims(sub="u", groups=["eng"])))["groups"] == ["everyone", "makers"]
    # A data load (session_replication_role = replica fires no ordinary
    # trigger) and TRUNCATE (no row trigger) reach it too.
    admin.execute("set session_replication_role = replica")
    admin.execute("insert into jit.group_map values ('acme', 'eng', 'loaded')")
    admin.execute("reset session_replication_role")
    assert login(app, idp.mint(idp.claims(sub="u", groups=["eng"])))["groups"] == [
        "everyone", "loaded", "makers"]
    admin.execute("truncate jit.group_map")
    assert login(app, idp.mint(idp.claims(sub="u", groups=["eng"])))["groups"] == []


def test_provider_settings_changes_reach_a_session_that_already_logged_in(idp, app, admin, mapped):
    login(app, idp.mint(idp.claims(sub="u", groups=["eng", "ops"])))
    admin.execute("update jit.providers set sync_groups = false")
    assert login(app, idp.mint(idp.claims(sub="u", groups=["ops"])))["groups"] == [
        "developers", "everyone", "operators"]
    admin.execute("update jit.providers set sync_groups = true")
    assert login(app, idp.mint(idp.claims(sub="u", groups=["ops"])))["groups"] == ["everyone", "operators"]


def test_hook_set_renamed_and_given_away_after_logins(idp, app, admin):
    admin.execute("""
        create role wp_hook_owner nologin;
        create role wp_other_owner nologin;
        create table public.hook_calls (fn text, who text);
        grant insert on public.hook_calls to wp_hook_owner, wp_other_owner;
        create function public.note(user_id uuid, identity jsonb) returns void
        language sql as $$ insert into public.hook_calls values ('note', current_user) $$;
        alter function public.note(uuid, jsonb) owner to wp_hook_owner;""")
    try:
        login(app, idp.mint(idp.claims(sub="h")))
        admin.execute("update jit.providers set on_login = 'public.note(uuid, jsonb)'")
        login(app, idp.mint(idp.claims(sub="h")))
        # Neither a new owner nor a new name touches jit.providers: the
        # hook's owner and name are read at each login.
        admin.execute("alter function public.note(uuid, jsonb) owner to wp_other_owner")
        login(app, idp.mint(idp.claims(sub="h")))
        admin.execute("alter function public.note(uuid, jsonb) rename to note2")
        login(app, idp.mint(idp.claims(sub="h")))
        assert admin.execute("select who from public.hook_calls").fetchall() == [
            ("wp_hook_owner",), ("wp_other_owner",), ("wp_other_owner",)]
    finally:
        admin.execute("update jit.providers set on_login = null")
        admin.execute("drop table public.hook_calls; drop function if exists public.note2(uuid, jsonb); "
                      "drop function if exists public.note(uuid, jsonb); "
                      "drop role wp_hook_owner; drop role wp_other_owner")


def test_unchanged_groups_write_no_membership(idp, app, admin, mapped):
    first = login(app, idp.mint(idp.claims(sub="u", groups=["eng"])))
    before = memberships(admin, "u")
    with app.transaction():
        again = login(app, idp.mint(idp.claims(sub="u", groups=["eng"], email="new@example.com")))
        # The user's update is HOT: no indexed column changes on a login
        # (an index on last_login_at, say, would add five index entries to
        # every login).
        assert app.execute("select n_tup_upd, n_tup_hot_upd from pg_stat_xact_user_tables "
                           "where relid = 'jit.users'::regclass").fetchone() == (1, 1)
    assert (again["user_id"], again["created"], again["groups"]) == (first["user_id"], False,
                                                                     ["developers", "everyone"])
    # Same row versions: nothing rewrote them.
    assert memberships(admin, "u") == before
    assert admin.execute("select email, login_count from jit.users where subject = 'u'").fetchone() == (
        "new@example.com", 2)
    assert admin.execute("select outcome from jit.login_events order by id").fetchall() == [
        ("created",), ("updated",)]
    assert admin.execute("select count(*) from jit.seen_tokens").fetchone()[0] == 2


def test_a_membership_held_only_by_scim_gains_the_logins_hold(idp, app, admin, mapped):
    r = login(app, idp.mint(idp.claims(sub="u", groups=["eng"])))
    admin.execute("update jit.memberships set via_login = false, via_scim = true, source = null "
                  "where group_name = 'developers'")
    assert login(app, idp.mint(idp.claims(sub="u", groups=["eng"])))["groups"] == ["developers", "everyone"]
    assert admin.execute("select via_login, via_scim from jit.memberships where user_id = %s "
                         "and group_name = 'developers'", (r["user_id"],)).fetchone() == (True, True)


def test_replay_of_a_returning_users_token_changes_nothing(idp, app, admin, mapped):
    login(app, idp.mint(idp.claims(sub="u", groups=["eng"])))
    token = idp.mint(idp.claims(sub="u", groups=["ops"]))
    login(app, token)
    before = snapshot(admin)
    assert rejection(app, token) == ("28000", "replayed")
    assert snapshot(admin) == before


def test_blocked_returning_user_leaves_no_trace(idp, app, admin, mapped):
    login(app, idp.mint(idp.claims(sub="u", groups=["eng"])))
    admin.execute("select jit.deprovision('acme', array['u'])")
    before = snapshot(admin)
    assert rejection(app, idp.mint(idp.claims(sub="u", groups=["eng"]))) == ("28000", "user_blocked")
    assert snapshot(admin) == before


def _login_in_thread(dbname, token, isolation=None):
    out = {}

    def run():
        with connect(dbname, user="jit_app", autocommit=False) as c:
            if isolation:
                c.execute(f"set transaction isolation level {isolation}")
                c.execute("select 1")  # the snapshot is taken here
                out["snapshot"] = True
                while not out.get("go"):
                    time.sleep(0.01)
            try:
                out["row"] = c.execute("select user_id from jit_login(%s)", (token,)).fetchone()
                c.commit()
            except psycopg.Error as e:
                out["error"] = (e.sqlstate, (e.diag.message_primary or "").split(":", 1)[0])
    t = threading.Thread(target=run)
    t.start()
    return t, out


def _waiting_for_a_lock(admin, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if admin.execute("select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
                         "and query like '%jit_login%'").fetchone()[0]:
            return True
        time.sleep(0.02)
    return False


def test_login_waiting_for_a_deprovision_is_refused(idp, app, admin, dbname, mapped):
    login(app, idp.mint(idp.claims(sub="u", groups=["eng"])))
    with connect(dbname) as dba:
        dba.execute("begin")
        dba.execute("select jit.deprovision('acme', array['u'])")
        t, out = _login_in_thread(dbname, idp.mint(idp.claims(sub="u", groups=["eng"])))
        assert _waiting_for_a_lock(admin)
        dba.execute("commit")
        t.join(10)
    assert out.get("error") == ("28000", "user_blocked"), out


def test_login_waiting_for_another_change_of_the_user_succeeds(idp, app, admin, dbname, mapped):
    first = login(app, idp.mint(idp.claims(sub="u", groups=["eng"])))
    with connect(dbname) as dba:
        dba.execute("begin")
        dba.execute("update jit.users set department = 'R&D' where subject = 'u'")
        t, out = _login_in_thread(dbname, idp.mint(idp.claims(sub="u", groups=["eng"])))
        assert _waiting_for_a_lock(admin)
        dba.execute("commit")
        t.join(10)
    assert out.get("row") == (first["user_id"],), out
    assert admin.execute("select department, login_count from jit.users where subject = 'u'").fetchone() == (
        "R&D", 2)


def test_repeatable_read_login_after_a_concurrent_deprovision_must_retry(idp, app, admin, dbname, mapped):
    login(app, idp.mint(idp.claims(sub="u", groups=["eng"])))
    t, out = _login_in_thread(dbname, idp.mint(idp.claims(sub="u", groups=["eng"])), "repeatable read")
    deadline = time.time() + 10
    while not out.get("snapshot") and time.time() < deadline:
        time.sleep(0.01)
    admin.execute("select jit.deprovision('acme', array['u'])")
    out["go"] = True
    t.join(10)
    # Its snapshot still sees the user unblocked; the row changed since:
    # a serialization failure, never a login of a blocked user.
    assert out.get("error", ("",))[0] == "40001", out


def test_write_path_finds_rows_through_indexes_from_the_first_login(idp, app, admin, mapped):
    """Plans are kept per backend: a plan made while the tables were empty
    must not be a sequential scan that stays as they grow. A new backend's
    first logins (a first login, a returning one with the same groups, one
    with changed groups, a replay) on empty tables scan no table."""
    with app.transaction():
        login(app, idp.mint(idp.claims(sub="u", groups=["eng"])))
        login(app, idp.mint(idp.claims(sub="u", groups=["eng"])))
        token = idp.mint(idp.claims(sub="u", groups=["ops"]))
        login(app, token)
        with pytest.raises(psycopg.Error):
            login(app, token)
        scans = dict(app.execute(
            "select relname, seq_scan from pg_stat_xact_user_tables where schemaname = 'jit' "
            "and relname in ('users', 'memberships', 'seen_tokens', 'login_events', 'groups')").fetchall())
    assert set(scans) == {"users", "memberships", "seen_tokens", "login_events", "groups"}
    assert scans == {t: 0 for t in scans}, scans
