//! The reader's size, depth and width limits, and the two reserved
//! namespaces. A leaf: the reader enforces these, the tree re-exports them.

/// The largest document accepted (the token limit, re-checked after base64).
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// Element nesting limit. Real SAML Responses nest about 8 deep.
pub const MAX_DEPTH: usize = 48;
/// Attributes (namespace declarations included) on one element.
pub const MAX_ATTRIBUTES: usize = 64;
/// Namespace declarations in scope at any element (summed over its
/// ancestors). Bounds the per-element work of canonicalization and of the
/// reader's prefix lookups (a scan of the declarations in scope); real SAML
/// documents stay under 20.
pub const MAX_NAMESPACES_IN_SCOPE: usize = 128;
/// Length of a namespace prefix. Prefixes are looked up and compared per
/// element; real ones are a few characters.
pub const MAX_PREFIX_BYTES: usize = 64;
/// Length of a namespace URI. Canonicalization may write a URI once per
/// element that uses it; real ones are under 100 bytes.
pub const MAX_NAMESPACE_URI_BYTES: usize = 1024;
/// Elements, text nodes, comments and processing instructions in one
/// document. Bounds the tree's memory (about a hundred bytes per node); a
/// SAML Response with a thousand group values holds about 4 000.
pub const MAX_NODES: usize = 100_000;

pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
pub const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";
