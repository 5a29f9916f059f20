//! `saml::metadata::parse_metadata` on IdP metadata as Entra ID, Okta, ADFS,
//! Google Workspace, Keycloak and the Shibboleth IdP export it (fixtures under
//! `tests/metadata/`, written from each vendor's documented structure around
//! test certificates generated for them; see `tests/metadata/README.md`),
//! a federation aggregate, and every refusal with its message.

use jit_provision_core::provider::SamlSigned;
use jit_provision_core::saml::metadata::{parse_metadata, IdpMetadata, MetadataError};
use jit_provision_core::saml::xml::MAX_DOCUMENT_BYTES;
use jit_provision_core::{Protocol, Provider, ProviderSettings};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/metadata");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{name}")).unwrap()
}

/// The PEM openssl wrote: the exact form `certificates` come back in.
fn cert(name: &str) -> String {
    fixture(&format!("certs/{name}.pem"))
}

/// The bare base64 of a test certificate, as metadata carries it.
fn cert_b64(name: &str) -> String {
    cert(name)
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

fn parse(text: &str) -> IdpMetadata {
    parse_metadata(text, None).unwrap_or_else(|e| panic!("refused: {e}"))
}

fn refused(text: &str, issuer: Option<&str>) -> String {
    match parse_metadata(text, issuer) {
        Ok(m) => panic!("accepted: {m:?}"),
        Err(MetadataError(msg)) => msg,
    }
}

/// The certificates are what a `jit.providers` row accepts.
fn assert_provider_accepts(m: &IdpMetadata) {
    let settings = ProviderSettings {
        name: "from-metadata".into(),
        protocol: Protocol::Saml,
        issuer: m.issuer.clone(),
        audiences: vec!["https://app.example.com/saml/metadata".into()],
        algorithms: None,
        acs_urls: vec!["https://app.example.com/saml/acs".into()],
        saml_signed: SamlSigned::Either,
        clock_skew: 120,
        max_age: None,
        email_domains: None,
        enabled: true,
    };
    let p = Provider::new(settings, None, m.certificates.clone(), &[])
        .unwrap_or_else(|e| panic!("provider refused the certificates: {e}"));
    assert_eq!(p.saml_keys.len(), m.certificates.len());
}

// ------------------------------------------------------------ vendors

#[test]
fn entra_id() {
    let text = fixture("entra-id.xml");
    assert!(text.starts_with('\u{feff}'), "Entra ID writes a BOM");
    let m = parse(&text);
    let tenant = "b1d4e5f6-7a8b-4c9d-8e0f-1a2b3c4d5e6f";
    assert_eq!(
        m,
        IdpMetadata {
            issuer: format!("https://sts.windows.net/{tenant}/"),
            // Also in both RoleDescriptors and the metadata's Signature: once.
            certificates: vec![cert("entra")],
            sso_url: Some(format!("https://login.microsoftonline.com/{tenant}/saml2")),
            valid_until: None,
        }
    );
    assert_provider_accepts(&m);
}

#[test]
fn okta() {
    let m = parse(&fixture("okta.xml"));
    let app = "exk8abc123DEF456ghi7";
    assert_eq!(
        m,
        IdpMetadata {
            issuer: format!("http://www.okta.com/{app}"),
            certificates: vec![cert("okta")],
            sso_url: Some(format!(
                "https://dev-31415926.okta.com/app/dev-31415926_jitprovision_1/{app}/sso/saml"
            )),
            valid_until: None,
        }
    );
    assert_provider_accepts(&m);
}

#[test]
fn adfs_rollover_without_the_encryption_key() {
    let m = parse(&fixture("adfs.xml"));
    assert_eq!(
        m,
        IdpMetadata {
            issuer: "http://adfs.contoso.com/adfs/services/trust".into(),
            // Primary then secondary token-signing certificate; the
            // token-decrypting one (use="encryption") is left out.
            certificates: vec![cert("adfs-signing"), cert("adfs-signing-next")],
            sso_url: Some("https://adfs.contoso.com/adfs/ls/".into()),
            valid_until: None,
        }
    );
    assert!(!m.certificates.contains(&cert("adfs-encryption")));
    assert_provider_accepts(&m);
}

#[test]
fn google_workspace_with_valid_until_and_wrapped_certificate() {
    let m = parse(&fixture("google-workspace.xml"));
    assert_eq!(
        m,
        IdpMetadata {
            issuer: "https://accounts.google.com/o/saml2?idpid=C02x8kq7b".into(),
            certificates: vec![cert("google")],
            sso_url: Some("https://accounts.google.com/o/saml2/idp?idpid=C02x8kq7b".into()),
            // 2030-03-17T10:26:47.000Z
            valid_until: Some(1_899_973_607),
        }
    );
    assert_provider_accepts(&m);
}

#[test]
fn keycloak_entities_descriptor() {
    let m = parse(&fixture("keycloak.xml"));
    assert_eq!(
        m,
        IdpMetadata {
            issuer: "https://keycloak.example.com/realms/acme".into(),
            certificates: vec![cert("keycloak")],
            // Redirect preferred over the POST listed first.
            sso_url: Some("https://keycloak.example.com/realms/acme/protocol/saml".into()),
            valid_until: None,
        }
    );
    assert_provider_accepts(&m);
}

#[test]
fn shibboleth_idp() {
    let m = parse(&fixture("shibboleth-idp.xml"));
    assert_eq!(
        m,
        IdpMetadata {
            issuer: "https://idp.example.org/idp/shibboleth".into(),
            // KeyDescriptors without `use` sign too; document order.
            certificates: vec![cert("shibboleth-backchannel"), cert("shibboleth-signing")],
            // HTTP-Redirect, listed after the SAML 1 and HTTP-POST endpoints.
            sso_url: Some("https://idp.example.org/idp/profile/SAML2/Redirect/SSO".into()),
            valid_until: None,
        }
    );
    assert_provider_accepts(&m);
}

#[test]
fn issuer_that_matches_the_only_idp() {
    let m = parse_metadata(
        &fixture("okta.xml"),
        Some("http://www.okta.com/exk8abc123DEF456ghi7"),
    )
    .unwrap();
    assert_eq!(m.certificates, vec![cert("okta")]);
}

#[test]
fn crlf_line_ends() {
    let text = fixture("google-workspace.xml").replace('\n', "\r\n");
    assert_eq!(parse(&text).certificates, vec![cert("google")]);
}

#[test]
fn fixtures_are_the_same_certificates_everywhere() {
    // The certificate base64 in a fixture is the test certificate's.
    assert!(fixture("okta.xml").contains(&cert_b64("okta")));
    assert!(fixture("entra-id.xml").contains(&cert_b64("entra")));
}

// ------------------------------------------------------------ federation

#[test]
fn several_idps_need_an_issuer() {
    assert_eq!(
        refused(&fixture("federation.xml"), None),
        "2 identity providers in the metadata; pass issuer => to choose one"
    );
}

#[test]
fn issuer_picks_one_idp_of_an_aggregate() {
    let text = fixture("federation.xml");
    let a = parse_metadata(&text, Some("https://idp.uni-a.example.edu/idp/shibboleth")).unwrap();
    assert_eq!(
        a,
        IdpMetadata {
            issuer: "https://idp.uni-a.example.edu/idp/shibboleth".into(),
            certificates: vec![cert("federation-a")],
            // Only HTTP-POST is offered.
            sso_url: Some("https://idp.uni-a.example.edu/idp/profile/SAML2/POST/SSO".into()),
            // The aggregate's 2031-01-01T00:00:00Z bounds the entity's 2035.
            valid_until: Some(1_924_992_000),
        }
    );
    let b = parse_metadata(&text, Some("https://idp.uni-b.example.edu/idp/shibboleth")).unwrap();
    assert_eq!(b.certificates, vec![cert("federation-b")]);
    // The nested EntitiesDescriptor's 2030-06-01T12:00:00Z.
    assert_eq!(b.valid_until, Some(1_906_545_600));
}

#[test]
fn wrong_issuer() {
    assert_eq!(
        refused(&fixture("okta.xml"), Some("https://evil.example.com")),
        "no identity provider with entityID 'https://evil.example.com' in the metadata \
         (it has 'http://www.okta.com/exk8abc123DEF456ghi7')"
    );
    // An SP of the aggregate is not an identity provider.
    assert_eq!(
        refused(
            &fixture("federation.xml"),
            Some("https://wiki.uni-b.example.edu/shibboleth")
        ),
        "no identity provider with entityID 'https://wiki.uni-b.example.edu/shibboleth' in the \
         metadata (it has 'https://idp.uni-a.example.edu/idp/shibboleth', \
         'https://idp.uni-b.example.edu/idp/shibboleth')"
    );
    // Compared exactly: no trimming, no case folding of the argument.
    assert!(refused(
        &fixture("okta.xml"),
        Some("http://www.okta.com/EXK8ABC123DEF456GHI7")
    )
    .starts_with("no identity provider with entityID"));
}

#[test]
fn the_same_entity_id_twice() {
    let okta = fixture("okta.xml");
    let entity = okta.trim_start_matches(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let doc = format!(
        r#"<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">{entity}{entity}</EntitiesDescriptor>"#
    );
    assert_eq!(
        refused(&doc, Some("http://www.okta.com/exk8abc123DEF456ghi7")),
        "2 identity providers in the metadata have entityID 'http://www.okta.com/exk8abc123DEF456ghi7'"
    );
}

// ------------------------------------------------------------ what is read

#[test]
fn only_the_idpssodescriptor_keys_are_taken() {
    // Keys of RoleDescriptors, of an SPSSODescriptor and of the metadata's
    // own signature are not the IdP's SAML signing keys.
    let doc = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706" entityID="https://idp.example.com">
  <ds:Signature><ds:SignedInfo/><ds:SignatureValue>AAAA</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{sig}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>
  <md:Extensions><ds:X509Certificate>{sig}</ds:X509Certificate></md:Extensions>
  <md:RoleDescriptor xsi:type="fed:SecurityTokenServiceType" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{role}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
  </md:RoleDescriptor>
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{sp}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
  </md:SPSSODescriptor>
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{enc}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor><ds:KeyInfo><ds:KeyName>no certificate here</ds:KeyName></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{idp}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
{idp}
    </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://idp.example.com/artifact"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location=" https://idp.example.com/post "/>
  </md:IDPSSODescriptor>
  <md:Organization><md:OrganizationName xml:lang="en">x</md:OrganizationName></md:Organization>
  <md:ContactPerson contactType="technical"><md:EmailAddress>mailto:a@example.com</md:EmailAddress></md:ContactPerson>
</md:EntityDescriptor>"#,
        sig = cert_b64("adfs-signing"),
        role = cert_b64("entra"),
        sp = cert_b64("sp"),
        enc = cert_b64("adfs-encryption"),
        idp = cert_b64("okta"),
    );
    let m = parse(&doc);
    // The duplicate (pretty-printed the second time) is dropped.
    assert_eq!(m.certificates, vec![cert("okta")]);
    assert_eq!(m.sso_url.as_deref(), Some("https://idp.example.com/post"));
}

#[test]
fn no_redirect_or_post_endpoint_means_no_sso_url() {
    let doc = fixture("okta.xml")
        .replace("bindings:HTTP-POST", "bindings:SOAP")
        .replace("bindings:HTTP-Redirect", "bindings:HTTP-Artifact");
    assert_eq!(parse(&doc).sso_url, None);
}

#[test]
fn idp_descriptor_valid_until_counts_too() {
    let doc = fixture("google-workspace.xml").replace(
        "<md:IDPSSODescriptor ",
        r#"<md:IDPSSODescriptor validUntil="2029-12-31T23:59:59+01:00" "#,
    );
    // 2029-12-31T22:59:59Z, before the EntityDescriptor's 2030-03-17.
    assert_eq!(parse(&doc).valid_until, Some(1_893_452_399));
}

#[test]
fn unreadable_valid_until() {
    let doc = fixture("google-workspace.xml").replace("2030-03-17T10:26:47.000Z", "next year");
    assert_eq!(
        refused(&doc, None),
        "validUntil 'next year' is not an xs:dateTime"
    );
}

// ------------------------------------------------------------ refusals

#[test]
fn sp_only_metadata() {
    assert_eq!(
        refused(&fixture("sp-only.xml"), None),
        "no SAML 2.0 IdP (IDPSSODescriptor) in the metadata"
    );
}

#[test]
fn saml1_only_idp() {
    let doc = fixture("okta.xml").replace(
        r#"protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol""#,
        r#"protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol urn:mace:shibboleth:1.0""#,
    );
    assert_eq!(
        refused(&doc, None),
        "no SAML 2.0 IdP (IDPSSODescriptor) in the metadata"
    );
}

#[test]
fn not_metadata() {
    let response = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r" Version="2.0" IssueInstant="2024-01-01T00:00:00Z"/>"#;
    assert_eq!(
        refused(response, None),
        "root element {urn:oasis:names:tc:SAML:2.0:protocol}Response is neither \
         md:EntityDescriptor nor md:EntitiesDescriptor (SAML 2.0 metadata, namespace \
         urn:oasis:names:tc:SAML:2.0:metadata)"
    );
    // The right local name in no namespace is not metadata either.
    assert!(refused(r#"<EntityDescriptor entityID="x"/>"#, None)
        .starts_with("root element {}EntityDescriptor is neither"));
}

#[test]
fn malformed_xml() {
    let okta = fixture("okta.xml");
    let cut = okta.get(..okta.len() / 2).unwrap();
    let msg = refused(cut, None);
    assert!(msg.starts_with("invalid metadata XML: "), "{msg}");
    assert_eq!(
        refused("", None),
        "invalid metadata XML: document has no root element"
    );
    let msg = refused(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="a"></md:EntitiesDescriptor>"#,
        None,
    );
    assert!(
        msg.starts_with("invalid metadata XML: XML syntax error at byte 106: ")
            && msg.contains("expected `</md:EntityDescriptor>`"),
        "{msg}"
    );
}

#[test]
fn dtd_bearing_document() {
    let doc = r#"<?xml version="1.0"?>
<!DOCTYPE md:EntityDescriptor [
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
]>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&b;"/>"#;
    assert_eq!(
        refused(doc, None),
        "invalid metadata XML: DOCTYPE is not allowed (no DTDs, no entity declarations)"
    );
}

#[test]
fn oversized_document() {
    let okta = fixture("okta.xml");
    let padding = format!("<!--{}-->", "x".repeat(MAX_DOCUMENT_BYTES));
    let doc = okta.replacen(
        "<md:IDPSSODescriptor",
        &format!("{padding}<md:IDPSSODescriptor"),
        1,
    );
    assert_eq!(
        refused(&doc, None),
        format!(
            "invalid metadata XML: XML document is {} bytes, over the 1 MiB limit",
            doc.len()
        )
    );
}

#[test]
fn no_signing_certificate() {
    let doc = fixture("okta.xml").replace(r#"use="signing""#, r#"use="encryption""#);
    assert_eq!(
        refused(&doc, None),
        "no signing certificate for 'http://www.okta.com/exk8abc123DEF456ghi7' in the metadata \
         (an IDPSSODescriptor KeyDescriptor with use=\"signing\" or no use, holding a \
         ds:X509Certificate)"
    );
    // A signing KeyDescriptor naming its key without a certificate: same.
    let doc = fixture("keycloak.xml");
    let start = doc.find("<ds:X509Data>").unwrap();
    let end = doc.find("</ds:X509Data>").unwrap() + "</ds:X509Data>".len();
    let without = format!("{}{}", &doc[..start], &doc[end..]);
    assert!(refused(&without, None).starts_with("no signing certificate for "));
}

#[test]
fn unparseable_certificate() {
    let shib = fixture("shibboleth-idp.xml");
    let entity = "https://idp.example.org/idp/shibboleth";
    // The second signing certificate cut short: its DER no longer parses.
    let b64 = cert_b64("shibboleth-signing");
    let wrapped: Vec<String> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let full = wrapped.join("\n");
    let short = wrapped[..wrapped.len() - 3].join("\n");
    // Whole 64-character lines: still valid base64.
    let doc = shib.replacen(&full, &short, 1);
    assert_ne!(doc, shib);
    let msg = refused(&doc, None);
    assert_eq!(
        msg,
        format!(
            "signing certificate 2 (KeyDescriptor 2) of '{entity}' is not usable: \
             DER length runs past the end of the data"
        )
    );

    // Not base64 at all.
    let doc = shib.replacen(&full, "not*base64", 1);
    assert_eq!(
        refused(&doc, None),
        format!(
            "signing certificate 2 (KeyDescriptor 2) of '{entity}' is not usable: \
             ds:X509Certificate is not valid base64"
        )
    );

    // Base64 of a bare RSA public key, not a certificate.
    let doc = fixture("okta.xml").replacen(&cert_b64("okta"), "MAMCAQA=", 1);
    assert!(refused(&doc, None)
        .starts_with("signing certificate 1 (KeyDescriptor 1) of 'http://www.okta.com/"));

    // An empty certificate.
    let doc = fixture("okta.xml").replacen(&cert_b64("okta"), "  ", 1);
    assert!(refused(&doc, None).ends_with("is not usable: ds:X509Certificate is empty"));

    // An encryption key is not read, so a bad one does not matter.
    let adfs = fixture("adfs.xml");
    let enc = cert_b64("adfs-encryption");
    let doc = adfs.replace(&enc, "bm90IGEgY2VydGlmaWNhdGU=");
    assert_eq!(parse(&doc).certificates.len(), 2);
}

#[test]
fn unknown_key_use() {
    let doc = fixture("okta.xml").replace(r#"use="signing""#, r#"use="both""#);
    assert_eq!(
        refused(&doc, None),
        "KeyDescriptor 1 of 'http://www.okta.com/exk8abc123DEF456ghi7' has use=\"both\" \
         (expected signing or encryption)"
    );
}

#[test]
fn two_saml2_idp_descriptors_in_one_entity() {
    let okta = fixture("okta.xml");
    let start = okta.find("<md:IDPSSODescriptor").unwrap();
    let end = okta.find("</md:IDPSSODescriptor>").unwrap() + "</md:IDPSSODescriptor>".len();
    let idp = &okta[start..end];
    let doc = okta.replacen(idp, &format!("{idp}{idp}"), 1);
    assert_eq!(
        refused(&doc, None),
        "entity 'http://www.okta.com/exk8abc123DEF456ghi7' has 2 SAML 2.0 IDPSSODescriptors; \
         expected one"
    );
}

#[test]
fn idp_without_entity_id() {
    let doc = fixture("okta.xml").replace(
        r#"entityID="http://www.okta.com/exk8abc123DEF456ghi7""#,
        r#"entityID="  ""#,
    );
    assert_eq!(
        refused(&doc, None),
        "an EntityDescriptor with an IDPSSODescriptor has no entityID"
    );
}

#[test]
fn messages_do_not_echo_unbounded_input() {
    let long = "x".repeat(10_000);
    let msg = refused(&fixture("okta.xml"), Some(&long));
    assert!(msg.len() < 400, "{}", msg.len());
}

// ------------------------------------------------------------ third-party metadata

fn corpus_dir() -> std::path::PathBuf {
    match std::env::var_os("JIT_CORPUS") {
        Some(d) => d.into(),
        None => concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus").into(),
    }
}

/// IdP metadata published with samael's tests (the shared corpus, kept
/// byte for byte as upstream has it): RSA and ECDSA certificates.
#[test]
fn samael_test_vectors() {
    let dir = corpus_dir().join("saml/samael/test_vectors");
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| {
            panic!(
                "the SAML corpus is required (set JIT_CORPUS): cannot read {}: {e}",
                dir.join(name).display()
            )
        })
    };
    let m = parse(&read("idp_metadata.xml"));
    assert_eq!(m.issuer, "https://sso.example.org/idp");
    assert_eq!(m.certificates.len(), 1);
    assert_eq!(
        m.sso_url.as_deref(),
        Some("https://idp.example.org/SAML2/SSO/Redirect")
    );
    // 2017-08-30T19:10:29Z: reported as it is, even though it has passed.
    assert_eq!(m.valid_until, Some(1_504_120_229));
    assert_provider_accepts(&m);

    for name in ["idp_2_metadata.xml", "idp_ecdsa_metadata.xml"] {
        let m = parse(&read(name));
        assert_eq!(m.issuer, "https://fujifish.github.io/samling/samling.html");
        assert_eq!(m.certificates.len(), 1, "{name}");
        assert_provider_accepts(&m);
    }
}

// ------------------------------------------------------------ cost

/// What one 1 MiB document may cost: generous wall-clock bounds (release
/// builds take a few milliseconds) that catch anything quadratic.
fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = std::time::Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(took.as_millis() < 2000, "{what} took {took:?}");
    out
}

#[test]
fn a_megabyte_of_certificates() {
    let names = [
        "entra",
        "okta",
        "adfs-signing",
        "adfs-signing-next",
        "google",
        "keycloak",
        "shibboleth-signing",
        "shibboleth-backchannel",
    ];
    let mut keys = String::new();
    let mut i = 0;
    while keys.len() < MAX_DOCUMENT_BYTES - 8192 {
        let name = names[i % names.len()];
        keys.push_str(&format!(
            r#"<md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
            cert_b64(name)
        ));
        i += 1;
    }
    let doc = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example.com"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{keys}</md:IDPSSODescriptor></md:EntityDescriptor>"#
    );
    assert!(doc.len() <= MAX_DOCUMENT_BYTES);
    let m = timed("a 1 MiB IdP of certificates", || parse(&doc));
    let want: Vec<String> = names.iter().map(|n| cert(n)).collect();
    assert_eq!(
        m.certificates, want,
        "{i} KeyDescriptors, each certificate once"
    );
}

#[test]
fn a_megabyte_of_nested_identity_providers() {
    // As deep as the reader allows, every level with its own validUntil,
    // then as many small IdPs as fit.
    let depth = 40;
    let open: String = (0..depth)
        .map(|d| {
            format!(
                r#"<md:EntitiesDescriptor validUntil="{}-01-01T00:00:00Z">"#,
                2100 - d
            )
        })
        .collect();
    let close = "</md:EntitiesDescriptor>".repeat(depth);
    let idp = |n: usize| {
        format!(
            r#"<md:EntityDescriptor entityID="https://idp{n}.example.com"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor></md:IDPSSODescriptor></md:EntityDescriptor>"#,
            if n == 0 {
                cert_b64("okta")
            } else {
                "MA==".into()
            }
        )
    };
    let mut body = String::new();
    let mut n = 0;
    while body.len() < MAX_DOCUMENT_BYTES - 16384 {
        // The one asked for comes last.
        n += 1;
        body.push_str(&idp(n));
    }
    body.push_str(&idp(0));
    let doc = format!(
        r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">{open}{body}{close}</md:EntitiesDescriptor>"#
    );
    assert!(doc.len() <= MAX_DOCUMENT_BYTES, "{}", doc.len());
    let msg = timed("counting the IdPs", || refused(&doc, None));
    assert_eq!(
        msg,
        format!(
            "{} identity providers in the metadata; pass issuer => to choose one",
            n + 1
        )
    );
    let m = timed("choosing the last IdP", || {
        parse_metadata(&doc, Some("https://idp0.example.com")).unwrap()
    });
    assert_eq!(m.certificates, vec![cert("okta")]);
    // The innermost (and earliest) level: 2100 - 39 = 2061-01-01.
    assert_eq!(m.valid_until, Some(2_871_763_200));
}
