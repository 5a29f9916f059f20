//! Fixed providers, keys and signing helpers shared by the fuzz targets.
//!
//! Fuzz inputs come in two shapes:
//!
//! * raw: the bytes are the token, exactly as a client would send it;
//! * template: the input says where a signature goes and the harness signs it
//!   with a fixed test key the provider trusts, so that mutations of a signed
//!   document still reach the checks behind the signature (issuers, time
//!   windows, audiences, subject confirmation, attribute mapping). SAML: the
//!   markers `{SIG_A}` (signs the Assertion) and `{SIG_R}` (signs the root).
//!   JWT: text starting with `{` is `header JSON \n claims JSON`.
//!
//! Keys under `keys/` and `../core/tests/keys/` are test-only and protect
//! nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jit_provision_core::provider::SamlSigned;
use jit_provision_core::saml::c14n::{self, Limits, Method};
use jit_provision_core::saml::xml::{self, Element};
use jit_provision_core::{Context, Protocol, Provider, ProviderSettings};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::json;

/// Canonical output allowed when the harness signs a generated document.
const SIGNING_LIMITS: Limits = Limits {
    max_output: 1 << 24,
    interrupt: None,
};

/// Memory is fuzzed too: every target runs under this allocator, which
/// tracks the bytes Rust code holds (libFuzzer's own allocations do not go
/// through it), so [`within_memory_budget`] can fail an input whose
/// verification holds more than a linear bound.
struct Metered;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only counters change.
unsafe impl GlobalAlloc for Metered {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

fn grew(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed).saturating_add(size);
    PEAK.fetch_max(live, Ordering::Relaxed);
}

#[global_allocator]
static METERED: Metered = Metered;

/// Bytes one input of `len` bytes may make the verifier hold at once:
/// linear in the input (a 1 MiB token measures under 20 MiB).
pub fn memory_bound(len: usize) -> usize {
    len.saturating_mul(64).saturating_add(32 << 20)
}

/// Runs `f` (parse and verify one input of `len` bytes) and panics — a
/// crash for libFuzzer — when the memory it held at its peak exceeds
/// [`memory_bound`].
pub fn within_memory_budget<T>(len: usize, f: impl FnOnce() -> T) -> T {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    let held = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    assert!(
        held <= memory_bound(len),
        "verifying a {len}-byte input held {held} bytes (bound {})",
        memory_bound(len)
    );
    out
}

/// The instant every token is judged at: 2023-11-14T22:13:20Z.
pub const NOW: i64 = 1_700_000_000;
pub const SAML_ISSUER: &str = "https://idp.example.com";
pub const SAML_AUDIENCE: &str = "https://sp.example.com";
pub const SAML_ACS: &str = "https://sp.example.com/acs";
pub const REQUEST_ID: &str = "_req42";
pub const OIDC_ISSUER: &str = "https://idp.example.com/realms/test";
pub const OIDC_AUDIENCE: &str = "client-1";
pub const NONCE: &str = "n-0S6_WzA2Mj";

const P256_PK8: &[u8] = include_bytes!("../keys/p256.pk8.der");
const P384_PK8: &[u8] = include_bytes!("../keys/p384.pk8.der");
const ED25519_PK8: &[u8] = include_bytes!("../keys/ed25519.pk8.der");
const RSA_PK8: &[u8] = include_bytes!("../../core/tests/keys/rsa2048.pk8.der");

/// `JIT_FUZZ_VERBOSE=1`: the targets print each verdict (to check seeds
/// and read reproducers: `JIT_FUZZ_VERBOSE=1 saml crash-...`).
pub fn verbose() -> bool {
    static V: OnceLock<bool> = OnceLock::new();
    *V.get_or_init(|| std::env::var_os("JIT_FUZZ_VERBOSE").is_some_and(|v| v != "0"))
}

/// `parse`, printing the rejection when verbose; `None` when refused.
pub fn parse_logged(token_text: &str) -> Option<jit_provision_core::Token> {
    match jit_provision_core::parse(token_text) {
        Ok(t) => Some(t),
        Err(e) => {
            if verbose() {
                eprintln!("[parse] {e}");
            }
            None
        }
    }
}

fn rng() -> &'static SystemRandom {
    static RNG: OnceLock<SystemRandom> = OnceLock::new();
    RNG.get_or_init(SystemRandom::new)
}

fn b64url(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

pub struct Keys {
    pub p256: EcdsaKeyPair,
    pub p384: EcdsaKeyPair,
    pub ed25519: Ed25519KeyPair,
    pub rsa: RsaKeyPair,
}

pub fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| Keys {
        p256: EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            P256_PK8,
            rng(),
        )
        .expect("fuzz/keys/p256.pk8.der"),
        p384: EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            P384_PK8,
            rng(),
        )
        .expect("fuzz/keys/p384.pk8.der"),
        ed25519: Ed25519KeyPair::from_pkcs8_maybe_unchecked(ED25519_PK8)
            .expect("fuzz/keys/ed25519.pk8.der"),
        rsa: RsaKeyPair::from_pkcs8(RSA_PK8).expect("core/tests/keys/rsa2048.pk8.der"),
    })
}

// ------------------------------------------------------------------ SAML

/// SubjectPublicKeyInfo PEM of the P-256 SAML signing key.
fn p256_spki_pem() -> String {
    let mut der = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    der.extend_from_slice(keys().p256.public_key().as_ref());
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(der)
    )
}

fn saml_settings(issuer: &str) -> ProviderSettings {
    ProviderSettings {
        name: "fuzz-saml".into(),
        protocol: Protocol::Saml,
        issuer: issuer.into(),
        audiences: vec![SAML_AUDIENCE.into()],
        algorithms: None,
        acs_urls: vec![SAML_ACS.into()],
        saml_signed: SamlSigned::Either,
        clock_skew: 60,
        max_age: None,
        email_domains: None,
        enabled: true,
    }
}

/// A lenient and a strict SAML provider for `issuer`, both trusting the
/// P-256 key: `Either` with defaults, and `Both` with max_age, an email
/// domain list, SHA-1 allowed and a claim map.
pub fn saml_providers_for(issuer: &str) -> [Provider; 2] {
    let lenient = Provider::new(saml_settings(issuer), None, vec![p256_spki_pem()], &[])
        .expect("lenient SAML provider");
    let mut s = saml_settings(issuer);
    s.name = "fuzz-saml-strict".into();
    s.saml_signed = SamlSigned::Both;
    s.max_age = Some(600);
    s.email_domains = Some(vec!["example.com".into()]);
    s.algorithms = Some(
        [
            "rsa-sha1",
            "rsa-sha256",
            "ecdsa-sha256",
            "ecdsa-sha384",
            "sha1",
            "sha256",
            "sha384",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect(),
    );
    let map: Vec<(String, String)> = [
        ("email", "mail"),
        ("groups", "memberOf"),
        ("attributes.department", "department"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let strict = Provider::new(s, None, vec![p256_spki_pem()], &map).expect("strict SAML provider");
    [lenient, strict]
}

pub fn saml_providers() -> &'static [Provider; 2] {
    static P: OnceLock<[Provider; 2]> = OnceLock::new();
    P.get_or_init(|| saml_providers_for(SAML_ISSUER))
}

fn contexts_with(request_id: &str) -> [Context; 2] {
    [
        Context {
            now: NOW,
            request_id: None,
            ..Default::default()
        },
        Context {
            now: NOW,
            request_id: Some(request_id.into()),
            ..Default::default()
        },
    ]
}

/// The contexts a SAML token is judged in: without and with a request id.
pub fn saml_contexts() -> &'static [Context; 2] {
    static C: OnceLock<[Context; 2]> = OnceLock::new();
    C.get_or_init(|| contexts_with(REQUEST_ID))
}

/// The contexts an ID token is judged in: without and with a nonce.
pub fn oidc_contexts() -> &'static [Context; 2] {
    static C: OnceLock<[Context; 2]> = OnceLock::new();
    C.get_or_init(|| contexts_with(NONCE))
}

const SIG_PLACEHOLDER: &str = "JITFUZZSIGNATUREVALUE";

fn attr_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

fn first_assertion(root: Element<'_>) -> Option<Element<'_>> {
    root.descendants()
        .into_iter()
        .find(|e| e.local() == "Assertion")
}

fn root_element(root: Element<'_>) -> Option<Element<'_>> {
    Some(root)
}

/// Replaces `marker` with an enveloped ECDSA-SHA256 signature (exclusive
/// c14n) over the element `pick` selects, the way IdPs sign. `None` when the
/// document is not well-formed enough to sign.
fn sign_one(
    doc: &str,
    marker: &str,
    pick: fn(Element<'_>) -> Option<Element<'_>>,
) -> Option<String> {
    let without = doc.replace(marker, "");
    let parsed = xml::parse(&without).ok()?;
    let target = pick(parsed.root())?;
    let id = target.attr("ID").unwrap_or("");
    let path = parsed.root().path_to(target)?;
    let octets = c14n::canonicalize(&path, None, &Method::exclusive(None), &SIGNING_LIMITS).ok()?;
    let dv = STANDARD.encode(ring::digest::digest(&ring::digest::SHA256, &octets));
    let sig = format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/><ds:Reference URI="#{}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>{dv}</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>{SIG_PLACEHOLDER}</ds:SignatureValue></ds:Signature>"##,
        attr_escape(id)
    );
    let with = doc.replacen(marker, &sig, 1).replace(marker, "");
    let parsed = xml::parse(&with).ok()?;
    let sig_el = parsed.root().descendants().into_iter().find(|e| {
        e.local() == "Signature"
            && e.child_elements()
                .any(|c| c.local() == "SignatureValue" && c.text() == SIG_PLACEHOLDER)
    })?;
    let signed_info = sig_el.child_elements().next()?;
    let mut path = parsed.root().path_to(sig_el)?;
    path.push(signed_info);
    let si = c14n::canonicalize(&path, None, &Method::exclusive(None), &SIGNING_LIMITS).ok()?;
    let value = keys().p256.sign(rng(), &si).ok()?;
    Some(with.replacen(SIG_PLACEHOLDER, &STANDARD.encode(value.as_ref()), 1))
}

/// Signs a SAML template: `{SIG_A}` first (the Assertion's signature is
/// inside the Response), then `{SIG_R}`. `None` when `doc` has no marker.
pub fn sign_saml_template(doc: &str) -> Option<String> {
    if !doc.contains("{SIG_A}") && !doc.contains("{SIG_R}") {
        return None;
    }
    let mut out = doc.to_string();
    if out.contains("{SIG_A}") {
        out = sign_one(&out, "{SIG_A}", first_assertion)
            .unwrap_or_else(|| out.replace("{SIG_A}", ""));
    }
    if out.contains("{SIG_R}") {
        out = sign_one(&out, "{SIG_R}", root_element).unwrap_or_else(|| out.replace("{SIG_R}", ""));
    }
    Some(out)
}

// ------------------------------------------------------------------ OIDC

/// The JWKS of the OIDC provider: RSA, P-256, P-384 and Ed25519 keys.
pub fn jwks_json() -> String {
    let k = keys();
    let rsa = signature::RsaPublicKeyComponents::<Vec<u8>>::from(k.rsa.public());
    let ec = |kp: &EcdsaKeyPair, crv: &str| {
        let p = kp.public_key().as_ref();
        let n = (p.len() - 1) / 2;
        json!({"kty": "EC", "crv": crv, "x": b64url(&p[1..1 + n]), "y": b64url(&p[1 + n..])})
    };
    let mut p256 = ec(&k.p256, "P-256");
    p256["kid"] = json!("ec-256");
    let mut p384 = ec(&k.p384, "P-384");
    p384["kid"] = json!("ec-384");
    p384["use"] = json!("sig");
    json!({"keys": [
        {"kty": "RSA", "kid": "rsa-1", "n": b64url(&rsa.n), "e": b64url(&rsa.e)},
        p256,
        p384,
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "x": b64url(k.ed25519.public_key().as_ref())},
    ]})
    .to_string()
}

/// A lenient and a strict OIDC provider: defaults, and max_age, email
/// domains and a claim map.
pub fn oidc_providers() -> &'static [Provider; 2] {
    static P: OnceLock<[Provider; 2]> = OnceLock::new();
    P.get_or_init(|| {
        let jwks = jwks_json();
        let settings = ProviderSettings {
            name: "fuzz-oidc".into(),
            protocol: Protocol::Oidc,
            issuer: OIDC_ISSUER.into(),
            audiences: vec![OIDC_AUDIENCE.into(), "client-2".into()],
            algorithms: None,
            acs_urls: vec![],
            saml_signed: SamlSigned::Either,
            clock_skew: 120,
            max_age: None,
            email_domains: None,
            enabled: true,
        };
        let lenient = Provider::new(settings.clone(), Some(&jwks), vec![], &[])
            .expect("lenient OIDC provider");
        let mut s = settings;
        s.name = "fuzz-oidc-strict".into();
        s.max_age = Some(3600);
        s.email_domains = Some(vec!["example.com".into()]);
        let map: Vec<(String, String)> = [
            ("subject", "oid"),
            ("groups", "roles"),
            ("attributes.tenant", "tid"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let strict = Provider::new(s, Some(&jwks), vec![], &map).expect("strict OIDC provider");
        [lenient, strict]
    })
}

/// Signs `signing_input` for the JWS `alg` named in the header with the key
/// that fits it; algs without a key get an ECDSA P-256 signature.
fn jws_sign(alg: &str, input: &[u8]) -> Vec<u8> {
    let k = keys();
    let rsa = |enc: &'static dyn signature::RsaEncoding| {
        let mut sig = vec![0; k.rsa.public().modulus_len()];
        k.rsa.sign(enc, rng(), input, &mut sig).expect("RSA sign");
        sig
    };
    match alg {
        "RS256" => rsa(&signature::RSA_PKCS1_SHA256),
        "RS384" => rsa(&signature::RSA_PKCS1_SHA384),
        "RS512" => rsa(&signature::RSA_PKCS1_SHA512),
        "PS256" => rsa(&signature::RSA_PSS_SHA256),
        "PS384" => rsa(&signature::RSA_PSS_SHA384),
        "PS512" => rsa(&signature::RSA_PSS_SHA512),
        "ES384" => k.p384.sign(rng(), input).expect("ES384").as_ref().to_vec(),
        "EdDSA" | "Ed25519" => k.ed25519.sign(input).as_ref().to_vec(),
        _ => k.p256.sign(rng(), input).expect("ES256").as_ref().to_vec(),
    }
}

/// A JWT template `header JSON \n claims JSON` (input starting with `{`)
/// minted into a compact JWS signed for the header's `alg`.
pub fn sign_jwt_template(input: &str) -> Option<String> {
    if !input.starts_with('{') {
        return None;
    }
    let (header, claims) = input.split_once('\n').unwrap_or((input, "{}"));
    let alg = serde_json::from_str::<serde_json::Value>(header)
        .ok()
        .and_then(|h| h.get("alg").and_then(|a| a.as_str()).map(str::to_string))
        .unwrap_or_default();
    let signing_input = format!(
        "{}.{}",
        b64url(header.as_bytes()),
        b64url(claims.as_bytes())
    );
    let sig = jws_sign(&alg, signing_input.as_bytes());
    Some(format!("{signing_input}.{}", b64url(&sig)))
}

/// Verifies `token` with each provider and its context (the lenient one
/// without a request id, the strict one with it). An input the harness did
/// not sign carries no trusted signature: its acceptance is a bypass.
pub fn judge(
    token: &jit_provision_core::Token,
    providers: &[Provider],
    contexts: &[Context],
    templated: bool,
) {
    for (provider, ctx) in providers.iter().zip(contexts) {
        let verdict = jit_provision_core::verify(token, provider, ctx);
        if verbose() {
            eprintln!(
                "[{} request_id={:?}] {:?}",
                provider.settings.name,
                ctx.request_id,
                verdict.as_ref().map(|i| &i.subject)
            );
        }
        if !templated {
            assert!(
                verdict.is_err(),
                "an input without a trusted signature verified: {verdict:?}"
            );
        }
    }
}
