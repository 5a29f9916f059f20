//! Inputs found by fuzzing (`scripts/fuzz`, targets in `fuzz/`) that once
//! crashed, hung or misbehaved, replayed through the public entry points
//! (`parse`, then `verify`) with the reason each must now get.
//!
//! Each case says what went wrong before its fix. The providers mirror the
//! fuzz harness's (fuzz/src/lib.rs): issuer `https://idp.example.com`,
//! audience `https://sp.example.com`, ACS `https://sp.example.com/acs`,
//! judged at 2023-11-14T22:13:20Z.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jit_provision_core::provider::SamlSigned;
use jit_provision_core::saml::c14n::{Limits, Method};
use jit_provision_core::{parse, verify, Context, Protocol, Provider, ProviderSettings, Reason};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

const NOW: i64 = 1_700_000_000;
const ISSUER: &str = "https://idp.example.com";

/// A SAML provider trusting a fresh P-256 key (no case here is validly
/// signed, so which key does not matter).
fn saml_provider() -> Provider {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let mut der = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    der.extend_from_slice(pair.public_key().as_ref());
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(der)
    );
    let settings = ProviderSettings {
        name: "idp".into(),
        protocol: Protocol::Saml,
        issuer: ISSUER.into(),
        audiences: vec!["https://sp.example.com".into()],
        algorithms: None,
        acs_urls: vec!["https://sp.example.com/acs".into()],
        saml_signed: SamlSigned::Either,
        clock_skew: 60,
        max_age: None,
        email_domains: None,
        enabled: true,
    };
    Provider::new(settings, None, vec![pem], &[]).unwrap()
}

fn ctx() -> Context {
    Context {
        now: NOW,
        request_id: None,
        ..Default::default()
    }
}

/// The reason `token` is refused with, through `parse` then `verify`.
fn saml_reason(token: &str, provider: &Provider) -> (Reason, String) {
    let result = parse(token).and_then(|t| verify(&t, provider, &ctx()));
    match result {
        Ok(identity) => panic!("accepted: {identity:?}"),
        Err(e) => (e.reason, e.detail),
    }
}

/// A Response whose (forged) Signature's Reference uses exclusive c14n with
/// an InclusiveNamespaces PrefixList of `prefixes`, and which holds `filler`
/// empty elements for the digest to canonicalize.
fn prefix_list_response(prefixes: &str, filler: usize) -> String {
    format!(
        concat!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="2023-11-14T22:13:00Z">"#,
            r#"<saml:Issuer>https://idp.example.com</saml:Issuer>"#,
            r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>"#,
            r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#,
            r#"<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/>"#,
            r##"<ds:Reference URI="#_r1"><ds:Transforms>"##,
            r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#,
            r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">"#,
            r#"<ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="{prefixes}"/>"#,
            r#"</ds:Transform></ds:Transforms>"#,
            r#"<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>AAAA</ds:DigestValue>"#,
            r#"</ds:Reference></ds:SignedInfo><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>"#,
            r#"<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>"#,
            r#"<samlp:Extensions>{filler}</samlp:Extensions>"#,
            r#"<saml:Assertion ID="_a1" Version="2.0" IssueInstant="2023-11-14T22:13:00Z"><saml:Issuer>https://idp.example.com</saml:Issuer></saml:Assertion>"#,
            r#"</samlp:Response>"#
        ),
        prefixes = prefixes,
        filler = "<e/>".repeat(filler),
    )
}

/// Exclusive c14n walked the whole InclusiveNamespaces PrefixList at every
/// element it rendered, and that PrefixList is read from the unverified
/// Signature before any key is involved: a 1 MiB unsigned token (80 000
/// listed prefixes, 150 000 elements; 99 000 now that the reader stops at
/// `MAX_NODES`) cost about 10^10 map lookups, minutes
/// of CPU per request. Found while writing the fuzz harness: a 61 KB input
/// of this shape (4 000 prefixes, 10 000 elements) took 12 s of CPU in the
/// `saml` target, over its 10 s timeout. Now per-element work is bounded by
/// what the element declares and uses (c14n.rs, `Ctx::namespaces`), and the
/// SignatureValue is checked before the Reference is canonicalized at all;
/// the canonicalization itself is timed directly below.
#[test]
fn huge_inclusive_prefix_list_is_refused_quickly() {
    let provider = saml_provider();
    let doc = prefix_list_response(&vec!["saml"; 80_000].join(" "), 99_000);
    assert!(doc.len() < jit_provision_core::MAX_TOKEN_BYTES);
    let started = Instant::now();
    let (reason, detail) = saml_reason(&doc, &provider);
    let took = started.elapsed();
    assert_eq!(reason, Reason::BadSignature, "{detail}");
    assert!(detail.contains("SignatureValue"), "{detail}");
    assert!(
        took < Duration::from_secs(30),
        "a 1 MiB token took {took:?} to refuse"
    );
    // The Reference's canonical form with that PrefixList, as a key holder
    // could make the verifier compute it.
    let parsed = jit_provision_core::saml::xml::parse(&doc).unwrap();
    let list = vec!["saml"; 80_000].join(" ");
    let started = Instant::now();
    let digest = jit_provision_core::saml::c14n::digest(
        &[parsed.root()],
        None,
        &Method::exclusive(Some(&list)),
        &ring::digest::SHA256,
        &Limits::bytes(1 << 24),
    );
    assert!(digest.is_ok());
    assert!(started.elapsed() < Duration::from_secs(30));

    // Distinct prefixes, none in scope: same bound.
    let distinct: Vec<String> = (0..70_000).map(|i| format!("p{i}")).collect();
    let doc = prefix_list_response(&distinct.join(" "), 99_000);
    let started = Instant::now();
    let (reason, detail) = saml_reason(&doc, &provider);
    assert_eq!(reason, Reason::BadSignature, "{detail}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// The PrefixList semantics did not change with the set: listed prefixes in
/// scope are rendered on the apex even when unused, `#default` included,
/// duplicates and unknown names change nothing.
#[test]
fn prefix_list_still_renders_listed_namespaces() {
    use jit_provision_core::saml::c14n::canonicalize;
    use jit_provision_core::saml::xml;

    let d = xml::parse(
        r#"<r xmlns="urn:d" xmlns:a="urn:a" xmlns:b="urn:b"><c:x xmlns:c="urn:c" k="v"/></r>"#,
    )
    .unwrap();
    let x = d.root().child_elements().next().unwrap();
    let path = [d.root(), x];
    let none = canonicalize(
        &path,
        None,
        &Method::exclusive(None),
        &Limits::bytes(1 << 20),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(none).unwrap(),
        r#"<c:x xmlns:c="urn:c" k="v"></c:x>"#
    );
    let listed = canonicalize(
        &path,
        None,
        &Method::exclusive(Some("b #default b zz a\tb")),
        &Limits::bytes(1 << 20),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(listed).unwrap(),
        r#"<c:x xmlns="urn:d" xmlns:a="urn:a" xmlns:b="urn:b" xmlns:c="urn:c" k="v"></c:x>"#
    );
}
