//! Names every SAML module compares against: the two namespaces, and the
//! whitespace rule for entity IDs, audiences and URLs. A leaf.

pub const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

/// Trims XML whitespace: entity IDs, audiences and URLs cannot hold any at
/// their ends, and some IdPs pretty-print them.
pub(crate) fn trim_xml_ws(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\n', '\r'])
}
