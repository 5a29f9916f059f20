//! From the signed Assertion to user fields, through `jit.claim_map`.
//!
//! Sources are an Attribute `Name`, else an Attribute `FriendlyName`, or
//! `NameID`. Unmapped fields use the common names of Okta, Entra ID, ADFS,
//! Google and the `urn:oid:` LDAP schema, first match in the order listed.
//! Every value is the AttributeValue's whole text (text and CDATA, comments
//! skipped, never cut at a comment); values with child elements (complex
//! types) and `xsi:nil` values are skipped. A multi-valued attribute keeps
//! every value: `groups` gets them all; `email`, `name`, `given_name` and
//! `family_name` take the first non-empty one; `attributes.<key>` gets a JSON
//! string for one value and an array of strings for several.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::names::ASSERTION_NS;
use super::xml::Element;
use crate::mapping::Field;
use crate::provider::Provider;

const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

pub const EMAIL_DEFAULTS: &[&str] = &[
    "email",
    "mail",
    "emailaddress",
    "emailAddress",
    "Email",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "urn:oid:0.9.2342.19200300.100.1.3",
    "http://schemas.xmlsoap.org/claims/EmailAddress",
];
/// Entra's `.../claims/name` is the UPN; it comes last for that reason.
pub const NAME_DEFAULTS: &[&str] = &[
    "displayName",
    "displayname",
    "urn:oid:2.16.840.1.113730.3.1.241",
    "http://schemas.microsoft.com/identity/claims/displayname",
    "name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
];
pub const GIVEN_NAME_DEFAULTS: &[&str] = &[
    "givenName",
    "given_name",
    "firstName",
    "FirstName",
    "first_name",
    "urn:oid:2.5.4.42",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
];
pub const FAMILY_NAME_DEFAULTS: &[&str] = &[
    "sn",
    "surname",
    "family_name",
    "lastName",
    "LastName",
    "last_name",
    "urn:oid:2.5.4.4",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
];
pub const GROUPS_DEFAULTS: &[&str] = &[
    "groups",
    "memberOf",
    "Groups",
    "group",
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
    "http://schemas.xmlsoap.org/claims/Group",
    "urn:oid:1.3.6.1.4.1.5923.1.5.1.1",
    "urn:oid:1.2.840.113556.1.2.102",
];
/// Entra ID sends this instead of the groups when a user has too many.
pub const ENTRA_GROUPS_OVERAGE: &str = "http://schemas.microsoft.com/claims/groups.link";

/// One `saml:Attribute`, values in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlAttribute {
    pub name: String,
    pub friendly_name: Option<String>,
    pub values: Vec<String>,
}

/// Every Attribute of every AttributeStatement directly in `assertion`;
/// attributes repeated under the same Name are merged.
pub fn collect(assertion: Element<'_>) -> Vec<SamlAttribute> {
    let mut out: Vec<SamlAttribute> = Vec::new();
    // Name -> position in `out`: merging stays linear however many distinct
    // Names a (signed, but large) Assertion carries.
    let mut index: HashMap<&str, usize> = HashMap::new();
    for st in assertion.children_named(ASSERTION_NS, "AttributeStatement") {
        for a in st.children_named(ASSERTION_NS, "Attribute") {
            let Some(name) = a.attr("Name") else {
                continue;
            };
            let values: Vec<String> = a
                .children_named(ASSERTION_NS, "AttributeValue")
                .filter(|v| !v.has_element_children())
                .filter(|v| {
                    !v.attrs().any(|at| {
                        at.ns == Some(XSI_NS)
                            && at.local == "nil"
                            && matches!(at.value.trim(), "true" | "1")
                    })
                })
                .map(|v| v.text().into_owned())
                .collect();
            match index.get(name).and_then(|&i| out.get_mut(i)) {
                Some(existing) => existing.values.extend(values),
                None => {
                    index.insert(name, out.len());
                    out.push(SamlAttribute {
                        name: name.to_string(),
                        friendly_name: a.attr("FriendlyName").map(str::to_string),
                        values,
                    });
                }
            }
        }
    }
    out
}

/// The user fields read from an Assertion.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mapped {
    pub subject: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub groups: Vec<String>,
    pub groups_complete: bool,
    pub attributes: Map<String, Value>,
}

/// Values of a source: `NameID`, else an Attribute by Name, else by FriendlyName.
fn source_values(
    attrs: &[SamlAttribute],
    name_id: Option<&str>,
    source: &str,
) -> Option<Vec<String>> {
    if source == "NameID" {
        return name_id.map(|n| vec![n.to_string()]);
    }
    if let Some(a) = attrs.iter().find(|a| a.name == source) {
        return Some(a.values.clone());
    }
    attrs
        .iter()
        .find(|a| a.friendly_name.as_deref() == Some(source))
        .map(|a| a.values.clone())
}

fn lookup(
    provider: &Provider,
    attrs: &[SamlAttribute],
    name_id: Option<&str>,
    field: &Field,
    defaults: &[&str],
) -> Option<Vec<String>> {
    match provider.claim_map.source(field) {
        Some(src) => source_values(attrs, name_id, src),
        None => defaults
            .iter()
            .find_map(|d| source_values(attrs, name_id, d)),
    }
}

fn first_non_empty(v: Option<Vec<String>>) -> Option<String> {
    v?.into_iter().find(|s| !s.trim().is_empty())
}

/// Maps the Assertion's NameID and attributes to user fields.
pub fn map(provider: &Provider, attrs: &[SamlAttribute], name_id: Option<&str>) -> Mapped {
    let subject = match provider.claim_map.source(&Field::Subject) {
        Some(src) => first_non_empty(source_values(attrs, name_id, src)),
        None => name_id.map(str::to_string),
    };
    let groups: Vec<String> = lookup(provider, attrs, name_id, &Field::Groups, GROUPS_DEFAULTS)
        .unwrap_or_default()
        .into_iter()
        .filter(|g| !g.is_empty())
        .collect();
    let mut attributes = Map::new();
    for (key, src) in provider.claim_map.attributes() {
        if let Some(mut vals) = source_values(attrs, name_id, src) {
            let v = if vals.len() == 1 {
                vals.pop().map(Value::String).unwrap_or(Value::Null)
            } else {
                Value::Array(vals.into_iter().map(Value::String).collect())
            };
            attributes.insert(key.to_string(), v);
        }
    }
    Mapped {
        subject,
        email: first_non_empty(lookup(
            provider,
            attrs,
            name_id,
            &Field::Email,
            EMAIL_DEFAULTS,
        )),
        name: first_non_empty(lookup(
            provider,
            attrs,
            name_id,
            &Field::Name,
            NAME_DEFAULTS,
        )),
        given_name: first_non_empty(lookup(
            provider,
            attrs,
            name_id,
            &Field::GivenName,
            GIVEN_NAME_DEFAULTS,
        )),
        family_name: first_non_empty(lookup(
            provider,
            attrs,
            name_id,
            &Field::FamilyName,
            FAMILY_NAME_DEFAULTS,
        )),
        groups,
        groups_complete: !attrs.iter().any(|a| a.name == ENTRA_GROUPS_OVERAGE),
        attributes,
    }
}
