//! SAML 2.0 IdP metadata (`md:EntityDescriptor` / `md:EntitiesDescriptor`):
//! the entityID, signing certificates, SSO URL and validity a provider row
//! is registered with (`jit.saml_metadata`, and `jit.refresh` for a
//! provider's `metadata_url`).
//!
//! Read with the verifier's strict reader ([`xml::parse`]): no DTD, no
//! entity, 1 MiB, depth, width and node limits. A federation aggregate over
//! 1 MiB is refused; register its per-entity (MDQ) document instead.
//!
//! **A `ds:Signature` on the metadata is not verified** (and not required):
//! trust in the document comes from the HTTPS URL it was fetched from, or from
//! the DBA who pasted it. Whatever it says is only what that source says.
//!
//! Decisions:
//! * the identity providers of a document are its `EntityDescriptor`s
//!   (the root, or any depth of `EntitiesDescriptor`s) with an
//!   `IDPSSODescriptor` whose `protocolSupportEnumeration` lists SAML 2.0;
//!   none is an error (SP-only metadata is refused). Several are told apart
//!   by their `entityID` only: the caller names the one it wants (`issuer`),
//!   which must match exactly one of them, and an `issuer` matching none is
//!   an error even when the document holds a single IdP. One entity with
//!   several SAML 2.0 `IDPSSODescriptor`s is refused rather than merged;
//! * certificates: the `ds:X509Certificate`s of the `ds:KeyInfo/ds:X509Data`
//!   of the IDPSSODescriptor's `KeyDescriptor`s with `use="signing"` or no
//!   `use`, in document order, duplicates dropped; `use="encryption"` keys are
//!   left out, any other `use` is an error. Each must parse exactly as a
//!   `certificates` entry of `jit.providers` does ([`parse_pem_keys`]); one
//!   that does not is an error naming its position. At least one is required;
//! * `sso_url`: the first `SingleSignOnService` with the HTTP-Redirect
//!   binding, else the first with HTTP-POST, else none;
//! * `valid_until`: the earliest `validUntil` of the IDPSSODescriptor, its
//!   EntityDescriptor and the EntitiesDescriptors around it (an enclosing
//!   element's validity bounds what it contains, metadata 2.3.1); an
//!   unreadable one is an error, a past one is reported as it is;
//! * everything else — `RoleDescriptor`s (WS-Federation, as Entra ID and
//!   ADFS publish), `SPSSODescriptor`, `AttributeAuthorityDescriptor`,
//!   `Organization`, `ContactPerson`, `Extensions`, `ds:Signature` — is
//!   accepted and ignored.

use std::collections::HashSet;

use crate::b64;
use crate::error::excerpt;
use crate::keys::x509::parse_pem_keys;
use crate::saml::names::{trim_xml_ws, PROTOCOL_NS};
use crate::saml::time::parse_datetime;
use crate::saml::xml::{self, Element};

pub const METADATA_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// What a provider row needs from an IdP's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    /// The IdP's entityID: the `issuer` of its Responses.
    pub issuer: String,
    /// Signing certificates as PEM (`-----BEGIN CERTIFICATE-----`, base64 in
    /// 64-character lines, `-----END CERTIFICATE-----`, newline-terminated).
    pub certificates: Vec<String>,
    /// Where AuthnRequests go (HTTP-Redirect, else HTTP-POST).
    pub sso_url: Option<String>,
    /// End of the metadata's validity, Unix seconds.
    pub valid_until: Option<i64>,
}

/// Why a document gave no usable IdP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataError(pub String);

impl std::fmt::Display for MetadataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MetadataError {}

fn err<T>(msg: impl Into<String>) -> Result<T, MetadataError> {
    Err(MetadataError(msg.into()))
}

/// An IdP found in the document, with the validity of the
/// EntitiesDescriptors around it.
struct Candidate<'a> {
    entity: Element<'a>,
    idp: Element<'a>,
    entity_id: &'a str,
    enclosing: Validity<'a>,
}

/// The earliest `validUntil` on a path of elements, or the first one that is
/// not an xs:dateTime. Small and `Copy`: every element of an aggregate gets
/// its own without allocating.
#[derive(Debug, Clone, Copy, Default)]
struct Validity<'a> {
    earliest: Option<i64>,
    unreadable: Option<&'a str>,
}

impl<'a> Validity<'a> {
    fn and(self, valid_until: Option<&'a str>) -> Validity<'a> {
        let Some(v) = valid_until else {
            return self;
        };
        if self.unreadable.is_some() {
            return self;
        }
        match parse_datetime(trim_xml_ws(v)) {
            Some(t) => Validity {
                earliest: Some(self.earliest.map_or(t, |u| u.min(t))),
                unreadable: None,
            },
            None => Validity {
                earliest: self.earliest,
                unreadable: Some(v),
            },
        }
    }

    fn result(self) -> Result<Option<i64>, MetadataError> {
        match self.unreadable {
            Some(v) => err(format!("validUntil '{}' is not an xs:dateTime", excerpt(v))),
            None => Ok(self.earliest),
        }
    }
}

/// Parses SAML 2.0 metadata and returns the identity provider it describes,
/// or the one whose entityID is `issuer` (see the module documentation for
/// the rules). The metadata's own signature is not verified.
pub fn parse_metadata(text: &str, issuer: Option<&str>) -> Result<IdpMetadata, MetadataError> {
    let doc = xml::parse(text)
        .map_err(|r| MetadataError(format!("invalid metadata XML: {}", r.detail)))?;
    let root = doc.root();
    if !root.is(METADATA_NS, "EntityDescriptor") && !root.is(METADATA_NS, "EntitiesDescriptor") {
        return err(format!(
            "root element {{{}}}{} is neither md:EntityDescriptor nor md:EntitiesDescriptor \
             (SAML 2.0 metadata, namespace {METADATA_NS})",
            excerpt(root.ns().unwrap_or("")),
            excerpt(root.local())
        ));
    }
    let candidates = identity_providers(root)?;
    let chosen = choose(candidates, issuer)?;

    let certificates = signing_certificates(chosen.idp, chosen.entity_id)?;
    let sso_url = sso_url(chosen.idp);

    let valid_until = chosen
        .enclosing
        .and(chosen.entity.attr("validUntil"))
        .and(chosen.idp.attr("validUntil"))
        .result()?;

    Ok(IdpMetadata {
        issuer: chosen.entity_id.to_string(),
        certificates,
        sso_url,
        valid_until,
    })
}

/// Every EntityDescriptor with a SAML 2.0 IDPSSODescriptor, in document order.
fn identity_providers(root: Element<'_>) -> Result<Vec<Candidate<'_>>, MetadataError> {
    let mut out = Vec::new();
    // (element, validity of the EntitiesDescriptors enclosing it); the
    // reader bounds the depth, the stack keeps document order.
    let mut stack: Vec<(Element<'_>, Validity<'_>)> = vec![(root, Validity::default())];
    while let Some((el, enclosing)) = stack.pop() {
        if el.is(METADATA_NS, "EntitiesDescriptor") {
            let inside = enclosing.and(el.attr("validUntil"));
            let inner: Vec<Element<'_>> = el
                .child_elements()
                .filter(|c| {
                    c.is(METADATA_NS, "EntityDescriptor") || c.is(METADATA_NS, "EntitiesDescriptor")
                })
                .collect();
            let inner = inner.into_iter().rev().map(|c| (c, inside));
            stack.extend(inner);
            continue;
        }
        let mut idps = el
            .children_named(METADATA_NS, "IDPSSODescriptor")
            .filter(|d| supports_saml2(*d));
        let Some(idp) = idps.next() else {
            continue;
        };
        let entity_id = el.attr("entityID").map(trim_xml_ws).unwrap_or("");
        if entity_id.is_empty() {
            return err("an EntityDescriptor with an IDPSSODescriptor has no entityID");
        }
        let more = idps.count();
        if more > 0 {
            return err(format!(
                "entity '{}' has {} SAML 2.0 IDPSSODescriptors; expected one",
                excerpt(entity_id),
                more + 1
            ));
        }
        out.push(Candidate {
            entity: el,
            idp,
            entity_id,
            enclosing,
        });
    }
    Ok(out)
}

fn supports_saml2(descriptor: Element<'_>) -> bool {
    descriptor
        .attr("protocolSupportEnumeration")
        .is_some_and(|list| list.split_ascii_whitespace().any(|p| p == PROTOCOL_NS))
}

fn choose<'a>(
    candidates: Vec<Candidate<'a>>,
    issuer: Option<&str>,
) -> Result<Candidate<'a>, MetadataError> {
    let total = candidates.len();
    if total == 0 {
        return err("no SAML 2.0 IdP (IDPSSODescriptor) in the metadata");
    }
    let Some(issuer) = issuer else {
        if total > 1 {
            return err(format!(
                "{total} identity providers in the metadata; pass issuer => to choose one"
            ));
        }
        return candidates.into_iter().next().ok_or_else(|| {
            MetadataError("no SAML 2.0 IdP (IDPSSODescriptor) in the metadata".into())
        });
    };
    let found: Vec<String> = candidates
        .iter()
        .take(3)
        .map(|c| format!("'{}'", excerpt(c.entity_id)))
        .collect();
    let mut matching = candidates.into_iter().filter(|c| c.entity_id == issuer);
    let Some(first) = matching.next() else {
        let more = if total > found.len() { ", ..." } else { "" };
        return err(format!(
            "no identity provider with entityID '{}' in the metadata (it has {}{more})",
            excerpt(issuer),
            found.join(", ")
        ));
    };
    let extra = matching.count();
    if extra > 0 {
        return err(format!(
            "{} identity providers in the metadata have entityID '{}'",
            extra + 1,
            excerpt(issuer)
        ));
    }
    Ok(first)
}

/// The signing certificates of an IDPSSODescriptor as PEM, each checked
/// the way the `certificates` column is.
fn signing_certificates(idp: Element<'_>, entity_id: &str) -> Result<Vec<String>, MetadataError> {
    let mut ders: Vec<Vec<u8>> = Vec::new();
    // Linear de-duplication: a 1 MiB document may list thousands.
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut position = 0usize;
    for (k, kd) in idp.children_named(METADATA_NS, "KeyDescriptor").enumerate() {
        let k = k + 1;
        match kd.attr("use").map(trim_xml_ws) {
            None | Some("signing") => {}
            Some("encryption") => continue,
            Some(other) => {
                return err(format!(
                    "KeyDescriptor {k} of '{}' has use=\"{}\" (expected signing or encryption)",
                    excerpt(entity_id),
                    excerpt(other)
                ))
            }
        }
        let certs = kd
            .children_named(DSIG_NS, "KeyInfo")
            .flat_map(|ki| ki.children_named(DSIG_NS, "X509Data"))
            .flat_map(|xd| xd.children_named(DSIG_NS, "X509Certificate"));
        for cert in certs {
            position += 1;
            let der = certificate_der(cert).map_err(|why| {
                MetadataError(format!(
                    "signing certificate {position} (KeyDescriptor {k}) of '{}' is not usable: {why}",
                    excerpt(entity_id)
                ))
            })?;
            if seen.insert(der.clone()) {
                ders.push(der);
            }
        }
    }
    if ders.is_empty() {
        return err(format!(
            "no signing certificate for '{}' in the metadata (an IDPSSODescriptor \
             KeyDescriptor with use=\"signing\" or no use, holding a ds:X509Certificate)",
            excerpt(entity_id)
        ));
    }
    Ok(ders.iter().map(|d| pem(d)).collect())
}

/// The DER of one `ds:X509Certificate`, after checking that it parses as a
/// `certificates` entry would.
fn certificate_der(cert: Element<'_>) -> Result<Vec<u8>, String> {
    if cert.has_element_children() {
        return Err("ds:X509Certificate holds elements, not base64 text".into());
    }
    let text = cert.text();
    if text.bytes().all(|b| b.is_ascii_whitespace()) {
        return Err("ds:X509Certificate is empty".into());
    }
    let der = b64::standard_ws(&text)
        .ok_or_else(|| "ds:X509Certificate is not valid base64".to_string())?;
    parse_pem_keys(&pem(&der)).map_err(|e| e.0)?;
    Ok(der)
}

fn pem(der: &[u8]) -> String {
    let encoded = b64::encode_standard(der);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 64 + 64);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    // Base64 is ASCII: every 64-byte chunk is valid UTF-8.
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or(""));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

fn sso_url(idp: Element<'_>) -> Option<String> {
    let location = |binding: &str| {
        idp.children_named(METADATA_NS, "SingleSignOnService")
            .filter(|s| s.attr("Binding").map(trim_xml_ws) == Some(binding))
            .filter_map(|s| s.attr("Location").map(trim_xml_ws))
            .find(|l| !l.is_empty())
            .map(str::to_string)
    };
    location(BINDING_REDIRECT).or_else(|| location(BINDING_POST))
}

#[cfg(test)]
mod tests {
    use super::pem;

    #[test]
    fn pem_lines_are_64_characters() {
        let der = vec![0x30u8; 100];
        let p = pem(&der);
        let lines: Vec<&str> = p.lines().collect();
        assert_eq!(lines.first(), Some(&"-----BEGIN CERTIFICATE-----"));
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
        // 100 bytes are 136 base64 characters: 64 + 64 + 8.
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[2].len(), 64);
        assert_eq!(lines[3].len(), 8);
        assert!(p.ends_with("-----END CERTIFICATE-----\n"));
    }
}
