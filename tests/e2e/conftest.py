"""End-to-end fixtures: a private cluster (started by scripts/test), a fresh
database per test with the extension installed, an application role that is
not a superuser, and an identity provider that signs real tokens."""

import os
import uuid

import psycopg
import pytest

from idp import OidcIdP

HOST = os.environ.get("JIT_PGHOST", "/tmp/jit_provision/test/sock")
PORT = int(os.environ.get("JIT_PGPORT", "54361"))
APP_ROLE = "jit_app"


def connect(dbname, user="postgres", autocommit=True):
    return psycopg.connect(host=HOST, port=PORT, dbname=dbname, user=user, autocommit=autocommit)


@pytest.fixture(scope="session")
def cluster():
    with connect("postgres") as c:
        c.execute(
            f"do $$ begin if not exists (select from pg_roles where rolname = '{APP_ROLE}') "
            f"then create role {APP_ROLE} login nosuperuser; end if; end $$"
        )
    return {"host": HOST, "port": PORT}


@pytest.fixture
def dbname(cluster):
    name = "t_" + uuid.uuid4().hex[:12]
    with connect("postgres") as c:
        c.execute(f"create database {name}")
    with connect(name) as c:
        c.execute("create extension jit_provision")
    yield name
    with connect("postgres") as c:
        c.execute(f"drop database {name} with (force)")


@pytest.fixture
def admin(dbname):
    """A superuser connection: the DBA."""
    with connect(dbname) as c:
        yield c


@pytest.fixture
def app(dbname):
    """The application's connection: a plain role with default privileges."""
    with connect(dbname, user=APP_ROLE) as c:
        yield c


@pytest.fixture
def idp(admin):
    """An OIDC provider registered in the database, with fresh keys."""
    p = OidcIdP(name="acme", issuer="https://idp.example.com/acme", client_id="app-1")
    p.register(admin)
    return p
