//! JSON nesting is bounded (serde_json's recursion limit of 128) wherever
//! untrusted JSON is read: a deeply nested JWS header or payload, or JWKS,
//! is `malformed`, never a stack overflow in the backend.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jit_provision_core::{parse, Reason};

fn nested(depth: usize) -> String {
    format!(
        r#"{{"iss":"https://idp.example.com","x":{}1{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

fn compact(header: &str, payload: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode([0u8; 64])
    )
}

fn reason_of(token: &str) -> (Reason, String) {
    match parse(token) {
        Ok(_) => panic!("parsed"),
        Err(r) => (r.reason, r.detail),
    }
}

#[test]
fn nesting_within_the_limit_parses() {
    let ok = compact(r#"{"alg":"ES256"}"#, &nested(100));
    assert!(parse(&ok).is_ok());
}

#[test]
fn deep_payload_is_malformed() {
    let (reason, detail) = reason_of(&compact(r#"{"alg":"ES256"}"#, &nested(200_000)));
    assert_eq!(reason, Reason::Malformed, "{detail}");
    assert!(detail.contains("recursion limit"), "{detail}");
}

#[test]
fn deep_header_is_malformed() {
    let header = format!(
        r#"{{"alg":"ES256","x":{}1{}}}"#,
        "[".repeat(1000),
        "]".repeat(1000)
    );
    let (reason, detail) = reason_of(&compact(&header, &nested(1)));
    assert_eq!(reason, Reason::Malformed, "{detail}");
    assert!(detail.contains("recursion limit"), "{detail}");
}

#[test]
fn deep_jwks_is_refused() {
    let jwks = format!(r#"{{"keys":{}{{}}{}}}"#, "[".repeat(1000), "]".repeat(1000));
    match jit_provision_core::jwks::KeySet::parse(&jwks) {
        Ok(_) => panic!("a 1000-deep JWKS parsed"),
        Err(e) => assert!(e.0.contains("recursion limit"), "{}", e.0),
    }
}
