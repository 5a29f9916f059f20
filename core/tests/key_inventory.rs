//! Key inventories (what `jit.provider_status` shows and `jit.refresh`
//! compares), checked against OpenSSL's own reading of certificates made by
//! OpenSSL at test time; OIDC discovery parsing; providers waiting for
//! their first refresh.

mod oidc_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use jit_provision_core::key_inventory;
use jit_provision_core::provider::SamlSigned;
use jit_provision_core::{discovery, Protocol, Provider, ProviderSettings};
use oidc_support::*;
use serde_json::json;

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A self-signed certificate valid for `days`, made by the openssl CLI.
fn make_cert(dir: &Path, name: &str, key_alg: &[&str], days: u32) -> (String, String, i64) {
    let key = dir.join(format!("{name}.key"));
    let crt = dir.join(format!("{name}.pem"));
    let mut args = vec!["req", "-x509", "-nodes", "-subj", "/CN=test-idp", "-days"];
    let days = days.to_string();
    args.push(&days);
    args.extend_from_slice(key_alg);
    args.extend_from_slice(&[
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        crt.to_str().unwrap(),
    ]);
    openssl(&args);
    let pem = std::fs::read_to_string(&crt).unwrap();
    // "sha256 Fingerprint=AB:CD:..." -> "abcd..."
    let fp = openssl(&[
        "x509",
        "-in",
        crt.to_str().unwrap(),
        "-noout",
        "-fingerprint",
        "-sha256",
    ]);
    let fp = fp
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_lowercase();
    // notAfter as Unix seconds, read by openssl and converted by `date`.
    let end = openssl(&["x509", "-in", crt.to_str().unwrap(), "-noout", "-enddate"]);
    let end = end.trim().trim_start_matches("notAfter=").to_string();
    let secs = Command::new("date")
        .args(["-u", "-d", &end, "+%s"])
        .output()
        .unwrap();
    let secs: i64 = String::from_utf8(secs.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (pem, fp, secs)
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("jit-inventory-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn saml_fingerprints_and_expiry_agree_with_openssl() {
    let dir = temp_dir("saml");
    // 400 days: a UTCTime notAfter; 12 000 days (after 2049): GeneralizedTime.
    let rsa = make_cert(&dir, "rsa", &["-newkey", "rsa:2048"], 400);
    let ec = make_cert(
        &dir,
        "ec",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        12_000,
    );
    let inv = key_inventory::saml(&[rsa.0.clone(), ec.0.clone()]).unwrap();
    assert_eq!(inv.keys, vec![rsa.1.clone(), ec.1.clone()]);
    assert_eq!(inv.earliest_expiry, Some(rsa.2.min(ec.2)));
    let ec_only = key_inventory::saml(std::slice::from_ref(&ec.0)).unwrap();
    assert_eq!(ec_only.earliest_expiry, Some(ec.2));
    assert!(
        ec.2 > 2_524_608_000,
        "the long certificate should end after 2050"
    );

    // Order and duplicates do not change the identity of the set.
    let again = key_inventory::saml(&[ec.0.clone(), rsa.0.clone(), ec.0.clone()]).unwrap();
    assert_eq!(again.identities, inv.identities);
    // A rolled-over set differs.
    let next = make_cert(&dir, "next", &["-newkey", "rsa:2048"], 30);
    let rolled = key_inventory::saml(&[rsa.0.clone(), next.0.clone()]).unwrap();
    assert_ne!(rolled.identities, inv.identities);
    assert_eq!(rolled.earliest_expiry, Some(next.2));

    // Metadata carries bare base64 DER: same fingerprint.
    let bare: String = rsa.0.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_eq!(
        key_inventory::saml(&[bare]).unwrap().keys,
        vec![rsa.1.clone()]
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn oidc_key_ids_and_identities() {
    let a = TestKey::rsa("rsa2048.pk8.der", Some("key-a"));
    let b = TestKey::rsa("rsa2048-second.pk8.der", Some("key-b"));
    let ab = json!({"keys": [a.jwk(), b.jwk()]}).to_string();
    let ba = json!({"keys": [b.jwk(), a.jwk(), {"kty": "oct", "k": "c2VjcmV0"}]}).to_string();
    let inv_ab = key_inventory::oidc(&ab).unwrap();
    let inv_ba = key_inventory::oidc(&ba).unwrap();
    assert_eq!(inv_ab.keys, vec!["key-a", "key-b"]);
    assert_eq!(
        inv_ba.keys,
        vec!["key-b", "key-a"],
        "the HMAC key is not usable"
    );
    assert_eq!(inv_ab.identities, inv_ba.identities);
    assert_eq!(inv_ab.earliest_expiry, None);

    // Same kid, other key material: a different set.
    let mut swapped = b.jwk();
    swapped["kid"] = json!("key-a");
    let other = json!({"keys": [swapped]}).to_string();
    let a_only = json!({"keys": [a.jwk()]}).to_string();
    assert_ne!(
        key_inventory::oidc(&other).unwrap().identities,
        key_inventory::oidc(&a_only).unwrap().identities
    );

    // A key without kid is named by its material.
    let mut nokid = a.jwk();
    nokid.as_object_mut().unwrap().remove("kid");
    let inv = key_inventory::oidc(&json!({"keys": [nokid]}).to_string()).unwrap();
    assert!(
        inv.keys[0].starts_with("sha256:") && inv.keys[0].len() == 71,
        "{:?}",
        inv.keys
    );

    assert!(key_inventory::oidc("{}").is_err());
}

#[test]
fn discovery_issuer_must_match_exactly() {
    let doc = json!({"issuer": ISS, "jwks_uri": "https://idp.example.com/keys"}).to_string();
    assert_eq!(
        discovery::jwks_uri(doc.as_bytes(), ISS).unwrap(),
        "https://idp.example.com/keys"
    );
    let slash = format!("{ISS}/");
    let e = discovery::jwks_uri(doc.as_bytes(), &slash).unwrap_err();
    assert!(e.contains("is for issuer"), "{e}");
    let e = discovery::jwks_uri(b"{\"issuer\": 1}", ISS).unwrap_err();
    assert!(e.contains("no issuer"), "{e}");
    let no_jwks = json!({"issuer": ISS}).to_string();
    assert!(discovery::jwks_uri(no_jwks.as_bytes(), ISS)
        .unwrap_err()
        .contains("no jwks_uri"));
    assert!(discovery::jwks_uri(b"<html>", ISS)
        .unwrap_err()
        .contains("not JSON"));
    assert!(discovery::jwks_uri(b"[]", ISS)
        .unwrap_err()
        .contains("not a JSON object"));
}

fn settings(protocol: Protocol) -> ProviderSettings {
    ProviderSettings {
        name: "p".into(),
        protocol,
        issuer: ISS.into(),
        audiences: vec![AUD.into()],
        algorithms: None,
        acs_urls: vec!["https://sp.example.com/acs".into()],
        saml_signed: SamlSigned::Either,
        clock_skew: 60,
        max_age: None,
        email_domains: None,
        enabled: true,
    }
}

#[test]
fn providers_awaiting_their_first_refresh() {
    // Without keys: only a provider kept current by jit.refresh may exist.
    assert!(Provider::new(settings(Protocol::Oidc), None, vec![], &[]).is_err());
    assert!(Provider::new(settings(Protocol::Saml), None, vec![], &[]).is_err());
    let oidc = Provider::awaiting_refresh(settings(Protocol::Oidc), None, vec![], &[]).unwrap();
    assert!(oidc.jwks.is_empty());
    let saml = Provider::awaiting_refresh(settings(Protocol::Saml), None, vec![], &[]).unwrap();
    assert!(saml.saml_keys.is_empty());
    // Keys that are there are checked as strictly.
    let e = Provider::awaiting_refresh(
        settings(Protocol::Oidc),
        Some(r#"{"keys":[]}"#),
        vec![],
        &[],
    )
    .unwrap_err();
    assert!(e.0.contains("no usable"), "{e}");
    let e = Provider::awaiting_refresh(settings(Protocol::Saml), None, vec!["junk".into()], &[])
        .unwrap_err();
    assert!(e.0.contains("certificates[1]"), "{e}");
    // And the rest of the row too.
    let mut no_acs = settings(Protocol::Saml);
    no_acs.acs_urls.clear();
    assert!(Provider::awaiting_refresh(no_acs, None, vec![], &[]).is_err());
}
