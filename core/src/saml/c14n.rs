//! Canonical XML for the two methods SAML signers use, on an element subtree:
//!
//! * Exclusive XML Canonicalization 1.0 without comments
//!   (`http://www.w3.org/2001/10/xml-exc-c14n#`), with the InclusiveNamespaces
//!   PrefixList;
//! * Canonical XML 1.0 without comments
//!   (`http://www.w3.org/TR/2001/REC-xml-c14n-20010315`), which ADFS and some
//!   older IdPs use.
//!
//! The node-set is always "an element and its descendants" (a same-document
//! Reference `#id`, or SignedInfo), minus at most one element: the Signature
//! removed by the enveloped-signature transform, identified by address.
//!
//! Budgets. Canonical form can be much longer than its source: exclusive
//! c14n re-renders a namespace declaration on every element that uses it
//! below a parent that does not, so a long URI and many tiny elements
//! multiply. Output is therefore written into a sink that enforces a byte
//! limit *while writing* ([`Limits`]), and the Reference digest is hashed as
//! the output is produced ([`digest()`]), so no buffer grows with it. Per
//! element, namespace work is proportional to what the element itself
//! declares and uses (scoped maps with undo logs, URIs compared by address
//! first: see `same_uri`), never to everything in scope; only the apex looks
//! at every in-scope declaration, once.

use std::collections::{BTreeSet, HashMap};

use ring::digest;

use super::xml::{Element, Node, XML_NS};
use crate::context::Budget;

pub const EXCLUSIVE: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const EXCLUSIVE_WITH_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
pub const INCLUSIVE: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
pub const INCLUSIVE_WITH_COMMENTS: &str =
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";

/// Canonical bytes allowed on top of `factor × document size`. A SignedInfo
/// is canonicalized on its own but inherits every in-scope declaration under
/// inclusive c14n (at most 128 of at most 1 KiB each), which a small
/// document's multiple would not cover.
pub const SLACK_BYTES: usize = 64 * 1024;
/// Canonical bytes hashed between two interrupt checks.
const CHUNK_BYTES: usize = 64 * 1024;
/// Canonical bytes buffered before they are hashed: small, so one small
/// allocation serves a digest of any size and the buffer stays in cache.
const HASH_BUFFER_BYTES: usize = 4 * 1024;
/// Elements visited between two interrupt checks.
const INTERRUPT_EVERY: u32 = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Inclusive,
    /// Exclusive c14n; the InclusiveNamespaces PrefixList, `#default` kept as
    /// written (it means the default namespace). A set: the list is
    /// attacker-sized and is only ever asked "is this prefix listed?".
    Exclusive {
        inclusive_prefixes: BTreeSet<String>,
    },
}

impl Method {
    /// Exclusive c14n with a PrefixList attribute value (whitespace-separated).
    pub fn exclusive(prefix_list: Option<&str>) -> Method {
        Method::Exclusive {
            inclusive_prefixes: prefix_list
                .unwrap_or("")
                .split_ascii_whitespace()
                .map(str::to_string)
                .collect(),
        }
    }
}

/// How much one canonicalization may write, and the interrupt hook it calls
/// as it goes.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_output: usize,
    pub interrupt: Option<fn()>,
}

impl Limits {
    /// `budget.canonical_factor × document_bytes + SLACK_BYTES`.
    pub fn new(document_bytes: usize, budget: &Budget) -> Limits {
        Limits {
            max_output: budget
                .canonical_factor
                .saturating_mul(document_bytes)
                .saturating_add(SLACK_BYTES),
            interrupt: budget.interrupt,
        }
    }

    /// A fixed output limit and no interrupt hook.
    pub fn bytes(max_output: usize) -> Limits {
        Limits {
            max_output,
            interrupt: None,
        }
    }
}

/// The canonical form would have been longer than [`Limits::max_output`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    pub limit: usize,
}

/// Canonicalizes the last element of `path` (the apex). `path` runs from the
/// document root down to the apex and supplies the namespaces (and for
/// inclusive c14n the `xml:*` attributes) inherited from ancestors.
/// `exclude` is omitted from the output with its whole subtree.
pub fn canonicalize<'d>(
    path: &[Element<'d>],
    exclude: Option<Element<'d>>,
    method: &Method,
    limits: &Limits,
) -> Result<Vec<u8>, Exceeded> {
    let mut out = Out::new(limits, None);
    run(path, exclude, method, &mut out);
    out.finish()
}

/// The digest of what [`canonicalize`] would return, hashed while it is
/// produced: memory stays at one chunk whatever the output's length.
pub fn digest<'d>(
    path: &[Element<'d>],
    exclude: Option<Element<'d>>,
    method: &Method,
    algorithm: &'static digest::Algorithm,
    limits: &Limits,
) -> Result<digest::Digest, Exceeded> {
    let mut out = Out::new(limits, Some(digest::Context::new(algorithm)));
    run(path, exclude, method, &mut out);
    out.finish_digest(algorithm)
}

fn run<'d>(path: &[Element<'d>], exclude: Option<Element<'d>>, method: &Method, out: &mut Out) {
    let Some((apex, ancestors)) = path.split_last() else {
        return;
    };
    let mut cx = Ctx {
        method,
        exclude,
        attrs: Vec::new(),
        emit: Vec::new(),
        inscope: Scope::default(),
        rendered: Scope::default(),
    };
    for a in ancestors {
        cx.declare(*a);
    }
    // xml:* attributes of ancestors, nearest wins (inclusive c14n only).
    let mut xml_attrs: Vec<(&str, &str)> = Vec::new();
    if *method == Method::Inclusive {
        for a in ancestors {
            for at in a.attrs() {
                if at.ns == Some(XML_NS) {
                    match xml_attrs.iter_mut().find(|(l, _)| *l == at.local) {
                        Some(slot) => slot.1 = at.value,
                        None => xml_attrs.push((at.local, at.value)),
                    }
                }
            }
        }
    }
    cx.element(*apex, Some(&xml_attrs), out);
}

/// The output sink: counts bytes against the limit and stops writing (and
/// the walk stops descending) once it is passed; hashes in chunks when given
/// a hasher.
struct Out {
    buf: Vec<u8>,
    hasher: Option<digest::Context>,
    written: usize,
    limit: usize,
    over: bool,
    interrupt: Option<fn()>,
    elements: u32,
}

impl Out {
    fn new(limits: &Limits, hasher: Option<digest::Context>) -> Out {
        let cap = if hasher.is_some() {
            HASH_BUFFER_BYTES
        } else {
            4096
        };
        Out {
            buf: Vec::with_capacity(cap),
            hasher,
            written: 0,
            limit: limits.max_output,
            over: false,
            interrupt: limits.interrupt,
            elements: 0,
        }
    }

    fn push_str(&mut self, s: &str) {
        if self.over {
            return;
        }
        let before = self.written;
        match self.written.checked_add(s.len()) {
            Some(total) if total <= self.limit => self.written = total,
            _ => {
                self.over = true;
                return;
            }
        }
        self.buf.extend_from_slice(s.as_bytes());
        if let Some(h) = &mut self.hasher {
            if self.buf.len() >= HASH_BUFFER_BYTES {
                h.update(&self.buf);
                self.buf.clear();
            }
            // Every CHUNK_BYTES of hashed output, the host may cancel.
            if before / CHUNK_BYTES != self.written / CHUNK_BYTES {
                self.check_interrupts();
            }
        }
    }

    /// Counts an element; every so often gives the host a chance to cancel.
    fn tick(&mut self) {
        self.elements = self.elements.wrapping_add(1);
        if self.elements.is_multiple_of(INTERRUPT_EVERY) {
            self.check_interrupts();
        }
    }

    fn check_interrupts(&self) {
        if let Some(f) = self.interrupt {
            f();
        }
    }

    fn finish(self) -> Result<Vec<u8>, Exceeded> {
        if self.over {
            return Err(Exceeded { limit: self.limit });
        }
        Ok(self.buf)
    }

    /// The digest of everything written (the hasher's, or of the buffer when
    /// the sink was built without one).
    fn finish_digest(
        self,
        algorithm: &'static digest::Algorithm,
    ) -> Result<digest::Digest, Exceeded> {
        if self.over {
            return Err(Exceeded { limit: self.limit });
        }
        Ok(match self.hasher {
            Some(mut h) => {
                h.update(&self.buf);
                h.finish()
            }
            None => digest::digest(algorithm, &self.buf),
        })
    }
}

/// Prefix ("" = the default namespace) -> URI, borrowed from the document's
/// own declarations, with an undo log so leaving an element restores its
/// parent's map in time proportional to what the element changed.
#[derive(Default)]
struct Scope<'d> {
    map: HashMap<&'d str, &'d str>,
    undo: Vec<(&'d str, Option<&'d str>)>,
}

impl<'d> Scope<'d> {
    fn get(&self, prefix: &str) -> Option<&'d str> {
        self.map.get(prefix).copied()
    }

    fn set(&mut self, prefix: &'d str, uri: &'d str) {
        let old = self.map.insert(prefix, uri);
        self.undo.push((prefix, old));
    }

    fn remove(&mut self, prefix: &'d str) {
        let old = self.map.remove(prefix);
        self.undo.push((prefix, old));
    }

    fn mark(&self) -> usize {
        self.undo.len()
    }

    fn rollback(&mut self, mark: usize) {
        while self.undo.len() > mark {
            let Some((prefix, old)) = self.undo.pop() else {
                break;
            };
            match old {
                Some(u) => self.map.insert(prefix, u),
                None => self.map.remove(prefix),
            };
        }
    }
}

/// Same URI. Every use of a declaration reads the same span of the
/// document's text, so the common case (a binding compared with what the
/// same declaration rendered) costs no byte comparison; differing pointers
/// fall back to comparing text (correct for any tree), and then the
/// declaration is usually written out, which the output budget pays for.
fn same_uri(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

/// One attribute on its way out: (namespace, local name, prefix, value).
type OutAttr<'d> = (&'d str, &'d str, Option<&'d str>, &'d str);

struct Ctx<'a, 'd> {
    method: &'a Method,
    exclude: Option<Element<'d>>,
    /// Reused for every element's attributes (they are written before the
    /// element's children are visited), so sorting them allocates once.
    attrs: Vec<OutAttr<'d>>,
    /// Reused the same way for the namespace declarations an element renders.
    emit: Vec<(&'d str, &'d str)>,
    /// Namespaces in scope at the element being visited (XPath namespace axis).
    inscope: Scope<'d>,
    /// What the nearest output ancestors rendered ("" -> "" once `xmlns=""`
    /// was written).
    rendered: Scope<'d>,
}

impl<'d> Ctx<'_, 'd> {
    fn declare(&mut self, e: Element<'d>) {
        for d in e.ns_decls() {
            let key = d.prefix.unwrap_or("");
            if d.uri.is_empty() {
                self.inscope.remove(key);
            } else {
                self.inscope.set(key, d.uri);
            }
        }
    }

    /// Adds `prefix` to `emit` when its in-scope binding is not what the
    /// output ancestors rendered.
    fn consider(&self, prefix: &'d str, emit: &mut Vec<(&'d str, &'d str)>) {
        match self.inscope.get(prefix) {
            Some(u) => {
                if !self.rendered.get(prefix).is_some_and(|r| same_uri(r, u)) {
                    emit.push((prefix, u));
                }
            }
            None => {
                // Only the default namespace can be unbound here (prefixes
                // were resolved at parse time and cannot be undeclared).
                if prefix.is_empty() && self.rendered.get("").is_some_and(|r| !r.is_empty()) {
                    emit.push(("", ""));
                }
            }
        }
    }

    /// The namespace declarations `e` renders, sorted by prefix ("" first).
    ///
    /// Only the apex looks at every in-scope declaration. Below it, a prefix
    /// the element does not declare has the binding its parent had, and the
    /// parent (an output element: the node-set is a whole subtree) already
    /// rendered it where the method says so, so only the element's own
    /// declarations and, for exclusive c14n, the prefixes it visibly uses
    /// can need rendering.
    fn namespaces(&self, e: Element<'d>, apex: bool, emit: &mut Vec<(&'d str, &'d str)>) {
        emit.clear();
        let own_decls = e.ns_decls().map(|d| d.prefix.unwrap_or(""));
        match self.method {
            Method::Inclusive => {
                if apex {
                    for (&p, _) in self.inscope.map.iter() {
                        self.consider(p, emit);
                    }
                } else {
                    for p in own_decls {
                        self.consider(p, emit);
                    }
                }
            }
            Method::Exclusive { inclusive_prefixes } => {
                // Visibly used: the element's own prefix (or the default
                // namespace) and its attributes' prefixes (xml excepted).
                self.consider(e.prefix().unwrap_or(""), emit);
                for a in e.attrs() {
                    if let Some(p) = a.prefix.filter(|&p| p != "xml") {
                        self.consider(p, emit);
                    }
                }
                // Listed prefixes follow the inclusive rule (an empty list,
                // the usual case, lists nothing).
                let listed = |p: &str| {
                    if p.is_empty() {
                        inclusive_prefixes.contains("#default")
                    } else {
                        inclusive_prefixes.contains(p)
                    }
                };
                if inclusive_prefixes.is_empty() {
                    // Nothing listed (the usual case): nothing to look at.
                } else if apex {
                    for (&p, _) in self.inscope.map.iter() {
                        if listed(p) {
                            self.consider(p, emit);
                        }
                    }
                    // (A listed but unbound #default renders nothing at the
                    // apex: nothing was rendered above it.)
                } else {
                    for p in own_decls {
                        if listed(p) {
                            self.consider(p, emit);
                        }
                    }
                }
            }
        }
        if emit.len() > 1 {
            emit.sort_unstable_by(|a, b| a.0.cmp(b.0));
            emit.dedup_by(|a, b| a.0 == b.0);
        }
    }

    fn element(
        &mut self,
        e: Element<'d>,
        apex_xml_attrs: Option<&[(&'d str, &'d str)]>,
        out: &mut Out,
    ) {
        if out.over {
            return;
        }
        out.tick();
        let inscope_mark = self.inscope.mark();
        let rendered_mark = self.rendered.mark();
        self.declare(e);
        // Both scratch vectors are taken and put back: they are only used
        // before the children are visited, so one allocation serves the walk.
        let mut emit = std::mem::take(&mut self.emit);
        self.namespaces(e, apex_xml_attrs.is_some(), &mut emit);

        let (prefix, local) = (e.prefix(), e.local());
        out.push_str("<");
        push_qname(prefix, local, out);
        for &(p, u) in &emit {
            if p.is_empty() {
                out.push_str(" xmlns=\"");
            } else {
                out.push_str(" xmlns:");
                out.push_str(p);
                out.push_str("=\"");
            }
            escape_attr(u, out);
            out.push_str("\"");
            self.rendered.set(p, u);
        }
        self.emit = emit;

        // Attributes sorted by (namespace URI, local name); unqualified first.
        let mut attrs = std::mem::take(&mut self.attrs);
        attrs.clear();
        attrs.extend(
            e.attrs()
                .map(|a| (a.ns.unwrap_or(""), a.local, a.prefix, a.value)),
        );
        if let Some(xml_attrs) = apex_xml_attrs {
            for &(local, value) in xml_attrs {
                let present = e.attrs().any(|a| a.ns == Some(XML_NS) && a.local == local);
                if !present {
                    attrs.push((XML_NS, local, Some("xml"), value));
                }
            }
        }
        if attrs.len() > 1 {
            attrs.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        }
        for (_, local, prefix, value) in &attrs {
            out.push_str(" ");
            push_qname(*prefix, local, out);
            out.push_str("=\"");
            escape_attr(value, out);
            out.push_str("\"");
        }
        out.push_str(">");
        self.attrs = attrs;

        for child in e.children() {
            if out.over {
                break;
            }
            match child {
                Node::Element(c) => {
                    if self.exclude.is_some_and(|x| x == c) {
                        continue;
                    }
                    self.element(c, None, out);
                }
                Node::Text(t) => escape_text(t, out),
                Node::Comment(_) => {}
                Node::Pi { target, data } => {
                    out.push_str("<?");
                    out.push_str(target);
                    if !data.is_empty() {
                        out.push_str(" ");
                        out.push_str(data);
                    }
                    out.push_str("?>");
                }
            }
        }
        out.push_str("</");
        push_qname(prefix, local, out);
        out.push_str(">");
        self.rendered.rollback(rendered_mark);
        self.inscope.rollback(inscope_mark);
    }
}

/// `prefix:local`, or `local` without a prefix.
fn push_qname(prefix: Option<&str>, local: &str, out: &mut Out) {
    if let Some(p) = prefix {
        out.push_str(p);
        out.push_str(":");
    }
    out.push_str(local);
}

/// Copies `s` to `out`, replacing the ASCII characters `replace` maps to an
/// escape; runs without any are copied in one piece. Generic so that each
/// caller's `replace` is inlined into the byte loop (this loop sees every
/// byte of the canonical form).
#[inline(always)]
fn escape_with(s: &str, out: &mut Out, replace: impl Fn(u8) -> Option<&'static str>) {
    let mut run_start = 0;
    for (i, b) in s.bytes().enumerate() {
        if let Some(esc) = replace(b) {
            // `i` is at an ASCII byte, so both slices end on char boundaries.
            out.push_str(s.get(run_start..i).unwrap_or(""));
            out.push_str(esc);
            run_start = i + 1;
        }
    }
    out.push_str(s.get(run_start..).unwrap_or(""));
}

/// Whether any byte of `s` is one of `special`: a branch-free pass the
/// compiler vectorizes, since most texts and values need no escape at all.
#[inline(always)]
fn any_of(s: &str, special: &[u8]) -> bool {
    s.bytes().fold(false, |acc, b| {
        acc | special.iter().fold(false, |m, &c| m | (b == c))
    })
}

fn escape_text(s: &str, out: &mut Out) {
    if !any_of(s, b"&<>\r") {
        out.push_str(s);
        return;
    }
    escape_with(s, out, |b| match b {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'\r' => Some("&#xD;"),
        _ => None,
    });
}

fn escape_attr(s: &str, out: &mut Out) {
    if !any_of(s, b"&<\"\t\n\r") {
        out.push_str(s);
        return;
    }
    escape_with(s, out, |b| match b {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'"' => Some("&quot;"),
        b'\t' => Some("&#x9;"),
        b'\n' => Some("&#xA;"),
        b'\r' => Some("&#xD;"),
        _ => None,
    });
}
