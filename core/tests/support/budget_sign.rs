//! A small signing harness for the resource-budget tests (its [`TestKey`] and
//! provider constants also serve saml_unit.rs): an ECDSA P-256 key
//! the test provider trusts, and an enveloped ds:Signature whose SignedInfo
//! is signed for real (so verification gets past SignatureValue) while its
//! DigestValue is whatever the test wants (usually bogus, so that the
//! Reference digest is computed in full and then refused).
//!
//! SignedInfo is canonicalized with the crate's own public c14n API, with the
//! same method the Signature names, exactly as the verifier will.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jit_provision_core::provider::SamlSigned;
use jit_provision_core::saml::c14n::{self, Method};
use jit_provision_core::saml::dsig::DSIG_NS;
use jit_provision_core::saml::xml::{self, Element};
use jit_provision_core::{Context, Protocol, Provider, ProviderSettings};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

/// 2023-11-14T22:13:20Z.
pub const NOW: i64 = 1_700_000_000;
pub const ISSUER: &str = "https://idp.example.com";
pub const AUDIENCE: &str = "https://sp.example.com";
pub const ACS: &str = "https://sp.example.com/acs";
pub const ISSUE_INSTANT: &str = "2023-11-14T22:13:00Z";

/// A well-formed but wrong ECDSA P-256 SignatureValue: 64 bytes, so exactly
/// as long in base64 (88 characters) as a real one. Documents are built with
/// it and a real value is substituted in place: the size does not change.
pub const JUNK_SIGNATURE: &str =
    "SlVOSy1TSUdOQVRVUkUtLUpVTkstU0lHTkFUVVJFLS1KVU5LLVNJR05BVFVSRS0tSlVOSy1TSUdOQVRVUkUtLQ==";
/// A DigestValue that matches nothing (32 bytes, as SHA-256).
pub const BOGUS_DIGEST: &str = "Qk9HVVMtRElHRVNULUJPR1VTLURJR0VTVC1CT0dVUy0=";

pub const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// The canonicalization a Signature names, for SignedInfo and for the
/// Reference (after enveloped-signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Canon {
    /// Exclusive c14n, no InclusiveNamespaces.
    Exclusive,
    /// Exclusive c14n with an InclusiveNamespaces PrefixList (this value).
    ExclusiveListed(String),
    /// Canonical XML 1.0 (inclusive), without comments.
    Inclusive,
}

impl Canon {
    pub fn label(&self) -> &'static str {
        match self {
            Canon::Exclusive => "exc",
            Canon::ExclusiveListed(_) => "exc+PrefixList",
            Canon::Inclusive => "inclusive",
        }
    }

    pub fn method(&self) -> Method {
        match self {
            Canon::Exclusive => Method::exclusive(None),
            Canon::ExclusiveListed(list) => Method::exclusive(Some(list)),
            Canon::Inclusive => Method::Inclusive,
        }
    }

    /// `<ds:{element} Algorithm=...>` with its content, for
    /// CanonicalizationMethod and for the Reference's second Transform.
    pub fn element(&self, element: &str) -> String {
        match self {
            Canon::Exclusive => format!(r#"<ds:{element} Algorithm="{}"/>"#, c14n::EXCLUSIVE),
            Canon::ExclusiveListed(list) => format!(
                r#"<ds:{element} Algorithm="{ex}"><ec:InclusiveNamespaces xmlns:ec="{ex}" PrefixList="{list}"/></ds:{element}>"#,
                ex = c14n::EXCLUSIVE
            ),
            Canon::Inclusive => format!(r#"<ds:{element} Algorithm="{}"/>"#, c14n::INCLUSIVE),
        }
    }
}

/// An enveloped ds:Signature over the element whose ID is `apex_id`, with
/// `digest` as DigestValue and `signature` as SignatureValue.
pub fn signature_xml(apex_id: &str, canon: &Canon, digest: &str, signature: &str) -> String {
    format!(
        concat!(
            r#"<ds:Signature xmlns:ds="{ds}"><ds:SignedInfo>{cm}"#,
            r#"<ds:SignatureMethod Algorithm="{sm}"/>"#,
            r##"<ds:Reference URI="#{id}"><ds:Transforms>"##,
            r#"<ds:Transform Algorithm="{env}"/>{tr}</ds:Transforms>"#,
            r#"<ds:DigestMethod Algorithm="{dm}"/><ds:DigestValue>{dv}</ds:DigestValue>"#,
            r#"</ds:Reference></ds:SignedInfo><ds:SignatureValue>{sv}</ds:SignatureValue></ds:Signature>"#
        ),
        ds = DSIG_NS,
        cm = canon.element("CanonicalizationMethod"),
        sm = ECDSA_SHA256,
        id = apex_id,
        env = ENVELOPED,
        tr = canon.element("Transform"),
        dm = SHA256,
        dv = digest,
        sv = signature,
    )
}

pub struct TestKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl TestKey {
    pub fn new() -> TestKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("P-256 key generation");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("P-256 key from its own PKCS#8");
        TestKey { pair, rng }
    }

    /// SubjectPublicKeyInfo PEM of the key (what a provider row may hold).
    pub fn pem(&self) -> String {
        let mut der = vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        der.extend_from_slice(self.pair.public_key().as_ref());
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(der)
        )
    }

    /// Fixed-size (r || s) ECDSA-SHA256 signature of `msg`.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.pair
            .sign(&self.rng, msg)
            .expect("ECDSA signing")
            .as_ref()
            .to_vec()
    }

    /// A SAML provider that trusts this key only (`saml_signed = either`).
    pub fn provider(&self) -> Provider {
        let settings = ProviderSettings {
            name: "budget-idp".into(),
            protocol: Protocol::Saml,
            issuer: ISSUER.into(),
            audiences: vec![AUDIENCE.into()],
            algorithms: None,
            acs_urls: vec![ACS.into()],
            saml_signed: SamlSigned::Either,
            clock_skew: 60,
            max_age: None,
            email_domains: None,
            enabled: true,
        };
        Provider::new(settings, None, vec![self.pem()], &[]).expect("test provider")
    }

    /// Replaces the one [`JUNK_SIGNATURE`] in `doc` with a real signature
    /// over the canonical SignedInfo of the Signature that holds it. The
    /// document keeps its length.
    pub fn sign_signed_info(&self, doc: &str, canon: &Canon) -> String {
        assert_eq!(
            doc.matches(JUNK_SIGNATURE).count(),
            1,
            "the document must hold exactly one placeholder SignatureValue"
        );
        let parsed = xml::parse(doc).unwrap_or_else(|e| panic!("test document refused: {e}"));
        let (sig, path) =
            find_signature(parsed.root()).expect("a ds:Signature with the placeholder");
        let signed_info = sig.child_elements().next().expect("SignedInfo");
        let mut si_path = path;
        si_path.push(signed_info);
        // Far above any SignedInfo these tests build.
        let limits = c14n::Limits::bytes(64 << 20);
        let octets = c14n::canonicalize(&si_path, None, &canon.method(), &limits)
            .unwrap_or_else(|e| panic!("SignedInfo canonicalization: {e:?}"));
        let value = STANDARD.encode(self.sign(&octets));
        assert_eq!(value.len(), JUNK_SIGNATURE.len());
        doc.replacen(JUNK_SIGNATURE, &value, 1)
    }
}

/// The ds:Signature holding the placeholder SignatureValue, and the element
/// path from the root to it (both included). Only the root and its direct
/// children are searched: that is where a verifiable Signature sits (its
/// parent is the Response or the Assertion).
fn find_signature(root: Element<'_>) -> Option<(Element<'_>, Vec<Element<'_>>)> {
    let holds_junk = |e: &Element| {
        e.is(DSIG_NS, "Signature")
            && e.child_elements()
                .any(|c| c.is(DSIG_NS, "SignatureValue") && c.text() == JUNK_SIGNATURE)
    };
    if let Some(s) = root.child_elements().find(|c| holds_junk(c)) {
        return Some((s, vec![root, s]));
    }
    root.child_elements().find_map(|child| {
        child
            .child_elements()
            .find(|c| holds_junk(c))
            .map(|s| (s, vec![root, child, s]))
    })
}

/// The verification context: judged at [`NOW`], no request id, the default
/// budget.
pub fn ctx() -> Context {
    Context {
        now: NOW,
        ..Default::default()
    }
}
