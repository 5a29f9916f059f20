//! `KeySet::parse` on arbitrary JSON, then every parsed key through every
//! algorithm with a junk signature, and a provider built on the set.
#![no_main]

use jit_provision_core::jwks::{Algorithm, KeySet};
use jit_provision_core::provider::SamlSigned;
use jit_provision_core::{Protocol, Provider, ProviderSettings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(set) = KeySet::parse(&text) else {
        return;
    };
    let _ = (set.len(), set.skipped().len());
    for key in set.keys() {
        if let Some(kid) = key.kid() {
            let _ = set.has_kid(kid);
        }
        for alg in Algorithm::ALL {
            let sig = vec![1u8; 64];
            let _ = key.verify(alg, b"e30.e30", &sig);
            let _ = set.candidates(key.kid(), alg).count();
        }
    }
    let settings = ProviderSettings {
        name: "fuzz".into(),
        protocol: Protocol::Oidc,
        issuer: "https://idp.example.com".into(),
        audiences: vec!["client-1".into()],
        algorithms: None,
        acs_urls: vec![],
        saml_signed: SamlSigned::Either,
        clock_skew: 0,
        max_age: None,
        email_domains: None,
        enabled: true,
    };
    let _ = Provider::new(settings, Some(&text), vec![], &[]);
});
