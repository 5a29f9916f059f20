//! The SCIM request layer (`jit_provision_core::scim`) on the requests that
//! Okta and Microsoft Entra ID send, in their documented JSON shapes (Okta:
//! "SCIM 2.0 protocol reference" of the Okta developer docs; Entra ID:
//! "Tutorial: Develop and plan provisioning for a SCIM endpoint" on Microsoft
//! Learn), and on bad input: each case asserts the status and `scimType`.
//! Member and user ids in the vendor samples are replaced by UUIDs, since
//! `jit.users.id` is one.

use jit_provision_core::scim::{
    normalize_group_patch, normalize_user_patch, parse_body, parse_filter, parse_group,
    parse_query, parse_route, parse_user, Comparison, FilterAttr, GroupChange, GroupInput,
    Resource, Route, SchemaId, ScimError, ScimType, UserChange, UserInput, MAX_BODY_BYTES,
    MAX_RESULTS,
};
use serde_json::{json, Value};

const USER_ID: &str = "23a35c27-23d3-4c03-b4c5-6443c09e7173";
const GROUP_ID: &str = "abf4dd94-a4c0-4f67-89c9-76b03340cb9b";
const MEMBER_A: &str = "89bb1940-b905-4575-9e7f-6f887cfb368e";
const MEMBER_B: &str = "f648f8d5-ea4e-4cd3-8e9c-7f23a5a8e0b1";

fn body(text: &str) -> Value {
    parse_body(Some(text)).expect("a valid body")
}

fn user_patch(text: &str) -> Result<Vec<UserChange>, ScimError> {
    normalize_user_patch(&body(text), USER_ID)
}

fn group_patch(text: &str) -> Result<Vec<GroupChange>, ScimError> {
    normalize_group_patch(&body(text), GROUP_ID)
}

#[track_caller]
fn assert_err<T: std::fmt::Debug>(r: Result<T, ScimError>, status: u16, t: Option<ScimType>) {
    match r {
        Ok(v) => panic!("expected {status} {t:?}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!((e.status, e.scim_type), (status, t), "{e}");
            let j = e.to_json();
            assert_eq!(j["status"], json!(status.to_string()));
            assert_eq!(
                j["schemas"],
                json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
            );
            assert_eq!(
                j.get("scimType").and_then(Value::as_str),
                t.map(|t| t.as_str())
            );
        }
    }
}

fn bad(t: ScimType) -> Option<ScimType> {
    Some(t)
}

fn user_filter(s: &str) -> Result<Vec<Comparison>, ScimError> {
    parse_filter(Resource::User, s).map(|f| f.all_of)
}

fn group_filter(s: &str) -> Result<Vec<Comparison>, ScimError> {
    parse_filter(Resource::Group, s).map(|f| f.all_of)
}

fn eq(attr: FilterAttr, value: &str) -> Comparison {
    Comparison {
        attr,
        value: value.into(),
    }
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

// ----------------------------------------------------------------- errors

#[test]
fn error_body_is_rfc7644() {
    let e = ScimError::invalid_filter("nope");
    assert_eq!(
        e.to_json(),
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": "400",
            "scimType": "invalidFilter",
            "detail": "nope"
        })
    );
    let e = ScimError::not_found("gone");
    assert_eq!(
        e.to_json(),
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": "404",
            "detail": "gone"
        })
    );
    for (t, s) in [
        (ScimType::InvalidSyntax, "invalidSyntax"),
        (ScimType::InvalidPath, "invalidPath"),
        (ScimType::InvalidValue, "invalidValue"),
        (ScimType::NoTarget, "noTarget"),
        (ScimType::Mutability, "mutability"),
        (ScimType::Uniqueness, "uniqueness"),
        (ScimType::TooMany, "tooMany"),
        (ScimType::InvalidVers, "invalidVers"),
        (ScimType::Sensitive, "sensitive"),
    ] {
        assert_eq!(t.as_str(), s);
    }
}

// ----------------------------------------------------------------- routes

#[test]
fn routes() {
    let up = USER_ID.to_uppercase();
    let cases: Vec<(&str, String, Route)> = vec![
        ("GET", "/Users".into(), Route::List(Resource::User)),
        ("GET", "/Users/".into(), Route::List(Resource::User)),
        ("POST", "/Users".into(), Route::Create(Resource::User)),
        (
            "GET",
            format!("/Users/{USER_ID}"),
            Route::Get(Resource::User, USER_ID.into()),
        ),
        (
            "GET",
            format!("/Users/{up}/"),
            Route::Get(Resource::User, USER_ID.into()),
        ),
        (
            "PUT",
            format!("/Users/{USER_ID}"),
            Route::Replace(Resource::User, USER_ID.into()),
        ),
        (
            "PATCH",
            format!("/Users/{USER_ID}"),
            Route::Patch(Resource::User, USER_ID.into()),
        ),
        (
            "DELETE",
            format!("/Users/{USER_ID}"),
            Route::Delete(Resource::User, USER_ID.into()),
        ),
        ("GET", "/Groups".into(), Route::List(Resource::Group)),
        ("POST", "/Groups/".into(), Route::Create(Resource::Group)),
        (
            "patch",
            format!("/Groups/{GROUP_ID}"),
            Route::Patch(Resource::Group, GROUP_ID.into()),
        ),
        (
            "GET",
            "/ServiceProviderConfig".into(),
            Route::ServiceProviderConfig,
        ),
        (
            "GET",
            "/serviceproviderconfig/".into(),
            Route::ServiceProviderConfig,
        ),
        ("GET", "/ResourceTypes".into(), Route::ResourceTypes),
        (
            "GET",
            "/ResourceTypes/User".into(),
            Route::ResourceType(Resource::User),
        ),
        (
            "GET",
            "/ResourceTypes/Group".into(),
            Route::ResourceType(Resource::Group),
        ),
        ("GET", "/Schemas".into(), Route::Schemas),
        (
            "GET",
            "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User".into(),
            Route::Schema(SchemaId::User),
        ),
        (
            "GET",
            "/Schemas/urn%3Aietf%3Aparams%3Ascim%3Aschemas%3Acore%3A2.0%3AGroup".into(),
            Route::Schema(SchemaId::Group),
        ),
        (
            "GET",
            "/Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into(),
            Route::Schema(SchemaId::EnterpriseUser),
        ),
    ];
    for (m, p, want) in cases {
        assert_eq!(parse_route(m, &p), Ok(want), "{m} {p}");
    }
}

#[test]
fn unknown_routes_are_404() {
    for p in [
        "",
        "/",
        "Users",
        "//Users",
        "/Users//",
        "/Userz",
        "/Users/not-a-uuid",
        "/Users/2819c223-7f76-453a-919d-41386190464",
        "/Users/2819c223-7f76-453a-919d-4138619046466",
        "/Users/2819c223x7f76-453a-919d-413861904646",
        "/Users/%32819c223-7f76-453a-919d-413861904646",
        &format!("/Users/{USER_ID}/extra"),
        "/Users?filter=x",
        "/Groups/1",
        "/ResourceTypes/Device",
        "/Schemas/urn:ietf:params:scim:schemas:core:2.0:Device",
        "/ServiceProviderConfig/x",
        "/../Users",
        "/Users/../../etc/passwd",
    ] {
        assert_err(parse_route("GET", p), 404, None);
        // 404 wins over 405: the path is checked first.
        assert_err(parse_route("BREW", p), 404, None);
    }
    assert_err(parse_route("GET", "/Me"), 501, None);
    assert_err(parse_route("POST", "/Bulk"), 501, None);
    // Searching by POST is not implemented (clients then use GET).
    assert_err(parse_route("POST", "/.search"), 501, None);
    assert_err(parse_route("POST", "/Users/.search"), 501, None);
    assert_err(parse_route("POST", "/Groups/.search"), 501, None);
}

#[test]
fn wrong_methods_are_405() {
    let item = format!("/Users/{USER_ID}");
    for (m, p) in [
        ("PUT", "/Users"),
        ("PATCH", "/Users"),
        ("DELETE", "/Groups"),
        ("POST", item.as_str()),
        ("HEAD", item.as_str()),
        ("OPTIONS", "/Users"),
        ("BREW", "/Users"),
        ("", "/Users"),
        ("POST", "/ServiceProviderConfig"),
        ("DELETE", "/Schemas"),
        ("PUT", "/ResourceTypes/User"),
    ] {
        assert_err(parse_route(m, p), 405, None);
    }
    assert_eq!(
        jit_provision_core::scim::allowed_methods("/Users"),
        Some("GET, POST")
    );
    assert_eq!(
        jit_provision_core::scim::allowed_methods(&item),
        Some("GET, PUT, PATCH, DELETE")
    );
    assert_eq!(jit_provision_core::scim::allowed_methods("/nope"), None);
}

// ------------------------------------------------------------------ query

#[test]
fn query_parameters() {
    // Okta's lookup before a create.
    let q = parse_query(Some(
        "filter=userName%20eq%20%22test.user%40okta.local%22&startIndex=1&count=100",
    ))
    .unwrap();
    assert_eq!(
        q.filter.as_deref(),
        Some("userName eq \"test.user@okta.local\"")
    );
    assert_eq!((q.start_index, q.count), (1, Some(100)));
    assert_eq!(
        q.filter_for(Resource::User).unwrap().unwrap().all_of,
        vec![eq(FilterAttr::UserName, "test.user@okta.local")]
    );

    // Entra ID's group lookup, form-encoded spaces.
    let q = parse_query(Some(
        "excludedAttributes=members&filter=displayName+eq+%22Group%22",
    ))
    .unwrap();
    assert_eq!(q.excluded_attributes, vec!["members"]);
    assert_eq!(
        q.filter_for(Resource::Group).unwrap().unwrap().all_of,
        vec![eq(FilterAttr::DisplayName, "Group")]
    );

    let q = parse_query(Some(
        "attributes=userName,%20emails,,name.givenName&COUNT=5",
    ))
    .unwrap();
    assert_eq!(q.attributes, vec!["userName", "emails", "name.givenName"]);
    assert_eq!(q.count, Some(5));

    let q = parse_query(None).unwrap();
    assert_eq!((q.filter, q.start_index, q.count), (None, 1, None));
    let q = parse_query(Some("")).unwrap();
    assert_eq!(q.start_index, 1);
    // Unknown parameters are ignored.
    assert_eq!(
        parse_query(Some("sortBy=userName&x")).unwrap().start_index,
        1
    );
}

#[test]
fn pagination_clamps_per_rfc7644_3_4_2_4() {
    let q = parse_query(Some("startIndex=0&count=-5")).unwrap();
    assert_eq!((q.start_index, q.count), (1, Some(0)));
    let q = parse_query(Some("startIndex=-99999999999999999999999&count=0")).unwrap();
    assert_eq!((q.start_index, q.count), (1, Some(0)));
    let q = parse_query(Some("startIndex=99999999999999999999999&count=99999999999")).unwrap();
    assert_eq!(
        (q.start_index, q.count),
        (i64::MAX as u64, Some(MAX_RESULTS))
    );
}

#[test]
fn bad_query_parameters() {
    for raw in [
        "startIndex=abc",
        "startIndex=",
        "count=1.5",
        "count=%2B5",
        "count=+5",
        "count=0x10",
        "count=1&count=2",
        "startIndex=1&startindex=2",
        "attributes=a&attributes=b",
        "count=%zz",
        "count=%C3",
    ] {
        assert_err(parse_query(Some(raw)), 400, bad(ScimType::InvalidValue));
    }
    for raw in [
        "filter=userName%20eq%20%22a%22&filter=userName%20eq%20%22b%22",
        "filter=%G1",
        "filter=%ff%fe",
    ] {
        assert_err(parse_query(Some(raw)), 400, bad(ScimType::InvalidFilter));
    }
    let long = format!("x={}", "a".repeat(70_000));
    assert_err(parse_query(Some(&long)), 400, bad(ScimType::InvalidValue));
}

// ------------------------------------------------------------------ bodies

#[test]
fn bodies() {
    assert_err(parse_body(None), 400, bad(ScimType::InvalidSyntax));
    assert_err(parse_body(Some("  ")), 400, bad(ScimType::InvalidSyntax));
    for broken in [
        "{",
        "{\"schemas\": [}",
        "{'a': 1}",
        "{\"a\": 1,}",
        "nul",
        "{\"a\": \"\\x\"}",
        "{\"a\": 1} {\"b\": 2}",
    ] {
        assert_err(parse_body(Some(broken)), 400, bad(ScimType::InvalidSyntax));
    }
    for not_object in ["[]", "\"x\"", "1", "null", "true"] {
        assert_err(
            parse_body(Some(not_object)),
            400,
            bad(ScimType::InvalidSyntax),
        );
    }
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
    assert_err(parse_body(Some(&deep)), 400, bad(ScimType::InvalidSyntax));
    let shallow = format!("{{\"a\":{}1{}}}", "[".repeat(100), "]".repeat(100));
    assert!(parse_body(Some(&shallow)).is_ok());
    // Exactly at the limit parses; one byte more is 413.
    let pad = MAX_BODY_BYTES - "{\"a\":\"\"}".len();
    let at = format!("{{\"a\":\"{}\"}}", "x".repeat(pad));
    assert_eq!(at.len(), MAX_BODY_BYTES);
    assert!(parse_body(Some(&at)).is_ok());
    let over = format!("{{\"a\":\"{}\"}}", "x".repeat(pad + 1));
    assert_err(parse_body(Some(&over)), 413, None);
    let huge = "[".repeat(8 << 20);
    assert_err(parse_body(Some(&huge)), 413, None);
}

// ------------------------------------------------------------ user bodies

#[test]
fn okta_create_user() {
    let u = parse_user(&body(
        r#"{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
  "userName": "test.user@okta.local",
  "name": {
    "givenName": "Test",
    "familyName": "User"
  },
  "emails": [{
    "primary": true,
    "value": "test.user@okta.local",
    "type": "work"
  }],
  "displayName": "Test User",
  "locale": "en-US",
  "externalId": "00ujl29u0le5T6Aj10h7",
  "groups": [],
  "password": "1mz050nq",
  "active": true
}"#,
    ))
    .unwrap();
    assert_eq!(
        u,
        UserInput {
            user_name: "test.user@okta.local".into(),
            external_id: s("00ujl29u0le5T6Aj10h7"),
            display_name: s("Test User"),
            given_name: s("Test"),
            family_name: s("User"),
            email: s("test.user@okta.local"),
            active: Some(true),
            employee_number: None,
            department: None,
            manager: None,
        }
    );
}

#[test]
fn okta_put_whole_user() {
    let u = parse_user(&body(
        r#"{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
  "id": "23a35c27-23d3-4c03-b4c5-6443c09e7173",
  "userName": "test.user@okta.local",
  "name": {
    "givenName": "Another",
    "middleName": "",
    "familyName": "User"
  },
  "emails": [{
    "primary": true,
    "value": "test.user@okta.local",
    "type": "work"
  }],
  "displayName": "Another User",
  "locale": "en-US",
  "externalId": "00ujl29u0le5T6Aj10h7",
  "groups": [],
  "password": "1mz050nq",
  "active": true,
  "meta": {
    "resourceType": "User",
    "created": "2019-08-19T21:37:10.185Z",
    "lastModified": "2019-08-19T21:37:10.185Z",
    "location": "https://example.com/scim/v2/Users/23a35c27-23d3-4c03-b4c5-6443c09e7173"
  }
}"#,
    ))
    .unwrap();
    assert_eq!(u.given_name, s("Another"));
    assert_eq!(u.display_name, s("Another User"));
    assert_eq!(u.user_name, "test.user@okta.local");
    assert_eq!(u.active, Some(true));
}

#[test]
fn entra_create_user() {
    let u = parse_user(&body(
        r#"{
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
    "active": true,
    "emails": [{
        "primary": true,
        "type": "work",
        "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"
    }],
    "meta": {
        "resourceType": "User"
    },
    "name": {
        "formatted": "givenName familyName",
        "familyName": "familyName",
        "givenName": "givenName"
    },
    "roles": [],
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
        "employeeNumber": "100009",
        "department": "Human Resources US",
        "manager": {"value": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ee"}
    }
}"#,
    ))
    .unwrap();
    assert_eq!(
        u,
        UserInput {
            user_name: "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1".into(),
            external_id: s("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"),
            display_name: None,
            given_name: s("givenName"),
            family_name: s("familyName"),
            email: s("Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"),
            active: Some(true),
            employee_number: s("100009"),
            department: s("Human Resources US"),
            manager: s("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ee"),
        }
    );
}

#[test]
fn user_body_details() {
    // Primary else first email; "False" string; missing active is true.
    let u = parse_user(&json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "a",
        "emails": [{"value": "home@x"}, {"value": "work@x", "primary": "True"}],
        "active": "False"
    }))
    .unwrap();
    assert_eq!((u.email, u.active), (s("work@x"), Some(false)));
    let u = parse_user(&json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "a",
        "emails": [{"value": "first@x"}, {"value": "second@x"}]
    }))
    .unwrap();
    assert_eq!((u.email, u.active), (s("first@x"), None));
}

#[test]
fn bad_user_bodies() {
    let core = "urn:ietf:params:scim:schemas:core:2.0:User";
    for (b, t) in [
        (json!({"userName": "a"}), ScimType::InvalidSyntax),
        (
            json!({"schemas": core, "userName": "a"}),
            ScimType::InvalidSyntax,
        ),
        (
            json!({"schemas": ["urn:x"], "userName": "a"}),
            ScimType::InvalidValue,
        ),
        (json!({"schemas": [core]}), ScimType::InvalidValue),
        (
            json!({"schemas": [core], "userName": ""}),
            ScimType::InvalidValue,
        ),
        (
            json!({"schemas": [core], "userName": 5}),
            ScimType::InvalidValue,
        ),
        (
            json!({"schemas": [core], "userName": ["a"]}),
            ScimType::InvalidValue,
        ),
        (
            json!({"schemas": [core], "userName": "a", "active": "yes"}),
            ScimType::InvalidValue,
        ),
        (
            json!({"schemas": [core], "userName": "a", "active": 1}),
            ScimType::InvalidValue,
        ),
        (
            json!({"schemas": [core], "userName": "a", "externalId": 7}),
            ScimType::InvalidValue,
        ),
        (
            json!({"schemas": [core], "userName": "a", "name": "A B"}),
            ScimType::InvalidValue,
        ),
        (
            json!({"schemas": [core], "userName": "a", "name": {"givenName": 1}}),
            ScimType::InvalidValue,
        ),
        (
            json!({"schemas": [core], "userName": "a", "emails": "a@x"}),
            ScimType::InvalidValue,
        ),
        (
            json!({"schemas": [core], "userName": "a", "emails": [{"type": "work"}]}),
            ScimType::InvalidValue,
        ),
        (
            json!({"schemas": [core], "userName": "a", "emails": [{"value": "a@x", "primary": "maybe"}]}),
            ScimType::InvalidValue,
        ),
        (
            json!({"schemas": [core], "userName": "a", "UserName": "b"}),
            ScimType::InvalidSyntax,
        ),
    ] {
        assert_err(parse_user(&b), 400, bad(t));
    }
}

// ----------------------------------------------------------- group bodies

#[test]
fn okta_and_entra_create_group() {
    let g = parse_group(&body(
        r#"{
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
    "displayName": "Test SCIMv2",
    "members": []
}"#,
    ))
    .unwrap();
    assert_eq!(
        g,
        GroupInput {
            display_name: "Test SCIMv2".into(),
            external_id: None,
            members: vec![],
        }
    );
    let g = parse_group(&body(
        r#"{
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
    "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
    "displayName": "displayName",
    "meta": {
        "resourceType": "Group"
    }
}"#,
    ))
    .unwrap();
    assert_eq!(g.external_id, s("8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"));
    assert_eq!(g.display_name, "displayName");
    let g = parse_group(&json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "G",
        "members": [{"value": MEMBER_A.to_uppercase(), "display": "a"}, {"value": MEMBER_B, "$ref": null}]
    }))
    .unwrap();
    assert_eq!(g.members, vec![MEMBER_A.to_string(), MEMBER_B.to_string()]);
}

#[test]
fn bad_group_bodies() {
    let core = "urn:ietf:params:scim:schemas:core:2.0:Group";
    for b in [
        json!({"schemas": [core]}),
        json!({"schemas": [core], "displayName": " "}),
        json!({"schemas": [core], "displayName": 1}),
        json!({"schemas": [core], "displayName": "G", "members": [{"value": "not-a-uuid"}]}),
        json!({"schemas": [core], "displayName": "G", "members": [{"display": "x"}]}),
        json!({"schemas": [core], "displayName": "G", "members": ["89bb1940-b905-4575-9e7f-6f887cfb368e"]}),
        json!({"schemas": [core], "displayName": "G", "members": [{"value": MEMBER_A, "type": "Group"}]}),
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "displayName": "G"}),
    ] {
        assert_err(parse_group(&b), 400, bad(ScimType::InvalidValue));
    }
}

// ------------------------------------------------------------ user PATCH

#[test]
fn entra_update_user_multi_valued() {
    let c = user_patch(
        r#"{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [
            {
            "op": "Replace",
            "path": "emails[type eq \"work\"].value",
            "value": "updatedEmail@microsoft.com"
            },
            {
            "op": "Replace",
            "path": "name.familyName",
            "value": "updatedFamilyName"
            }
    ]
}"#,
    )
    .unwrap();
    assert_eq!(
        c,
        vec![
            UserChange::SetEmail(s("updatedEmail@microsoft.com")),
            UserChange::SetFamilyName(s("updatedFamilyName")),
        ]
    );
}

#[test]
fn entra_update_user_single_valued_and_add_work_email() {
    let c = user_patch(
        r#"{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{
        "op": "Replace",
        "path": "userName",
        "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    },
    {
        "op": "Add",
        "path": "emails[type eq \"work\"].value",
        "value": "new@testuser.com"
    },
    {
        "op": "Add",
        "path": "emails[type eq \"work\"].primary",
        "value": "True"
    },
    {
        "op": "Replace",
        "path": "name.givenName",
        "value": "Given"
    },
    {
        "op": "Replace",
        "path": "displayName",
        "value": "Given Family"
    },
    {
        "op": "Add",
        "path": "externalId",
        "value": "ext-1"
    }]
}"#,
    )
    .unwrap();
    assert_eq!(
        c,
        vec![
            UserChange::SetUserName("5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com".into()),
            UserChange::SetEmail(s("new@testuser.com")),
            UserChange::SetGivenName(s("Given")),
            UserChange::SetDisplayName(s("Given Family")),
            UserChange::SetExternalId(s("ext-1")),
        ]
    );
}

#[test]
fn entra_deactivate_and_reactivate() {
    // The documented shape (JSON boolean) ...
    let c = user_patch(
        r#"{
    "Operations": [
        {
            "op": "Replace",
            "path": "active",
            "value": false
        }
    ],
    "schemas": [
        "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    ]
}"#,
    )
    .unwrap();
    assert_eq!(c, vec![UserChange::SetActive(false)]);
    // ... and what Entra ID sends without the "SCIM 2.0 compliant" flag.
    let c = user_patch(
        r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}"#,
    )
    .unwrap();
    assert_eq!(c, vec![UserChange::SetActive(false)]);
    let c = user_patch(
        r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"True"}]}"#,
    )
    .unwrap();
    assert_eq!(c, vec![UserChange::SetActive(true)]);
}

#[test]
fn okta_deactivate_and_reactivate() {
    let c = user_patch(
        r#"{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{
        "op": "replace",
        "value": {
            "active": false
        }
    }]
}"#,
    )
    .unwrap();
    assert_eq!(c, vec![UserChange::SetActive(false)]);
    let c = user_patch(
        r#"{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{
        "op": "replace",
        "value": {
            "active": true
        }
    }]
}"#,
    )
    .unwrap();
    assert_eq!(c, vec![UserChange::SetActive(true)]);
}

#[test]
fn entra_pathless_replace_with_dotted_and_extension_keys() {
    let c = user_patch(
        r#"{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{
        "op": "Replace",
        "value": {
            "active": "False",
            "name.givenName": "Barbara",
            "name.familyName": "Jensen",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "701984",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Tour Operations"
        }
    },
    {
        "op": "Add",
        "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "value": "26118915-6090-4610-87e4-49d8ca9f808d"
    },
    {
        "op": "replace",
        "value": {
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "department": "Sales",
                "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808e"}
            },
            "name": {"givenName": "Babs"}
        }
    },
    {
        "op": "Remove",
        "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"
    }]
}"#,
    )
    .unwrap();
    // serde_json orders object keys: compare as sets within each op.
    let mut first: Vec<String> = c[..5].iter().map(|c| format!("{c:?}")).collect();
    first.sort();
    let mut want: Vec<String> = [
        UserChange::SetActive(false),
        UserChange::SetGivenName(s("Barbara")),
        UserChange::SetFamilyName(s("Jensen")),
        UserChange::SetEmployeeNumber(s("701984")),
        UserChange::SetDepartment(s("Tour Operations")),
    ]
    .iter()
    .map(|c| format!("{c:?}"))
    .collect();
    want.sort();
    assert_eq!(first, want);
    assert_eq!(
        c[5],
        UserChange::SetManager(s("26118915-6090-4610-87e4-49d8ca9f808d"))
    );
    let mut third: Vec<String> = c[6..9].iter().map(|c| format!("{c:?}")).collect();
    third.sort();
    let mut want: Vec<String> = [
        UserChange::SetDepartment(s("Sales")),
        UserChange::SetManager(s("26118915-6090-4610-87e4-49d8ca9f808e")),
        UserChange::SetGivenName(s("Babs")),
    ]
    .iter()
    .map(|c| format!("{c:?}"))
    .collect();
    want.sort();
    assert_eq!(third, want);
    assert_eq!(c[9..], [UserChange::SetManager(None)]);
}

#[test]
fn emails_paths() {
    let patch = |ops: Value| {
        normalize_user_patch(
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}),
            USER_ID,
        )
    };
    assert_eq!(
        patch(
            json!([{"op": "add", "path": "emails", "value": [{"value": "b@x", "type": "home"}]}])
        )
        .unwrap(),
        vec![UserChange::AddEmail("b@x".into())]
    );
    assert_eq!(
        patch(json!([{"op": "add", "path": "emails", "value": [{"value": "b@x"}, {"value": "p@x", "primary": true}]}])).unwrap(),
        vec![UserChange::SetEmail(s("p@x"))]
    );
    assert_eq!(
        patch(json!([{"op": "replace", "path": "emails", "value": [{"value": "b@x"}, {"value": "c@x"}]}])).unwrap(),
        vec![UserChange::SetEmail(s("b@x"))]
    );
    assert_eq!(
        patch(json!([{"op": "replace", "path": "emails", "value": []}])).unwrap(),
        vec![UserChange::SetEmail(None)]
    );
    assert_eq!(
        patch(json!([{"op": "remove", "path": "emails[value eq \"b@x\"]"}])).unwrap(),
        vec![UserChange::RemoveEmail("b@x".into())]
    );
    assert_eq!(
        patch(json!([{"op": "remove", "path": "emails", "value": [{"value": "b@x"}]}])).unwrap(),
        vec![UserChange::RemoveEmail("b@x".into())]
    );
    assert_eq!(
        patch(json!([{"op": "remove", "path": "emails[type eq \"work\"]"}])).unwrap(),
        vec![UserChange::SetEmail(None)]
    );
    assert_eq!(
        patch(json!([{"op": "replace", "path": "emails[primary eq true].value", "value": "n@x"}]))
            .unwrap(),
        vec![UserChange::SetEmail(s("n@x"))]
    );
    assert_eq!(
        patch(json!([{"op": "replace", "path": "emails[value eq \"o@x\"].value", "value": "n@x"}]))
            .unwrap(),
        vec![
            UserChange::RemoveEmail("o@x".into()),
            UserChange::AddEmail("n@x".into())
        ]
    );
    assert_eq!(
        patch(json!([{"op": "replace", "path": "emails[type eq work]", "value": {"value": "n@x", "primary": true}}])).unwrap(),
        vec![UserChange::SetEmail(s("n@x"))]
    );
    assert_eq!(
        patch(json!([{"op": "remove", "path": "name"}])).unwrap(),
        vec![
            UserChange::SetGivenName(None),
            UserChange::SetFamilyName(None)
        ]
    );
    assert_eq!(
        patch(json!([{"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:displayName", "value": null}])).unwrap(),
        vec![UserChange::SetDisplayName(None)]
    );
    assert_eq!(
        patch(json!([{"op": "replace", "value": {"id": USER_ID.to_uppercase(), "schemas": ["x"], "USERNAME": "u"}}])).unwrap(),
        vec![UserChange::SetUserName("u".into())]
    );
}

#[test]
fn bad_user_patches() {
    let patch = |ops: Value| {
        normalize_user_patch(
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}),
            USER_ID,
        )
    };
    // Envelope.
    assert_err(
        normalize_user_patch(
            &json!({"Operations": [{"op": "replace", "path": "active", "value": false}]}),
            USER_ID,
        ),
        400,
        bad(ScimType::InvalidSyntax),
    );
    assert_err(
        normalize_user_patch(
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "Operations": [{"op": "replace", "path": "active", "value": false}]}),
            USER_ID,
        ),
        400,
        bad(ScimType::InvalidValue),
    );
    assert_err(
        normalize_user_patch(
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}),
            USER_ID,
        ),
        400,
        bad(ScimType::InvalidSyntax),
    );
    assert_err(
        normalize_user_patch(
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": {"op": "add"}}),
            USER_ID,
        ),
        400,
        bad(ScimType::InvalidSyntax),
    );
    assert_err(patch(json!([])), 400, bad(ScimType::InvalidValue));
    let many: Vec<Value> = (0..1001)
        .map(|_| json!({"op": "replace", "path": "active", "value": true}))
        .collect();
    assert_err(patch(Value::Array(many)), 400, bad(ScimType::InvalidValue));
    let ok: Vec<Value> = (0..1000)
        .map(|_| json!({"op": "replace", "path": "active", "value": true}))
        .collect();
    assert_eq!(patch(Value::Array(ok)).unwrap().len(), 1000);
    for (ops, t) in [
        (json!(["replace"]), ScimType::InvalidSyntax),
        (
            json!([{"path": "active", "value": false}]),
            ScimType::InvalidSyntax,
        ),
        (
            json!([{"op": 1, "path": "active", "value": false}]),
            ScimType::InvalidSyntax,
        ),
        (
            json!([{"op": "move", "path": "active", "value": false}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "active"}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": 5, "value": 1}]),
            ScimType::InvalidPath,
        ),
        // Wrong types.
        (
            json!([{"op": "replace", "path": "active", "value": "no"}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "active", "value": 0}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "active", "value": [false]}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "userName", "value": 42}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "userName", "value": ""}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "externalId", "value": {"a": 1}}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "name", "value": "A B"}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "emails", "value": "a@x"}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": 1}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "value": "active"}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "value": [{"active": false}]}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "value": {"active": false, "Active": true}}]),
            ScimType::InvalidSyntax,
        ),
        // Unknown attributes and paths.
        (
            json!([{"op": "replace", "path": "title", "value": "CEO"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "name.formatted", "value": "A B"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "name", "value": {"middleName": "Q"}}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "add", "path": "phoneNumbers[type eq \"work\"].value", "value": "1"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "value": {"nickName": "x"}}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter", "value": "1"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:Userx", "value": "1"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "members", "value": []}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"work\"].display", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "emails[type ne \"work\"].value", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"work\" or type eq \"home\"].value", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"work\"", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"work\"].", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "userName ", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "user name", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        // No target, mutability.
        (json!([{"op": "remove"}]), ScimType::NoTarget),
        (
            json!([{"op": "Remove", "value": {"active": true}}]),
            ScimType::NoTarget,
        ),
        (
            json!([{"op": "remove", "path": "active"}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "remove", "path": "userName"}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "replace", "path": "id", "value": "11111111-1111-1111-1111-111111111111"}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "replace", "value": {"id": "x"}}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "replace", "path": "meta.lastModified", "value": "2020-01-01T00:00:00Z"}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "add", "path": "groups", "value": [{"value": GROUP_ID}]}]),
            ScimType::Mutability,
        ),
    ] {
        let label = ops.to_string();
        let r = patch(ops);
        match &r {
            Err(e) if e.scim_type == Some(t) && e.status == 400 => {}
            other => panic!("{label}: expected {t:?}, got {other:?}"),
        }
    }
}

#[test]
fn a_bad_operation_fails_the_whole_patch() {
    // Atomicity starts here: nothing is returned to apply.
    assert_err(
        user_patch(
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
                {"op":"Replace","path":"active","value":"False"},
                {"op":"Replace","path":"title","value":"x"}]}"#,
        ),
        400,
        bad(ScimType::InvalidPath),
    );
}

// ------------------------------------------------------------ group PATCH

#[test]
fn entra_rename_group() {
    let c = group_patch(
        r#"{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{
        "op": "Replace",
        "path": "displayName",
        "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    }]
}"#,
    )
    .unwrap();
    assert_eq!(
        c,
        vec![GroupChange::Rename(
            "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName".into()
        )]
    );
}

#[test]
fn okta_rename_group_pathless_with_id() {
    let c = group_patch(
        r#"{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{
        "op": "replace",
        "value": {
            "id": "abf4dd94-a4c0-4f67-89c9-76b03340cb9b",
            "displayName": "Test SCIMv2"
        }
    }]
}"#,
    )
    .unwrap();
    assert_eq!(c, vec![GroupChange::Rename("Test SCIMv2".into())]);
    // Another group's id is not a rename of this one.
    assert_err(
        group_patch(
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"id":"89bb1940-b905-4575-9e7f-6f887cfb368e","displayName":"X"}}]}"#,
        ),
        400,
        bad(ScimType::Mutability),
    );
}

#[test]
fn entra_add_members() {
    let c = group_patch(
        r#"{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{
        "op": "Add",
        "path": "members",
        "value": [{
            "$ref": null,
            "value": "89bb1940-b905-4575-9e7f-6f887cfb368e"
        }]
    }]
}"#,
    )
    .unwrap();
    assert_eq!(c, vec![GroupChange::AddMembers(vec![MEMBER_A.into()])]);
}

#[test]
fn okta_add_members() {
    let c = group_patch(
        r#"{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{
        "op": "add",
        "path": "members",
        "value": [{
            "value": "89bb1940-b905-4575-9e7f-6f887cfb368e",
            "display": "test.user@okta.local"
        },
        {
            "value": "F648F8D5-EA4E-4CD3-8E9C-7F23A5A8E0B1",
            "display": "other.user@okta.local"
        }]
    }]
}"#,
    )
    .unwrap();
    assert_eq!(
        c,
        vec![GroupChange::AddMembers(vec![
            MEMBER_A.into(),
            MEMBER_B.into()
        ])]
    );
}

#[test]
fn entra_remove_members_with_a_value_list_removes_only_those() {
    let c = group_patch(
        r#"{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{
        "op": "Remove",
        "path": "members",
        "value": [{
            "$ref": null,
            "value": "89bb1940-b905-4575-9e7f-6f887cfb368e"
        }]
    }]
}"#,
    )
    .unwrap();
    assert_eq!(c, vec![GroupChange::RemoveMembers(vec![MEMBER_A.into()])]);
    // An empty list removes nothing (never "all").
    let c = group_patch(
        r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Remove","path":"members","value":[]}]}"#,
    )
    .unwrap();
    assert_eq!(c, vec![GroupChange::RemoveMembers(vec![])]);
}

#[test]
fn okta_and_entra_remove_one_member_by_filter() {
    for op in ["remove", "Remove"] {
        let c = group_patch(&format!(
            r#"{{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{{
        "op": "{op}",
        "path": "members[value eq \"89bb1940-b905-4575-9e7f-6f887cfb368e\"]"
    }}]
}}"#
        ))
        .unwrap();
        assert_eq!(c, vec![GroupChange::RemoveMembers(vec![MEMBER_A.into()])]);
    }
    // Unquoted value, as some clients send it.
    let c = group_patch(&format!(
        r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{{"op":"remove","path":"members[value eq {MEMBER_B}]"}}]}}"#
    ))
    .unwrap();
    assert_eq!(c, vec![GroupChange::RemoveMembers(vec![MEMBER_B.into()])]);
}

#[test]
fn group_replace_and_remove_all_members() {
    let c = group_patch(&format!(
        r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
            {{"op":"replace","path":"members","value":[{{"value":"{MEMBER_A}"}}]}},
            {{"op":"remove","path":"members"}},
            {{"op":"replace","value":{{"externalId":"e1","members":[{{"value":"{MEMBER_B}"}}]}}}},
            {{"op":"remove","path":"externalId"}}]}}"#
    ))
    .unwrap();
    assert_eq!(
        c,
        vec![
            GroupChange::ReplaceMembers(vec![MEMBER_A.into()]),
            GroupChange::ReplaceMembers(vec![]),
            GroupChange::SetExternalId(s("e1")),
            GroupChange::ReplaceMembers(vec![MEMBER_B.into()]),
            GroupChange::SetExternalId(None),
        ]
    );
}

#[test]
fn bad_group_patches() {
    let patch = |ops: Value| {
        normalize_group_patch(
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}),
            GROUP_ID,
        )
    };
    for (ops, t) in [
        (
            json!([{"op": "add", "path": "members", "value": [{"value": "f648f8d5ea4e4cd38e9c"}]}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "add", "path": "members", "value": "89bb1940-b905-4575-9e7f-6f887cfb368e"}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "add", "path": "members", "value": [{"value": 5}]}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "remove", "path": "members[value eq \"x\"]"}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "displayName", "value": 5}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "remove", "path": "displayName"}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "replace", "path": "displayName", "value": null}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "remove", "path": "members[display eq \"x\"]"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "remove", "path": "members[value eq \"89bb1940-b905-4575-9e7f-6f887cfb368e\"].display"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "remove", "path": "members[value eq \"89bb1940-b905-4575-9e7f-6f887cfb368e\" or value pr]"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "add", "path": "members[value eq \"89bb1940-b905-4575-9e7f-6f887cfb368e\"]", "value": {}}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "add", "path": "members", "value": [{"value": "89bb1940-b905-4575-9e7f-6f887cfb368e", "role": "admin"}]}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "description", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "active", "value": false}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        (json!([{"op": "remove"}]), ScimType::NoTarget),
        (
            json!([{"op": "replace", "path": "meta", "value": {}}]),
            ScimType::Mutability,
        ),
    ] {
        let label = ops.to_string();
        match patch(ops) {
            Err(e) if e.scim_type == Some(t) && e.status == 400 => {}
            other => panic!("{label}: expected {t:?}, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------- filters

#[test]
fn vendor_filters() {
    // Okta and Entra ID user lookups.
    assert_eq!(
        user_filter("userName eq \"test.user@okta.local\"").unwrap(),
        vec![eq(FilterAttr::UserName, "test.user@okta.local")]
    );
    assert_eq!(
        user_filter("userName eq \"Test_User_dfeef4c5-5681-4387-b016-bdf221e82081\"").unwrap(),
        vec![eq(
            FilterAttr::UserName,
            "Test_User_dfeef4c5-5681-4387-b016-bdf221e82081"
        )]
    );
    assert_eq!(
        user_filter("externalId eq \"00ujl29u0le5T6Aj10h7\"").unwrap(),
        vec![eq(FilterAttr::ExternalId, "00ujl29u0le5T6Aj10h7")]
    );
    // Entra ID's group lookup.
    assert_eq!(
        group_filter("displayName eq \"Group\"").unwrap(),
        vec![eq(FilterAttr::DisplayName, "Group")]
    );
    assert_eq!(
        group_filter("externalId eq \"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159\"").unwrap(),
        vec![eq(
            FilterAttr::ExternalId,
            "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
        )]
    );
}

#[test]
fn filter_forms() {
    // Case-insensitive operators and names, unquoted values, `and`.
    assert_eq!(
        user_filter("  USERNAME EQ john@example.com   AND\texternalid eq \"e 1\" ").unwrap(),
        vec![
            eq(FilterAttr::UserName, "john@example.com"),
            eq(FilterAttr::ExternalId, "e 1"),
        ]
    );
    assert_eq!(
        user_filter("emails[value eq \"a@x\"]").unwrap(),
        vec![eq(FilterAttr::EmailValue, "a@x")]
    );
    assert_eq!(
        user_filter("emails[ value eq a@x ] and emails.value eq b@x").unwrap(),
        vec![
            eq(FilterAttr::EmailValue, "a@x"),
            eq(FilterAttr::EmailValue, "b@x")
        ]
    );
    assert_eq!(
        user_filter("urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"u\"").unwrap(),
        vec![eq(FilterAttr::UserName, "u")]
    );
    // Escapes.
    assert_eq!(
        user_filter(r#"userName eq "a\"b""#).unwrap(),
        vec![eq(FilterAttr::UserName, "a\"b")]
    );
    assert_eq!(
        user_filter(r#"userName eq "\u00e9\\\/""#).unwrap(),
        vec![eq(FilterAttr::UserName, "é\\/")]
    );
    // Numbers and other bare tokens are strings.
    assert_eq!(
        user_filter("externalId eq 12345").unwrap(),
        vec![eq(FilterAttr::ExternalId, "12345")]
    );
    assert_eq!(
        user_filter("userName eq o'brien@x").unwrap(),
        vec![eq(FilterAttr::UserName, "o'brien@x")]
    );
    assert_eq!(
        user_filter("userName eq \"%\"").unwrap(),
        vec![eq(FilterAttr::UserName, "%")]
    );
    // ids: canonical lower-case; a non-UUID can match nothing.
    let f = parse_filter(
        Resource::User,
        &format!("id eq \"{}\"", USER_ID.to_uppercase()),
    )
    .unwrap();
    assert_eq!(f.all_of, vec![eq(FilterAttr::Id, USER_ID)]);
    assert!(f.can_match());
    let f = parse_filter(Resource::Group, "id eq \"42\"").unwrap();
    assert!(!f.can_match());
    assert!(FilterAttr::ExternalId.case_exact() && !FilterAttr::UserName.case_exact());
}

#[test]
fn unsupported_filters_are_invalid_filter() {
    for f in [
        "",
        "   ",
        "userName",
        "userName eq",
        "userName eq ",
        "userName eq \"x\" and",
        "userName eq \"x\" and ",
        "and userName eq \"x\"",
        "userName co \"x\"",
        "userName sw \"x\"",
        "userName ew \"x\"",
        "userName pr",
        "userName ne \"x\"",
        "meta.lastModified gt \"2011-05-13T04:42:34Z\"",
        "userName eq \"a\" or userName eq \"b\"",
        "not (userName eq \"a\")",
        "(userName eq \"a\")",
        "userName eq \"a\" and (externalId eq \"b\")",
        "displayName eq \"x\"",
        "title eq \"x\"",
        "name.givenName eq \"x\"",
        "emails eq \"a@x\"",
        "emails[type eq \"work\"]",
        "emails[type eq \"work\"].value eq \"a@x\"",
        "emails[value eq \"a@x\"].value",
        "emails[value eq \"a@x\" and primary eq true]",
        "members[value eq \"x\"]",
        "userName eq true",
        "userName eq null",
        "externalId eq FALSE",
        "userName eq \"x\"and externalId eq \"y\"",
        "userName  eq\"x\"",
        "userName eq \"unterminated",
        "userName eq \"bad \\q escape\"",
        "userName eq \"ctrl \u{1} char\"",
        "userName eq \"\\ud800\"",
        "userName eq x y",
        "userName eq \"x\" \"y\"",
        "userName eq \"x\" userName eq \"y\"",
        "userName == \"x\"",
        "userName = x",
        "userName eq x]",
        "urn:ietf:params:scim:schemas:core:2.0:Group:userName eq \"x\"",
    ] {
        assert_err(user_filter(f), 400, bad(ScimType::InvalidFilter));
    }
    for f in [
        "userName eq \"x\"",
        "emails.value eq \"x\"",
        "displayName co \"x\"",
    ] {
        assert_err(group_filter(f), 400, bad(ScimType::InvalidFilter));
    }
    let long = format!("userName eq \"{}\"", "a".repeat(4096));
    assert_err(user_filter(&long), 400, bad(ScimType::InvalidFilter));
    let many = vec!["userName eq \"a\""; 200].join(" and ");
    assert!(many.len() < 4096);
    assert_eq!(user_filter(&many).unwrap().len(), 200);
}

#[test]
fn injection_attempts_never_widen_the_match() {
    // Either invalidFilter ...
    for f in [
        r#"userName eq "a" or "1" eq "1""#,
        r#"userName eq a" or "1" eq "1"#,
        r#"userName eq x) or (userName pr"#,
        r#"userName eq x) or (y"#,
        r#"userName eq "x") or ("1" eq "1""#,
        r#"userName eq a\" or userName pr"#,
        r#"userName eq a\"#,
        r#"userName eq "a\" or userName pr"#,
        r#"userName eq "x" or userName pr"#,
        r#"userName eq "x" and userName pr"#,
        r#"userName eq x]"#,
        r#"userName eq x[0]"#,
        r#"userName eq "x"; drop table jit.users"#,
        "userName eq \"x\"\u{0}",
        "userName eq x\u{0}y",
        "userName eq \"x\"\nor userName pr",
        "userName eq x\nor",
        r#"emails[value eq "x"] or userName pr"#,
        r#"emails[value eq x] or (userName pr)"#,
        r#"emails[value eq "x"] and ]"#,
        r#"emails[value eq "x" or value pr]"#,
        r#"emails[value eq x or value pr]"#,
    ] {
        assert_err(user_filter(f), 400, bad(ScimType::InvalidFilter));
    }
    // ... or one literal comparison, exactly as written.
    for (f, lit) in [
        (r#"userName eq "a\" or \"1\" eq \"1""#, r#"a" or "1" eq "1"#),
        (r#"userName eq "x) or (y""#, "x) or (y"),
        (
            r#"userName eq "x'; drop table jit.users; --""#,
            "x'; drop table jit.users; --",
        ),
        (r#"userName eq "\\""#, "\\"),
        (r#"userName eq "a%' OR '1'='1""#, "a%' OR '1'='1"),
        (r#"userName eq "*""#, "*"),
        (r#"userName eq '1'='1'"#, "'1'='1'"),
    ] {
        assert_eq!(
            user_filter(f).unwrap(),
            vec![eq(FilterAttr::UserName, lit)],
            "{f}"
        );
    }
}

#[test]
fn filter_parsing_is_linear() {
    // Worst cases at the size limit finish quickly (a quadratic parser
    // would take visibly long on repeated inputs).
    let start = std::time::Instant::now();
    for _ in 0..200 {
        let f = format!("userName eq \"{}\"", "\\\"".repeat(2000));
        assert!(user_filter(&f).is_ok());
        let f = vec!["externalId eq a"; 200].join(" and ");
        assert!(user_filter(&f).is_ok());
        let f = format!("emails[value eq {}", "x".repeat(4000));
        assert!(user_filter(&f).is_err());
        let f = "a".repeat(4096);
        assert!(user_filter(&f).is_err());
    }
    assert!(start.elapsed().as_secs() < 10);
}

#[test]
fn core_schema_prefixes_belong_to_their_resource() {
    assert_eq!(
        group_patch(
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:Group:displayName","value":"G"}]}"#
        )
        .unwrap(),
        vec![GroupChange::Rename("G".into())]
    );
    assert_err(
        group_patch(
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:displayName","value":"G"}]}"#,
        ),
        400,
        bad(ScimType::InvalidPath),
    );
    assert_err(
        user_patch(
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:Group:displayName","value":"G"}]}"#,
        ),
        400,
        bad(ScimType::InvalidPath),
    );
}

#[test]
fn entra_validator_query_with_raw_quotes() {
    // As Microsoft's SCIM validator sends it: `+` for spaces, quotes not
    // encoded, `@` encoded.
    let q = parse_query(Some("filter=userName+eq+\"dale.mohr%40romaguera.uk\"")).unwrap();
    assert_eq!(
        q.filter_for(Resource::User).unwrap().unwrap().all_of,
        vec![eq(FilterAttr::UserName, "dale.mohr@romaguera.uk")]
    );
    // An unencoded `+` in a value becomes a space, then an error: never a
    // different match.
    let q = parse_query(Some("filter=userName+eq+john+smith@x.com")).unwrap();
    assert_err(
        q.filter_for(Resource::User),
        400,
        bad(ScimType::InvalidFilter),
    );
}

#[test]
fn attribute_lists_are_deduplicated_and_bounded() {
    let q = parse_query(Some("attributes=userName,USERNAME,%20username,emails")).unwrap();
    assert_eq!(q.attributes, vec!["userName", "emails"]);
    // Repeats do not count against the bound ...
    let many_repeats = vec!["displayName"; 5000].join(",");
    let q = parse_query(Some(&format!("excludedAttributes={many_repeats}"))).unwrap();
    assert_eq!(q.excluded_attributes, vec!["displayName"]);
    // ... distinct names do.
    let names: Vec<String> = (0..=jit_provision_core::scim::request::MAX_ATTRIBUTE_NAMES)
        .map(|i| format!("a{i}"))
        .collect();
    let at_limit = names[..names.len() - 1].join(",");
    assert!(parse_query(Some(&format!("attributes={at_limit}"))).is_ok());
    for param in ["attributes", "excludedAttributes"] {
        let e = parse_query(Some(&format!("{param}={}", names.join(",")))).unwrap_err();
        assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidValue)));
    }
}
