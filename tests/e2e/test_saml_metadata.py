"""jit.saml_metadata: an IdP's SAML 2.0 metadata in, the columns of a
jit.providers row out (contract: sql-api.md, "Providers that keep themselves
current"). The fixtures are core/tests/metadata/*.xml; their test
certificates' private keys sit next to them, so a provider registered from
metadata can be logged in to."""

import datetime
import pathlib

import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from db import login
from saml_idp import SamlIdP, b64

METADATA = pathlib.Path(__file__).resolve().parents[2] / "core" / "tests" / "metadata"
SP_ENTITY_ID = "https://app.example.com/saml/metadata"
ACS_URL = "https://app.example.com/saml/acs"
ENTRA_ISSUER = "https://sts.windows.net/b1d4e5f6-7a8b-4c9d-8e0f-1a2b3c4d5e6f/"


def fixture(name):
    return (METADATA / name).read_text(encoding="utf-8")


def cert_pem(name):
    return (METADATA / "certs" / f"{name}.pem").read_text()


def refusal(conn, sql, params):
    """Runs a statement expecting an error; returns (sqlstate, message)."""
    with pytest.raises(psycopg.Error) as e:
        conn.execute(sql, params)
    return e.value.sqlstate, e.value.diag.message_primary


def test_google_workspace_metadata(admin):
    row = admin.execute(
        "select issuer, certificates, sso_url, valid_until from jit.saml_metadata(%s)",
        (fixture("google-workspace.xml"),),
    ).fetchone()
    assert row == (
        "https://accounts.google.com/o/saml2?idpid=C02x8kq7b",
        [cert_pem("google")],
        "https://accounts.google.com/o/saml2/idp?idpid=C02x8kq7b",
        datetime.datetime(2030, 3, 17, 10, 26, 47, tzinfo=datetime.timezone.utc),
    )


def test_adfs_rollover_signing_certificates_only(admin):
    certs, sso = admin.execute(
        "select certificates, sso_url from jit.saml_metadata(%s)", (fixture("adfs.xml"),)
    ).fetchone()
    assert certs == [cert_pem("adfs-signing"), cert_pem("adfs-signing-next")]
    assert sso == "https://adfs.contoso.com/adfs/ls/"


def test_provider_from_metadata_logs_users_in(admin, app):
    """The contract's statement, then a Response signed with the key of the
    certificate the metadata carried."""
    admin.execute(
        "insert into jit.providers (name, protocol, issuer, certificates, audiences, acs_urls) "
        "select 'entra', 'saml', issuer, certificates, array[%s], array[%s] "
        "from jit.saml_metadata(%s)",
        (SP_ENTITY_ID, ACS_URL, fixture("entra-id.xml")),
    )
    assert admin.execute(
        "select issuer, certificates from jit.providers where name = 'entra'"
    ).fetchone() == (ENTRA_ISSUER, [cert_pem("entra")])

    idp = SamlIdP(name="entra", issuer=ENTRA_ISSUER, sp_entity_id=SP_ENTITY_ID, acs_url=ACS_URL, style="entra")
    key = serialization.load_pem_private_key((METADATA / "keys" / "entra.key.pem").read_bytes(), password=None)
    cert = x509.load_pem_x509_certificate(cert_pem("entra").encode())
    xml = idp.sign(idp.build(name_id="grace.hopper@contoso.com"), what="assertion", key=key, cert=cert)
    r = login(app, b64(xml), "_req-3a5e1c2b9d")
    assert r["created"] is True


def test_several_idps_are_told_apart_by_issuer(admin):
    doc = fixture("federation.xml")
    assert refusal(admin, "select * from jit.saml_metadata(%s)", (doc,)) == (
        "22023",
        "2 identity providers in the metadata; pass issuer => to choose one",
    )
    issuer, certs, valid_until = admin.execute(
        "select issuer, certificates, valid_until from jit.saml_metadata(%s, issuer => %s)",
        (doc, "https://idp.uni-b.example.edu/idp/shibboleth"),
    ).fetchone()
    assert (issuer, certs) == ("https://idp.uni-b.example.edu/idp/shibboleth", [cert_pem("federation-b")])
    assert valid_until == datetime.datetime(2030, 6, 1, 12, tzinfo=datetime.timezone.utc)


def test_wrong_issuer_is_22023(admin):
    state, message = refusal(
        admin, "select * from jit.saml_metadata(%s, %s)", (fixture("okta.xml"), "https://evil.example.com")
    )
    assert state == "22023"
    assert message.startswith("no identity provider with entityID 'https://evil.example.com' in the metadata")


@pytest.mark.parametrize(
    "document, message",
    [
        (lambda: fixture("sp-only.xml"), "no SAML 2.0 IdP (IDPSSODescriptor) in the metadata"),
        (
            lambda: '<!DOCTYPE x [<!ENTITY a "b">]><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&a;"/>',
            "invalid metadata XML: DOCTYPE is not allowed (no DTDs, no entity declarations)",
        ),
        (lambda: fixture("okta.xml")[:500], "invalid metadata XML: "),
        (
            lambda: fixture("okta.xml").replace("<md:IDPSSODescriptor", "<!--" + "x" * (1 << 20) + "--><md:IDPSSODescriptor"),
            "invalid metadata XML: XML document is ",
        ),
        (
            lambda: fixture("okta.xml").replace('use="signing"', 'use="encryption"'),
            "no signing certificate for 'http://www.okta.com/exk8abc123DEF456ghi7' in the metadata",
        ),
    ],
    ids=["sp-only", "dtd", "malformed", "oversized", "no-signing-key"],
)
def test_refusals_are_22023(admin, document, message):
    state, got = refusal(admin, "select * from jit.saml_metadata(%s)", (document(),))
    assert state == "22023"
    assert got.startswith(message), got


def test_app_role_may_call_it(app):
    """A pure parser with no table access: EXECUTE is open to PUBLIC."""
    assert app.execute(
        "select issuer from jit.saml_metadata(%s)", (fixture("okta.xml"),)
    ).fetchone() == ("http://www.okta.com/exk8abc123DEF456ghi7",)
    state, _ = refusal(app, "select * from jit.saml_metadata(%s)", (fixture("sp-only.xml"),))
    assert state == "22023"


def test_null_document_gives_no_row(admin):
    assert admin.execute("select count(*) from jit.saml_metadata(null)").fetchone() == (0,)
