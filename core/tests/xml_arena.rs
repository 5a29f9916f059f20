//! The XML reader's storage: elements are handles into one document's
//! arena, strings are ranges of its text or of a side buffer for decoded
//! values. These tests pin what the verifier relies on: identity never
//! crosses documents, decoded and literal pieces read back as written, and
//! every way of handing the reader a document gives the same tree.

use jit_provision_core::saml::c14n::{self, Limits, Method};
use jit_provision_core::saml::xml::{self, Document};

fn canonical(doc: &Document) -> String {
    let root = doc.root();
    let out = c14n::canonicalize(
        &[root],
        None,
        &Method::exclusive(None),
        &Limits::bytes(1 << 20),
    )
    .expect("within limits");
    String::from_utf8(out).expect("utf-8")
}

const DOC: &str = r#"<r xmlns="urn:d" xmlns:p="urn:p" ID="a"><p:c p:x="1">t</p:c><c/></r>"#;

#[test]
fn element_identity_does_not_cross_documents() {
    let a = xml::parse(DOC).unwrap();
    let b = xml::parse(DOC).unwrap();
    // Same text, same place: still two elements.
    assert_ne!(a.root(), b.root());
    assert_eq!(a.root(), a.root());
    let b_child = b.root().child_elements().next().unwrap();
    assert!(!a.root().contains(b_child));
    assert!(a.root().path_to(b_child).is_none());
    let a_child = a.root().child_elements().next().unwrap();
    assert!(a.root().contains(a_child));
    assert_eq!(a.root().path_to(a_child).unwrap(), vec![a.root(), a_child]);
    // Excluding another document's element excludes nothing here.
    let limits = Limits::bytes(1 << 20);
    let method = Method::exclusive(None);
    let whole = c14n::canonicalize(&[a.root()], None, &method, &limits).unwrap();
    let foreign = c14n::canonicalize(&[a.root()], Some(b_child), &method, &limits).unwrap();
    let own = c14n::canonicalize(&[a.root()], Some(a_child), &method, &limits).unwrap();
    assert_eq!(whole, foreign);
    assert_ne!(whole, own);
}

#[test]
fn decoded_and_literal_pieces_read_back_in_order() {
    // The attribute value goes to the side buffer (a reference), then the
    // text merges a literal piece, a CDATA section and a reference.
    let d =
        xml::parse(r#"<r a="x&amp;y" b="plain">lit<![CDATA[<cd>]]>&amp;more&#x41;</r>"#).unwrap();
    let root = d.root();
    assert_eq!(root.attr("a"), Some("x&y"));
    assert_eq!(root.attr("b"), Some("plain"));
    assert_eq!(root.text(), "lit<cd>&moreA");
    assert_eq!(
        canonical(&d),
        r#"<r a="x&amp;y" b="plain">lit&lt;cd&gt;&amp;moreA</r>"#
    );
    // A comment splits the text; text() joins the pieces without it.
    let d = xml::parse("<r>user@evil.com<!---->.example.com</r>").unwrap();
    assert_eq!(d.root().text(), "user@evil.com.example.com");
}

#[test]
fn every_entry_point_gives_the_same_tree() {
    let variants = [
        DOC.to_string(),
        format!("\u{feff}{DOC}"),
        DOC.replace("><", ">\r\n<"),
        format!("\u{feff}{}", DOC.replace("><", ">\r<")),
    ];
    for v in &variants {
        let from_str = canonical(&xml::parse(v).unwrap());
        assert_eq!(
            canonical(&xml::parse_string(v.clone()).unwrap()),
            from_str,
            "{v:?}"
        );
        assert_eq!(
            canonical(&xml::parse_vec(v.clone().into_bytes()).unwrap()),
            from_str,
            "{v:?}"
        );
        assert_eq!(
            canonical(&xml::parse_bytes(v.as_bytes()).unwrap()),
            from_str,
            "{v:?}"
        );
        // Line ends are normalized to LF whatever was sent.
        assert!(!from_str.contains('\r'), "{from_str:?}");
    }
}

#[test]
fn namespaces_in_scope_up_to_the_limit() {
    // At most MAX_ATTRIBUTES on one element: the declarations go on levels.
    let per = xml::MAX_ATTRIBUTES;
    let levels = xml::MAX_NAMESPACES_IN_SCOPE / per;
    let decls = |level: usize, n: usize| {
        (0..n)
            .map(|i| format!(r#" xmlns:p{level}x{i}="urn:{level}:{i}""#))
            .collect::<String>()
    };
    let nest = |extra: usize| {
        let mut open = String::new();
        let mut close = String::new();
        for level in 0..levels {
            open.push_str(&format!("<e{}>", decls(level, per)));
            close.insert_str(0, "</e>");
        }
        format!("{open}<p0x0:c{}/>{close}", decls(levels, extra))
    };
    assert_eq!(levels * per, xml::MAX_NAMESPACES_IN_SCOPE);
    assert!(xml::parse(&nest(0)).is_ok());
    let err = xml::parse(&nest(1)).unwrap_err();
    assert!(err.detail.contains("in scope"), "{}", err.detail);
}
