"""SCIM and JIT login on the same rows: adoption of a login-created user,
first login of a SCIM-created user, deactivation against login, membership
ownership between a login's group sync and a SCIM client, provider isolation,
bearer tokens, jit.cleanup, and the audit trail."""

import datetime
import hashlib

import pytest

from conftest import connect
from db import login
from scim_fixtures import (  # noqa: F401  (fixtures are used by name)
    PATCH_OP, USER_SCHEMA, assert_error, events, memberships, route, scim, scim_provider,
    snapshot, user_row, users_of, verdict,
)

DAY = datetime.timedelta(days=1)


def deactivate(client, user_id, active=False):
    r = client.patch_ops(f"/Users/{user_id}", {"op": "replace", "path": "active", "value": active})
    assert r.status == 200, (r.status, r.text)
    assert r.body["active"] is active
    return r


def test_login_then_scim_create_adopts_the_row(scim, admin, app):
    first = login(app, scim.idp.mint(scim.idp.claims(sub="alice@example.com")))
    assert first["created"] is True
    uid = str(first["user_id"])
    assert user_row(admin, uid)["user_name"] == "alice@example.com"

    # The IdP looks the user up first (case-insensitively) and finds the login's row.
    r = scim.get("/Users", query={"filter": 'userName eq "ALICE@example.com"'})
    assert r.status == 200, r.text
    assert r.body["totalResults"] == 1
    assert [u["id"] for u in r.body["Resources"]] == [uid]

    # An IdP that creates anyway adopts the row instead of answering 409.
    r = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "alice@example.com",
                             "name": {"givenName": "Alice", "familyName": "Liddell"},
                             "emails": [{"value": "alice@example.com", "primary": True}], "active": True})
    assert r.status == 201, r.text
    assert r.body["id"] == uid
    assert r.header("location") == f"{scim.base_url}/Users/{uid}"
    assert r.header("etag") == r.body["meta"]["version"]
    assert r.header("etag").startswith('W/"')
    assert users_of(admin, "okta") == 1
    row = user_row(admin, uid)
    assert (row["subject"], row["given_name"], row["family_name"]) == ("alice@example.com", "Alice", "Liddell")
    assert [e[:3] for e in events(admin, uid)] == [("okta", "User", "adopted")]

    # Creating it again is a real duplicate now: the row is SCIM's.
    before = snapshot(admin)
    r = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "Alice@Example.com"})
    assert_error(r, 409, "uniqueness")
    assert snapshot(admin) == before

    assert verdict(app, scim.idp, "alice@example.com") == ("ok", False, [])
    assert users_of(admin, "okta") == 1

    # Uniqueness sees users that only ever logged in.
    login(app, scim.idp.mint(scim.idp.claims(sub="zed@example.com")))
    before = snapshot(admin)
    r = scim.patch_ops(f"/Users/{uid}", {"op": "replace", "path": "userName", "value": "ZED@example.com"})
    assert_error(r, 409, "uniqueness")
    assert snapshot(admin) == before


def test_login_then_scim_create_adopts_by_external_id(scim_provider, admin, app):
    entra = scim_provider("entra", scim_subject="externalId")
    first = login(app, entra.idp.mint(entra.idp.claims(sub="6f1c7e0a-oid")))
    uid = str(first["user_id"])
    assert user_row(admin, uid)["external_id"] == "6f1c7e0a-oid"

    # Without externalId the login subject is unknown: refused, nothing written.
    before = snapshot(admin)
    r = entra.post("/Users", {"schemas": [USER_SCHEMA], "userName": "bob@contoso.com"})
    assert_error(r, 400, "invalidValue")
    assert snapshot(admin) == before

    r = entra.post("/Users", {"schemas": [USER_SCHEMA], "userName": "bob@contoso.com",
                              "externalId": "6f1c7e0a-oid"})
    assert r.status == 201, r.text
    assert r.body["id"] == uid
    assert users_of(admin, "entra") == 1
    row = user_row(admin, uid)
    assert (row["subject"], row["user_name"], row["external_id"]) == ("6f1c7e0a-oid", "bob@contoso.com", "6f1c7e0a-oid")
    assert [e[:3] for e in events(admin, uid)] == [("entra", "User", "adopted")]
    assert verdict(app, entra.idp, "6f1c7e0a-oid") == ("ok", False, [])


def test_scim_create_then_first_login_finds_the_same_row(scim, scim_provider, admin, app):
    user = scim.create_user("carol@example.com", name={"givenName": "Carol", "familyName": "Danvers"})
    row = user_row(admin, user["id"])
    assert (row["provider"], row["subject"], row["user_name"]) == ("okta", "carol@example.com", "carol@example.com")
    assert row["blocked"] is False
    assert [e[:3] for e in events(admin, user["id"])] == [("okta", "User", "created")]

    first = login(app, scim.idp.mint(scim.idp.claims(sub="carol@example.com")))
    assert first["created"] is False
    assert str(first["user_id"]) == user["id"]
    assert users_of(admin, "okta") == 1

    entra = scim_provider("entra", scim_subject="externalId")
    user = entra.create_user("dan@contoso.com", externalId="0a21f0f2-oid")
    assert user_row(admin, user["id"])["subject"] == "0a21f0f2-oid"
    first = login(app, entra.idp.mint(entra.idp.claims(sub="0a21f0f2-oid")))
    assert (first["created"], str(first["user_id"])) == (False, user["id"])
    assert users_of(admin, "entra") == 1


def test_deactivate_then_login_is_refused(scim, admin, app):
    admin.execute("insert into jit.group_map values ('okta', 'eng', 'developers')")
    user = scim.create_user("erin@example.com")
    uid = user["id"]
    assert verdict(app, scim.idp, "erin@example.com", groups=["eng"]) == ("ok", False, ["developers"])

    deactivate(scim, uid, False)
    row = user_row(admin, uid)
    assert row["blocked"] is True and row["disabled_at"] is not None
    # As jit.deprovision does: the provider's grants go with the block.
    assert memberships(admin, uid) == {}
    assert verdict(app, scim.idp, "erin@example.com") == ("rejected", "user_blocked")
    # Still visible to the IdP, as inactive.
    r = scim.get(f"/Users/{uid}")
    assert r.status == 200 and r.body["active"] is False

    deactivate(scim, uid, True)
    row = user_row(admin, uid)
    assert row["blocked"] is False and row["disabled_at"] is None
    assert verdict(app, scim.idp, "erin@example.com") == ("ok", False, [])


def test_scim_does_not_lift_a_dba_block(scim, admin, app):
    user = scim.create_user("frank@example.com")
    assert admin.execute("select jit.deprovision('okta', array['frank@example.com'])").fetchone()[0] == 1
    r = scim.patch_ops(f"/Users/{user['id']}", {"op": "replace", "path": "active", "value": True})
    if 200 <= r.status < 300:
        assert r.body["active"] is False, "the response must not claim an active user"
    else:
        assert r.body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert user_row(admin, user["id"])["blocked"] is True
    assert verdict(app, scim.idp, "frank@example.com") == ("rejected", "user_blocked")


def test_login_sync_keeps_scim_memberships(scim, admin, app):
    admin.execute("insert into jit.group_map values ('okta', 'eng', 'developers')")
    first = login(app, scim.idp.mint(scim.idp.claims(sub="gina@example.com", groups=["eng"])))
    uid = str(first["user_id"])
    assert first["groups"] == ["developers"]

    admins = scim.create_group("admins", members=[uid])
    assert [m["value"] for m in admins["members"]] == [uid]
    # The IdP also pushes "developers": it adopts the group row the login created.
    dev = scim.create_group("developers", members=[uid])
    assert [m["value"] for m in dev["members"]] == [uid]
    assert memberships(admin, uid) == {"admins": ("okta", True, False), "developers": ("okta", True, True)}

    # A login whose token no longer carries "eng": the login grant goes, SCIM's stay.
    assert verdict(app, scim.idp, "gina@example.com", groups=[]) == ("ok", False, ["admins", "developers"])
    assert memberships(admin, uid) == {"admins": ("okta", True, False), "developers": ("okta", True, False)}

    # SCIM removes its own grant: now nothing holds "developers".
    r = scim.patch_ops(f"/Groups/{dev['id']}", {"op": "remove", "path": f'members[value eq "{uid}"]'})
    assert r.status == 200, r.text
    assert r.body.get("members", []) == []
    assert memberships(admin, uid) == {"admins": ("okta", True, False)}
    assert verdict(app, scim.idp, "gina@example.com", groups=[]) == ("ok", False, ["admins"])


def test_scim_remove_keeps_login_and_dba_grants(scim, admin, app):
    admin.execute("insert into jit.group_map values ('okta', 'eng', 'developers')")
    first = login(app, scim.idp.mint(scim.idp.claims(sub="hank@example.com", groups=["eng"])))
    uid = str(first["user_id"])
    admin.execute("insert into jit.groups (name) values ('oncall')")
    admin.execute("insert into jit.memberships (user_id, group_name, source) values (%s, 'oncall', null)", (uid,))

    dev = scim.create_group("developers", members=[uid])  # held by the login and by SCIM
    oncall = scim.create_group("oncall")  # held by the DBA only
    assert oncall.get("members", []) == []
    assert memberships(admin, uid)["developers"] == ("okta", True, True)

    # Entra's Remove with a value list, on both groups.
    for g in (dev, oncall):
        r = scim.patch_ops(f"/Groups/{g['id']}", {"op": "Remove", "path": "members", "value": [{"value": uid}]})
        assert r.status == 200, r.text
        assert r.body.get("members", []) == []
    # RFC "remove all members" and a replace by an empty list touch SCIM's grants only.
    r = scim.patch_ops(f"/Groups/{oncall['id']}", {"op": "remove", "path": "members"})
    assert r.status == 200, r.text
    r = scim.patch_ops(f"/Groups/{dev['id']}", {"op": "replace", "path": "members", "value": []})
    assert r.status == 200, r.text
    r = scim.put(f"/Groups/{dev['id']}", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                          "displayName": "developers", "members": []})
    assert r.status == 200, r.text
    assert r.body.get("members", []) == []

    ms = memberships(admin, uid)
    assert ms["developers"] == ("okta", False, True)
    assert ms["oncall"][0] is None and ms["oncall"][1] is False
    assert verdict(app, scim.idp, "hank@example.com", groups=["eng"]) == ("ok", False, ["developers", "oncall"])

    # Deleting a SCIM group drops SCIM's grants, never the login's or the DBA's.
    assert scim.delete(f"/Groups/{oncall['id']}").status == 204
    assert admin.execute("select count(*) from jit.memberships where user_id = %s and group_name = 'oncall'",
                         (uid,)).fetchone()[0] == 1


def test_provider_isolation(scim, scim_provider, admin, app):
    okta = scim
    entra = scim_provider("entra")
    theirs = entra.create_user("ivy@contoso.com")
    their_group = entra.create_group("contoso-staff", members=[theirs["id"]])
    mine = okta.create_user("ivy@example.com")
    my_group = okta.create_group("example-staff")

    before = snapshot(admin)
    uid, gid = theirs["id"], their_group["id"]
    for r in [
        okta.get(f"/Users/{uid}"),
        okta.put(f"/Users/{uid}", {"schemas": [USER_SCHEMA], "userName": "ivy@contoso.com", "active": False}),
        okta.patch_ops(f"/Users/{uid}", {"op": "replace", "value": {"active": False}}),
        okta.delete(f"/Users/{uid}"),
        okta.get(f"/Groups/{gid}"),
        okta.patch_ops(f"/Groups/{gid}", {"op": "add", "path": "members", "value": [{"value": mine["id"]}]}),
        okta.patch_ops(f"/Groups/{gid}", {"op": "remove", "path": "members"}),
        okta.delete(f"/Groups/{gid}"),
    ]:
        assert_error(r, 404)
    # Lists and filters never show the other provider's resources.
    r = okta.get("/Users", query={"filter": 'userName eq "ivy@contoso.com"'})
    assert r.status == 200 and r.body["totalResults"] == 0
    r = okta.get("/Users", query={"filter": f'id eq "{uid}"'})
    assert r.status == 200 and r.body["totalResults"] == 0
    r = okta.get("/Users")
    assert r.status == 200, r.text
    assert [u["id"] for u in r.body["Resources"]] == [mine["id"]]
    r = okta.get("/Groups", query={"filter": 'displayName eq "contoso-staff"'})
    assert r.status == 200 and r.body["totalResults"] == 0
    # Nor can one of them be made a member of this provider's group.
    r = okta.patch_ops(f"/Groups/{my_group['id']}", {"op": "add", "path": "members", "value": [{"value": uid}]})
    assert 400 <= r.status < 500, r.text
    assert snapshot(admin) == before

    # Group names are one namespace: another provider's SCIM group is not adopted.
    r = okta.post("/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                              "displayName": "contoso-staff"})
    assert_error(r, 409, "uniqueness")
    assert snapshot(admin) == before

    # The other provider's login-created user is not adopted across providers.
    other = login(app, entra.idp.mint(entra.idp.claims(sub="jack@example.com")))
    r = okta.post("/Users", {"schemas": [USER_SCHEMA], "userName": "jack@example.com"})
    assert r.status == 201, r.text
    assert r.body["id"] != str(other["user_id"])
    assert user_row(admin, str(other["user_id"]))["provider"] == "entra"
    assert users_of(admin, "entra") == 2 and users_of(admin, "okta") == 2


@pytest.mark.parametrize("authorization", [
    None,                                  # no header
    "Bearer not-the-token",                # wrong token
    "Bearer ",                             # empty token
    "Basic b2t0YTpzZWNyZXQ=",              # another scheme
    "{token}",                             # the token without a scheme
    "Bearer {token}x",                     # the token with a byte more
    "Bearer {token_of_other}",             # another provider's token, for this provider's user
])
def test_bad_bearer_token_is_401_and_changes_nothing(scim, scim_provider, admin, authorization):
    user = scim.create_user("kim@example.com")
    other = scim_provider("entra")
    header = authorization
    if header is not None:
        header = header.format(token=scim.token, token_of_other=other.token)
    other_provider = authorization == "Bearer {token_of_other}"
    before = snapshot(admin)
    r = scim.patch_ops(f"/Users/{user['id']}", {"op": "replace", "path": "active", "value": False},
                       authorization=header)
    if other_provider:
        assert_error(r, 404)  # a valid token: it just cannot see this user
    else:
        assert_error(r, 401)
    r = scim.get("/Users", authorization=header)
    if other_provider:
        assert r.status == 200 and r.body["totalResults"] == 0
    else:
        assert_error(r, 401)
    assert snapshot(admin) == before
    assert user_row(admin, user["id"])["blocked"] is False


def test_a_new_token_replaces_the_old_one(scim, admin):
    old = scim.token
    new = admin.execute("select jit.scim_token('okta')").fetchone()[0]
    assert new != old
    stored = admin.execute("select scim_token_sha256 from jit.providers where name = 'okta'").fetchone()[0]
    assert bytes(stored) == hashlib.sha256(new.encode()).digest()
    before = snapshot(admin)
    assert_error(scim.get("/Users", token=old), 401)
    assert snapshot(admin) == before
    assert scim.get("/Users", token=new).status == 200


def test_scim_token_is_admin_only(dbname, scim):
    with connect(dbname, user="jit_app") as c:
        with pytest.raises(Exception) as e:
            c.execute("select jit.scim_token('okta')")
        assert getattr(e.value, "sqlstate", None) == "42501"


def test_cleanup_never_revives_or_deletes_scim_offboarded_users(scim_provider, admin, app):
    okta = scim_provider("okta", stale_after=datetime.timedelta(days=30), delete_after=datetime.timedelta(days=30))
    gone = okta.create_user("leo@example.com")
    retired = okta.create_user("mia@example.com")
    for sub in ("leo@example.com", "mia@example.com", "ned@example.com", "oli@example.com"):
        login(app, okta.idp.mint(okta.idp.claims(sub=sub)))
    deactivate(okta, gone["id"], False)
    assert okta.delete(f"/Users/{retired['id']}").status == 204
    before = {u: user_row(admin, u) for u in (gone["id"], retired["id"])}
    assert before[retired["id"]]["retired_at"] is not None

    # A year later, forced: stale and long-disabled users are cleaned up ...
    admin.execute("select * from jit.cleanup(now() + interval '365 days', true)").fetchall()
    admin.execute("select * from jit.cleanup(now() + interval '730 days', true)").fetchall()
    # ... but the SCIM-offboarded ones stay, blocked, unchanged.
    for uid, row in before.items():
        after = user_row(admin, uid)
        assert after is not None, "jit.cleanup deleted a user that SCIM offboarded"
        assert after["blocked"] is True and after["disabled_at"] is not None
        assert after["disabled_at"] == row["disabled_at"]
        assert after["retired_at"] == row["retired_at"]
    assert verdict(app, okta.idp, "leo@example.com") == ("rejected", "user_blocked")
    assert verdict(app, okta.idp, "mia@example.com") == ("rejected", "user_blocked")
    assert_error(okta.get(f"/Users/{retired['id']}"), 404)


def test_scim_events_say_who_deactivated_a_user_and_when(scim, admin):
    user = scim.create_user("pat@example.com")
    uid = user["id"]
    t0 = admin.execute("select clock_timestamp()").fetchone()[0]
    deactivate(scim, uid, False)
    t1 = admin.execute("select clock_timestamp()").fetchone()[0]
    scim.get(f"/Users/{uid}")  # reads write nothing
    deactivate(scim, uid, True)
    r = scim.put(f"/Users/{uid}", {"schemas": [USER_SCHEMA], "userName": "pat@example.com",
                                   "displayName": "Pat", "active": True})
    assert r.status == 200, r.text
    assert scim.delete(f"/Users/{uid}").status == 204

    rows = admin.execute(
        "select provider, resource, action, active, at, detail from jit.scim_events "
        "where resource_id = %s order by id", (uid,)).fetchall()
    assert [(p, res, a) for p, res, a, *_ in rows] == [
        ("okta", "User", "created"), ("okta", "User", "updated"), ("okta", "User", "updated"),
        ("okta", "User", "replaced"), ("okta", "User", "deleted")]
    assert [row[3] for row in rows[1:]] == [False, True, None, False]

    who, when = admin.execute(
        "select provider, at from jit.scim_events where resource = 'User' and resource_id = %s "
        "and active = false order by at limit 1", (uid,)).fetchone()
    assert who == "okta" and t0 <= when <= t1
