"""The request sequences Okta and Microsoft Entra ID send to a SCIM service
provider, in their own JSON (bodies as their provisioning guides show them,
ids replaced by the ones our server handed out), each followed by a look at
the rows and at jit_login's verdict for the user."""

import json
import os
import subprocess

import pytest

from conftest import HOST, PORT
from db import login
from scim_fixtures import (  # noqa: F401  (fixtures are used by name)
    ENTERPRISE, GROUP_SCHEMA, LIST_SCHEMA, PATCH_OP, USER_SCHEMA, ScimClient, events, group_row,
    memberships, route, scim, scim_provider, user_row, users_of, verdict,
)

NODE_ROUTE = os.path.join(os.path.dirname(__file__), "..", "node", "scim_route.mjs")

# --------------------------------------------------------------------- Okta

OKTA_USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "test.user@okta.local",
    "name": {"givenName": "Test", "familyName": "User"},
    "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
    "displayName": "Test User",
    "locale": "en-US",
    "externalId": "00ujl29u0le5T6Aj10h7",
    "groups": [],
    "password": "1mz050nq",
    "active": True,
}


def okta_put_body(uid, given="Another", active=True):
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": uid,
        "userName": "test.user@okta.local",
        "name": {"givenName": given, "middleName": "", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work",
                    "display": "test.user@okta.local"}],
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "active": active,
        "meta": {"resourceType": "User", "created": "2022-05-09T19:52:55.000Z",
                 "lastModified": "2022-05-09T19:52:55.000Z"},
    }


def okta_active(active):
    return {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": active}}]}


def okta_assign(client):
    """User assigned to the app: look up by userName, then create."""
    r = client.get("/Users", query="filter=userName%20eq%20%22test.user%40okta.local%22&startIndex=1&count=100")
    assert r.status == 200, r.text
    assert r.body["schemas"] == [LIST_SCHEMA]
    assert r.body["totalResults"] == 0 and r.body.get("Resources", []) == []
    r = client.post("/Users", OKTA_USER)
    assert r.status == 201, r.text
    assert r.header("content-type").startswith("application/scim+json")
    assert r.header("location") == f"{client.base_url}/Users/{r.body['id']}"
    assert r.body["userName"] == "test.user@okta.local" and r.body["active"] is True
    assert "password" not in r.body
    return r.body


def test_okta_user_lifecycle(scim, admin, app):
    okta = scim
    sub = "test.user@okta.local"

    # Assigned.
    user = okta_assign(okta)
    uid = user["id"]
    row = user_row(admin, uid)
    assert (row["provider"], row["subject"], row["user_name"], row["external_id"]) == \
        ("okta", sub, sub, "00ujl29u0le5T6Aj10h7")
    assert (row["given_name"], row["family_name"], row["name"], row["email"]) == \
        ("Test", "User", "Test User", sub)
    assert row["blocked"] is False
    assert verdict(app, okta.idp, sub) == ("ok", False, [])

    # Okta reads it back, and finds it by userName from now on.
    r = okta.get(f"/Users/{uid}")
    assert r.status == 200 and r.body["id"] == uid and r.header("etag") == r.body["meta"]["version"]
    r = okta.get("/Users", query="filter=userName%20eq%20%22test.user%40okta.local%22&startIndex=1&count=100")
    assert r.body["totalResults"] == 1 and r.body["Resources"][0]["id"] == uid

    # Profile updated: Okta PUTs the whole user.
    r = okta.put(f"/Users/{uid}", okta_put_body(uid))
    assert r.status == 200, r.text
    assert r.body["name"]["givenName"] == "Another"
    row = user_row(admin, uid)
    assert (row["given_name"], row["family_name"], row["blocked"]) == ("Another", "User", False)
    assert verdict(app, okta.idp, sub) == ("ok", False, [])

    # Deactivated.
    r = okta.patch(f"/Users/{uid}", okta_active(False))
    assert r.status == 200, r.text
    assert r.body["active"] is False
    row = user_row(admin, uid)
    assert row["blocked"] is True and row["disabled_at"] is not None
    assert verdict(app, okta.idp, sub) == ("rejected", "user_blocked")

    # Reactivated.
    r = okta.patch(f"/Users/{uid}", okta_active(True))
    assert r.status == 200 and r.body["active"] is True
    row = user_row(admin, uid)
    assert row["blocked"] is False and row["disabled_at"] is None
    assert verdict(app, okta.idp, sub) == ("ok", False, [])

    # A PUT carrying active=false deactivates too (Okta's other path).
    r = okta.put(f"/Users/{uid}", okta_put_body(uid, active=False))
    assert r.status == 200 and r.body["active"] is False
    assert verdict(app, okta.idp, sub) == ("rejected", "user_blocked")
    r = okta.put(f"/Users/{uid}", okta_put_body(uid, active=True))
    assert r.status == 200 and r.body["active"] is True
    assert verdict(app, okta.idp, sub) == ("ok", False, [])

    # Unassigned: Okta deactivates, it never deletes.
    r = okta.patch(f"/Users/{uid}", okta_active(False))
    assert r.status == 200 and r.body["active"] is False
    assert verdict(app, okta.idp, sub) == ("rejected", "user_blocked")
    assert users_of(admin, "okta") == 1
    # The audit trail: what each request did to the user, and to its active state.
    trail = [(a, act) for _, _, a, act in events(admin, uid)]
    assert [a for a, _ in trail] == ["created", "replaced", "updated", "updated", "replaced", "replaced", "updated"]
    assert [act for _, act in trail[1:]] == [None, False, True, False, True, False]


def test_okta_group_push(scim, admin, app):
    okta = scim
    alice = okta_assign(okta)
    bob = okta.create_user("bob.user@okta.local", name={"givenName": "Bob", "familyName": "User"},
                           emails=[{"primary": True, "value": "bob.user@okta.local", "type": "work"}],
                           active=True)

    # Group pushed: looked up by displayName, then created with its members.
    r = okta.get("/Groups", query="filter=displayName%20eq%20%22Test%20SCIMv2%22&startIndex=1&count=100")
    assert r.status == 200 and r.body["totalResults"] == 0
    r = okta.post("/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                              "displayName": "Test SCIMv2",
                              "members": [{"value": alice["id"], "display": "test.user@okta.local"}]})
    assert r.status == 201, r.text
    gid = r.body["id"]
    assert r.header("location") == f"{okta.base_url}/Groups/{gid}"
    assert [m["value"] for m in r.body["members"]] == [alice["id"]]
    g = group_row(admin, gid)
    assert (g["name"], g["scim_provider"]) == ("Test SCIMv2", "okta")
    assert memberships(admin, alice["id"]) == {"Test SCIMv2": ("okta", True, False)}
    assert verdict(app, okta.idp, "test.user@okta.local") == ("ok", False, ["Test SCIMv2"])

    # Renamed: a path-less replace that repeats the id.
    r = okta.patch(f"/Groups/{gid}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"id": gid, "displayName": "Test SCIMv2 Renamed"}}]})
    assert r.status == 200, r.text
    assert r.body["displayName"] == "Test SCIMv2 Renamed"
    assert group_row(admin, gid)["name"] == "Test SCIMv2 Renamed"
    assert memberships(admin, alice["id"]) == {"Test SCIMv2 Renamed": ("okta", True, False)}
    assert verdict(app, okta.idp, "test.user@okta.local") == ("ok", False, ["Test SCIMv2 Renamed"])
    r = okta.get("/Groups", query="filter=displayName%20eq%20%22test%20scimv2%20renamed%22")
    assert r.body["totalResults"] == 1 and r.body["Resources"][0]["id"] == gid

    # Member added.
    r = okta.patch(f"/Groups/{gid}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members",
                        "value": [{"value": bob["id"], "display": "bob.user@okta.local"}]}]})
    assert r.status == 200, r.text
    assert sorted(m["value"] for m in r.body["members"]) == sorted([alice["id"], bob["id"]])
    assert verdict(app, okta.idp, "bob.user@okta.local") == ("ok", False, ["Test SCIMv2 Renamed"])

    # Member removed: only that one.
    r = okta.patch(f"/Groups/{gid}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "remove", "path": f"members[value eq \"{alice['id']}\"]"}]})
    assert r.status == 200, r.text
    assert [m["value"] for m in r.body["members"]] == [bob["id"]]
    assert memberships(admin, alice["id"]) == {}
    assert verdict(app, okta.idp, "test.user@okta.local") == ("ok", False, [])
    assert verdict(app, okta.idp, "bob.user@okta.local") == ("ok", False, ["Test SCIMv2 Renamed"])

    # Okta's group listing without members.
    r = okta.get("/Groups", query="excludedAttributes=members&startIndex=1&count=100")
    assert r.status == 200 and [x["id"] for x in r.body["Resources"]] == [gid]
    assert "members" not in r.body["Resources"][0]

    # Push stopped with "delete the group in the app".
    assert okta.delete(f"/Groups/{gid}").status == 204
    assert okta.get(f"/Groups/{gid}").status == 404
    assert memberships(admin, bob["id"]) == {}
    assert verdict(app, okta.idp, "bob.user@okta.local") == ("ok", False, [])
    assert [a for _, res, a, _ in events(admin, gid)] == ["created", "updated", "updated", "updated", "deleted"]


def test_okta_import_listing_and_pagination(scim, admin):
    okta = scim
    ids = [okta.create_user(f"user{i}@okta.local")["id"] for i in range(5)]
    r = okta.get("/Users", query="startIndex=1&count=100")
    assert r.status == 200
    assert (r.body["totalResults"], r.body["itemsPerPage"], r.body["startIndex"]) == (5, 5, 1)
    assert sorted(u["id"] for u in r.body["Resources"]) == sorted(ids)
    pages = []
    for start in (1, 3, 5):
        r = okta.get("/Users", query=f"startIndex={start}&count=2")
        assert r.status == 200
        assert (r.body["totalResults"], r.body["startIndex"]) == (5, start)
        assert r.body["itemsPerPage"] == len(r.body["Resources"]) == (2 if start < 5 else 1)
        pages += [u["id"] for u in r.body["Resources"]]
    assert sorted(pages) == sorted(ids)
    r = okta.get("/Users", query="count=0")
    assert r.status == 200 and r.body["totalResults"] == 5 and r.body.get("Resources", []) == []
    r = okta.get("/Users", query="attributes=userName&count=1")
    u = r.body["Resources"][0]
    assert "userName" in u and "id" in u and "name" not in u and "emails" not in u
    r = okta.get("/Users", query="excludedAttributes=emails,name&count=1")
    u = r.body["Resources"][0]
    assert "userName" in u and "emails" not in u and "name" not in u


# -------------------------------------------------------------------- Entra

ENTRA_USER = {
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
    "active": True,
    "emails": [{
        "primary": True,
        "type": "work",
        "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com",
    }],
    "meta": {
        "resourceType": "User",
    },
    "name": {
        "formatted": "givenName familyName",
        "familyName": "familyName",
        "givenName": "givenName",
    },
    "roles": [],
}
ENTRA_OID = "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"


@pytest.fixture
def entra(scim_provider, admin):
    """Entra ID: objectId provisioned as externalId, and the OIDC `oid` claim as the login subject."""
    client = scim_provider("entra", scim_subject="externalId")
    admin.execute("insert into jit.claim_map (provider, field, source) values ('entra', 'subject', 'oid')")
    return client


def entra_verdict(app, entra, oid, **claims):
    return verdict(app, entra.idp, "AAAAAAAAAAAAAAAAAAAAAPairwiseSub", oid=oid, **claims)


def entra_patch(*ops):
    return {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": list(ops)}


def test_entra_user_lifecycle(entra, admin, app):
    # Assigned: query by the matching attribute (Entra encodes spaces as '+'), then create.
    r = entra.get("/Users", query="filter=userName+eq+%22Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1%22")
    assert r.status == 200 and r.body["totalResults"] == 0
    r = entra.post("/Users", ENTRA_USER)
    assert r.status == 201, r.text
    uid = r.body["id"]
    assert r.body["externalId"] == ENTRA_OID
    row = user_row(admin, uid)
    assert (row["subject"], row["external_id"], row["user_name"]) == \
        (ENTRA_OID, ENTRA_OID, "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1")
    assert (row["given_name"], row["family_name"], row["email"]) == \
        ("givenName", "familyName", "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com")
    assert entra_verdict(app, entra, ENTRA_OID) == ("ok", False, [])
    r = entra.get("/Users", query="filter=userName+eq+%22test_user_AB6490EE-1e48-479e-a20b-2d77186b5dd1%22")
    assert r.body["totalResults"] == 1 and r.body["Resources"][0]["id"] == uid
    r = entra.get("/Users", query=f"filter=externalId+eq+%22{ENTRA_OID}%22")
    assert r.body["totalResults"] == 1 and r.body["Resources"][0]["id"] == uid

    # Updated, multi-valued properties (capitalised op, filtered email path).
    r = entra.patch(f"/Users/{uid}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        ]})
    assert r.status == 200, r.text
    row = user_row(admin, uid)
    assert (row["email"], row["family_name"]) == ("updatedEmail@microsoft.com", "updatedFamilyName")
    assert [e["value"] for e in r.body["emails"]] == ["updatedEmail@microsoft.com"]

    # Updated, single-valued property: the userName changes, the login subject does not.
    r = entra.patch(f"/Users/{uid}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "userName",
                        "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}]})
    assert r.status == 200 and r.body["userName"] == "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    row = user_row(admin, uid)
    assert (row["user_name"], row["subject"]) == ("5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com", ENTRA_OID)

    # Path-less replace with dotted and extension-URN keys, and the manager as Entra adds it.
    r = entra.patch(f"/Users/{uid}", entra_patch(
        {"op": "replace", "value": {
            "displayName": "Test User Updated",
            "name.givenName": "Updated",
            f"{ENTERPRISE}:department": "Finance",
            f"{ENTERPRISE}:employeeNumber": "000123",
        }},
        {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": "7f4bc1a3-285e-48ae-8202-5accb43efb0e"}))
    assert r.status == 200, r.text
    row = user_row(admin, uid)
    assert (row["name"], row["given_name"], row["department"], row["employee_number"], row["manager"]) == \
        ("Test User Updated", "Updated", "Finance", "000123", "7f4bc1a3-285e-48ae-8202-5accb43efb0e")
    ext = r.body[ENTERPRISE]
    assert (ext["department"], ext["employeeNumber"], ext["manager"]["value"]) == \
        ("Finance", "000123", "7f4bc1a3-285e-48ae-8202-5accb43efb0e")
    assert entra_verdict(app, entra, ENTRA_OID) == ("ok", False, [])

    # Deactivated ("False" as a string, as Entra sends it).
    r = entra.patch(f"/Users/{uid}", entra_patch({"op": "Replace", "path": "active", "value": "False"}))
    assert r.status == 200, r.text
    assert r.body["active"] is False
    assert user_row(admin, uid)["blocked"] is True
    assert entra_verdict(app, entra, ENTRA_OID) == ("rejected", "user_blocked")

    # Reactivated.
    r = entra.patch(f"/Users/{uid}", entra_patch({"op": "Replace", "path": "active", "value": "True"}))
    assert r.status == 200 and r.body["active"] is True
    assert user_row(admin, uid)["blocked"] is False
    assert entra_verdict(app, entra, ENTRA_OID) == ("ok", False, [])

    # Unassigned: soft delete (active "False"), then, after the soft-delete window, DELETE.
    r = entra.patch(f"/Users/{uid}", entra_patch({"op": "Replace", "path": "active", "value": "False"}))
    assert r.status == 200 and r.body["active"] is False
    assert entra_verdict(app, entra, ENTRA_OID) == ("rejected", "user_blocked")
    r = entra.delete(f"/Users/{uid}")
    assert r.status == 204 and r.text == ""
    row = user_row(admin, uid)
    assert row["blocked"] is True and row["retired_at"] is not None
    for r in (entra.get(f"/Users/{uid}"),
              entra.patch(f"/Users/{uid}", entra_patch({"op": "Replace", "path": "active", "value": "True"})),
              entra.put(f"/Users/{uid}", ENTRA_USER),
              entra.delete(f"/Users/{uid}")):
        assert r.status == 404, r.text
        assert r.body["status"] == "404"
    assert user_row(admin, uid)["blocked"] is True
    r = entra.get("/Users", query=f"filter=id+eq+%22{uid}%22")
    assert r.status == 200 and r.body["totalResults"] == 0
    assert entra_verdict(app, entra, ENTRA_OID) == ("rejected", "user_blocked")
    assert [(a, act) for _, _, a, act in events(admin, uid)][-1] == ("deleted", None)


def test_entra_adds_a_missing_work_email(entra, admin):
    user = entra.create_user("no.mail@contoso.com", externalId="11111111-oid")
    r = entra.patch(f"/Users/{user['id']}", entra_patch(
        {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "no.mail@contoso.com"}))
    assert r.status == 200, r.text
    assert user_row(admin, user["id"])["email"] == "no.mail@contoso.com"
    assert [e["value"] for e in r.body["emails"]] == ["no.mail@contoso.com"]


def test_entra_group_lifecycle(entra, admin, app):
    users = [entra.create_user(f"member{i}@contoso.com", externalId=f"{i}0000000-oid") for i in range(3)]
    ids = [u["id"] for u in users]

    r = entra.get("/Groups", query="excludedAttributes=members&filter=displayName+eq+%22Group1DisplayName%22")
    assert r.status == 200 and r.body["totalResults"] == 0
    r = entra.post("/Groups", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "Group1DisplayName",
        "meta": {"resourceType": "Group"},
    })
    assert r.status == 201, r.text
    gid = r.body["id"]
    g = group_row(admin, gid)
    assert (g["name"], g["external_id"], g["scim_provider"]) == \
        ("Group1DisplayName", "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "entra")
    r = entra.get(f"/Groups/{gid}", query="excludedAttributes=members")
    assert r.status == 200 and "members" not in r.body and r.body["displayName"] == "Group1DisplayName"
    r = entra.get("/Groups", query="filter=externalId+eq+%228aa1a0c0-c4c3-4bc0-b4a5-2ef676900159%22")
    assert r.body["totalResults"] == 1

    # Renamed.
    r = entra.patch(f"/Groups/{gid}", entra_patch(
        {"op": "Replace", "path": "displayName", "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}))
    assert r.status == 200, r.text
    assert group_row(admin, gid)["name"] == "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    name = "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"

    # Members added (one request each, as Entra batches them).
    r = entra.patch(f"/Groups/{gid}", entra_patch(
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": ids[0]}, {"$ref": None, "value": ids[1]}]}))
    assert r.status == 200, r.text
    r = entra.patch(f"/Groups/{gid}", entra_patch({"op": "Add", "path": "members", "value": [{"$ref": None, "value": ids[2]}]}))
    assert r.status == 200, r.text
    assert sorted(m["value"] for m in r.body["members"]) == sorted(ids)
    for i, uid in enumerate(ids):
        assert memberships(admin, uid) == {name: ("entra", True, False)}
        assert entra_verdict(app, entra, f"{i}0000000-oid") == ("ok", False, [name])

    # Members removed: Remove with a value list removes exactly the listed ones.
    r = entra.patch(f"/Groups/{gid}", entra_patch(
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": ids[0]}]}))
    assert r.status == 200, r.text
    assert sorted(m["value"] for m in r.body["members"]) == sorted(ids[1:])
    # ... and the members[value eq "..."] form.
    r = entra.patch(f"/Groups/{gid}", entra_patch({"op": "Remove", "path": f"members[value eq \"{ids[1]}\"]"}))
    assert r.status == 200, r.text
    assert [m["value"] for m in r.body["members"]] == [ids[2]]
    assert entra_verdict(app, entra, "00000000-oid") == ("ok", False, [])
    assert entra_verdict(app, entra, "10000000-oid") == ("ok", False, [])
    assert entra_verdict(app, entra, "20000000-oid") == ("ok", False, [name])

    # Group unassigned: deleted.
    assert entra.delete(f"/Groups/{gid}").status == 204
    assert entra.get(f"/Groups/{gid}").status == 404
    assert entra_verdict(app, entra, "20000000-oid") == ("ok", False, [])
    assert [a for _, res, a, _ in events(admin, gid)] == ["created"] + ["updated"] * 5 + ["deleted"]


# ---------------------------------------------------------- the Node route

@pytest.fixture
def node_route(dbname):
    env = dict(os.environ, PGHOST=HOST, PGPORT=str(PORT), PGDATABASE=dbname, PGUSER="jit_app")
    proc = subprocess.Popen(["node", NODE_ROUTE], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            proc.kill()
            pytest.fail(f"the Node route did not start: {line}{proc.stderr.read()}")
        yield f"http://127.0.0.1:{int(line)}/scim/v2"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_okta_sequence_through_the_node_route(scim, node_route, admin, app):
    okta = ScimClient(node_route, scim.token, idp=scim.idp, provider="okta")
    user = okta_assign(okta)
    uid = user["id"]
    assert verdict(app, okta.idp, "test.user@okta.local") == ("ok", False, [])
    r = okta.patch(f"/Users/{uid}", okta_active(False))
    assert r.status == 200 and r.body["active"] is False
    assert r.header("etag") == r.body["meta"]["version"]
    assert verdict(app, okta.idp, "test.user@okta.local") == ("rejected", "user_blocked")
    r = okta.put(f"/Users/{uid}", okta_put_body(uid, given="Node", active=True))
    assert r.status == 200 and r.body["active"] is True
    assert user_row(admin, uid)["given_name"] == "Node"
    assert verdict(app, okta.idp, "test.user@okta.local") == ("ok", False, [])
    r = okta.get("/Users", query="filter=userName%20eq%20%22TEST.USER%40okta.local%22&startIndex=1&count=100")
    assert r.body["totalResults"] == 1 and r.body["Resources"][0]["id"] == uid
    # Errors and 204s come through the same way.
    r = okta.get("/Users", authorization="Bearer nope")
    assert r.status == 401 and r.body["status"] == "401"
    r = okta.post("/Users", raw='{"schemas": [')
    assert r.status == 400 and r.body["scimType"] == "invalidSyntax"
    g = okta.create_group("node-group", members=[uid])
    r = okta.delete(f"/Groups/{g['id']}")
    assert r.status == 204 and r.text == ""
    assert users_of(admin, "okta") == 1
