//! SAML unit tests: the XML reader's refusals, c14n vectors, every SAML
//! reason code on documents signed here (ECDSA P-256, a fresh key per run),
//! and signature-wrapping mutations of a genuine third-party fixture.

#![allow(clippy::field_reassign_with_default)]

#[allow(dead_code)]
mod support;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jit_provision_core::provider::SamlSigned;
use jit_provision_core::saml::c14n::{self, Method};
use jit_provision_core::saml::xml::{self, Element};
use jit_provision_core::{parse, verify, Context, Protocol, Provider, ProviderSettings, Reason};
use serde_json::json;
// The ECDSA P-256 test key and the fixed provider values are shared with
// resource_budgets.rs; this file uses only part of that harness.
use support::budget_sign::{TestKey, ACS, AUDIENCE, ISSUER, NOW};

// ---------------------------------------------------------------- helpers

const REQ: &str = "_req42";

fn settings() -> ProviderSettings {
    ProviderSettings {
        name: "idp".into(),
        protocol: Protocol::Saml,
        issuer: ISSUER.into(),
        audiences: vec![AUDIENCE.into()],
        algorithms: None,
        acs_urls: vec![ACS.into()],
        saml_signed: SamlSigned::Either,
        clock_skew: 60,
        max_age: None,
        email_domains: None,
        enabled: true,
    }
}

fn provider_with(
    key: &TestKey,
    f: impl FnOnce(&mut ProviderSettings),
    map: &[(&str, &str)],
) -> Provider {
    let mut s = settings();
    f(&mut s);
    let map: Vec<(String, String)> = map
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    Provider::new(s, None, vec![key.pem()], &map).unwrap()
}

fn ctx(request_id: Option<&str>) -> Context {
    Context {
        now: NOW,
        request_id: request_id.map(str::to_string),
        ..Default::default()
    }
}

fn find_by_id<'a>(e: Element<'a>, id: &str) -> Option<Element<'a>> {
    e.descendants()
        .into_iter()
        .find(|x| x.attr("ID") == Some(id))
}

struct SigOpts {
    sig_alg: &'static str,
    digest_alg: &'static str,
    digest: &'static ring::digest::Algorithm,
}

const ES256: SigOpts = SigOpts {
    sig_alg: "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    digest_alg: "http://www.w3.org/2001/04/xmlenc#sha256",
    digest: &ring::digest::SHA256,
};

/// Signs the element with `id` the way IdPs do: enveloped signature at
/// `marker`, exclusive c14n, one Reference.
fn sign_at(doc: &str, id: &str, marker: &str, key: &TestKey, o: &SigOpts) -> String {
    let without = doc.replace(marker, "");
    let parsed = xml::parse(&without).unwrap();
    let target = find_by_id(parsed.root(), id).unwrap();
    let path = parsed.root().path_to(target).unwrap();
    let octets = c14n::canonicalize(
        &path,
        None,
        &Method::exclusive(None),
        &c14n::Limits::bytes(1 << 24),
    )
    .unwrap();
    let dv = STANDARD.encode(ring::digest::digest(o.digest, &octets));
    let sig = format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{}"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="{}"/><ds:DigestValue>{dv}</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>SIGVALUE</ds:SignatureValue></ds:Signature>"##,
        o.sig_alg, o.digest_alg
    );
    let with = doc.replace(marker, &sig);
    let parsed = xml::parse(&with.replace("SIGVALUE", "AAAA")).unwrap();
    let target = find_by_id(parsed.root(), id).unwrap();
    let mut path = parsed.root().path_to(target).unwrap();
    let sig_el = target
        .child_elements()
        .find(|c| c.local() == "Signature")
        .unwrap();
    path.push(sig_el);
    path.push(sig_el.child_elements().next().unwrap());
    let si = c14n::canonicalize(
        &path,
        None,
        &Method::exclusive(None),
        &c14n::Limits::bytes(1 << 24),
    )
    .unwrap();
    with.replace("SIGVALUE", &STANDARD.encode(key.sign(&si)))
}

/// A Web SSO Response; every field can be changed before rendering.
#[derive(Clone)]
struct Doc {
    response_issuer: Option<String>,
    assertion_issuer: String,
    status: String,
    destination: Option<String>,
    response_irt: Option<String>,
    issue_instant: String,
    name_id: String,
    sc_method: String,
    recipient: Option<String>,
    scd_irt: Option<String>,
    scd_not_on_or_after: Option<String>,
    not_before: Option<String>,
    not_on_or_after: Option<String>,
    /// Each inner Vec is one AudienceRestriction.
    audiences: Vec<Vec<String>>,
    extra_assertion_children: String,
    extra_response_children: String,
    attributes: String,
}

impl Default for Doc {
    fn default() -> Doc {
        Doc {
            response_issuer: Some(ISSUER.into()),
            assertion_issuer: ISSUER.into(),
            status: "urn:oasis:names:tc:SAML:2.0:status:Success".into(),
            destination: Some(ACS.into()),
            response_irt: Some(REQ.into()),
            issue_instant: "2023-11-14T22:13:00Z".into(),
            name_id: "alice@example.com".into(),
            sc_method: "urn:oasis:names:tc:SAML:2.0:cm:bearer".into(),
            recipient: Some(ACS.into()),
            scd_irt: Some(REQ.into()),
            scd_not_on_or_after: Some("2023-11-14T22:18:00Z".into()),
            not_before: Some("2023-11-14T22:12:30Z".into()),
            not_on_or_after: Some("2023-11-14T22:23:00Z".into()),
            audiences: vec![vec![AUDIENCE.into()]],
            extra_assertion_children: String::new(),
            extra_response_children: String::new(),
            attributes: concat!(
                r#"<saml:Attribute Name="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"><saml:AttributeValue>Alice@Example.com</saml:AttributeValue></saml:Attribute>"#,
                r#"<saml:Attribute Name="urn:oid:2.5.4.42" FriendlyName="givenName"><saml:AttributeValue>Alice</saml:AttributeValue></saml:Attribute>"#,
                r#"<saml:Attribute Name="sn"><saml:AttributeValue>Liddell</saml:AttributeValue></saml:Attribute>"#,
                r#"<saml:Attribute Name="displayName"><saml:AttributeValue>Alice Liddell</saml:AttributeValue></saml:Attribute>"#,
                r#"<saml:Attribute Name="memberOf"><saml:AttributeValue>admins</saml:AttributeValue><saml:AttributeValue>dev<!-- c -->ops</saml:AttributeValue></saml:Attribute>"#,
                r#"<saml:Attribute Name="department"><saml:AttributeValue>R&amp;D</saml:AttributeValue></saml:Attribute>"#
            )
            .into(),
        }
    }
}

fn opt_attr(name: &str, v: &Option<String>) -> String {
    v.as_ref()
        .map(|v| format!(r#" {name}="{v}""#))
        .unwrap_or_default()
}

impl Doc {
    fn assertion(&self, with_ns: bool) -> String {
        let ns = if with_ns {
            r#" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion""#
        } else {
            ""
        };
        let ars: String = self
            .audiences
            .iter()
            .map(|r| {
                let a: String = r
                    .iter()
                    .map(|x| format!("<saml:Audience>{x}</saml:Audience>"))
                    .collect();
                format!("<saml:AudienceRestriction>{a}</saml:AudienceRestriction>")
            })
            .collect();
        format!(
            r#"<saml:Assertion{ns} ID="_a1" Version="2.0" IssueInstant="{ii}"><saml:Issuer>{iss}</saml:Issuer>{{SIG_A}}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{nid}</saml:NameID><saml:SubjectConfirmation Method="{m}"><saml:SubjectConfirmationData{nooa}{rcp}{sirt}/></saml:SubjectConfirmation></saml:Subject><saml:Conditions{nb}{noa}>{ars}</saml:Conditions><saml:AuthnStatement AuthnInstant="{ii}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement>{attrs}</saml:AttributeStatement>{extra}</saml:Assertion>"#,
            ii = self.issue_instant,
            iss = self.assertion_issuer,
            nid = self.name_id,
            m = self.sc_method,
            nooa = opt_attr("NotOnOrAfter", &self.scd_not_on_or_after),
            rcp = opt_attr("Recipient", &self.recipient),
            sirt = opt_attr("InResponseTo", &self.scd_irt),
            nb = opt_attr("NotBefore", &self.not_before),
            noa = opt_attr("NotOnOrAfter", &self.not_on_or_after),
            attrs = self.attributes,
            extra = self.extra_assertion_children,
        )
    }

    fn response(&self) -> String {
        let iss = self
            .response_issuer
            .as_ref()
            .map(|i| format!("<saml:Issuer>{i}</saml:Issuer>"))
            .unwrap_or_default();
        format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="{ii}"{dest}{irt}>{iss}{{SIG_R}}<samlp:Status><samlp:StatusCode Value="{st}"/></samlp:Status>{extra}{a}</samlp:Response>"#,
            ii = self.issue_instant,
            dest = opt_attr("Destination", &self.destination),
            irt = opt_attr("InResponseTo", &self.response_irt),
            st = self.status,
            extra = self.extra_response_children,
            a = self.assertion(false),
        )
    }

    fn signed_assertion(&self, key: &TestKey) -> String {
        sign_at(&self.response(), "_a1", "{SIG_A}", key, &ES256).replace("{SIG_R}", "")
    }

    fn signed_response(&self, key: &TestKey) -> String {
        sign_at(
            &self.response().replace("{SIG_A}", ""),
            "_r1",
            "{SIG_R}",
            key,
            &ES256,
        )
    }

    fn signed_both(&self, key: &TestKey) -> String {
        let a = sign_at(&self.response(), "_a1", "{SIG_A}", key, &ES256);
        sign_at(&a, "_r1", "{SIG_R}", key, &ES256)
    }

    fn unsigned(&self) -> String {
        self.response()
            .replace("{SIG_A}", "")
            .replace("{SIG_R}", "")
    }
}

fn run(token: &str, p: &Provider, c: &Context) -> Result<jit_provision_core::Identity, Reason> {
    let t = parse(token).map_err(|r| r.reason)?;
    verify(&t, p, c).map_err(|r| {
        eprintln!("rejected: {r}");
        r.reason
    })
}

fn reason_of(token: &str, p: &Provider, c: &Context) -> Reason {
    match run(token, p, c) {
        Ok(i) => panic!("accepted: {i:?}"),
        Err(r) => r,
    }
}

// ------------------------------------------------------------- acceptance

#[test]
fn signed_assertion_maps_identity() {
    let key = TestKey::new();
    let p = provider_with(
        &key,
        |_| {},
        &[
            ("attributes.dept", "department"),
            ("attributes.groups", "memberOf"),
        ],
    );
    let doc = Doc::default().signed_assertion(&key);
    let id = run(&doc, &p, &ctx(Some(REQ))).unwrap();
    assert_eq!(id.provider, "idp");
    assert_eq!(id.subject, "alice@example.com");
    assert_eq!(id.email.as_deref(), Some("Alice@Example.com"));
    assert_eq!(id.name.as_deref(), Some("Alice Liddell"));
    assert_eq!(id.given_name.as_deref(), Some("Alice"));
    assert_eq!(id.family_name.as_deref(), Some("Liddell"));
    // The comment inside a value is skipped, not a truncation point.
    assert_eq!(id.idp_groups, vec!["admins", "devops"]);
    assert!(id.groups_complete);
    assert_eq!(id.attributes.get("dept"), Some(&json!("R&D")));
    assert_eq!(
        id.attributes.get("groups"),
        Some(&json!(["admins", "devops"]))
    );
    assert_eq!(id.token_id, "_a1");
    assert_eq!(id.issued_at, Some(NOW - 20));
    // Earliest of Conditions (22:23:00) and SubjectConfirmationData (22:18:00).
    assert_eq!(id.expires_at, NOW + 280);
}

#[test]
fn response_signature_and_both_are_accepted_and_all_forms_detected() {
    let key = TestKey::new();
    let p = provider_with(&key, |_| {}, &[]);
    let d = Doc::default();
    for doc in [d.signed_response(&key), d.signed_both(&key)] {
        assert_eq!(
            run(&doc, &p, &ctx(Some(REQ))).unwrap().subject,
            "alice@example.com"
        );
        // HTTP-POST binding: base64 with line breaks.
        let b64 = STANDARD.encode(doc.as_bytes());
        let wrapped: Vec<String> = b64
            .as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        assert!(run(&wrapped.join("\r\n"), &p, &ctx(Some(REQ))).is_ok());
        assert!(run(&URL_SAFE_NO_PAD.encode(doc.as_bytes()), &p, &ctx(Some(REQ))).is_ok());
        assert!(run(&format!("\n  {doc}\n"), &p, &ctx(Some(REQ))).is_ok());
    }
    let t = parse(&d.signed_both(&key)).unwrap();
    assert_eq!(t.issuer(), Some(ISSUER));
    assert_eq!(t.protocol(), Protocol::Saml);
}

#[test]
fn standalone_assertion() {
    let key = TestKey::new();
    let p = provider_with(&key, |_| {}, &[]);
    let mut d = Doc::default();
    d.scd_irt = None;
    let signed = sign_at(&d.assertion(true), "_a1", "{SIG_A}", &key, &ES256);
    assert_eq!(
        run(&signed, &p, &ctx(None)).unwrap().subject,
        "alice@example.com"
    );
    assert!(run(&URL_SAFE_NO_PAD.encode(signed.as_bytes()), &p, &ctx(None)).is_ok());
    // A request id cannot be matched by an Assertion that answers none.
    assert_eq!(
        reason_of(&signed, &p, &ctx(Some(REQ))),
        Reason::RequestMismatch
    );
    // Unsigned standalone Assertion: refused whatever saml_signed says.
    let unsigned = d.assertion(true).replace("{SIG_A}", "");
    assert_eq!(reason_of(&unsigned, &p, &ctx(None)), Reason::BadSignature);
}

#[test]
fn comment_inside_name_id_does_not_truncate() {
    let key = TestKey::new();
    let p = provider_with(&key, |_| {}, &[]);
    let mut d = Doc::default();
    d.name_id = "alice@example.com<!---->.evil.com".into();
    let id = run(&d.signed_assertion(&key), &p, &ctx(Some(REQ))).unwrap();
    assert_eq!(id.subject, "alice@example.com.evil.com");
    d.name_id = "<![CDATA[bob]]>@example.com".into();
    let id = run(&d.signed_assertion(&key), &p, &ctx(Some(REQ))).unwrap();
    assert_eq!(id.subject, "bob@example.com");
}

#[test]
fn claim_map_sources_and_entra_overage() {
    let key = TestKey::new();
    let p = provider_with(
        &key,
        |_| {},
        &[
            ("subject", "givenName"),
            ("email", "NameID"),
            ("groups", "memberOf"),
        ],
    );
    let mut d = Doc::default();
    d.attributes.push_str(r#"<saml:Attribute Name="http://schemas.microsoft.com/claims/groups.link"><saml:AttributeValue>https://graph.microsoft.com/v1.0/users/x/getMemberObjects</saml:AttributeValue></saml:Attribute>"#);
    let id = run(&d.signed_assertion(&key), &p, &ctx(Some(REQ))).unwrap();
    assert_eq!(id.subject, "Alice"); // via FriendlyName
    assert_eq!(id.email.as_deref(), Some("alice@example.com"));
    assert!(!id.groups_complete);
}

/// Attributes repeated under one Name merge into the first, values in
/// document order, across AttributeStatements; distinct Names keep the order
/// they first appear in; nil values and values with child elements are dropped.
#[test]
fn attributes_merge_by_name_in_document_order() {
    use jit_provision_core::saml::attributes::collect;
    let doc = r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<saml:AttributeStatement>
  <saml:Attribute Name="groups" FriendlyName="first"><saml:AttributeValue>a</saml:AttributeValue><saml:AttributeValue>b</saml:AttributeValue></saml:Attribute>
  <saml:Attribute Name="email"><saml:AttributeValue>x@example.com</saml:AttributeValue></saml:Attribute>
  <saml:Attribute Name="groups" FriendlyName="second"><saml:AttributeValue>c</saml:AttributeValue><saml:AttributeValue xsi:nil="true"/></saml:Attribute>
</saml:AttributeStatement>
<saml:AttributeStatement>
  <saml:Attribute Name="groups"><saml:AttributeValue>d</saml:AttributeValue><saml:AttributeValue><x/></saml:AttributeValue></saml:Attribute>
  <saml:Attribute Name="name"><saml:AttributeValue>X</saml:AttributeValue></saml:Attribute>
</saml:AttributeStatement>
</saml:Assertion>"#;
    let d = xml::parse(doc).unwrap();
    let got: Vec<(String, Option<String>, Vec<String>)> = collect(d.root())
        .into_iter()
        .map(|a| (a.name, a.friendly_name, a.values))
        .collect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        got,
        vec![
            (
                "groups".into(),
                Some("first".into()),
                s(&["a", "b", "c", "d"])
            ),
            ("email".into(), None, s(&["x@example.com"])),
            ("name".into(), None, s(&["X"])),
        ]
    );
}

// --------------------------------------------------------- reason codes

#[test]
fn status_not_success() {
    let key = TestKey::new();
    let p = provider_with(&key, |_| {}, &[]);
    let mut d = Doc::default();
    d.status = "urn:oasis:names:tc:SAML:2.0:status:Requester".into();
    assert_eq!(
        reason_of(&d.signed_response(&key), &p, &ctx(None)),
        Reason::StatusNotSuccess
    );
}

#[test]
fn issuer_mismatch() {
    let key = TestKey::new();
    let p = provider_with(&key, |_| {}, &[]);
    let mut d = Doc::default();
    d.assertion_issuer = "https://evil.example.com".into();
    assert_eq!(
        reason_of(&d.signed_assertion(&key), &p, &ctx(None)),
        Reason::UnknownIssuer
    );
    let mut d = Doc::default();
    d.response_issuer = Some("https://evil.example.com".into());
    assert_eq!(
        reason_of(&d.signed_both(&key), &p, &ctx(None)),
        Reason::UnknownIssuer
    );
    // The Response Issuer is optional.
    let mut d = Doc::default();
    d.response_issuer = None;
    assert!(run(&d.signed_assertion(&key), &p, &ctx(None)).is_ok());
}

#[test]
fn recipient_and_destination() {
    let key = TestKey::new();
    let p = provider_with(&key, |_| {}, &[]);
    let mut d = Doc::default();
    d.destination = Some("https://other.example.com/acs".into());
    assert_eq!(
        reason_of(&d.signed_both(&key), &p, &ctx(None)),
        Reason::RecipientMismatch
    );
    let mut d = Doc::default();
    d.recipient = Some("https://other.example.com/acs".into());
    assert_eq!(
        reason_of(&d.signed_both(&key), &p, &ctx(None)),
        Reason::RecipientMismatch
    );
    let mut d = Doc::default();
    d.recipient = None;
    assert_eq!(
        reason_of(&d.signed_both(&key), &p, &ctx(None)),
        Reason::RecipientMismatch
    );
    let mut d = Doc::default();
    d.sc_method = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key".into();
    assert_eq!(
        reason_of(&d.signed_both(&key), &p, &ctx(None)),
        Reason::RecipientMismatch
    );
    // Destination is required on a signed Response (SAML profiles 3.5.5.2),
    // optional on an unsigned one.
    let mut d = Doc::default();
    d.destination = None;
    assert_eq!(
        reason_of(&d.signed_both(&key), &p, &ctx(None)),
        Reason::RecipientMismatch
    );
    assert!(run(&d.signed_assertion(&key), &p, &ctx(None)).is_ok());
}

#[test]
fn request_mismatch() {
    let key = TestKey::new();
    let p = provider_with(&key, |_| {}, &[]);
    let d = Doc::default();
    assert_eq!(
        reason_of(&d.signed_both(&key), &p, &ctx(Some("_other"))),
        Reason::RequestMismatch
    );
    let mut d = Doc::default();
    d.scd_irt = Some("_other".into());
    assert_eq!(
        reason_of(&d.signed_both(&key), &p, &ctx(Some(REQ))),
        Reason::RequestMismatch
    );
    // Inconsistent InResponseTo values are refused even without a request id.
    assert_eq!(
        reason_of(&d.signed_both(&key), &p, &ctx(None)),
        Reason::RequestMismatch
    );
    // Unsolicited Response but a request id expected.
    let mut d = Doc::default();
    d.response_irt = None;
    d.scd_irt = None;
    assert_eq!(
        reason_of(&d.signed_both(&key), &p, &ctx(Some(REQ))),
        Reason::RequestMismatch
    );
    assert!(run(&d.signed_both(&key), &p, &ctx(None)).is_ok());
}

#[test]
fn time_window() {
    let key = TestKey::new();
    let p = provider_with(&key, |_| {}, &[]);
    let check = |f: &dyn Fn(&mut Doc), want: Reason| {
        let mut d = Doc::default();
        f(&mut d);
        assert_eq!(reason_of(&d.signed_both(&key), &p, &ctx(None)), want);
    };
    // Conditions NotBefore beyond the 60 s skew.
    check(
        &|d| d.not_before = Some("2023-11-14T22:14:21Z".into()),
        Reason::NotYetValid,
    );
    check(
        &|d| d.not_on_or_after = Some("2023-11-14T22:12:20Z".into()),
        Reason::Expired,
    );
    check(
        &|d| d.scd_not_on_or_after = Some("2023-11-14T22:12:20Z".into()),
        Reason::Expired,
    );
    check(
        &|d| d.issue_instant = "2023-11-14T22:15:00Z".into(),
        Reason::NotYetValid,
    );
    check(
        &|d| d.not_before = Some("2023-11-14 22:14:21Z".into()),
        Reason::Malformed,
    );
    // Within the skew: accepted.
    let mut d = Doc::default();
    d.not_before = Some("2023-11-14T22:14:19Z".into());
    d.not_on_or_after = Some("2023-11-14T22:12:21+00:00".into());
    assert!(run(&d.signed_both(&key), &p, &ctx(None)).is_ok());
    // No NotOnOrAfter anywhere: IssueInstant + 300 s.
    let mut d = Doc::default();
    d.not_on_or_after = None;
    d.scd_not_on_or_after = None;
    let id = run(&d.signed_both(&key), &p, &ctx(None)).unwrap();
    assert_eq!(id.expires_at, NOW - 20 + 300);
    let late = Context {
        now: NOW + 400,
        request_id: None,
        ..Default::default()
    };
    assert_eq!(reason_of(&d.signed_both(&key), &p, &late), Reason::Expired);
}

#[test]
fn max_age_too_old() {
    let key = TestKey::new();
    let p = provider_with(&key, |s| s.max_age = Some(600), &[]);
    let mut d = Doc::default();
    d.issue_instant = "2023-11-14T21:50:00Z".into();
    d.not_before = None;
    assert_eq!(
        reason_of(&d.signed_both(&key), &p, &ctx(None)),
        Reason::TooOld
    );
}

#[test]
fn audience() {
    let key = TestKey::new();
    let p = provider_with(&key, |_| {}, &[]);
    let check = |aud: Vec<Vec<String>>| {
        let mut d = Doc::default();
        d.audiences = aud;
        run(&d.signed_both(&key), &p, &ctx(None)).map(|_| ())
    };
    let s = |x: &str| x.to_string();
    assert_eq!(
        check(vec![vec![s("https://other")]]),
        Err(Reason::AudienceMismatch)
    );
    assert_eq!(check(vec![]), Err(Reason::AudienceMismatch));
    assert_eq!(check(vec![vec![]]), Err(Reason::AudienceMismatch));
    assert_eq!(
        check(vec![vec![s(AUDIENCE)], vec![s("https://other")]]),
        Err(Reason::AudienceMismatch)
    );
    assert_eq!(
        check(vec![
            vec![s("https://other"), s(AUDIENCE)],
            vec![s(AUDIENCE)]
        ]),
        Ok(())
    );
}

#[test]
fn missing_subject() {
    let key = TestKey::new();
    let p = provider_with(&key, |_| {}, &[]);
    let mut d = Doc::default();
    d.name_id = String::new();
    assert_eq!(
        reason_of(&d.signed_both(&key), &p, &ctx(None)),
        Reason::MissingClaim
    );
    let p = provider_with(&key, |_| {}, &[("subject", "employeeNumber")]);
    assert_eq!(
        reason_of(&Doc::default().signed_both(&key), &p, &ctx(None)),
        Reason::MissingClaim
    );
}

#[test]
fn encrypted_assertion_unsupported() {
    let key = TestKey::new();
    let p = provider_with(&key, |_| {}, &[]);
    let doc = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="2023-11-14T22:13:00Z"><saml:Issuer>{ISSUER}</saml:Issuer>{{SIG_R}}<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/></saml:EncryptedAssertion></samlp:Response>"#
    );
    let signed = sign_at(&doc, "_r1", "{SIG_R}", &key, &ES256);
    assert_eq!(reason_of(&signed, &p, &ctx(None)), Reason::Unsupported);
}

#[test]
fn signature_policy_and_failures() {
    let key = TestKey::new();
    let d = Doc::default();
    let either = provider_with(&key, |_| {}, &[]);
    assert_eq!(
        reason_of(&d.unsigned(), &either, &ctx(None)),
        Reason::BadSignature
    );
    let response = provider_with(&key, |s| s.saml_signed = SamlSigned::Response, &[]);
    assert_eq!(
        reason_of(&d.signed_assertion(&key), &response, &ctx(None)),
        Reason::BadSignature
    );
    assert!(run(&d.signed_response(&key), &response, &ctx(None)).is_ok());
    let assertion = provider_with(&key, |s| s.saml_signed = SamlSigned::Assertion, &[]);
    assert_eq!(
        reason_of(&d.signed_response(&key), &assertion, &ctx(None)),
        Reason::BadSignature
    );
    let both = provider_with(&key, |s| s.saml_signed = SamlSigned::Both, &[]);
    assert_eq!(
        reason_of(&d.signed_assertion(&key), &both, &ctx(None)),
        Reason::BadSignature
    );
    assert!(run(&d.signed_both(&key), &both, &ctx(None)).is_ok());

    // Another key: the token's KeyInfo never matters, only the provider's.
    let other = TestKey::new();
    assert_eq!(
        reason_of(&d.signed_both(&other), &either, &ctx(None)),
        Reason::BadSignature
    );
    // Several configured certificates (rotation): any one may verify.
    let mut s = settings();
    s.name = "rotating".into();
    let rot = Provider::new(s, None, vec![other.pem(), key.pem()], &[]).unwrap();
    assert!(run(&d.signed_both(&key), &rot, &ctx(None)).is_ok());

    // Tampered signed content.
    let tampered = d
        .signed_assertion(&key)
        .replace("alice@example.com", "admin@example.com");
    assert_eq!(
        reason_of(&tampered, &either, &ctx(None)),
        Reason::BadSignature
    );
    // Tampered SignatureValue.
    let signed = d.signed_assertion(&key);
    let start = signed.find("<ds:SignatureValue>").unwrap() + 19;
    let mut bytes = signed.into_bytes();
    bytes[start + 5] = if bytes[start + 5] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        reason_of(&String::from_utf8(bytes).unwrap(), &either, &ctx(None)),
        Reason::BadSignature
    );
}

#[test]
fn algorithm_allow_list() {
    let key = TestKey::new();
    let d = Doc::default();
    const SHA1_DIGEST: SigOpts = SigOpts {
        sig_alg: "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        digest_alg: "http://www.w3.org/2000/09/xmldsig#sha1",
        digest: &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
    };
    let doc = sign_at(&d.response(), "_a1", "{SIG_A}", &key, &SHA1_DIGEST).replace("{SIG_R}", "");
    let strict = provider_with(&key, |_| {}, &[]);
    assert_eq!(
        reason_of(&doc, &strict, &ctx(None)),
        Reason::UnsupportedAlgorithm
    );
    let legacy = provider_with(
        &key,
        |s| s.algorithms = Some(vec!["ecdsa-sha256".into(), "sha1".into()]),
        &[],
    );
    assert!(run(&doc, &legacy, &ctx(None)).is_ok());
    let no_ec = provider_with(
        &key,
        |s| s.algorithms = Some(vec!["rsa-sha256".into(), "sha256".into()]),
        &[],
    );
    assert_eq!(
        reason_of(&d.signed_assertion(&key), &no_ec, &ctx(None)),
        Reason::UnsupportedAlgorithm
    );
    // Unknown transforms (XPath) are refused.
    let xpath = d.signed_assertion(&key).replace(
        r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#,
        r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>1</ds:XPath></ds:Transform>"#,
    );
    assert_eq!(
        reason_of(&xpath, &strict, &ctx(None)),
        Reason::UnsupportedAlgorithm
    );
}

#[test]
fn signature_structure() {
    let key = TestKey::new();
    let p = provider_with(&key, |_| {}, &[]);
    let d = Doc::default();
    let signed = d.signed_assertion(&key);
    // Two References.
    let two_refs = {
        let start = signed.find("<ds:Reference").unwrap();
        let end = signed.find("</ds:Reference>").unwrap() + 15;
        let r = &signed[start..end];
        signed.replacen(r, &format!("{r}{r}"), 1)
    };
    assert_eq!(reason_of(&two_refs, &p, &ctx(None)), Reason::BadSignature);
    // ds:Object inside the Signature.
    let object = signed.replace("</ds:Signature>", "<ds:Object>x</ds:Object></ds:Signature>");
    assert_eq!(reason_of(&object, &p, &ctx(None)), Reason::BadSignature);
    // A Signature inside Status.
    let mut d2 = Doc::default();
    d2.status = "urn:oasis:names:tc:SAML:2.0:status:Success\"/><ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"/><samlp:StatusDetail x=\"".into();
    let misplaced = d2.signed_assertion(&key);
    assert_eq!(reason_of(&misplaced, &p, &ctx(None)), Reason::BadSignature);
    // Reference to the whole document.
    let whole = signed.replace(r##"URI="#_a1""##, r#"URI="""#);
    assert_eq!(reason_of(&whole, &p, &ctx(None)), Reason::BadSignature);
}

// ------------------------------------------------------ XML reader limits

fn xml_reason(s: &str) -> Reason {
    xml::parse(s).unwrap_err().reason
}

#[test]
fn doctype_and_entities_refused() {
    assert_eq!(
        xml_reason(r#"<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>"#),
        Reason::Malformed
    );
    assert_eq!(
        xml_reason("<!DOCTYPE r SYSTEM \"http://x\"><r/>"),
        Reason::Malformed
    );
    assert_eq!(xml_reason("<r>&e;</r>"), Reason::Malformed);
    assert_eq!(xml_reason("<r a=\"&e;\"/>"), Reason::Malformed);
    assert_eq!(xml_reason("<r>&#0;</r>"), Reason::Malformed);
    assert_eq!(xml_reason("<r>&#xD800;</r>"), Reason::Malformed);
    assert_eq!(xml_reason("<r>\u{1}</r>"), Reason::Malformed);
    let ok = xml::parse("<r a='&lt;&#x41;&#66;'>&amp;&quot;&apos;&gt;&#x1F600;</r>").unwrap();
    assert_eq!(ok.root().attr("a"), Some("<AB"));
    assert_eq!(ok.root().text(), "&\"'>😀");
}

#[test]
fn structure_refused() {
    for bad in [
        "<r/><r/>",
        "<r/>text",
        "text<r/>",
        "<r>",
        "<r></s>",
        "<p:r/>",
        "<r xmlns:p=\"\"/>",
        "<r a=\"1\" a=\"2\"/>",
        "<r xmlns:p=\"u\" xmlns:q=\"u\" p:a=\"1\" q:a=\"2\"/>",
        "<r p:a=\"1\" p:a=\"2\" xmlns:p=\"u\"/>",
        "<r xmlns:p=\"u\" xmlns:p=\"v\"/>",
        "<r xmlns=\"u\" xmlns=\"u\"/>",
        "<r xmlns:xml=\"http://www.w3.org/XML/1998/namespace\" xmlns:xml=\"http://www.w3.org/XML/1998/namespace\"/>",
        "<r a=\"<\"/>",
        "<r><?xml version=\"1.0\"?></r>",
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r/>",
        "<?xml version=\"1.1\"?><r/>",
        "<r><!-- a -- b --></r>",
        "",
    ] {
        assert_eq!(xml_reason(bad), Reason::Malformed, "{bad:?}");
    }
    assert!(xml::parse(
        "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c --><r/>\n<?pi x?>\n"
    )
    .is_ok());
}

/// A prefix may be declared after an attribute that uses it, on the same
/// tag; unprefixed attributes are in no namespace, whatever the default.
#[test]
fn namespaces_resolved_per_tag() {
    let d = xml::parse(
        r#"<r p:a="1" b="2" xmlns:p="urn:p" xmlns="urn:d"><p:c xml:lang="en"/><e/></r>"#,
    )
    .unwrap();
    let names = |e: Element| {
        e.attrs()
            .map(|a| {
                (
                    a.prefix.map(str::to_string),
                    a.ns.map(str::to_string),
                    a.local.to_string(),
                    a.value.to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let s = |v: &str| Some(v.to_string());
    assert_eq!(d.root().ns(), Some("urn:d"));
    let mut got = names(d.root());
    got.sort();
    assert_eq!(
        got,
        vec![
            (None, None, "b".into(), "2".into()),
            (s("p"), s("urn:p"), "a".into(), "1".into()),
        ]
    );
    let kids: Vec<Element> = d.root().child_elements().collect();
    assert_eq!(kids[0].ns(), Some("urn:p"));
    assert_eq!(kids[0].prefix(), Some("p"));
    assert_eq!(
        names(kids[0]),
        vec![(s("xml"), s(xml::XML_NS), "lang".into(), "en".into())]
    );
    assert_eq!(kids[1].ns(), Some("urn:d"));
    assert_eq!(
        xml_reason(r#"<r q:a="1" xmlns:p="urn:p"/>"#),
        Reason::Malformed
    );
}

#[test]
fn duplicate_ids_refused() {
    assert_eq!(
        xml_reason(r#"<r><a ID="x"/><b ID="x"/></r>"#),
        Reason::Malformed
    );
    assert_eq!(
        xml_reason(r#"<r ID="x"><b Id="x"/></r>"#),
        Reason::Malformed
    );
    assert!(xml::parse(r#"<r ID="x"><b ID="y"/></r>"#).is_ok());
}

#[test]
fn depth_and_size_limits() {
    let nest = |n: usize| format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
    assert!(xml::parse(&nest(xml::MAX_DEPTH)).is_ok());
    assert_eq!(xml_reason(&nest(xml::MAX_DEPTH + 1)), Reason::Malformed);
    let big = format!("<r>{}</r>", "x".repeat(xml::MAX_DOCUMENT_BYTES));
    assert_eq!(xml_reason(&big), Reason::Malformed);
    assert_eq!(parse(&big).unwrap_err().reason, Reason::Malformed);
    let many_attrs: String = (0..=xml::MAX_ATTRIBUTES)
        .map(|i| format!(" a{i}=\"1\""))
        .collect();
    assert_eq!(xml_reason(&format!("<r{many_attrs}/>")), Reason::Malformed);
}

#[test]
fn token_detection() {
    assert_eq!(parse("not a token").unwrap_err().reason, Reason::Malformed);
    assert_eq!(parse("<html/>").unwrap_err().reason, Reason::Malformed);
    assert_eq!(
        parse(&STANDARD.encode("<html/>")).unwrap_err().reason,
        Reason::Malformed
    );
    assert_eq!(
        parse(&STANDARD.encode("hello")).unwrap_err().reason,
        Reason::Malformed
    );
}

// ------------------------------------------------------------- c14n

fn c14n_of(doc: &str, apex_local: &str, method: &Method) -> String {
    let d = xml::parse(doc).unwrap();
    let target = d
        .root()
        .descendants()
        .into_iter()
        .find(|e| e.local() == apex_local)
        .unwrap();
    let path = d.root().path_to(target).unwrap();
    String::from_utf8(
        c14n::canonicalize(&path, None, method, &c14n::Limits::bytes(1 << 24)).unwrap(),
    )
    .unwrap()
}

#[test]
fn c14n_syntax() {
    let doc = "<?xml version=\"1.0\"?>\r\n<doc a='1'  b = \"x&#9;y&#10;z\r\nw\" >\r\n<!-- c --><e1   /><e2 c=\"&quot;&amp;&lt;&gt;\">a&amp;b&lt;c&gt;d&#13;<![CDATA[<x>&]]></e2><?pi  data ?></doc>";
    let want = "<doc a=\"1\" b=\"x&#x9;y&#xA;z w\">\n<e1></e1><e2 c=\"&quot;&amp;&lt;>\">a&amp;b&lt;c&gt;d&#xD;&lt;x&gt;&amp;</e2><?pi data ?></doc>";
    assert_eq!(c14n_of(doc, "doc", &Method::Inclusive), want);
    assert_eq!(c14n_of(doc, "doc", &Method::exclusive(None)), want);
}

#[test]
fn c14n_namespaces_exclusive_vs_inclusive() {
    let doc = r#"<a:root xmlns:a="urn:a" xmlns:b="urn:b" xmlns:c="urn:c" xmlns="urn:d"><a:child z="2" b:attr="1" a="3"><inner/><c:x xmlns=""/></a:child></a:root>"#;
    assert_eq!(
        c14n_of(doc, "child", &Method::exclusive(None)),
        r#"<a:child xmlns:a="urn:a" xmlns:b="urn:b" a="3" z="2" b:attr="1"><inner xmlns="urn:d"></inner><c:x xmlns:c="urn:c"></c:x></a:child>"#
    );
    assert_eq!(
        c14n_of(doc, "child", &Method::Inclusive),
        r#"<a:child xmlns="urn:d" xmlns:a="urn:a" xmlns:b="urn:b" xmlns:c="urn:c" a="3" z="2" b:attr="1"><inner></inner><c:x xmlns=""></c:x></a:child>"#
    );
    // PrefixList: listed prefixes are rendered as in inclusive c14n.
    assert_eq!(
        c14n_of(doc, "child", &Method::exclusive(Some("c #default"))),
        r#"<a:child xmlns="urn:d" xmlns:a="urn:a" xmlns:b="urn:b" xmlns:c="urn:c" a="3" z="2" b:attr="1"><inner></inner><c:x xmlns=""></c:x></a:child>"#
    );
    // Propagation: a namespace rendered on an ancestor is not repeated.
    let nested = r#"<a:r xmlns:a="urn:a"><a:x><a:y><a:z xmlns:a="urn:a2"/></a:y></a:x></a:r>"#;
    assert_eq!(
        c14n_of(nested, "x", &Method::exclusive(None)),
        r#"<a:x xmlns:a="urn:a"><a:y><a:z xmlns:a="urn:a2"></a:z></a:y></a:x>"#
    );
    // Superfluous redeclarations are dropped in both methods.
    let redecl = r#"<r xmlns:p="urn:p"><p:s xmlns:p="urn:p"><p:t/></p:s></r>"#;
    assert_eq!(
        c14n_of(redecl, "r", &Method::Inclusive),
        r#"<r xmlns:p="urn:p"><p:s><p:t></p:t></p:s></r>"#
    );
    assert_eq!(
        c14n_of(redecl, "r", &Method::exclusive(None)),
        r#"<r><p:s xmlns:p="urn:p"><p:t></p:t></p:s></r>"#
    );
    // Default namespace undeclared below a rendered default.
    let undecl = r#"<r xmlns="urn:d"><s xmlns=""><t/></s></r>"#;
    assert_eq!(
        c14n_of(undecl, "r", &Method::exclusive(None)),
        r#"<r xmlns="urn:d"><s xmlns=""><t></t></s></r>"#
    );
    assert_eq!(
        c14n_of(undecl, "s", &Method::exclusive(None)),
        r#"<s><t></t></s>"#
    );
    assert_eq!(
        c14n_of(undecl, "s", &Method::Inclusive),
        r#"<s><t></t></s>"#
    );
}

#[test]
fn c14n_xml_attributes_inherited_only_inclusive() {
    let doc = r#"<r xml:lang="en" xml:space="preserve"><c xml:lang="fr"><d/></c></r>"#;
    assert_eq!(
        c14n_of(doc, "c", &Method::Inclusive),
        r#"<c xml:lang="fr" xml:space="preserve"><d></d></c>"#
    );
    assert_eq!(
        c14n_of(doc, "c", &Method::exclusive(None)),
        r#"<c xml:lang="fr"><d></d></c>"#
    );
}

#[test]
fn c14n_enveloped_exclusion() {
    let d = xml::parse(
        r#"<r ID="x"><a/><ds:Signature xmlns:ds="urn:ds"><ds:v/></ds:Signature><b/></r>"#,
    )
    .unwrap();
    let sig = d.root().child_elements().nth(1).unwrap();
    let out = c14n::canonicalize(
        &[d.root()],
        Some(sig),
        &Method::exclusive(None),
        &c14n::Limits::bytes(1 << 24),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"<r ID="x"><a></a><b></b></r>"#
    );
}

// ----------------------------------------- wrapping, on a real fixture

fn corpus_file(rel: &str) -> String {
    let dir = std::env::var("JIT_CORPUS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus").to_string()
    });
    let p = std::path::Path::new(&dir).join(rel);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("corpus file {} is required: {e}", p.display()))
}

/// xml-crypto `valid_saml.xml`: Response and Assertion both signed (rsa-sha1).
fn feide() -> (String, Provider, Context) {
    let doc = corpus_file("saml/xml-crypto/test/static/valid_saml.xml");
    let mut algs: Vec<String> = jit_provision_core::provider::DEFAULT_ALGORITHMS
        .iter()
        .map(|s| s.to_string())
        .collect();
    algs.push("rsa-sha1".into());
    algs.push("sha1".into());
    let s = ProviderSettings {
        name: "feide".into(),
        protocol: Protocol::Saml,
        issuer: "https://openidp.feide.no".into(),
        audiences: vec!["passport-saml".into()],
        algorithms: Some(algs),
        acs_urls: vec!["http://localhost:3000/login/callback".into()],
        saml_signed: SamlSigned::Either,
        clock_skew: 0,
        max_age: None,
        email_domains: None,
        enabled: true,
    };
    let cert = corpus_file("saml/xml-crypto/test/static/feide_public.pem");
    let p = Provider::new(s, None, vec![cert], &[]).unwrap();
    let c = Context {
        now: jit_provision_core::saml::time::parse_datetime("2012-07-03T11:33:20Z").unwrap(),
        request_id: Some("_d766d16611ac0d14121b".into()),
        ..Default::default()
    };
    (doc, p, c)
}

const FEIDE_ASSERTION_ID: &str = "pfx66496e6c-3c29-230d-6d47-b245434b872d";
const FEIDE_NAME_ID: &str = "_6c5dcaa3053321ff4d63785fbc3f67c59a129cde82";

fn assertion_span(doc: &str) -> (usize, usize) {
    let start = doc.find("<saml:Assertion").unwrap();
    let end = doc.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    (start, end)
}

/// An attacker's Assertion: the genuine one with a new ID and NameID, its
/// signature stripped.
fn evil_copy(doc: &str) -> String {
    let (s, e) = assertion_span(doc);
    let a = &doc[s..e];
    let sig_s = a.find("<ds:Signature").unwrap();
    let sig_e = a.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    format!("{}{}", &a[..sig_s], &a[sig_e..])
        .replace(FEIDE_ASSERTION_ID, "_evil")
        .replace(FEIDE_NAME_ID, "admin")
}

#[test]
fn fixture_baseline_and_comment_injection() {
    let (doc, p, c) = feide();
    assert_eq!(run(&doc, &p, &c).unwrap().subject, FEIDE_NAME_ID);
    // SHA-1 is refused unless the provider lists it.
    let mut s = p.settings.clone();
    s.algorithms = None;
    let strict = Provider::new(s, None, p.certificates.clone(), &[]).unwrap();
    assert_eq!(reason_of(&doc, &strict, &c), Reason::UnsupportedAlgorithm);
    // A comment in the signed NameID keeps the signature valid (c14n drops
    // comments); the value read must still be the whole text.
    let injected = doc.replacen(
        FEIDE_NAME_ID,
        "_6c5dcaa3053321ff4d63<!-- x -->785fbc3f67c59a129cde82",
        1,
    );
    assert_ne!(injected, doc);
    assert_eq!(run(&injected, &p, &c).unwrap().subject, FEIDE_NAME_ID);
}

#[test]
fn xsw_mutations_rejected() {
    let (doc, p, c) = feide();
    let (s, e) = assertion_span(&doc);
    let genuine = &doc[s..e];
    let evil = evil_copy(&doc);

    // XSW: evil Assertion as a sibling before / after the signed one.
    let before = format!("{}{}{}", &doc[..s], evil, &doc[s..]);
    assert_eq!(reason_of(&before, &p, &c), Reason::Malformed);
    let after = format!("{}{}{}", &doc[..e], evil, &doc[e..]);
    assert_eq!(reason_of(&after, &p, &c), Reason::Malformed);

    // Signed Assertion moved into samlp:Extensions, evil one in its place.
    let ext = format!(
        "{}<samlp:Extensions>{}</samlp:Extensions>{}{}",
        &doc[..s],
        genuine,
        evil,
        &doc[e..]
    );
    assert_eq!(reason_of(&ext, &p, &c), Reason::Malformed);

    // Signed Assertion wrapped in the evil one's Advice.
    let advice = evil.replacen(
        "<saml:Conditions",
        &format!("<saml:Advice>{genuine}</saml:Advice><saml:Conditions"),
        1,
    );
    let adv = format!("{}{}{}", &doc[..s], advice, &doc[e..]);
    assert_eq!(reason_of(&adv, &p, &c), Reason::Malformed);

    // Signed Assertion hidden in the Response Signature's ds:Object.
    let obj = format!("{}{}{}", &doc[..s], evil, &doc[e..]).replacen(
        "</ds:Signature>",
        &format!("<ds:Object>{genuine}</ds:Object></ds:Signature>"),
        1,
    );
    assert_eq!(reason_of(&obj, &p, &c), Reason::Malformed);

    // Evil Assertion alone (genuine removed): its stripped signature is gone
    // and the Response signature no longer matches.
    let replaced = format!("{}{}{}", &doc[..s], evil, &doc[e..]);
    assert_eq!(reason_of(&replaced, &p, &c), Reason::BadSignature);

    // Same ID on another element.
    let dup = doc.replacen(
        "<samlp:Status>",
        &format!("<samlp:Extensions ID=\"{FEIDE_ASSERTION_ID}\"/><samlp:Status>"),
        1,
    );
    assert_eq!(reason_of(&dup, &p, &c), Reason::Malformed);

    // ID changed on the signed Assertion only: the Reference no longer
    // points at the Signature's parent.
    let reid = doc.replacen(&format!("ID=\"{FEIDE_ASSERTION_ID}\""), "ID=\"_other\"", 1);
    assert_eq!(reason_of(&reid, &p, &c), Reason::BadSignature);

    // NameID changed inside the signed Assertion.
    let edited = doc.replacen(FEIDE_NAME_ID, "admin", 1);
    assert_eq!(reason_of(&edited, &p, &c), Reason::BadSignature);

    // The Assertion's Signature moved into the Response: the Reference now
    // points at an element that is not its parent.
    let a_sig_s = s + genuine.find("<ds:Signature").unwrap();
    let a_sig_e = s + genuine.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let sig = &doc[a_sig_s..a_sig_e];
    let moved = format!("{}{}{}", &doc[..a_sig_s], &doc[a_sig_e..], "").replacen(
        "<samlp:Status>",
        &format!("{sig}<samlp:Status>"),
        1,
    );
    assert_eq!(reason_of(&moved, &p, &c), Reason::BadSignature);
}

#[test]
fn provider_certificates_validated() {
    let mut s = settings();
    let bad = |pem: &str| Provider::new(settings(), None, vec![pem.to_string()], &[]).is_err();
    assert!(bad("not a pem"));
    assert!(bad(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"
    ));
    assert!(bad(
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"
    ));
    assert!(bad("-----BEGIN CERTIFICATE-----\nMIIB"));
    assert!(Provider::new(settings(), None, vec![], &[]).is_err());
    s.acs_urls.clear();
    assert!(Provider::new(s, None, vec![TestKey::new().pem()], &[]).is_err());
    // Real certificates: RSA (PEM and bare base64 DER), EC (DER converted).
    let cert = corpus_file("saml/xml-crypto/test/static/feide_public.pem");
    assert!(Provider::new(settings(), None, vec![cert.clone()], &[]).is_ok());
    let body: String = cert.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(Provider::new(settings(), None, vec![body], &[]).is_ok());
    let rsa_pub = corpus_file("saml/xml-crypto/test/static/saml_external_ns.pem");
    assert!(Provider::new(settings(), None, vec![rsa_pub], &[]).is_ok());
}

#[test]
fn namespace_limit() {
    let decls =
        |n: usize| -> String { (0..n).map(|i| format!(" xmlns:p{i}=\"urn:{i}\"")).collect() };
    // Spread over nested elements, 60 per element.
    let ok = format!("<r{}><s{}/></r>", decls(60), decls(60).replace("p", "q"));
    assert!(xml::parse(&ok).is_ok());
    let bad = format!(
        "<r{}><s{}><t{}/></s></r>",
        decls(60),
        decls(60).replace("p", "q"),
        decls(60).replace("p", "z")
    );
    assert_eq!(xml_reason(&bad), Reason::Malformed);
}

/// Truncations and single-byte mutations of a signed fixture never panic
/// and are never accepted with another subject.
#[test]
fn no_panic_on_mutations() {
    let (doc, p, c) = feide();
    let bytes = doc.as_bytes();
    for i in (0..bytes.len()).step_by(37) {
        if let Ok(t) = std::str::from_utf8(&bytes[..i]) {
            let _ = parse(t).map(|t| verify(&t, &p, &c));
        }
        for b in [b'<', b'&', b'"', b'>', b' ', b'x'] {
            let mut m = bytes.to_vec();
            m[i] = b;
            if let Ok(t) = std::str::from_utf8(&m) {
                if let Ok(Ok(id)) = parse(t).map(|t| verify(&t, &p, &c)) {
                    assert_eq!(id.subject, FEIDE_NAME_ID);
                }
            }
        }
    }
}

#[test]
fn assertion_without_id_is_malformed_when_only_the_response_is_signed() {
    // The Assertion ID is the replay key; without one every such Assertion
    // would share a key (or, worse, none).
    let key = TestKey::new();
    let p = provider_with(&key, |_| {}, &[]);
    let doc = Doc::default()
        .response()
        .replace(r#" ID="_a1""#, "")
        .replace("{SIG_A}", "");
    let doc = sign_at(&doc, "_r1", "{SIG_R}", &key, &ES256);
    assert_eq!(reason_of(&doc, &p, &ctx(Some(REQ))), Reason::Malformed);
}

// ------------------------------------------ issue 13: profile rules (3, 5)

/// Signs only the Assertion of an already rendered Response text.
fn sign_assertion_of(response: &str, key: &TestKey) -> String {
    sign_at(response, "_a1", "{SIG_A}", key, &ES256).replace("{SIG_R}", "")
}

/// Signs only the Response (the Assertion unsigned) of a rendered text.
fn sign_response_of(response: &str, key: &TestKey) -> String {
    sign_at(
        &response.replace("{SIG_A}", ""),
        "_r1",
        "{SIG_R}",
        key,
        &ES256,
    )
}

const AUTHN_STATEMENT: &str = r#"<saml:AuthnStatement AuthnInstant="2023-11-14T22:13:00Z"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"#;

/// A request id is satisfied only by the bearer SubjectConfirmationData
/// InResponseTo of the signed Assertion, or by the Response InResponseTo
/// when the Response signature itself verified: an unsigned Response cannot
/// vouch for the request an Assertion answers.
#[test]
fn request_id_needs_a_signed_in_response_to() {
    let key = TestKey::new();
    let mut d = Doc::default();
    d.scd_irt = None; // the signed Assertion answers no request
    for policy in [SamlSigned::Assertion, SamlSigned::Either] {
        let p = provider_with(&key, |s| s.saml_signed = policy, &[]);
        // Unsigned Response claiming InResponseTo = the request id.
        assert_eq!(
            reason_of(&d.signed_assertion(&key), &p, &ctx(Some(REQ))),
            Reason::RequestMismatch,
            "{policy:?}"
        );
        // Without a request id the same document is fine.
        assert!(run(&d.signed_assertion(&key), &p, &ctx(None)).is_ok());
    }
    // A signed Response's InResponseTo does bind the request.
    let either = provider_with(&key, |_| {}, &[]);
    assert!(run(&d.signed_response(&key), &either, &ctx(Some(REQ))).is_ok());
    assert!(run(&d.signed_both(&key), &either, &ctx(Some(REQ))).is_ok());
    // So does the signed Assertion's own InResponseTo.
    let d = Doc::default();
    assert!(run(&d.signed_assertion(&key), &either, &ctx(Some(REQ))).is_ok());
    // A signed InResponseTo that differs stays a mismatch, whatever the
    // (unsigned) Response says.
    let mut d = Doc::default();
    d.scd_irt = Some("_other".into());
    d.response_irt = Some("_other".into());
    assert_eq!(
        reason_of(&d.signed_assertion(&key), &either, &ctx(Some(REQ))),
        Reason::RequestMismatch
    );
    // The Response InResponseTo, when the caller gives a request id, must
    // still match too (signed Assertion binds it, Response says another).
    let mut d = Doc::default();
    d.response_irt = Some("_other".into());
    assert_eq!(
        reason_of(&d.signed_assertion(&key), &either, &ctx(Some(REQ))),
        Reason::RequestMismatch
    );
}

/// SAML profiles 3.5.5.2 / 4.1.4.5: a signed Response must carry
/// Destination. An unsigned Response (Assertion signed) may omit it: its
/// Destination would be the attacker's to write anyway.
#[test]
fn signed_response_without_destination_is_a_recipient_mismatch() {
    let key = TestKey::new();
    let p = provider_with(&key, |_| {}, &[]);
    let mut d = Doc::default();
    d.destination = None;
    for doc in [d.signed_response(&key), d.signed_both(&key)] {
        let t = parse(&doc).unwrap();
        let r = verify(&t, &p, &ctx(Some(REQ))).unwrap_err();
        assert_eq!(r.reason, Reason::RecipientMismatch, "{r}");
        assert!(r.detail.contains("Destination"), "{r}");
    }
    assert!(run(&d.signed_assertion(&key), &p, &ctx(Some(REQ))).is_ok());
    // A standalone Assertion has no Destination at all.
    let signed = sign_at(&d.assertion(true), "_a1", "{SIG_A}", &key, &ES256);
    assert!(run(&signed, &p, &ctx(Some(REQ))).is_ok());
}

/// SAML profiles 4.1.4.2: the Assertion must hold an AuthnStatement.
#[test]
fn assertion_without_authn_statement_is_malformed() {
    let key = TestKey::new();
    let p = provider_with(&key, |_| {}, &[]);
    let response = Doc::default().response();
    assert!(response.contains(AUTHN_STATEMENT));
    let without = response.replace(AUTHN_STATEMENT, "");
    for doc in [
        sign_assertion_of(&without, &key),
        sign_response_of(&without, &key),
    ] {
        let t = parse(&doc).unwrap();
        let r = verify(&t, &p, &ctx(Some(REQ))).unwrap_err();
        assert_eq!(r.reason, Reason::Malformed, "{r}");
        assert_eq!(
            r.detail,
            "Assertion has no AuthnStatement (Web SSO profile 4.1.4.2)"
        );
    }
    // Standalone Assertion too.
    let standalone = Doc::default().assertion(true).replace(AUTHN_STATEMENT, "");
    let signed = sign_at(&standalone, "_a1", "{SIG_A}", &key, &ES256);
    assert_eq!(reason_of(&signed, &p, &ctx(Some(REQ))), Reason::Malformed);
}

/// SAML core 2.5.1 / 2.5.1.5: a condition the relying party does not
/// understand makes the Assertion Indeterminate. Understood: AudienceRestriction,
/// OneTimeUse (the replay cache enforces it), ProxyRestriction (nothing is
/// proxied).
#[test]
fn unknown_conditions_are_unsupported() {
    let key = TestKey::new();
    let p = provider_with(&key, |_| {}, &[]);
    let with_condition = |extra: &str| {
        let response = Doc::default().response();
        let at = "</saml:Conditions>";
        assert!(response.contains(at));
        sign_assertion_of(&response.replacen(at, &format!("{extra}{at}"), 1), &key)
    };
    for (extra, name) in [
        (
            r#"<saml:Condition xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="x:Geo" xmlns:x="urn:x"/>"#,
            "Condition",
        ),
        (r#"<x:Custom xmlns:x="urn:x"/>"#, "Custom"),
        (
            r#"<saml:OneTimeUse xmlns:saml="urn:not-the-assertion-ns"/>"#,
            "OneTimeUse",
        ),
    ] {
        let t = parse(&with_condition(extra)).unwrap();
        let r = verify(&t, &p, &ctx(Some(REQ))).unwrap_err();
        assert_eq!(r.reason, Reason::Unsupported, "{r}");
        assert!(r.detail.contains(name), "{r}");
    }
    for ok in [
        "<saml:OneTimeUse/>",
        r#"<saml:ProxyRestriction Count="0"><saml:Audience>https://other</saml:Audience></saml:ProxyRestriction>"#,
        "<saml:OneTimeUse/><saml:ProxyRestriction/>",
    ] {
        assert!(
            run(&with_condition(ok), &p, &ctx(Some(REQ))).is_ok(),
            "{ok}"
        );
    }
}

// ------------------------------------------------ what a rejection records

/// A refusal after the signatures verified names the Assertion by its ID
/// (the replay key) and its subject; before, nothing is named, so the trace
/// falls back to the hash of the token.
#[test]
fn rejection_carries_verified_assertion_id_only_after_the_signature() {
    use jit_provision_core::Verified;
    let key = TestKey::new();
    let p = provider_with(&key, |_| {}, &[]);
    let rejection = |token: &str, p: &Provider, c: &Context| {
        let t = parse(token).unwrap();
        verify(&t, p, c).unwrap_err()
    };
    let verified = |subject: Option<&str>| {
        Some(Verified {
            token_id: "_a1".into(),
            subject: subject.map(str::to_string),
        })
    };
    let mut d = Doc::default();
    d.audiences = vec![vec!["https://other".into()]];
    let t = d.signed_both(&key);
    let r = rejection(&t, &p, &ctx(None));
    assert_eq!(r.reason, Reason::AudienceMismatch);
    assert_eq!(r.verified, verified(Some("alice@example.com")));
    assert_eq!(r.token_id(&t), "_a1");
    let mut d = Doc::default();
    d.not_on_or_after = Some("2023-11-14T22:12:20Z".into());
    let r = rejection(&d.signed_assertion(&key), &p, &ctx(None));
    assert_eq!(r.reason, Reason::Expired);
    assert_eq!(r.verified, verified(Some("alice@example.com")));
    let mut d = Doc::default();
    d.recipient = Some("https://elsewhere/acs".into());
    let r = rejection(&d.signed_both(&key), &p, &ctx(None));
    assert_eq!(r.reason, Reason::RecipientMismatch);
    assert_eq!(r.verified, verified(Some("alice@example.com")));
    let r = rejection(&Doc::default().signed_both(&key), &p, &ctx(Some("_other")));
    assert_eq!(r.reason, Reason::RequestMismatch);
    assert_eq!(r.verified, verified(Some("alice@example.com")));
    // The subject as the claim map reads it; none when it is missing.
    let by_attr = provider_with(&key, |_| {}, &[("subject", "displayName")]);
    let mut d = Doc::default();
    d.audiences = vec![vec!["https://other".into()]];
    let r = rejection(&d.signed_both(&key), &by_attr, &ctx(None));
    assert_eq!(r.verified, verified(Some("Alice Liddell")));
    let mut d = Doc::default();
    d.name_id = String::new();
    let r = rejection(&d.signed_both(&key), &p, &ctx(None));
    assert_eq!(r.reason, Reason::MissingClaim);
    assert_eq!(r.verified, verified(None));
    // Domain check after the mapping.
    let domains = provider_with(
        &key,
        |s| s.email_domains = Some(vec!["other.example".into()]),
        &[],
    );
    let r = rejection(&Doc::default().signed_both(&key), &domains, &ctx(None));
    assert_eq!(r.reason, Reason::DomainNotAllowed);
    assert_eq!(r.verified, verified(Some("alice@example.com")));

    // At or before the signature check: nothing verified.
    let r = rejection(&Doc::default().unsigned(), &p, &ctx(None));
    assert_eq!(r.reason, Reason::BadSignature);
    assert_eq!(r.verified, None);
    let other = TestKey::new();
    let forged = Doc::default().signed_both(&other);
    let r = rejection(&forged, &p, &ctx(None));
    assert_eq!(r.reason, Reason::BadSignature);
    assert_eq!(r.verified, None);
    assert_eq!(
        r.token_id(&forged),
        jit_provision_core::fingerprint(&forged)
    );
    let mut d = Doc::default();
    d.status = "urn:oasis:names:tc:SAML:2.0:status:Requester".into();
    assert_eq!(
        rejection(&d.signed_both(&key), &p, &ctx(None)).verified,
        None
    );
}
