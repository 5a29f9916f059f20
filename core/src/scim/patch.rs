//! PATCH bodies (RFC 7644 section 3.5.2) normalised into typed changes.
//!
//! Accepted: `schemas` listing [`PATCH_OP_SCHEMA`] (missing: `400
//! invalidSyntax`; not listing it: `400 invalidValue`), `Operations` (1 to
//! [`MAX_OPERATIONS`]), each with `op` `add` / `replace` / `remove` in any
//! case, an optional `path`, and a `value` (required for add and replace).
//! A path-less add/replace takes an object whose keys are paths: plain
//! (`active`), dotted (`name.givenName`), the enterprise extension URN with
//! an object, or `URN:attribute`.
//!
//! Paths: Users — `userName`, `externalId`, `displayName`, `active`,
//! `name`, `name.givenName`, `name.familyName`, `emails`,
//! `emails[type eq "t"]`, `emails[type eq "t"].value` / `.primary`,
//! `emails[primary eq true]...`, `emails[value eq "x"]` / `.value`, and the
//! enterprise extension's `employeeNumber`, `department`, `manager`,
//! `manager.value` (these four only under the extension URN: `URN:attr`, or
//! the URN with an object). Groups — `displayName`, `externalId`, `members`,
//! `members[value eq "id"]`. The resource's own core schema URN prefix is
//! accepted. Anything else: `400 invalidPath`; `id` (unless unchanged) and
//! `meta`: `400 mutability`; `remove` without a path: `400 noTarget`.
//!
//! The output is applied in order by the SQL side, atomically.

use std::collections::HashSet;

use serde_json::Value;

use super::error::{excerpt, ScimError};
use super::filter::{Lexer, Literal};
use super::schema::{canonical_uuid, CORE_GROUP_SCHEMA, CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA};
use super::value::{
    boolean, email_element, email_list, get_ci, manager, member_list, opt_string, require_schema,
    required_string, stored_email, uuid_value,
};

/// URN of the PatchOp message.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Most operations one PATCH may carry.
pub const MAX_OPERATIONS: usize = 1000;

/// One change to a User, in request order. `None` clears the attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserChange {
    /// `userName` (non-empty; unique per provider, case-insensitive: the
    /// SQL side answers `409 uniqueness` on a clash).
    SetUserName(String),
    SetExternalId(Option<String>),
    /// `displayName` → `jit.users.name`.
    SetDisplayName(Option<String>),
    SetGivenName(Option<String>),
    SetFamilyName(Option<String>),
    /// Set (or clear) the stored email.
    SetEmail(Option<String>),
    /// A non-primary email was added: store it only if no email is stored.
    AddEmail(String),
    /// An email was removed: clear the stored email only if it equals this
    /// one (case-insensitively).
    RemoveEmail(String),
    /// `active`: false deprovisions (blocks) as `jit.deprovision` does,
    /// true lifts it.
    SetActive(bool),
    SetEmployeeNumber(Option<String>),
    SetDepartment(Option<String>),
    /// `manager.value`.
    SetManager(Option<String>),
}

/// One change to a Group, in request order. Member ids are canonical
/// UUIDs. Only memberships granted by this provider's SCIM client are ever
/// removed or replaced (the SQL side's rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupChange {
    Rename(String),
    SetExternalId(Option<String>),
    AddMembers(Vec<String>),
    /// Remove exactly these members.
    RemoveMembers(Vec<String>),
    /// The SCIM-granted members become exactly these (empty: remove all
    /// SCIM-granted memberships).
    ReplaceMembers(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

struct Operation<'a> {
    op: Op,
    path: Option<&'a str>,
    value: Option<&'a Value>,
}

/// The `Operations` of a PATCH body, checked for shape.
fn operations(body: &Value) -> Result<Vec<Operation<'_>>, ScimError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the request body must be a JSON object"))?;
    require_schema(obj, PATCH_OP_SCHEMA)?;
    let list = match get_ci(obj, "Operations")? {
        Some(Value::Array(list)) => list,
        Some(_) => return Err(ScimError::invalid_syntax("\"Operations\" must be an array")),
        None => return Err(ScimError::invalid_syntax("\"Operations\" is required")),
    };
    if list.is_empty() {
        return Err(ScimError::invalid_value("\"Operations\" is empty"));
    }
    if list.len() > MAX_OPERATIONS {
        return Err(ScimError::invalid_value(format!(
            "{} operations; at most {MAX_OPERATIONS} are accepted",
            list.len()
        )));
    }
    list.iter()
        .map(|item| {
            let o = item
                .as_object()
                .ok_or_else(|| ScimError::invalid_syntax("each operation must be an object"))?;
            let op = match get_ci(o, "op")? {
                Some(Value::String(s)) if s.eq_ignore_ascii_case("add") => Op::Add,
                Some(Value::String(s)) if s.eq_ignore_ascii_case("replace") => Op::Replace,
                Some(Value::String(s)) if s.eq_ignore_ascii_case("remove") => Op::Remove,
                Some(Value::String(s)) => {
                    return Err(ScimError::invalid_value(format!(
                        "unknown op '{}' (add, replace or remove)",
                        excerpt(s)
                    )))
                }
                _ => {
                    return Err(ScimError::invalid_syntax(
                        "each operation needs \"op\": add, replace or remove",
                    ))
                }
            };
            let path = match get_ci(o, "path")? {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.trim().is_empty() => None,
                Some(Value::String(s)) => Some(s.as_str()),
                Some(_) => return Err(ScimError::invalid_path("\"path\" must be a string")),
            };
            let value = get_ci(o, "value")?;
            if op != Op::Remove && value.is_none() {
                return Err(ScimError::invalid_value("add and replace need a \"value\""));
            }
            Ok(Operation { op, path, value })
        })
        .collect()
}

/// A parsed `path`.
struct Path<'a> {
    /// Under the enterprise extension URN.
    ext: bool,
    /// The attribute, possibly dotted (`name.givenName`); empty for the
    /// extension URN alone.
    attr: &'a str,
    /// `[sub eq literal]`.
    filter: Option<(&'a str, Literal)>,
    /// `.sub` after the filter.
    sub: Option<&'a str>,
}

fn strip_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

fn parse_path<'a>(path: &'a str, core_schema: &str) -> Result<Path<'a>, ScimError> {
    let bad = || ScimError::invalid_path(format!("invalid path '{}'", excerpt(path)));
    let (ext, rest) = if let Some(rest) = strip_ci(path, ENTERPRISE_USER_SCHEMA) {
        if rest.is_empty() {
            return Ok(Path {
                ext: true,
                attr: "",
                filter: None,
                sub: None,
            });
        }
        (true, rest.strip_prefix(':').ok_or_else(bad)?)
    } else if let Some(rest) = strip_ci(path, core_schema) {
        (false, rest.strip_prefix(':').ok_or_else(bad)?)
    } else {
        (false, path)
    };
    let mut lx = Lexer::new(rest);
    let attr = lx.word();
    if attr.is_empty() {
        return Err(bad());
    }
    let mut filter = None;
    let mut sub = None;
    if lx.peek() == Some(b'[') {
        let (name, lit) = lx.bracket_filter().map_err(|e| {
            ScimError::invalid_path(format!("invalid filter in path: {}", e.detail))
        })?;
        filter = Some((name, lit));
        if lx.peek() == Some(b'.') {
            lx.pos += 1;
            let s = lx.word();
            if s.is_empty() {
                return Err(bad());
            }
            sub = Some(s);
        }
    }
    if !lx.at_end() {
        return Err(bad());
    }
    Ok(Path {
        ext,
        attr,
        filter,
        sub,
    })
}

fn unsupported(what: &str) -> ScimError {
    ScimError::invalid_path(format!(
        "'{}' is not an attribute this service provider stores",
        excerpt(what)
    ))
}

fn value_or_null(value: Option<&Value>) -> &Value {
    value.unwrap_or(&Value::Null)
}

/// A single-valued optional string: `remove` or null clears it.
fn single(op: Op, attr: &str, value: Option<&Value>) -> Result<Option<String>, ScimError> {
    match op {
        Op::Remove => Ok(None),
        _ => opt_string(attr, value_or_null(value)),
    }
}

/// `id`: accepted only unchanged (Okta's path-less group rename repeats it).
fn check_id(op: Op, value: Option<&Value>, resource_id: &str) -> Result<(), ScimError> {
    let same = op != Op::Remove
        && value
            .and_then(Value::as_str)
            .and_then(canonical_uuid)
            .zip(canonical_uuid(resource_id))
            .is_some_and(|(a, b)| a == b);
    if same {
        Ok(())
    } else {
        Err(ScimError::mutability("id is read-only"))
    }
}

/// Normalises a PATCH body for the User `resource_id`.
pub fn normalize_user_patch(body: &Value, resource_id: &str) -> Result<Vec<UserChange>, ScimError> {
    let mut out = Vec::new();
    for o in operations(body)? {
        match o.path {
            Some(p) => user_op(o.op, p, o.value, resource_id, &mut out)?,
            None => pathless(o.op, o.value, |k, v| {
                user_op(o.op, k, Some(v), resource_id, &mut out)
            })?,
        }
    }
    Ok(out)
}

/// Normalises a PATCH body for the Group `resource_id`.
pub fn normalize_group_patch(
    body: &Value,
    resource_id: &str,
) -> Result<Vec<GroupChange>, ScimError> {
    let mut out = Vec::new();
    for o in operations(body)? {
        match o.path {
            Some(p) => group_op(o.op, p, o.value, resource_id, &mut out)?,
            None => pathless(o.op, o.value, |k, v| {
                group_op(o.op, k, Some(v), resource_id, &mut out)
            })?,
        }
    }
    Ok(out)
}

/// A path-less operation: `remove` is `noTarget`; add/replace apply each
/// key of the value object as a path (`schemas` keys are skipped).
fn pathless(
    op: Op,
    value: Option<&Value>,
    mut each: impl FnMut(&str, &Value) -> Result<(), ScimError>,
) -> Result<(), ScimError> {
    if op == Op::Remove {
        return Err(ScimError::no_target("remove needs a \"path\""));
    }
    let Some(Value::Object(obj)) = value else {
        return Err(ScimError::invalid_value(
            "an add or replace without a path needs an object value",
        ));
    };
    let mut seen = HashSet::with_capacity(obj.len());
    for (k, v) in obj {
        if !seen.insert(k.to_ascii_lowercase()) {
            return Err(ScimError::invalid_syntax(format!(
                "the attribute '{}' is given twice",
                excerpt(k)
            )));
        }
        if k.eq_ignore_ascii_case("schemas") {
            continue;
        }
        each(k, v)?;
    }
    Ok(())
}

fn user_op(
    op: Op,
    path: &str,
    value: Option<&Value>,
    resource_id: &str,
    out: &mut Vec<UserChange>,
) -> Result<(), ScimError> {
    let p = parse_path(path, CORE_USER_SCHEMA)?;
    if p.ext {
        return enterprise(op, p.attr, value, out);
    }
    let is = |name: &str| p.attr.eq_ignore_ascii_case(name);
    if let Some((name, lit)) = &p.filter {
        if !is("emails") {
            return Err(unsupported(path));
        }
        return filtered_email(op, path, name, lit, p.sub, value, out);
    }
    if is("userName") {
        match (op, value_or_null(value)) {
            (Op::Remove, _) | (_, Value::Null) => {
                return Err(ScimError::mutability("userName is required"))
            }
            (_, v) => out.push(UserChange::SetUserName(required_string("userName", v)?)),
        }
    } else if is("externalId") {
        out.push(UserChange::SetExternalId(single(op, "externalId", value)?));
    } else if is("displayName") {
        out.push(UserChange::SetDisplayName(single(
            op,
            "displayName",
            value,
        )?));
    } else if is("name.givenName") {
        out.push(UserChange::SetGivenName(single(
            op,
            "name.givenName",
            value,
        )?));
    } else if is("name.familyName") {
        out.push(UserChange::SetFamilyName(single(
            op,
            "name.familyName",
            value,
        )?));
    } else if is("active") {
        match (op, value_or_null(value)) {
            (Op::Remove, _) | (_, Value::Null) => {
                return Err(ScimError::mutability(
                    "active cannot be removed; replace it with true or false",
                ))
            }
            (_, v) => out.push(UserChange::SetActive(boolean("active", v)?)),
        }
    } else if is("name") {
        match (op, value_or_null(value)) {
            (Op::Remove, _) | (_, Value::Null) => {
                out.push(UserChange::SetGivenName(None));
                out.push(UserChange::SetFamilyName(None));
            }
            (_, Value::Object(name)) => {
                for (k, v) in name {
                    if k.eq_ignore_ascii_case("givenName") {
                        out.push(UserChange::SetGivenName(opt_string("name.givenName", v)?));
                    } else if k.eq_ignore_ascii_case("familyName") {
                        out.push(UserChange::SetFamilyName(opt_string("name.familyName", v)?));
                    } else {
                        return Err(unsupported(&format!("name.{k}")));
                    }
                }
            }
            _ => return Err(ScimError::invalid_value("name must be an object")),
        }
    } else if is("emails") {
        emails(op, value, out)?;
    } else if is("id") {
        check_id(op, value, resource_id)?;
    } else if is("meta") || strip_ci(p.attr, "meta.").is_some() || is("groups") {
        return Err(ScimError::mutability(format!(
            "{} is read-only",
            excerpt(p.attr)
        )));
    } else {
        return Err(unsupported(path));
    }
    Ok(())
}

/// `emails` without a filter.
fn emails(op: Op, value: Option<&Value>, out: &mut Vec<UserChange>) -> Result<(), ScimError> {
    match op {
        Op::Replace => {
            let list = email_list(value_or_null(value))?;
            out.push(UserChange::SetEmail(stored_email(&list)));
        }
        Op::Add => {
            let list = email_list(value_or_null(value))?;
            if let Some((v, _)) = list.iter().find(|(_, primary)| *primary) {
                out.push(UserChange::SetEmail(Some(v.clone())));
            } else if let Some((v, _)) = list.first() {
                out.push(UserChange::AddEmail(v.clone()));
            }
        }
        Op::Remove => match value {
            None | Some(Value::Null) => out.push(UserChange::SetEmail(None)),
            Some(v) => {
                for (e, _) in email_list(v)? {
                    out.push(UserChange::RemoveEmail(e));
                }
            }
        },
    }
    Ok(())
}

/// `emails[<filter>]` and `emails[<filter>].<sub>`.
fn filtered_email(
    op: Op,
    path: &str,
    name: &str,
    lit: &Literal,
    sub: Option<&str>,
    value: Option<&Value>,
    out: &mut Vec<UserChange>,
) -> Result<(), ScimError> {
    enum Sel<'a> {
        /// `type eq "t"` or `primary eq true`: the one stored email.
        Stored,
        /// `value eq "x"`.
        ByValue(&'a str),
    }
    let sel = match lit {
        Literal::Str(_) if name.eq_ignore_ascii_case("type") => Sel::Stored,
        Literal::Bool(true) if name.eq_ignore_ascii_case("primary") => Sel::Stored,
        Literal::Str(v) if name.eq_ignore_ascii_case("value") => Sel::ByValue(v),
        _ => {
            return Err(ScimError::invalid_path(format!(
                "unsupported email selector in '{}' (type eq \"...\", primary eq true or value eq \"...\")",
                excerpt(path)
            )))
        }
    };
    let v = value_or_null(value);
    match sub {
        Some(s) if s.eq_ignore_ascii_case("primary") => {
            // Accepted, nothing stored: there is one email.
            if op != Op::Remove && !v.is_null() {
                boolean("emails.primary", v)?;
            }
        }
        Some(s) if s.eq_ignore_ascii_case("value") => match (sel, op, v) {
            (Sel::Stored, Op::Remove, _) | (Sel::Stored, _, Value::Null) => {
                out.push(UserChange::SetEmail(None))
            }
            (Sel::Stored, _, v) => out.push(UserChange::SetEmail(Some(required_string(
                "emails.value",
                v,
            )?))),
            (Sel::ByValue(old), Op::Remove, _) | (Sel::ByValue(old), _, Value::Null) => {
                out.push(UserChange::RemoveEmail(old.to_string()))
            }
            (Sel::ByValue(old), _, v) => {
                let new = required_string("emails.value", v)?;
                out.push(UserChange::RemoveEmail(old.to_string()));
                out.push(UserChange::AddEmail(new));
            }
        },
        Some(_) => return Err(unsupported(path)),
        None => match (sel, op, v) {
            (Sel::Stored, Op::Remove, _) | (Sel::Stored, _, Value::Null) => {
                out.push(UserChange::SetEmail(None))
            }
            (Sel::Stored, _, v) => out.push(UserChange::SetEmail(Some(email_element(v)?.0))),
            (Sel::ByValue(old), Op::Remove, _) | (Sel::ByValue(old), _, Value::Null) => {
                out.push(UserChange::RemoveEmail(old.to_string()))
            }
            (Sel::ByValue(old), _, v) => {
                let (new, _) = email_element(v)?;
                out.push(UserChange::RemoveEmail(old.to_string()));
                out.push(UserChange::AddEmail(new));
            }
        },
    }
    Ok(())
}

/// The enterprise extension: `attr` empty for the whole extension object.
fn enterprise(
    op: Op,
    attr: &str,
    value: Option<&Value>,
    out: &mut Vec<UserChange>,
) -> Result<(), ScimError> {
    let is = |name: &str| attr.eq_ignore_ascii_case(name);
    if attr.is_empty() {
        match (op, value_or_null(value)) {
            (Op::Remove, _) | (_, Value::Null) => {
                out.push(UserChange::SetEmployeeNumber(None));
                out.push(UserChange::SetDepartment(None));
                out.push(UserChange::SetManager(None));
            }
            (_, Value::Object(ext)) => {
                for (k, v) in ext {
                    if k.is_empty() {
                        return Err(unsupported(k));
                    }
                    // A client may repeat the extension's URN in the value
                    // (`"schemas": [...]`), as in a path-less value.
                    if k.eq_ignore_ascii_case("schemas") {
                        continue;
                    }
                    enterprise(op, k, Some(v), out)?;
                }
            }
            _ => {
                return Err(ScimError::invalid_value(
                    "the enterprise extension must be an object",
                ))
            }
        }
    } else if is("employeeNumber") {
        out.push(UserChange::SetEmployeeNumber(single(
            op,
            "employeeNumber",
            value,
        )?));
    } else if is("department") {
        out.push(UserChange::SetDepartment(single(op, "department", value)?));
    } else if is("manager") {
        out.push(UserChange::SetManager(match op {
            Op::Remove => None,
            _ => manager(value_or_null(value))?,
        }));
    } else if is("manager.value") {
        out.push(UserChange::SetManager(single(op, "manager.value", value)?));
    } else {
        return Err(unsupported(&format!("{ENTERPRISE_USER_SCHEMA}:{attr}")));
    }
    Ok(())
}

fn group_op(
    op: Op,
    path: &str,
    value: Option<&Value>,
    resource_id: &str,
    out: &mut Vec<GroupChange>,
) -> Result<(), ScimError> {
    let p = parse_path(path, CORE_GROUP_SCHEMA)?;
    if p.ext {
        return Err(unsupported(path));
    }
    let is = |name: &str| p.attr.eq_ignore_ascii_case(name);
    if let Some((name, lit)) = &p.filter {
        return match (is("members"), lit, p.sub, op) {
            (true, Literal::Str(id), None, Op::Remove) if name.eq_ignore_ascii_case("value") => {
                out.push(GroupChange::RemoveMembers(vec![uuid_value(
                    "members.value",
                    id,
                )?]));
                Ok(())
            }
            (true, _, None, Op::Add | Op::Replace) => Err(ScimError::invalid_path(
                "members[...] can only be removed; add members with the path \"members\"",
            )),
            _ => Err(unsupported(path)),
        };
    }
    if is("displayName") {
        match (op, value_or_null(value)) {
            (Op::Remove, _) | (_, Value::Null) => {
                return Err(ScimError::mutability("displayName is required"))
            }
            (_, v) => out.push(GroupChange::Rename(required_string("displayName", v)?)),
        }
    } else if is("externalId") {
        out.push(GroupChange::SetExternalId(single(op, "externalId", value)?));
    } else if is("members") {
        match op {
            Op::Add => out.push(GroupChange::AddMembers(member_list(value_or_null(value))?)),
            Op::Replace => out.push(GroupChange::ReplaceMembers(member_list(value_or_null(
                value,
            ))?)),
            Op::Remove => match value {
                None | Some(Value::Null) => out.push(GroupChange::ReplaceMembers(Vec::new())),
                Some(v) => out.push(GroupChange::RemoveMembers(member_list(v)?)),
            },
        }
    } else if is("id") {
        check_id(op, value, resource_id)?;
    } else if is("meta") || strip_ci(p.attr, "meta.").is_some() {
        return Err(ScimError::mutability(format!(
            "{} is read-only",
            excerpt(p.attr)
        )));
    } else {
        return Err(unsupported(path));
    }
    Ok(())
}
