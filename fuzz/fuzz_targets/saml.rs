//! SAML entry point: bytes -> `parse` -> `verify` against fixed providers.
//!
//! Inputs that are not UTF-8 also go to the byte-level reader as they are.
//! A raw input carries no signature made with the trusted key, so it must
//! never verify: acceptance is a signature bypass and fails the run.
//! Templates (`{SIG_A}` / `{SIG_R}` markers) are signed by the harness first.
//! Memory held by parse and verify is bounded linearly in the input
//! (`within_memory_budget`); time by libFuzzer's `-timeout`.
#![no_main]

use jit_provision_core::saml;
use jit_provision_fuzz as h;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Valid UTF-8 reaches the reader through `parse` below (raw or base64).
    if std::str::from_utf8(data).is_err() {
        assert!(saml::parse_bytes(data).is_err(), "invalid UTF-8 parsed");
    }
    let text = String::from_utf8_lossy(data);

    let (token_text, templated) = match h::sign_saml_template(&text) {
        Some(signed) => (signed, true),
        None => (text.into_owned(), false),
    };
    // Memory held while parsing and verifying must stay linear in the input.
    h::within_memory_budget(token_text.len(), || {
        let Some(token) = h::parse_logged(&token_text) else {
            return;
        };
        // As the extension does: the provider is looked up by the claimed issuer.
        let own;
        let providers = match token.issuer() {
            Some(iss) if !templated && !iss.is_empty() && iss != h::SAML_ISSUER => {
                own = h::saml_providers_for(iss);
                &own
            }
            _ => h::saml_providers(),
        };
        h::judge(&token, providers, h::saml_contexts(), templated);
    });
});
