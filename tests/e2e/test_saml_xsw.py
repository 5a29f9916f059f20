"""XML Signature Wrapping (XSW) against jit_login.

XSW1-XSW8 follow Somorovsky et al., "On Breaking SAML: Be Whoever You Want
to Be" (USENIX Security 2012), in the form the SAML Raider tool applies them.
Each variant starts from a Response freshly signed by a real signer (xmlsec1
or signxml), keeps the genuinely signed element intact somewhere in the
document, and adds an evil Assertion or Response for ``admin@evil``. Evil
copies get fresh IDs, so no variant is stopped merely by duplicate IDs
(that case is tested on its own). Before each login, plain ``xmlsec1
--verify`` confirms the document still carries a cryptographically valid
signature where the attack needs one: what stops it is the verifier's SAML
structure rules, not a broken signature.

Then a few wrappings that keep exactly one Assertion (so the "exactly one
Assertion" rule is not what stops them), and NameID comment injection.
"""

import copy

import pytest
from lxml import etree

from db import login, snapshot
from saml_idp import DSIG_NS, NS, PROTOCOL_NS, SIGNERS, SamlIdP, b64, edit, find, rejection_detail, xmlsec1_verifies

EVIL = "admin@evil"
DS = f"{{{DSIG_NS}}}"
TWO_ASSERTIONS = "the document must hold exactly one Assertion; it holds 2 Assertion and 0 EncryptedAssertion elements"


@pytest.fixture
def saml(admin):
    p = SamlIdP()
    p.register(admin)
    return p


# ------------------------------------------------------------------ tree helpers


def own_signature(el):
    sigs = el.findall(f"{DS}Signature")
    assert len(sigs) == 1
    return sigs[0]


def strip_signature(el):
    el.remove(own_signature(el))
    return el


def assertion_of(response):
    return find(response, "saml:Assertion")


def evilize(assertion, new_id="_evil_assertion_ID"):
    """Turns an Assertion into the attacker's: NameID, email and display
    name of admin@evil, an admin group, a fresh ID."""
    assertion.set("ID", new_id)
    find(assertion, "saml:Subject/saml:NameID").text = EVIL
    for attr in assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS):
        values = attr.findall("saml:AttributeValue", NS)
        if attr.get("Name") in ("email", "login"):
            values[0].text = EVIL
        elif attr.get("Name") == "displayName":
            values[0].text = "Evil Admin"
        elif attr.get("Name") == "groups":
            values[0].text = "Administrators"
    return assertion


# ------------------------------------------------------------------ XSW1-8


def xsw1(root):
    """Response signed. The evil Response becomes the root and keeps the
    original Signature; the original Response (its Signature removed) is
    appended inside that Signature, where Reference #ID still finds it."""
    original = strip_signature(copy.deepcopy(root))
    evilize(assertion_of(root))
    root.set("ID", "_evil_response_ID")
    own_signature(root).append(original)


def xsw2(root):
    """Response signed. As XSW1, but the original Response is inserted before
    the Signature as its sibling (a detached signature)."""
    original = strip_signature(copy.deepcopy(root))
    evilize(assertion_of(root))
    root.set("ID", "_evil_response_ID")
    own_signature(root).addprevious(original)


def xsw3(root):
    """Assertion signed. An unsigned evil Assertion is inserted before the
    signed one (SPs that read the first Assertion take it)."""
    signed = assertion_of(root)
    evil = evilize(strip_signature(copy.deepcopy(signed)))
    signed.addprevious(evil)


def xsw4(root):
    """Assertion signed. The evil Assertion replaces the signed one, which
    is moved inside the evil Assertion."""
    signed = assertion_of(root)
    evil = evilize(strip_signature(copy.deepcopy(signed)))
    signed.addprevious(evil)
    root.remove(signed)
    evil.append(signed)


def xsw5(root):
    """Assertion signed. The signed Assertion is changed in place into the
    evil one (keeping the Signature); an unsigned copy of the original is
    appended at the end of the Response for Reference #ID to find."""
    signed = assertion_of(root)
    original = strip_signature(copy.deepcopy(signed))
    evilize(signed)
    root.append(original)


def xsw6(root):
    """Assertion signed. As XSW5, but the original copy goes inside the
    Signature that the evil Assertion now holds."""
    signed = assertion_of(root)
    original = strip_signature(copy.deepcopy(signed))
    evilize(signed)
    own_signature(signed).append(original)


def xsw7(root):
    """Assertion signed. A samlp:Extensions element (before Status, where the
    schema allows it) carries an unsigned evil Assertion; the signed one
    stays in place."""
    signed = assertion_of(root)
    evil = evilize(strip_signature(copy.deepcopy(signed)))
    ext = etree.Element(f"{{{PROTOCOL_NS}}}Extensions")
    ext.append(evil)
    find(root, "samlp:Status").addprevious(ext)


def xsw8(root):
    """Assertion signed. The signed Assertion is changed in place into the
    evil one; a ds:Object inside its Signature carries an unsigned copy of
    the original."""
    signed = assertion_of(root)
    original = strip_signature(copy.deepcopy(signed))
    evilize(signed)
    obj = etree.SubElement(own_signature(signed), f"{DS}Object")
    obj.append(original)


# (variant, which element the base Response has signed, whether plain
# xmlsec1 still accepts the first Signature, reason, message fragment).
# xmlsec1 itself refuses XSW1 and XSW6 (a non-ds element inside ds:Signature:
# "unexpected node") and XSW8 (the copy inside ds:Object is removed with the
# Signature by the enveloped-signature transform, so the digest fails).
XSW = [
    (xsw1, "response", False, "malformed", TWO_ASSERTIONS),
    (xsw2, "response", True, "malformed", TWO_ASSERTIONS),
    (xsw3, "assertion", True, "malformed", TWO_ASSERTIONS),
    (xsw4, "assertion", True, "malformed", TWO_ASSERTIONS),
    (xsw5, "assertion", True, "malformed", TWO_ASSERTIONS),
    (xsw6, "assertion", False, "malformed", TWO_ASSERTIONS),
    (xsw7, "assertion", True, "malformed", TWO_ASSERTIONS),
    (xsw8, "assertion", False, "malformed", TWO_ASSERTIONS),
]


def assert_refused_without_trace(app, admin, token, reason, fragment):
    before = snapshot(admin)
    for form in (token, b64(token)):
        sqlstate, got, msg = rejection_detail(app, form)
        assert (sqlstate, got) == ("28000", reason), msg
        assert fragment in msg, msg
    assert snapshot(admin) == before
    assert admin.execute("select count(*) from jit.users where subject = %s or email = %s", (EVIL, EVIL)).fetchone()[0] == 0
    assert admin.execute("select count(*) from jit.login_events where subject = %s", (EVIL,)).fetchone()[0] == 0


@pytest.mark.parametrize("signer", SIGNERS)
@pytest.mark.parametrize("variant, signed, xmlsec1_ok, reason, fragment", XSW, ids=[v[0].__name__.upper() for v in XSW])
def test_xsw_variant_is_refused(saml, app, admin, signer, variant, signed, xmlsec1_ok, reason, fragment):
    login(app, saml.issue(name_id="someone.else@example.com"))  # state that must survive
    genuine = saml.issue(what=signed, signer=signer, name_id="victim@example.com")
    attack = edit(genuine, variant)
    assert EVIL in attack
    # The genuinely signed element is still in there, byte for byte in its
    # canonical form: a generic XML-DSig verifier accepts the signature.
    assert xmlsec1_verifies(attack, saml.certs["rsa"]) is xmlsec1_ok
    assert_refused_without_trace(app, admin, attack, reason, fragment)
    # ...while the untouched Response logs the victim in.
    assert login(app, genuine)["created"] is True


# ------------------------------------------------------------------ one Assertion only


def forged_envelope(root):
    """Response signed. The attacker forges only the envelope (a new root
    Response with his own ID, for an SP that reads the Assertion with
    //Assertion): the signed original Response sits inside the Signature and
    holds the only Assertion, which is then no child of the root."""
    original = strip_signature(copy.deepcopy(root))
    root.set("ID", "_evil_response_ID")
    root.remove(assertion_of(root))
    own_signature(root).append(original)


def signature_moved_to_response(root):
    """Assertion signed. The Signature (Reference #assertion) is moved up to
    the Response and the Assertion is rewritten in place."""
    signed = assertion_of(root)
    sig = own_signature(signed)
    signed.remove(sig)
    find(root, "saml:Issuer").addnext(sig)
    evilize(signed, new_id=signed.get("ID"))


def signature_in_extensions(root):
    """Assertion signed. The Signature is parked in samlp:Extensions and the
    Assertion rewritten in place."""
    signed = assertion_of(root)
    sig = own_signature(signed)
    signed.remove(sig)
    ext = etree.Element(f"{{{PROTOCOL_NS}}}Extensions")
    ext.append(sig)
    find(root, "samlp:Status").addprevious(ext)
    evilize(signed, new_id=signed.get("ID"))


def content_changed_signature_kept(root):
    """Assertion signed. The Assertion is rewritten in place, ID and
    Signature kept (no wrapping at all: the digest must catch it)."""
    signed = assertion_of(root)
    evilize(signed, new_id=signed.get("ID"))


def second_signature(root):
    """Assertion signed. A second Signature (a copy of the first) is added to
    the Assertion."""
    signed = assertion_of(root)
    own = own_signature(signed)
    own.addnext(copy.deepcopy(own))


def duplicate_id(root):
    """Assertion signed. XSW3 as SAML Raider builds it: the evil copy keeps
    the original ID, for a verifier that resolves the Reference by ID."""
    signed = assertion_of(root)
    evil = evilize(strip_signature(copy.deepcopy(signed)), new_id=signed.get("ID"))
    signed.addprevious(evil)


def encrypted_decoy(root):
    """Assertion signed. An EncryptedAssertion is put next to the signed
    Assertion (an SP that decrypts would prefer it)."""
    enc = etree.Element("{urn:oasis:names:tc:SAML:2.0:assertion}EncryptedAssertion")
    etree.SubElement(enc, "{http://www.w3.org/2001/04/xmlenc#}EncryptedData")
    assertion_of(root).addprevious(enc)


ONE_ASSERTION = [
    (forged_envelope, "response", "malformed", "the Assertion is not a direct child of the Response"),
    (signature_moved_to_response, "assertion", "bad_signature", "does not point at the Signature's parent"),
    (signature_in_extensions, "assertion", "bad_signature", "a ds:Signature sits outside the Response and Assertion"),
    (content_changed_signature_kept, "assertion", "bad_signature", "digest of the signed element does not match DigestValue"),
    (second_signature, "assertion", "bad_signature", "an element carries more than one ds:Signature"),
    (duplicate_id, "assertion", "malformed", "duplicate ID"),
    (encrypted_decoy, "assertion", "malformed", "it holds 1 Assertion and 1 EncryptedAssertion elements"),
]


@pytest.mark.parametrize("signer", SIGNERS)
@pytest.mark.parametrize("variant, signed, reason, fragment", ONE_ASSERTION, ids=[v[0].__name__ for v in ONE_ASSERTION])
def test_other_wrappings_are_refused(saml, app, admin, signer, variant, signed, reason, fragment):
    genuine = saml.issue(what=signed, signer=signer, name_id="victim@example.com")
    attack = edit(genuine, variant)
    assert_refused_without_trace(app, admin, attack, reason, fragment)


@pytest.mark.parametrize("signer", SIGNERS)
def test_xsw_under_every_saml_signed_policy(saml, app, admin, signer):
    """The wrapping defence does not depend on the policy."""
    for policy in ("either", "assertion", "response", "both"):
        admin.execute("update jit.providers set saml_signed = %s where name = 'okta-saml'", (policy,))
        for variant in (xsw1, xsw3, xsw5, xsw7):
            attack = edit(saml.issue(what="both", signer=signer, name_id="victim@example.com"), variant)
            sqlstate, reason, msg = rejection_detail(app, attack)
            assert (policy, sqlstate, reason) == (policy, "28000", "malformed"), msg
    assert admin.execute("select count(*) from jit.users").fetchone()[0] == 0


# ------------------------------------------------------------------ comment injection


@pytest.mark.parametrize("signer", SIGNERS)
def test_comment_in_name_id_signed_by_the_idp_keeps_the_full_text(saml, app, admin, signer):
    """An IdP that signs 'user@example.com<!---->.evil.com': the subject is the
    whole text, never the part before the comment (CVE-2017-11427 family)."""
    xml = saml.issue(signer=signer, name_id="user@example.com.evil.com", name_id_xml="user@example.com<!---->.evil.com")
    assert "user@example.com<!---->.evil.com" in xml
    r = login(app, xml)
    row = admin.execute("select subject, email from jit.users where id = %s", (r["user_id"],)).fetchone()
    assert row == ("user@example.com.evil.com", "user@example.com.evil.com")
    assert admin.execute("select count(*) from jit.users where subject = 'user@example.com'").fetchone()[0] == 0


def _inject(text_before, text_after):
    def fn(root):
        nid = find(root, "saml:Assertion/saml:Subject/saml:NameID")
        assert nid.text in (text_before, text_before + text_after)
        nid.text = text_before
        comment = etree.Comment("")
        comment.tail = text_after
        nid.append(comment)

    return fn


@pytest.mark.parametrize("signed", ["assertion", "response"])
@pytest.mark.parametrize("signer", SIGNERS)
def test_comment_injected_after_signing(saml, app, admin, signer, signed):
    # The attack of 2018: the attacker owns 'user@example.com.evil.com', gets
    # it signed, then splits the text with a comment. Comments are outside
    # exclusive c14n, so the signature still holds; the subject must stay the
    # whole text.
    genuine = saml.issue(what=signed, signer=signer, name_id="user@example.com.evil.com")
    split = edit(genuine, _inject("user@example.com", ".evil.com"))
    assert "user@example.com<!---->.evil.com" in split
    assert xmlsec1_verifies(split, saml.certs["rsa"])
    r = login(app, split)
    assert admin.execute("select subject from jit.users where id = %s", (r["user_id"],)).fetchone()[0] == "user@example.com.evil.com"
    assert admin.execute("select count(*) from jit.users where subject = 'user@example.com'").fetchone()[0] == 0

    # The same injection into a Response signed for 'user@example.com'
    # (the text grows by '.evil.com', no re-signing): the digest breaks.
    other = saml.issue(what=signed, signer=signer, name_id="user@example.com")
    injected = edit(other, _inject("user@example.com", ".evil.com"))
    assert "user@example.com<!---->.evil.com" in injected
    before = snapshot(admin)
    sqlstate, reason, msg = rejection_detail(app, injected)
    assert (sqlstate, reason) == ("28000", "bad_signature"), msg
    assert "digest of the signed element does not match" in msg
    assert snapshot(admin) == before
