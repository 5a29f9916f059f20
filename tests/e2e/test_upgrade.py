"""Upgrades: each earlier version installed from its frozen script, then
ALTER EXTENSION ... UPDATE, must end exactly where a fresh install starts."""

import uuid

import pytest

from conftest import connect
from db import login
from idp import OidcIdP

# Every earlier release, each installed from its frozen script.
PREVIOUS = ["0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0"]


def catalog(conn):
    """Everything the extension owns, described so two databases compare."""
    objs = conn.execute("""
        select pg_describe_object(classid, objid, objsubid)
        from pg_depend d join pg_extension e on e.oid = d.refobjid
        where e.extname = 'jit_provision' and d.deptype = 'e' order by 1""").fetchall()
    funcs = conn.execute("""
        select p.oid::regprocedure::text, md5(p.prosrc), p.prosecdef, p.proconfig, p.provolatile,
               p.proacl::text, pg_get_function_result(p.oid), pg_get_function_arguments(p.oid)
        from pg_proc p where p.pronamespace = 'jit'::regnamespace or p.proname = 'jit_login'
        order by 1""").fetchall()
    cols = conn.execute("""
        select c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), c.relacl::text, c.relrowsecurity
        from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
        where c.relnamespace = 'jit'::regnamespace order by 1, 2""").fetchall()
    cons = conn.execute("""
        select conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        from pg_constraint where connamespace = 'jit'::regnamespace order by 1, 2""").fetchall()
    pols = conn.execute("select tablename, policyname, cmd, qual from pg_policies where schemaname = 'jit' order by 1, 2").fetchall()
    trgs = conn.execute("""
        select tgrelid::regclass::text, tgname, pg_get_triggerdef(oid), tgenabled from pg_trigger
        where not tgisinternal and tgrelid in (select oid from pg_class where relnamespace = 'jit'::regnamespace)
        order by 1, 2""").fetchall()
    indexes = conn.execute("select indexname, indexdef from pg_indexes where schemaname = 'jit' order by 1").fetchall()
    # Storage parameters (fillfactor) of tables and indexes.
    reloptions = conn.execute("""
        select relname, reloptions::text from pg_class
        where relnamespace = 'jit'::regnamespace and reloptions is not null order by 1""").fetchall()
    comments = conn.execute("""
        select d.classoid::regclass::text, pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description
        from pg_description d
        join pg_depend x on x.classid = d.classoid and x.objid = d.objoid and x.deptype = 'e'
        join pg_extension e on e.oid = x.refobjid and e.extname = 'jit_provision'
        order by 1, 2""").fetchall()
    dumped = conn.execute("""
        select array(select c::regclass::text from unnest(extconfig) c order by 1) from pg_extension
        where extname = 'jit_provision'""").fetchone()
    return {"objects": objs, "functions": funcs, "columns": cols, "constraints": cons,
            "policies": pols, "triggers": trgs, "indexes": indexes, "reloptions": reloptions, "comments": comments,
            "config_dump": dumped}


@pytest.fixture
def fresh_db(cluster):
    name = "t_" + uuid.uuid4().hex[:12]
    with connect("postgres") as c:
        c.execute(f"create database {name}")
    yield name
    with connect("postgres") as c:
        c.execute(f"drop database {name} with (force)")


@pytest.mark.parametrize("previous", PREVIOUS)
def test_update_from_previous_version_matches_a_fresh_install(fresh_db, dbname, previous):
    with connect(fresh_db) as old:
        old.execute(f"create extension jit_provision version '{previous}'")
        assert old.execute("select extversion from pg_extension where extname = 'jit_provision'").fetchone()[0] == previous
        idp = OidcIdP(name="acme", issuer="https://idp.example.com/acme", client_id="app-1")
        idp.register(old)
        first = login(old, idp.mint(idp.claims(sub="ann")))
        assert first["created"] is True

        old.execute("alter extension jit_provision update")
        current, default = old.execute(
            "select e.extversion, a.default_version from pg_extension e "
            "join pg_available_extensions a on a.name = e.extname where e.extname = 'jit_provision'").fetchone()
        assert current == default != previous

        # Data and behaviour survive the update, and the new version's functions work.
        again = login(old, idp.mint(idp.claims(sub="ann")))
        assert (again["user_id"], again["created"]) == (first["user_id"], False)
        assert old.execute("select count(*) from jit.cleanup()").fetchone()[0] == 1
        old.execute("update jit.providers set seat_limit = 2")
        assert login(old, idp.mint(idp.claims(sub="bob")))["created"] is True
        assert old.execute("select provider from jit.seat_claims").fetchall() == [("acme",)]
        # 0.4.0: the rejection log line masks U+2028 / U+2029 and C1 controls
        # in the token id too (jit._reject replaced).
        src = old.execute("select prosrc from pg_proc where oid = 'jit._reject'::regproc").fetchone()[0]
        assert "\\u2028" in src and "\\u2029" in src and "\\u0080-" in src

        with connect(dbname) as new:  # the dbname fixture installs the default version
            assert catalog(old) == catalog(new)
