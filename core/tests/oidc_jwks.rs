//! JWKS parsing: what is kept, what is skipped (with which reason), and
//! which documents are configuration errors.

mod oidc_support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jit_provision_core::jwks::{Algorithm, KeySet, SkipReason};
use jit_provision_core::jwt::{parse_jws, verify_signature};
use jit_provision_core::{ConfigError, Provider, Reason};
use oidc_support::*;
use serde_json::{json, Value};

fn parse(keys: Value) -> KeySet {
    KeySet::parse(&json!({ "keys": keys }).to_string()).unwrap_or_else(|e| panic!("{e}"))
}

fn skip_reasons(set: &KeySet) -> Vec<SkipReason> {
    set.skipped().iter().map(|s| s.reason).collect()
}

fn rsa() -> TestKey {
    TestKey::rsa("rsa2048.pk8.der", Some("rsa-1"))
}

/// A 1024-bit odd "modulus": enough to be measured and refused.
fn small_modulus() -> String {
    let mut n = vec![0xC3u8; 128];
    if let Some(last) = n.last_mut() {
        *last = 0xC5;
    }
    URL_SAFE_NO_PAD.encode(n)
}

#[test]
fn usable_keys_of_every_type_are_kept() {
    let set = parse(json!([
        rsa().jwk(),
        TestKey::p256(Some("p256")).jwk(),
        TestKey::p384(Some("p384")).jwk(),
        TestKey::ed25519(Some("ed")).jwk(),
    ]));
    assert_eq!(set.len(), 4);
    assert!(set.skipped().is_empty(), "{:?}", set.skipped());
    let kids: Vec<_> = set.keys().iter().map(|k| k.kid()).collect();
    assert_eq!(
        kids,
        vec![Some("rsa-1"), Some("p256"), Some("p384"), Some("ed")]
    );
}

#[test]
fn unusable_keys_are_skipped_with_a_reason() {
    let good = rsa();
    let p256 = TestKey::p256(Some("ec"));
    let mut off_curve = p256.jwk();
    let mut y = URL_SAFE_NO_PAD
        .decode(off_curve["y"].as_str().unwrap_or_default())
        .unwrap_or_default();
    if let Some(b) = y.last_mut() {
        *b ^= 1;
    }
    off_curve["y"] = json!(URL_SAFE_NO_PAD.encode(&y));
    let mut short_x = p256.jwk();
    short_x["x"] = json!(URL_SAFE_NO_PAD.encode([1u8; 31]));
    let mut with_d = p256.jwk();
    with_d["d"] = json!("AAAA");
    let mut enc = good.jwk();
    enc["use"] = json!("enc");
    let mut ops = good.jwk();
    ops["key_ops"] = json!(["encrypt", "wrapKey"]);
    let mut es_on_rsa = good.jwk();
    es_on_rsa["alg"] = json!("ES256");
    let mut hs_alg = good.jwk();
    hs_alg["alg"] = json!("HS256");
    let mut even_e = good.jwk();
    even_e["e"] = json!("AQAA"); // 65536
    let mut e_one = good.jwk();
    e_one["e"] = json!("AQ");
    let mut bad_b64 = good.jwk();
    bad_b64["n"] = json!("not*base64");
    let set = parse(json!([
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        {"kty": "RSA", "n": small_modulus(), "e": "AQAB", "kid": "rsa-1024"},
        {"kty": "EC", "crv": "P-521", "x": "AHKZ", "y": "AdymlH", "kid": "p521"},
        bad_b64,
        enc,
        ops,
        with_d,
        off_curve,
        short_x,
        es_on_rsa,
        hs_alg,
        even_e,
        e_one,
        {"kty": "OKP", "crv": "X25519", "x": URL_SAFE_NO_PAD.encode([9u8; 32])},
        {"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode([9u8; 31])},
        {"n": "AQAB", "e": "AQAB"},
        "not an object",
        {"kty": "RSA", "kid": 5, "n": "AQAB", "e": "AQAB"},
        good.jwk(),
    ]));
    assert_eq!(
        skip_reasons(&set),
        vec![
            SkipReason::UnsupportedKeyType,
            SkipReason::WeakOrBadRsaKey,
            SkipReason::UnsupportedCurve,
            SkipReason::BadEncoding,
            SkipReason::NotForSignatures,
            SkipReason::NotForSignatures,
            SkipReason::PrivateKeyMaterial,
            SkipReason::InvalidPoint,
            SkipReason::BadEncoding,
            SkipReason::AlgorithmMismatch,
            SkipReason::AlgorithmMismatch,
            SkipReason::WeakOrBadRsaKey,
            SkipReason::WeakOrBadRsaKey,
            SkipReason::UnsupportedCurve,
            SkipReason::BadEncoding,
            SkipReason::UnsupportedKeyType,
            SkipReason::NotAnObject,
            SkipReason::NotAnObject,
        ]
    );
    // The one good key survives and is the only one.
    assert_eq!(set.len(), 1);
    assert_eq!(set.keys().first().and_then(|k| k.kid()), Some("rsa-1"));
    let first = set.skipped().first().cloned();
    assert_eq!(first.as_ref().map(|s| s.index), Some(0));
    assert_eq!(first.and_then(|s| s.kid).as_deref(), Some("hmac"));
    assert_eq!(
        set.skipped().get(1).and_then(|s| s.kid.clone()).as_deref(),
        Some("rsa-1024")
    );
}

#[test]
fn all_unusable_set_is_empty_and_refused_by_provider() {
    let json = json!({"keys": [
        {"kty": "oct", "k": "c2VjcmV0"},
        {"kty": "RSA", "n": small_modulus(), "e": "AQAB"},
        {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"},
    ]})
    .to_string();
    let set = KeySet::parse(&json).unwrap_or_else(|e| panic!("{e}"));
    assert!(set.is_empty());
    assert_eq!(set.skipped().len(), 3);
    let err = Provider::new(settings(), Some(&json), vec![], &[]).unwrap_err();
    assert!(err.0.contains("no usable signing key"), "{err}");
    // An empty key list likewise.
    let err = Provider::new(settings(), Some(r#"{"keys":[]}"#), vec![], &[]).unwrap_err();
    assert!(err.0.contains("no usable signing key"), "{err}");
}

#[test]
fn documents_that_are_not_a_jwks_are_config_errors() {
    for (doc, word) in [
        ("not json", "not valid JSON"),
        ("", "not valid JSON"),
        ("[]", "\"keys\" array"),
        ("{}", "\"keys\" array"),
        (r#"{"keys": {}}"#, "\"keys\" array"),
        (r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#, "\"keys\" array"),
    ] {
        let e: ConfigError = KeySet::parse(doc).unwrap_err();
        assert!(e.0.contains(word), "{doc}: {e}");
        let e = Provider::new(settings(), Some(doc), vec![], &[]).unwrap_err();
        assert!(e.0.contains(word), "{doc}: {e}");
    }
    let e = Provider::new(settings(), None, vec![], &[]).unwrap_err();
    assert!(e.0.contains("needs jwks"), "{e}");
}

#[test]
fn candidates_follow_kid_and_algorithm() {
    let mut restricted = rsa().jwk();
    restricted["kid"] = json!("rsa-ps");
    restricted["alg"] = json!("PS256");
    let mut anonymous = rsa().jwk();
    anonymous.as_object_mut().map(|o| o.remove("kid"));
    let set = parse(json!([
        rsa().jwk(),
        restricted,
        anonymous,
        TestKey::p256(Some("ec")).jwk()
    ]));
    let kids = |kid: Option<&str>, alg| -> Vec<Option<String>> {
        set.candidates(kid, alg)
            .map(|k| k.kid().map(String::from))
            .collect()
    };
    assert_eq!(
        kids(Some("rsa-1"), Algorithm::RS256),
        vec![Some("rsa-1".into())]
    );
    assert_eq!(
        kids(Some("rsa-ps"), Algorithm::RS256),
        Vec::<Option<String>>::new()
    );
    assert_eq!(
        kids(Some("rsa-ps"), Algorithm::PS256),
        vec![Some("rsa-ps".into())]
    );
    assert_eq!(
        kids(Some("ec"), Algorithm::RS256),
        Vec::<Option<String>>::new()
    );
    assert_eq!(
        kids(Some("nope"), Algorithm::RS256),
        Vec::<Option<String>>::new()
    );
    assert_eq!(
        kids(None, Algorithm::RS256),
        vec![Some("rsa-1".into()), None],
        "kid-less tokens try every key that fits, in document order"
    );
    assert_eq!(
        kids(None, Algorithm::PS256),
        vec![Some("rsa-1".into()), Some("rsa-ps".into()), None]
    );
    assert_eq!(kids(None, Algorithm::ES256), vec![Some("ec".into())]);
    assert_eq!(kids(None, Algorithm::ES384), Vec::<Option<String>>::new());
    assert_eq!(kids(None, Algorithm::EdDSA), Vec::<Option<String>>::new());
}

#[test]
fn tolerated_encodings_still_verify() {
    // A leading zero octet on n (some libraries emit one) and base64 padding
    // on key members are normalised; the key still verifies real tokens.
    let key = rsa();
    let n = URL_SAFE_NO_PAD
        .decode(key.public["n"].as_str().unwrap_or_default())
        .unwrap_or_default();
    let mut padded = vec![0u8];
    padded.extend_from_slice(&n);
    let mut jwk = key.jwk();
    jwk["n"] = json!(base64::engine::general_purpose::URL_SAFE.encode(&padded));
    let set = parse(json!([jwk]));
    assert_eq!(set.len(), 1, "{:?}", set.skipped());
    let token = key.token(&claims());
    let jws = parse_jws(&token).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(verify_signature(&jws, &set, &|_| true), Ok(()));
}

#[test]
fn verify_signature_honours_the_allow_list_callback() {
    let key = rsa();
    let set = parse(json!([key.jwk()]));
    let jws = parse_jws(&key.token(&claims())).unwrap_or_else(|e| panic!("{e}"));
    let r = verify_signature(&jws, &set, &|alg| alg == "PS256").unwrap_err();
    assert_eq!(r.reason, Reason::UnsupportedAlgorithm);
    assert_eq!(verify_signature(&jws, &set, &|alg| alg == "RS256"), Ok(()));
    assert_eq!(
        verify_signature(&jws, &KeySet::default(), &|_| true)
            .unwrap_err()
            .reason,
        Reason::BadSignature
    );
}

#[test]
fn algorithm_names_are_exact() {
    for a in Algorithm::ALL {
        assert_eq!(Algorithm::from_name(a.name()), Some(a));
        assert!(jit_provision_core::provider::JWS_ALGORITHMS.contains(&a.name()));
    }
    assert_eq!(
        jit_provision_core::provider::JWS_ALGORITHMS.len(),
        Algorithm::ALL.len()
    );
    for bad in ["none", "HS256", "rs256", "ES512", "EDDSA", ""] {
        assert_eq!(Algorithm::from_name(bad), None, "{bad}");
    }
}
