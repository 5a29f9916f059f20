//! Every `kind: "saml"` case of the shared conformance corpus, through the
//! public entry points (`parse` then `verify`), each with its own provider:
//! the case's issuer, audience, recipient/destination as acs_urls, pinned
//! `cert`, SHA-1 allowed only when the fixture uses it, judged at `at` with
//! `request_id = in_response_to`.
//!
//! Where this verifier's verdict differs from the corpus' `expect`, the case
//! is listed in [`DIVERGENCES`] with the reason it gets and why; the test
//! asserts that the divergences are exactly that table. Every reject case's
//! reason is pinned in [`REJECT_REASONS`] too, so a reject for an incidental
//! reason (say a time check instead of the wrapping it is about) shows up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jit_provision_core::mapping::ClaimMap;
use jit_provision_core::provider::{SamlSigned, DEFAULT_ALGORITHMS};
use jit_provision_core::{parse, verify, Context, Protocol, Provider, ProviderSettings, Reason};
use serde_json::Value;

/// (case id, reason this verifier gives, why it differs from `expect: accept`).
const DIVERGENCES: &[(&str, Reason, &str)] = &[
    ("py-signed_message_response2", Reason::Unsupported,
        "needs XML-Enc decryption of the EncryptedAssertion; not supported yet"),
    ("rb-starfield_response", Reason::RecipientMismatch,
        "profile gap: the signed Response has no Destination (SAML profiles 3.5.5.2), and there is no bearer SubjectConfirmationData/Recipient nor an AudienceRestriction; the signature (inclusive c14n) passes first"),
    ("ns-valid-root-signed.assertion-signed", Reason::AudienceMismatch,
        "no AudienceRestriction: strict Web SSO profile rule (SAML profiles 4.1.4.2); every earlier check incl. both signatures passed"),
    ("ns-valid-root-signed.assertion-unsigned", Reason::AudienceMismatch,
        "no AudienceRestriction (strict); signature passed"),
    ("ns-valid-root-unsigned.assertion-signed", Reason::AudienceMismatch,
        "no AudienceRestriction (strict); signature passed"),
    ("ns-valid-root-signed.assertion-signed.1advice-signed", Reason::Malformed,
        "contract: Assertions inside Advice count, so two Assertions (corpus counts only Response children)"),
    ("ns-valid-root-signed.assertion-signed.1advice-unsigned", Reason::Malformed,
        "Advice-nested Assertion counts (contract)"),
    ("ns-valid-root-unsigned.assertion-signed.1advice-signed", Reason::Malformed,
        "Advice-nested Assertion counts (contract)"),
    ("ns-valid-root-signed.assertion-unsigned.1advice-unsigned", Reason::Malformed,
        "Advice-nested Assertion counts (contract)"),
    ("ns-valid-root-unsigned.assertion-signed.1advice-unsigned", Reason::Malformed,
        "Advice-nested Assertion counts (contract)"),
    ("ns-valid-root-signed.assertion-signed.2advice-signed", Reason::Malformed,
        "Advice-nested Assertions count (contract)"),
    ("ns-valid-root-signed.assertion-signed.2advice-unsigned", Reason::Malformed,
        "Advice-nested Assertions count (contract)"),
    ("ns-valid-root-signed.assertion-unsigned.2advice-unsigned", Reason::Malformed,
        "Advice-nested Assertions count (contract)"),
    ("ns-valid-root-signed.assertion-unsigned-13", Reason::AudienceMismatch,
        "no AudienceRestriction (strict); signature passed"),
    ("ns-valid-root-signed.assertion-unsigned-xd", Reason::AudienceMismatch,
        "no AudienceRestriction (strict); signature passed"),
    ("ns-valid-root-signed.assertion-unsigned-13-signature", Reason::AudienceMismatch,
        "no AudienceRestriction (strict); signature passed"),
    ("ns-valid-root-signed.assertion-unsigned-xd-signature", Reason::AudienceMismatch,
        "no AudienceRestriction (strict); signature passed"),
    ("sa-multi_saml_response_signed_2", Reason::AudienceMismatch,
        "no AudienceRestriction (strict); both signatures passed"),
];

/// The reason every `expect: reject` case gets.
const REJECT_REASONS: &[(&str, Reason)] = &[
    // SignatureValue does not verify with any configured certificate
    ("py-valid_response-untrusted_key", Reason::BadSignature),
    // duplicate ID
    ("py-signature_wrapping_attack", Reason::Malformed),
    // two Assertions in the document
    ("py-signature_wrapping_attack2", Reason::Malformed),
    // a ds:Signature sits outside the Response and Assertion (only their own signatures are...
    ("py-wrapped_response_2", Reason::BadSignature),
    // two Assertions in the document
    ("py-multiple_assertions", Reason::Malformed),
    // ds:SignatureValue is missing
    ("py-no_key", Reason::BadSignature),
    // digest of the signed element does not match DigestValue
    ("py-response_node_text_attack", Reason::BadSignature),
    // two Assertions in the document
    ("py-response4-assertion_wrapping", Reason::Malformed),
    // digest of the signed element does not match DigestValue
    ("py-bad_reference", Reason::BadSignature),
    // fixture has no samlp:Status (schema-required); NotBefore is tested in saml_unit
    ("py-not_before_failed", Reason::Malformed),
    // the subject (NameID or mapped attribute) is missing or empty
    ("py-empty_nameid", Reason::MissingClaim),
    // digest of the signed element does not match DigestValue
    ("rb-response_node_text_attack3", Reason::BadSignature),
    // two Assertions in the document
    (
        "rb-response_with_concealed_signed_assertion",
        Reason::Malformed,
    ),
    // two Assertions in the document
    (
        "rb-response_with_doubled_signed_assertion",
        Reason::Malformed,
    ),
    // an element carries more than one ds:Signature
    ("rb-multiple_signed", Reason::BadSignature),
    // DOCTYPE is not allowed (no DTDs, no entity declarations)
    ("rb-attackxee", Reason::Malformed),
    // an AudienceRestriction names none of the provider's audiences
    ("rb-invalid_audience", Reason::AudienceMismatch),
    // Assertion Issuer 'http://invalid.issuer.example.com/' is not the provider's issuer
    ("rb-invalid_issuer_assertion", Reason::UnknownIssuer),
    // Response Issuer 'http://invalid.issuer.example.com/' is not the provider's issuer
    ("rb-invalid_issuer_message", Reason::UnknownIssuer),
    // SubjectConfirmationData InResponseTo does not match the request id
    (
        "rb-invalid_subjectconfirmation_inresponse",
        Reason::RequestMismatch,
    ),
    // SubjectConfirmationData Recipient 'http://invalid.recipent.example.com' is not in acs...
    (
        "rb-invalid_subjectconfirmation_recipient",
        Reason::RecipientMismatch,
    ),
    // SubjectConfirmationData NotOnOrAfter has passed
    ("rb-invalid_subjectconfirmation_noa", Reason::Expired),
    // SubjectConfirmationData NotBefore is in the future
    ("rb-invalid_subjectconfirmation_nb", Reason::NotYetValid),
    // a ds:Signature sits outside the Response and Assertion (only their own signatures are...
    ("rb-response_invalid_signed_element", Reason::BadSignature),
    // digest of the signed element does not match DigestValue
    (
        "ns-invalid-root-signed.assertion-signed",
        Reason::BadSignature,
    ),
    // digest of the signed element does not match DigestValue
    (
        "ns-invalid-root-signed.assertion-unsigned",
        Reason::BadSignature,
    ),
    // digest of the signed element does not match DigestValue
    (
        "ns-invalid-root-unsigned.assertion-signed",
        Reason::BadSignature,
    ),
    // neither the Response nor the Assertion is signed
    (
        "ns-invalid-root-unsigned.assertion-unsigned",
        Reason::BadSignature,
    ),
    // digest of the signed element does not match DigestValue
    (
        "ns-invalid-root-signed.assertion-invalidly-signed",
        Reason::BadSignature,
    ),
    // EncryptedAssertion is not supported yet (XML Encryption)
    (
        "ns-invalid-root-signed.assertion-invalidly-signed-encrypted",
        Reason::Unsupported,
    ),
    // Reference transforms must be enveloped-signature and at most one canonicalization
    (
        "ns-invalid-root-signed-transforms.assertion-unsigned",
        Reason::UnsupportedAlgorithm,
    ),
    // Reference transforms must be enveloped-signature and at most one canonicalization
    (
        "ns-invalid-root-unsigned.assertion-signed-transforms",
        Reason::UnsupportedAlgorithm,
    ),
    // SignatureValue does not verify with any configured certificate
    (
        "ns-invalid-root-resigned-by-attacker-assertion-unsigned-attackers-cert-at-keyinfo",
        Reason::BadSignature,
    ),
    // more than one root element
    (
        "ns-invalid-root-signed.multiple-root-elements",
        Reason::Malformed,
    ),
    // two Assertions in the document
    (
        "ns-invalid-root-signed.assertion-signed.1advice-signed",
        Reason::Malformed,
    ),
    // duplicate ID
    ("xc-valid_saml_signature_wrapping", Reason::Malformed),
    // digest of the signed element does not match DigestValue
    ("xc-valid_saml_with_digest_comment", Reason::BadSignature),
    // CanonicalizationMethod 'http://www.w3.org/2001/10/xml-exc-c14n#WithComments' (canonic...
    ("xc-valid_saml_withcomments", Reason::UnsupportedAlgorithm),
    // two Assertions in the document
    ("xc-saml_multiple_signed_info_nodes", Reason::Malformed),
    // two Assertions in the document
    ("xc-saml_wrapped_signed_info_node", Reason::Malformed),
    // expected ds:SignedInfo, found ds:CanonicalizationMethod
    ("xc-invalid_saml_no_signed_info", Reason::BadSignature),
    // Reference URI 't't' does not point at the Signature's parent
    ("xc-id_with_quotes", Reason::BadSignature),
    // SignatureValue does not verify with any configured certificate
    (
        "sa-response_signed_by_idp_2-wrong_key",
        Reason::BadSignature,
    ),
    // Response Version is not 2.0
    ("sa-ancestor_attack_signed", Reason::Malformed),
    // two Assertions in the document
    ("sa-object_attack_response", Reason::Malformed),
    // two Assertions in the document
    ("sa-xpath_transform", Reason::Malformed),
];

fn corpus_dir() -> PathBuf {
    match std::env::var_os("JIT_CORPUS") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus")),
    }
}

fn read(dir: &Path, rel: &str) -> Vec<u8> {
    let p = dir.join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read corpus file {}: {e}", p.display()))
}

/// The pinned key as PEM text (DER files are wrapped).
fn cert_pem(dir: &Path, rel: &str) -> String {
    let bytes = read(dir, rel);
    if rel.ends_with(".der") {
        let b64 = STANDARD.encode(&bytes);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    } else {
        String::from_utf8(bytes).expect("PEM is UTF-8")
    }
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Accepted(String),
    Rejected(Reason, String),
    ConfigRefused(String),
}

fn run_case(dir: &Path, case: &Value) -> Outcome {
    let id = s(case, "id").unwrap_or_default();
    let issuer = s(case, "issuer").unwrap_or_else(|| "urn:corpus:no-issuer".into());
    let audience = s(case, "audience").unwrap_or_else(|| "urn:corpus:no-audience".into());
    let mut acs: Vec<String> = ["recipient", "destination"]
        .iter()
        .filter_map(|k| s(case, k))
        .collect();
    acs.dedup();
    if acs.is_empty() {
        acs.push("https://corpus.invalid/acs".into());
    }
    let uses_sha1 = case
        .get("algorithms")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter()
                .any(|x| matches!(x.as_str(), Some("sha1" | "rsa-sha1")))
        });
    let algorithms = if uses_sha1 {
        let mut list: Vec<String> = DEFAULT_ALGORITHMS.iter().map(|s| s.to_string()).collect();
        list.push("rsa-sha1".into());
        list.push("sha1".into());
        Some(list)
    } else {
        None
    };
    let settings = ProviderSettings {
        name: format!("corpus-{id}"),
        protocol: Protocol::Saml,
        issuer,
        audiences: vec![audience],
        algorithms,
        acs_urls: acs,
        saml_signed: SamlSigned::Either,
        clock_skew: 0,
        max_age: None,
        email_domains: None,
        enabled: true,
    };
    let cert = match s(case, "cert") {
        Some(rel) => cert_pem(dir, &rel),
        None => panic!("{id}: no cert"),
    };
    let provider = match Provider::new(settings, None, vec![cert], &[]) {
        Ok(p) => p,
        Err(e) => return Outcome::ConfigRefused(e.0),
    };
    let _ = ClaimMap::default();

    let encoding = s(case, "encoding").unwrap_or_else(|| "xml".into());
    let rel = match encoding.as_str() {
        // Feed the HTTP-POST form itself: exercises base64 detection.
        "base64" => s(case, "original_file").expect("base64 case has original_file"),
        _ => s(case, "file").expect("case has file"),
    };
    let token = String::from_utf8(read(dir, &rel)).expect("corpus token is UTF-8");

    let at = s(case, "at")
        .and_then(|a| jit_provision_core::saml::time::parse_datetime(&a))
        .unwrap_or(0);
    let ctx = Context {
        now: at,
        request_id: s(case, "in_response_to"),
        ..Default::default()
    };
    let parsed = match parse(&token) {
        Ok(t) => t,
        Err(r) => return Outcome::Rejected(r.reason, r.detail),
    };
    match verify(&parsed, &provider, &ctx) {
        Ok(identity) => Outcome::Accepted(identity.subject),
        Err(r) => Outcome::Rejected(r.reason, r.detail),
    }
}

#[test]
fn saml_corpus() {
    let dir = corpus_dir();
    let manifest = dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap_or_else(|e| {
        panic!(
            "the SAML corpus is required (set JIT_CORPUS): cannot read {}: {e}",
            manifest.display()
        )
    });
    let cases: Vec<Value> = serde_json::from_str(&text).expect("manifest is JSON");
    let saml: Vec<&Value> = cases
        .iter()
        .filter(|c| c.get("kind").and_then(Value::as_str) == Some("saml"))
        .collect();
    assert!(
        saml.len() >= 60,
        "expected the full SAML corpus, found {} cases",
        saml.len()
    );

    let mut divergences: BTreeMap<String, Reason> = BTreeMap::new();
    let mut reject_reasons: BTreeMap<String, Reason> = BTreeMap::new();
    let mut failures: Vec<String> = Vec::new();
    let (mut accepted, mut rejected) = (0, 0);
    for case in &saml {
        let id = s(case, "id").unwrap_or_default();
        let expect = s(case, "expect").unwrap_or_default();
        let outcome = run_case(&dir, case);
        println!("{id:70} expect={expect:7} got={outcome:?}");
        match (&outcome, expect.as_str()) {
            (Outcome::Accepted(subject), "accept") => {
                accepted += 1;
                let want = s(case, "name_id").unwrap_or_default();
                if *subject != want {
                    failures.push(format!(
                        "{id}: subject {subject:?}, expected name_id {want:?}"
                    ));
                }
            }
            (Outcome::Accepted(subject), _) => {
                accepted += 1;
                failures.push(format!(
                    "{id}: ACCEPTED a reject case (subject {subject:?})"
                ));
            }
            (Outcome::Rejected(reason, _), "accept") => {
                rejected += 1;
                divergences.insert(id.clone(), *reason);
            }
            (Outcome::Rejected(reason, _), _) => {
                rejected += 1;
                reject_reasons.insert(id.clone(), *reason);
            }
            (Outcome::ConfigRefused(e), _) => {
                failures.push(format!("{id}: provider refused: {e}"));
            }
        }
    }
    println!(
        "saml corpus: {} cases, {accepted} accepted, {rejected} rejected, {} divergences from expect (all listed)",
        saml.len(),
        divergences.len()
    );

    let want_div: BTreeMap<String, Reason> = DIVERGENCES
        .iter()
        .map(|(id, r, _)| (id.to_string(), *r))
        .collect();
    if divergences != want_div {
        failures.push(format!(
            "divergence table mismatch:\n  got:      {divergences:?}\n  expected: {want_div:?}"
        ));
    }
    let want_rej: BTreeMap<String, Reason> = REJECT_REASONS
        .iter()
        .map(|(id, r)| (id.to_string(), *r))
        .collect();
    if reject_reasons != want_rej {
        for (id, r) in &reject_reasons {
            if want_rej.get(id) != Some(r) {
                failures.push(format!(
                    "{id}: rejected as {r:?}, table says {:?}",
                    want_rej.get(id)
                ));
            }
        }
        for id in want_rej.keys() {
            if !reject_reasons.contains_key(id) {
                failures.push(format!("{id}: in REJECT_REASONS but not rejected"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
