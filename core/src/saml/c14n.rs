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

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use super::xml::{Element, Node, XML_NS};

pub const EXCLUSIVE: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const EXCLUSIVE_WITH_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
pub const INCLUSIVE: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
pub const INCLUSIVE_WITH_COMMENTS: &str =
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";

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

/// Prefix ("" = the default namespace) -> URI ("" = `xmlns=""`), borrowed
/// from the document's own declarations: copying a map copies no strings.
type NsMap<'d> = BTreeMap<&'d str, &'d str>;

/// Canonicalizes the last element of `path` (the apex). `path` runs from the
/// document root down to the apex and supplies the namespaces (and for
/// inclusive c14n the `xml:*` attributes) inherited from ancestors.
/// `exclude` is omitted from the output with its whole subtree.
pub fn canonicalize(path: &[&Element], exclude: Option<&Element>, method: &Method) -> Vec<u8> {
    let Some((apex, ancestors)) = path.split_last() else {
        return Vec::new();
    };
    let mut inherited = NsMap::new();
    for a in ancestors {
        apply_decls(&mut inherited, a);
    }
    // xml:* attributes of ancestors, nearest wins (inclusive c14n only).
    let mut xml_attrs: BTreeMap<&str, &str> = BTreeMap::new();
    if *method == Method::Inclusive {
        for a in ancestors {
            for at in &a.attrs {
                if at.ns.as_deref() == Some(XML_NS) {
                    xml_attrs.insert(&at.local, &at.value);
                }
            }
        }
    }
    // The canonical form is about as long as the source it came from.
    let mut out = String::with_capacity(4096);
    let mut cx = Ctx {
        method,
        exclude,
        attrs: Vec::new(),
    };
    cx.element(apex, &inherited, &NsMap::new(), Some(&xml_attrs), &mut out);
    out.into_bytes()
}

fn apply_decls<'d>(map: &mut NsMap<'d>, e: &'d Element) {
    for d in &e.ns_decls {
        let key = d.prefix.as_deref().unwrap_or("");
        if d.uri.is_empty() {
            map.remove(key);
        } else {
            map.insert(key, &d.uri);
        }
    }
}

/// One attribute on its way out: (namespace, local name, prefix, value).
type OutAttr<'d> = (&'d str, &'d str, Option<&'d str>, &'d str);

struct Ctx<'a, 'd> {
    method: &'a Method,
    exclude: Option<&'a Element>,
    /// Reused for every element's attributes (they are written before the
    /// element's children are visited), so sorting them allocates once.
    attrs: Vec<OutAttr<'d>>,
}

impl<'d> Ctx<'_, 'd> {
    /// `inscope_parent`: namespaces in scope at the parent (XPath namespace
    /// axis); `rendered`: what the nearest output ancestors rendered.
    fn element(
        &mut self,
        e: &'d Element,
        inscope_parent: &NsMap<'d>,
        rendered: &NsMap<'d>,
        apex_xml_attrs: Option<&BTreeMap<&'d str, &'d str>>,
        out: &mut String,
    ) {
        // Most elements declare nothing: borrow the parent's map then.
        let inscope: Cow<'_, NsMap<'d>> = if e.ns_decls.is_empty() {
            Cow::Borrowed(inscope_parent)
        } else {
            let mut m = inscope_parent.clone();
            apply_decls(&mut m, e);
            Cow::Owned(m)
        };

        // Namespace declarations to emit: prefix ("" = default) -> uri ("" = xmlns="").
        let mut emit: NsMap<'d> = BTreeMap::new();
        match self.method {
            Method::Inclusive => {
                for (&p, &u) in inscope.iter() {
                    if rendered.get(p) != Some(&u) {
                        emit.insert(p, u);
                    }
                }
                if !inscope.contains_key("") && rendered.get("").is_some_and(|u| !u.is_empty()) {
                    emit.insert("", "");
                }
            }
            Method::Exclusive { inclusive_prefixes } => {
                // Prefixes visibly used: the element's own (or the default
                // namespace) and its attributes' (xml excepted).
                let own = std::iter::once(e.prefix.as_deref().unwrap_or(""));
                let of_attrs = e
                    .attrs
                    .iter()
                    .filter_map(|a| a.prefix.as_deref())
                    .filter(|&p| p != "xml");
                // Listed prefixes follow the inclusive rule: rendered when in
                // scope, whether used or not; a listed `#default` that is
                // unbound here may need xmlns="". Walk the in-scope prefixes
                // (bounded by the reader's MAX_NAMESPACES_IN_SCOPE), never the
                // list: per element, work must not grow with the PrefixList.
                let listed = inscope
                    .keys()
                    .copied()
                    .filter(|p| !p.is_empty() && inclusive_prefixes.contains(*p));
                let listed_default = inclusive_prefixes.contains("#default").then_some("");
                for p in own.chain(of_attrs).chain(listed).chain(listed_default) {
                    match inscope.get(p) {
                        Some(&u) => {
                            if rendered.get(p) != Some(&u) {
                                emit.insert(p, u);
                            }
                        }
                        None => {
                            // Only the default namespace can be unbound here
                            // (prefixes were resolved at parse time).
                            if p.is_empty() && rendered.get("").is_some_and(|u| !u.is_empty()) {
                                emit.insert("", "");
                            }
                        }
                    }
                }
            }
        }

        out.push('<');
        push_qname(e.prefix.as_deref(), &e.local, out);
        for (p, u) in &emit {
            if p.is_empty() {
                out.push_str(" xmlns=\"");
            } else {
                out.push_str(" xmlns:");
                out.push_str(p);
                out.push_str("=\"");
            }
            escape_attr(u, out);
            out.push('"');
        }

        // Attributes sorted by (namespace URI, local name); unqualified first.
        let mut attrs = std::mem::take(&mut self.attrs);
        attrs.clear();
        attrs.extend(e.attrs.iter().map(|a| {
            (
                a.ns.as_deref().unwrap_or(""),
                &*a.local,
                a.prefix.as_deref(),
                a.value.as_str(),
            )
        }));
        if let Some(xml_attrs) = apex_xml_attrs {
            for (&local, &value) in xml_attrs {
                let present = e
                    .attrs
                    .iter()
                    .any(|a| a.ns.as_deref() == Some(XML_NS) && a.local == local);
                if !present {
                    attrs.push((XML_NS, local, Some("xml"), value));
                }
            }
        }
        attrs.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for (_, local, prefix, value) in &attrs {
            out.push(' ');
            push_qname(*prefix, local, out);
            out.push_str("=\"");
            escape_attr(value, out);
            out.push('"');
        }
        out.push('>');
        self.attrs = attrs;

        let rendered_here: Cow<'_, NsMap<'d>> = if emit.is_empty() {
            Cow::Borrowed(rendered)
        } else {
            let mut m = rendered.clone();
            m.extend(emit);
            Cow::Owned(m)
        };
        for child in &e.children {
            match child {
                Node::Element(c) => {
                    if self.exclude.is_some_and(|x| std::ptr::eq(x, c)) {
                        continue;
                    }
                    self.element(c, &inscope, &rendered_here, None, out);
                }
                Node::Text(t) => escape_text(t, out),
                Node::Comment(_) => {}
                Node::Pi { target, data } => {
                    out.push_str("<?");
                    out.push_str(target);
                    if !data.is_empty() {
                        out.push(' ');
                        out.push_str(data);
                    }
                    out.push_str("?>");
                }
            }
        }
        out.push_str("</");
        push_qname(e.prefix.as_deref(), &e.local, out);
        out.push('>');
    }
}

/// `prefix:local`, or `local` without a prefix.
fn push_qname(prefix: Option<&str>, local: &str, out: &mut String) {
    if let Some(p) = prefix {
        out.push_str(p);
        out.push(':');
    }
    out.push_str(local);
}

/// Copies `s` to `out`, replacing the ASCII characters `replace` maps to an
/// escape; runs without any are copied in one piece.
fn escape_with(s: &str, out: &mut String, replace: fn(u8) -> Option<&'static str>) {
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

fn escape_text(s: &str, out: &mut String) {
    escape_with(s, out, |b| match b {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'\r' => Some("&#xD;"),
        _ => None,
    });
}

fn escape_attr(s: &str, out: &mut String) {
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
