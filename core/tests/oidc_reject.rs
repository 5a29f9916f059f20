//! Every OIDC rejection, one or more cases per reason code, each asserting
//! the reason (and, where several paths share a reason, a word of the detail).

mod oidc_support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jit_provision_core::{Context, Reason, MAX_TOKEN_BYTES};
use oidc_support::*;
use ring::hmac;
use serde_json::{json, Value};

fn all_keys_provider() -> jit_provision_core::Provider {
    let k = &*KEYS;
    provider(&[&k.rsa, &k.p256, &k.p384, &k.ed])
}

fn assert_reason(token: &str, provider: &jit_provision_core::Provider, want: Reason, word: &str) {
    let r = rejection(token, provider);
    assert_eq!(r.reason, want, "detail: {}", r.detail);
    assert!(
        r.detail.contains(word),
        "detail '{}' should mention '{word}'",
        r.detail
    );
    assert!(r.to_string().starts_with(want.code()), "{r}");
}

/// A token whose header is replaced; signed properly over the new header.
fn with_header(header: Value) -> String {
    KEYS.rsa.mint(&header, &claims())
}

// ---------------------------------------------------------------- malformed

#[test]
fn malformed_two_segments() {
    let t = KEYS.rsa.token(&claims());
    let two = t.rsplit_once('.').map(|(a, _)| a).unwrap_or_default();
    assert_reason(
        two,
        &all_keys_provider(),
        Reason::Malformed,
        "not a compact JWS",
    );
    let r = jit_provision_core::jwt::parse(two).unwrap_err();
    assert_eq!(r.reason, Reason::Malformed);
    assert!(
        r.detail.contains("3 dot-separated segments"),
        "{}",
        r.detail
    );
}

#[test]
fn malformed_four_segments_through_jwt_parse() {
    let t = format!("{}.x", KEYS.rsa.token(&claims()));
    let r = jit_provision_core::jwt::parse(&t).unwrap_err();
    assert_eq!(r.reason, Reason::Malformed);
    assert!(r.detail.contains("this has 4"), "{}", r.detail);
}

#[test]
fn malformed_bad_base64() {
    let t = KEYS.rsa.token(&claims());
    let (head, rest) = t.split_once('.').unwrap_or_default();
    // A length no base64 text can have (4k+1 characters).
    let mut bad_head = head.to_string();
    while bad_head.len() % 4 != 1 {
        bad_head.push('A');
    }
    assert_reason(
        &format!("{bad_head}.{rest}"),
        &all_keys_provider(),
        Reason::Malformed,
        "base64url",
    );
    // Padding is not part of JWS base64url.
    let r = jit_provision_core::jwt::parse(&format!("{head}==.{rest}")).unwrap_err();
    assert_eq!(r.reason, Reason::Malformed);
    assert!(r.detail.contains("base64url"), "{}", r.detail);
    // Non-zero unused trailing bits: a second encoding of the same bytes.
    let sig_start = t.rfind('.').unwrap_or_default() + 1;
    let mut bytes = t.clone().into_bytes();
    let last = bytes.len() - 1;
    assert!(sig_start < last);
    // RS256 signatures are 256 bytes: 342 chars with 4 unused bits in the last.
    bytes[last] = match bytes[last] {
        b'A' => b'B',
        b'Q' => b'R',
        b'g' => b'h',
        b'w' => b'x',
        other => panic!("unexpected last char {}", other as char),
    };
    let t2 = String::from_utf8(bytes).unwrap_or_default();
    assert_reason(&t2, &all_keys_provider(), Reason::Malformed, "base64url");
}

#[test]
fn malformed_non_object_json() {
    let k = &KEYS.rsa;
    let p = all_keys_provider();
    let header = k.header("RS256").to_string();
    assert_reason(
        &mint_raw(k, &header, "[1,2]"),
        &p,
        Reason::Malformed,
        "not a JSON object",
    );
    assert_reason(
        &mint_raw(k, &header, "\"sub\""),
        &p,
        Reason::Malformed,
        "not a JSON object",
    );
    // Header that is JSON but not an object; signed with RS256 regardless.
    let input = format!(
        "{}.{}",
        b64(b"[\"RS256\"]"),
        b64(claims().to_string().as_bytes())
    );
    let sig = k.sign("RS256", input.as_bytes());
    assert_reason(
        &format!("{input}.{}", b64(&sig)),
        &p,
        Reason::Malformed,
        "JWS header is not a JSON object",
    );
    // Payload that is not JSON at all.
    assert_reason(
        &mint_raw(k, &header, "foo"),
        &p,
        Reason::Malformed,
        "not JSON",
    );
}

#[test]
fn malformed_over_one_mib() {
    let p = all_keys_provider();
    let big = claims_with(json!({"pad": "x".repeat(MAX_TOKEN_BYTES)}));
    let t = KEYS.ed.token(&big);
    assert!(t.len() > MAX_TOKEN_BYTES);
    let r = jit_provision_core::parse(&t).unwrap_err();
    assert_eq!(r.reason, Reason::Malformed);
    assert!(r.detail.contains("1 MiB"), "{}", r.detail);
    assert_reason(&t, &p, Reason::Malformed, "1 MiB");
}

#[test]
fn malformed_duplicate_member_names() {
    let k = &KEYS.rsa;
    let p = all_keys_provider();
    let header = k.header("RS256").to_string();
    let dup_sub = claims().to_string().replacen('{', "{\"sub\":\"admin\",", 1);
    assert_reason(
        &mint_raw(k, &header, &dup_sub),
        &p,
        Reason::Malformed,
        "repeats the member 'sub'",
    );
    let dup_alg = header.replacen('{', "{\"alg\":\"none\",", 1);
    assert_reason(
        &mint_raw(k, &dup_alg, &claims().to_string()),
        &p,
        Reason::Malformed,
        "repeats the member 'alg'",
    );
}

#[test]
fn malformed_header_and_claim_types() {
    let p = all_keys_provider();
    let k = &KEYS.rsa;
    assert_reason(
        &with_header(json!({"alg": "RS256", "kid": 7})),
        &p,
        Reason::Malformed,
        "kid",
    );
    assert_reason(
        &with_header(json!({"kid": "rsa-1"})),
        &p,
        Reason::Malformed,
        "no alg",
    );
    assert_reason(
        &with_header(json!({"alg": ["RS256"], "kid": "rsa-1"})),
        &p,
        Reason::Malformed,
        "alg",
    );
    for (claims, word) in [
        (claims_with(json!({"exp": "soon"})), "exp is not a number"),
        (claims_with(json!({"iat": true})), "iat is not a number"),
        (claims_with(json!({"exp": 1e300})), "exp is not a date"),
        (claims_with(json!({"exp": -5})), "exp is not a date"),
        (
            claims_with(json!({"nbf": 99999999999999u64})),
            "nbf is not a date",
        ),
        (claims_with(json!({"aud": [AUD, 5]})), "aud holds a value"),
        (claims_with(json!({"aud": {"x": 1}})), "aud is neither"),
        (claims_with(json!({"iss": 1})), "iss is not a string"),
        (claims_with(json!({"jti": 12})), "jti is not a string"),
        (claims_with(json!({"jti": ""})), "jti is empty"),
        (claims_with(json!({"azp": ["x"]})), "azp is not a string"),
    ] {
        assert_reason(&k.token(&claims), &p, Reason::Malformed, word);
    }
}

#[test]
fn malformed_typ_other_than_jwt() {
    let p = all_keys_provider();
    for typ in ["at+jwt", "logout+jwt", "JOSE", "application/at+jwt"] {
        let t = with_header(json!({"alg": "RS256", "kid": "rsa-1", "typ": typ}));
        assert_reason(&t, &p, Reason::Malformed, "not an ID token");
    }
    let t = with_header(json!({"alg": "RS256", "kid": "rsa-1", "typ": 1}));
    assert_reason(&t, &p, Reason::Malformed, "typ");
}

// ----------------------------------------------------------- unknown_issuer

#[test]
fn unknown_issuer_iss_mismatch() {
    let p = all_keys_provider();
    let t = KEYS
        .rsa
        .token(&claims_with(json!({"iss": "https://evil.example.com"})));
    assert_reason(&t, &p, Reason::UnknownIssuer, "not the provider's issuer");
    // A near miss (trailing slash) is a different issuer: exact comparison.
    let t = KEYS
        .rsa
        .token(&claims_with(json!({"iss": format!("{ISS}/")})));
    assert_reason(&t, &p, Reason::UnknownIssuer, "not the provider's issuer");
}

// -------------------------------------------------------- provider_disabled

#[test]
fn provider_disabled() {
    let k = &*KEYS;
    let p = provider_with(&[&k.rsa], |s| s.enabled = false, &[]);
    assert_reason(
        &k.rsa.token(&claims()),
        &p,
        Reason::ProviderDisabled,
        "disabled",
    );
}

// ---------------------------------------------------- unsupported_algorithm

#[test]
fn unsupported_algorithm_none() {
    let p = all_keys_provider();
    for alg in ["none", "None", "NONE"] {
        let header = json!({"alg": alg, "kid": "rsa-1"}).to_string();
        let t = format!(
            "{}.{}.",
            b64(header.as_bytes()),
            b64(claims().to_string().as_bytes())
        );
        assert_reason(&t, &p, Reason::UnsupportedAlgorithm, "not implemented");
    }
    // Even when a DBA lists it explicitly.
    let k = &*KEYS;
    let p = provider_with(
        &[&k.rsa],
        |s| s.algorithms = Some(vec!["none".into(), "RS256".into()]),
        &[],
    );
    let header = json!({"alg": "none"}).to_string();
    let t = format!(
        "{}.{}.",
        b64(header.as_bytes()),
        b64(claims().to_string().as_bytes())
    );
    assert_reason(&t, &p, Reason::UnsupportedAlgorithm, "not implemented");
}

#[test]
fn unsupported_algorithm_hs256_keyed_with_the_rsa_public_key() {
    let k = &*KEYS;
    let p = provider_with(
        &[&k.rsa],
        |s| s.algorithms = Some(vec!["HS256".into(), "RS256".into()]),
        &[],
    );
    let n = URL_SAFE_NO_PAD
        .decode(k.rsa.public["n"].as_str().unwrap_or_default())
        .unwrap_or_default();
    let jwks_text = jwks(&[&k.rsa]);
    // The classic confusion: the verifier's RSA public key used as HMAC secret.
    for secret in [
        n.as_slice(),
        jwks_text.as_bytes(),
        k.rsa.jwk().to_string().as_bytes(),
    ] {
        let header = json!({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}).to_string();
        let input = format!(
            "{}.{}",
            b64(header.as_bytes()),
            b64(claims().to_string().as_bytes())
        );
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
        let t = format!("{input}.{}", b64(tag.as_ref()));
        assert_reason(&t, &p, Reason::UnsupportedAlgorithm, "HMAC are refused");
    }
}

#[test]
fn unsupported_algorithm_not_in_allow_list() {
    let k = &*KEYS;
    let p = provider_with(
        &[&k.rsa, &k.p256],
        |s| s.algorithms = Some(vec!["RS256".into()]),
        &[],
    );
    assert_reason(
        &k.p256.token(&claims()),
        &p,
        Reason::UnsupportedAlgorithm,
        "not in the provider's algorithms",
    );
    assert_reason(
        &k.rsa.token_alg("PS256", &claims()),
        &p,
        Reason::UnsupportedAlgorithm,
        "not in the provider's algorithms",
    );
    // The same tokens pass with the default allow-list.
    let p = provider(&[&k.rsa, &k.p256]);
    accept(&k.p256.token(&claims()), &p);
    accept(&k.rsa.token_alg("PS256", &claims()), &p);
}

#[test]
fn unsupported_algorithm_embedded_key_headers() {
    let p = all_keys_provider();
    let attacker = TestKey::p256(Some("rsa-1"));
    for member in ["jwk", "jku", "x5u", "x5c"] {
        let value = match member {
            "jwk" => attacker.jwk(),
            "x5c" => json!(["MIIBszCCAVmgAwIBAgIU"]),
            _ => json!("https://attacker.example/keys"),
        };
        let mut header = KEYS.rsa.header("RS256");
        header[member] = value;
        // Validly signed by the trusted key: the header alone refuses it.
        let t = KEYS.rsa.mint(&header, &claims());
        assert_reason(
            &t,
            &p,
            Reason::UnsupportedAlgorithm,
            &format!("'{member}' supplies a key"),
        );
    }
    // And an attacker-signed token carrying its own key.
    let mut header = attacker.header("ES256");
    header["jwk"] = attacker.jwk();
    assert_reason(
        &attacker.mint(&header, &claims()),
        &p,
        Reason::UnsupportedAlgorithm,
        "supplies a key",
    );
}

#[test]
fn unsupported_algorithm_crit_and_b64() {
    let p = all_keys_provider();
    for crit in [json!(["exp"]), json!(["b64"]), json!([]), json!("x")] {
        let mut header = KEYS.rsa.header("RS256");
        header["crit"] = crit;
        header["exp"] = json!(1);
        assert_reason(
            &KEYS.rsa.mint(&header, &claims()),
            &p,
            Reason::UnsupportedAlgorithm,
            "crit",
        );
    }
    let mut header = KEYS.rsa.header("RS256");
    header["b64"] = json!(false);
    assert_reason(
        &KEYS.rsa.mint(&header, &claims()),
        &p,
        Reason::UnsupportedAlgorithm,
        "b64",
    );
    header["b64"] = json!(true);
    accept(&KEYS.rsa.mint(&header, &claims()), &p);
}

#[test]
fn unsupported_algorithm_es512_and_other_names() {
    let p = all_keys_provider();
    for alg in ["ES512", "HS512", "RSA-OAEP", "ES256K", "Ed25519", "rs256"] {
        let t = with_header(json!({"alg": alg, "kid": "rsa-1"}));
        assert_reason(&t, &p, Reason::UnsupportedAlgorithm, "not implemented");
    }
}

// ------------------------------------------------------------ bad_signature

#[test]
fn bad_signature_tampered_payload() {
    let p = all_keys_provider();
    for key in [&KEYS.rsa, &KEYS.p256, &KEYS.p384, &KEYS.ed] {
        let t = key.token(&claims());
        let mut parts: Vec<String> = t.split('.').map(String::from).collect();
        parts[1] = b64(claims_with(json!({"sub": "admin"})).to_string().as_bytes());
        assert_reason(
            &parts.join("."),
            &p,
            Reason::BadSignature,
            "does not verify",
        );
    }
}

#[test]
fn bad_signature_wrong_key_same_kid() {
    let k = &*KEYS;
    let impostor = TestKey::rsa("rsa2048-second.pk8.der", Some("rsa-1"));
    let p = provider(&[&k.rsa]);
    assert_reason(
        &impostor.token(&claims()),
        &p,
        Reason::BadSignature,
        "does not verify with any of 1",
    );
    let impostor = TestKey::p256(Some("ec-256"));
    let p = provider(&[&k.p256]);
    assert_reason(
        &impostor.token(&claims()),
        &p,
        Reason::BadSignature,
        "does not verify",
    );
    let impostor = TestKey::ed25519(Some("ed-1"));
    let p = provider(&[&k.ed]);
    assert_reason(
        &impostor.token(&claims()),
        &p,
        Reason::BadSignature,
        "does not verify",
    );
}

#[test]
fn bad_signature_unknown_kid() {
    let k = &*KEYS;
    let p = provider(&[&k.rsa]);
    assert_reason(
        &k.rsa2.token(&claims()),
        &p,
        Reason::BadSignature,
        "no key with kid 'rsa-2'",
    );
    // A kid-bearing token never falls back to keys without a kid.
    let anonymous = TestKey::rsa("rsa2048.pk8.der", None);
    let p = provider(&[&anonymous]);
    assert_reason(
        &k.rsa.token(&claims()),
        &p,
        Reason::BadSignature,
        "no key with kid 'rsa-1'",
    );
}

#[test]
fn bad_signature_alg_does_not_fit_key() {
    let k = &*KEYS;
    let p = all_keys_provider();
    // ES256 header pointing at the RSA key, signed by the P-256 key.
    let mut header = k.p256.header("ES256");
    header["kid"] = json!("rsa-1");
    assert_reason(
        &k.p256.mint(&header, &claims()),
        &p,
        Reason::BadSignature,
        "no key with kid 'rsa-1' can verify ES256",
    );
    // ES384 claimed for a P-256 key.
    let mut header = k.p384.header("ES384");
    header["kid"] = json!("ec-256");
    assert_reason(
        &k.p384.mint(&header, &claims()),
        &p,
        Reason::BadSignature,
        "can verify ES384",
    );
    // RS256 token for a key whose JWK restricts it to PS256.
    let mut jwk = k.rsa.jwk();
    jwk["alg"] = json!("PS256");
    let p = jit_provision_core::Provider::new(
        settings(),
        Some(&json!({"keys": [jwk]}).to_string()),
        vec![],
        &[],
    )
    .expect("provider");
    assert_reason(
        &k.rsa.token_alg("RS256", &claims()),
        &p,
        Reason::BadSignature,
        "can verify RS256",
    );
    accept(&k.rsa.token_alg("PS256", &claims()), &p);
}

#[test]
fn bad_signature_truncated_or_empty_signature() {
    let p = all_keys_provider();
    let t = KEYS.p256.token(&claims());
    let (input, sig) = t.rsplit_once('.').unwrap_or_default();
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap_or_default();
    assert_eq!(sig.len(), 64, "ES256 signatures are r||s, 32 bytes each");
    for cut in [&sig[..63], &sig[..32], &[][..]] {
        let t = format!("{input}.{}", b64(cut));
        assert_reason(&t, &p, Reason::BadSignature, "does not verify");
    }
}

// ------------------------------------------------------------------ expired

#[test]
fn expired() {
    let p = all_keys_provider();
    let t = KEYS.rsa.token(&claims_with(json!({"exp": NOW - 3600})));
    assert_reason(&t, &p, Reason::Expired, "expired at");
    // Boundary: exactly exp + clock_skew is already too late.
    let t = KEYS.rsa.token(&claims_with(json!({"exp": NOW - SKEW})));
    assert_reason(&t, &p, Reason::Expired, "expired at");
}

// ------------------------------------------------------------ not_yet_valid

#[test]
fn not_yet_valid_iat_in_future() {
    let p = all_keys_provider();
    let t = KEYS.rsa.token(&claims_with(json!({"iat": NOW + SKEW + 1})));
    assert_reason(&t, &p, Reason::NotYetValid, "issued in the future");
}

#[test]
fn not_yet_valid_nbf() {
    let p = all_keys_provider();
    let t = KEYS.rsa.token(&claims_with(json!({"nbf": NOW + SKEW + 1})));
    assert_reason(&t, &p, Reason::NotYetValid, "not valid before");
}

// ------------------------------------------------------------------ too_old

#[test]
fn too_old() {
    let k = &*KEYS;
    let p = provider_with(&[&k.rsa], |s| s.max_age = Some(3600), &[]);
    let t = k
        .rsa
        .token(&claims_with(json!({"iat": NOW - 3600 - SKEW - 1})));
    assert_reason(&t, &p, Reason::TooOld, "max_age 3600");
}

// -------------------------------------------------------- audience_mismatch

#[test]
fn audience_mismatch() {
    let p = all_keys_provider();
    let k = &KEYS.rsa;
    for (c, word) in [
        (
            claims_with(json!({"aud": "someone-else"})),
            "aud 'someone-else'",
        ),
        (
            claims_with(json!({"aud": [AUD, "someone-else"], "azp": AUD})),
            "aud 'someone-else'",
        ),
        (claims_with(json!({"aud": [AUD, OTHER_AUD]})), "no azp"),
        (
            claims_with(json!({"azp": "someone-else"})),
            "azp 'someone-else'",
        ),
        (
            claims_with(json!({"aud": [AUD, OTHER_AUD], "azp": "someone-else"})),
            "azp",
        ),
        (claims_with(json!({"aud": []})), "empty"),
    ] {
        assert_reason(&k.token(&c), &p, Reason::AudienceMismatch, word);
    }
}

// --------------------------------------------------------- request_mismatch

#[test]
fn request_mismatch() {
    let p = all_keys_provider();
    let ctx = Context {
        now: NOW,
        request_id: Some("n-123".into()),
        ..Default::default()
    };
    let t = KEYS.rsa.token(&claims_with(json!({"nonce": "n-999"})));
    let r = rejection_at(&t, &p, &ctx);
    assert_eq!(r.reason, Reason::RequestMismatch, "{}", r.detail);
    assert!(r.detail.contains("not the request_id"), "{}", r.detail);
    let t = KEYS.rsa.token(&claims());
    let r = rejection_at(&t, &p, &ctx);
    assert_eq!(r.reason, Reason::RequestMismatch, "{}", r.detail);
    assert!(r.detail.contains("no nonce"), "{}", r.detail);
    let t = KEYS.rsa.token(&claims_with(json!({"nonce": 123})));
    assert_eq!(rejection_at(&t, &p, &ctx).reason, Reason::Malformed);
}

// ------------------------------------------------------------ missing_claim

#[test]
fn missing_claim() {
    let p = all_keys_provider();
    for (c, word) in [
        (claims_with(json!({"sub": null})), "sub"),
        (claims_with(json!({"sub": ""})), "sub"),
        (claims_with(json!({"sub": 42})), "sub"),
        (claims_with(json!({"exp": null})), "'exp'"),
        (claims_with(json!({"iat": null})), "'iat'"),
        (claims_with(json!({"aud": null})), "'aud'"),
        (claims_with(json!({"iss": null})), "'iss'"),
    ] {
        assert_reason(&KEYS.rsa.token(&c), &p, Reason::MissingClaim, word);
    }
}

#[test]
fn missing_claim_mapped_subject() {
    let k = &*KEYS;
    let p = provider_with(&[&k.rsa], |_| {}, &[("subject", "oid")]);
    assert_reason(
        &k.rsa.token(&claims()),
        &p,
        Reason::MissingClaim,
        "subject claim 'oid'",
    );
    let t = k.rsa.token(&claims_with(json!({"oid": {"nested": true}})));
    assert_reason(&t, &p, Reason::MissingClaim, "subject claim 'oid'");
}

// ------------------------------------------------------- domain_not_allowed

#[test]
fn domain_not_allowed() {
    let k = &*KEYS;
    let p = provider_with(
        &[&k.rsa],
        |s| s.email_domains = Some(vec!["corp.example".into()]),
        &[],
    );
    assert_reason(
        &k.rsa.token(&claims()),
        &p,
        Reason::DomainNotAllowed,
        "alice@example.com",
    );
    assert_reason(
        &k.rsa.token(&claims_with(json!({"email": null}))),
        &p,
        Reason::DomainNotAllowed,
        "email domain",
    );
    let t = k
        .rsa
        .token(&claims_with(json!({"email": "bob@CORP.example"})));
    assert_eq!(accept(&t, &p).email.as_deref(), Some("bob@CORP.example"));
}

#[test]
fn unverified_email_is_not_admitted_by_domain() {
    let k = &*KEYS;
    let p = provider_with(
        &[&k.rsa],
        |s| s.email_domains = Some(vec!["corp.example".into()]),
        &[],
    );
    let unverified = claims_with(json!({"email": "eve@corp.example", "email_verified": false}));
    assert_reason(
        &k.rsa.token(&unverified),
        &p,
        Reason::DomainNotAllowed,
        "email_verified is false",
    );
    let verified = claims_with(json!({"email": "eve@corp.example", "email_verified": "true"}));
    assert_eq!(
        accept(&k.rsa.token(&verified), &p).email_verified,
        Some(true)
    );
    // Without email_domains the flag does not matter.
    let open = provider_with(&[&k.rsa], |_| {}, &[]);
    assert_eq!(
        accept(&k.rsa.token(&unverified), &open).email_verified,
        Some(false)
    );
}

/// `email_verified` as a string: "true" / "false" in any case are the
/// booleans; any other present value that is not a boolean counts as
/// unverified; absent is unknown.
#[test]
fn email_verified_strings_and_other_values() {
    let k = &*KEYS;
    let open = provider_with(&[&k.rsa], |_| {}, &[]);
    let flag = |v: Value| {
        let c = claims_with(json!({"email": "eve@corp.example", "email_verified": v}));
        accept(&k.rsa.token(&c), &open).email_verified
    };
    for (v, want) in [
        (json!(true), Some(true)),
        (json!(false), Some(false)),
        (json!("true"), Some(true)),
        (json!("TRUE"), Some(true)),
        (json!("True"), Some(true)),
        (json!("false"), Some(false)),
        (json!("False"), Some(false)),
        (json!("FALSE"), Some(false)),
        (json!("yes"), Some(false)),
        (json!(" true"), Some(false)),
        (json!(""), Some(false)),
        (json!(1), Some(false)),
        (json!(0), Some(false)),
        (json!(["true"]), Some(false)),
        (json!({"v": true}), Some(false)),
    ] {
        assert_eq!(flag(v.clone()), want, "email_verified = {v}");
    }
    // `null` in claims_with removes the member: absent is unknown.
    assert_eq!(flag(Value::Null), None);
    // Present but JSON null: not a boolean, so unverified.
    let raw = format!(
        r#"{{"iss":"{ISS}","aud":"{AUD}","sub":"u","exp":{},"iat":{},"email":"eve@corp.example","email_verified":null}}"#,
        NOW + 600,
        NOW - 10
    );
    let t = mint_raw(&k.rsa, &k.rsa.header("RS256").to_string(), &raw);
    assert_eq!(accept(&t, &open).email_verified, Some(false));
    // "TRUE" passes email_domains; "yes" does not.
    let p = provider_with(
        &[&k.rsa],
        |s| s.email_domains = Some(vec!["corp.example".into()]),
        &[],
    );
    let c = claims_with(json!({"email": "eve@corp.example", "email_verified": "TRUE"}));
    assert_eq!(accept(&k.rsa.token(&c), &p).email_verified, Some(true));
    let c = claims_with(json!({"email": "eve@corp.example", "email_verified": "yes"}));
    assert_reason(
        &k.rsa.token(&c),
        &p,
        Reason::DomainNotAllowed,
        "email_verified is false",
    );
}

// -------------------------------------------------------------- unsupported

#[test]
fn unsupported_nested_content() {
    let p = all_keys_provider();
    let t = with_header(json!({"alg": "RS256", "kid": "rsa-1", "cty": "JWT"}));
    assert_reason(&t, &p, Reason::Unsupported, "cty");
}

/// Guards the list above: every OIDC-relevant reason code has a case here.
#[test]
fn every_oidc_reason_is_covered() {
    let source = include_str!("oidc_reject.rs");
    let oidc_reasons = Reason::ALL.iter().filter(|r| {
        !matches!(
            r,
            Reason::RecipientMismatch
                | Reason::StatusNotSuccess
                | Reason::Replayed
                | Reason::SeatLimitReached
                | Reason::UserBlocked
        )
    });
    for r in oidc_reasons {
        let needle = format!("Reason::{r:?},");
        assert!(source.contains(&needle), "no case asserts {r:?}");
    }
}

// ------------------------------------------------ what a rejection records

/// A refusal after the signature verified names the token by its replay key
/// (`jti`, else the SHA-256 of the signing input) and its subject; a refusal
/// at or before the signature check names nothing, so the trace falls back
/// to the hash of the token — never to the `jti` a forged token claims.
#[test]
fn rejection_carries_verified_token_id_only_after_the_signature() {
    use jit_provision_core::{fingerprint, Verified};
    let p = all_keys_provider();
    let verified = |token_id: &str, subject: Option<&str>| {
        Some(Verified {
            token_id: token_id.into(),
            subject: subject.map(str::to_string),
        })
    };
    // After the signature: audience, expiry, not yet valid, too old, request.
    let t = KEYS.rsa.token(&claims_with(json!({"aud": "someone-else"})));
    let r = rejection(&t, &p);
    assert_eq!(r.reason, Reason::AudienceMismatch);
    assert_eq!(r.verified, verified("jti-1", Some("user-1")));
    assert_eq!(r.token_id(&t), "jti-1");
    assert_eq!(r.subject(), Some("user-1"));
    let t = KEYS.rsa.token(&claims_with(json!({"exp": NOW - 3600})));
    let r = rejection(&t, &p);
    assert_eq!(r.reason, Reason::Expired);
    assert_eq!(r.verified, verified("jti-1", Some("user-1")));
    let t = KEYS.rsa.token(&claims_with(json!({"nbf": NOW + 3600})));
    assert_eq!(
        rejection(&t, &p).verified,
        verified("jti-1", Some("user-1"))
    );
    let old = provider_with(&[&KEYS.rsa], |s| s.max_age = Some(1), &[]);
    let t = KEYS.rsa.token(&claims_with(json!({"iat": NOW - 600})));
    let r = rejection(&t, &old);
    assert_eq!(r.reason, Reason::TooOld);
    assert_eq!(r.verified, verified("jti-1", Some("user-1")));
    let with_request = Context {
        request_id: Some("n-1".into()),
        ..ctx()
    };
    let t = KEYS.rsa.token(&claims());
    let r = rejection_at(&t, &p, &with_request);
    assert_eq!(r.reason, Reason::RequestMismatch);
    assert_eq!(r.verified, verified("jti-1", Some("user-1")));
    // Without a jti: the replay key is the SHA-256 of header.payload.
    let t = KEYS
        .rsa
        .token(&claims_with(json!({"jti": null, "aud": "x"})));
    let signing_input = t.rsplit_once('.').map(|(a, _)| a).unwrap_or_default();
    let r = rejection(&t, &p);
    assert_eq!(
        r.verified,
        verified(&fingerprint(signing_input), Some("user-1"))
    );
    // Missing subject: the token id is known, the subject is not.
    let t = KEYS.rsa.token(&claims_with(json!({"sub": null})));
    let r = rejection(&t, &p);
    assert_eq!(r.reason, Reason::MissingClaim);
    assert_eq!(r.verified, verified("jti-1", None));
    // Domain check (after the mapping): token id and mapped subject.
    let domains = provider_with(
        &[&KEYS.rsa],
        |s| s.email_domains = Some(vec!["other.example".into()]),
        &[("subject", "email")],
    );
    let t = KEYS.rsa.token(&claims());
    let r = rejection(&t, &domains);
    assert_eq!(r.reason, Reason::DomainNotAllowed);
    assert_eq!(r.verified, verified("jti-1", Some("alice@example.com")));
    // A jti that is not a usable replay key: no verified token id.
    let t = KEYS.rsa.token(&claims_with(json!({"jti": 7, "aud": "x"})));
    assert_eq!(rejection(&t, &p).verified, None);

    // Before or at the signature: nothing verified, the hash of the token.
    let t = KEYS.rsa.token(&claims());
    let (signing_input, _) = t.rsplit_once('.').unwrap_or_default();
    let forged = format!("{signing_input}.{}", b64(&[0u8; 256]));
    let r = rejection(&forged, &p);
    assert_eq!(r.reason, Reason::BadSignature);
    assert_eq!(r.verified, None);
    assert_eq!(r.token_id(&forged), fingerprint(&forged));
    // Signed by a key the provider does not hold.
    let t = KEYS.rsa2.token(&claims_with(json!({"aud": "x"})));
    assert_eq!(rejection(&t, &p).verified, None);
    let t = with_header(json!({"alg": "RS256", "kid": "rsa-1", "typ": "at+jwt"}));
    assert_eq!(rejection(&t, &p).verified, None);
    let disabled = provider_with(&[&KEYS.rsa], |s| s.enabled = false, &[]);
    assert_eq!(
        rejection(&KEYS.rsa.token(&claims()), &disabled).verified,
        None
    );
}
