"""One cluster, several databases; and DROP EXTENSION cleans up after itself."""

import json
import uuid

import pytest

from conftest import APP_ROLE, connect
from db import login, rejection
from idp import OidcIdP


@pytest.fixture
def make_db(cluster):
    made = []

    def make(extension=True):
        name = "m_" + uuid.uuid4().hex[:12]
        with connect("postgres") as c:
            c.execute(f"create database {name}")
        if extension:
            with connect(name) as c:
                c.execute("create extension jit_provision")
        made.append(name)
        return name

    yield make
    with connect("postgres") as c:
        for name in made:
            c.execute(f"drop database {name} with (force)")


def test_two_databases_at_once(make_db):
    one, two = make_db(), make_db()
    # Same provider name, different issuers and keys in each database.
    idp1 = OidcIdP(name="corp", issuer="https://one.example.com", client_id="app-1")
    idp2 = OidcIdP(name="corp", issuer="https://two.example.com", client_id="app-2")
    with connect(one) as a1, connect(two) as a2, \
            connect(one, user=APP_ROLE) as app1, connect(two, user=APP_ROLE) as app2:
        idp1.register(a1)
        idp2.register(a2)
        a1.execute("insert into jit.group_map values ('corp', '*', 'one-users')")
        a2.execute("insert into jit.group_map values ('corp', '*', 'two-users')")

        # Interleaved logins on two open connections, each to its own database.
        for round_ in range(3):
            r1 = login(app1, idp1.mint(idp1.claims(sub="alice")))
            r2 = login(app2, idp2.mint(idp2.claims(sub="alice")))
            assert (r1["created"], r2["created"]) == (round_ == 0, round_ == 0)
            assert (r1["groups"], r2["groups"]) == (["one-users"], ["two-users"])
        assert r1["user_id"] != r2["user_id"]

        # Neither database knows the other's provider or keys.
        assert rejection(app1, idp2.mint(idp2.claims(sub="bob"))) == ("28000", "unknown_issuer")
        assert rejection(app2, idp1.mint(idp1.claims(sub="bob"))) == ("28000", "unknown_issuer")
        # A key change in one database does not reach the other.
        rogue = OidcIdP(name="corp", issuer="https://two.example.com", client_id="app-2")
        a1.execute("update jit.providers set issuer = 'https://two.example.com', audiences = '{app-2}', jwks = %s",
                   (json.dumps(rogue.jwks()),))
        assert login(app1, rogue.mint(rogue.claims(sub="carol")))["created"] is True
        assert rejection(app2, rogue.mint(rogue.claims(sub="carol"))) == ("28000", "bad_signature")
        assert login(app2, idp2.mint(idp2.claims(sub="carol")))["created"] is True

        for a, n in ((a1, 2), (a2, 2)):
            assert a.execute("select count(*) from jit.users").fetchone()[0] == n
            assert a.execute("select count(*) from jit.login_events where outcome = 'created'").fetchone()[0] == n


CATALOG = {
    "namespaces": "select nspname from pg_namespace",
    "functions": "select p.oid::regprocedure::text from pg_proc p",
    "types": "select t.oid::regtype::text from pg_type t",
    "relations": "select c.oid::regclass::text from pg_class c",
    "extensions": "select extname from pg_extension",
    "policies": "select polname from pg_policy",
    "triggers": "select tgrelid::regclass::text || '.' || tgname from pg_trigger where not tgisinternal",
    "internal triggers": "select count(*) from pg_trigger where tgisinternal",
    "role dependencies": "select count(*) from pg_shdepend where dbid = "
                         "(select oid from pg_database where datname = current_database())",
    "event triggers": "select evtname from pg_event_trigger",
    "init privileges": "select pg_describe_object(classoid, objoid, objsubid) from pg_init_privs",
    "casts": "select pg_describe_object('pg_cast'::regclass, oid, 0) from pg_cast",
    "operators": "select oid::regoperator::text from pg_operator",
}


def catalog(conn):
    """Names of everything in the database's catalogs (TOAST tables and
    foreign-key triggers are named by oid: those are counted instead)."""
    out = {k: set(r[0] for r in conn.execute(q)) for k, q in CATALOG.items()}
    out["relations"] = {r for r in out["relations"] if not r.startswith("pg_toast.")}
    out["toast tables"] = conn.execute("select count(*) from pg_class where relnamespace = 'pg_toast'::regnamespace"
                                       ).fetchone()[0]
    return out


def test_drop_extension_leaves_nothing_behind(make_db):
    name = make_db(extension=False)
    with connect(name) as c:
        before = catalog(c)
        c.execute("create extension jit_provision")
        during = catalog(c)
        # Sanity: the comparison sees what the extension creates.
        assert "jit" in during["namespaces"] - before["namespaces"]
        assert {"jit_login(text,text)", "jit.cleanup(timestamp with time zone,boolean,double precision)",
                "jit.deprovision(text,text[])"} <= during["functions"] - before["functions"]
        assert {"jit.login_result", "jit.users"} <= during["types"] - before["types"]
        assert "jit.users" in during["relations"] - before["relations"]

        # Use it, so that caches, sequences and rows exist.
        idp = OidcIdP(name="acme", issuer="https://idp.example.com/acme", client_id="app-1")
        idp.register(c)
        c.execute("insert into jit.group_map values ('acme', '*', 'everyone')")
        login(c, idp.mint())
        c.execute(f"grant execute on function jit.cleanup to {APP_ROLE}")

        c.execute("drop extension jit_provision")
        after = catalog(c)
        assert after == before
        assert c.execute("select count(*) from pg_proc where proname like 'jit%' "
                         "or prosrc like '%jit_provision%'").fetchone()[0] == 0

        # And it can be created again, clean.
        c.execute("create extension jit_provision")
        assert catalog(c) == during
        assert c.execute("select count(*) from jit.users").fetchone()[0] == 0
