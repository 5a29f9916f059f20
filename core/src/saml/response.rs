//! The SAML 2.0 Web SSO profile checks, and the signature-wrapping defence.
//!
//! Wrapping defence, in one sentence: the document must hold exactly one
//! Assertion-like element anywhere (EncryptedAssertion and Assertions inside
//! Advice, Extensions or ds:Object included); that Assertion is found by
//! structure (the root, or a direct child of the root Response), every
//! ds:Signature must be a direct child of the root Response or of that
//! Assertion and verify over exactly its parent, and every identity value is
//! read from that same node (a reference into the tree, never a second
//! lookup by ID or path).
//!
//! Order of checks (the first failure is reported): Status; structure and
//! exactly one Assertion; EncryptedAssertion (`unsupported`); signature
//! placement and `saml_signed`; every Signature; Issuers; Destination
//! (required on a signed Response); Response InResponseTo; IssueInstants;
//! Conditions time window, then Conditions children other than
//! AudienceRestriction, OneTimeUse and ProxyRestriction (`unsupported`);
//! Subject and bearer SubjectConfirmation (its InResponseTo);
//! AudienceRestriction; AuthnStatement; subject mapping.
//!
//! Request binding: a caller's `request_id` is satisfied only by a signed
//! value — the bearer SubjectConfirmationData InResponseTo of the (signed)
//! Assertion, or the Response InResponseTo when the Response signature
//! itself verified. An unsigned Response's InResponseTo must still match
//! when a request id is given, but never vouches for the Assertion alone.

use super::attributes;
use super::c14n;
use super::dsig::{self, DSIG_NS};
use super::names::{trim_xml_ws, ASSERTION_NS, PROTOCOL_NS};
use super::time::parse_datetime;
use super::token::{Root, SamlToken};
use super::xml::Element;
use crate::context::Context;
use crate::error::{excerpt, reject, Reason, Rejection, Verified};
use crate::identity::Identity;
use crate::provider::{Provider, SamlSigned};

pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
/// Lifetime given to an Assertion that carries no NotOnOrAfter at all (in
/// Conditions or the bearer SubjectConfirmationData): it is accepted for this
/// long after its IssueInstant, and the replay cache keeps it as long.
pub const DEFAULT_LIFETIME_SECS: i64 = 300;

fn malformed<T>(detail: impl Into<String>) -> Result<T, Rejection> {
    reject(Reason::Malformed, detail)
}

fn instant(e: Element<'_>, attr: &str, what: &str) -> Result<Option<i64>, Rejection> {
    match e.attr(attr) {
        None => Ok(None),
        Some(v) => match parse_datetime(v) {
            Some(t) => Ok(Some(t)),
            None => malformed(format!(
                "{what}@{attr} '{}' is not a valid dateTime",
                excerpt(v)
            )),
        },
    }
}

fn check_version_and_id(e: Element<'_>, what: &str) -> Result<(), Rejection> {
    if e.attr("Version") != Some("2.0") {
        return malformed(format!("{what} Version is not 2.0"));
    }
    match e.attr("ID") {
        Some(id) if !id.is_empty() => Ok(()),
        _ => malformed(format!("{what} has no ID")),
    }
}

/// Not-before / not-on-or-after window with leeway.
fn check_window(
    now: i64,
    skew: i64,
    not_before: Option<i64>,
    not_on_or_after: Option<i64>,
    what: &str,
) -> Result<(), Rejection> {
    if let Some(nb) = not_before {
        if now.saturating_add(skew) < nb {
            return reject(
                Reason::NotYetValid,
                format!("{what} NotBefore is in the future"),
            );
        }
    }
    if let Some(na) = not_on_or_after {
        if now.saturating_sub(skew) >= na {
            return reject(Reason::Expired, format!("{what} NotOnOrAfter has passed"));
        }
    }
    Ok(())
}

fn check_issue_instant(
    now: i64,
    provider: &Provider,
    ii: i64,
    what: &str,
) -> Result<(), Rejection> {
    let skew = provider.settings.clock_skew;
    if ii > now.saturating_add(skew) {
        return reject(
            Reason::NotYetValid,
            format!("{what} IssueInstant is in the future"),
        );
    }
    if let Some(max_age) = provider.settings.max_age {
        if now.saturating_sub(ii) > max_age.saturating_add(skew) {
            return reject(
                Reason::TooOld,
                format!("{what} IssueInstant is older than max_age"),
            );
        }
    }
    Ok(())
}

fn check_issuer(
    e: Element<'_>,
    provider: &Provider,
    what: &str,
    required: bool,
) -> Result<(), Rejection> {
    let issuers: Vec<Element<'_>> = e.children_named(ASSERTION_NS, "Issuer").collect();
    match issuers.as_slice() {
        [] if !required => Ok(()),
        [] => reject(Reason::UnknownIssuer, format!("{what} has no Issuer")),
        [i] => {
            if i.has_element_children() {
                return malformed(format!("{what} Issuer has child elements"));
            }
            let text = i.text();
            let got = trim_xml_ws(&text);
            if got != provider.settings.issuer {
                return reject(
                    Reason::UnknownIssuer,
                    format!(
                        "{what} Issuer '{}' is not the provider's issuer",
                        excerpt(got)
                    ),
                );
            }
            Ok(())
        }
        _ => malformed(format!("{what} has several Issuer elements")),
    }
}

/// Verifies a SAML token against `provider` and maps it to an [`Identity`].
pub fn verify(
    token: &SamlToken,
    provider: &Provider,
    ctx: &Context,
) -> Result<Identity, Rejection> {
    let root = token.doc.root();
    let is_response = token.root == Root::Response;

    // Status first: IdP error responses carry no Assertion and are often unsigned.
    if is_response {
        check_version_and_id(root, "Response")?;
        let status = match root.unique_child(PROTOCOL_NS, "Status") {
            Ok(Some(s)) => s,
            Ok(None) => return malformed("Response has no Status"),
            Err(_) => return malformed("Response has several Status elements"),
        };
        let code = match status.unique_child(PROTOCOL_NS, "StatusCode") {
            Ok(Some(c)) => c,
            _ => return malformed("Status must hold exactly one StatusCode"),
        };
        let value = code.attr("Value").unwrap_or("");
        if value != STATUS_SUCCESS {
            return reject(
                Reason::StatusNotSuccess,
                format!("Response status is '{}'", excerpt(value)),
            );
        }
    }

    // Exactly one Assertion in the whole document (contract: Advice,
    // Extensions, ds:Object and EncryptedAssertion all count).
    let (mut plain, mut encrypted) = (0usize, 0usize);
    for e in token.doc.elements() {
        if e.ns() == Some(ASSERTION_NS) {
            match e.local() {
                "Assertion" => plain += 1,
                "EncryptedAssertion" => encrypted += 1,
                _ => {}
            }
        }
    }
    if plain + encrypted != 1 {
        return malformed(format!(
            "the document must hold exactly one Assertion; it holds {plain} Assertion and {encrypted} EncryptedAssertion elements"
        ));
    }
    if encrypted == 1 {
        return reject(
            Reason::Unsupported,
            "EncryptedAssertion is not supported yet (XML Encryption)",
        );
    }
    let assertion: Element<'_> = if is_response {
        match root.children_named(ASSERTION_NS, "Assertion").next() {
            Some(a) => a,
            None => return malformed("the Assertion is not a direct child of the Response"),
        }
    } else {
        root
    };
    check_version_and_id(assertion, "Assertion")?;

    // Signatures: each a direct child of the Response or the Assertion, at
    // most one per element; each must verify.
    let mut response_sig: Option<Element<'_>> = None;
    let mut assertion_sig: Option<Element<'_>> = None;
    for s in token.doc.elements().filter(|e| e.is(DSIG_NS, "Signature")) {
        let parent = s.parent();
        let slot = if parent == Some(assertion) {
            &mut assertion_sig
        } else if is_response && parent == Some(root) {
            &mut response_sig
        } else {
            return reject(
                Reason::BadSignature,
                "a ds:Signature sits outside the Response and Assertion (only their own signatures are accepted)",
            );
        };
        if slot.is_some() {
            return reject(
                Reason::BadSignature,
                "an element carries more than one ds:Signature",
            );
        }
        *slot = Some(s);
    }
    let policy = provider.settings.saml_signed;
    if !is_response {
        if assertion_sig.is_none() {
            return reject(
                Reason::BadSignature,
                "the standalone Assertion is not signed",
            );
        }
    } else {
        let (need_resp, need_assert, need_one) = match policy {
            SamlSigned::Response => (true, false, false),
            SamlSigned::Assertion => (false, true, false),
            SamlSigned::Both => (true, true, false),
            SamlSigned::Either => (false, false, true),
        };
        if need_resp && response_sig.is_none() {
            return reject(
                Reason::BadSignature,
                "the Response is not signed (saml_signed requires it)",
            );
        }
        if need_assert && assertion_sig.is_none() {
            return reject(
                Reason::BadSignature,
                "the Assertion is not signed (saml_signed requires it)",
            );
        }
        if need_one && response_sig.is_none() && assertion_sig.is_none() {
            return reject(
                Reason::BadSignature,
                "neither the Response nor the Assertion is signed",
            );
        }
    }
    let keys = &provider.saml_keys;
    let allowed = &|alg: &str| provider.allows(alg);
    // Canonicalization may produce at most a multiple of the document's size.
    let limits = c14n::Limits::new(token.source_len(), &ctx.budget);
    if let Some(s) = response_sig {
        dsig::verify(&[root], s, allowed, keys, &limits)?;
    }
    if let Some(s) = assertion_sig {
        let both = [root, assertion];
        let path: &[Element<'_>] = if is_response { &both } else { &[assertion] };
        dsig::verify(path, s, allowed, keys, &limits)?;
    }
    // The signed content is the IdP's word from here on: a refusal names
    // the Assertion by its ID (the replay key) and its subject.
    check_signed(token, provider, ctx, assertion, response_sig.is_some())
        .map_err(|r| r.with_verified(verified_facts(assertion, provider)))
}

/// The Assertion ID and, when the signed Assertion yields one, the subject
/// the claim map reads: recorded with a refusal of a signed token.
fn verified_facts(assertion: Element<'_>, provider: &Provider) -> Verified {
    let name_id = match assertion.unique_child(ASSERTION_NS, "Subject") {
        Ok(Some(subject)) => match subject.unique_child(ASSERTION_NS, "NameID") {
            Ok(Some(n)) if !n.has_element_children() => Some(n.text()),
            _ => None,
        },
        _ => None,
    };
    let attrs = attributes::collect(assertion);
    let subject = attributes::map(provider, &attrs, name_id.as_deref())
        .subject
        .filter(|s| !s.trim().is_empty());
    Verified {
        // check_version_and_id made sure the ID is there and not empty.
        token_id: assertion.attr("ID").unwrap_or_default().to_string(),
        subject,
    }
}

/// Every profile check after the signatures verified. Every value is read
/// from `root` (when its signature verified, or for Response-only fields
/// under an Assertion signature) or from `assertion`, which is the very node
/// the Assertion signature (or the Response signature, as its child) covered.
fn check_signed(
    token: &SamlToken,
    provider: &Provider,
    ctx: &Context,
    assertion: Element<'_>,
    response_signed: bool,
) -> Result<Identity, Rejection> {
    let root = token.doc.root();
    let now = ctx.now;
    let skew = provider.settings.clock_skew;
    let is_response = token.root == Root::Response;

    // Issuers.
    if is_response {
        check_issuer(root, provider, "Response", false)?;
    }
    check_issuer(assertion, provider, "Assertion", true)?;

    // Response-level checks.
    let response_irt = if is_response {
        root.attr("InResponseTo")
    } else {
        None
    };
    // The Response's own fields are the IdP's word only when its signature
    // verified (it did, or we would not be here, when it is present).
    let response_signed = is_response && response_signed;
    if is_response {
        match root.attr("Destination") {
            Some(dest) if !provider.settings.acs_urls.iter().any(|u| u == dest) => {
                return reject(
                    Reason::RecipientMismatch,
                    format!(
                        "Response Destination '{}' is not in acs_urls",
                        excerpt(dest)
                    ),
                );
            }
            Some(_) => {}
            // SAML bindings 3.5.5.2 and profiles 4.1.4.5: a signed Response
            // must say where it was sent, or it can be forwarded to another
            // SP. An unsigned Response's Destination would be the sender's
            // to write anyway, so its absence is tolerated there.
            None if response_signed => {
                return reject(
                    Reason::RecipientMismatch,
                    "the Response is signed but has no Destination (SAML bindings 3.5.5.2)",
                )
            }
            None => {}
        }
        if let Some(rid) = &ctx.request_id {
            if response_irt != Some(rid.as_str()) {
                return reject(
                    Reason::RequestMismatch,
                    "Response InResponseTo does not match the request id",
                );
            }
        }
        let Some(ii) = instant(root, "IssueInstant", "Response")? else {
            return malformed("Response has no IssueInstant");
        };
        check_issue_instant(now, provider, ii, "Response")?;
    }

    let Some(assertion_ii) = instant(assertion, "IssueInstant", "Assertion")? else {
        return malformed("Assertion has no IssueInstant");
    };
    check_issue_instant(now, provider, assertion_ii, "Assertion")?;

    // Conditions.
    let conditions = match assertion.unique_child(ASSERTION_NS, "Conditions") {
        Ok(c) => c,
        Err(_) => return malformed("Assertion has several Conditions"),
    };
    let mut cond_noa = None;
    if let Some(c) = conditions {
        let nb = instant(c, "NotBefore", "Conditions")?;
        cond_noa = instant(c, "NotOnOrAfter", "Conditions")?;
        check_window(now, skew, nb, cond_noa, "Conditions")?;
        check_condition_kinds(c)?;
    }

    // Subject, NameID, bearer SubjectConfirmation.
    let subject = match assertion.unique_child(ASSERTION_NS, "Subject") {
        Ok(Some(s)) => s,
        Ok(None) => return malformed("Assertion has no Subject"),
        Err(_) => return malformed("Assertion has several Subject elements"),
    };
    if subject
        .children_named(ASSERTION_NS, "EncryptedID")
        .next()
        .is_some()
    {
        return reject(
            Reason::Unsupported,
            "EncryptedID is not supported yet (XML Encryption)",
        );
    }
    let name_id = match subject.unique_child(ASSERTION_NS, "NameID") {
        Ok(Some(n)) => {
            if n.has_element_children() {
                return malformed("NameID has child elements");
            }
            Some(n.text())
        }
        Ok(None) => None,
        Err(_) => return malformed("Subject has several NameID elements"),
    };
    let scd_noa = check_bearer(subject, provider, ctx, response_irt, response_signed)?;

    // Audience: every AudienceRestriction must name one of ours, and there
    // must be at least one (SAML profiles 4.1.4.2; strict choice, see report).
    let restrictions: Vec<Element<'_>> = conditions
        .map(|c| {
            c.children_named(ASSERTION_NS, "AudienceRestriction")
                .collect()
        })
        .unwrap_or_default();
    if restrictions.is_empty() {
        return reject(
            Reason::AudienceMismatch,
            "the Assertion has no AudienceRestriction",
        );
    }
    for r in restrictions {
        let ok = r.children_named(ASSERTION_NS, "Audience").any(|a| {
            let t = a.text();
            let t = trim_xml_ws(&t);
            provider.settings.audiences.iter().any(|x| x == t)
        });
        if !ok {
            return reject(
                Reason::AudienceMismatch,
                "an AudienceRestriction names none of the provider's audiences",
            );
        }
    }

    // SAML profiles 4.1.4.2: the Assertion of a Web SSO Response carries at
    // least one AuthnStatement; without one it asserts no authentication.
    if assertion
        .children_named(ASSERTION_NS, "AuthnStatement")
        .next()
        .is_none()
    {
        return malformed("Assertion has no AuthnStatement (Web SSO profile 4.1.4.2)");
    }

    // Expiry: the earliest NotOnOrAfter; a bounded default when none exists.
    let expires_at = match (cond_noa, scd_noa) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => {
            let e = assertion_ii.saturating_add(DEFAULT_LIFETIME_SECS);
            if now.saturating_sub(skew) >= e {
                return reject(
                    Reason::Expired,
                    "the Assertion has no NotOnOrAfter and its IssueInstant is older than the default lifetime",
                );
            }
            e
        }
    };

    let attrs = attributes::collect(assertion);
    let mapped = attributes::map(provider, &attrs, name_id.as_deref());
    let subject_value = match mapped.subject {
        Some(s) if !s.trim().is_empty() => s,
        _ => {
            return reject(
                Reason::MissingClaim,
                "the subject (NameID or mapped attribute) is missing or empty",
            )
        }
    };
    // The Assertion ID is the replay key: SAML requires it, and an empty one
    // would make every such Assertion share one key.
    let token_id = match assertion.attr("ID") {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => return reject(Reason::Malformed, "Assertion has no ID"),
    };

    Ok(Identity {
        provider: provider.settings.name.clone(),
        subject: subject_value,
        email: mapped.email,
        email_verified: None,
        name: mapped.name,
        given_name: mapped.given_name,
        family_name: mapped.family_name,
        idp_groups: mapped.groups,
        groups_complete: mapped.groups_complete,
        attributes: mapped.attributes,
        token_id,
        expires_at,
        issued_at: Some(assertion_ii),
    })
}

/// SAML core 2.5.1: a condition the relying party does not understand makes
/// the Assertion Indeterminate, so it cannot be accepted. Understood here:
/// AudienceRestriction (checked below), OneTimeUse (the replay cache keeps
/// every Assertion ID until it expires) and ProxyRestriction (this relying
/// party issues no Assertions of its own). Anything else — a
/// `saml:Condition` extension or an element of another namespace — is
/// `unsupported`.
fn check_condition_kinds(conditions: Element<'_>) -> Result<(), Rejection> {
    const UNDERSTOOD: [&str; 3] = ["AudienceRestriction", "OneTimeUse", "ProxyRestriction"];
    for c in conditions.child_elements() {
        if UNDERSTOOD.iter().any(|name| c.is(ASSERTION_NS, name)) {
            continue;
        }
        let name = match c.ns() {
            Some(ns) if ns == ASSERTION_NS => c.local().to_string(),
            Some(ns) => format!("{{{ns}}}{}", c.local()),
            None => c.local().to_string(),
        };
        return reject(
            Reason::Unsupported,
            format!(
                "Conditions holds '{}', a condition this verifier does not understand (SAML core 2.5.1)",
                excerpt(&name)
            ),
        );
    }
    Ok(())
}

/// At least one bearer SubjectConfirmation must pass every check; the
/// failure of the first one is reported when none does. Returns the
/// NotOnOrAfter of the one that passed. `response_signed`: the Response
/// signature verified, so `response_irt` (already compared with the request
/// id) is the IdP's word.
fn check_bearer(
    subject: Element<'_>,
    provider: &Provider,
    ctx: &Context,
    response_irt: Option<&str>,
    response_signed: bool,
) -> Result<Option<i64>, Rejection> {
    let mut first_err: Option<Rejection> = None;
    for sc in subject.children_named(ASSERTION_NS, "SubjectConfirmation") {
        if sc.attr("Method") != Some(BEARER) {
            continue;
        }
        match check_one_bearer(sc, provider, ctx, response_irt, response_signed) {
            Ok(noa) => return Ok(noa),
            Err(e) => {
                if first_err.is_none() {
                    first_err = Some(e);
                }
            }
        }
    }
    Err(first_err.unwrap_or_else(|| {
        Rejection::new(
            Reason::RecipientMismatch,
            "the Subject has no bearer SubjectConfirmation",
        )
    }))
}

fn check_one_bearer(
    sc: Element<'_>,
    provider: &Provider,
    ctx: &Context,
    response_irt: Option<&str>,
    response_signed: bool,
) -> Result<Option<i64>, Rejection> {
    let scd = match sc.unique_child(ASSERTION_NS, "SubjectConfirmationData") {
        Ok(Some(d)) => d,
        Ok(None) => {
            return reject(
                Reason::RecipientMismatch,
                "bearer SubjectConfirmation has no SubjectConfirmationData (no Recipient)",
            )
        }
        Err(_) => return malformed("several SubjectConfirmationData elements"),
    };
    match scd.attr("Recipient") {
        Some(r) if provider.settings.acs_urls.iter().any(|u| u == r) => {}
        Some(r) => {
            return reject(
                Reason::RecipientMismatch,
                format!(
                    "SubjectConfirmationData Recipient '{}' is not in acs_urls",
                    excerpt(r)
                ),
            )
        }
        None => {
            return reject(
                Reason::RecipientMismatch,
                "SubjectConfirmationData has no Recipient",
            )
        }
    }
    let nb = instant(scd, "NotBefore", "SubjectConfirmationData")?;
    let noa = instant(scd, "NotOnOrAfter", "SubjectConfirmationData")?;
    check_window(
        ctx.now,
        provider.settings.clock_skew,
        nb,
        noa,
        "SubjectConfirmationData",
    )?;
    let scd_irt = scd.attr("InResponseTo");
    match (&ctx.request_id, scd_irt) {
        (Some(rid), Some(got)) if got != rid => {
            return reject(
                Reason::RequestMismatch,
                "SubjectConfirmationData InResponseTo does not match the request id",
            )
        }
        // Only a signed InResponseTo binds the request: this Assertion's own
        // (read from the signed Assertion), or a signed Response's (the
        // caller compared it with the request id already). An unsigned
        // Response's InResponseTo is anyone's to write, and a standalone
        // Assertion has no Response at all.
        (Some(_), None) if !(response_signed && response_irt.is_some()) => {
            return reject(
                Reason::RequestMismatch,
                "a request id was given but the Assertion answers no request (no InResponseTo in its SubjectConfirmationData, and no signed Response InResponseTo)",
            )
        }
        _ => {}
    }
    if let (Some(a), Some(b)) = (response_irt, scd_irt) {
        if a != b {
            return reject(
                Reason::RequestMismatch,
                "Response and SubjectConfirmationData InResponseTo differ",
            );
        }
    }
    Ok(noa)
}
