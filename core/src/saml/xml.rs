//! A strict, small XML reader for SAML messages.
//!
//! quick-xml tokenizes; everything a verifier must get right on top of that is
//! done here, in one place: line-end and attribute-value normalization (what
//! canonicalization relies on), entity handling (the five predefined entities
//! and character references only; a DOCTYPE is refused outright, so no entity
//! can ever be declared), namespace resolution, ID uniqueness, one root
//! element, and size / depth / width limits. The result is a [`Document`]: the
//! source text and an arena of nodes that point into it ([`arena`]), walked
//! through copyable [`Element`] handles by canonicalization and the verifier:
//! nothing is ever looked up again by ID or path.
//!
//! * `limits`: the limits and reserved namespaces (re-exported here);
//! * `chars`: character-level rules (allowed characters, references, names);
//! * `arena`: the storage, spans of the source text;
//! * `reader`: quick-xml's events into an arena, with every check.

use std::borrow::Cow;
use std::fmt;

mod arena;
mod chars;
mod limits;
mod reader;

use crate::error::Rejection;
use arena::{Arena, Kind, NodeRec, Span, NONE};
use chars::{check_chars, malformed, normalize_line_ends};

pub use limits::{
    MAX_ATTRIBUTES, MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_NAMESPACES_IN_SCOPE,
    MAX_NAMESPACE_URI_BYTES, MAX_NODES, MAX_PREFIX_BYTES, XMLNS_NS, XML_NS,
};

/// A parsed document: one root element (what surrounds it is dropped: only
/// whitespace, comments and processing instructions may surround it), and
/// the text every name and value is a slice of.
pub struct Document {
    /// The text parsed: BOM removed, line ends normalized.
    text: String,
    arena: Arena,
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("bytes", &self.text.len())
            .field("nodes", &self.arena.nodes.len())
            .field("root", &self.root().qname())
            .finish()
    }
}

impl Document {
    pub fn root(&self) -> Element<'_> {
        Element {
            doc: self,
            id: self.arena.root,
        }
    }

    /// Every element of the document, in document order.
    pub fn elements(&self) -> impl Iterator<Item = Element<'_>> + '_ {
        self.root().descendants_iter()
    }

    fn str(&self, span: Span) -> &str {
        self.arena.str(&self.text, span)
    }

    fn node(&self, id: u32) -> Option<&NodeRec> {
        self.arena.nodes.get(id as usize)
    }

    fn node_view(&self, id: u32) -> Option<Node<'_>> {
        let n = self.node(id)?;
        Some(match n.kind {
            Kind::Element => Node::Element(Element { doc: self, id }),
            Kind::Text => Node::Text(self.str(n.value)),
            Kind::Comment => Node::Comment(self.str(n.value)),
            Kind::Pi => Node::Pi {
                target: self.str(n.value),
                data: n.prefix.map(|d| self.str(d)).unwrap_or(""),
            },
        })
    }
}

/// A namespace declaration written on an element (`xmlns` or `xmlns:p`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NsDecl<'d> {
    /// `None` for the default namespace.
    pub prefix: Option<&'d str>,
    /// Empty only for `xmlns=""` (undeclaring the default namespace).
    pub uri: &'d str,
}

/// An attribute that is not a namespace declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr<'d> {
    pub prefix: Option<&'d str>,
    pub local: &'d str,
    /// Namespace URI; `None` for unprefixed attributes.
    pub ns: Option<&'d str>,
    /// The normalized value (XML 1.0 section 3.3.3), references resolved.
    pub value: &'d str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node<'d> {
    Element(Element<'d>),
    /// Character data, CDATA sections included, references resolved.
    Text(&'d str),
    Comment(&'d str),
    Pi {
        target: &'d str,
        data: &'d str,
    },
}

/// An element of a [`Document`]: a copyable handle. Two handles are equal
/// when they are the same element of the same document (identity, never
/// content: the wrapping defence compares elements this way).
#[derive(Clone, Copy)]
pub struct Element<'d> {
    doc: &'d Document,
    id: u32,
}

impl PartialEq for Element<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.doc, other.doc) && self.id == other.id
    }
}

impl Eq for Element<'_> {}

impl fmt::Debug for Element<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}> #{}", self.qname(), self.id)
    }
}

/// More than one child element where the schema allows one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Several;

impl<'d> Element<'d> {
    fn rec(&self) -> Option<&'d NodeRec> {
        self.doc.node(self.id)
    }

    pub fn document(&self) -> &'d Document {
        self.doc
    }

    pub fn local(&self) -> &'d str {
        self.rec().map(|n| self.doc.str(n.value)).unwrap_or("")
    }

    pub fn prefix(&self) -> Option<&'d str> {
        self.rec()?.prefix.map(|p| self.doc.str(p))
    }

    /// Namespace URI; `None` when the element is in no namespace.
    pub fn ns(&self) -> Option<&'d str> {
        self.rec()?.ns.map(|p| self.doc.str(p))
    }

    /// Whether this element has the namespace URI and local name given.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.local() == local && self.ns() == Some(ns)
    }

    /// Unprefixed attributes in document order, then prefixed ones in
    /// document order. Nothing may depend on this order: expanded names are
    /// unique on an element and canonicalization sorts.
    pub fn attrs(&self) -> impl ExactSizeIterator<Item = Attr<'d>> + Clone + 'd {
        let doc = self.doc;
        let (from, to) = self.rec().map(|n| n.attrs).unwrap_or((0, 0));
        let recs = doc
            .arena
            .attrs
            .get(from as usize..to as usize)
            .unwrap_or(&[]);
        recs.iter().map(move |a| Attr {
            prefix: a.prefix.map(|p| doc.str(p)),
            local: doc.str(a.local),
            ns: a.ns.map(|n| doc.str(n)),
            value: doc.str(a.value),
        })
    }

    /// The namespace declarations written on this element.
    pub fn ns_decls(&self) -> impl ExactSizeIterator<Item = NsDecl<'d>> + Clone + 'd {
        let doc = self.doc;
        let (from, to) = self.rec().map(|n| n.decls).unwrap_or((0, 0));
        let recs = doc
            .arena
            .decls
            .get(from as usize..to as usize)
            .unwrap_or(&[]);
        recs.iter().map(move |d| NsDecl {
            prefix: d.prefix.map(|p| doc.str(p)),
            uri: doc.str(d.uri),
        })
    }

    /// The value of an unprefixed attribute (SAML and XML-DSig attributes are
    /// all unqualified).
    pub fn attr(&self, local: &str) -> Option<&'d str> {
        self.attrs()
            .find(|a| a.ns.is_none() && a.local == local)
            .map(|a| a.value)
    }

    /// The child nodes, in document order.
    pub fn children(&self) -> Children<'d> {
        Children {
            doc: self.doc,
            next: self.rec().map(|n| n.first_child).unwrap_or(NONE),
        }
    }

    pub fn child_elements(&self) -> impl Iterator<Item = Element<'d>> + 'd {
        self.children().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// Child elements with this namespace and local name.
    pub fn children_named<'a>(
        &self,
        ns: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = Element<'d>> + 'a
    where
        'd: 'a,
    {
        self.child_elements().filter(move |e| e.is(ns, local))
    }

    /// The only child element with this name: `Ok(None)` when absent,
    /// `Err(Several)` when there are several.
    pub fn unique_child(&self, ns: &str, local: &str) -> Result<Option<Element<'d>>, Several> {
        let mut it = self.child_elements().filter(|e| e.is(ns, local));
        let first = it.next();
        if it.next().is_some() {
            return Err(Several);
        }
        Ok(first)
    }

    /// The element's text: every text and CDATA child concatenated, comments
    /// and processing instructions skipped (never a truncation at a comment).
    /// Child elements are not descended into: callers that need pure text
    /// check [`Element::has_element_children`]. Borrowed when there is one
    /// text node (the usual case).
    pub fn text(&self) -> Cow<'d, str> {
        let mut out: Cow<'d, str> = Cow::Borrowed("");
        for n in self.children() {
            if let Node::Text(t) = n {
                if out.is_empty() {
                    out = Cow::Borrowed(t);
                } else {
                    out.to_mut().push_str(t);
                }
            }
        }
        out
    }

    pub fn has_element_children(&self) -> bool {
        self.children().any(|n| matches!(n, Node::Element(_)))
    }

    /// The qualified name as written (`prefix:local` or `local`).
    pub fn qname(&self) -> String {
        match self.prefix() {
            Some(p) => format!("{p}:{}", self.local()),
            None => self.local().to_string(),
        }
    }

    /// Every element of this subtree, this one included, in document order.
    pub fn descendants(&self) -> Vec<Element<'d>> {
        self.descendants_iter().collect()
    }

    /// Same as [`Element::descendants`], without collecting: the subtree is
    /// one index range of the arena.
    pub fn descendants_iter(&self) -> impl Iterator<Item = Element<'d>> + 'd {
        let doc = self.doc;
        let end = self.rec().map(|n| n.subtree_end).unwrap_or(self.id);
        (self.id..end).filter_map(move |id| match doc.node(id)?.kind {
            Kind::Element => Some(Element { doc, id }),
            _ => None,
        })
    }

    /// Whether `other` is this element or one of its descendants.
    pub fn contains(&self, other: Element<'_>) -> bool {
        std::ptr::eq(self.doc, other.doc)
            && other.id >= self.id
            && self.rec().is_some_and(|n| other.id < n.subtree_end)
    }

    /// The parent element, `None` for the root.
    pub fn parent(&self) -> Option<Element<'d>> {
        let p = self.rec()?.parent;
        self.doc.node(p)?;
        Some(Element {
            doc: self.doc,
            id: p,
        })
    }

    /// The chain of elements from `self` down to `target` (both included),
    /// found by identity, or `None` when `target` is not in this subtree.
    pub fn path_to(&self, target: Element<'_>) -> Option<Vec<Element<'d>>> {
        if !self.contains(target) {
            return None;
        }
        let mut path = vec![Element {
            doc: self.doc,
            id: target.id,
        }];
        let mut at = path.first().copied()?;
        while at != *self {
            at = at.parent()?;
            path.push(at);
        }
        path.reverse();
        Some(path)
    }
}

/// The child nodes of an element, in document order.
#[derive(Clone)]
pub struct Children<'d> {
    doc: &'d Document,
    next: u32,
}

impl<'d> Iterator for Children<'d> {
    type Item = Node<'d>;

    fn next(&mut self) -> Option<Node<'d>> {
        let id = self.next;
        let n = self.doc.node(id)?;
        self.next = n.next_sibling;
        self.doc.node_view(id)
    }
}

/// Parses a document from raw bytes (must be UTF-8; a UTF-8 BOM is allowed).
pub fn parse_bytes(input: &[u8]) -> Result<Document, Rejection> {
    check_size(input.len())?;
    match std::str::from_utf8(input) {
        Ok(s) => parse(s),
        Err(_) => malformed("XML document is not valid UTF-8"),
    }
}

/// Same as [`parse_bytes`], keeping `input` as the document's text when it
/// needs no change (no copy of a decoded token).
pub fn parse_vec(input: Vec<u8>) -> Result<Document, Rejection> {
    check_size(input.len())?;
    match String::from_utf8(input) {
        Ok(s) => parse_string(s),
        Err(_) => malformed("XML document is not valid UTF-8"),
    }
}

/// Parses a document from text.
pub fn parse(input: &str) -> Result<Document, Rejection> {
    check_size(input.len())?;
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    check_chars(input)?;
    let text = normalize_line_ends(input).into_owned();
    build(text)
}

/// Same as [`parse`], for text the caller owns.
pub fn parse_string(input: String) -> Result<Document, Rejection> {
    check_size(input.len())?;
    if input.starts_with('\u{feff}') || input.contains('\r') {
        return parse(&input);
    }
    check_chars(&input)?;
    build(input)
}

fn check_size(len: usize) -> Result<(), Rejection> {
    if len > MAX_DOCUMENT_BYTES {
        return malformed(format!("XML document is {len} bytes, over the 1 MiB limit"));
    }
    Ok(())
}

fn build(text: String) -> Result<Document, Rejection> {
    let arena = reader::read(&text)?;
    Ok(Document { text, arena })
}
