//! OIDC entry point: bytes -> `parse` -> `verify` against fixed providers
//! (JWKS with RSA, P-256, P-384 and Ed25519 keys).
//!
//! Raw inputs must never verify (no input carries a signature made with the
//! provider's keys); templates (`header JSON \n claims JSON`) are signed by
//! the harness for the header's alg first.
#![no_main]

use jit_provision_fuzz as h;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (token_text, templated) = match h::sign_jwt_template(&text) {
        Some(signed) => (signed, true),
        None => (text.into_owned(), false),
    };
    h::within_memory_budget(token_text.len(), || {
        let Some(token) = h::parse_logged(&token_text) else {
            return;
        };
        let _ = token.issuer();
        h::judge(&token, h::oidc_providers(), h::oidc_contexts(), templated);
    });
});
