"""Builders for canonicalization-amplification SAML Responses (issue 13).

Exclusive c14n renders a namespace declaration on every element that
visibly uses it unless an output ancestor already rendered it. So a long
namespace URI declared once (on or above the signed element), and then a
great many tiny elements that use it (``<p:a/>``, or ``<a/>`` in a default
namespace) under a parent that does not, make the canonical form of the
signed element hundreds of times the document's size: each 4-byte ``<a/>``
comes out as ``<a xmlns="...1000 bytes..."></a>``. A URI made of ``&``
characters is worse again: every byte of it is written as ``&amp;``.

The ds:Signature is written by hand: ``signxml`` or ``xmlsec1`` would
canonicalize the amplified document themselves. SignedInfo is written
already in its exclusive canonical form (so the bytes signed are exactly
the bytes in the document) and signed with the IdP's RSA key through
``cryptography``. The DigestValue is either computed (lxml's exclusive c14n
of the signed element without its Signature; only for small documents) or
bogus, and the SignatureValue is either that genuine signature or junk.

Nothing here talks to a database.
"""

import base64
import hashlib
import os
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from saml_idp import ASSERTION_NS, DIGEST_METHODS, DSIG_NS, ENVELOPED, EXC_C14N, PROTOCOL_NS, SIGNATURE_METHODS

INC_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
# The reader refuses namespace URIs over 1024 bytes and prefixes over 64.
URI_LEN = 1000
PLAIN_URI = ("urn:amplify:" + "x" * URI_LEN)[:URI_LEN]
# Every character but four of this one is escaped as &amp; (5 bytes) in
# canonical output: 1000 bytes of URI (a valid one, for lxml too), about
# 5000 bytes on every element that uses it. (libxml2, hence lxml and
# xmlsec1, writes namespace URIs in canonical XML without escaping '&',
# unlike attribute values and unlike what C14N 1.0 says; so lxml's
# canonical form is never used as the reference for documents with it.)
AMP_URI = "urn:" + "&" * (URI_LEN - 4)
JUNK_PREFIX = "p"
# The token limit (core token.rs MAX_TOKEN_BYTES).
MAX_TOKEN = 1024 * 1024
# The reader refuses documents of more than 100 000 nodes (elements and text
# nodes; core xml.rs MAX_NODES): at most this many tiny elements, so the
# verifier gets as far as the signatures. A token that still has room
# after them is filled up to size with plain text next to them.
JUNK_CAP = 98_000
# Shibboleth-like PrefixList that leaves the amplifying prefix out.
PREFIX_LIST = "xs saml2"

PATHS = ("response", "assertion")
NAMESPACES = ("default", "prefixed")
C14NS = ("exc", "exc-prefixlist", "inclusive")
ENCODINGS = ("raw", "base64")

RESPONSE_OPEN = "<saml2p:Response "
ASSERTION_OPEN = "<saml2:Assertion "
ISSUER_CLOSE = "</saml2:Issuer>"
STATUS_OPEN = "<saml2p:Status>"
AUTHN_OPEN = "<saml2:AuthnStatement "


def attr_escape(s):
    """An attribute value as written inside double quotes."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;")


def c14n_attr_escape(s):
    """An attribute value as canonical XML writes it."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;").replace("\t", "&#x9;").replace("\n", "&#xA;").replace("\r", "&#xD;")


@dataclass
class Amplified:
    """One built token and what is known about it."""

    token: str  # what is sent to jit_login
    xml: bytes  # the XML document (the token itself, or its base64 payload)
    signed_id: str
    junk_count: int
    junk_source_bytes: int  # bytes of the tiny elements in the document
    junk_canonical_bytes: int  # what they become in exclusive c14n
    filler: int  # bytes of plain text next to them
    shape: dict = field(default_factory=dict)

    @property
    def doc_bytes(self):
        return len(self.xml)

    def canonical_estimate(self, c14n):
        """Bytes of the signed element's canonical form (upper estimate:
        the whole document, junk rendered as the method renders it)."""
        if c14n == "inclusive":
            return self.doc_bytes
        return self.doc_bytes - self.junk_source_bytes + self.junk_canonical_bytes

    def limit(self, factor):
        """The verifier's canonical output limit for this document."""
        return factor * self.doc_bytes + 64 * 1024


# Prefixes of the extra namespaces used by the tiny elements' attributes.
ATTR_PREFIXES = "qrstuvwxyz"


def extra_uri(uri, i):
    """A URI as long as ``uri`` and distinct from it (attributes of one
    element need distinct namespaces)."""
    head = f"urn:{i}:"
    return head + uri[len(head):]


def junk_element(ns, attrs=0):
    """``<a/>`` or ``<p:a/>``, with ``attrs`` attributes in namespaces of
    their own (each renders one more declaration)."""
    name = "a" if ns == "default" else f"{JUNK_PREFIX}:a"
    return f"<{name}" + "".join(f' {ATTR_PREFIXES[i]}:a=""' for i in range(attrs)) + "/>"


def junk_canonical(ns, uri, attrs=0):
    """What exclusive c14n makes of one tiny element below a parent that
    renders none of its namespaces."""
    name = "a" if ns == "default" else f"{JUNK_PREFIX}:a"
    first = ' xmlns="' if ns == "default" else f' xmlns:{JUNK_PREFIX}="'
    decls = first + c14n_attr_escape(uri) + '"'
    decls += "".join(f' xmlns:{ATTR_PREFIXES[i]}="{c14n_attr_escape(extra_uri(uri, i))}"' for i in range(attrs))
    at = "".join(f' {ATTR_PREFIXES[i]}:a=""' for i in range(attrs))
    return f"<{name}{decls}{at}></{name}>"


def ns_declaration(ns, uri, attrs=0):
    name = "xmlns" if ns == "default" else f"xmlns:{JUNK_PREFIX}"
    return f' {name}="{attr_escape(uri)}"' + "".join(f' xmlns:{ATTR_PREFIXES[i]}="{attr_escape(extra_uri(uri, i))}"' for i in range(attrs))


def signed_info(ref_id, digest_b64, c14n, sig_alg="rsa-sha256", digest="sha256"):
    """ds:SignedInfo in exclusive canonical form (no PrefixList on its own
    CanonicalizationMethod): these exact bytes are what gets signed."""
    d = "ds:"
    if c14n == "exc":
        transform = f'<{d}Transform Algorithm="{EXC_C14N}"></{d}Transform>'
    elif c14n == "exc-prefixlist":
        transform = (
            f'<{d}Transform Algorithm="{EXC_C14N}">'
            f'<ec:InclusiveNamespaces xmlns:ec="{EXC_C14N}" PrefixList="{PREFIX_LIST}"></ec:InclusiveNamespaces>'
            f"</{d}Transform>"
        )
    elif c14n == "inclusive":
        transform = f'<{d}Transform Algorithm="{INC_C14N}"></{d}Transform>'
    else:
        raise ValueError(c14n)
    return (
        f'<{d}SignedInfo xmlns:ds="{DSIG_NS}">'
        f'<{d}CanonicalizationMethod Algorithm="{EXC_C14N}"></{d}CanonicalizationMethod>'
        f'<{d}SignatureMethod Algorithm="{SIGNATURE_METHODS[sig_alg]}"></{d}SignatureMethod>'
        f'<{d}Reference URI="#{ref_id}"><{d}Transforms>'
        f'<{d}Transform Algorithm="{ENVELOPED}"></{d}Transform>{transform}'
        f"</{d}Transforms>"
        f'<{d}DigestMethod Algorithm="{DIGEST_METHODS[digest]}"></{d}DigestMethod>'
        f"<{d}DigestValue>{digest_b64}</{d}DigestValue>"
        f"</{d}Reference></{d}SignedInfo>"
    )


def rsa_sign(key, data):
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def signature_xml(si, sig_b64):
    return f'<ds:Signature xmlns:ds="{DSIG_NS}">{si}<ds:SignatureValue>{sig_b64}</ds:SignatureValue></ds:Signature>'


def _nth(s, needle, start=0):
    i = s.find(needle, start)
    assert i >= 0, needle
    return i


def build(
    saml,
    *,
    path="response",
    ns="prefixed",
    c14n="exc",
    decl="on",
    encoding="raw",
    signature="bogus-digest",
    uri=PLAIN_URI,
    junk=None,
    token_bytes=MAX_TOKEN - 64,
    filler=None,
    attrs=0,
    response_signature=False,
    **fields,
):
    """A Response from ``saml.build(**fields)`` (Okta style: every SAML
    element prefixed) with the amplifier added and a hand-made Signature.

    * ``path``: the signed element, 'response' (junk in samlp:Extensions) or
      'assertion' (junk in saml:Advice);
    * ``ns``: the junk elements are ``<a/>`` in a default namespace, or
      ``<p:a/>``;
    * ``decl``: the long namespace is declared 'on' the signed element or
      'above' it (on the Response, for the Assertion path);
    * ``c14n``: the Reference's canonicalization transform;
    * ``signature``: 'valid' (correct DigestValue, genuine SignatureValue;
      small documents only), 'bogus-digest' (genuine SignatureValue over a
      SignedInfo holding a wrong DigestValue) or 'junk' (random
      SignatureValue);
    * ``junk``: how many tiny elements; by default as many as fit in
      ``token_bytes`` of token (raw XML, or base64 of the XML), at most
      ``JUNK_CAP``;
    * ``filler``: bytes of plain text added next to the junk (to set the
      document size independently of the amplification); by default what
      is left of ``token_bytes`` after the junk when ``junk`` is not given;
    * ``attrs``: prefixed attributes on each tiny element, each in one more
      long namespace declared next to the first (more canonical output per
      element when the node limit, not the token size, is what binds);
    * ``response_signature`` (Assertion path): the Response is signed too,
      genuinely and with a correct DigestValue over the whole amplified
      Response (hashed as a stream: the canonical form is lxml's for the
      little around the junk, and ``junk_canonical`` for each tiny element),
      so a verifier that allows the output gets through the Response's
      canonical form before it starts on the Assertion's.
    """
    assert saml.style == "okta"
    assert path in PATHS and ns in NAMESPACES and c14n in C14NS and decl in ("on", "above")
    assert decl == "on" or path == "assertion", "nothing is above the Response"
    assert not response_signature or (path == "assertion" and c14n != "inclusive")
    xml = saml.build(**fields)
    # 1. The long namespace declaration.
    decl_open = RESPONSE_OPEN if (path == "response" or decl == "above") else ASSERTION_OPEN
    i = _nth(xml, decl_open) + len(decl_open) - 1
    xml = xml[:i] + ns_declaration(ns, uri, attrs) + xml[i:]
    # 2. The junk container, inside the signed element, its parent prefixed.
    if path == "response":
        container_open, container_close, at = "<saml2p:Extensions>", "</saml2p:Extensions>", _nth(xml, STATUS_OPEN)
    else:
        container_open, container_close, at = "<saml2:Advice>", "</saml2:Advice>", _nth(xml, AUTHN_OPEN)
    marker = "\x00JUNK\x00"
    xml = xml[:at] + container_open + marker + container_close + xml[at:]
    # 3. Where the Signature goes: right after the signed element's Issuer.
    start = 0 if path == "response" else _nth(xml, ASSERTION_OPEN)
    j = _nth(xml, ISSUER_CLOSE, start) + len(ISSUER_CLOSE)
    sig_marker = "\x00SIG\x00"
    xml = xml[:j] + sig_marker + xml[j:]
    signed_id = re.search(r' ID="([^"]+)"', xml[start:]).group(1)
    response_id = re.search(r' ID="([^"]+)"', xml).group(1)
    resp_marker = "\x00RSIG\x00"
    if response_signature:
        k = _nth(xml, ISSUER_CLOSE) + len(ISSUER_CLOSE)
        xml = xml[:k] + resp_marker + xml[k:]

    # Sizes: the signature's length does not depend on its values (base64 of
    # a SHA-256 digest and of a 2048-bit RSA signature).
    fake_sig = signature_xml(signed_info(signed_id, "A" * 44, c14n), "A" * 344)
    fake_resp_sig = signature_xml(signed_info(response_id, "A" * 44, "exc"), "A" * 344) if response_signature else ""
    fixed = len(xml.encode()) - len(marker) - len(sig_marker) + len(fake_sig)
    if response_signature:
        fixed += len(fake_resp_sig) - len(resp_marker)
    unit = junk_element(ns, attrs)
    if junk is None:
        room = (token_bytes if encoding == "raw" else (token_bytes // 4) * 3) - fixed
        junk = min(room // len(unit), JUNK_CAP)
        if filler is None:
            filler = room - junk * len(unit)
    filler = filler or 0
    assert junk >= 0 and filler >= 0
    # Filler text first (one text node), then the tiny elements.
    xml_marked = xml
    xml = xml.replace(marker, "y" * filler + unit * junk)
    fixed += filler

    if signature == "valid":
        digest_b64 = base64.b64encode(hashlib.sha256(canonical_signed_element(xml.replace(sig_marker, "").replace(resp_marker, ""), path, c14n)).digest()).decode()
    else:
        digest_b64 = base64.b64encode(hashlib.sha256(b"not the digest of anything" + os.urandom(8)).digest()).decode()
    si = signed_info(signed_id, digest_b64, c14n)
    if signature == "junk":
        sig_b64 = base64.b64encode(os.urandom(256)).decode()
    else:
        sig_b64 = base64.b64encode(rsa_sign(saml.keys["rsa"], si.encode())).decode()
    sig = signature_xml(si, sig_b64)
    assert len(sig) == len(fake_sig)
    xml = xml.replace(sig_marker, sig)
    if response_signature:
        # The Response's canonical form (its own Signature left out): lxml's
        # with a text marker where the junk goes, the junk rendered here.
        around = xml_marked.replace(marker, "y" * filler + "JUNKMARKER").replace(sig_marker, sig).replace(resp_marker, "")
        head, tail = canonical_signed_element(around, "response", "exc").split(b"JUNKMARKER")
        h = hashlib.sha256(head)
        one = junk_canonical(ns, uri, attrs).encode()
        many = one * 256
        for _ in range(junk // 256):
            h.update(many)
        h.update(one * (junk % 256))
        h.update(tail)
        rsi = signed_info(response_id, base64.b64encode(h.digest()).decode(), "exc")
        rsig = signature_xml(rsi, base64.b64encode(rsa_sign(saml.keys["rsa"], rsi.encode())).decode())
        assert len(rsig) == len(fake_resp_sig)
        xml = xml.replace(resp_marker, rsig)
    xml_bytes = xml.encode()
    assert len(xml_bytes) == fixed + junk * len(unit)
    token = xml_bytes.decode() if encoding == "raw" else base64.b64encode(xml_bytes).decode()
    assert len(token) <= MAX_TOKEN
    return Amplified(
        token=token,
        xml=xml_bytes,
        signed_id=signed_id,
        junk_count=junk,
        junk_source_bytes=junk * len(unit),
        junk_canonical_bytes=junk * len(junk_canonical(ns, uri, attrs)),
        filler=filler,
        shape=dict(path=path, ns=ns, c14n=c14n, decl=decl, encoding=encoding, signature=signature, response_signature=response_signature),
    )


# ---------------------------------------------------------------- offline checks


def parse(xml_bytes):
    return etree.fromstring(xml_bytes, etree.XMLParser(remove_blank_text=False, resolve_entities=False, huge_tree=True))


def signed_element(root, path):
    if path == "response":
        return root
    found = root.findall(f"{{{ASSERTION_NS}}}Assertion")
    assert len(found) == 1
    return found[0]


def canonical_signed_element(xml, path, c14n):
    """lxml's canonical form of the signed element (document given without
    its Signature): what the DigestValue is computed over."""
    el = signed_element(parse(xml.encode() if isinstance(xml, str) else xml), path)
    if c14n == "inclusive":
        raise NotImplementedError("lxml's subtree c14n drops unused ancestor declarations; valid digests are exclusive only")
    prefixes = PREFIX_LIST.split() if c14n == "exc-prefixlist" else None
    return etree.tostring(el, method="c14n", exclusive=True, with_comments=False, inclusive_ns_prefixes=prefixes)


def signature_of(root, path):
    el = signed_element(root, path)
    sigs = el.findall(f"{{{DSIG_NS}}}Signature")
    assert len(sigs) == 1
    return sigs[0]


def signature_verifies(saml, sig, doc):
    """Whether a ds:Signature's SignatureValue verifies over its SignedInfo
    (lxml's exclusive c14n, which must also be the bytes in ``doc``)."""
    si = sig.find(f"{{{DSIG_NS}}}SignedInfo")
    si_c14n = etree.tostring(si, method="c14n", exclusive=True, with_comments=False)
    assert si_c14n in doc, "SignedInfo is not written in its canonical form"
    sig_value = base64.b64decode(sig.findtext(f"{{{DSIG_NS}}}SignatureValue"))
    try:
        saml.keys["rsa"].public_key().verify(sig_value, si_c14n, padding.PKCS1v15(), hashes.SHA256())
        return True
    except InvalidSignature:
        return False


def response_digest_matches(a):
    """Whether the Response's DigestValue is lxml's exclusive c14n digest of
    the Response without its Signature (small documents with plain URIs
    only: lxml keeps it all in memory, and libxml2 writes '&' in namespace
    URIs unescaped)."""
    root = parse(a.xml)
    sig = signature_of(root, "response")
    want = sig.findtext(f".//{{{DSIG_NS}}}DigestValue")
    root.remove(sig)
    got = base64.b64encode(hashlib.sha256(etree.tostring(root, method="c14n", exclusive=True, with_comments=False)).digest()).decode()
    return got == want


def check_offline(a, saml):
    """Offline proof that a built token is what it claims: well-formed and
    namespace-well-formed for lxml, one Assertion, the Signature a child of
    the signed element right after its Issuer, SignedInfo's exclusive
    canonical form (lxml) byte-equal to what was signed, and the
    SignatureValue verifying (or not, for 'junk') with the IdP's key."""
    if a.shape["encoding"] == "base64":
        assert base64.b64decode(a.token) == a.xml
    else:
        assert a.token.encode() == a.xml
    root = parse(a.xml)
    assert etree.QName(root) == etree.QName(PROTOCOL_NS, "Response")
    assert len(root.findall(f".//{{{ASSERTION_NS}}}Assertion")) == 1
    el = signed_element(root, a.shape["path"])
    assert el.get("ID") == a.signed_id
    sig = signature_of(root, a.shape["path"])
    assert etree.QName(sig.getprevious()) == etree.QName(ASSERTION_NS, "Issuer")
    assert signature_verifies(saml, sig, a.xml) is (a.shape["signature"] != "junk")
    if a.shape.get("response_signature"):
        rsig = signature_of(root, "response")
        assert etree.QName(rsig.getprevious()) == etree.QName(ASSERTION_NS, "Issuer")
        assert signature_verifies(saml, rsig, a.xml)
    # The junk: how many elements, in which namespace, under a parent that
    # is not in it.
    junk_ns = root.nsmap.get(None if a.shape["ns"] == "default" else JUNK_PREFIX) or el.nsmap.get(None if a.shape["ns"] == "default" else JUNK_PREFIX)
    assert junk_ns is not None
    container = el.find(f"{{{PROTOCOL_NS}}}Extensions" if a.shape["path"] == "response" else f"{{{ASSERTION_NS}}}Advice")
    assert len(container) == a.junk_count
    assert len(container.text or "") == a.filler
    # Nodes as the verifier's reader counts them (elements and text nodes).
    nodes = sum(1 + (e.text is not None) + (e.tail is not None) for e in root.iter() if isinstance(e.tag, str)) - (root.tail is not None)
    assert nodes < 100_000, nodes
    if a.junk_count:
        assert etree.QName(container[0]) == etree.QName(junk_ns, "a")
        assert etree.QName(container).namespace != junk_ns
    return root
