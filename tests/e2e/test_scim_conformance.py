"""Third-party SCIM conformance tools against the HTTP route in front of
jit.scim: `scim2 test` (scim2-cli, which runs scim2-tester: discovery,
create/read/update/delete, PATCH add/remove/replace on every advertised
attribute, a random URL's 404) and `scim-sanity probe` (discovery, User and
Group lifecycles, search, error handling), for User and Group."""

import json
import os
import re
import subprocess
import sys

import pytest

from scim_fixtures import GROUP_SCHEMA, assert_error, route, scim, scim_provider, snapshot  # noqa: F401

BIN = os.path.dirname(sys.executable)
# scim2-tester's statuses (scim2_tester.Status); the CLI fails on anything but SUCCESS.
RESULT_LINE = re.compile(r"^(SUCCESS|COMPLIANT|ACCEPTABLE|DEVIATION|ERROR|CRITICAL|SKIPPED) (\S+)$")


def run(cmd, env=None, timeout=600):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, NO_COLOR="1", **(env or {})))


def parse_scim2_test(stdout):
    """[(status, check, reason)] from `scim2 test` output: a 'STATUS check' line,
    then the reason indented by two spaces (then, with --verbose, the data)."""
    results, lines = [], stdout.splitlines()
    for i, line in enumerate(lines):
        m = RESULT_LINE.match(line)
        if m:
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            results.append((m.group(1), m.group(2), nxt.strip() if nxt.startswith("  ") else ""))
    return results


# POST /.search at the root searches several resource types at once (RFC 7644
# 3.4.3); a server that does not do that answers 501 (RFC 7644 3.12), which
# scim2-tester reports as SKIPPED — yet the CLI counts every status other than
# SUCCESS against its exit code and has no option to leave a check out. That
# SKIPPED, with that reason, is the only non-SUCCESS result accepted.
ACCEPTED_SKIPS = {("search_with_attributes",
                   "POST /.search: searching several resource types at once is not supported by the server")}


def test_scim2_tester(scim, admin):
    # The token travels in the environment, not on the command line.
    out = run([os.path.join(BIN, "scim2"), "test", "--verbose"],
              env={"SCIM_CLI_URL": scim.base_url,
                   "SCIM_CLI_HEADERS": f"Authorization: Bearer {scim.token}"})
    results = parse_scim2_test(out.stdout)
    assert results, out.stdout + out.stderr
    skipped = {(c, r) for st, c, r in results if st == "SKIPPED"}
    failures = [(st, c, r) for st, c, r in results
                if st != "SUCCESS" and not (st == "SKIPPED" and (c, r) in ACCEPTED_SKIPS)]
    assert failures == [], "\n".join(f"{st} {c}: {r}" for st, c, r in failures)
    if not skipped:
        assert out.returncode == 0, out.stdout + out.stderr
    titles = {c for st, c, _ in results if st == "SUCCESS"}
    # Every family of checks ran: discovery, CRUD and PATCH, the random URL.
    for check in ["service_provider_config_endpoint", "query_all_resource_types", "query_all_schemas",
                  "random_url", "object_creation", "object_query", "object_replacement",
                  "object_deletion", "check_add_attribute", "check_remove_attribute",
                  "check_replace_attribute"]:
        assert check in titles, (check, out.stdout)
    # ... for both resource types (the reasons name the model).
    reasons = " ".join(r for _, _, r in results)
    assert re.search(r"\bUser\b", reasons) and re.search(r"\bGroup\b", reasons), out.stdout


# scim-sanity's Group lifecycle adds a member whose id is the literal string
# "fake-member-id" and expects 200. Group members here are user ids (UUIDs of
# this provider's users), so the server answers 400 invalidValue: a reference
# that cannot name a resource is refused rather than stored (RFC 7644 3.12
# invalidValue; scim-sanity's own 'entra' profile documents the same behaviour
# as a known deviation). The tool has no option to skip that one check, so it
# is the only result allowed to fail, and only with that status; the test
# below checks the server's actual answer to the same request.
KNOWN_QUIRKS = {("PATCH /Groups/{id} add member", "Expected 200, got 400")}


@pytest.mark.parametrize("resource", ["User", "Group"])
def test_scim_sanity_probe(scim, admin, resource):
    out = run([os.path.join(BIN, "scim-sanity"), "probe", scim.base_url, "--token", scim.token,
               "--resource", resource, "--json-output", "--i-accept-side-effects", "--timeout", "60"])
    report = out.stdout + out.stderr
    data = json.loads(out.stdout)
    results = data["results"]
    bad = [(r["name"], r.get("message", "")) for r in results if r["status"] in ("fail", "error")]
    unexpected = [b for b in bad if b not in KNOWN_QUIRKS]
    assert unexpected == [], json.dumps(data, indent=1)
    passed = {r["name"] for r in results if r["status"] == "pass"}
    endpoint = f"/{resource}s"
    for name in [f"POST {endpoint}", f"GET {endpoint}/{{id}}", f"PUT {endpoint}/{{id}}",
                 f"GET {endpoint}/{{id}} after PUT", f"PATCH {endpoint}/{{id}}",
                 f"GET {endpoint}/{{id}} after PATCH", f"DELETE {endpoint}/{{id}}",
                 f"GET {endpoint}/{{id}} after DELETE (expect 404)",
                 "GET /ServiceProviderConfig", "GET /Schemas", "GET /ResourceTypes",
                 "GET /Users (ListResponse)", "GET /Users?filter (no match)",
                 "GET /Users/nonexistent (expect 404)", "POST /Users invalid body (expect 400)",
                 "POST /Users missing userName (expect 400)"]:
        assert name in passed, (name, report)
    if resource == "Group":
        assert "PATCH /Groups/{id} remove members" in passed, report
    # Warnings are SHOULD-level remarks; none is expected either.
    warnings = [(r["name"], r.get("message")) for r in results if r["status"] == "warn"]
    assert warnings == [], json.dumps(data, indent=1)
    if not bad:
        assert out.returncode == 0, report


def test_the_member_scim_sanity_adds_is_refused_cleanly(scim, admin):
    """The request behind the one known scim-sanity quirk, checked directly."""
    group = scim.create_group("scim-sanity-test-group-0")
    before = snapshot(admin)
    r = scim.patch_ops(f"/Groups/{group['id']}",
                       {"op": "add", "path": "members", "value": [{"value": "fake-member-id"}]})
    assert_error(r, 400, "invalidValue")
    assert snapshot(admin) == before
    r = scim.get(f"/Groups/{group['id']}")
    assert r.status == 200 and r.body.get("members", []) == []
    assert r.body["schemas"] == [GROUP_SCHEMA]


def test_discovery_documents(scim):
    """What the IdPs and the tools read first: the server's capabilities, and
    the attributes it stores (the enterprise extension's three among them)."""
    r = scim.get("/ServiceProviderConfig")
    assert r.status == 200 and r.header("content-type").startswith("application/scim+json")
    spc = r.body
    assert spc["patch"]["supported"] is True and spc["filter"]["supported"] is True
    assert spc["bulk"]["supported"] is False  # /Bulk is not implemented (501)
    assert spc["etag"]["supported"] is True
    assert spc["filter"]["maxResults"] >= 1
    assert [a["type"] for a in spc["authenticationSchemes"]] == ["oauthbearertoken"]

    r = scim.get("/ResourceTypes")
    assert r.status == 200
    types = {t["name"]: t for t in r.body["Resources"]}
    assert set(types) == {"User", "Group"}
    assert types["User"]["endpoint"] == "/Users" and types["Group"]["endpoint"] == "/Groups"
    assert [e["schema"] for e in types["User"]["schemaExtensions"]] == [
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]

    r = scim.get("/Schemas")
    assert r.status == 200
    schemas = {s["id"]: s for s in r.body["Resources"]}
    ext = schemas["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]
    assert {a["name"] for a in ext["attributes"]} == {"employeeNumber", "department", "manager"}
    user_attrs = {a["name"] for a in schemas["urn:ietf:params:scim:schemas:core:2.0:User"]["attributes"]}
    assert {"userName", "name", "displayName", "emails", "active"} <= user_attrs
    # Nothing advertised that is not stored (a tool would PATCH it and read it back).
    assert not user_attrs & {"password", "nickName", "phoneNumbers", "addresses", "photos", "x509Certificates"}
    group_attrs = {a["name"] for a in schemas["urn:ietf:params:scim:schemas:core:2.0:Group"]["attributes"]}
    assert {"displayName", "members"} <= group_attrs
    r = scim.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
    assert r.status == 200 and r.body["id"] == "urn:ietf:params:scim:schemas:core:2.0:User"


def test_response_headers(scim):
    """Content-Type on every response, Location on 201, ETag = meta.version."""
    r = scim.post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "hdr@example.com"})
    assert r.status == 201
    uid = r.body["id"]
    assert r.header("content-type").startswith("application/scim+json")
    assert r.header("location") == r.body["meta"]["location"] == f"{scim.base_url}/Users/{uid}"
    assert r.header("etag") == r.body["meta"]["version"] and r.header("etag").startswith('W/"')
    first = r.header("etag")
    r = scim.patch_ops(f"/Users/{uid}", {"op": "replace", "path": "displayName", "value": "H"})
    assert r.status == 200 and r.header("etag") == r.body["meta"]["version"] != first
    assert r.header("location") is None
    r = scim.get("/Users")
    assert r.status == 200 and r.header("content-type").startswith("application/scim+json")
    r = scim.delete(f"/Users/{uid}")
    assert r.status == 204 and r.text == "" and r.body is None
    assert (r.header("content-type") or "").startswith("application/scim+json"), r.headers
