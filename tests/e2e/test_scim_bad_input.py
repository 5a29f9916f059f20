"""What an identity provider (or anyone holding a token) can send that is
wrong: each case gets the right SCIM Error (status and scimType) and leaves
every row as it was."""

import json
import uuid

import psycopg
import pytest

from scim_fixtures import (  # noqa: F401  (fixtures are used by name)
    ENTERPRISE, GROUP_SCHEMA, PATCH_OP, USER_SCHEMA, app_conninfo, assert_error, route, scim,
    scim_provider, snapshot, user_row,
)

MIB = 1 << 20


@pytest.fixture
def world(scim, admin):
    """A user and a group with that user as a member; returns (client, user, group)."""
    user = scim.create_user("quinn@example.com", displayName="Quinn",
                            name={"givenName": "Quinn", "familyName": "Fabray"},
                            emails=[{"value": "quinn@example.com", "type": "work", "primary": True}])
    group = scim.create_group("glee", members=[user["id"]])
    return scim, user, group


def refused(admin, send, status, scim_type=None):
    """Sends the request, checks the error, and that no row changed."""
    before = snapshot(admin)
    r = send()
    assert_error(r, status, scim_type)
    assert snapshot(admin) == before
    return r


# ------------------------------------------------------------ broken JSON

@pytest.mark.parametrize("text", [
    '{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x"',  # truncated
    '{"schemas": [\'urn:ietf:params:scim:schemas:core:2.0:User\'], "userName": "x"}',  # single quotes
    '{"userName": "x",}',  # trailing comma
    "userName=x",  # a form, not JSON
    '["urn:ietf:params:scim:schemas:core:2.0:User"]',  # JSON, not an object
    "",  # no body at all
])
def test_broken_json_on_create(world, admin, text):
    client, _, _ = world
    refused(admin, lambda: client.post("/Users", raw=text), 400, "invalidSyntax")


def test_broken_json_on_patch(world, admin):
    client, user, _ = world
    text = '{"schemas": ["%s"], "Operations": [{"op": "replace", "path": "active", "value": false}' % PATCH_OP
    refused(admin, lambda: client.patch(f"/Users/{user['id']}", raw=text), 400, "invalidSyntax")


def test_deeply_nested_json(world, admin):
    client, user, _ = world
    text = '{"schemas": ["%s"], "Operations": %s}' % (PATCH_OP, "[" * 5000 + "]" * 5000)
    refused(admin, lambda: client.patch(f"/Users/{user['id']}", raw=text), 400, "invalidSyntax")


# ------------------------------------------------------------ wrong types

@pytest.mark.parametrize("body", [
    {"schemas": [USER_SCHEMA], "userName": 42},
    {"schemas": [USER_SCHEMA], "userName": ""},
    {"schemas": [USER_SCHEMA], "userName": ["a", "b"]},
    {"schemas": [USER_SCHEMA], "userName": "rae@example.com", "active": "maybe"},
    {"schemas": [USER_SCHEMA], "userName": "rae@example.com", "active": 0},
    {"schemas": [USER_SCHEMA], "userName": "rae@example.com", "emails": "rae@example.com"},
    {"schemas": [USER_SCHEMA], "userName": "rae@example.com", "emails": [{"value": 7}]},
    {"schemas": [USER_SCHEMA], "userName": "rae@example.com", "name": "Rae"},
    {"schemas": [USER_SCHEMA], "userName": "rae@example.com", "externalId": {"id": 1}},
    {"schemas": [USER_SCHEMA], "userName": "rae@example.com", ENTERPRISE: "Sales"},
    {"schemas": [USER_SCHEMA], "userName": "rae@example.com", ENTERPRISE: {"department": 12}},
    {"schemas": [GROUP_SCHEMA], "userName": "rae@example.com"},  # not a User
])
def test_wrong_types_on_user_create(world, admin, body):
    client, _, _ = world
    refused(admin, lambda: client.post("/Users", body), 400, "invalidValue")


@pytest.mark.parametrize("op,scim_type", [
    ({"op": "replace", "path": "active", "value": "maybe"}, "invalidValue"),
    ({"op": "replace", "path": "active", "value": 1}, "invalidValue"),
    ({"op": "replace", "path": "active", "value": None}, "mutability"),  # null removes: never allowed for active
    ({"op": "replace", "path": "userName", "value": 5}, "invalidValue"),
    ({"op": "replace", "path": "userName", "value": ""}, "invalidValue"),
    ({"op": "replace", "path": "name.givenName", "value": ["Q"]}, "invalidValue"),
    ({"op": "replace", "path": "emails", "value": "q@example.com"}, "invalidValue"),
    ({"op": "replace", "path": "emails[type eq \"work\"].value", "value": 12}, "invalidValue"),
    ({"op": "replace", "value": {"active": "nope"}}, "invalidValue"),
    ({"op": "replace", "value": "active=false"}, "invalidValue"),  # a path-less value must be an object
    ({"op": "frobnicate", "path": "active", "value": False}, "invalidValue"),  # unknown op
    ({"op": "add", "path": "displayName"}, "invalidValue"),  # add without a value
])
def test_wrong_types_on_user_patch(world, admin, op, scim_type):
    client, user, _ = world
    refused(admin, lambda: client.patch_ops(f"/Users/{user['id']}", op), 400, scim_type)


@pytest.mark.parametrize("body", [
    {"schemas": [GROUP_SCHEMA], "displayName": 3},
    {"schemas": [GROUP_SCHEMA]},  # displayName is required
    {"schemas": [GROUP_SCHEMA], "displayName": "band", "members": "everyone"},
    {"schemas": [GROUP_SCHEMA], "displayName": "band", "members": [{"value": "not-a-user-id"}]},
    {"schemas": [GROUP_SCHEMA], "displayName": "band", "members": [{"value": 17}]},
    {"schemas": [GROUP_SCHEMA], "displayName": "band", "members": [{"display": "no value"}]},
])
def test_wrong_types_on_group_create(world, admin, body):
    client, _, _ = world
    refused(admin, lambda: client.post("/Groups", body), 400, "invalidValue")


@pytest.mark.parametrize("send", [
    lambda c, u: c.post("/Users", {"schemas": [USER_SCHEMA], "userName": "nul\u0000byte@example.com"}),
    lambda c, u: c.patch_ops(f"/Users/{u}", {"op": "replace", "path": "displayName", "value": "a\u0000b"}),
    lambda c, u: c.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "nul\u0000group"}),
], ids=["user-create", "user-patch", "group-create"])
def test_nul_character_in_a_value(world, admin, send):
    """JSON can carry U+0000, a text column cannot: a SCIM error, not an exception."""
    client, user, _ = world
    refused(admin, lambda: send(client, user["id"]), 400, "invalidValue")


def test_patch_body_shape(world, admin):
    client, user, _ = world
    uid = user["id"]
    refused(admin, lambda: client.patch(f"/Users/{uid}", {"schemas": [PATCH_OP], "Operations": {"op": "add"}}),
            400, "invalidSyntax")
    refused(admin, lambda: client.patch(f"/Users/{uid}", {"schemas": [PATCH_OP]}), 400, "invalidSyntax")
    refused(admin, lambda: client.patch(f"/Users/{uid}", {"Operations": [
        {"op": "replace", "path": "active", "value": False}]}), 400, "invalidSyntax")
    refused(admin, lambda: client.patch(f"/Users/{uid}", {"schemas": [PATCH_OP], "Operations": []}),
            400, "invalidValue")


# ------------------------------------------------- unknown attributes, paths

@pytest.mark.parametrize("op", [
    {"op": "replace", "path": "nickName", "value": "Q"},
    {"op": "add", "path": "phoneNumbers", "value": [{"value": "555-0100", "type": "work"}]},
    {"op": "replace", "path": "name.middleName", "value": "M"},
    {"op": "replace", "path": f"{ENTERPRISE}:costCenter", "value": "4130"},
    {"op": "replace", "path": "urn:example:params:scim:schemas:custom:2.0:User:shoeSize", "value": "9"},
    {"op": "replace", "value": {"nickName": "Q"}},
    {"op": "replace", "value": {"name.middleName": "M"}},
    {"op": "replace", "path": "emails[type eq \"work\"].display", "value": "Q"},
    {"op": "replace", "path": "emails[type eq \"work\"", "value": "q@example.com"},  # unclosed filter
    {"op": "replace", "path": "name..givenName", "value": "Q"},
    {"op": "remove", "path": "x-injected\"]; drop table jit.users; --"},
])
def test_unknown_attribute_in_patch_path(world, admin, op):
    client, user, _ = world
    refused(admin, lambda: client.patch_ops(f"/Users/{user['id']}", op), 400, "invalidPath")


@pytest.mark.parametrize("op", [
    {"op": "replace", "path": "owner", "value": "x"},
    {"op": "add", "path": "members.display", "value": "x"},
    {"op": "replace", "value": {"description": "x"}},
])
def test_unknown_attribute_in_group_patch_path(world, admin, op):
    client, _, group = world
    refused(admin, lambda: client.patch_ops(f"/Groups/{group['id']}", op), 400, "invalidPath")


@pytest.mark.parametrize("op", [
    {"op": "replace", "path": "id", "value": str(uuid.uuid4())},
    {"op": "replace", "path": "meta.created", "value": "2001-01-01T00:00:00Z"},
    {"op": "remove", "path": "active"},
    {"op": "remove", "path": "userName"},
])
def test_read_only_and_required_attributes(world, admin, op):
    client, user, _ = world
    refused(admin, lambda: client.patch_ops(f"/Users/{user['id']}", op), 400, "mutability")


def test_remove_without_path_is_no_target(world, admin):
    client, user, group = world
    refused(admin, lambda: client.patch_ops(f"/Users/{user['id']}", {"op": "remove"}), 400, "noTarget")
    refused(admin, lambda: client.patch_ops(f"/Groups/{group['id']}", {"op": "Remove"}), 400, "noTarget")


def test_patch_is_atomic(world, admin):
    """Good operations before a bad one are not applied either."""
    client, user, group = world
    refused(admin, lambda: client.patch_ops(
        f"/Users/{user['id']}",
        {"op": "replace", "path": "displayName", "value": "Changed"},
        {"op": "replace", "path": "active", "value": False},
        {"op": "replace", "path": "nickName", "value": "Q"}), 400, "invalidPath")
    refused(admin, lambda: client.patch_ops(
        f"/Groups/{group['id']}",
        {"op": "replace", "path": "displayName", "value": "renamed"},
        {"op": "remove", "path": "members", "value": [{"value": user["id"]}]},
        {"op": "add", "path": "members", "value": [{"value": "nobody"}]}), 400, "invalidValue")
    row = user_row(admin, user["id"])
    assert row["name"] == "Quinn" and row["blocked"] is False


def test_duplicate_user_name(world, admin):
    client, user, _ = world
    refused(admin, lambda: client.post("/Users", {"schemas": [USER_SCHEMA], "userName": "QUINN@example.com"}),
            409, "uniqueness")
    other = client.create_user("rory@example.com")
    refused(admin, lambda: client.patch_ops(f"/Users/{other['id']}",
                                            {"op": "replace", "path": "userName", "value": "Quinn@Example.com"}),
            409, "uniqueness")
    refused(admin, lambda: client.put(f"/Users/{other['id']}",
                                      {"schemas": [USER_SCHEMA], "userName": "quinn@example.com"}),
            409, "uniqueness")


def test_stale_if_match_is_412(world, admin):
    client, user, _ = world
    r = client.get(f"/Users/{user['id']}")
    etag = r.header("etag")
    assert etag and etag == r.body["meta"]["version"]
    stale = 'W/"0000-not-the-version"'
    refused(admin, lambda: client.patch_ops(f"/Users/{user['id']}", {"op": "replace", "path": "active", "value": False},
                                            headers={"If-Match": stale}), 412)
    refused(admin, lambda: client.delete(f"/Users/{user['id']}", headers={"If-Match": stale}), 412)
    r = client.patch_ops(f"/Users/{user['id']}", {"op": "replace", "path": "displayName", "value": "Q."},
                         headers={"If-Match": etag})
    assert r.status == 200, r.text
    assert r.header("etag") != etag


# ------------------------------------------------------------ huge bodies

def test_huge_body_is_413(world, admin):
    client, user, _ = world
    big = {"schemas": [USER_SCHEMA], "userName": "sam@example.com", "displayName": "x" * (MIB + 10)}
    refused(admin, lambda: client.post("/Users", big), 413)
    patch = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "y" * MIB}]}
    refused(admin, lambda: client.patch(f"/Users/{user['id']}", patch), 413)
    # Just over the limit, even when it is not JSON at all.
    refused(admin, lambda: client.post("/Groups", raw="{" * (MIB + 1)), 413)


def test_many_operations(world, admin):
    client, user, _ = world
    ops = [{"op": "replace", "path": "displayName", "value": f"n{i}"} for i in range(1001)]
    refused(admin, lambda: client.patch_ops(f"/Users/{user['id']}", *ops), 400, "invalidValue")


# --------------------------------------------------- unknown routes, methods

@pytest.mark.parametrize("path", [
    "/Foo", "/Users/not-a-uuid", f"/Users/{uuid.uuid4()}", f"/Groups/{uuid.uuid4()}",
    "/Users/{user}/extra", "/Schemas/urn:example:nothing", "/ResourceTypes/Printer",
    "/", "/Users/../Groups",
])
def test_unknown_route_is_404(world, admin, path):
    client, user, _ = world
    path = path.format(user=user["id"])
    refused(admin, lambda: client.get(path), 404)
    # (displayName: a PATCH that would be valid for a User and for a Group)
    refused(admin, lambda: client.patch_ops(path, {"op": "replace", "path": "displayName", "value": "x"}), 404)
    refused(admin, lambda: client.delete(path), 404)


def test_a_group_id_is_not_a_user_id(world, admin):
    client, user, group = world
    refused(admin, lambda: client.get(f"/Users/{group['id']}"), 404)
    refused(admin, lambda: client.delete(f"/Groups/{user['id']}"), 404)


@pytest.mark.parametrize("method,path,allow", [
    ("DELETE", "/Users", "GET, POST"),
    ("PUT", "/Groups", "GET, POST"),
    ("PATCH", "/Users", "GET, POST"),
    ("POST", "/Users/{user}", "GET, PUT, PATCH, DELETE"),
    ("PUT", "/ServiceProviderConfig", "GET"),
    ("DELETE", "/Schemas", "GET"),
    ("POST", "/ResourceTypes", "GET"),
])
def test_wrong_method_is_405(world, admin, method, path, allow):
    client, user, _ = world
    path = path.format(user=user["id"])
    body = {"schemas": [USER_SCHEMA], "userName": "tess@example.com"} if method in ("POST", "PUT", "PATCH") else None
    r = refused(admin, lambda: client.request(method, path, body=body), 405)
    assert r.header("allow") == allow


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "TRACE", "CONNECT", "FOO", ""])
def test_other_methods_through_sql(world, admin, dbname, method):
    """Methods the route does not forward, sent to jit.scim directly."""
    client, user, _ = world
    before = snapshot(admin)
    with psycopg.connect(app_conninfo(dbname)) as c:
        status, headers, body = c.execute(
            "select status, headers, body from jit.scim(%s, %s, null, null, %s)",
            (method, f"/Users/{user['id']}", f"Bearer {client.token}")).fetchone()
    assert status == 405, (status, body)
    headers = {k.lower(): v for k, v in headers.items()}
    assert headers["content-type"].startswith("application/scim+json")
    assert headers["allow"] == "GET, PUT, PATCH, DELETE"
    assert body["status"] == "405" and "scimType" not in body
    assert snapshot(admin) == before


# -------------------------------------------------------------- filters

@pytest.mark.parametrize("flt", [
    'userName eq "x" or "1" eq "1"',
    'userName eq "x" or userName pr',
    'userName eq "x") or (userName pr',
    '(userName eq "x") or (1 eq 1)',
    'userName eq "x" or 1=1',
    "userName eq 'x' or '1'='1'",
    "userName eq x'; drop table jit.users; --",
    'userName eq "x"; select pg_sleep(10)',
    'userName eq "x\\"',  # an escaped quote, then no closing quote
    'userName eq "x\\q"',  # an invalid escape
    'userName eq x\\y',  # a backslash in a bare value
    'userName eq "x" and',
    'userName eq',
    'userName pr',
    'userName co "x"',
    'userName sw "x"',
    'userName ne "x"',
    'not (userName eq "x")',
    'title eq "x"',
    'password eq "x"',
    'emails[type eq "work"]',
    'emails co "example.com"',
    'meta.lastModified gt "2011-05-13T04:42:34Z"',
    'active eq true',
    'userName eq true',
    'userName eq null',
    'userName eq "a" userName eq "b"',
    'userName eq "x"\x00',
    "",
])
def test_bad_filter_is_invalid_filter(world, admin, flt):
    client, _, _ = world
    refused(admin, lambda: client.get("/Users", query={"filter": flt}), 400, "invalidFilter")


@pytest.mark.parametrize("flt", [
    'displayName eq "glee" or displayName pr',
    'displayName co "g"',
    'members[value eq "x"]',
    'userName eq "x"',  # not an attribute of Groups
])
def test_bad_group_filter_is_invalid_filter(world, admin, flt):
    client, _, _ = world
    refused(admin, lambda: client.get("/Groups", query={"filter": flt}), 400, "invalidFilter")


def test_filter_given_twice_is_invalid_filter(world, admin):
    client, _, _ = world
    refused(admin, lambda: client.get("/Users", query='filter=userName%20eq%20%22a%22&filter=id%20pr'),
            400, "invalidFilter")


@pytest.mark.parametrize("user_name", [
    'o\'brien" or "1"="1',
    'back\\slash',
    'paren) or (x',
    '%',
    'under_score',
])
def test_quotes_and_backslashes_are_literals(world, admin, user_name):
    """Injection-looking values are plain strings: they match exactly the user
    with that userName, and LIKE wildcards match nothing else."""
    client, quinn, _ = world
    target = client.create_user(user_name)
    literal = json.dumps(user_name)  # a JSON string literal, escapes included
    before = snapshot(admin)
    r = client.get("/Users", query={"filter": f"userName eq {literal}"})
    assert r.status == 200, r.text
    assert [u["id"] for u in r.body["Resources"]] == [target["id"]]
    assert r.body["totalResults"] == 1
    # A wildcard-looking value must not match other users.
    r = client.get("/Users", query={"filter": 'userName eq "%"'})
    assert r.status == 200
    assert [u["userName"] for u in r.body["Resources"]] == (["%"] if user_name == "%" else [])
    r = client.get("/Users", query={"filter": 'userName eq "quinn@example.co_"'})
    assert r.status == 200 and r.body["totalResults"] == 0
    assert snapshot(admin) == before


@pytest.mark.parametrize("query", [
    "startIndex=abc", "count=1e3", "count=1&count=2", "filter=userName%20eq%20%22%ZZ%22",
])
def test_bad_list_parameters(world, admin, query):
    client, _, _ = world
    expected = "invalidFilter" if query.startswith("filter") else "invalidValue"
    refused(admin, lambda: client.get("/Users", query=query), 400, expected)


def test_filters_that_match_are_answered(world, admin, app):
    """The other half of 'never ignored': a supported filter that matches is
    never answered empty (the IdP would create a duplicate)."""
    client, quinn, group = world
    other = client.create_user("Rachel@Example.com", externalId="ext-rachel",
                               emails=[{"value": "rachel.berry@example.com", "primary": True}])
    cases = [
        ('userName eq "quinn@example.com"', [quinn["id"]]),
        ('USERNAME EQ "QUINN@EXAMPLE.COM"', [quinn["id"]]),
        ("userName eq rachel@example.com", [other["id"]]),  # unquoted, as Entra and Okta may send
        ('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "rachel@example.com"', [other["id"]]),
        ('externalId eq "ext-rachel"', [other["id"]]),
        ('externalId eq "EXT-RACHEL"', []),  # externalId is case-exact
        (f'id eq "{quinn["id"]}"', [quinn["id"]]),
        (f'id eq "{quinn["id"].upper()}"', [quinn["id"]]),
        ('id eq "not-a-uuid"', []),
        ('emails.value eq "RACHEL.BERRY@example.com"', [other["id"]]),
        ('emails[value eq "quinn@example.com"]', [quinn["id"]]),
        ('userName eq "rachel@example.com" and externalId eq "ext-rachel"', [other["id"]]),
        ('userName eq "rachel@example.com" and externalId eq "ext-quinn"', []),
        ('userName  eq  "quinn@example.com"  and  emails.value eq "quinn@example.com"', [quinn["id"]]),
    ]
    before = snapshot(admin)
    for flt, expected in cases:
        r = client.get("/Users", query={"filter": flt})
        assert r.status == 200, (flt, r.text)
        assert sorted(u["id"] for u in r.body.get("Resources", [])) == sorted(expected), flt
        assert r.body["totalResults"] == len(expected), flt
    # Form-encoded spaces ('+') as some clients send them.
    r = client.get("/Users", query="filter=userName+eq+%22quinn%40example.com%22")
    assert r.status == 200 and [u["id"] for u in r.body["Resources"]] == [quinn["id"]]
    # Groups: displayName case-insensitive, externalId, id.
    for flt in ['displayName eq "GLEE"', f'id eq "{group["id"]}"', "displayName eq glee"]:
        r = client.get("/Groups", query={"filter": flt})
        assert r.status == 200, (flt, r.text)
        assert [g["id"] for g in r.body["Resources"]] == [group["id"]], flt
    # A deactivated user is still found (the IdP must not re-create it).
    r = client.patch_ops(f"/Users/{other['id']}", {"op": "replace", "path": "active", "value": False})
    assert r.status == 200
    before = snapshot(admin)
    r = client.get("/Users", query={"filter": 'userName eq "rachel@example.com"'})
    assert r.status == 200 and [(u["id"], u["active"]) for u in r.body["Resources"]] == [(other["id"], False)]
    assert snapshot(admin) == before


def test_lone_surrogate_escape(world, admin):
    client, user, _ = world
    raw = '{"schemas": ["%s"], "userName": "bad\\ud800name@example.com"}' % USER_SCHEMA
    refused(admin, lambda: client.post("/Users", raw=raw), 400, "invalidSyntax")


def test_nothing_an_idp_sends_raises(world, admin, dbname):
    """Seeded random requests straight to jit.scim: every one is answered with
    a row (never an exception), a 5xx never, and a non-2xx writes nothing."""
    import random
    client, user, group = world
    rnd = random.Random(7644)
    atoms = ["", "x", "userName", "active", "members", "emails", "name.givenName", ENTERPRISE, "id", "meta",
             "value", "op", "path", "Operations", "schemas", PATCH_OP, USER_SCHEMA, GROUP_SCHEMA, user["id"],
             group["id"], "True", "False", "[", "]", '"', "\\", "eq", "and", "or", "(", ")", "%", "é", "😀"]
    scalars = [None, True, False, 0, -1, 1.5, 10**30, "", "x", "True", user["id"], [], {}]

    def value(depth=0):
        k = rnd.random()
        if depth > 3 or k < 0.4:
            return rnd.choice(scalars + atoms)
        if k < 0.7:
            return [value(depth + 1) for _ in range(rnd.randint(0, 3))]
        return {rnd.choice(atoms): value(depth + 1) for _ in range(rnd.randint(0, 4))}

    def body():
        k = rnd.random()
        if k < 0.3:
            ops = [{"op": rnd.choice(["add", "Replace", "remove", "x", 1]), "path": rnd.choice(atoms + [None]),
                    "value": value()} for _ in range(rnd.randint(0, 3))]
            return json.dumps({"schemas": [PATCH_OP], "Operations": ops})
        if k < 0.6:
            doc = {"schemas": [rnd.choice([USER_SCHEMA, GROUP_SCHEMA])], "userName": value(),
                   "displayName": value(), "members": value(), "active": value(), "emails": value()}
            return json.dumps(doc)
        if k < 0.8:
            return json.dumps(value())
        return "".join(rnd.choice(atoms + ["{", "}", ":", ","]) for _ in range(rnd.randint(0, 12)))

    paths = ["/Users", "/Groups", f"/Users/{user['id']}", f"/Groups/{group['id']}", "/Schemas",
             "/ResourceTypes/User", "/ServiceProviderConfig", "/Users/", "/users", "/Me", "/Bulk", "//",
             "/Users/" + "a" * 300, "/Schemas/" + "%zz"]
    queries = [None, "", "filter=" + "(" * 50, "count=-5", "startIndex=99999999999999999999",
               "attributes=," * 20, "filter=userName%20eq%20%22a%22%20and%20" * 10, "%"]
    with psycopg.connect(app_conninfo(dbname), autocommit=True) as c:
        routes = [("POST", "/Users"), ("POST", "/Groups"), ("GET", "/Users"), ("GET", "/Groups"),
                  ("PATCH", f"/Users/{user['id']}"), ("PATCH", f"/Groups/{group['id']}"),
                  ("PUT", f"/Users/{user['id']}"), ("PUT", f"/Groups/{group['id']}")]
        for i in range(1500):
            if rnd.random() < 0.8:  # mostly routes that read the body or the query
                method, path = rnd.choice(routes)
            else:
                method = rnd.choice(["GET", "POST", "PUT", "PATCH", "DELETE", "get", "PoSt"])
                path = rnd.choice(paths)
            query = rnd.choice(queries + [f"filter={rnd.choice(atoms)}%20eq%20{rnd.choice(atoms)}"])
            b = body() if rnd.random() < 0.8 else None
            before = snapshot(admin)
            status, headers, resp = c.execute(
                "select status, headers, body from jit.scim(%s, %s, %s, %s, %s, 'http://h/scim/v2')",
                (method, path, query, b, f"Bearer {client.token}")).fetchone()
            assert 200 <= status < 500 or status == 501, (i, method, path, query, b, status, resp)
            if status != 204:  # (the 204's headers are checked in test_scim_conformance.py)
                assert {k.lower() for k in headers} >= {"content-type"}, (i, method, path, query, b, status, resp)
            if status >= 300:
                assert resp["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"], (i, resp)
                assert snapshot(admin) == before, (i, method, path, query, b, status, resp)
