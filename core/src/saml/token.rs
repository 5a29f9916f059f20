//! A SAML token parsed once: recognising a Response or a standalone
//! Assertion (raw XML, base64 or base64url) and the Issuer it claims.
//! [`crate::saml::response`] verifies it.

use super::names::{trim_xml_ws, ASSERTION_NS, PROTOCOL_NS};
use super::xml;
use crate::error::{excerpt, reject, Reason, Rejection};

/// What the document's root element is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    Response,
    Assertion,
}

/// A parsed SAML token: the tree, the kind of root, and the Issuer it claims.
#[derive(Debug)]
pub struct SamlToken {
    pub(super) doc: xml::Document,
    pub(super) root: Root,
    issuer: Option<String>,
    /// Bytes of the XML text (after base64 decoding): the size the
    /// canonicalization budget is a multiple of.
    source_len: usize,
}

impl SamlToken {
    /// The claimed issuer: the Response's Issuer, else the (first) Assertion's.
    /// Only for finding the provider: [`verify`](super::verify) checks it again on the signed
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

/// Parses an XML text holding a `samlp:Response` or a `saml:Assertion`.
pub fn parse(xml_text: &str) -> Result<SamlToken, Rejection> {
    from_document(xml::parse(xml_text)?, xml_text.len())
}

/// Same as [`parse`] for bytes (base64-decoded input).
pub fn parse_bytes(bytes: &[u8]) -> Result<SamlToken, Rejection> {
    from_document(xml::parse_bytes(bytes)?, bytes.len())
}

/// Same as [`parse_bytes`], the document keeping `bytes` as its text.
pub fn parse_vec(bytes: Vec<u8>) -> Result<SamlToken, Rejection> {
    let len = bytes.len();
    from_document(xml::parse_vec(bytes)?, len)
}

fn from_document(doc: xml::Document, source_len: usize) -> Result<SamlToken, Rejection> {
    let root = doc.root();
    let kind = if root.is(PROTOCOL_NS, "Response") {
        Root::Response
    } else if root.is(ASSERTION_NS, "Assertion") {
        Root::Assertion
    } else {
        return reject(
            Reason::Malformed,
            format!(
                "root element {{{}}}{} is neither samlp:Response nor saml:Assertion",
                excerpt(root.ns().unwrap_or("")),
                excerpt(root.local())
            ),
        );
    };
    let issuer_of = |e: xml::Element<'_>| {
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
    crate::b64::standard_or_url_token(t)
}
