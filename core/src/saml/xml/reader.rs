//! The strict reader: quick-xml's events turned into an [`Arena`], with
//! every check the verifier relies on (one root, namespaces resolved and
//! declared once per tag, expanded attribute names and IDs unique, no DTD,
//! predefined entities and character references only, the limits of
//! [`super::limits`]).
//!
//! Strings are not copied: names, values and texts are spans of the source
//! text. Only what the reader must change (references resolved, attribute
//! whitespace normalized, adjacent text pieces merged) is written to the
//! arena's one side buffer. Namespace scopes are a stack of (prefix, URI)
//! spans with a mark per open element, searched from the top: at most
//! [`MAX_NAMESPACES_IN_SCOPE`] entries, and nothing to clone or hash.

use std::borrow::Cow;
use std::collections::HashSet;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::arena::{Arena, AttrRec, DeclRec, Kind, NodeRec, Span, NONE};
use super::chars::{
    attr_value_needs_work, is_ncname, malformed, normalize_attr_value, resolve_reference,
    split_qname,
};
use super::limits::{
    MAX_ATTRIBUTES, MAX_DEPTH, MAX_NAMESPACES_IN_SCOPE, MAX_NAMESPACE_URI_BYTES, MAX_NODES,
    MAX_PREFIX_BYTES, XMLNS_NS, XML_NS,
};
use crate::error::{excerpt, Rejection};

/// Reads `text` (BOM removed, characters checked, line ends normalized)
/// into an arena whose spans point into `text`.
pub(super) fn read(text: &str) -> Result<Arena, Rejection> {
    // Sized for a typical SAML document (a node per 32 bytes or so, as
    // many attributes, few declarations) so the vectors of a login-sized
    // token never grow; capped, so a large document that is refused early
    // does not pay for a tree it never builds (beyond the cap they grow).
    let guess = |per: usize, cap: usize| (text.len() / per).min(cap);
    let arena = Arena {
        nodes: Vec::with_capacity(guess(32, 2048)),
        attrs: Vec::with_capacity(guess(32, 2048)),
        decls: Vec::with_capacity(guess(256, 256)),
        ..Arena::default()
    };
    Parser {
        text,
        arena,
        open: Vec::new(),
        scope: Vec::new(),
        scope_marks: Vec::new(),
        pending: Vec::new(),
        xml_ns: None,
        root: None,
        ids: HashSet::new(),
        seen_event: false,
        nodes: 0,
    }
    .run()
}

/// A prefixed attribute waiting for every declaration of its tag:
/// (prefix, local name, value).
type Pending<'t> = (&'t str, &'t str, Span);

struct Parser<'t> {
    text: &'t str,
    arena: Arena,
    /// Elements being built, outermost first.
    open: Vec<u32>,
    /// Declarations of the open elements, outermost first: (prefix, "" for
    /// the default namespace; URI).
    scope: Vec<(&'t str, Span)>,
    /// Length of `scope` before each open element's declarations.
    scope_marks: Vec<usize>,
    /// Reused by every start tag.
    pending: Vec<Pending<'t>>,
    /// The span of the `xml` namespace URI in the side buffer, once needed.
    xml_ns: Option<Span>,
    root: Option<u32>,
    ids: HashSet<Cow<'t, str>>,
    seen_event: bool,
    nodes: usize,
}

impl<'t> Parser<'t> {
    fn run(mut self) -> Result<Arena, Rejection> {
        let mut reader = Reader::from_str(self.text);
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
                    let id = self.start(&s)?;
                    self.open.push(id);
                }
                Event::Empty(s) => {
                    let id = self.start(&s)?;
                    self.close(id);
                }
                Event::End(_) => {
                    // quick-xml checked that the name matches the start tag.
                    let Some(id) = self.open.pop() else {
                        return malformed("end tag without a start tag");
                    };
                    self.close(id);
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
                    if let Some(&parent) = self.open.last() {
                        let value = self.span_of(raw);
                        self.add_child(parent, NodeRec::new(Kind::Comment, value, parent));
                    }
                }
                Event::PI(p) => {
                    let target = p.target();
                    if target.eq_ignore_ascii_case("xml") || !is_ncname(target) {
                        return malformed("bad processing instruction target");
                    }
                    self.count_node()?;
                    if let Some(&parent) = self.open.last() {
                        let data = p.content().trim_start_matches([' ', '\t', '\n']);
                        let target = self.span_of(target);
                        let data = self.span_of(data);
                        let mut rec = NodeRec::new(Kind::Pi, target, parent);
                        rec.prefix = Some(data);
                        self.add_child(parent, rec);
                    }
                }
                Event::Eof => break,
            }
        }
        if !self.open.is_empty() {
            return malformed("document ends inside an element");
        }
        match self.root {
            Some(root) => {
                self.arena.root = root;
                Ok(self.arena)
            }
            None => malformed("document has no root element"),
        }
    }

    /// The span of `s`: where it lies in the source text when it is a slice
    /// of it (quick-xml borrows from the input), else a copy in the side
    /// buffer. Either way the arena reads back exactly `s`.
    fn span_of(&mut self, s: &str) -> Span {
        let base = self.text.as_ptr() as usize;
        let at = s.as_ptr() as usize;
        if let Some(offset) = at.checked_sub(base) {
            if offset.saturating_add(s.len()) <= self.text.len() {
                // Documents are at most 1 MiB, so offsets fit in u32.
                return Span {
                    start: offset as u32,
                    end: (offset + s.len()) as u32,
                    decoded: false,
                };
            }
        }
        let start = self.arena.decoded.len() as u32;
        self.arena.decoded.push_str(s);
        Span {
            start,
            end: self.arena.decoded.len() as u32,
            decoded: true,
        }
    }

    /// `s` as the slice of the source text it is: quick-xml reading from a
    /// `&str` borrows every name from it.
    fn source(&self, s: &str) -> Result<&'t str, Rejection> {
        let offset = (s.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        match self.text.get(offset..offset.saturating_add(s.len())) {
            Some(t) if t.as_ptr() == s.as_ptr() => Ok(t),
            _ => malformed("a name was not read from the document text"),
        }
    }

    fn str(&self, span: Span) -> &str {
        self.arena.str(self.text, span)
    }

    fn node_mut(&mut self, id: u32) -> Option<&mut NodeRec> {
        self.arena.nodes.get_mut(id as usize)
    }

    /// Appends `rec` as the last child of `parent`; returns its index.
    fn add_child(&mut self, parent: u32, rec: NodeRec) -> u32 {
        let id = self.arena.nodes.len() as u32;
        self.arena.nodes.push(rec);
        let last = match self.node_mut(parent) {
            Some(p) => {
                let last = p.last_child;
                if last == NONE {
                    p.first_child = id;
                }
                p.last_child = id;
                last
            }
            None => NONE,
        };
        if let Some(prev) = self.node_mut(last) {
            prev.next_sibling = id;
        }
        id
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
    /// references form one XPath text node). A merged text moves to the
    /// side buffer once, then grows at its end: nothing is written there
    /// between two pieces of one text node, since any other node ends it.
    fn push_text(&mut self, s: &str) -> Result<(), Rejection> {
        if s.is_empty() {
            return Ok(());
        }
        let Some(&parent) = self.open.last() else {
            return Ok(());
        };
        let last = self.arena.nodes.get(parent as usize).map(|p| p.last_child);
        let prev = last
            .and_then(|l| self.arena.nodes.get(l as usize))
            .filter(|n| n.kind == Kind::Text)
            .map(|n| n.value);
        let Some(prev) = prev else {
            self.count_node()?;
            let value = self.span_of(s);
            self.add_child(parent, NodeRec::new(Kind::Text, value, parent));
            return Ok(());
        };
        let decoded_len = self.arena.decoded.len() as u32;
        let mut merged = prev;
        if !(prev.decoded && prev.end == decoded_len) {
            let copy = self.str(prev).to_owned();
            merged = Span {
                start: decoded_len,
                end: decoded_len,
                decoded: true,
            };
            self.arena.decoded.push_str(&copy);
        }
        self.arena.decoded.push_str(s);
        merged.end = self.arena.decoded.len() as u32;
        if let Some(n) = last.and_then(|l| self.node_mut(l)) {
            n.value = merged;
        }
        Ok(())
    }

    fn close(&mut self, id: u32) {
        let end = self.arena.nodes.len() as u32;
        if let Some(n) = self.node_mut(id) {
            n.subtree_end = end;
        }
        if let Some(mark) = self.scope_marks.pop() {
            self.scope.truncate(mark);
        }
    }

    /// The innermost URI bound to `prefix` ("" = the default namespace).
    fn lookup(&self, prefix: &str) -> Option<Span> {
        self.scope
            .iter()
            .rev()
            .find(|(p, _)| *p == prefix)
            .map(|&(_, uri)| uri)
    }

    /// The span of the `xml` namespace URI (predeclared; written once).
    fn xml_ns(&mut self) -> Span {
        if let Some(s) = self.xml_ns {
            return s;
        }
        let start = self.arena.decoded.len() as u32;
        self.arena.decoded.push_str(XML_NS);
        let s = Span {
            start,
            end: self.arena.decoded.len() as u32,
            decoded: true,
        };
        self.xml_ns = Some(s);
        s
    }

    /// The prefix and namespace of a prefixed name (the `xml` prefix is
    /// predeclared).
    fn resolve_prefix(&mut self, prefix: &'t str) -> Result<(Span, Span), Rejection> {
        if prefix == "xml" {
            let ns = self.xml_ns();
            return Ok((self.span_of(prefix), ns));
        }
        match self.lookup(prefix) {
            Some(uri) => Ok((self.span_of(prefix), uri)),
            None => malformed(format!(
                "namespace prefix '{}' is not declared",
                excerpt(prefix)
            )),
        }
    }

    /// The span of an attribute value, normalized (XML 1.0 3.3.3): the raw
    /// text itself when there is nothing to change.
    fn attr_value(&mut self, raw: &str) -> Result<Span, Rejection> {
        if !attr_value_needs_work(raw) {
            return Ok(self.span_of(raw));
        }
        let start = self.arena.decoded.len() as u32;
        normalize_attr_value(raw, &mut self.arena.decoded)?;
        Ok(Span {
            start,
            end: self.arena.decoded.len() as u32,
            decoded: true,
        })
    }

    /// Adds an attribute to the element whose attributes start at `first`:
    /// `bound` is its (prefix, namespace), `None` when unprefixed. Refuses a
    /// second attribute with the same expanded name and an ID value seen
    /// before.
    fn push_attr(
        &mut self,
        first: usize,
        bound: Option<(Span, Span)>,
        local: &'t str,
        value: Span,
    ) -> Result<(), Rejection> {
        let (prefix, ns) = match bound {
            Some((p, ns)) => (Some(p), Some(ns)),
            None => (None, None),
        };
        let ns_text = ns.map(|n| self.str(n));
        let twice = self.arena.attrs.get(first..).is_some_and(|attrs| {
            attrs
                .iter()
                .any(|x| self.str(x.local) == local && x.ns.map(|n| self.str(n)) == ns_text)
        });
        if twice {
            return malformed("the same attribute appears twice (by namespace and name)");
        }
        let is_id = match (ns_text, local) {
            (None, "ID") | (None, "Id") => true,
            (Some(n), "id") => n == XML_NS,
            _ => false,
        };
        if is_id {
            let id: Cow<'t, str> = if value.decoded {
                Cow::Owned(self.str(value).to_owned())
            } else {
                Cow::Borrowed(
                    self.text
                        .get(value.start as usize..value.end as usize)
                        .unwrap_or(""),
                )
            };
            if self.ids.contains(&id) {
                return malformed(format!("duplicate ID '{}'", excerpt(&id)));
            }
            self.ids.insert(id);
        }
        let local = self.span_of(local);
        self.arena.attrs.push(AttrRec {
            prefix,
            local,
            ns,
            value,
        });
        Ok(())
    }

    /// Builds an element from a start tag, links it under its parent and
    /// pushes its namespace scope. Returns its index.
    fn start(&mut self, s: &BytesStart<'t>) -> Result<u32, Rejection> {
        if self.root.is_some() && self.open.is_empty() {
            return malformed("more than one root element");
        }
        if self.open.len() >= MAX_DEPTH {
            return malformed(format!("elements nested deeper than {MAX_DEPTH}"));
        }
        self.count_node()?;
        let qname = self.source(s.name().0)?;
        let (prefix, local) = split_qname(qname)?;

        let decls_start = self.arena.decls.len();
        let attrs_start = self.arena.attrs.len();
        // Prefixed attributes wait until every declaration of this tag is
        // known; unprefixed ones (nearly all in SAML) are in no namespace and
        // are taken at once.
        let mut pending = std::mem::take(&mut self.pending);
        pending.clear();
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
            let key = self.source(a.key.0)?;
            let value = self.attr_value(&a.value)?;
            let is_decl = key == "xmlns" || key.starts_with("xmlns:");
            if !is_decl {
                match split_qname(key)? {
                    (None, local) => self.push_attr(attrs_start, None, local, value)?,
                    (Some("xmlns"), _) => {
                        return malformed("attribute names cannot use the xmlns prefix")
                    }
                    (Some(p), local) => pending.push((p, local, value)),
                }
                continue;
            }
            let v = self.str(value);
            if v.len() > MAX_NAMESPACE_URI_BYTES {
                return malformed(format!(
                    "a namespace URI is longer than {MAX_NAMESPACE_URI_BYTES} bytes"
                ));
            }
            let (v_empty, v_xml, v_xmlns) = (v.is_empty(), v == XML_NS, v == XMLNS_NS);
            let declared = |arena: &Arena, text: &str, p: Option<&str>| {
                arena
                    .decls
                    .get(decls_start..)
                    .is_some_and(|ds| ds.iter().any(|d| d.prefix.map(|s| arena.str(text, s)) == p))
            };
            if key == "xmlns" {
                if declared(&self.arena, self.text, None) {
                    return malformed("the default namespace is declared twice on one element");
                }
                if v_xml || v_xmlns {
                    return malformed("the default namespace cannot be the xml or xmlns namespace");
                }
                self.arena.decls.push(DeclRec {
                    prefix: None,
                    uri: value,
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
                if declared(&self.arena, self.text, Some(p)) || (p == "xml" && xml_declared) {
                    return malformed("a namespace prefix is declared twice on one element");
                }
                if p == "xml" {
                    if !v_xml {
                        return malformed("the xml prefix cannot be rebound");
                    }
                    // Declaring xml to its fixed URI is allowed and changes nothing.
                    xml_declared = true;
                    continue;
                }
                if v_empty {
                    return malformed("a prefix cannot be undeclared in XML 1.0 namespaces");
                }
                if v_xml || v_xmlns {
                    return malformed("only the xml prefix may be bound to the xml namespace");
                }
                let prefix = self.span_of(p);
                self.arena.decls.push(DeclRec {
                    prefix: Some(prefix),
                    uri: value,
                });
            }
        }

        self.scope_marks.push(self.scope.len());
        for i in decls_start..self.arena.decls.len() {
            let Some(d) = self.arena.decls.get(i).copied() else {
                break;
            };
            let p: &'t str = match d.prefix {
                // Declaration prefixes are slices of the source (`xmlns:p`),
                // never of the side buffer; were one ever decoded, reading
                // it from the source would bind the wrong prefix, so refuse.
                Some(s) if s.decoded => {
                    return malformed("a namespace prefix that is not a slice of the document");
                }
                Some(s) => self
                    .text
                    .get(s.start as usize..s.end as usize)
                    .unwrap_or(""),
                None => "",
            };
            self.scope.push((p, d.uri));
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
                Some(u) if u.end > u.start => (None, Some(u)),
                _ => (None, None),
            },
        };

        for &(p, local, value) in &pending {
            let bound = self.resolve_prefix(p)?;
            self.push_attr(attrs_start, Some(bound), local, value)?;
        }
        self.pending = pending;

        let parent = self.open.last().copied().unwrap_or(NONE);
        let local = self.span_of(local);
        let mut rec = NodeRec::new(Kind::Element, local, parent);
        rec.prefix = prefix;
        rec.ns = ns;
        rec.attrs = (attrs_start as u32, self.arena.attrs.len() as u32);
        rec.decls = (decls_start as u32, self.arena.decls.len() as u32);
        let id = if parent == NONE {
            let id = self.arena.nodes.len() as u32;
            self.arena.nodes.push(rec);
            self.root = Some(id);
            id
        } else {
            self.add_child(parent, rec)
        };
        Ok(id)
    }
}
