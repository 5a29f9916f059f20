"""README's "Keeping keys current" blocks, run as written: the URLs point at
a local HTTPS identity provider (its own test CA, trusted through
jit_provision.http_ca_file), everything else is the README's text."""

import json
import os
import re
import subprocess

from conftest import connect
from db import login
from https_server import HttpsServer, TestCA
from idp import OidcIdP
from saml_idp import SamlIdP, b64

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
METADATA_FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "core", "tests", "metadata",
                                "entra-id.xml")
GOOGLE_DISCOVERY = "https://accounts.google.com/.well-known/openid-configuration"
OKTA_METADATA = "https://example.okta.com/app/exk1a2b3c4d5/sso/saml/metadata"


def blocks():
    text = open(README).read()
    return re.findall(r"<!-- tested: tests/e2e/test_readme_refresh.py -->\n```sql\n(.*?)```", text, re.S)


def test_readme_marks_three_blocks():
    assert len(blocks()) == 3


def okta_metadata(idp):
    cert = "".join(l for l in idp.cert_pem("rsa").splitlines() if not l.startswith("-----"))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{idp.issuer}">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://example.okta.com/app/exk1a2b3c4d5/sso/saml"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"""


def test_register_by_url_and_refresh(admin, dbname):
    register, cron, _ = blocks()
    google = OidcIdP(name="google", issuer="https://accounts.google.com",
                     client_id="1234-abc.apps.googleusercontent.com")
    okta = SamlIdP(name="okta-saml", issuer="http://www.okta.com/exk1a2b3c4d5",
                   sp_entity_id="https://app.example.com/saml/metadata",
                   acs_url="https://app.example.com/saml/acs")
    ca = TestCA()
    with HttpsServer(ca) as srv:
        srv.route("/.well-known/openid-configuration", 200, {"Content-Type": "application/json"},
                  json.dumps({"issuer": google.issuer, "jwks_uri": srv.url("/jwks")}))
        srv.route("/jwks", 200, {"Content-Type": "application/json"}, json.dumps(google.jwks()))
        srv.route("/saml/metadata", 200, {"Content-Type": "application/xml"}, okta_metadata(okta))
        admin.execute("select set_config(%s, %s, false)", ("jit_provision.http_ca_file", ca.write_pem()))
        assert GOOGLE_DISCOVERY in register and OKTA_METADATA in register
        sql = (register.replace(GOOGLE_DISCOVERY, srv.url("/.well-known/openid-configuration"))
                       .replace(OKTA_METADATA, srv.url("/saml/metadata")))
        # Statements in order; what follows the last ";" is a comment.
        statements = [s.strip() for s in sql.split(";") if s.strip() and not s.strip().startswith("--")]
        for s in statements[:-1]:
            admin.execute(s)
        rows = admin.execute(statements[-1]).fetchall()
    assert [(r[0], r[1], r[3]) for r in rows] == [("google", True, None), ("okta-saml", True, None)]
    assert rows[0][2] == [k["kid"] for k in google.jwks()["keys"]]
    with connect(dbname, user="jit_app") as app:
        assert login(app, google.mint(google.claims(sub="g-1")))["created"] is True
        r = login(app, b64(okta.issue(what="assertion", signer="xmlsec1", family="rsa",
                                      name_id="ann@example.com")))
        assert r["created"] is True

    # The scheduled command is the one just run.
    m = re.fullmatch(r"select cron\.schedule\('jit-refresh', '\*/15 \* \* \* \*', '(.*)'\);\n", cron)
    assert m and m.group(1) == "select * from jit.refresh()"


def test_metadata_file_in_psql(admin, dbname, tmp_path):
    from conftest import HOST, PORT

    _, _, psql_block = blocks()
    fixture = open(METADATA_FIXTURE).read()
    (tmp_path / "federationmetadata.xml").write_text(fixture)
    (tmp_path / "register.sql").write_text(psql_block)
    out = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-h", HOST, "-p", str(PORT), "-U", "postgres",
                          "-d", dbname, "-f", "register.sql"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    issuer = re.search(r'entityID="([^"]+)"', fixture).group(1)
    row = admin.execute("select issuer, cardinality(certificates) from jit.providers where name = 'entra'").fetchone()
    assert row == (issuer, 1)
    keys = admin.execute("select keys from jit.provider_status where provider = 'entra'").fetchone()[0]
    assert len(keys) == 1 and re.fullmatch(r"[0-9a-f]{64}", keys[0])
