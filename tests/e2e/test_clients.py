"""The example programs in examples/clients (Python psycopg 3, Node pg, Java
JDBC, Go pgx v4, Ruby pg) against a real cluster as the application role:
the user they print is the row in jit.users, the groups are the mapped ones,
the RLS-protected `notes` show the caller's rows only, and a replayed token
comes back to each stack as SQLSTATE 28000 with the reason `replayed`."""

import pytest

from clients_util import GROUP_MAP, LANGUAGES, TcpRelay, check_program, conn_string, create_notes
from clients_util import programs  # noqa: F401 - a fixture
from conftest import APP_ROLE, HOST, PORT


@pytest.fixture(scope="module")
def relay():
    r = TcpRelay(HOST, PORT)
    yield r
    r.close()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_client_program(lang, admin, idp, dbname, programs, relay):
    create_notes(admin)
    admin.execute(GROUP_MAP, (idp.name, idp.name))
    if lang == "java":
        # JDBC speaks TCP only; the test cluster listens on a unix socket.
        conninfo = conn_string(lang, "127.0.0.1", relay.port, dbname, APP_ROLE)
    else:
        conninfo = conn_string(lang, HOST, PORT, dbname, APP_ROLE)
    check_program(programs(lang), conninfo, admin, idp, lang)
