"""The provider's on_login hook: the application's own rows, atomically."""

import psycopg
import pytest

from db import login, rejection, snapshot

APP_TABLES = """
create role hook_owner nologin;
create schema appdata authorization hook_owner;
create table appdata.accounts (user_id uuid primary key, email text, plan text);
alter table appdata.accounts owner to hook_owner;
create function appdata.provision(user_id uuid, identity jsonb) returns void
language sql as $$
    insert into appdata.accounts values (user_id, identity ->> 'email', 'free')
    on conflict (user_id) do update set email = excluded.email
$$;
alter function appdata.provision(uuid, jsonb) owner to hook_owner;
create function appdata.refuse(user_id uuid, identity jsonb) returns void
language plpgsql as $$
begin
    insert into appdata.accounts values (user_id, identity ->> 'email', 'doomed');
    raise exception 'tenant is suspended';
end $$;
alter function appdata.refuse(uuid, jsonb) owner to hook_owner;
"""


@pytest.fixture
def hooks(admin):
    admin.execute("do $$ begin if exists (select from pg_roles where rolname = 'hook_owner') then "
                  "execute 'drop owned by hook_owner cascade'; end if; end $$")
    admin.execute("drop role if exists hook_owner")
    admin.execute(APP_TABLES)
    yield
    admin.execute("drop schema appdata cascade; drop owned by hook_owner; drop role hook_owner")


def test_hook_writes_the_application_row(idp, app, admin, hooks):
    admin.execute("update jit.providers set on_login = 'appdata.provision(uuid, jsonb)' where name = 'acme'")
    r = login(app, idp.mint(idp.claims(sub="erin", email="erin@example.com")))
    assert admin.execute("select user_id, email, plan from appdata.accounts").fetchall() == [
        (r["user_id"], "erin@example.com", "free")]


def test_failing_hook_rolls_the_login_back(idp, app, admin, hooks):
    admin.execute("update jit.providers set on_login = 'appdata.refuse(uuid, jsonb)' where name = 'acme'")
    before = snapshot(admin)
    with pytest.raises(psycopg.errors.RaiseException, match="tenant is suspended"):
        login(app, idp.mint(idp.claims(sub="frank")))
    assert snapshot(admin) == before
    assert admin.execute("select count(*) from appdata.accounts").fetchone()[0] == 0


def test_hook_runs_as_its_owner_not_as_superuser(idp, app, admin, hooks):
    admin.execute("""
        create function appdata.whoami(user_id uuid, identity jsonb) returns void
        language sql as $$ insert into appdata.accounts values (user_id, current_user, session_user) $$;
        alter function appdata.whoami(uuid, jsonb) owner to hook_owner;
        update jit.providers set on_login = 'appdata.whoami(uuid, jsonb)' where name = 'acme';
    """)
    login(app, idp.mint(idp.claims(sub="gina")))
    assert admin.execute("select email, plan from appdata.accounts").fetchone() == ("hook_owner", "jit_app")


def test_hook_owner_cannot_escalate(idp, app, admin, hooks):
    # A role that owns the hook gains nothing: superuser-only work fails.
    admin.execute("""
        create function appdata.escalate(user_id uuid, identity jsonb) returns void
        language plpgsql as $$ begin execute 'alter role jit_app superuser'; end $$;
        alter function appdata.escalate(uuid, jsonb) owner to hook_owner;
        update jit.providers set on_login = 'appdata.escalate(uuid, jsonb)' where name = 'acme';
    """)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        login(app, idp.mint(idp.claims(sub="hank")))
    assert admin.execute("select rolsuper from pg_roles where rolname = 'jit_app'").fetchone()[0] is False


def test_hook_signature_is_checked_on_write(idp, admin):
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=r"must take \(uuid, jsonb\)"):
        admin.execute("update jit.providers set on_login = 'pg_catalog.lower(text)' where name = 'acme'")
