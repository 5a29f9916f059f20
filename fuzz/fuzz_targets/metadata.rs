//! SAML IdP metadata (`jit.saml_metadata`, `jit.refresh`): bytes ->
//! `parse_metadata`, without and with an issuer to choose by. The document
//! is untrusted (pasted, or fetched from a URL), so every input must end in
//! a value or a `MetadataError`, within the same linear memory bound as the
//! verifier (`within_memory_budget`); time is bounded by libFuzzer's
//! `-timeout`. What is accepted must be usable as a provider's
//! `certificates`.
#![no_main]

use jit_provision_core::saml::metadata::parse_metadata;
use jit_provision_core::saml::parse_pem_keys;
use jit_provision_fuzz as h;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    h::within_memory_budget(text.len(), || {
        for issuer in [None, Some("https://idp.example.org/idp/shibboleth")] {
            match parse_metadata(&text, issuer) {
                Ok(m) => {
                    if h::verbose() {
                        eprintln!(
                            "[{issuer:?}] {} {} certificate(s)",
                            m.issuer,
                            m.certificates.len()
                        );
                    }
                    assert!(!m.issuer.is_empty(), "empty issuer accepted");
                    assert!(!m.certificates.is_empty(), "no certificate accepted");
                    if let Some(i) = issuer {
                        assert_eq!(m.issuer, i, "another entity than the one asked for");
                    }
                    for pem in &m.certificates {
                        assert!(
                            parse_pem_keys(pem).is_ok_and(|k| k.len() == 1),
                            "an accepted certificate does not parse: {pem}"
                        );
                    }
                }
                Err(e) => {
                    if h::verbose() {
                        eprintln!("[{issuer:?}] {e}");
                    }
                }
            }
        }
    });
});
