"""What a plain application role can and cannot do, and what cannot be forged."""

import psycopg
import pytest

from db import login


@pytest.mark.parametrize("statement", [
    "select * from jit.providers",
    "insert into jit.providers (name, protocol, issuer, audiences) values ('x', 'oidc', 'x', '{x}')",
    "select * from jit.claim_map",
    "select * from jit.group_map",
    "select * from jit.seen_tokens",
    "delete from jit.seen_tokens",
    "update jit.users set blocked = false",
    "insert into jit.memberships (user_id, group_name) values (gen_random_uuid(), 'admins')",
    "select jit.verify('x')",
    "select jit._verify('x', null, null)",
    "select jit._apply_login('{}', '{}')",
    "select jit._validate_provider('{}')",
    "select jit._config_changed(0)",
    "select * from jit.refresh()",
    "select * from jit._refresh(null)",
    "select * from jit._fetch_keys('oidc', 'x', 'https://127.0.0.1/', null)",
    "select jit._http_get('https://127.0.0.1/')",
    "select * from jit.provider_status",
])
def test_app_role_is_refused(idp, app, statement):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute(statement)


def test_login_events_are_admin_only(idp, app):
    login(app, idp.mint())
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute("select * from jit.login_events")


def test_rls_hides_other_users(idp, app, admin):
    login(app, idp.mint(idp.claims(sub="ann")))
    login(app, idp.mint(idp.claims(sub="ben")))
    with app.transaction():
        app.execute("select jit_login(%s)", (idp.mint(idp.claims(sub="ann")),))
        assert app.execute("select subject from jit.users").fetchall() == [("ann",)]
    assert app.execute("select count(*) from jit.users").fetchone()[0] == 0
    assert app.execute("select count(*) from jit.memberships").fetchone()[0] == 0


def test_forged_settings_do_not_make_an_identity(idp, app, admin):
    r = login(app, idp.mint(idp.claims(sub="ann")))
    with app.transaction():
        for stmt in (f"set local jit.current_user_id = '{r['user_id']}'",
                     f"select set_config('jit.user_id', '{r['user_id']}', true)",
                     f"set local jit.identity = '{r['user_id']}'"):
            app.execute(stmt)
        assert app.execute("select jit.current_user_id(), jit.current_groups()").fetchone() == (None, None)
        assert app.execute("select count(*) from jit.users").fetchone()[0] == 0


def test_identity_does_not_survive_a_rolled_back_savepoint(idp, app):
    with app.transaction():
        try:
            with app.transaction():  # savepoint
                app.execute("select jit_login(%s)", (idp.mint(),))
                assert app.execute("select jit.current_user_id()").fetchone()[0] is not None
                raise RuntimeError("roll back to savepoint")
        except RuntimeError:
            pass
        assert app.execute("select jit.current_user_id()").fetchone()[0] is None


def test_identity_survives_a_released_savepoint(idp, app):
    with app.transaction():
        with app.transaction():
            uid = app.execute("select user_id from jit_login(%s)", (idp.mint(),)).fetchone()[0]
        assert app.execute("select jit.current_user_id()").fetchone()[0] == uid


def test_security_definer_functions_pin_search_path(admin):
    rows = admin.execute("""
        select p.oid::regprocedure::text, p.proconfig
        from pg_proc p join pg_depend d on d.objid = p.oid and d.deptype = 'e'
        join pg_extension e on e.oid = d.refobjid and e.extname = 'jit_provision'
        where p.prosecdef""").fetchall()
    assert {name for name, _ in rows} >= {"jit_login(text,text)", "jit.verify(text,text,timestamp with time zone)"}
    for name, config in rows:
        assert config == ["search_path=pg_catalog, jit, pg_temp"], name


def test_jit_login_is_callable_unqualified_with_default_search_path(idp, app):
    assert app.execute("show search_path").fetchone()[0] == '"$user", public'
    assert login(app, idp.mint())["created"] is True


def test_verify_at_is_for_admins(idp, app, admin):
    admin.execute("grant execute on function jit.verify(text, text, timestamptz) to jit_app")
    token = idp.mint()
    assert app.execute("select jit.verify(%s) ->> 'subject'", (token,)).fetchone()[0] == "alice"
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute("select jit.verify(%s, null, now() - interval '1 day')", (token,))
    assert admin.execute("select jit.verify(%s, null, now() + interval '3 minutes') ->> 'subject'",
                         (idp.mint(),)).fetchone()[0] == "alice"


def test_claim_map_field_outside_contract_is_refused(idp, admin):
    with pytest.raises(psycopg.errors.CheckViolation):
        admin.execute("insert into jit.claim_map values ('acme', 'password', 'pwd')")
    admin.execute("insert into jit.claim_map values ('acme', 'attributes.dept', 'department')")


def test_verify_at_judges_as_of_that_instant(idp, admin):
    token = idp.mint()
    with pytest.raises(psycopg.Error, match="^expired"):
        admin.execute("select jit.verify(%s, null, now() + interval '10 minutes')", (token,))


def test_a_delegated_admin_reads_provider_status(idp, admin, dbname):
    """An admin role given SELECT on the view can read it: the view calls
    jit._key_inventory with the reader's rights, and that pure function is
    open to everyone (it reads nothing but its arguments)."""
    from conftest import connect

    admin.execute("do $$ begin if not exists (select from pg_roles where rolname = 'keyadmin') "
                  "then create role keyadmin login; end if; end $$")
    admin.execute("grant select on jit.provider_status to keyadmin")
    admin.execute("grant execute on function jit.refresh(text) to keyadmin")
    with connect(dbname, user="keyadmin") as ka:
        rows = ka.execute("select provider, keys from jit.provider_status").fetchall()
        assert rows == [(idp.name, [k["kid"] for k in idp.jwks()["keys"]])]
        # No discovery_url anywhere: nothing to refresh, and no error.
        assert ka.execute("select * from jit.refresh()").fetchall() == []
