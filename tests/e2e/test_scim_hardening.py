"""SCIM against an adversary and against races: groups another provider
uses, values too long for an index, userName uniqueness at any isolation
level, a login and SCIM naming the same user, cleanup of users the IdP
owns, and a login that must not wait for (or deadlock with) a SCIM write."""

import threading

import psycopg

from conftest import APP_ROLE, connect
from scim_fixtures import (  # noqa: F401
    GROUP_SCHEMA, PATCH_OP, USER_SCHEMA, app_conninfo, assert_error, memberships, route, scim,
    scim_provider, snapshot, user_row, verdict,
)


def test_a_group_another_provider_uses_is_neither_adopted_nor_renamed(scim_provider, admin, app):
    a, b = scim_provider("prov-a"), scim_provider("prov-b")
    alice = a.create_user("alice")["id"]
    # B's user is in "admins" by a DBA's grant; "ops" is granted by B's group_map.
    verdict(app, b.idp, "bob")
    bob = admin.execute("select id from jit.users where subject = 'bob'").fetchone()[0]
    admin.execute("insert into jit.groups (name) values ('admins'), ('ops')")
    admin.execute("insert into jit.memberships (user_id, group_name, source) values (%s, 'admins', null)", (bob,))
    admin.execute("insert into jit.group_map values ('prov-b', 'Ops', 'ops')")
    before = snapshot(admin)
    for name in ("admins", "ops"):
        r = a.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": name, "members": [{"value": alice}]})
        assert_error(r, 409, "uniqueness")
    assert snapshot(admin) == before

    # A group A created: once B's users hold it, A cannot rename it away from them.
    team = a.create_group("team", members=[alice])["id"]
    admin.execute("insert into jit.memberships (user_id, group_name, source) values (%s, 'team', null)", (bob,))
    before = snapshot(admin)
    r = a.patch_ops(f"/Groups/{team}", {"op": "replace", "path": "displayName", "value": "renamed"})
    assert_error(r, 400, "mutability")
    assert snapshot(admin) == before
    assert "team" in memberships(admin, bob)


def test_a_group_only_this_provider_uses_is_adopted(scim, admin, app):
    admin.execute("insert into jit.group_map values ('okta', 'Eng', 'engineering')")
    verdict(app, scim.idp, "carol", groups=["Eng"])
    carol = admin.execute("select id from jit.users where subject = 'carol'").fetchone()[0]
    r = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "engineering",
                              "members": [{"value": str(carol)}]})
    assert r.status == 201, r.text
    assert admin.execute("select scim_provider from jit.groups where name = 'engineering'").fetchone()[0] == "okta"
    # The login's grant and SCIM's hold on one row.
    assert memberships(admin, carol)["engineering"] == ("okta", True, True)


def test_values_too_long_for_an_index_are_refused(scim, admin):
    long = "x" * 3000
    before = snapshot(admin)
    for body in ({"schemas": [USER_SCHEMA], "userName": long},
                 {"schemas": [USER_SCHEMA], "userName": "ok", "externalId": long}):
        assert_error(scim.post("/Users", body), 400, "invalidValue")
    assert_error(scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": long}), 400, "invalidValue")
    assert snapshot(admin) == before
    uid = scim.create_user("short")["id"]
    before = snapshot(admin)
    r = scim.patch_ops(f"/Users/{uid}", {"op": "replace", "path": "userName", "value": long})
    assert_error(r, 400, "invalidValue")
    assert snapshot(admin) == before


def post_user(conn, token, user_name):
    body = '{"schemas":["%s"],"userName":"%s"}' % (USER_SCHEMA, user_name)
    return conn.execute("select status, body from jit.scim('POST', '/Users', null, %s, %s)",
                        (body, "Bearer " + token)).fetchone()


def test_user_name_stays_unique_under_repeatable_read(scim, dbname, admin):
    with psycopg.connect(app_conninfo(dbname)) as late, psycopg.connect(app_conninfo(dbname)) as early:
        early.execute("begin isolation level repeatable read")
        early.execute("select 1")  # the snapshot is taken here
        status, _ = post_user(late, scim.token, "Dup")
        late.commit()
        assert status == 201
        status, body = post_user(early, scim.token, "dup")  # its snapshot does not see "Dup"
        assert (status, body["scimType"]) == (409, "uniqueness"), body
        early.rollback()
    assert admin.execute("select count(*) from jit.users where lower(user_name) = 'dup'").fetchone()[0] == 1


def test_a_login_never_takes_a_user_name_scim_gave(scim, admin, app):
    zed = scim.create_user("Zed")["id"]
    assert verdict(app, scim.idp, "zed")[:2] == ("ok", True)  # another subject: another user
    assert admin.execute("select user_name from jit.users where subject = 'zed'").fetchone()[0] is None
    r = scim.get("/Users", query={"filter": 'userName eq "zed"'})
    assert [u["id"] for u in r.body["Resources"]] == [zed]


def test_login_created_users_of_an_external_id_provider_are_found_by_user_name(scim_provider, app, admin):
    entra = scim_provider("entra", scim_subject="externalId")
    verdict(app, entra.idp, "oid-123")
    r = entra.get("/Users", query={"filter": 'userName eq "oid-123"'})
    assert [(u["userName"], u["externalId"]) for u in r.body["Resources"]] == [("oid-123", "oid-123")]
    # SCIM's create of that subject adopts the row and gives it the real userName.
    r = entra.post("/Users", {"schemas": [USER_SCHEMA], "userName": "ann@contoso.com", "externalId": "oid-123"})
    assert r.status == 201, r.text
    assert admin.execute("select count(*), max(user_name) from jit.users where provider = 'entra'").fetchone() == (
        1, "ann@contoso.com")


def test_cleanup_leaves_users_the_idp_provisions_to_the_idp(scim, admin, app):
    admin.execute("update jit.providers set stale_after = '1 day', delete_after = '1 day' where name = 'okta'")
    hank = scim.create_user("hank")["id"]
    verdict(app, scim.idp, "ivy")  # a login-only user, for contrast
    admin.execute("select * from jit.cleanup(now() + interval '3 days', force => true)")
    admin.execute("select * from jit.cleanup(now() + interval '6 days', force => true)")
    assert user_row(admin, hank)["disabled_at"] is None
    assert admin.execute("select count(*) from jit.users where subject = 'ivy'").fetchone()[0] == 0
    r = scim.patch_ops(f"/Users/{hank}", {"op": "replace", "value": {"active": False}})
    assert r.status == 200 and r.body["active"] is False, r.text


def test_a_login_does_not_wait_for_an_open_scim_group_write(scim, admin, dbname):
    """A SCIM write holds its group row for the rest of its transaction; a
    login granting that group (its membership's foreign key check takes KEY
    SHARE on the row) must go through, not wait or deadlock."""
    admin.execute("insert into jit.group_map values ('okta', '*', 'eng')")
    scim.create_group("eng")
    gid = admin.execute("select id from jit.groups where name = 'eng'").fetchone()[0]
    body = '{"schemas":["%s"],"Operations":[{"op":"replace","path":"externalId","value":"x"}]}' % PATCH_OP
    with psycopg.connect(app_conninfo(dbname)) as scim_tx:
        status, = scim_tx.execute("select status from jit.scim('PATCH', %s, null, %s, %s)",
                                  (f"/Groups/{gid}", body, "Bearer " + scim.token)).fetchone()
        assert status == 200
        result = {}

        def login():
            with connect(dbname, user=APP_ROLE) as c:
                c.execute("set lock_timeout = '5s'")
                try:
                    result["verdict"] = verdict(c, scim.idp, "kim")
                except psycopg.Error as e:
                    result["error"] = e

        t = threading.Thread(target=login)
        t.start()
        t.join(30)
        scim_tx.rollback()
    assert result.get("verdict") == ("ok", True, ["eng"]), result


def test_scim_respects_the_seat_limit(scim, admin):
    admin.execute("update jit.providers set seat_limit = 1 where name = 'okta'")
    ann = scim.create_user("ann")["id"]
    before = snapshot(admin)
    r = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "ben"})
    assert r.status == 403 and r.body["detail"].startswith("seat_limit_reached"), r.text
    assert snapshot(admin) == before
    # A user created inactive takes no seat.
    assert scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "cid", "active": False}).status == 201
    # Ann's deactivation frees her seat for Ben; her reactivation then finds none.
    assert scim.patch_ops(f"/Users/{ann}", {"op": "replace", "path": "active", "value": False}).status == 200
    assert scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "ben"}).status == 201
    before = snapshot(admin)
    r = scim.patch_ops(f"/Users/{ann}", {"op": "replace", "path": "active", "value": True})
    assert r.status == 403 and r.body["detail"].startswith("seat_limit_reached"), r.text
    assert snapshot(admin) == before
    assert user_row(admin, ann)["blocked"] is True


def test_a_disabled_provider_changes_nothing_through_scim(scim, admin):
    uid = scim.create_user("dora")["id"]
    admin.execute("update jit.providers set enabled = false where name = 'okta'")
    before = snapshot(admin)
    for r in (scim.get(f"/Users/{uid}"),
              scim.patch_ops(f"/Users/{uid}", {"op": "replace", "path": "active", "value": False}),
              scim.delete(f"/Users/{uid}")):
        assert_error(r, 403)
    assert snapshot(admin) == before


def test_the_readme_dba_grant_survives_scim_and_login_sync(scim, admin, app):
    import os
    import re
    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
    (grant,) = re.findall(r"<!-- tested: tests/e2e/test_scim_hardening.py -->\n```sql\n(.*?)```", readme, re.S)
    verdict(app, scim.idp, "bob")
    bob = str(admin.execute("select id from jit.users where subject = 'bob'").fetchone()[0])
    gid = scim.create_group("auditors", members=[bob])["id"]
    assert memberships(admin, bob)["auditors"] == ("okta", True, False)
    admin.execute(grant.replace("$1", "%s").replace("$2", "%s"), (bob, "auditors"))
    assert memberships(admin, bob)["auditors"] == (None, True, True)
    # SCIM lets go of its hold; a login whose token maps to no group syncs.
    r = scim.patch_ops(f"/Groups/{gid}", {"op": "Remove", "path": "members", "value": [{"value": bob}]})
    assert r.status == 200 and r.body.get("members", []) == [], r.text
    assert verdict(app, scim.idp, "bob") == ("ok", False, ["auditors"])
    assert memberships(admin, bob)["auditors"] == (None, False, True)
