//! OIDC ID tokens that must be accepted: every algorithm, key selection and
//! rotation, claim mapping, token ids and the exact clock-skew boundaries.
//! Rejections per reason code live in oidc_reject.rs.

mod oidc_support;

use jit_provision_core::{Context, Reason};
use oidc_support::*;
use serde_json::json;

fn all_keys_provider() -> jit_provision_core::Provider {
    let k = &*KEYS;
    provider(&[&k.rsa, &k.rsa2, &k.p256, &k.p384, &k.ed])
}

fn sha256_hex(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn accepts_rs256_and_maps_standard_claims() {
    let id = accept(&KEYS.rsa.token(&claims()), &all_keys_provider());
    assert_eq!(id.provider, "test-idp");
    assert_eq!(id.subject, "user-1");
    assert_eq!(id.email.as_deref(), Some("alice@example.com"));
    assert_eq!(id.name.as_deref(), Some("Alice Example"));
    assert_eq!(id.given_name.as_deref(), Some("Alice"));
    assert_eq!(id.family_name.as_deref(), Some("Example"));
    assert_eq!(id.idp_groups, vec!["staff", "admins"]);
    assert!(id.groups_complete);
    assert!(id.attributes.is_empty());
    assert_eq!(id.token_id, "jti-1");
    assert_eq!(id.expires_at, NOW + 600);
    assert_eq!(id.issued_at, Some(NOW - 10));
}

#[test]
fn accepts_every_rsa_algorithm() {
    let p = all_keys_provider();
    for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
        let id = accept(&KEYS.rsa.token_alg(alg, &claims()), &p);
        assert_eq!(id.subject, "user-1", "{alg}");
    }
}

#[test]
fn accepts_es256_es384_eddsa() {
    let p = all_keys_provider();
    for key in [&KEYS.p256, &KEYS.p384, &KEYS.ed] {
        let t = key.token(&claims());
        assert_eq!(accept(&t, &p).subject, "user-1", "{}", key.default_alg());
    }
}

#[test]
fn accepts_missing_or_lowercase_typ() {
    let p = all_keys_provider();
    for header in [
        json!({"alg": "RS256", "kid": "rsa-1"}),
        json!({"alg": "RS256", "kid": "rsa-1", "typ": "jwt"}),
        json!({"alg": "RS256", "kid": "rsa-1", "typ": "application/JWT"}),
        // Entra ID adds x5t: a thumbprint hint, not a key.
        json!({"alg": "RS256", "kid": "rsa-1", "typ": "JWT", "x5t": "abc"}),
    ] {
        accept(&KEYS.rsa.mint(&header, &claims()), &p);
    }
}

#[test]
fn token_without_kid_tries_every_fitting_key() {
    let k = &*KEYS;
    let p = all_keys_provider();
    for (key, alg) in [
        (&k.rsa2, "RS256"),
        (&k.rsa, "PS384"),
        (&k.p384, "ES384"),
        (&k.ed, "EdDSA"),
    ] {
        let header = json!({"alg": alg, "typ": "JWT"});
        accept(&key.mint(&header, &claims()), &p);
    }
    // Keys published without a kid serve kid-less tokens too.
    let anonymous = TestKey::p256(None);
    let p = provider(&[&k.rsa, &anonymous]);
    accept(&anonymous.token(&claims()), &p);
    // But no fitting key still fails.
    let stranger = TestKey::p256(None);
    let r = rejection(&stranger.token(&claims()), &p);
    assert_eq!(r.reason, Reason::BadSignature, "{}", r.detail);
    assert!(
        r.detail.contains("does not verify with any of 1"),
        "{}",
        r.detail
    );
}

#[test]
fn key_rotation_two_keys_in_the_set() {
    let k = &*KEYS;
    let p = provider(&[&k.rsa, &k.rsa2]);
    assert_eq!(accept(&k.rsa.token(&claims()), &p).subject, "user-1");
    assert_eq!(accept(&k.rsa2.token(&claims()), &p).subject, "user-1");
    // After rotation the old key is gone: its tokens stop verifying.
    let p = provider(&[&k.rsa2]);
    assert_eq!(
        rejection(&k.rsa.token(&claims()), &p).reason,
        Reason::BadSignature
    );
    accept(&k.rsa2.token(&claims()), &p);
}

#[test]
fn dotted_claim_path_for_groups_and_mapped_fields() {
    let k = &*KEYS;
    let p = provider_with(
        &[&k.rsa],
        |_| {},
        &[
            ("groups", "realm_access.roles"),
            ("subject", "preferred_username"),
            ("email", "mail"),
            ("name", "display.full"),
        ],
    );
    let c = claims_with(json!({
        "realm_access": {"roles": ["offline_access", "app-admin"]},
        "preferred_username": "alice",
        "mail": "alice@corp.example",
        "display": {"full": "Alice E."},
    }));
    let id = accept(&k.rsa.token(&c), &p);
    assert_eq!(id.idp_groups, vec!["offline_access", "app-admin"]);
    assert_eq!(id.subject, "alice");
    assert_eq!(id.email.as_deref(), Some("alice@corp.example"));
    assert_eq!(id.name.as_deref(), Some("Alice E."));
    // Unmapped fields keep their standard claims.
    assert_eq!(id.given_name.as_deref(), Some("Alice"));
    // A single string is one group, never split on spaces or commas.
    let mut c2 = c.clone();
    c2["realm_access"] = json!({"roles": "a b,c"});
    assert_eq!(accept(&k.rsa.token(&c2), &p).idp_groups, vec!["a b,c"]);
    // No such claim: no groups (the top-level `groups` is not consulted).
    let mut c3 = c.clone();
    c3.as_object_mut().map(|o| o.remove("realm_access"));
    assert!(accept(&k.rsa.token(&c3), &p).idp_groups.is_empty());
}

#[test]
fn numeric_subject_from_mapped_claim_is_text() {
    let k = &*KEYS;
    let p = provider_with(&[&k.rsa], |_| {}, &[("subject", "employee_id")]);
    let id = accept(&k.rsa.token(&claims_with(json!({"employee_id": 4711}))), &p);
    assert_eq!(id.subject, "4711");
}

#[test]
fn attributes_mapping_copies_json_values() {
    let k = &*KEYS;
    let p = provider_with(
        &[&k.rsa],
        |_| {},
        &[
            ("attributes.department", "department"),
            ("attributes.tenant", "org.tenant"),
            ("attributes.roles", "roles"),
            ("attributes.absent", "not_in_token"),
        ],
    );
    let c = claims_with(json!({
        "department": "R&D",
        "org": {"tenant": {"id": 7, "name": "acme"}},
        "roles": ["a", 1, true],
    }));
    let id = accept(&k.rsa.token(&c), &p);
    assert_eq!(id.attributes.get("department"), Some(&json!("R&D")));
    assert_eq!(
        id.attributes.get("tenant"),
        Some(&json!({"id": 7, "name": "acme"}))
    );
    assert_eq!(id.attributes.get("roles"), Some(&json!(["a", 1, true])));
    assert!(!id.attributes.contains_key("absent"));
    assert_eq!(id.attributes.len(), 3);
}

#[test]
fn entra_overage_marks_groups_incomplete() {
    let p = all_keys_provider();
    let k = &KEYS.rsa;
    let c = claims_with(json!({
        "groups": null,
        "_claim_names": {"groups": "src1"},
        "_claim_sources": {"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}},
    }));
    let id = accept(&k.token(&c), &p);
    assert!(!id.groups_complete);
    assert!(id.idp_groups.is_empty());
    let id = accept(&k.token(&claims_with(json!({"hasgroups": true}))), &p);
    assert!(!id.groups_complete);
    assert_eq!(id.idp_groups, vec!["staff", "admins"]);
    let id = accept(&k.token(&claims_with(json!({"hasgroups": false}))), &p);
    assert!(id.groups_complete);
    let c = claims_with(json!({"_claim_names": {"other": "src1"}}));
    assert!(accept(&k.token(&c), &p).groups_complete);
}

#[test]
fn token_id_is_jti_else_sha256_of_the_signing_input() {
    let p = all_keys_provider();
    let t = KEYS.rsa.token(&claims_with(json!({"jti": "abc-123"})));
    assert_eq!(accept(&t, &p).token_id, "abc-123");
    let t = KEYS.rsa.token(&claims_with(json!({"jti": null})));
    let id = accept(&t, &p);
    // header.payload: the signature is not part of the key.
    let signing_input = t.rsplit_once('.').map(|(a, _)| a).unwrap_or_default();
    assert_eq!(signing_input.matches('.').count(), 1);
    assert_eq!(id.token_id, sha256_hex(signing_input));
    assert_eq!(id.token_id.len(), 64);
    // Surrounding whitespace is not part of the token.
    let id2 = accept(&format!("  {t}\n"), &p);
    assert_eq!(id2.token_id, id.token_id);
}

/// n of P-256, big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// ECDSA malleability: (r, n - s) verifies wherever (r, s) does. Without a
/// jti the replay key must therefore not depend on the signature bytes, or
/// one ID token would log in twice.
#[test]
fn token_id_without_jti_ignores_ecdsa_signature_malleability() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let p = all_keys_provider();
    let t = KEYS.p256.token(&claims_with(json!({"jti": null})));
    let (input, sig_b64) = t.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig_b64).unwrap();
    assert_eq!(sig.len(), 64);
    // n - s, 32-byte big-endian subtraction with borrow.
    let s = &sig[32..];
    let mut neg = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = P256_N[i] as i16 - s[i] as i16 - borrow;
        borrow = if d < 0 { 1 } else { 0 };
        if d < 0 {
            d += 256;
        }
        neg[i] = d as u8;
    }
    assert_eq!(borrow, 0);
    let mut malleated = sig[..32].to_vec();
    malleated.extend_from_slice(&neg);
    assert_ne!(malleated, sig);
    let twin = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&malleated));
    assert_ne!(twin, t);
    let a = accept(&t, &p);
    let b = accept(&twin, &p); // the twin signature verifies too
    assert_eq!(a.token_id, b.token_id);
    assert_eq!(a.token_id, sha256_hex(input));
}

#[test]
fn audience_forms_that_are_accepted() {
    let p = all_keys_provider();
    let k = &KEYS.rsa;
    for c in [
        claims_with(json!({"aud": [AUD]})),
        claims_with(json!({"aud": [AUD, OTHER_AUD], "azp": AUD})),
        claims_with(json!({"aud": OTHER_AUD, "azp": AUD})),
    ] {
        accept(&k.token(&c), &p);
    }
}

#[test]
fn nonce_matches_request_id() {
    let ctx = Context {
        now: NOW,
        request_id: Some("n-123".into()),
        ..Default::default()
    };
    let t = KEYS.ed.token(&claims_with(json!({"nonce": "n-123"})));
    accept_at(&t, &all_keys_provider(), &ctx);
    // Without a request_id a nonce is not checked.
    accept(&t, &all_keys_provider());
}

#[test]
fn fractional_dates_are_floored() {
    let p = all_keys_provider();
    let c = claims_with(json!({"exp": (NOW + 600) as f64 + 0.75, "iat": (NOW - 10) as f64 + 0.5}));
    let id = accept(&KEYS.rsa.token(&c), &p);
    assert_eq!(id.expires_at, NOW + 600);
    assert_eq!(id.issued_at, Some(NOW - 10));
}

#[test]
fn clock_skew_boundaries() {
    let k = &*KEYS;
    let p = all_keys_provider();
    let at = |c: serde_json::Value| verify(&k.rsa.token(&c), &p).map_err(|r| r.reason);
    // exp: valid while now < exp + skew.
    assert!(at(claims_with(json!({"exp": NOW - SKEW + 1}))).is_ok());
    assert_eq!(
        at(claims_with(json!({"exp": NOW - SKEW}))).err(),
        Some(Reason::Expired)
    );
    // iat: up to skew in the future.
    assert!(at(claims_with(json!({"iat": NOW + SKEW}))).is_ok());
    assert_eq!(
        at(claims_with(json!({"iat": NOW + SKEW + 1}))).err(),
        Some(Reason::NotYetValid)
    );
    // nbf: usable from nbf - skew on.
    assert!(at(claims_with(json!({"nbf": NOW + SKEW}))).is_ok());
    assert_eq!(
        at(claims_with(json!({"nbf": NOW + SKEW + 1}))).err(),
        Some(Reason::NotYetValid)
    );
    // max_age: now - iat may reach max_age + skew, not exceed it.
    let p = provider_with(&[&k.rsa], |s| s.max_age = Some(3600), &[]);
    let at = |c: serde_json::Value| verify(&k.rsa.token(&c), &p).map_err(|r| r.reason);
    assert!(at(claims_with(json!({"iat": NOW - 3600 - SKEW}))).is_ok());
    assert_eq!(
        at(claims_with(json!({"iat": NOW - 3600 - SKEW - 1}))).err(),
        Some(Reason::TooOld)
    );
}

#[test]
fn zero_clock_skew() {
    let k = &*KEYS;
    let p = provider_with(&[&k.rsa], |s| s.clock_skew = 0, &[]);
    let at = |c: serde_json::Value| verify(&k.rsa.token(&c), &p).map_err(|r| r.reason);
    assert!(at(claims_with(json!({"exp": NOW + 1}))).is_ok());
    assert_eq!(
        at(claims_with(json!({"exp": NOW}))).err(),
        Some(Reason::Expired)
    );
    assert!(at(claims_with(json!({"iat": NOW, "nbf": NOW}))).is_ok());
    assert_eq!(
        at(claims_with(json!({"iat": NOW + 1}))).err(),
        Some(Reason::NotYetValid)
    );
    assert_eq!(
        at(claims_with(json!({"nbf": NOW + 1}))).err(),
        Some(Reason::NotYetValid)
    );
}

#[test]
fn issuer_is_exposed_before_verification() {
    let t = KEYS.rsa.token(&claims());
    let parsed = jit_provision_core::parse(&t).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.issuer(), Some(ISS));
    let parsed = jit_provision_core::jwt::parse(&KEYS.rsa.token(&claims_with(json!({"iss": 5}))))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.issuer(), None);
}

#[test]
fn identity_json_round_trip() {
    let id = accept(&KEYS.rsa.token(&claims()), &all_keys_provider());
    let j = id.to_json();
    assert_eq!(j["subject"], "user-1");
    assert_eq!(j["token_id"], "jti-1");
    assert_eq!(j["idp_groups"], json!(["staff", "admins"]));
}
