//! POST and PUT bodies: a whole User or Group, reduced to what is stored.
//!
//! Attributes that are not stored (`password`, `locale`, `title`, `groups`,
//! `name.formatted`, `roles`...) and read-only ones (`id`, `meta`) are
//! ignored, as RFC 7644 3.3 / 3.5.1 allow and as Okta's full-user PUT
//! needs; stored ones are type-checked.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::schema::{CORE_GROUP_SCHEMA, CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA};
use super::value::{
    boolean, email_list, get_ci, manager, member_list, opt_string, require_schema, required_string,
    stored_email,
};

/// A User as stored: `jit.users` columns `user_name`, `external_id`,
/// `name`, `given_name`, `family_name`, `email`, blocked = !active, plus the
/// enterprise extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInput {
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// The primary (else first) `emails` value.
    pub email: Option<String>,
    /// `None` when absent (or null). The SQL side: on POST absent means
    /// active; on PUT absent leaves the block state unchanged, so a PUT
    /// without `active` never re-enables a deprovisioned user.
    pub active: Option<bool>,
    pub employee_number: Option<String>,
    pub department: Option<String>,
    /// `manager.value` (or a bare string id).
    pub manager: Option<String>,
}

/// A Group as stored: `jit.groups`, with the SCIM-granted memberships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    /// Member user ids, canonical UUIDs.
    pub members: Vec<String>,
}

fn object(body: &Value) -> Result<&Map<String, Value>, ScimError> {
    body.as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the request body must be a JSON object"))
}

fn optional(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, ScimError> {
    match get_ci(obj, name)? {
        Some(v) => opt_string(name, v),
        None => Ok(None),
    }
}

/// A POST or PUT `/Users` body.
pub fn parse_user(body: &Value) -> Result<UserInput, ScimError> {
    let obj = object(body)?;
    require_schema(obj, CORE_USER_SCHEMA)?;
    let user_name = match get_ci(obj, "userName")? {
        Some(v) => required_string("userName", v)?,
        None => return Err(ScimError::invalid_value("userName is required")),
    };
    let (mut given_name, mut family_name) = (None, None);
    match get_ci(obj, "name")? {
        None | Some(Value::Null) => {}
        Some(Value::Object(name)) => {
            given_name = optional(name, "givenName")?;
            family_name = optional(name, "familyName")?;
        }
        Some(_) => return Err(ScimError::invalid_value("name must be an object")),
    }
    let email = match get_ci(obj, "emails")? {
        Some(v) => stored_email(&email_list(v)?),
        None => None,
    };
    let active = match get_ci(obj, "active")? {
        None | Some(Value::Null) => None,
        Some(v) => Some(boolean("active", v)?),
    };
    let (mut employee_number, mut department, mut mgr) = (None, None, None);
    match get_ci(obj, ENTERPRISE_USER_SCHEMA)? {
        None | Some(Value::Null) => {}
        Some(Value::Object(ext)) => {
            employee_number = optional(ext, "employeeNumber")?;
            department = optional(ext, "department")?;
            if let Some(m) = get_ci(ext, "manager")? {
                mgr = manager(m)?;
            }
        }
        Some(_) => {
            return Err(ScimError::invalid_value(
                "the enterprise extension must be an object",
            ))
        }
    }
    Ok(UserInput {
        user_name,
        external_id: optional(obj, "externalId")?,
        display_name: optional(obj, "displayName")?,
        given_name,
        family_name,
        email,
        active,
        employee_number,
        department,
        manager: mgr,
    })
}

/// A POST or PUT `/Groups` body.
pub fn parse_group(body: &Value) -> Result<GroupInput, ScimError> {
    let obj = object(body)?;
    require_schema(obj, CORE_GROUP_SCHEMA)?;
    let display_name = match get_ci(obj, "displayName")? {
        Some(v) => required_string("displayName", v)?,
        None => return Err(ScimError::invalid_value("displayName is required")),
    };
    let members = match get_ci(obj, "members")? {
        Some(v) => member_list(v)?,
        None => Vec::new(),
    };
    Ok(GroupInput {
        display_name,
        external_id: optional(obj, "externalId")?,
        members,
    })
}
