//! A strict, small XML reader for SAML messages.
//!
//! quick-xml tokenizes; everything a verifier must get right on top of that is
//! done here, in one place: line-end and attribute-value normalization (what
//! canonicalization relies on), entity handling (the five predefined entities
//! and character references only; a DOCTYPE is refused outright, so no entity
//! can ever be declared), namespace resolution, ID uniqueness, one root
//! element, and size / depth / width limits. The result is a small owned tree
//! that canonicalization and the verifier walk by reference: nothing is ever
//! looked up again by ID or path.

use std::borrow::{Borrow, Cow};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Deref;
use std::rc::Rc;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::error::{excerpt, reject, Reason, Rejection};

/// The largest document accepted (the token limit, re-checked after base64).
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// Element nesting limit. Real SAML Responses nest about 8 deep.
pub const MAX_DEPTH: usize = 48;
/// Attributes (namespace declarations included) on one element.
pub const MAX_ATTRIBUTES: usize = 64;
/// Namespace declarations in scope at any element (summed over its
/// ancestors). Bounds the per-element work of canonicalization; real SAML
/// documents stay under 20.
pub const MAX_NAMESPACES_IN_SCOPE: usize = 128;
/// Length of a namespace prefix. Prefixes are looked up and hashed per
/// element; real ones are a few characters.
pub const MAX_PREFIX_BYTES: usize = 64;
/// Length of a namespace URI. Canonicalization may write a URI once per
/// element that uses it; real ones are under 100 bytes.
pub const MAX_NAMESPACE_URI_BYTES: usize = 1024;
/// Elements, text nodes, comments and processing instructions in one
/// document. Bounds the tree's memory (a few hundred bytes per node at
/// worst); a SAML Response with a thousand group values holds about 4 000.
pub const MAX_NODES: usize = 100_000;

pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
pub const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// An XML name part or namespace URI. Prefixes and namespace URIs are
/// shared with the declaration that binds them (`Clone` is a reference-count
/// increment), so a document that repeats a few declarations hundreds of times
/// does not copy them per element and attribute.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(Rc<str>);

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Name {
        Name(Rc::from(s))
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A namespace declaration written on an element (`xmlns` or `xmlns:p`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsDecl {
    /// `None` for the default namespace.
    pub prefix: Option<Name>,
    /// Empty only for `xmlns=""` (undeclaring the default namespace).
    pub uri: Name,
}

/// An attribute that is not a namespace declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub prefix: Option<Name>,
    pub local: Name,
    /// Namespace URI; `None` for unprefixed attributes.
    pub ns: Option<Name>,
    /// The normalized value (XML 1.0 section 3.3.3), references resolved.
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    /// Character data, CDATA sections included, references resolved.
    Text(String),
    Comment(String),
    Pi {
        target: String,
        data: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub prefix: Option<Name>,
    pub local: Name,
    /// Namespace URI; `None` when the element is in no namespace.
    pub ns: Option<Name>,
    pub ns_decls: Vec<NsDecl>,
    /// Unprefixed attributes in document order, then prefixed ones in
    /// document order. Nothing may depend on this order: expanded names are
    /// unique on an element and canonicalization sorts.
    pub attrs: Vec<Attr>,
    pub children: Vec<Node>,
}

/// A parsed document: one root element (what surrounds it is dropped: only
/// whitespace, comments and processing instructions may surround it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub root: Element,
}

/// More than one child element where the schema allows one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Several;

impl Element {
    /// Whether this element has the namespace URI and local name given.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.local == local && self.ns.as_deref() == Some(ns)
    }

    /// The value of an unprefixed attribute (SAML and XML-DSig attributes are
    /// all unqualified).
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.is_none() && a.local == local)
            .map(|a| a.value.as_str())
    }

    pub fn child_elements(&self) -> impl DoubleEndedIterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// Child elements with this namespace and local name.
    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.child_elements().filter(move |e| e.is(ns, local))
    }

    /// The only child element with this name: `Ok(None)` when absent,
    /// `Err(Several)` when there are several.
    pub fn unique_child(&self, ns: &str, local: &str) -> Result<Option<&Element>, Several> {
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
    /// check [`Element::has_element_children`].
    pub fn text(&self) -> String {
        let mut out = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                out.push_str(t);
            }
        }
        out
    }

    pub fn has_element_children(&self) -> bool {
        self.children.iter().any(|n| matches!(n, Node::Element(_)))
    }

    /// The qualified name as written (`prefix:local` or `local`).
    pub fn qname(&self) -> String {
        match &self.prefix {
            Some(p) => format!("{p}:{}", self.local),
            None => self.local.to_string(),
        }
    }

    /// Every element of this subtree, this one included, in document order.
    pub fn descendants(&self) -> Vec<&Element> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            out.push(e);
            // Reverse so the stack pops children in document order.
            stack.extend(e.child_elements().rev());
        }
        out
    }

    /// The chain of elements from `self` down to `target` (both included),
    /// found by identity, or `None` when `target` is not in this subtree.
    pub fn path_to<'a>(&'a self, target: &Element) -> Option<Vec<&'a Element>> {
        if std::ptr::eq(self, target) {
            return Some(vec![self]);
        }
        for c in self.child_elements() {
            if let Some(mut rest) = c.path_to(target) {
                rest.insert(0, self);
                return Some(rest);
            }
        }
        None
    }
}

fn malformed<T>(detail: impl Into<String>) -> Result<T, Rejection> {
    reject(Reason::Malformed, detail)
}

/// Parses a document from raw bytes (must be UTF-8; a UTF-8 BOM is allowed).
pub fn parse_bytes(input: &[u8]) -> Result<Document, Rejection> {
    if input.len() > MAX_DOCUMENT_BYTES {
        return malformed(format!(
            "XML document is {} bytes, over the 1 MiB limit",
            input.len()
        ));
    }
    match std::str::from_utf8(input) {
        Ok(s) => parse(s),
        Err(_) => malformed("XML document is not valid UTF-8"),
    }
}

/// Parses a document from text.
pub fn parse(input: &str) -> Result<Document, Rejection> {
    if input.len() > MAX_DOCUMENT_BYTES {
        return malformed(format!(
            "XML document is {} bytes, over the 1 MiB limit",
            input.len()
        ));
    }
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    check_chars(input)?;
    let normalized = normalize_line_ends(input);
    Parser::default().run(&normalized)
}

/// XML 1.0 `Char`: refuse control characters and the two non-characters
/// (surrogates cannot occur in a `str`).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn check_chars(s: &str) -> Result<(), Rejection> {
    // Byte-wise: in UTF-8 the only characters outside `Char` that a `str` can
    // hold are the C0 controls other than tab, LF and CR (single bytes) and
    // U+FFFE / U+FFFF (EF BF BE / EF BF BF). Same verdict as testing
    // `is_xml_char` on every char, without decoding the text.
    let b = s.as_bytes();
    // First a branch-free pass the compiler vectorizes: almost every document
    // has neither a control byte nor an EF lead byte, and is done here.
    let suspect = b.iter().fold(false, |acc, &c| {
        acc | ((c < 0x20) & (c != b'\t') & (c != b'\n') & (c != b'\r')) | (c == 0xEF)
    });
    if !suspect {
        return Ok(());
    }
    for (i, &c) in b.iter().enumerate() {
        let bad = match c {
            b'\t' | b'\n' | b'\r' => None,
            0..=0x1F => Some(u32::from(c)),
            0xEF if b.get(i + 1) == Some(&0xBF) => match b.get(i + 2) {
                Some(0xBE) => Some(0xFFFE),
                Some(0xBF) => Some(0xFFFF),
                _ => None,
            },
            _ => None,
        };
        if let Some(code) = bad {
            return malformed(format!("character U+{code:04X} is not allowed in XML"));
        }
    }
    Ok(())
}

/// XML 1.0 section 2.11: CRLF and lone CR become LF before parsing.
fn normalize_line_ends(s: &str) -> Cow<'_, str> {
    if !s.contains('\r') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One of the five predefined entities, or a character reference (`#N`,
/// `#xH`) to a legal XML character. Anything else is refused: no DTD can
/// declare more.
fn resolve_reference(name: &str) -> Result<char, Rejection> {
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => {
            let Some(num) = name.strip_prefix('#') else {
                return malformed(format!(
                    "entity reference '&{};' is not one of the predefined entities",
                    excerpt(name)
                ));
            };
            let (digits, radix) = match num.strip_prefix('x') {
                Some(h) => (h, 16),
                None => (num, 10),
            };
            if digits.is_empty() || digits.len() > 8 || !digits.chars().all(|c| c.is_digit(radix)) {
                return malformed(format!("bad character reference '&{};'", excerpt(name)));
            }
            let code = u32::from_str_radix(digits, radix).ok();
            match code.and_then(char::from_u32) {
                Some(c) if is_xml_char(c) => c,
                _ => {
                    return malformed(format!(
                        "character reference '&{};' is not a legal XML character",
                        excerpt(name)
                    ))
                }
            }
        }
    };
    Ok(c)
}

/// Attribute-value normalization for CDATA attributes (XML 1.0 3.3.3):
/// literal whitespace characters become spaces, references are resolved
/// (a character reference to whitespace is kept as that character).
fn normalize_attr_value(raw: &str) -> Result<String, Rejection> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(pos) = rest
        .bytes()
        .position(|b| matches!(b, b'&' | b'<' | b'\t' | b'\n' | b'\r'))
    {
        let (before, tail) = rest.split_at(pos);
        out.push_str(before);
        let mut tail_chars = tail.chars();
        match tail_chars.next() {
            Some('&') => {
                let after = tail_chars.as_str();
                let Some(end) = after.find(';') else {
                    return malformed("unterminated reference in an attribute value");
                };
                let (name, after_name) = after.split_at(end);
                out.push(resolve_reference(name)?);
                rest = after_name.get(1..).unwrap_or("");
            }
            Some('<') => return malformed("'<' in an attribute value"),
            Some(_) => {
                out.push(' ');
                rest = tail_chars.as_str();
            }
            None => break,
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// NCName check, close enough for refusing garbage: no empty parts, no
/// characters that XML names cannot hold.
///
/// Byte-wise: every byte of a non-ASCII character is >= 0x80, and any
/// non-ASCII character is accepted.
fn is_ncname(s: &str) -> bool {
    let name_start = |b: u8| b.is_ascii_alphabetic() || b == b'_' || b >= 0x80;
    match s.as_bytes().split_first() {
        Some((&first, rest)) => {
            name_start(first)
                && rest
                    .iter()
                    .all(|&b| name_start(b) || b.is_ascii_digit() || b == b'-' || b == b'.')
        }
        None => false,
    }
}

/// Splits `p:l` / `l`, checking both parts.
fn split_qname(q: &str) -> Result<(Option<&str>, &str), Rejection> {
    // ':' is ASCII, so splitting at its byte offset keeps both halves valid.
    let (prefix, local) = match q.bytes().position(|b| b == b':') {
        Some(i) => (q.get(..i), q.get(i + 1..).unwrap_or("")),
        None => (None, q),
    };
    if !is_ncname(local) || prefix.is_some_and(|p| !is_ncname(p)) {
        return malformed(format!("'{}' is not a valid XML name", excerpt(q)));
    }
    Ok((prefix, local))
}

#[derive(Default)]
struct Parser {
    /// Elements being built, outermost first.
    open: Vec<Element>,
    /// Prefixes declared by open elements, outermost first ("" = default
    /// namespace): what to unbind when each element closes.
    scope: Vec<Name>,
    /// Length of `scope` before each open element's declarations (parallel to
    /// `open` while an element is being started or is open).
    scope_marks: Vec<usize>,
    /// Prefix ("" = default) -> the URIs bound to it by open elements,
    /// innermost last: one hash lookup per name, whatever is in scope.
    bindings: HashMap<Name, Vec<Name>>,
    /// Every distinct name and URI seen, shared by all their uses: equal
    /// text is the same allocation, which canonicalization relies on to
    /// compare URIs without reading them.
    names: HashSet<Name>,
    root: Option<Element>,
    ids: HashSet<String>,
    seen_event: bool,
    nodes: usize,
}

impl Parser {
    fn run(mut self, input: &str) -> Result<Document, Rejection> {
        let mut reader = Reader::from_str(input);
        {
            let cfg = reader.config_mut();
            cfg.check_end_names = true;
            cfg.check_comments = true;
            cfg.expand_empty_elements = false;
            cfg.trim_text(false);
        }
        loop {
            let ev = match reader.read_event() {
                Ok(ev) => ev,
                Err(e) => {
                    return malformed(format!(
                        "XML syntax error at byte {}: {}",
                        reader.buffer_position(),
                        excerpt(&e.to_string())
                    ))
                }
            };
            let first = !self.seen_event;
            self.seen_event = true;
            match ev {
                Event::Decl(d) => {
                    if !first {
                        return malformed("XML declaration not at the start of the document");
                    }
                    match d.version() {
                        Ok(v) if v == "1.0" => {}
                        _ => return malformed("only XML version 1.0 is accepted"),
                    }
                    if let Some(enc) = d.encoding() {
                        match enc {
                            Ok(e) if e.eq_ignore_ascii_case("utf-8") => {}
                            _ => return malformed("only UTF-8 encoded XML is accepted"),
                        }
                    }
                }
                Event::DocType(_) => {
                    return malformed("DOCTYPE is not allowed (no DTDs, no entity declarations)")
                }
                Event::Start(s) => {
                    let el = self.start(&s)?;
                    self.open.push(el);
                }
                Event::Empty(s) => {
                    let el = self.start(&s)?;
                    self.pop_scope();
                    self.close(el)?;
                }
                Event::End(_) => {
                    // quick-xml checked that the name matches the start tag.
                    let Some(el) = self.open.pop() else {
                        return malformed("end tag without a start tag");
                    };
                    self.pop_scope();
                    self.close(el)?;
                }
                Event::Text(t) => {
                    let raw: &str = &t;
                    self.text(raw)?;
                }
                Event::CData(c) => {
                    let raw: &str = &c;
                    if self.open.is_empty() {
                        return malformed("CDATA outside the root element");
                    }
                    self.push_text(raw)?;
                }
                Event::GeneralRef(r) => {
                    let name: &str = &r;
                    if self.open.is_empty() {
                        return malformed("reference outside the root element");
                    }
                    let c = resolve_reference(name)?;
                    let mut buf = [0u8; 4];
                    self.push_text(c.encode_utf8(&mut buf))?;
                }
                Event::Comment(c) => {
                    let raw: &str = &c;
                    self.count_node()?;
                    if let Some(parent) = self.open.last_mut() {
                        parent.children.push(Node::Comment(raw.to_string()));
                    }
                }
                Event::PI(p) => {
                    let target = p.target().to_string();
                    if target.eq_ignore_ascii_case("xml") || !is_ncname(&target) {
                        return malformed("bad processing instruction target");
                    }
                    self.count_node()?;
                    let data = p
                        .content()
                        .trim_start_matches([' ', '\t', '\n'])
                        .to_string();
                    if let Some(parent) = self.open.last_mut() {
                        parent.children.push(Node::Pi { target, data });
                    }
                }
                Event::Eof => break,
            }
        }
        if !self.open.is_empty() {
            return malformed("document ends inside an element");
        }
        match self.root {
            Some(root) => Ok(Document { root }),
            None => malformed("document has no root element"),
        }
    }

    fn text(&mut self, raw: &str) -> Result<(), Rejection> {
        if raw.contains('&') || raw.contains('<') {
            return malformed("stray markup character in text");
        }
        if raw.contains("]]>") {
            return malformed("']]>' in text");
        }
        if self.open.is_empty() {
            if raw.chars().all(|c| matches!(c, ' ' | '\t' | '\n')) {
                return Ok(());
            }
            return malformed("text outside the root element");
        }
        self.push_text(raw)
    }

    /// Counts one more node against [`MAX_NODES`].
    fn count_node(&mut self) -> Result<(), Rejection> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return malformed(format!(
                "more than {MAX_NODES} nodes (elements, texts, comments, processing instructions)"
            ));
        }
        Ok(())
    }

    /// Appends text, merging with a preceding text node (text, CDATA and
    /// references form one XPath text node).
    fn push_text(&mut self, s: &str) -> Result<(), Rejection> {
        if s.is_empty() {
            return Ok(());
        }
        let merges = matches!(
            self.open.last().and_then(|p| p.children.last()),
            Some(Node::Text(_))
        );
        if !merges && !self.open.is_empty() {
            self.count_node()?;
        }
        let Some(parent) = self.open.last_mut() else {
            return Ok(());
        };
        if let Some(Node::Text(prev)) = parent.children.last_mut() {
            prev.push_str(s);
        } else {
            parent.children.push(Node::Text(s.to_string()));
        }
        Ok(())
    }

    /// The shared copy of `s` (see `names`).
    fn name(&mut self, s: &str) -> Name {
        if let Some(n) = self.names.get(s) {
            return n.clone();
        }
        let n = Name::from(s);
        self.names.insert(n.clone());
        n
    }

    fn close(&mut self, el: Element) -> Result<(), Rejection> {
        match self.open.last_mut() {
            Some(parent) => parent.children.push(Node::Element(el)),
            None => {
                if self.root.is_some() {
                    return malformed("more than one root element");
                }
                self.root = Some(el);
            }
        }
        Ok(())
    }

    fn pop_scope(&mut self) {
        let Some(mark) = self.scope_marks.pop() else {
            return;
        };
        while self.scope.len() > mark {
            let Some(prefix) = self.scope.pop() else {
                break;
            };
            if let Some(uris) = self.bindings.get_mut(&prefix) {
                uris.pop();
            }
        }
    }

    /// Binds `prefix` ("" = default) to `uri` until the element closes.
    fn bind(&mut self, prefix: Name, uri: Name) {
        self.bindings.entry(prefix.clone()).or_default().push(uri);
        self.scope.push(prefix);
    }

    /// The innermost URI bound to `prefix` ("" = the default namespace).
    fn lookup(&self, prefix: &str) -> Option<&Name> {
        self.bindings.get(prefix).and_then(|uris| uris.last())
    }

    /// The prefix and namespace of a prefixed name, shared with the
    /// declaration that binds it (the `xml` prefix is predeclared).
    fn resolve_prefix(&mut self, prefix: &str) -> Result<(Name, Name), Rejection> {
        if prefix == "xml" {
            return Ok((self.name("xml"), self.name(XML_NS)));
        }
        match self.lookup(prefix).cloned() {
            Some(uri) => Ok((self.name(prefix), uri)),
            None => malformed(format!(
                "namespace prefix '{}' is not declared",
                excerpt(prefix)
            )),
        }
    }

    /// Adds an attribute: `bound` is its (prefix, namespace), `None` when
    /// unprefixed. Refuses a second attribute with the same expanded name
    /// and an ID value seen before.
    fn push_attr(
        &mut self,
        attrs: &mut Vec<Attr>,
        bound: Option<(Name, Name)>,
        local: &str,
        value: String,
    ) -> Result<(), Rejection> {
        let (prefix, ns) = match bound {
            Some((p, ns)) => (Some(p), Some(ns)),
            None => (None, None),
        };
        if attrs.iter().any(|x| x.local == local && x.ns == ns) {
            return malformed("the same attribute appears twice (by namespace and name)");
        }
        let is_id = match (&ns, local) {
            (None, "ID") | (None, "Id") => true,
            (Some(n), "id") => *n == XML_NS,
            _ => false,
        };
        if is_id && !self.ids.insert(value.clone()) {
            return malformed(format!("duplicate ID '{}'", excerpt(&value)));
        }
        let local = self.name(local);
        attrs.push(Attr {
            prefix,
            local,
            ns,
            value,
        });
        Ok(())
    }

    /// Builds an element from a start tag and pushes its namespace scope.
    fn start(&mut self, s: &BytesStart) -> Result<Element, Rejection> {
        if self.root.is_some() {
            return malformed("more than one root element");
        }
        if self.open.len() >= MAX_DEPTH {
            return malformed(format!("elements nested deeper than {MAX_DEPTH}"));
        }
        self.count_node()?;
        let qname = s.name().0;
        let (prefix, local) = split_qname(qname)?;

        let mut decls: Vec<NsDecl> = Vec::new();
        let mut attrs: Vec<Attr> = Vec::new();
        // Prefixed attributes wait until every declaration of this tag is
        // known; unprefixed ones (nearly all in SAML) are in no namespace and
        // are taken at once.
        let mut prefixed: Vec<(&str, &str, String)> = Vec::new();
        let mut xml_declared = false;
        // Uniqueness is checked here, by expanded name for attributes and by
        // prefix for declarations (stricter than quick-xml's by-qname check,
        // which would also cost an allocation per tag).
        let mut attrs_iter = s.attributes();
        attrs_iter.with_checks(false);
        for (count, a) in attrs_iter.enumerate() {
            if count >= MAX_ATTRIBUTES {
                return malformed(format!(
                    "more than {MAX_ATTRIBUTES} attributes on one element"
                ));
            }
            let a = match a {
                Ok(a) => a,
                Err(e) => return malformed(format!("bad attribute: {}", excerpt(&e.to_string()))),
            };
            let key: &str = a.key.0;
            let value = normalize_attr_value(&a.value)?;
            let is_decl = key == "xmlns" || key.starts_with("xmlns:");
            if is_decl && value.len() > MAX_NAMESPACE_URI_BYTES {
                return malformed(format!(
                    "a namespace URI is longer than {MAX_NAMESPACE_URI_BYTES} bytes"
                ));
            }
            if key == "xmlns" {
                if decls.iter().any(|d| d.prefix.is_none()) {
                    return malformed("the default namespace is declared twice on one element");
                }
                if value == XML_NS || value == XMLNS_NS {
                    return malformed("the default namespace cannot be the xml or xmlns namespace");
                }
                decls.push(NsDecl {
                    prefix: None,
                    uri: self.name(&value),
                });
            } else if let Some(p) = key.strip_prefix("xmlns:") {
                if !is_ncname(p) {
                    return malformed("bad namespace prefix");
                }
                if p.len() > MAX_PREFIX_BYTES {
                    return malformed(format!(
                        "a namespace prefix is longer than {MAX_PREFIX_BYTES} bytes"
                    ));
                }
                if p == "xmlns" {
                    return malformed("the xmlns prefix cannot be declared");
                }
                if decls.iter().any(|d| d.prefix.as_deref() == Some(p))
                    || (p == "xml" && xml_declared)
                {
                    return malformed("a namespace prefix is declared twice on one element");
                }
                if p == "xml" {
                    if value != XML_NS {
                        return malformed("the xml prefix cannot be rebound");
                    }
                    // Declaring xml to its fixed URI is allowed and changes nothing.
                    xml_declared = true;
                    continue;
                }
                if value.is_empty() {
                    return malformed("a prefix cannot be undeclared in XML 1.0 namespaces");
                }
                if value == XML_NS || value == XMLNS_NS {
                    return malformed("only the xml prefix may be bound to the xml namespace");
                }
                decls.push(NsDecl {
                    prefix: Some(self.name(p)),
                    uri: self.name(&value),
                });
            } else {
                match split_qname(key)? {
                    (None, local) => self.push_attr(&mut attrs, None, local, value)?,
                    (Some("xmlns"), _) => {
                        return malformed("attribute names cannot use the xmlns prefix")
                    }
                    (Some(p), local) => prefixed.push((p, local, value)),
                }
            }
        }

        self.scope_marks.push(self.scope.len());
        let empty = self.name("");
        for d in &decls {
            let prefix = d.prefix.clone().unwrap_or_else(|| empty.clone());
            self.bind(prefix, d.uri.clone());
        }
        if self.scope.len() > MAX_NAMESPACES_IN_SCOPE {
            return malformed(format!(
                "more than {MAX_NAMESPACES_IN_SCOPE} namespace declarations in scope"
            ));
        }

        let (prefix, ns) = match prefix {
            Some("xmlns") => return malformed("element names cannot use the xmlns prefix"),
            Some(p) => {
                let (p, ns) = self.resolve_prefix(p)?;
                (Some(p), Some(ns))
            }
            None => match self.lookup("") {
                Some(u) if !u.is_empty() => (None, Some(u.clone())),
                _ => (None, None),
            },
        };

        for (p, local, value) in prefixed {
            let bound = self.resolve_prefix(p)?;
            self.push_attr(&mut attrs, Some(bound), local, value)?;
        }

        let local = self.name(local);
        Ok(Element {
            prefix,
            local,
            ns,
            ns_decls: decls,
            attrs,
            children: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-wise scan refuses exactly the characters `Char` excludes.
    #[test]
    fn check_chars_agrees_with_the_char_production() {
        let mut buf = [0u8; 4];
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let s: &str = c.encode_utf8(&mut buf);
            assert_eq!(check_chars(s).is_ok(), is_xml_char(c), "U+{:04X}", c as u32);
            // And in context: neighbours never hide or fake a verdict.
            let framed = format!("a\u{FFFD}{s}\u{EFBF}z");
            assert_eq!(
                check_chars(&framed).is_ok(),
                is_xml_char(c),
                "U+{:04X} framed",
                c as u32
            );
        }
    }
}
