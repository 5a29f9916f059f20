//! SAML 2.0: a Response (HTTP-POST binding, base64 or raw XML) or a
//! standalone signed Assertion, verified against one provider.
//!
//! * [`xml`]: the strict reader and the owned tree everything else walks;
//! * [`c14n`]: exclusive and inclusive canonicalization;
//! * [`dsig`]: one XML-DSig Signature over its parent element;
//! * [`x509`]: trusted keys from the provider's PEM certificates;
//! * [`response`]: the Web SSO profile checks and the wrapping defence;
//! * [`attributes`]: mapping the signed Assertion to an [`Identity`].
//!
//! Decisions (strict where the profile allows a choice):
//! * exactly one Assertion-like element in the whole document, Advice,
//!   Extensions, ds:Object and EncryptedAssertion included (contract);
//!   EncryptedAssertion / EncryptedID are `unsupported`;
//! * every ds:Signature must be a direct child of the root Response or of the
//!   Assertion, at most one per element, and must verify; a Signature anywhere
//!   else (Status, Extensions, KeyInfo, Advice...) is `bad_signature`;
//! * an Assertion without AudienceRestriction is refused (`audience_mismatch`),
//!   as is one without a bearer SubjectConfirmation whose Recipient is in
//!   `acs_urls` (`recipient_mismatch`), and one without AuthnStatement
//!   (`malformed`, profiles 4.1.4.2);
//! * Conditions may hold only AudienceRestriction, OneTimeUse (the replay
//!   cache enforces it) and ProxyRestriction; any other condition makes the
//!   Assertion Indeterminate (core 2.5.1) and is `unsupported`;
//! * a signed Response must carry a Destination (`recipient_mismatch`
//!   otherwise; bindings 3.5.5.2, profiles 4.1.4.5); an unsigned Response
//!   (only the Assertion signed) may omit it, since its Destination would be
//!   the sender's to write anyway; when present it must be in `acs_urls`;
//! * a request id is satisfied only by a signed InResponseTo: the bearer
//!   SubjectConfirmationData's in the Assertion, or the Response's when the
//!   Response signature verified; an unsigned Response claiming the request
//!   does not vouch for an Assertion that names none (`request_mismatch`).
//!   The Response InResponseTo, when a request id is given, must equal it
//!   too, signed or not;
//! * a standalone Assertion must carry its own signature, whatever
//!   `saml_signed` says; Status / Destination / Response InResponseTo do not
//!   apply to it, and a given request id must equal its SubjectConfirmationData
//!   InResponseTo;
//! * Issuer and Audience text are compared after trimming XML whitespace;
//!   NameID and attribute values are kept exactly as sent;
//! * no NotOnOrAfter anywhere: the Assertion is valid for
//!   [`response::DEFAULT_LIFETIME_SECS`] after its IssueInstant;
//! * RSA keys of 1024 bits and more are accepted ([`x509::MIN_RSA_BITS`]).
//!
//! [`Identity`]: crate::identity::Identity

pub mod attributes;
pub mod c14n;
pub mod dsig;
pub mod metadata;
pub mod response;
pub mod time;
pub mod x509;
pub mod xml;

use crate::error::{excerpt, reject, Reason, Rejection};

pub use response::verify;
pub use x509::{parse_pem_keys, TrustedKey};

pub const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

/// What the document's root element is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    Response,
    Assertion,
}

/// A parsed SAML token: the tree, the kind of root, and the Issuer it claims.
#[derive(Debug)]
pub struct SamlToken {
    doc: xml::Document,
    root: Root,
    issuer: Option<String>,
    /// Bytes of the XML text (after base64 decoding): the size the
    /// canonicalization budget is a multiple of.
    source_len: usize,
}

impl SamlToken {
    /// The claimed issuer: the Response's Issuer, else the (first) Assertion's.
    /// Only for finding the provider: [`verify`] checks it again on the signed
    /// element.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    pub fn root_kind(&self) -> Root {
        self.root
    }

    pub fn document(&self) -> &xml::Document {
        &self.doc
    }

    /// Bytes of the XML text the document was parsed from.
    pub fn source_len(&self) -> usize {
        self.source_len
    }
}

/// Trims XML whitespace: entity IDs, audiences and URLs cannot hold any at
/// their ends, and some IdPs pretty-print them.
pub(crate) fn trim_xml_ws(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\n', '\r'])
}

/// Parses an XML text holding a `samlp:Response` or a `saml:Assertion`.
pub fn parse(xml_text: &str) -> Result<SamlToken, Rejection> {
    from_document(xml::parse(xml_text)?, xml_text.len())
}

/// Same as [`parse`] for bytes (base64-decoded input).
pub fn parse_bytes(bytes: &[u8]) -> Result<SamlToken, Rejection> {
    from_document(xml::parse_bytes(bytes)?, bytes.len())
}

fn from_document(doc: xml::Document, source_len: usize) -> Result<SamlToken, Rejection> {
    let root = &doc.root;
    let kind = if root.is(PROTOCOL_NS, "Response") {
        Root::Response
    } else if root.is(ASSERTION_NS, "Assertion") {
        Root::Assertion
    } else {
        return reject(
            Reason::Malformed,
            format!(
                "root element {{{}}}{} is neither samlp:Response nor saml:Assertion",
                excerpt(root.ns.as_deref().unwrap_or("")),
                excerpt(&root.local)
            ),
        );
    };
    let issuer_of = |e: &xml::Element| {
        e.children_named(ASSERTION_NS, "Issuer")
            .next()
            .map(|i| trim_xml_ws(&i.text()).to_string())
    };
    let issuer = match kind {
        Root::Assertion => issuer_of(root),
        Root::Response => issuer_of(root).or_else(|| {
            root.children_named(ASSERTION_NS, "Assertion")
                .next()
                .and_then(issuer_of)
        }),
    };
    Ok(SamlToken {
        doc,
        root: kind,
        issuer,
        source_len,
    })
}

/// Whether decoded bytes look like an XML document (after a BOM and
/// whitespace, the first character is '<').
pub fn looks_like_xml(bytes: &[u8]) -> bool {
    let b = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    b.iter()
        .find(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|&c| c == b'<')
}

/// Decodes a token that may be base64 (standard alphabet, as the HTTP-POST
/// binding sends it, line breaks allowed) or base64url (RFC 7522), padded or
/// not. `None` when it is neither.
pub fn decode_base64_token(t: &str) -> Option<Vec<u8>> {
    use base64::Engine;

    // The decoders check the alphabet themselves (a byte of the other
    // alphabet, or whitespace, fails them), so the common case of one
    // unbroken base64 line costs one decode and no scan or copy.
    let decode = |b: &[u8]| {
        if b.is_empty() {
            return None;
        }
        BASE64_STANDARD
            .decode(b)
            .or_else(|_| BASE64_URL.decode(b))
            .ok()
    };
    let bytes = t.as_bytes();
    if let Some(v) = decode(bytes) {
        return Some(v);
    }
    // Line breaks and spaces are common in form-posted values; dropping them
    // byte-wise keeps this linear on a 1 MiB token.
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    if !bytes.iter().any(is_ws) {
        return None;
    }
    let compact: Vec<u8> = bytes.iter().filter(|b| !is_ws(b)).copied().collect();
    decode(&compact)
}

/// Padding optional (base64url bearer assertions drop it), trailing bits
/// must be zero (one encoding per document). Built at compile time.
const BASE64_CONFIG: base64::engine::GeneralPurposeConfig =
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(false);
const BASE64_STANDARD: base64::engine::GeneralPurpose =
    base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, BASE64_CONFIG);
const BASE64_URL: base64::engine::GeneralPurpose =
    base64::engine::GeneralPurpose::new(&base64::alphabet::URL_SAFE, BASE64_CONFIG);
