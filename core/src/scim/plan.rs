//! One SCIM request → one JSON "plan" that the SQL side (`jit.scim` in
//! `sql/scim.sql`) executes: the route, and everything taken from the
//! request already parsed and typed. Or the error response, when the
//! request is wrong before any row is read.
//!
//! The plan is JSON because that is what plpgsql reads easily; its shapes:
//!
//! ```text
//! {"error": {"status": 400, "body": {...RFC 7644 Error...}, "allow": "GET, POST"?}}
//! {"route": "list",    "resource": "User"|"Group", "filter": [{"attr","value"}] (all must hold),
//!  "can_match": bool, "start_index": n, "count": n, "attributes": [..], "excluded": [..]}
//! {"route": "get",     "resource", "id", "attributes", "excluded"}
//! {"route": "create",  "resource", "user" | "group"}
//! {"route": "replace", "resource", "id", "user" | "group"}
//! {"route": "patch",   "resource", "id", "changes": [...]}
//! {"route": "delete",  "resource", "id"}
//! {"route": "document", "body": {...}}      discovery endpoints
//! ```
//!
//! A user's `changes` are `{"op": "set", "attr": <jit.users column>, "value":
//! text|null}`, `{"op": "add_email"|"remove_email", "value"}` and `{"op":
//! "active", "value": bool}`; a group's are `{"op": "set", "attr": "name" |
//! "external_id", "value"}` and `{"op": "add_members" | "remove_members" |
//! "replace_members", "members": [uuid...]}`. Filter attributes are
//! `user_name`, `external_id`, `id`, `email`, `name` (the group's
//! displayName); every comparison but `external_id` and `id` is
//! case-insensitive.

use serde_json::{json, Value};

use super::discovery;
use super::error::ScimError;
use super::filter::{Filter, FilterAttr};
use super::patch::{normalize_group_patch, normalize_user_patch, GroupChange, UserChange};
use super::request::{
    allowed_methods, parse_body, parse_query, parse_route, Query, Route, MAX_RESULTS,
};
use super::resource::{parse_group, parse_user, GroupInput, UserInput};
use super::schema::Resource;

/// The plan for one request (see the module documentation).
pub fn plan(
    method: &str,
    path: &str,
    query: Option<&str>,
    body: Option<&str>,
    base_url: Option<&str>,
) -> Value {
    // PostgreSQL's text and jsonb cannot hold U+0000, which JSON can
    // (`"\u0000"`): a plan carrying one could not even reach the SQL side.
    let planned = plan_route(method, path, query, body, base_url).and_then(|v| {
        if contains_nul(&v) {
            Err(ScimError::invalid_value(
                "the request holds a U+0000 character, which no attribute can store",
            ))
        } else {
            Ok(v)
        }
    });
    match planned {
        Ok(v) => v,
        Err(e) => {
            let mut body = e.to_json();
            scrub_nul(&mut body);
            let mut err = json!({"status": e.status, "body": body});
            if e.status == 405 {
                if let (Some(allow), Some(obj)) = (allowed_methods(path), err.as_object_mut()) {
                    obj.insert("allow".into(), Value::String(allow.into()));
                }
            }
            json!({ "error": err })
        }
    }
}

fn contains_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(contains_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// Replaces U+0000 by U+FFFD in an error body (details quote the input).
fn scrub_nul(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
        Value::Array(a) => a.iter_mut().for_each(scrub_nul),
        Value::Object(o) => o.values_mut().for_each(scrub_nul),
        _ => {}
    }
}

fn plan_route(
    method: &str,
    path: &str,
    query: Option<&str>,
    body: Option<&str>,
    base_url: Option<&str>,
) -> Result<Value, ScimError> {
    let route = parse_route(method, path)?;
    Ok(match route {
        Route::List(r) => {
            let q = parse_query(query)?;
            let filter = q.filter_for(r)?;
            if filter
                .as_ref()
                .is_some_and(|f| f.all_of.iter().any(|c| c.value.contains('\0')))
            {
                return Err(ScimError::invalid_filter(
                    "a filter value holds a U+0000 character, which no attribute can store",
                ));
            }
            list_plan(r, &q, filter.as_ref())
        }
        Route::Get(r, id) => {
            let q = parse_query(query)?;
            json!({"route": "get", "resource": r.name(), "id": id,
                   "attributes": q.attributes, "excluded": q.excluded_attributes})
        }
        Route::Create(r) => {
            let v = parse_body(body)?;
            with_input(json!({"route": "create", "resource": r.name()}), r, &v)?
        }
        Route::Replace(r, id) => {
            let v = parse_body(body)?;
            with_input(
                json!({"route": "replace", "resource": r.name(), "id": id}),
                r,
                &v,
            )?
        }
        Route::Patch(r, id) => {
            let v = parse_body(body)?;
            let changes: Vec<Value> = match r {
                Resource::User => normalize_user_patch(&v, &id)?
                    .iter()
                    .map(user_change)
                    .collect(),
                Resource::Group => normalize_group_patch(&v, &id)?
                    .iter()
                    .map(group_change)
                    .collect(),
            };
            json!({"route": "patch", "resource": r.name(), "id": id, "changes": changes})
        }
        Route::Delete(r, id) => json!({"route": "delete", "resource": r.name(), "id": id}),
        Route::ServiceProviderConfig => document(discovery::service_provider_config(base_url)),
        Route::ResourceTypes => document(discovery::list(
            [Resource::User, Resource::Group]
                .into_iter()
                .map(|r| discovery::resource_type(r, base_url))
                .collect(),
        )),
        Route::ResourceType(r) => document(discovery::resource_type(r, base_url)),
        Route::Schemas => document(discovery::list(
            discovery::ALL_SCHEMAS
                .iter()
                .map(|s| discovery::schema(*s, base_url))
                .collect(),
        )),
        Route::Schema(s) => document(discovery::schema(s, base_url)),
    })
}

fn document(body: Value) -> Value {
    json!({"route": "document", "body": body})
}

fn list_plan(r: Resource, q: &Query, filter: Option<&Filter>) -> Value {
    // No filter: no comparison (an empty list), every resource.
    let comparisons: Vec<Value> = filter
        .map(|f| {
            f.all_of
                .iter()
                .map(|c| json!({"attr": column(c.attr), "value": c.value}))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "route": "list",
        "resource": r.name(),
        "filter": comparisons,
        "can_match": filter.is_none_or(Filter::can_match),
        "start_index": q.start_index,
        "count": q.count.unwrap_or(MAX_RESULTS),
        "attributes": q.attributes,
        "excluded": q.excluded_attributes,
    })
}

/// The `jit.users` / `jit.groups` column a filter attribute compares.
fn column(a: FilterAttr) -> &'static str {
    match a {
        FilterAttr::UserName => "user_name",
        FilterAttr::ExternalId => "external_id",
        FilterAttr::Id => "id",
        FilterAttr::EmailValue => "email",
        FilterAttr::DisplayName => "name",
    }
}

fn with_input(mut plan: Value, r: Resource, body: &Value) -> Result<Value, ScimError> {
    let (key, input) = match r {
        Resource::User => ("user", user_json(&parse_user(body)?)),
        Resource::Group => ("group", group_json(&parse_group(body)?)),
    };
    if let Some(obj) = plan.as_object_mut() {
        obj.insert(key.into(), input);
    }
    Ok(plan)
}

fn user_json(u: &UserInput) -> Value {
    json!({
        "user_name": u.user_name,
        "external_id": u.external_id,
        "name": u.display_name,
        "given_name": u.given_name,
        "family_name": u.family_name,
        "email": u.email,
        "active": u.active,
        "employee_number": u.employee_number,
        "department": u.department,
        "manager": u.manager,
    })
}

fn group_json(g: &GroupInput) -> Value {
    json!({"name": g.display_name, "external_id": g.external_id, "members": g.members})
}

fn set(attr: &str, value: &Option<String>) -> Value {
    json!({"op": "set", "attr": attr, "value": value})
}

fn user_change(c: &UserChange) -> Value {
    match c {
        UserChange::SetUserName(v) => json!({"op": "set", "attr": "user_name", "value": v}),
        UserChange::SetExternalId(v) => set("external_id", v),
        UserChange::SetDisplayName(v) => set("name", v),
        UserChange::SetGivenName(v) => set("given_name", v),
        UserChange::SetFamilyName(v) => set("family_name", v),
        UserChange::SetEmail(v) => set("email", v),
        UserChange::AddEmail(v) => json!({"op": "add_email", "value": v}),
        UserChange::RemoveEmail(v) => json!({"op": "remove_email", "value": v}),
        UserChange::SetActive(b) => json!({"op": "active", "value": b}),
        UserChange::SetEmployeeNumber(v) => set("employee_number", v),
        UserChange::SetDepartment(v) => set("department", v),
        UserChange::SetManager(v) => set("manager", v),
    }
}

fn group_change(c: &GroupChange) -> Value {
    match c {
        GroupChange::Rename(v) => json!({"op": "set", "attr": "name", "value": v}),
        GroupChange::SetExternalId(v) => set("external_id", v),
        GroupChange::AddMembers(m) => json!({"op": "add_members", "members": m}),
        GroupChange::RemoveMembers(m) => json!({"op": "remove_members", "members": m}),
        GroupChange::ReplaceMembers(m) => json!({"op": "replace_members", "members": m}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_with_filter() {
        let p = plan(
            "GET",
            "/Users",
            Some("filter=userName%20eq%20%22Bjensen%22&count=5"),
            None,
            None,
        );
        assert_eq!(p["route"], "list");
        assert_eq!(p["filter"][0]["attr"], "user_name");
        assert_eq!(p["filter"][0]["value"], "Bjensen");
        assert_eq!(p["count"], 5);
        assert_eq!(p["can_match"], true);
    }

    #[test]
    fn id_filter_that_cannot_match() {
        let p = plan("GET", "/Users", Some("filter=id eq \"x\""), None, None);
        assert_eq!(p["can_match"], false);
    }

    #[test]
    fn errors_carry_status_and_allow() {
        let p = plan("DELETE", "/Users", None, None, None);
        assert_eq!(p["error"]["status"], 405);
        assert_eq!(p["error"]["allow"], "GET, POST");
        let p = plan("POST", "/Users", None, Some("{"), None);
        assert_eq!(p["error"]["status"], 400);
        assert_eq!(p["error"]["body"]["scimType"], "invalidSyntax");
        let p = plan(
            "GET",
            "/Users",
            Some("filter=userName co \"a\""),
            None,
            None,
        );
        assert_eq!(p["error"]["body"]["scimType"], "invalidFilter");
    }

    #[test]
    fn entra_patch() {
        let body = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations":[{"op":"Replace","path":"active","value":"False"},
                          {"op":"Add","path":"name.givenName","value":"B"}]}"#;
        let p = plan(
            "PATCH",
            "/Users/2819c223-7f76-453a-919d-413861904646",
            None,
            Some(body),
            None,
        );
        assert_eq!(p["changes"][0], json!({"op": "active", "value": false}));
        assert_eq!(
            p["changes"][1],
            json!({"op": "set", "attr": "given_name", "value": "B"})
        );
    }

    #[test]
    fn nul_characters_are_refused_not_passed_on() {
        let body =
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a\u0000b"}"#;
        let p = plan("POST", "/Users", None, Some(body), None);
        assert_eq!(p["error"]["body"]["scimType"], "invalidValue");
        let p = plan(
            "GET",
            "/Users",
            Some("filter=userName%20eq%20%22x%00%22"),
            None,
            None,
        );
        assert_eq!(p["error"]["body"]["scimType"], "invalidFilter");
        assert!(!p.to_string().contains("\\u0000"));
        let p = plan("GET", "/Users/\u{0}", None, None, None);
        assert_eq!(p["error"]["status"], 404);
        assert!(!contains_nul(&p));
    }

    #[test]
    fn search_is_not_implemented() {
        assert_eq!(
            plan("POST", "/.search", None, None, None)["error"]["status"],
            501
        );
        assert_eq!(
            plan("POST", "/Users/.search", None, None, None)["error"]["status"],
            501
        );
    }

    #[test]
    fn discovery_is_a_document() {
        let p = plan(
            "GET",
            "/ServiceProviderConfig",
            None,
            None,
            Some("https://x/scim"),
        );
        assert_eq!(p["route"], "document");
        assert_eq!(p["body"]["patch"]["supported"], true);
    }
}
