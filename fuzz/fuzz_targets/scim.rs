//! The SCIM request layer on arbitrary input: the text as a filter (Users
//! and Groups), as a raw query string, as `method\npath`, and as a request
//! body through the PATCH normalisers and the POST/PUT body parsers. Checks
//! the invariants the SQL side relies on: a parsed filter re-serialised
//! from its AST parses to the same AST (nothing dropped or widened), ids
//! and member ids are canonical UUIDs, pagination is clamped, every error
//! has a status an HTTP response can carry and renders as an Error body.
//! Then the text as a whole request (`method\npath\nquery\nbody`) through
//! the plan `jit.scim` executes, and a body as a document through the
//! `attributes` / `excludedAttributes` projection, which never drops `id`.
#![no_main]

use jit_provision_core::scim::{
    self, normalize_group_patch, normalize_user_patch, parse_body, parse_filter, parse_group,
    parse_query, parse_route, parse_user, GroupChange, Resource, Route, ScimError,
};
use libfuzzer_sys::fuzz_target;

const ID: &str = "23a35c27-23d3-4c03-b4c5-6443c09e7173";

fn check_err(e: &ScimError) {
    assert!(
        matches!(e.status, 400 | 404 | 405 | 413 | 501),
        "unexpected status {e}"
    );
    let body = e.to_json();
    assert_eq!(body["status"], serde_json::json!(e.status.to_string()));
    if jit_provision_fuzz::verbose() {
        eprintln!("[scim] {e}");
    }
}

fn is_canonical_uuid(s: &str) -> bool {
    scim::canonical_uuid(s).as_deref() == Some(s)
}

fn filters(text: &str) {
    for resource in [Resource::User, Resource::Group] {
        match parse_filter(resource, text) {
            Ok(f) => {
                assert!(!f.all_of.is_empty());
                let again: Vec<String> = f
                    .all_of
                    .iter()
                    .map(|c| {
                        format!(
                            "{} eq {}",
                            c.attr.scim_name(),
                            serde_json::to_string(&c.value).expect("a string serialises")
                        )
                    })
                    .collect();
                let again = again.join(" and ");
                if again.len() <= scim::MAX_FILTER_BYTES {
                    let g = parse_filter(resource, &again).expect("a re-serialised filter parses");
                    assert_eq!(f, g, "{again}");
                }
            }
            Err(e) => {
                check_err(&e);
                assert_eq!(e.scim_type, Some(scim::ScimType::InvalidFilter));
            }
        }
    }
}

fn query(text: &str) {
    match parse_query(Some(text)) {
        Ok(q) => {
            assert!(q.start_index >= 1);
            assert!(q.count.is_none_or(|c| c <= scim::MAX_RESULTS));
            if let Some(f) = &q.filter {
                let _ = q.filter_for(Resource::User).map_err(|e| check_err(&e));
                let _ = f.len();
            }
        }
        Err(e) => check_err(&e),
    }
}

fn route(text: &str) {
    let (method, path) = text.split_once('\n').unwrap_or(("GET", text));
    match parse_route(method, path) {
        Ok(
            Route::Get(_, id) | Route::Replace(_, id) | Route::Patch(_, id) | Route::Delete(_, id),
        ) => assert!(is_canonical_uuid(&id)),
        Ok(_) => {}
        Err(e) => {
            check_err(&e);
            if e.status == 405 {
                assert!(scim::allowed_methods(path).is_some());
            }
        }
    }
}

fn body(text: &str) {
    let value = match parse_body(Some(text)) {
        Ok(v) => v,
        Err(e) => return check_err(&e),
    };
    match normalize_user_patch(&value, ID) {
        Ok(changes) => assert!(changes.len() <= 4 * text.len()),
        Err(e) => check_err(&e),
    }
    match normalize_group_patch(&value, ID) {
        Ok(changes) => {
            for c in changes {
                if let GroupChange::AddMembers(m)
                | GroupChange::RemoveMembers(m)
                | GroupChange::ReplaceMembers(m) = c
                {
                    assert!(m.iter().all(|id| is_canonical_uuid(id)));
                }
            }
        }
        Err(e) => check_err(&e),
    }
    match parse_user(&value) {
        Ok(u) => assert!(!u.user_name.trim().is_empty()),
        Err(e) => check_err(&e),
    }
    match parse_group(&value) {
        Ok(g) => assert!(g.members.iter().all(|id| is_canonical_uuid(id))),
        Err(e) => check_err(&e),
    }
}

fn request(text: &str) {
    let mut parts = text.splitn(4, '\n');
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("");
    let query = parts.next();
    let body = parts.next();
    let plan = scim::plan(
        method,
        path,
        query,
        body,
        Some("https://app.example/scim/v2"),
    );
    match plan.get("error") {
        Some(e) => {
            let status = e["status"].as_u64().expect("an error has a numeric status");
            assert!(matches!(status, 400 | 404 | 405 | 413 | 501), "{plan}");
            assert_eq!(e["body"]["status"], serde_json::json!(status.to_string()));
        }
        None => {
            let route = plan["route"].as_str().expect("a plan has a route");
            if let Some(id) = plan.get("id") {
                assert!(is_canonical_uuid(id.as_str().expect("ids are strings")));
            }
            if route == "list" {
                assert!(plan["filter"].is_array());
                assert!(plan["start_index"].as_u64().is_some_and(|s| s >= 1));
                assert!(plan["count"]
                    .as_u64()
                    .is_some_and(|c| c <= scim::MAX_RESULTS));
            }
        }
    }
    if let Ok(doc) = parse_body(body) {
        let names: Vec<String> = query.unwrap_or("").split(',').map(String::from).collect();
        for (attrs, excluded) in [(&names[..], &[][..]), (&[][..], &names[..])] {
            let out = scim::project(&doc, attrs, excluded);
            if let Some(id) = doc.get("id") {
                assert_eq!(out.get("id"), Some(id), "projection dropped id");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    jit_provision_fuzz::within_memory_budget(data.len(), || {
        filters(&text);
        query(&text);
        route(&text);
        body(&text);
        request(&text);
    });
});
