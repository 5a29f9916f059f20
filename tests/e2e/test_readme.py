"""The README's SQL and its verify_loop command, run as written (placeholders
filled in), so the front door stays true."""

import base64
import json
import os
import re
import subprocess

import psycopg

from conftest import connect
from db import login
from idp import OidcIdP

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
JWKS_PLACEHOLDER = "'{\"keys\": [ ... the IdP''s JWKS document ... ]}'"


def readme_blocks():
    text = open(README).read()
    return re.findall(r"<!-- tested: tests/e2e/test_readme.py -->\n```sql\n(.*?)```", text, re.S)


def test_readme_marks_five_blocks():
    assert len(readme_blocks()) == 5


def test_dba_configuration_example(admin, dbname):
    config, _, hook, _, _ = readme_blocks()
    okta = OidcIdP(name="okta-prod", issuer="https://example.okta.com/oauth2/default", client_id="0oa1b2c3d4e5f6g7h8i9")
    assert JWKS_PLACEHOLDER in config
    admin.execute(config.replace(JWKS_PLACEHOLDER, "'" + json.dumps(okta.jwks()) + "'"))
    with connect(dbname, user="jit_app") as app:
        claims = okta.claims(sub="00u1", email="ann@example.com", department="R&D",
                             realm_access={"roles": ["Engineering", "Sales"]})
        r = login(app, okta.mint(claims, alg="ES256"))
        assert r["groups"] == ["developers", "everyone"]
        attrs = admin.execute("select attributes from jit.users").fetchone()[0]
        assert attrs == {"department": "R&D"}
        admin.execute(hook)
        r = login(app, okta.mint(okta.claims(sub="00u2", email="bo@example.com")))
        assert admin.execute("select user_id, email, plan from accounts").fetchall() == [
            (r["user_id"], "bo@example.com", "free")]


def test_rls_example(admin, dbname):
    _, _, _, rls, _ = readme_blocks()
    admin.execute("do $$ begin if not exists (select from pg_roles where rolname = 'app') "
                  "then create role app login; end if; end $$")
    idp = OidcIdP(name="acme", issuer="https://idp.example.com/acme", client_id="app-1")
    idp.register(admin)
    admin.execute(rls)
    with connect(dbname, user="app", autocommit=False) as app:
        for who in ("ann", "ben"):
            with app.transaction():
                app.execute("select user_id from jit_login(%s)", (idp.mint(idp.claims(sub=who)),))
                app.execute("insert into notes (body) values (%s)", (f"{who}'s note",))
                assert app.execute("select body from notes").fetchall() == [(f"{who}'s note",)]
        with app.transaction():
            # No login in this transaction: no identity, no rows, no inserts.
            assert app.execute("select jit.current_user_id()").fetchone()[0] is None
            assert app.execute("select body from notes").fetchall() == []
        with app.transaction():
            app.execute("select set_config('jit.current_user_id', %s, true)",
                        (str(admin.execute("select id from jit.users limit 1").fetchone()[0]),))
            assert app.execute("select jit.current_user_id()").fetchone()[0] is None
        try:
            with app.transaction():
                app.execute("insert into notes (body) values ('anonymous')")
            raise AssertionError("insert without identity was allowed")
        except psycopg.errors.InsufficientPrivilege:
            pass
    assert admin.execute("select count(*) from notes").fetchone()[0] == 2


def test_offboarding_from_csv_with_psql(admin, dbname, tmp_path):
    from conftest import HOST, PORT

    *_, offboard = readme_blocks()
    idp = OidcIdP(name="okta-prod", issuer="https://example.okta.com/oauth2/default", client_id="c")
    idp.register(admin)
    with connect(dbname, user="jit_app") as app:
        for sub in ("00u1abcd", "00u2keep"):
            login(app, idp.mint(idp.claims(sub=sub)))
    (tmp_path / "offboard.csv").write_text("provider,subject\nokta-prod,00u1abcd\n")
    (tmp_path / "offboard.sql").write_text(offboard)
    out = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-h", HOST, "-p", str(PORT), "-U", "postgres",
                          "-d", dbname, "-f", "offboard.sql"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "okta-prod |       1" in out.stdout
    rows = admin.execute("select subject, blocked, disabled_at is not null from jit.users order by 1").fetchall()
    assert rows == [("00u1abcd", True, True), ("00u2keep", False, False)]
    with connect(dbname, user="jit_app") as app:
        from db import rejection

        assert rejection(app, idp.mint(idp.claims(sub="00u1abcd"))) == ("28000", "user_blocked")


def test_saml_provider_example(admin, dbname):
    from saml_idp import SamlIdP, b64

    _, saml, *_ = readme_blocks()
    entra = SamlIdP(name="entra", issuer="https://sts.windows.net/00000000-0000-0000-0000-000000000000/",
                    sp_entity_id="https://app.example.com/saml/metadata",
                    acs_url="https://app.example.com/saml/acs", style="entra")
    placeholder = "'-----BEGIN CERTIFICATE----- ... the IdP''s signing certificate ... -----END CERTIFICATE-----'"
    assert placeholder in saml
    admin.execute(saml.replace(placeholder, "'" + entra.cert_pem("rsa") + "'"))
    with connect(dbname, user="jit_app") as app:
        r = login(app, b64(entra.issue(what="assertion", signer="xmlsec1", family="rsa",
                                       name_id="ann@example.com")))
        assert r["created"] is True
    assert admin.execute("select provider, subject from jit.users").fetchone() == ("entra", "ann@example.com")


def verify_loop_command():
    """The README's `verify_loop` command as an argument list."""
    text = open(README).read()
    block = re.search(r"```sh\n(cargo run [^`]*?--example verify_loop[^`]*?)```", text, re.S).group(1)
    return block.replace("\\\n", " ").split()


def test_verify_loop_command_times_a_fresh_response(tmp_path):
    import time

    from saml_idp import SamlIdP

    idp = SamlIdP(name="loop-saml")
    xml = idp.issue(what="assertion", signer="xmlsec1", family="rsa", lifetime=3600)
    files = {"TOKEN_FILE": tmp_path / "token.xml", "CERT_PEM": tmp_path / "cert.pem"}
    files["TOKEN_FILE"].write_text(xml)
    files["CERT_PEM"].write_text(idp.cert_pem("rsa"))
    values = {**{k: str(v) for k, v in files.items()}, "ISSUER": idp.issuer, "AUDIENCE": idp.sp_entity_id,
              "ACS_URL": idp.acs_url, "UNIX_TIME": str(int(time.time()))}
    cmd = [values.get(a, a) for a in verify_loop_command()] + ["20"]
    root = os.path.dirname(README)
    out = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert re.search(r"^20 iterations of .*token\.xml:$", out.stdout, re.M), out.stdout
    # The total, then time, allocations and bytes per phase.
    for phase in ("parse \\(token::parse\\)", "verify \\(token::verify\\)", "TOTAL parse \\+ verify",
                  "base64 decode", "XML parse", "reference c14n \\+ SHA-256", "SignedInfo c14n \\+ RSA",
                  "rest of verify"):
        assert re.search(rf"^  {phase} +[\d.]+ µs +\d+ allocs +\d+ bytes$", out.stdout, re.M), (phase, out.stdout)
    # It times verifications that pass, never rejections: a changed byte stops it.
    files["TOKEN_FILE"].write_text(xml.replace(idp.sp_entity_id, idp.sp_entity_id + "x"))
    out = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    assert out.returncode != 0
    assert "token verifies" in out.stderr


def test_verify_loop_token_script_mints_the_measured_response(tmp_path):
    """The README's second verify_loop block, run as written with DIR
    replaced and fewer iterations: a 9.6 KB Response that verifies."""
    text = open(README).read()
    block = re.search(r"```sh\n(ARGS=\$\(.venv/bin/python scripts/verify-loop-token.py DIR\)[^`]*?)```",
                      text, re.S).group(1)
    script = block.replace("DIR", str(tmp_path)).replace(" 5000", " 20")
    root = os.path.dirname(README)
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert re.search(r"^  TOTAL parse \+ verify +[\d.]+ µs", out.stdout, re.M), out.stdout
    assert re.search(r"^  XML parse +[\d.]+ µs", out.stdout, re.M), out.stdout
    xml = base64.b64decode((tmp_path / "token.b64").read_text())
    assert 9600 <= len(xml) < 10000, len(xml)
    assert b"SignatureValue" in xml
