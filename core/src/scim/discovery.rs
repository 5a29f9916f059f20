//! The discovery documents of RFC 7644 section 4: `/ServiceProviderConfig`,
//! `/ResourceTypes` and `/Schemas`. They advertise exactly what is stored
//! faithfully (a client that reads them and writes an advertised attribute
//! must read the same value back): for a User `userName`, `name.givenName`,
//! `name.familyName`, `displayName`, one email (`value`, `primary`),
//! `active` and the enterprise extension's `employeeNumber`, `department`,
//! `manager.value`; for a Group `displayName` and `members`. `id`,
//! `externalId` and `meta` are the common attributes of every resource
//! (RFC 7643 section 3.1) and not part of a schema.

use serde_json::{json, Value};

use super::request::{SchemaId, MAX_RESULTS};
use super::schema::{Resource, ENTERPRISE_USER_SCHEMA};

/// Every schema published under `/Schemas`, in order.
pub const ALL_SCHEMAS: [SchemaId; 3] = [SchemaId::User, SchemaId::Group, SchemaId::EnterpriseUser];

const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// `base_url` + `path`; the path alone (relative) when there is no base.
pub fn location(base_url: Option<&str>, path: &str) -> String {
    match base_url {
        Some(b) => format!("{}{}", b.trim_end_matches('/'), path),
        None => path.to_string(),
    }
}

/// A ListResponse holding every item (discovery lists are not paged).
pub fn list(items: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": items.len(),
        "itemsPerPage": items.len(),
        "startIndex": 1,
        "Resources": items,
    })
}

pub fn service_provider_config(base_url: Option<&str>) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "The bearer token issued by jit.scim_token(provider); it selects the provider.",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": location(base_url, "/ServiceProviderConfig"),
        },
    })
}

pub fn resource_type(r: Resource, base_url: Option<&str>) -> Value {
    let extensions = match r {
        Resource::User => json!([{"schema": ENTERPRISE_USER_SCHEMA, "required": false}]),
        Resource::Group => json!([]),
    };
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": r.name(),
        "name": r.name(),
        "endpoint": format!("/{}", r.plural()),
        "description": match r {
            Resource::User => "A user of the application (jit.users)",
            Resource::Group => "An application group (jit.groups)",
        },
        "schema": r.schema(),
        "schemaExtensions": extensions,
        "meta": {
            "resourceType": "ResourceType",
            "location": location(base_url, &format!("/ResourceTypes/{}", r.name())),
        },
    })
}

/// One attribute definition (RFC 7643 section 7) with the defaults that
/// hold for most of ours: a single-valued, optional, case-insensitive,
/// read-write string returned by default.
fn attr(name: &str, description: &str) -> Value {
    json!({
        "name": name,
        "type": "string",
        "multiValued": false,
        "description": description,
        "required": false,
        "caseExact": false,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    })
}

fn with(mut a: Value, key: &str, value: Value) -> Value {
    if let Some(obj) = a.as_object_mut() {
        obj.insert(key.into(), value);
    }
    a
}

fn user_attributes() -> Value {
    let user_name = with(
        with(
            attr(
                "userName",
                "Unique per identity provider, case-insensitive.",
            ),
            "required",
            json!(true),
        ),
        "uniqueness",
        json!("server"),
    );
    let name = with(
        with(attr("name", "The user's name."), "type", json!("complex")),
        "subAttributes",
        json!([
            attr("givenName", "Given name (jit.users.given_name)."),
            attr("familyName", "Family name (jit.users.family_name)."),
        ]),
    );
    let emails = with(
        with(
            with(
                attr(
                    "emails",
                    "One email is stored: the primary one, else the first.",
                ),
                "type",
                json!("complex"),
            ),
            "multiValued",
            json!(true),
        ),
        "subAttributes",
        json!([
            attr("value", "The email address (jit.users.email)."),
            with(
                with(
                    attr(
                        "primary",
                        "Always true: the stored email is the primary one."
                    ),
                    "type",
                    json!("boolean"),
                ),
                "mutability",
                json!("readOnly"),
            ),
        ]),
    );
    // Required: it cannot be removed, since an unassigned `active` would
    // have to either re-enable or disable the user (a POST without it
    // creates an active user).
    let active = with(
        with(
            attr(
                "active",
                "false blocks the user (jit_login refuses it); true lifts a block set through SCIM.",
            ),
            "type",
            json!("boolean"),
        ),
        "required",
        json!(true),
    );
    json!([
        user_name,
        name,
        attr("displayName", "Display name (jit.users.name)."),
        emails,
        active,
    ])
}

fn group_attributes() -> Value {
    let display_name = with(
        attr(
            "displayName",
            "The application group's name (jit.groups.name), unique.",
        ),
        "required",
        json!(true),
    );
    let member_value = with(
        attr("value", "The member's id (a User id)."),
        "mutability",
        json!("immutable"),
    );
    let member_ref = with(
        with(
            with(
                attr("$ref", "The member's URI."),
                "type",
                json!("reference"),
            ),
            "referenceTypes",
            json!(["User"]),
        ),
        "mutability",
        json!("immutable"),
    );
    let members = with(
        with(
            with(
                attr(
                    "members",
                    "Users of the same identity provider granted the group through SCIM.",
                ),
                "type",
                json!("complex"),
            ),
            "multiValued",
            json!(true),
        ),
        "subAttributes",
        json!([member_value, member_ref]),
    );
    json!([display_name, members])
}

fn enterprise_attributes() -> Value {
    let manager = with(
        with(
            attr("manager", "The user's manager."),
            "type",
            json!("complex"),
        ),
        "subAttributes",
        json!([attr("value", "The manager's id.")]),
    );
    json!([
        attr("employeeNumber", "Employee number."),
        attr("department", "Department."),
        manager,
    ])
}

pub fn schema(s: SchemaId, base_url: Option<&str>) -> Value {
    let (name, description, attributes) = match s {
        SchemaId::User => ("User", "User account", user_attributes()),
        SchemaId::Group => ("Group", "Group", group_attributes()),
        SchemaId::EnterpriseUser => ("EnterpriseUser", "Enterprise User", enterprise_attributes()),
    };
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": s.urn(),
        "name": name,
        "description": description,
        "attributes": attributes,
        "meta": {
            "resourceType": "Schema",
            "location": location(base_url, &format!("/Schemas/{}", s.urn())),
        },
    })
}
