//! The schema URNs, the two resource types and the UUID form every SCIM
//! module shares. A leaf, so that `scim/mod.rs` only declares and re-exports.

/// Core User schema URN.
pub const CORE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Core Group schema URN.
pub const CORE_GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Enterprise User extension URN (`employeeNumber`, `department`, `manager`).
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The two SCIM resource types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    User,
    Group,
}

impl Resource {
    /// `User` / `Group` (the ResourceType id).
    pub fn name(self) -> &'static str {
        match self {
            Resource::User => "User",
            Resource::Group => "Group",
        }
    }

    /// `Users` / `Groups` (the endpoint without `/`).
    pub fn plural(self) -> &'static str {
        match self {
            Resource::User => "Users",
            Resource::Group => "Groups",
        }
    }

    /// The core schema URN.
    pub fn schema(self) -> &'static str {
        match self {
            Resource::User => CORE_USER_SCHEMA,
            Resource::Group => CORE_GROUP_SCHEMA,
        }
    }
}

/// `s` as a canonical lower-case UUID (`8-4-4-4-12` hex digits, either
/// case); `None` otherwise.
pub fn canonical_uuid(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() != 36 {
        return None;
    }
    for (i, c) in b.iter().enumerate() {
        let ok = if matches!(i, 8 | 13 | 18 | 23) {
            *c == b'-'
        } else {
            c.is_ascii_hexdigit()
        };
        if !ok {
            return None;
        }
    }
    Some(s.to_ascii_lowercase())
}
