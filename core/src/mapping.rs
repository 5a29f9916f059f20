//! `jit.claim_map`: where each user field comes from.

use crate::error::ConfigError;
use serde_json::{Map, Value};

/// A user field a claim can be mapped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Subject,
    Email,
    Name,
    GivenName,
    FamilyName,
    Groups,
    /// `attributes.<key>`
    Attribute(String),
}

impl Field {
    pub fn parse(s: &str) -> Result<Field, ConfigError> {
        Ok(match s {
            "subject" => Field::Subject,
            "email" => Field::Email,
            "name" => Field::Name,
            "given_name" => Field::GivenName,
            "family_name" => Field::FamilyName,
            "groups" => Field::Groups,
            _ => match s.strip_prefix("attributes.") {
                Some(key) if !key.is_empty() => Field::Attribute(key.to_string()),
                _ => {
                    return Err(ConfigError(format!(
                        "claim_map field '{s}' is not one of subject, email, name, given_name, family_name, groups, attributes.<key>"
                    )))
                }
            },
        })
    }
}

/// The claim map of one provider; fields without a row use the protocol's defaults.
#[derive(Debug, Clone, Default)]
pub struct ClaimMap {
    entries: Vec<(Field, String)>,
}

impl ClaimMap {
    pub fn new(rows: &[(String, String)]) -> Result<ClaimMap, ConfigError> {
        let mut entries = Vec::with_capacity(rows.len());
        for (field, source) in rows {
            if source.is_empty() {
                return Err(ConfigError(format!(
                    "claim_map source for '{field}' is empty"
                )));
            }
            entries.push((Field::parse(field)?, source.clone()));
        }
        Ok(ClaimMap { entries })
    }

    /// The configured source of a field, if the DBA mapped it.
    pub fn source(&self, field: &Field) -> Option<&str> {
        self.entries
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, s)| s.as_str())
    }

    /// `attributes.<key>` rows, in the order given.
    pub fn attributes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().filter_map(|(f, s)| match f {
            Field::Attribute(k) => Some((k.as_str(), s.as_str())),
            _ => None,
        })
    }
}

/// Looks up a claim by name, or by a dotted path into nested objects
/// (`realm_access.roles`). An exact top-level key wins over a path, so a claim
/// literally named `a.b` stays reachable.
pub fn lookup<'a>(claims: &'a Map<String, Value>, source: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(source) {
        return Some(v);
    }
    let mut parts = source.split('.');
    let mut cur = claims.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

/// A claim as a single string: strings as-is, numbers and booleans printed.
pub fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A claim as a list of strings: an array of scalars, or one scalar. A
/// space- or comma-separated string stays one value: splitting would invent
/// group names the IdP never sent.
pub fn as_list(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().filter_map(as_text).collect(),
        other => as_text(other).into_iter().collect(),
    }
}
