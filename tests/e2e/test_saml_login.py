"""SAML 2.0 logins through SQL, as the application role: Responses signed by
two independent XML-DSig implementations (xmlsec1 and signxml), every
rejection named by its reason code."""

import base64
import copy
import time

import psycopg
import pytest
from lxml import etree

from db import login, rejection, snapshot
from saml_idp import (
    ASSERTION_NS,
    DSIG_NS,
    DEFAULT_GROUPS,
    FAMILIES,
    SIGN_TARGETS,
    SIGNERS,
    XS_NS,
    SamlIdP,
    b64,
    edit,
    find,
    rejection_detail,
)

REQ = "_req-3a5e1c2b9d"  # the AuthnRequest ID the SP sent (the builder's default InResponseTo)


@pytest.fixture
def saml(admin):
    """An Okta-like SAML IdP registered in the database, with fresh keys."""
    p = SamlIdP()
    p.register(admin)
    return p


def user_row(admin, user_id):
    return admin.execute(
        "select provider, subject, email, name, given_name, family_name, login_count from jit.users where id = %s",
        (user_id,),
    ).fetchone()


# ------------------------------------------------------------------ accepted


@pytest.mark.parametrize("form", ["base64", "xml"])
@pytest.mark.parametrize("what", SIGN_TARGETS)
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("signer", SIGNERS)
def test_fresh_responses_from_independent_signers_are_accepted(saml, app, admin, signer, family, what, form):
    subject = f"jane.doe@{signer}-{family}-{what}-{form}.example.com"
    xml = saml.issue(what=what, signer=signer, family=family, name_id=subject)
    assert 7000 < len(xml) < 13000  # a realistic IdP-sized Response
    r = login(app, b64(xml) if form == "base64" else xml, request_id=REQ)
    assert r["created"] is True
    assert user_row(admin, r["user_id"]) == ("okta-saml", subject, subject, "Jane Doe", "Jane", "Doe", 1)


@pytest.mark.parametrize("signer", SIGNERS)
def test_entra_style_response_is_accepted(admin, app, signer):
    """Entra ID's shape: default-namespace Assertion and Signature, claim-URI
    attribute names, 7-digit fractional instants, Assertion-only signature."""
    idp = SamlIdP(
        name="entra",
        issuer="https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
        sp_entity_id="spn:9c1e5b3a-0d7f-4a3e-8b6c-2f1d0e9a8b7c",
        style="entra",
    )
    idp.register(admin)
    xml = idp.issue(what="assertion", signer=signer, name_id="grace.hopper@contoso.com")
    assert 'xmlns="urn:oasis:names:tc:SAML:2.0:assertion"' in xml
    r = login(app, b64(xml), request_id=REQ)
    assert user_row(admin, r["user_id"]) == (
        "entra",
        "grace.hopper@contoso.com",
        "grace.hopper@contoso.com",
        "Grace Hopper",
        "Grace",
        "Hopper",
        1,
    )


@pytest.mark.parametrize("signer", SIGNERS)
def test_base64_with_line_breaks_and_indented_xml_are_accepted(saml, app, signer):
    # Some SPs hand over the form value with MIME line breaks; some IdPs
    # pretty-print (the whitespace is then part of the signed content).
    xml = saml.issue(signer=signer, name_id="wrapped@example.com")
    assert login(app, base64.encodebytes(xml.encode()).decode(), request_id=REQ)["created"] is True

    def indent(root):
        etree.indent(root, space="  ")

    pretty = saml.sign(edit(saml.build(name_id="pretty@example.com"), indent), what="both", signer=signer)
    assert "\n  <" in pretty
    assert login(app, pretty)["created"] is True


@pytest.mark.parametrize("signer", SIGNERS)
def test_standalone_signed_assertion_is_accepted(saml, app, admin, signer):
    xml = saml.issue(signer=signer, name_id="bare@example.com", standalone=True)
    assert etree.QName(etree.fromstring(xml.encode())).localname == "Assertion" and "saml2p:" not in xml
    r = login(app, xml)
    assert r["created"] is True
    # base64url without padding, as RFC 7522 bearer assertions travel
    other = saml.issue(signer=signer, name_id="bare@example.com", standalone=True)
    token = base64.urlsafe_b64encode(other.encode()).rstrip(b"=").decode()
    r2 = login(app, token, request_id=REQ)  # the SubjectConfirmationData InResponseTo
    assert (r2["created"], r2["user_id"]) == (False, r["user_id"])
    # Unsigned, a bare Assertion is nothing.
    unsigned = saml.build(name_id="bare@example.com", standalone=True)
    sqlstate, reason, msg = rejection_detail(app, unsigned)
    assert (sqlstate, reason) == ("28000", "bad_signature") and "standalone Assertion is not signed" in msg


def _two_audiences_and_confirmations(root):
    """Several Audiences in the restriction (ours second), and a first bearer
    SubjectConfirmation for another ACS before the one for ours."""
    restriction = find(root, "saml:Assertion/saml:Conditions/saml:AudienceRestriction")
    ours = find(restriction, "saml:Audience")
    other = copy.deepcopy(ours)
    other.text = "https://other-app.example.com/saml"
    ours.addprevious(other)
    sc = find(root, "saml:Assertion/saml:Subject/saml:SubjectConfirmation")
    elsewhere = copy.deepcopy(sc)
    find(elsewhere, "saml:SubjectConfirmationData").set("Recipient", "https://other-app.example.com/acs")
    sc.addprevious(elsewhere)


def _drop_key_info(root):
    for k in list(root.iter(f"{{{DSIG_NS}}}KeyInfo")):
        k.getparent().remove(k)


def _hoist_xs(xml):
    """xmlns:xs declared once on the Response (outside the signed Assertion),
    as Shibboleth-style IdPs do with an InclusiveNamespaces PrefixList."""
    xml = xml.replace(f' xmlns:xs="{XS_NS}"', "")
    return xml.replace("<saml2p:Response ", f'<saml2p:Response xmlns:xs="{XS_NS}" ', 1)


@pytest.mark.parametrize("signer", SIGNERS)
def test_unusual_but_valid_responses_are_accepted(saml, app, admin, signer):
    # several audiences / confirmations: one match is enough
    r = login(app, saml.sign(edit(saml.build(name_id="multi@example.com"), _two_audiences_and_confirmations), signer=signer))
    assert r["created"] is True
    # no KeyInfo at all: the key comes from the provider row anyway
    for what in ("assertion", "response"):
        assert login(app, edit(saml.issue(what=what, signer=signer, name_id="nokeyinfo@example.com"), _drop_key_info))
    # non-ASCII text, character references and markup characters, kept exactly
    admin.execute("insert into jit.claim_map (provider, field, source) values ('okta-saml', 'attributes.department', 'department')")
    display = "José Ñúñez 山田 <admin> & \"quotes\" 'apostrophes'"
    attrs = [(n, [display] if n == "displayName" else v) for n, v in saml.default_attributes("jose@exämple.com")]
    xml = saml.build(name_id="jösé@exämple.com", attributes=attrs).replace(">Platform Engineering<", ">R&amp;D&#13;&#10;Line2&#9;&#x1F600;<")
    r = login(app, saml.sign(xml, signer=signer))
    assert admin.execute("select subject, name, attributes->>'department' from jit.users where id = %s", (r["user_id"],)).fetchone() == (
        "jösé@exämple.com",
        display,
        "R&D\r\nLine2\t\U0001F600",
    )
    # rsa-sha512 / sha512
    assert login(app, saml.sign(saml.build(name_id="strong@example.com"), signer=signer, sig_alg="rsa-sha512", digest="sha512"))


@pytest.mark.parametrize("what", SIGN_TARGETS)
def test_inclusive_namespaces_prefix_list_is_honoured(saml, app, what):
    # xmlsec1 only: signxml writes no InclusiveNamespaces for enveloped signatures.
    xml = saml.sign(_hoist_xs(saml.build(name_id="shib@example.com")), what=what, signer="xmlsec1", prefix_list="xs")
    assert 'PrefixList="xs"' in xml
    assert login(app, xml)["created"] is True


def test_user_created_then_updated(saml, app, admin):
    first = login(app, saml.issue(name_id="bob.one@example.com"), request_id=REQ)
    assert first["created"] is True
    attrs = saml.default_attributes("bob.one@example.com")
    attrs = [(n, ["bob@new.example.com"] if n == "email" else ["Robert Two"] if n == "displayName" else v) for n, v in attrs]
    second = login(app, saml.issue(signer="signxml", family="p256", name_id="bob.one@example.com", attributes=attrs))
    assert second["created"] is False
    assert second["user_id"] == first["user_id"]
    row = admin.execute(
        "select email, name, login_count, last_login_at >= created_at from jit.users where subject = 'bob.one@example.com'"
    ).fetchone()
    assert row == ("bob@new.example.com", "Robert Two", 2, True)
    events = admin.execute("select outcome, provider, subject from jit.login_events order by id").fetchall()
    assert events == [("created", "okta-saml", "bob.one@example.com"), ("updated", "okta-saml", "bob.one@example.com")]
    assert admin.execute("select count(*) from jit.seen_tokens").fetchone()[0] == 2


def test_mapped_fields_and_groups(saml, app, admin):
    admin.execute(
        "insert into jit.group_map (provider, idp_group, app_group) values "
        "('okta-saml', 'Engineering', 'developers'), ('okta-saml', 'vpn-users', 'vpn'), "
        "('okta-saml', 'confluence-users', 'wiki'), ('okta-saml', '*', 'everyone')"
    )
    xml = saml.issue(name_id="ada.lovelace@example.com")
    identity = admin.execute("select jit.verify(%s)", (xml,)).fetchone()[0]
    assert identity["idp_groups"] == DEFAULT_GROUPS  # every value of the multi-valued attribute, in order
    assert identity["token_id"] == find(etree.fromstring(xml.encode()), "saml:Assertion").get("ID")
    r = login(app, xml, request_id=REQ)
    assert sorted(r["groups"]) == ["developers", "everyone", "vpn", "wiki"]
    assert user_row(admin, r["user_id"]) == (
        "okta-saml",
        "ada.lovelace@example.com",
        "ada.lovelace@example.com",
        "Ada Lovelace",
        "Ada",
        "Lovelace",
        1,
    )
    memberships = admin.execute(
        "select group_name, source from jit.memberships where user_id = %s order by 1", (r["user_id"],)
    ).fetchall()
    assert memberships == [(g, "okta-saml") for g in ["developers", "everyone", "vpn", "wiki"]]
    # unmapped IdP groups created nothing
    assert [g for (g,) in admin.execute("select name from jit.groups order by 1")] == ["developers", "everyone", "vpn", "wiki"]
    # next login without Engineering: that membership is synced away
    attrs = [(n, [g for g in v if g != "Engineering"] if n == "groups" else v) for n, v in saml.default_attributes("ada.lovelace@example.com")]
    r2 = login(app, saml.issue(signer="signxml", name_id="ada.lovelace@example.com", attributes=attrs))
    assert sorted(r2["groups"]) == ["everyone", "vpn", "wiki"]


def test_claim_map_reads_attributes_and_friendly_names(saml, app, admin):
    admin.execute(
        "insert into jit.claim_map (provider, field, source) values "
        "('okta-saml', 'subject', 'employeeNumber'), ('okta-saml', 'attributes.department', 'department'), "
        "('okta-saml', 'attributes.roles', 'groups')"
    )
    r = login(app, saml.issue(name_id="mapped@example.com"))
    row = admin.execute("select subject, attributes from jit.users where id = %s", (r["user_id"],)).fetchone()
    assert row == ("E-104729", {"department": "Platform Engineering", "roles": DEFAULT_GROUPS})


# ------------------------------------------------------------------ request id


def test_request_id_must_equal_in_response_to(saml, app, admin):
    assert login(app, saml.issue(name_id="r1@example.com", request_id="_abc123"), request_id="_abc123")["created"]
    before = snapshot(admin)
    sqlstate, reason, msg = rejection_detail(app, saml.issue(name_id="r2@example.com", request_id="_abc123"), "_other")
    assert (sqlstate, reason) == ("28000", "request_mismatch") and "InResponseTo" in msg
    # IdP-initiated (no InResponseTo) while the SP expects an answer to its request
    assert rejection(app, saml.issue(name_id="r3@example.com", request_id=None), "_abc123") == ("28000", "request_mismatch")
    assert snapshot(admin) == before
    # IdP-initiated without a request id is a plain login
    assert login(app, saml.issue(name_id="r4@example.com", request_id=None))["created"] is True
    # A signed Response's InResponseTo binds the request on its own, even when
    # the Assertion's SubjectConfirmationData carries none.
    signed_response = saml.sign(edit(saml.build(name_id="r5@example.com", request_id="_abc123"), _drop_scd_in_response_to), what="response")
    assert login(app, signed_response, request_id="_abc123")["created"] is True


def test_unsigned_response_without_destination_is_accepted(saml, app):
    """Destination is required only on a signed Response: on an unsigned one
    (the Assertion signed) it would be the sender's to write anyway."""
    xml = saml.sign(edit(saml.build(name_id="nodest@example.com"), _drop_destination), what="assertion")
    assert login(app, xml, request_id=REQ)["created"] is True


# ------------------------------------------------------------------ rejections


def _hok(root):
    """Only a holder-of-key SubjectConfirmation: no bearer one."""
    find(root, "saml:Assertion/saml:Subject/saml:SubjectConfirmation").set(
        "Method", "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"
    )


def _drop_audience_restriction(root):
    cond = find(root, "saml:Assertion/saml:Conditions")
    cond.remove(find(cond, "saml:AudienceRestriction"))


def _tamper_name_id(root):
    find(root, "saml:Assertion/saml:Subject/saml:NameID").text = "ceo@example.com"


def _encrypted(root):
    a = find(root, "saml:Assertion")
    enc = etree.SubElement(root, f"{{{ASSERTION_NS}}}EncryptedAssertion")
    data = etree.SubElement(enc, "{http://www.w3.org/2001/04/xmlenc#}EncryptedData")
    etree.SubElement(etree.SubElement(data, "{http://www.w3.org/2001/04/xmlenc#}CipherData"), "{http://www.w3.org/2001/04/xmlenc#}CipherValue").text = "AAAA"
    a.addprevious(enc)
    root.remove(a)


def _other_assertion_issuer(root):
    find(root, "saml:Assertion/saml:Issuer").text = "http://www.okta.com/exkATTACKER"


def _second_restriction_without_us(root):
    cond = find(root, "saml:Assertion/saml:Conditions")
    extra = etree.SubElement(cond, f"{{{ASSERTION_NS}}}AudienceRestriction")
    etree.SubElement(extra, f"{{{ASSERTION_NS}}}Audience").text = "https://other-app.example.com/saml"


def _drop_scd_in_response_to(root):
    """The signed Assertion answers no request; only the (unsigned) Response says it does."""
    del find(root, "saml:Assertion/saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData").attrib["InResponseTo"]


def _drop_destination(root):
    del root.attrib["Destination"]


def _drop_authn_statement(root):
    a = find(root, "saml:Assertion")
    a.remove(find(a, "saml:AuthnStatement"))


def _unknown_condition(root):
    cond = find(root, "saml:Assertion/saml:Conditions")
    etree.SubElement(cond, "{urn:example:conditions}GeoFence").set("Region", "eu")


def _doctype(xml):
    head, sep, rest = xml.partition("?>")
    return head + sep + '<!DOCTYPE r [<!ENTITY x "admin@evil">]>' + rest


def _half_attacker(saml, signer):
    """The Assertion signed by an attacker's key, the Response by the IdP."""
    mallory = SamlIdP(name="mallory")
    xml = saml.sign(saml.build(), what="assertion", signer=signer, key=mallory.keys["rsa"], cert=mallory.certs["rsa"])
    return saml.sign(xml, what="response", signer=signer)


def _cases():
    """(id, factory(saml, signer), request_id, reason, message fragment).
    Factories run after the provider exists so Responses are fresh."""
    now = int(time.time())
    evil = "https://evil.example.net/saml/acs"
    return [
        ("wrong recipient", lambda s, g: s.issue(signer=g, recipient=evil), None, "recipient_mismatch", f"Recipient '{evil}' is not in acs_urls"),
        ("wrong destination", lambda s, g: s.issue(signer=g, destination=evil), None, "recipient_mismatch", f"Destination '{evil}' is not in acs_urls"),
        ("no bearer confirmation", lambda s, g: s.sign(edit(s.build(), _hok), signer=g), None, "recipient_mismatch", "no bearer SubjectConfirmation"),
        ("wrong audience", lambda s, g: s.issue(signer=g, audience="https://other-app.example.com/saml"), None, "audience_mismatch", "names none of the provider's audiences"),
        ("second AudienceRestriction without us", lambda s, g: s.sign(edit(s.build(), _second_restriction_without_us), signer=g), None, "audience_mismatch", "names none of the provider's audiences"),
        ("no AudienceRestriction", lambda s, g: s.sign(edit(s.build(), _drop_audience_restriction), signer=g), None, "audience_mismatch", "no AudienceRestriction"),
        ("expired", lambda s, g: s.issue(signer=g, now=now - 900, lifetime=300), None, "expired", "NotOnOrAfter has passed"),
        ("issued in the future", lambda s, g: s.issue(signer=g, now=now + 900), None, "not_yet_valid", "IssueInstant is in the future"),
        ("status Responder, signed", lambda s, g: s.issue(what="response", signer=g, status="urn:oasis:names:tc:SAML:2.0:status:Responder"), None, "status_not_success", "status is 'urn:oasis:names:tc:SAML:2.0:status:Responder'"),
        ("IdP error Response", lambda s, g: s.error_response(), None, "status_not_success", "status is 'urn:oasis:names:tc:SAML:2.0:status:Responder'"),
        ("tampered NameID", lambda s, g: edit(s.issue(signer=g), _tamper_name_id), None, "bad_signature", "digest of the signed element does not match"),
        ("tampered NameID, Response signed", lambda s, g: edit(s.issue(what="response", signer=g), _tamper_name_id), None, "bad_signature", "digest of the signed element does not match"),
        ("attacker key, its cert in KeyInfo", lambda s, g: _attacker(s, g, "rsa"), None, "bad_signature", "does not verify with any configured certificate"),
        ("attacker EC key, its cert in KeyInfo", lambda s, g: _attacker(s, g, "p256"), None, "bad_signature", "does not verify with any configured certificate"),
        ("attacker key, the IdP's cert in KeyInfo", lambda s, g: s.sign(s.build(), signer=g, key=SamlIdP().keys["rsa"], cert=s.certs["rsa"]), None, "bad_signature", "does not verify with any configured certificate"),
        ("Response signed by the IdP, Assertion by an attacker", _half_attacker, None, "bad_signature", "does not verify with any configured certificate"),
        ("empty NameID", lambda s, g: s.issue(signer=g, name_id=""), None, "missing_claim", "the subject (NameID or mapped attribute) is missing or empty"),
        ("DOCTYPE with an entity", lambda s, g: _doctype(s.issue(signer=g)), None, "malformed", "DOCTYPE is not allowed"),
        ("unsigned", lambda s, g: s.build(), None, "bad_signature", "neither the Response nor the Assertion is signed"),
        ("signature stripped", lambda s, g: edit(s.issue(signer=g), lambda r: r.find(".//{http://www.w3.org/2000/09/xmldsig#}Signature").getparent().remove(r.find(".//{http://www.w3.org/2000/09/xmldsig#}Signature"))), None, "bad_signature", "neither the Response nor the Assertion is signed"),
        ("Assertion issued by someone else", lambda s, g: s.sign(edit(s.build(), _other_assertion_issuer), signer=g), None, "unknown_issuer", "Assertion Issuer 'http://www.okta.com/exkATTACKER' is not the provider's issuer"),
        ("unknown issuer", lambda s, g: s.issue(signer=g, issuer="http://www.okta.com/exkUNKNOWN"), None, "unknown_issuer", "no provider has issuer"),
        ("in response to another request", lambda s, g: s.issue(signer=g), "_another-request", "request_mismatch", "InResponseTo does not match the request id"),
        ("request id vouched for only by the unsigned Response", lambda s, g: s.sign(edit(s.build(), _drop_scd_in_response_to), what="assertion", signer=g), REQ, "request_mismatch", "the Assertion answers no request"),
        ("signed Response without Destination", lambda s, g: s.sign(edit(s.build(), _drop_destination), what="response", signer=g), None, "recipient_mismatch", "the Response is signed but has no Destination"),
        ("no AuthnStatement", lambda s, g: s.sign(edit(s.build(), _drop_authn_statement), signer=g), None, "malformed", "Assertion has no AuthnStatement (Web SSO profile 4.1.4.2)"),
        ("unknown condition", lambda s, g: s.sign(edit(s.build(), _unknown_condition), signer=g), None, "unsupported", "Conditions holds '{urn:example:conditions}GeoFence'"),
        ("rsa-sha1 not allowed", lambda s, g: s.sign(s.build(), signer="xmlsec1", sig_alg="rsa-sha1", digest="sha1"), None, "unsupported_algorithm", "rsa-sha1 is not in the provider's algorithms"),
        ("EncryptedAssertion", lambda s, g: s.sign(edit(s.build(), _encrypted), what="response", signer=g), None, "unsupported", "EncryptedAssertion is not supported"),
    ]


def _attacker(saml, signer, family):
    """Same issuer, the attacker's own key, its certificate in KeyInfo."""
    mallory = SamlIdP(name=saml.name, issuer=saml.issuer)
    xml = mallory.issue(signer=signer, family=family, name_id="mallory@example.com")
    cert_b64 = "".join(mallory.cert_pem(family).strip().splitlines()[1:-1])
    assert cert_b64 in "".join(xml.split())  # the attacker's certificate is right there in KeyInfo
    return xml


CASES = _cases()


@pytest.mark.parametrize("signer", SIGNERS)
@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_every_rejection_names_its_reason_and_leaves_no_row(saml, app, admin, case, signer):
    login(app, saml.issue(name_id="existing@example.com"))  # some state to preserve
    before = snapshot(admin)
    name, make, request_id, reason, fragment = next(c for c in _cases() if c[0] == case)
    token = make(saml, signer)
    for form in (token, b64(token)):
        sqlstate, got, msg = rejection_detail(app, form, request_id)
        assert (sqlstate, got) == ("28000", reason), msg
        assert fragment in msg, msg
        assert snapshot(admin) == before, name


def test_replayed_assertion_is_refused(saml, app, admin):
    xml = saml.issue(name_id="once@example.com")
    login(app, xml)
    before = snapshot(admin)
    assert rejection(app, xml) == ("28000", "replayed")
    assert rejection(app, b64(xml)) == ("28000", "replayed")

    # The same signed Assertion in a fresh, unsigned Response envelope: the
    # replay cache is keyed by the Assertion ID, not the envelope.
    def new_envelope(root):
        root.set("ID", "id-fresh-envelope-0001")

    sqlstate, reason, msg = rejection_detail(app, edit(xml, new_envelope))
    assert (sqlstate, reason) == ("28000", "replayed"), msg
    stored = admin.execute("select provider, token_id from jit.seen_tokens").fetchall()
    assert stored == [("okta-saml", find(etree.fromstring(xml.encode()), "saml:Assertion").get("ID"))]
    assert snapshot(admin) == before


# ------------------------------------------------------------------ saml_signed policy


@pytest.mark.parametrize(
    "policy, signed, outcome",
    [
        ("either", "assertion", None),
        ("either", "response", None),
        ("either", "both", None),
        ("either", None, "neither the Response nor the Assertion is signed"),
        ("response", "response", None),
        ("response", "both", None),
        ("response", "assertion", "the Response is not signed (saml_signed requires it)"),
        ("assertion", "assertion", None),
        ("assertion", "both", None),
        ("assertion", "response", "the Assertion is not signed (saml_signed requires it)"),
        ("both", "both", None),
        ("both", "assertion", "the Response is not signed (saml_signed requires it)"),
        ("both", "response", "the Assertion is not signed (saml_signed requires it)"),
        ("both", None, "the Response is not signed (saml_signed requires it)"),
    ],
)
def test_saml_signed_policy(saml, app, admin, policy, signed, outcome):
    admin.execute("update jit.providers set saml_signed = %s where name = 'okta-saml'", (policy,))
    xml = saml.build(name_id="policy@example.com")
    if signed:
        xml = saml.sign(xml, what=signed, signer="signxml")
    if outcome is None:
        assert login(app, xml)["created"] is True
    else:
        before = snapshot(admin)
        sqlstate, reason, msg = rejection_detail(app, xml)
        assert (sqlstate, reason) == ("28000", "bad_signature")
        assert outcome in msg
        assert snapshot(admin) == before


def test_saml_signed_both_refuses_assertion_only_as_bad_signature(saml, app, admin):
    """saml_signed='both' and only the Assertion signed: the verifier says
    bad_signature 'the Response is not signed (saml_signed requires it)'."""
    admin.execute("update jit.providers set saml_signed = 'both' where name = 'okta-saml'")
    for signer in SIGNERS:
        sqlstate, reason, msg = rejection_detail(app, saml.issue(what="assertion", signer=signer))
        assert (sqlstate, reason, msg.split(":", 1)[1].strip()) == (
            "28000",
            "bad_signature",
            "the Response is not signed (saml_signed requires it)",
        )
    assert admin.execute("select count(*) from jit.users").fetchone()[0] == 0


# ------------------------------------------------------------------ algorithms and keys


def test_sha1_only_when_listed(saml, app, admin):
    xml = saml.sign(saml.build(name_id="legacy@example.com"), signer="xmlsec1", sig_alg="rsa-sha1", digest="sha1")
    assert "#rsa-sha1" in xml and "#sha1" in xml
    assert rejection(app, xml) == ("28000", "unsupported_algorithm")
    # rsa-sha1 allowed but the sha1 digest not: still refused, naming the digest
    admin.execute("update jit.providers set algorithms = array['rsa-sha256', 'sha256', 'rsa-sha1'] where name = 'okta-saml'")
    sqlstate, reason, msg = rejection_detail(app, xml)
    assert (sqlstate, reason) == ("28000", "unsupported_algorithm") and "digest algorithm sha1" in msg
    admin.execute("update jit.providers set algorithms = array['rsa-sha256', 'sha256', 'rsa-sha1', 'sha1'] where name = 'okta-saml'")
    assert login(app, xml)["created"] is True
    # the explicit list now excludes ECDSA
    sqlstate, reason, msg = rejection_detail(app, saml.issue(family="p256"))
    assert (sqlstate, reason) == ("28000", "unsupported_algorithm") and "ecdsa-sha256" in msg


def test_certificate_rotation_is_seen_by_an_open_connection(saml, app, admin):
    admin.execute("update jit.providers set certificates = %s where name = 'okta-saml'", ([saml.cert_pem("rsa")],))
    login(app, saml.issue(name_id="rot@example.com"))  # warms this backend's cache
    sqlstate, reason, msg = rejection_detail(app, saml.issue(family="p256", name_id="rot@example.com"))
    assert (sqlstate, reason) == ("28000", "bad_signature") and "no configured certificate holds a key usable with ecdsa-sha256" in msg
    admin.execute("update jit.providers set certificates = %s where name = 'okta-saml'", ([saml.cert_pem("p256")],))
    assert login(app, saml.issue(family="p256", name_id="rot@example.com"))["created"] is False
    assert rejection(app, saml.issue(family="rsa", name_id="rot@example.com")) == ("28000", "bad_signature")


# ------------------------------------------------------------------ configuration


def _insert(admin, **columns):
    SamlIdP(name="cfg", issuer="https://idp.example.org/cfg").register(admin, **columns)


@pytest.mark.parametrize("acs_urls", [None, []])
def test_saml_provider_without_acs_urls_is_refused(admin, acs_urls):
    with pytest.raises(psycopg.errors.InvalidParameterValue) as e:
        _insert(admin, acs_urls=acs_urls)
    assert "a saml provider needs acs_urls" in str(e.value)
    assert admin.execute("select count(*) from jit.providers").fetchone()[0] == 0


def _bad_pems():
    idp = SamlIdP(name="x")
    pem = idp.cert_pem()
    lines = pem.strip().splitlines()
    return [
        ("garbage", "this is not a certificate", "certificates[1]: certificate is neither PEM nor base64 DER"),
        ("bad base64", "-----BEGIN CERTIFICATE-----\nnot*base64!\n-----END CERTIFICATE-----\n", "certificates[1]: PEM block 'CERTIFICATE' is not valid base64"),
        ("private key pasted", idp.key_pem(), "certificates[1]: unsupported PEM block 'PRIVATE KEY' (expected CERTIFICATE)"),
        ("truncated", "\n".join(lines[:6]), "certificates[1]: PEM block 'CERTIFICATE' has no matching END line"),
        ("second entry bad", [pem, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"], "certificates[2]:"),
        ("no certificates", [], "a saml provider needs at least one PEM certificate"),
    ]


@pytest.mark.parametrize("case", [c[0] for c in _bad_pems()])
def test_bad_pem_is_refused_on_write_with_a_hint(admin, case):
    _, pem, hint = next(c for c in _bad_pems() if c[0] == case)
    certificates = pem if isinstance(pem, list) else [pem]
    with pytest.raises(psycopg.errors.InvalidParameterValue) as e:
        _insert(admin, certificates=certificates)
    assert "jit.providers row 'cfg' is not usable" in str(e.value)
    assert hint in str(e.value)


def test_bad_pem_on_update_keeps_the_old_row(saml, app, admin):
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        admin.execute("update jit.providers set certificates = array['garbage'] where name = 'okta-saml'")
    assert login(app, saml.issue())["created"] is True
