//! Test IdP for the OIDC tests: signing keys, their JWKs, token minting and
//! a provider configured for them. Shared by `oidc_*.rs`.
#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jit_provision_core::provider::SamlSigned;
use jit_provision_core::{Context, Identity, Protocol, Provider, ProviderSettings, Rejection};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value};

pub const ISS: &str = "https://idp.example.com/realms/test";
pub const AUD: &str = "client-1";
pub const OTHER_AUD: &str = "client-2";
pub const NOW: i64 = 1_700_000_000;
pub const SKEW: i64 = 120;

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private key of the test IdP and the public JWK it publishes.
pub struct TestKey {
    pub kid: Option<String>,
    pub signer: Signer,
    /// Public JWK without `kid`/`alg` (see [`TestKey::jwk`]).
    pub public: Value,
}

fn read_key_file(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("test key {path}: {e}"))
}

impl TestKey {
    /// `name`: a PKCS#8 DER file under tests/keys.
    pub fn rsa(name: &str, kid: Option<&str>) -> TestKey {
        let kp = RsaKeyPair::from_pkcs8(&read_key_file(name)).expect("test RSA key");
        let c = signature::RsaPublicKeyComponents::<Vec<u8>>::from(kp.public());
        TestKey {
            kid: kid.map(String::from),
            public: json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)}),
            signer: Signer::Rsa(kp),
        }
    }

    pub fn ec(alg: &'static signature::EcdsaSigningAlgorithm, kid: Option<&str>) -> TestKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("generate EC key");
        let kp = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("EC key");
        let point = kp.public_key().as_ref().to_vec();
        let size = (point.len() - 1) / 2;
        let crv = if size == 32 { "P-256" } else { "P-384" };
        TestKey {
            kid: kid.map(String::from),
            public: json!({
                "kty": "EC", "crv": crv,
                "x": b64(&point[1..1 + size]), "y": b64(&point[1 + size..]),
            }),
            signer: Signer::Ec(kp),
        }
    }

    pub fn p256(kid: Option<&str>) -> TestKey {
        TestKey::ec(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, kid)
    }

    pub fn p384(kid: Option<&str>) -> TestKey {
        TestKey::ec(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, kid)
    }

    pub fn ed25519(kid: Option<&str>) -> TestKey {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("generate Ed25519 key");
        let kp = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("Ed25519 key");
        TestKey {
            kid: kid.map(String::from),
            public: json!({"kty": "OKP", "crv": "Ed25519", "x": b64(kp.public_key().as_ref())}),
            signer: Signer::Ed(kp),
        }
    }

    /// The JWK as published, with `kid` when the key has one.
    pub fn jwk(&self) -> Value {
        let mut j = self.public.clone();
        if let Some(kid) = &self.kid {
            j["kid"] = json!(kid);
        }
        j
    }

    /// Signs `input` for the JWS `alg` (RSA keys fall back to RS256 for
    /// algs they cannot produce; EC and Ed25519 keys ignore `alg`).
    pub fn sign(&self, alg: &str, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rsa(kp) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    "RS256" => &signature::RSA_PKCS1_SHA256,
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    "PS384" => &signature::RSA_PSS_SHA384,
                    "PS512" => &signature::RSA_PSS_SHA512,
                    // Tokens announcing a foreign alg still get a real signature.
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0; kp.public().modulus_len()];
                kp.sign(padding, &rng, input, &mut sig).expect("RSA sign");
                sig
            }
            Signer::Ec(kp) => kp.sign(&rng, input).expect("ECDSA sign").as_ref().to_vec(),
            Signer::Ed(kp) => kp.sign(input).as_ref().to_vec(),
        }
    }

    /// The JWS alg this key signs with by default.
    pub fn default_alg(&self) -> &'static str {
        match (&self.signer, self.public["crv"].as_str()) {
            (Signer::Rsa(_), _) => "RS256",
            (Signer::Ec(_), Some("P-256")) => "ES256",
            (Signer::Ec(_), _) => "ES384",
            (Signer::Ed(_), _) => "EdDSA",
        }
    }

    /// The usual ID token header for this key: alg, kid (if any), typ JWT.
    pub fn header(&self, alg: &str) -> Value {
        let mut h = json!({"alg": alg, "typ": "JWT"});
        if let Some(kid) = &self.kid {
            h["kid"] = json!(kid);
        }
        h
    }

    /// A compact JWS over exactly these header and claims.
    pub fn mint(&self, header: &Value, claims: &Value) -> String {
        mint_raw(self, &header.to_string(), &claims.to_string())
    }

    /// A token with the default header for `alg`.
    pub fn token_alg(&self, alg: &str, claims: &Value) -> String {
        self.mint(&self.header(alg), claims)
    }

    /// A token with the key's default alg and header.
    pub fn token(&self, claims: &Value) -> String {
        self.token_alg(self.default_alg(), claims)
    }
}

/// Signs header and payload given as raw JSON text (for duplicate members etc.).
pub fn mint_raw(key: &TestKey, header_json: &str, payload_json: &str) -> String {
    let input = format!(
        "{}.{}",
        b64(header_json.as_bytes()),
        b64(payload_json.as_bytes())
    );
    let sig = key.sign(
        serde_json::from_str::<Value>(header_json)
            .ok()
            .and_then(|h| h["alg"].as_str().map(String::from))
            .as_deref()
            .unwrap_or_else(|| key.default_alg()),
        input.as_bytes(),
    );
    format!("{input}.{}", b64(&sig))
}

/// Valid ID token claims at [`NOW`].
pub fn claims() -> Value {
    json!({
        "iss": ISS,
        "aud": AUD,
        "sub": "user-1",
        "exp": NOW + 600,
        "iat": NOW - 10,
        "jti": "jti-1",
        "email": "alice@example.com",
        "name": "Alice Example",
        "given_name": "Alice",
        "family_name": "Example",
        "groups": ["staff", "admins"],
    })
}

/// `claims()` with some members replaced (`null` removes the member).
pub fn claims_with(changes: Value) -> Value {
    let mut c = claims();
    if let (Some(obj), Some(ch)) = (c.as_object_mut(), changes.as_object()) {
        for (k, v) in ch {
            if v.is_null() {
                obj.remove(k);
            } else {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
    c
}

pub fn settings() -> ProviderSettings {
    ProviderSettings {
        name: "test-idp".into(),
        protocol: Protocol::Oidc,
        issuer: ISS.into(),
        audiences: vec![AUD.into(), OTHER_AUD.into()],
        algorithms: None,
        acs_urls: vec![],
        saml_signed: SamlSigned::Either,
        clock_skew: SKEW,
        max_age: None,
        email_domains: None,
        enabled: true,
    }
}

pub fn jwks(keys: &[&TestKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()}).to_string()
}

/// A provider trusting `keys`, after `edit` changed the default settings.
pub fn provider_with(
    keys: &[&TestKey],
    edit: impl FnOnce(&mut ProviderSettings),
    claim_map: &[(&str, &str)],
) -> Provider {
    let mut s = settings();
    edit(&mut s);
    let rows: Vec<(String, String)> = claim_map
        .iter()
        .map(|(f, src)| (f.to_string(), src.to_string()))
        .collect();
    Provider::new(s, Some(&jwks(keys)), vec![], &rows).expect("test provider is valid")
}

pub fn provider(keys: &[&TestKey]) -> Provider {
    provider_with(keys, |_| {}, &[])
}

pub fn ctx() -> Context {
    Context {
        now: NOW,
        request_id: None,
        ..Default::default()
    }
}

/// The whole path the extension takes: token::parse, then token::verify.
pub fn verify_at(token: &str, provider: &Provider, ctx: &Context) -> Result<Identity, Rejection> {
    let parsed = jit_provision_core::parse(token)?;
    jit_provision_core::verify(&parsed, provider, ctx)
}

pub fn verify(token: &str, provider: &Provider) -> Result<Identity, Rejection> {
    verify_at(token, provider, &ctx())
}

/// The rejection of a token that must be refused (panics on acceptance).
pub fn rejection(token: &str, provider: &Provider) -> Rejection {
    rejection_at(token, provider, &ctx())
}

pub fn rejection_at(token: &str, provider: &Provider, ctx: &Context) -> Rejection {
    match verify_at(token, provider, ctx) {
        Ok(id) => panic!("token was accepted, expected a rejection: {id:?}"),
        Err(r) => r,
    }
}

pub fn accept(token: &str, provider: &Provider) -> Identity {
    accept_at(token, provider, &ctx())
}

pub fn accept_at(token: &str, provider: &Provider, ctx: &Context) -> Identity {
    verify_at(token, provider, ctx).unwrap_or_else(|r| panic!("token was rejected: {r}"))
}

/// The keys most OIDC tests sign with: two RSA keys (rotation), both EC
/// curves and Ed25519, each with its kid.
pub struct Keys {
    pub rsa: TestKey,
    pub rsa2: TestKey,
    pub p256: TestKey,
    pub p384: TestKey,
    pub ed: TestKey,
}

pub static KEYS: std::sync::LazyLock<Keys> = std::sync::LazyLock::new(|| Keys {
    rsa: TestKey::rsa("rsa2048.pk8.der", Some("rsa-1")),
    rsa2: TestKey::rsa("rsa2048-second.pk8.der", Some("rsa-2")),
    p256: TestKey::p256(Some("ec-256")),
    p384: TestKey::p384(Some("ec-384")),
    ed: TestKey::ed25519(Some("ed-1")),
});
