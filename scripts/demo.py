"""Registers a demo OIDC provider, mints an ID token for it and logs the
user in through jit_login, as an application role would."""

import json
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))

import psycopg  # noqa: E402

from idp import OidcIdP  # noqa: E402

HOST = os.environ["JIT_PGHOST"]
PORT = int(os.environ["JIT_PGPORT"])


def connect(user):
    return psycopg.connect(host=HOST, port=PORT, dbname="postgres", user=user, autocommit=True)


with connect("postgres") as dba:
    dba.execute("create extension jit_provision")
    dba.execute("create role demo_app login")
    idp = OidcIdP(name="demo", issuer="https://login.demo.example", client_id="demo-app")
    idp.register(dba)
    dba.execute(
        "insert into jit.group_map (provider, idp_group, app_group) values "
        "('demo', 'engineering', 'developers'), ('demo', '*', 'everyone')"
    )
    print("provider registered: demo (issuer https://login.demo.example, RS256/ES256/EdDSA keys)")

now = int(time.time())
claims = {
    "iss": idp.issuer, "aud": idp.client_id, "sub": "00u-ada", "iat": now, "exp": now + 300,
    "jti": uuid.uuid4().hex, "email": "ada@demo.example", "name": "Ada Lovelace",
    "groups": ["engineering", "not-mapped"],
}
token = idp.mint(claims, alg="RS256")
print(f"ID token minted: {token[:40]}...")

with connect("demo_app") as app, app.transaction():
    user_id, created, groups = app.execute("select * from jit_login(%s)", (token,)).fetchone()
    print(f"jit_login -> user_id={user_id} created={created} groups={groups}")
    me = app.execute("select subject, email, name, login_count from jit.users").fetchone()
    print(f"the app role sees its own row through RLS: {me}")

with connect("postgres") as dba:
    print("jit.users:")
    for row in dba.execute("select provider, subject, email, name, login_count from jit.users"):
        print("  ", row)
    print("jit.memberships:")
    for row in dba.execute("select u.subject, m.group_name, m.source from jit.memberships m join jit.users u on u.id = m.user_id order by 2"):
        print("  ", row)
    print("jit.login_events:", json.dumps([r[0] for r in dba.execute("select outcome from jit.login_events")]))
