//! Typed reads of JSON values shared by the body and PATCH parsers.

use serde_json::{Map, Value};

use super::error::{excerpt, ScimError};
use super::schema::canonical_uuid;

/// The value under `name` (case-insensitive); two keys matching is an error.
pub(crate) fn get_ci<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a Value>, ScimError> {
    let mut found = None;
    for (k, v) in obj {
        if k.eq_ignore_ascii_case(name) {
            if found.is_some() {
                return Err(ScimError::invalid_syntax(format!(
                    "the attribute '{name}' is given twice"
                )));
            }
            found = Some(v);
        }
    }
    Ok(found)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Longest stored string value, in bytes. Identifiers and names are far
/// shorter; the bound keeps every value under PostgreSQL's btree entry
/// limit (about 2.7 KB), so an index on it can never make a write fail.
pub const MAX_VALUE_BYTES: usize = 1024;

fn bounded(attr: &str, s: &str) -> Result<String, ScimError> {
    if s.len() > MAX_VALUE_BYTES {
        return Err(ScimError::invalid_value(format!(
            "{attr} is longer than {MAX_VALUE_BYTES} bytes"
        )));
    }
    Ok(s.to_string())
}

/// A string, or `None` for null.
pub(crate) fn opt_string(attr: &str, v: &Value) -> Result<Option<String>, ScimError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => bounded(attr, s).map(Some),
        other => Err(ScimError::invalid_value(format!(
            "{attr} must be a string, not {}",
            kind(other)
        ))),
    }
}

/// A non-empty string (a required attribute).
pub(crate) fn required_string(attr: &str, v: &Value) -> Result<String, ScimError> {
    match v {
        Value::String(s) if !s.trim().is_empty() => bounded(attr, s),
        Value::String(_) => Err(ScimError::invalid_value(format!(
            "{attr} must not be empty"
        ))),
        other => Err(ScimError::invalid_value(format!(
            "{attr} must be a string, not {}",
            kind(other)
        ))),
    }
}

/// A boolean: JSON `true`/`false` or the strings "true"/"false" in any case
/// (Entra ID sends "True"/"False").
pub(crate) fn boolean(attr: &str, v: &Value) -> Result<bool, ScimError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        Value::String(s) => Err(ScimError::invalid_value(format!(
            "{attr} must be a boolean, not the string '{}'",
            excerpt(s)
        ))),
        other => Err(ScimError::invalid_value(format!(
            "{attr} must be a boolean, not {}",
            kind(other)
        ))),
    }
}

/// A member reference `{"value": "<uuid>", "display"?, "$ref"?, "type"?}`
/// → the canonical UUID.
pub(crate) fn member_id(v: &Value) -> Result<String, ScimError> {
    let Value::Object(obj) = v else {
        return Err(ScimError::invalid_value(format!(
            "a member must be an object with a \"value\", not {}",
            kind(v)
        )));
    };
    for k in obj.keys() {
        if !["value", "display", "$ref", "type"]
            .iter()
            .any(|a| k.eq_ignore_ascii_case(a))
        {
            return Err(ScimError::invalid_path(format!(
                "members.{} is not supported",
                excerpt(k)
            )));
        }
    }
    if let Some(t) = get_ci(obj, "type")? {
        match t {
            Value::Null => {}
            Value::String(s) if s.eq_ignore_ascii_case("User") => {}
            _ => {
                return Err(ScimError::invalid_value(
                    "only Users can be group members (member type must be \"User\")",
                ))
            }
        }
    }
    let id = match get_ci(obj, "value")? {
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "members.value must be a string, not {}",
                kind(other)
            )))
        }
        None => return Err(ScimError::invalid_value("a member needs a \"value\"")),
    };
    uuid_value("members.value", id)
}

pub(crate) fn uuid_value(attr: &str, s: &str) -> Result<String, ScimError> {
    canonical_uuid(s).ok_or_else(|| {
        ScimError::invalid_value(format!(
            "{attr} must be a user id (a UUID), not '{}'",
            excerpt(s)
        ))
    })
}

/// A list of members (a single object is taken as a list of one).
pub(crate) fn member_list(v: &Value) -> Result<Vec<String>, ScimError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(member_id).collect(),
        Value::Object(_) => Ok(vec![member_id(v)?]),
        other => Err(ScimError::invalid_value(format!(
            "members must be an array of objects, not {}",
            kind(other)
        ))),
    }
}

/// One element of `emails`: its `value` and whether it is primary.
pub(crate) fn email_element(v: &Value) -> Result<(String, bool), ScimError> {
    let Value::Object(obj) = v else {
        return Err(ScimError::invalid_value(format!(
            "an email must be an object with a \"value\", not {}",
            kind(v)
        )));
    };
    for k in obj.keys() {
        if !["value", "primary", "type", "display"]
            .iter()
            .any(|a| k.eq_ignore_ascii_case(a))
        {
            return Err(ScimError::invalid_path(format!(
                "emails.{} is not supported",
                excerpt(k)
            )));
        }
    }
    let value = match get_ci(obj, "value")? {
        Some(v) => required_string("emails.value", v)?,
        None => return Err(ScimError::invalid_value("an email needs a \"value\"")),
    };
    let primary = match get_ci(obj, "primary")? {
        None | Some(Value::Null) => false,
        Some(p) => boolean("emails.primary", p)?,
    };
    if let Some(t) = get_ci(obj, "type")? {
        opt_string("emails.type", t)?;
    }
    Ok((value, primary))
}

/// The elements of an `emails` value (a single object is a list of one).
pub(crate) fn email_list(v: &Value) -> Result<Vec<(String, bool)>, ScimError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(email_element).collect(),
        Value::Object(_) => Ok(vec![email_element(v)?]),
        other => Err(ScimError::invalid_value(format!(
            "emails must be an array of objects, not {}",
            kind(other)
        ))),
    }
}

/// The stored email of a list: the primary, else the first.
pub(crate) fn stored_email(list: &[(String, bool)]) -> Option<String> {
    list.iter()
        .find(|(_, p)| *p)
        .or_else(|| list.first())
        .map(|(v, _)| v.clone())
}

/// `schemas` must be an array of strings listing `urn` (case-insensitive).
pub(crate) fn require_schema(obj: &Map<String, Value>, urn: &str) -> Result<(), ScimError> {
    match get_ci(obj, "schemas")? {
        None => Err(ScimError::invalid_syntax(format!(
            "\"schemas\" is required and must list {urn}"
        ))),
        Some(Value::Array(items)) => {
            if items
                .iter()
                .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
            {
                Ok(())
            } else {
                Err(ScimError::invalid_value(format!(
                    "\"schemas\" must list {urn}"
                )))
            }
        }
        Some(_) => Err(ScimError::invalid_syntax(
            "\"schemas\" must be an array of URNs",
        )),
    }
}

/// Manager: a string id (Entra ID) or `{"value": id, ...}`; null clears.
pub(crate) fn manager(v: &Value) -> Result<Option<String>, ScimError> {
    match v {
        Value::Object(obj) => {
            for k in obj.keys() {
                if !["value", "displayName", "$ref"]
                    .iter()
                    .any(|a| k.eq_ignore_ascii_case(a))
                {
                    return Err(ScimError::invalid_path(format!(
                        "manager.{} is not supported",
                        excerpt(k)
                    )));
                }
            }
            match get_ci(obj, "value")? {
                Some(v) => opt_string("manager.value", v),
                None => Ok(None),
            }
        }
        other => opt_string("manager", other),
    }
}
