"""The README's SCIM section, kept true: its SQL block run as written, and
its two application routes quoted verbatim from the files the SCIM tests
run (tests/e2e/scim_route.py in every SCIM test, tests/node/scim_route.mjs
in test_scim_vendors.py)."""

import json
import os
import re

from idp import OidcIdP

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def blocks(marker, lang):
    text = open(os.path.join(ROOT, "README.md")).read()
    return re.findall(rf"<!-- tested: {re.escape(marker)} -->\n```{lang}\n(.*?)```", text, re.S)


def test_readme_routes_are_the_tested_files():
    for marker, lang in (("tests/e2e/scim_route.py", "python"), ("tests/node/scim_route.mjs", "js")):
        found = blocks(marker, lang)
        assert len(found) == 1, marker
        assert len(found[0].splitlines()) >= 20
        assert found[0] in open(os.path.join(ROOT, marker)).read(), marker


def test_readme_scim_sql(admin):
    (sql,) = blocks("tests/e2e/test_readme_scim.py", "sql")
    entra = OidcIdP(name="entra", issuer="https://login.microsoftonline.com/t/v2.0", client_id="app")
    entra.register(admin)
    statements = [s.strip() for s in sql.split(";") if s.strip()]
    assert len(statements) == 3
    token = admin.execute(statements[0]).fetchone()[0]
    assert token.startswith("jitscim_") and len(token) > 40
    admin.execute(statements[1])
    assert admin.execute("select scim_subject from jit.providers where name = 'entra'").fetchone()[0] == "externalId"

    # A user created and then deactivated through SCIM with that token shows
    # up in the audit query; a second one that stays active does not.
    ids = []
    for user_name, oid in (("ann@contoso.com", "0a1b"), ("ben@contoso.com", "2c3d")):
        status, _, body = admin.execute(
            "select * from jit.scim('POST', '/Users', null, %s, %s)",
            (json.dumps({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                         "userName": user_name, "externalId": oid, "active": True}),
             "Bearer " + token)).fetchone()
        assert status == 201, body
        ids.append(body["id"])
    status, _, body = admin.execute(
        "select * from jit.scim('PATCH', '/Users/' || %s, null, %s, %s)",
        (ids[0], json.dumps({"schemas": [PATCH_OP],
                             "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
         "Bearer " + token)).fetchone()
    assert status == 200 and body["active"] is False, body
    rows = admin.execute(statements[2]).fetchall()
    assert [(p, a) for _, p, a in rows] == [("entra", "updated")]
    assert admin.execute("select subject from jit.users where id = %s", (ids[0],)).fetchone()[0] == "0a1b"
