"""Identity providers that rotate their keys, for the jit.refresh tests: an
OIDC provider with named RSA keys (kid per key) and a SAML provider with
named signing certificates, each able to publish the chosen keys on a local
HttpsServer (tests/e2e/https_server.py) as discovery + JWKS or as SAML 2.0
metadata."""

import base64
import datetime
import hashlib
import json
import time
import uuid
from xml.sax.saxutils import escape, quoteattr

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import RSAAlgorithm

from saml_idp import SamlIdP, b64, new_key

METADATA_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
PROTOCOL_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
JSON = {"Content-Type": "application/json"}
XML = {"Content-Type": "application/samlmetadata+xml"}


def cert_with_validity(key, common_name, days, not_before_days=1):
    """A self-signed certificate for `key` valid from `not_before_days` ago
    until `days` from now."""
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Identity"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=not_before_days))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def fingerprint(cert):
    """Lowercase hex SHA-256 of the DER: what jit.refresh and
    jit.provider_status list for a SAML certificate."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


class RotatingOidcIdP:
    """An OIDC provider with RSA keys named by label; kid = '<name>-<label>'."""

    def __init__(self, name, issuer, client_id="app-1"):
        self.name = name
        self.issuer = issuer
        self.client_id = client_id
        self.keys = {}

    def add_key(self, label):
        self.keys[label] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self.kid(label)

    def kid(self, label):
        return f"{self.name}-{label}"

    def jwk(self, label):
        d = json.loads(RSAAlgorithm.to_jwk(self.keys[label].public_key()))
        d.update(kid=self.kid(label), use="sig", alg="RS256")
        return d

    def jwks(self, *labels):
        return {"keys": [self.jwk(label) for label in labels]}

    def discovery(self, jwks_uri, issuer=None):
        """An OpenID Provider Configuration shaped like the ones Okta and
        Keycloak serve."""
        iss = self.issuer if issuer is None else issuer
        return {
            "issuer": iss,
            "authorization_endpoint": f"{iss}/protocol/openid-connect/auth",
            "token_endpoint": f"{iss}/protocol/openid-connect/token",
            "userinfo_endpoint": f"{iss}/protocol/openid-connect/userinfo",
            "jwks_uri": jwks_uri,
            "response_types_supported": ["code", "id_token", "code id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "scopes_supported": ["openid", "email", "profile"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "email", "name"],
        }

    def publish(self, srv, *labels, issuer=None, prefix=""):
        """Serves {prefix}/.well-known/openid-configuration and {prefix}/jwks
        on `srv`, the JWKS holding the keys `labels`; returns the discovery
        URL."""
        srv.route(f"{prefix}/.well-known/openid-configuration", 200, JSON,
                  json.dumps(self.discovery(srv.url(f"{prefix}/jwks"), issuer)))
        srv.route(f"{prefix}/jwks", 200, JSON, json.dumps(self.jwks(*labels)))
        return srv.url(f"{prefix}/.well-known/openid-configuration")

    def register(self, conn, discovery_url=None, jwks_labels=None, **columns):
        """Inserts the provider: with a discovery_url and no keys, or with the
        keys `jwks_labels` pinned."""
        cols = {"name": self.name, "protocol": "oidc", "issuer": self.issuer,
                "audiences": [self.client_id]}
        if discovery_url is not None:
            cols["discovery_url"] = discovery_url
        if jwks_labels is not None:
            cols["jwks"] = json.dumps(self.jwks(*jwks_labels))
        cols.update(columns)
        conn.execute(f"insert into jit.providers ({', '.join(cols)}) "
                     f"values ({', '.join(['%s'] * len(cols))})", list(cols.values()))

    def mint(self, label, sub="alice"):
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "sub": sub, "iat": now,
                  "exp": now + 300, "jti": uuid.uuid4().hex, "email": f"{sub}@example.com"}
        return jwt.encode(claims, self.keys[label], algorithm="RS256",
                          headers={"kid": self.kid(label), "typ": "JWT"})


class RollingSamlIdP(SamlIdP):
    """A SAML IdP whose signing certificates are named by label (RSA-2048,
    self-signed), publishing the ones it chooses in its metadata."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.signing = {}  # label -> (key, cert)

    def add_cert(self, label, days=3650):
        key = new_key("rsa")
        self.signing[label] = (key, cert_with_validity(key, f"{self.name}-{label}", days))
        return self.fingerprint(label)

    def pem(self, label):
        return pem(self.signing[label][1])

    def fingerprint(self, label):
        return fingerprint(self.signing[label][1])

    def metadata(self, *labels, entity_id=None, encryption=None):
        """EntityDescriptor with an IDPSSODescriptor: one signing KeyDescriptor
        per label in order, and an encryption-only one for `encryption`."""
        def key_descriptor(label, use):
            der = self.signing[label][1].public_bytes(serialization.Encoding.DER)
            b64 = base64.b64encode(der).decode()
            return (f'<md:KeyDescriptor use="{use}"><ds:KeyInfo xmlns:ds="{DSIG_NS}"><ds:X509Data>'
                    f"<ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
                    "</md:KeyDescriptor>")

        eid = self.issuer if entity_id is None else entity_id
        keys = "".join(key_descriptor(label, "signing") for label in labels)
        if encryption is not None:
            keys += key_descriptor(encryption, "encryption")
        sso = "https://idp.example.test/sso/saml"
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<md:EntityDescriptor xmlns:md="{METADATA_NS}" entityID={quoteattr(eid)}>'
            f'<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="{PROTOCOL_NS}">'
            f"{keys}"
            "<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>"
            '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
            f"Location={quoteattr(sso)}/>"
            '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
            f"Location={quoteattr(sso)}/>"
            "</md:IDPSSODescriptor>"
            f"<md:Organization><md:OrganizationName xml:lang=\"en\">{escape(self.name)}</md:OrganizationName>"
            f"<md:OrganizationDisplayName xml:lang=\"en\">{escape(self.name)}</md:OrganizationDisplayName>"
            '<md:OrganizationURL xml:lang="en">https://idp.example.test/</md:OrganizationURL></md:Organization>'
            "</md:EntityDescriptor>"
        )

    def publish(self, srv, *labels, entity_id=None, path="/saml/metadata"):
        srv.route(path, 200, XML, self.metadata(*labels, entity_id=entity_id))
        return srv.url(path)

    def register_refreshed(self, conn, metadata_url=None, cert_labels=None, **columns):
        cols = {"name": self.name, "protocol": "saml", "issuer": self.issuer,
                "audiences": [self.sp_entity_id], "acs_urls": [self.acs_url]}
        if metadata_url is not None:
            cols["metadata_url"] = metadata_url
        if cert_labels is not None:
            cols["certificates"] = [self.pem(label) for label in cert_labels]
        cols.update(columns)
        conn.execute(f"insert into jit.providers ({', '.join(cols)}) "
                     f"values ({', '.join(['%s'] * len(cols))})", list(cols.values()))

    def issue_with(self, label, name_id="alice.liddell@example.com"):
        """A Response with its Assertion signed by the key of `label`;
        returns the SAMLResponse form value."""
        key, cert = self.signing[label]
        return b64(self.sign(self.build(name_id=name_id), what="assertion", key=key, cert=cert))
