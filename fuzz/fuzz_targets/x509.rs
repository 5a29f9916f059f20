//! The SAML trust-anchor reader: PEM text and the DER walker behind it
//! (certificates and bare SubjectPublicKeyInfo).
#![no_main]

use jit_provision_core::saml::x509;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = x509::key_from_certificate(data);
    let _ = x509::key_from_spki(data);
    let _ = x509::parse_pem_keys(&String::from_utf8_lossy(data));
});
