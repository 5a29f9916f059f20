"""A test SAML 2.0 identity provider: fresh keys and self-signed X.509
certificates made at test time, realistic Web SSO Responses shaped like the
ones Okta and Entra ID send, and signatures made by two independent XML-DSig
implementations:

* ``xmlsec1``, the C command-line tool of libxmlsec1 (Debian package), which
  fills an exclusive-c14n + enveloped-signature template;
* ``signxml``, the pure-Python library (lxml + cryptography).

Both place the ds:Signature as the direct child right after the signed
element's saml:Issuer (SAML core 5.4.1 / schema order) and put the signing
certificate into KeyInfo, as IdPs do (the verifier must never trust it).
"""

import base64
import datetime
import os
import subprocess
import tempfile
import time
import uuid
from xml.sax.saxutils import escape, quoteattr

import psycopg
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import SignatureConstructionMethod, XMLSigner

PROTOCOL_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
ASSERTION_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
XS_NS = "http://www.w3.org/2001/XMLSchema"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
NS = {"samlp": PROTOCOL_NS, "saml": ASSERTION_NS, "ds": DSIG_NS}

SIGNERS = ("xmlsec1", "signxml")
SIGN_TARGETS = ("assertion", "response", "both")
FAMILIES = ("rsa", "p256")

# XML-DSig algorithm URIs by short name.
SIGNATURE_METHODS = {
    "rsa-sha1": "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    "rsa-sha256": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "rsa-sha512": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "ecdsa-sha256": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
}
DIGEST_METHODS = {
    "sha1": "http://www.w3.org/2000/09/xmldsig#sha1",
    "sha256": "http://www.w3.org/2001/04/xmlenc#sha256",
    "sha512": "http://www.w3.org/2001/04/xmlenc#sha512",
}
DEFAULT_SIG_ALG = {"rsa": "rsa-sha256", "p256": "ecdsa-sha256"}

# Attribute names as Okta sends them by default (the names jit_provision maps
# without a claim_map row), and as Entra ID sends them.
OKTA_ATTRIBUTES = {
    "email": "email",
    "given_name": "givenName",
    "family_name": "sn",
    "name": "displayName",
    "groups": "groups",
}
ENTRA_ATTRIBUTES = {
    "email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "given_name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
    "family_name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
    "name": "http://schemas.microsoft.com/identity/claims/displayname",
    "groups": "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
}
DEFAULT_GROUPS = [
    "Everyone",
    "Engineering",
    "engineering-platform",
    "okta-admins-readonly",
    "vpn-users",
    "github-org-members",
    "jira-software-users",
    "confluence-users",
]


def new_key(family):
    if family == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if family == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(family)


def self_signed_cert(key, common_name):
    """A self-signed X.509 certificate as IdPs publish in their metadata."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Identity"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "SSOProvider"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )


def instant(t, style="okta"):
    """xs:dateTime in UTC the way each IdP writes it (Okta: milliseconds;
    Entra: 7 fraction digits)."""
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    if style == "entra":
        return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond:06d}0Z"
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def new_id(style="okta"):
    return ("id" if style == "okta" else "_") + uuid.uuid4().hex + uuid.uuid4().hex[:8]


def b64(xml):
    """The HTTP-POST binding's SAMLResponse form value."""
    data = xml.encode() if isinstance(xml, str) else xml
    return base64.b64encode(data).decode()


class SamlIdP:
    """One IdP: an entityID, an RSA-2048 and an EC P-256 signing key, each with
    a self-signed certificate, and the SP it issues Responses for."""

    def __init__(
        self,
        name="okta-saml",
        issuer="http://www.okta.com/exk1fxbg2dHf7Jq4R5d7",
        sp_entity_id="https://app.example.com/saml/metadata",
        acs_url="https://app.example.com/saml/acs",
        style="okta",
    ):
        self.name = name
        self.issuer = issuer
        self.sp_entity_id = sp_entity_id
        self.acs_url = acs_url
        self.style = style
        self.keys = {f: new_key(f) for f in FAMILIES}
        self.certs = {f: self_signed_cert(k, f"{name}-{f}") for f, k in self.keys.items()}

    # ------------------------------------------------------------ config

    def cert_pem(self, family="rsa"):
        return self.certs[family].public_bytes(serialization.Encoding.PEM).decode()

    def key_pem(self, family="rsa"):
        return (
            self.keys[family]
            .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            .decode()
        )

    def register(self, conn, **columns):
        """Inserts the jit.providers row for this IdP (both certificates pinned,
        as during a rotation)."""
        cols = {
            "name": self.name,
            "protocol": "saml",
            "issuer": self.issuer,
            "audiences": [self.sp_entity_id],
            "certificates": [self.cert_pem("rsa"), self.cert_pem("p256")],
            "acs_urls": [self.acs_url],
        }
        cols.update(columns)
        names = ", ".join(cols)
        marks = ", ".join(["%s"] * len(cols))
        conn.execute(f"insert into jit.providers ({names}) values ({marks})", list(cols.values()))

    # ------------------------------------------------------------ documents

    def attribute_names(self):
        return ENTRA_ATTRIBUTES if self.style == "entra" else OKTA_ATTRIBUTES

    def default_attributes(self, name_id):
        """A realistic attribute set: the mapped ones, a multi-valued groups
        attribute, and the profile attributes an IdP admin typically adds."""
        local = name_id.split("@", 1)[0]
        given = local.split(".")[0].title() if local else "User"
        family = local.split(".")[-1].title() if "." in local else "Example"
        n = self.attribute_names()
        attrs = [
            (n["email"], [name_id]),
            (n["given_name"], [given]),
            (n["family_name"], [family]),
            (n["name"], [f"{given} {family}"]),
            (n["groups"], list(DEFAULT_GROUPS)),
        ]
        if self.style == "entra":
            attrs += [
                ("http://schemas.microsoft.com/identity/claims/tenantid", ["72f988bf-86f1-41af-91ab-2d7cd011db47"]),
                ("http://schemas.microsoft.com/identity/claims/objectidentifier", [str(uuid.uuid5(uuid.NAMESPACE_DNS, name_id))]),
                ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", [name_id]),
                ("http://schemas.microsoft.com/identity/claims/identityprovider", ["https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/"]),
                (
                    "http://schemas.microsoft.com/claims/authnmethodsreferences",
                    ["http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password", "http://schemas.microsoft.com/claims/multipleauthn"],
                ),
                ("http://schemas.microsoft.com/identity/claims/department", ["Platform Engineering"]),
                ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/jobtitle", ["Senior Software Engineer"]),
            ]
        else:
            attrs += [
                ("login", [name_id]),
                ("department", ["Platform Engineering"]),
                ("title", ["Senior Software Engineer"]),
                ("employeeNumber", ["E-104729"]),
                ("costCenter", ["CC-4410 R&D"]),
                ("division", ["Research & Development"]),
                ("organization", ["Example Corp"]),
                ("preferredLanguage", ["en-US"]),
                ("locale", ["en_US"]),
            ]
        return attrs

    def build(
        self,
        name_id="alice.liddell@example.com",
        *,
        request_id="_req-3a5e1c2b9d",
        recipient=None,
        destination=None,
        audience=None,
        issuer=None,
        status=SUCCESS,
        now=None,
        lifetime=300,
        attributes=None,
        response_id=None,
        assertion_id=None,
        name_id_xml=None,
        standalone=False,
    ):
        """An unsigned Response (or, with ``standalone``, a bare Assertion) as
        XML text. ``name_id_xml`` is inserted as raw markup (for comment
        injection); everything else is escaped. ``request_id=None`` makes an
        IdP-initiated Response (no InResponseTo)."""
        s = self.style
        now = int(time.time()) if now is None else now
        recipient = self.acs_url if recipient is None else recipient
        destination = self.acs_url if destination is None else destination
        audience = self.sp_entity_id if audience is None else audience
        issuer = self.issuer if issuer is None else issuer
        response_id = response_id or new_id(s)
        assertion_id = assertion_id or new_id(s)
        attributes = self.default_attributes(name_id) if attributes is None else attributes
        irt = f" InResponseTo={quoteattr(request_id)}" if request_id is not None else ""
        ii = instant(now, s)
        nb = instant(now - 30, s)
        noa = instant(now + lifetime, s)
        nid = name_id_xml if name_id_xml is not None else escape(name_id)

        if s == "entra":
            a, ns_a, ns_p = "", f' xmlns="{ASSERTION_NS}"', f' xmlns:samlp="{PROTOCOL_NS}"'
            value_attrs = ""
            authn_class = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"
        else:
            a = "saml2:"
            ns_a = f' xmlns:saml2="{ASSERTION_NS}"'
            ns_p = f' xmlns:saml2p="{PROTOCOL_NS}"'
            value_attrs = f' xmlns:xs="{XS_NS}" xmlns:xsi="{XSI_NS}" xsi:type="xs:string"'
            authn_class = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
        p = "samlp:" if s == "entra" else "saml2p:"
        issuer_fmt = "" if s == "entra" else ' Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity"'

        attr_xml = "".join(
            f"<{a}Attribute Name={quoteattr(n)} NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:"
            f"{'uri' if ':' in n else 'unspecified'}\">"
            + "".join(f"<{a}AttributeValue{value_attrs}>{escape(v)}</{a}AttributeValue>" for v in vals)
            + f"</{a}Attribute>"
            for n, vals in attributes
        )
        attr_statement = f"<{a}AttributeStatement>{attr_xml}</{a}AttributeStatement>" if attributes else ""
        authn = (
            f'<{a}AuthnStatement AuthnInstant="{instant(now - 2, s)}" SessionIndex="{new_id(s)}">'
            f"<{a}AuthnContext><{a}AuthnContextClassRef>{authn_class}</{a}AuthnContextClassRef></{a}AuthnContext>"
            f"</{a}AuthnStatement>"
        )
        body = [
            f"<{a}Subject>",
            f'<{a}NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{nid}</{a}NameID>',
            f'<{a}SubjectConfirmation Method="{BEARER}">',
            f"<{a}SubjectConfirmationData{irt} NotOnOrAfter=\"{noa}\" Recipient={quoteattr(recipient)}/>",
            f"</{a}SubjectConfirmation></{a}Subject>",
            f'<{a}Conditions NotBefore="{nb}" NotOnOrAfter="{noa}">',
            f"<{a}AudienceRestriction><{a}Audience>{escape(audience)}</{a}Audience></{a}AudienceRestriction>",
            f"</{a}Conditions>",
        ]
        # Okta sends AuthnStatement before the attributes, Entra after.
        body += [attr_statement, authn] if s == "entra" else [authn, attr_statement]
        assertion = (
            f'<{a}Assertion{ns_a} ID="{assertion_id}" IssueInstant="{ii}" Version="2.0">'
            f"<{a}Issuer{issuer_fmt}>{escape(issuer)}</{a}Issuer>" + "".join(body) + f"</{a}Assertion>"
        )
        if standalone:
            return '<?xml version="1.0" encoding="UTF-8"?>' + assertion
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<{p}Response{ns_p} Destination={quoteattr(destination)} ID=\"{response_id}\"{irt}"
            f' IssueInstant="{ii}" Version="2.0">'
            f"<{a}Issuer{ns_a}{issuer_fmt}>{escape(issuer)}</{a}Issuer>"
            f'<{p}Status><{p}StatusCode Value="{status}"/></{p}Status>'
            f"{assertion}</{p}Response>"
        )

    def error_response(self, code="urn:oasis:names:tc:SAML:2.0:status:Responder", message="User is not assigned to this application"):
        """An IdP error Response: unsigned, no Assertion (what Okta and Entra
        post back when the user may not use the app)."""
        s = self.style
        p = "samlp:" if s == "entra" else "saml2p:"
        now = int(time.time())
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<{p}Response xmlns:{p[:-1]}="{PROTOCOL_NS}" Destination={quoteattr(self.acs_url)} ID="{new_id(s)}"'
            f' InResponseTo="_req-3a5e1c2b9d" IssueInstant="{instant(now, s)}" Version="2.0">'
            f'<saml2:Issuer xmlns:saml2="{ASSERTION_NS}">{escape(self.issuer)}</saml2:Issuer>'
            f'<{p}Status><{p}StatusCode Value="{code}">'
            f'<{p}StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:RequestDenied"/></{p}StatusCode>'
            f"<{p}StatusMessage>{escape(message)}</{p}StatusMessage></{p}Status></{p}Response>"
        )

    # ------------------------------------------------------------ signing

    def sign(self, xml, what="assertion", signer="xmlsec1", family="rsa", sig_alg=None, digest="sha256", key=None, cert=None, prefix_list=None):
        """Signs the Assertion, the Response, or both (Assertion first, so the
        Response signature covers the signed Assertion). ``key`` / ``cert``
        override this IdP's own (an attacker's key with its certificate in
        KeyInfo). ``prefix_list`` (xmlsec1 only) adds an exc-c14n
        InclusiveNamespaces PrefixList to the Reference, as Shibboleth does."""
        assert prefix_list is None or signer == "xmlsec1", "signxml writes no InclusiveNamespaces for enveloped signatures"
        key = key if key is not None else self.keys[family]
        cert = cert if cert is not None else self.certs[family]
        sig_alg = sig_alg or DEFAULT_SIG_ALG[family]
        targets = {"assertion": ["assertion"], "response": ["response"], "both": ["assertion", "response"]}[what]
        data = xml.encode() if isinstance(xml, str) else xml
        for target in targets:
            fn = {"xmlsec1": sign_xmlsec1, "signxml": sign_signxml}[signer]
            extra = {"prefix_list": prefix_list} if prefix_list else {}
            data = fn(data, target, key, cert, sig_alg, digest, default_ns_signature=self.style == "entra", **extra)
        return data.decode()

    def issue(self, what="assertion", signer="xmlsec1", family="rsa", **fields):
        """build() then sign(): a fresh signed Response."""
        return self.sign(self.build(**fields), what=what, signer=signer, family=family)


# ---------------------------------------------------------------- signers


def _target(root, target):
    """The element to sign: the root for 'response' (or a standalone
    Assertion), else the Response's Assertion child."""
    if target == "response" or etree.QName(root).localname == "Assertion":
        return root
    found = root.findall(f"{{{ASSERTION_NS}}}Assertion")
    assert len(found) == 1, "expected exactly one Assertion child"
    return found[0]


def _insert_after_issuer(el, sig):
    issuer = el.find(f"{{{ASSERTION_NS}}}Issuer")
    assert issuer is not None, "signed element has no Issuer"
    issuer.addnext(sig)


def _parse(data):
    return etree.fromstring(data, etree.XMLParser(remove_blank_text=False, resolve_entities=False))


def _serialize(root):
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def sign_xmlsec1(data, target, key, cert, sig_alg, digest, default_ns_signature=False, prefix_list=None):
    """Fills an enveloped exc-c14n template with the xmlsec1 command."""
    root = _parse(data)
    el = _target(root, target)
    ref_id = el.get("ID")
    d = "" if default_ns_signature else "ds:"
    xmlns = f'xmlns="{DSIG_NS}"' if default_ns_signature else f'xmlns:ds="{DSIG_NS}"'
    template = (
        f"<{d}Signature {xmlns}><{d}SignedInfo>"
        f'<{d}CanonicalizationMethod Algorithm="{EXC_C14N}"/>'
        f'<{d}SignatureMethod Algorithm="{SIGNATURE_METHODS[sig_alg]}"/>'
        f'<{d}Reference URI="#{ref_id}"><{d}Transforms>'
        f'<{d}Transform Algorithm="{ENVELOPED}"/>'
        + (
            f'<{d}Transform Algorithm="{EXC_C14N}"><ec:InclusiveNamespaces xmlns:ec="{EXC_C14N}" PrefixList="{prefix_list}"/></{d}Transform>'
            if prefix_list
            else f'<{d}Transform Algorithm="{EXC_C14N}"/>'
        )
        + f"</{d}Transforms>"
        f'<{d}DigestMethod Algorithm="{DIGEST_METHODS[digest]}"/><{d}DigestValue></{d}DigestValue>'
        f"</{d}Reference></{d}SignedInfo><{d}SignatureValue></{d}SignatureValue>"
        f"<{d}KeyInfo><{d}X509Data></{d}X509Data></{d}KeyInfo></{d}Signature>"
    )
    _insert_after_issuer(el, etree.fromstring(template))
    # xmlsec1 fills the first Signature template in document order: the
    # Response's own one when signing 'response' after 'assertion'.
    with tempfile.TemporaryDirectory() as tmp:
        paths = {n: os.path.join(tmp, n) for n in ("key.pem", "cert.pem", "in.xml", "out.xml")}
        with open(paths["key.pem"], "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        with open(paths["cert.pem"], "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(paths["in.xml"], "wb") as f:
            f.write(_serialize(root))
        cmd = [
            "xmlsec1", "--sign",
            "--privkey-pem", f"{paths['key.pem']},{paths['cert.pem']}",
            "--id-attr:ID", f"{ASSERTION_NS}:Assertion",
            "--id-attr:ID", f"{PROTOCOL_NS}:Response",
            "--output", paths["out.xml"], paths["in.xml"],
        ]  # fmt: skip
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"xmlsec1 failed: {r.stderr}")
        with open(paths["out.xml"], "rb") as f:
            out = f.read()
    # Checks the template was filled where intended.
    signed = _target(_parse(out), target)
    sig = signed.find(f"{{{ASSERTION_NS}}}Issuer").getnext()
    assert etree.QName(sig).localname == "Signature" and sig.findtext(f".//{{{DSIG_NS}}}SignatureValue"), "xmlsec1 left the template empty"
    return out


def sign_signxml(data, target, key, cert, sig_alg, digest, default_ns_signature=False):
    """signxml's enveloped signature, placed through its placeholder element."""
    root = _parse(data)
    el = _target(root, target)
    placeholder = etree.Element(f"{{{DSIG_NS}}}Signature", Id="placeholder", nsmap={"ds": DSIG_NS})
    _insert_after_issuer(el, placeholder)
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=sig_alg,
        digest_algorithm=digest,
        c14n_algorithm=EXC_C14N,
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    signed = signer.sign(root, key=key, cert=pem, reference_uri="#" + el.get("ID"), id_attribute="ID")
    return _serialize(signed)


# ---------------------------------------------------------------- results


def rejection_detail(conn, token, request_id=None):
    """jit_login expecting a rejection: (sqlstate, reason code, full message)."""
    try:
        with conn.transaction():
            conn.execute("select * from jit_login(%s, %s)", (token, request_id)).fetchone()
    except psycopg.Error as e:
        msg = e.diag.message_primary or ""
        return e.sqlstate, msg.split(":", 1)[0], msg
    raise AssertionError("token was accepted")


# ---------------------------------------------------------------- editing


def edit(xml, fn):
    """Parses ``xml`` with lxml, lets ``fn(root)`` change the tree in place,
    and serializes it again (signed content is kept byte for byte where
    ``fn`` does not touch it)."""
    root = _parse(xml.encode() if isinstance(xml, str) else xml)
    fn(root)
    return _serialize(root).decode()


def find(root, path):
    """The single element at an ElementPath using the samlp/saml/ds prefixes."""
    found = root.findall(path, NS) if path not in (".", "") else [root]
    assert len(found) == 1, f"{path}: {len(found)} matches"
    return found[0]


def xmlsec1_verifies(xml, cert):
    """Whether plain xmlsec1 (a generic XML-DSig verifier that knows nothing
    about SAML) accepts the first ds:Signature of the document with ``cert``.
    Used to show that a wrapping attack still carries a cryptographically
    valid signature, so refusing it takes more than checking the signature."""
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, doc_path = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "doc.xml")
        with open(cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(doc_path, "wb") as f:
            f.write(xml.encode() if isinstance(xml, str) else xml)
        cmd = [
            "xmlsec1", "--verify", "--pubkey-cert-pem", cert_path,
            "--id-attr:ID", f"{ASSERTION_NS}:Assertion",
            "--id-attr:ID", f"{PROTOCOL_NS}:Response",
            doc_path,
        ]  # fmt: skip
        return subprocess.run(cmd, capture_output=True, text=True).returncode == 0
