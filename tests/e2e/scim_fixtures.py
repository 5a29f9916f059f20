"""SCIM test fixtures and helpers: an identity provider registered with a SCIM
token, the HTTP route of scim_route.py in front of jit.scim (connected as the
application role), a small HTTP client, and readers of the rows SCIM touches.

Test modules import the fixtures by name:

    from scim_fixtures import route, scim, scim_provider  # noqa: F401
"""

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

import psycopg
import pytest

import scim_route
from conftest import APP_ROLE, HOST, PORT
from db import login
from idp import OidcIdP

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SCIM_JSON = "application/scim+json"


@dataclass
class Response:
    status: int
    headers: dict  # lower-cased names
    body: object  # parsed JSON, or None for an empty body
    text: str

    def header(self, name):
        return self.headers.get(name.lower())


class ScimClient:
    """Speaks HTTP to the SCIM route as an identity provider would."""

    def __init__(self, base_url, token, idp=None, provider=None):
        self.base_url = base_url
        self.token = token
        self.idp = idp  # the OidcIdP of the provider, to mint login tokens
        self.provider = provider

    def request(self, method, path, body=None, query=None, token=None, authorization=...,
                headers=None, raw=None):
        """`body` is JSON-encoded; `raw` (str or bytes) is sent as is; `query` is a
        dict (encoded with %20 for spaces) or a raw string sent unchanged.
        Authorization: `Bearer <token>` (this client's token unless `token` is
        given); `authorization` sends that header value verbatim instead, or no
        header at all when None."""
        url = self.base_url + path
        if isinstance(query, dict):
            url += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
        elif query is not None:
            url += "?" + query
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        if isinstance(data, str):
            data = data.encode()
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", SCIM_JSON)
        if authorization is ...:
            authorization = f"Bearer {token or self.token}"
        if authorization is not None:
            req.add_header("Authorization", authorization)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, hdrs, text = r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            status, hdrs, text = e.code, e.headers, e.read().decode()
        headers = {k.lower(): v for k, v in hdrs.items()}
        parsed = None
        if text and headers.get("content-type", "").startswith(SCIM_JSON):
            parsed = json.loads(text)
        return Response(status, headers, parsed, text)

    def get(self, path, query=None, **kw):
        return self.request("GET", path, query=query, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def patch_ops(self, path, *operations, **kw):
        return self.patch(path, {"schemas": [PATCH_OP], "Operations": list(operations)}, **kw)

    # Shortcuts used by many tests.
    def create_user(self, user_name, **attrs):
        body = {"schemas": [USER_SCHEMA], "userName": user_name, **attrs}
        r = self.post("/Users", body)
        assert r.status == 201, (r.status, r.text)
        return r.body

    def create_group(self, display_name, members=(), **attrs):
        body = {"schemas": [GROUP_SCHEMA], "displayName": display_name,
                "members": [{"value": m} for m in members], **attrs}
        r = self.post("/Groups", body)
        assert r.status == 201, (r.status, r.text)
        return r.body


def app_conninfo(dbname):
    return psycopg.conninfo.make_conninfo(host=HOST, port=PORT, dbname=dbname, user=APP_ROLE)


@pytest.fixture
def route(dbname):
    """The Python SCIM route for the test database; yields its base URL."""
    server = scim_route.serve(app_conninfo(dbname))
    host, port = server.server_address[:2]
    yield f"http://{host}:{port}{scim_route.PREFIX}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def scim_provider(admin, route):
    """Factory: registers an OIDC provider with the given `scim_subject`, issues
    its SCIM token with jit.scim_token, and returns a ScimClient on the route."""

    def make(name, scim_subject="userName", **columns):
        idp = OidcIdP(name=name, issuer=f"https://idp.example.com/{name}", client_id="app-1")
        idp.register(admin, scim_subject=scim_subject, **columns)
        token = admin.execute("select jit.scim_token(%s)", (name,)).fetchone()[0]
        return ScimClient(route, token, idp=idp, provider=name)

    return make


@pytest.fixture
def scim(scim_provider):
    """Provider 'okta' (scim_subject = userName) and its SCIM client; the
    client's `base_url` and `token` are what an IdP would be configured with."""
    return scim_provider("okta")


# ---------------------------------------------------------------- row readers

DATA_TABLES = ["users", "groups", "memberships", "scim_events", "login_events"]


def snapshot(admin):
    """Every row of the tables SCIM and logins write, as text, for 'nothing changed'."""
    return {t: [r[0] for r in admin.execute(f"select x::text from jit.{t} x order by 1").fetchall()]
            for t in DATA_TABLES + ["providers"]}


def user_row(admin, user_id):
    cur = admin.execute("select * from jit.users where id = %s", (user_id,))
    row = cur.fetchone()
    return None if row is None else dict(zip([d.name for d in cur.description], row))


def users_of(admin, provider):
    return admin.execute("select count(*) from jit.users where provider = %s", (provider,)).fetchone()[0]


def group_row(admin, group_id):
    cur = admin.execute("select * from jit.groups where id = %s", (group_id,))
    row = cur.fetchone()
    return None if row is None else dict(zip([d.name for d in cur.description], row))


def memberships(admin, user_id):
    """group_name -> (source, via_scim, via_login) for one user."""
    rows = admin.execute(
        "select group_name, source, via_scim, via_login from jit.memberships where user_id = %s",
        (user_id,)).fetchall()
    return {g: (s, vs, vl) for g, s, vs, vl in rows}


def events(admin, resource_id=None):
    """(provider, resource, action, active) of jit.scim_events, oldest first."""
    if resource_id is None:
        q, args = "select provider, resource, action, active from jit.scim_events order by id", ()
    else:
        q = "select provider, resource, action, active from jit.scim_events where resource_id = %s order by id"
        args = (resource_id,)
    return admin.execute(q, args).fetchall()


def verdict(app, idp, sub, **claims):
    """jit_login of a fresh token for `sub`: ('ok', created, sorted groups) or
    ('rejected', reason code)."""
    token = idp.mint(idp.claims(sub=sub, **claims))
    try:
        row = login(app, token)
    except psycopg.Error as e:
        return ("rejected", (e.diag.message_primary or "").split(":", 1)[0])
    return ("ok", row["created"], sorted(row["groups"] or []))


def assert_error(r, status, scim_type=None):
    """A SCIM Error response (RFC 7644 3.12) with this status and scimType."""
    assert r.status == status, (r.status, r.text)
    assert r.header("content-type").startswith(SCIM_JSON), r.headers
    assert isinstance(r.body, dict), r.text
    assert r.body.get("schemas") == [ERROR_SCHEMA], r.body
    assert r.body.get("status") == str(status), r.body
    assert r.body.get("scimType") == scim_type, r.body
    assert isinstance(r.body.get("detail"), str) and r.body["detail"], r.body
