//! The parsed tree's storage: every node, attribute and namespace
//! declaration of a document in three vectors, linked by index, and every
//! string as a [`Span`] of the source text (or, when the reader had to
//! change it, of one side buffer). A document costs a handful of
//! allocations whatever its size; nothing is allocated per node. A leaf.

/// "No node" in the index links.
pub(super) const NONE: u32 = u32::MAX;

/// A string of the document: a byte range of the source text, or of
/// [`Arena::decoded`] when `decoded` is set (references resolved, attribute
/// whitespace normalized, adjacent text pieces merged, the `xml` namespace).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) start: u32,
    pub(super) end: u32,
    pub(super) decoded: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Element,
    /// Character data, CDATA sections included, references resolved.
    Text,
    Comment,
    Pi,
}

/// One node. Elements use every field; a text or comment only `value`; a
/// processing instruction `value` (its target) and `data`.
#[derive(Debug, Clone)]
pub(super) struct NodeRec {
    pub(super) kind: Kind,
    /// Element: the local name. Text, comment: the content. PI: the target.
    pub(super) value: Span,
    /// Element: the prefix, `None` when unprefixed. PI: the data.
    pub(super) prefix: Option<Span>,
    /// Element: the namespace URI, `None` when in no namespace.
    pub(super) ns: Option<Span>,
    /// Element: its attributes, `Arena::attrs[attrs.0..attrs.1]`.
    pub(super) attrs: (u32, u32),
    /// Element: its namespace declarations, `Arena::decls[decls.0..decls.1]`.
    pub(super) decls: (u32, u32),
    pub(super) parent: u32,
    pub(super) first_child: u32,
    pub(super) last_child: u32,
    pub(super) next_sibling: u32,
    /// One past the last node of this node's subtree: nodes are stored in
    /// document order, so a subtree is the index range `id..subtree_end`.
    pub(super) subtree_end: u32,
}

impl NodeRec {
    pub(super) fn new(kind: Kind, value: Span, parent: u32) -> NodeRec {
        NodeRec {
            kind,
            value,
            prefix: None,
            ns: None,
            attrs: (0, 0),
            decls: (0, 0),
            parent,
            first_child: NONE,
            last_child: NONE,
            next_sibling: NONE,
            subtree_end: 0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct AttrRec {
    pub(super) prefix: Option<Span>,
    pub(super) local: Span,
    pub(super) ns: Option<Span>,
    pub(super) value: Span,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct DeclRec {
    /// `None` for the default namespace.
    pub(super) prefix: Option<Span>,
    /// Empty only for `xmlns=""`.
    pub(super) uri: Span,
}

/// Everything the reader built besides the source text itself.
#[derive(Debug, Clone, Default)]
pub(super) struct Arena {
    pub(super) decoded: String,
    pub(super) nodes: Vec<NodeRec>,
    pub(super) attrs: Vec<AttrRec>,
    pub(super) decls: Vec<DeclRec>,
    pub(super) root: u32,
}

impl Arena {
    /// The text of `span`, given the source it was read from.
    pub(super) fn str<'a>(&'a self, text: &'a str, span: Span) -> &'a str {
        let src = if span.decoded { &self.decoded } else { text };
        src.get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }
}
