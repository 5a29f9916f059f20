//! The Rust half of `jit.scim` (sql/scim.sql): parsing a request into a
//! plan, shaping a resource document for `attributes` /
//! `excludedAttributes`, and the bearer-token primitives. All judgement is in
//! `jit_provision_core::scim`; the SQL side reads and writes the rows. None
//! of these functions reads a table.

use jit_provision_core::scim::{auth, plan, project};
use pgrx::prelude::*;
use pgrx::JsonB;

/// The plan for one request (`jit_provision_core::scim::plan`): a route with
/// its typed input, or `{"error": ...}` with the response to send.
#[pg_extern(schema = "jit", name = "_scim_plan", immutable, parallel_safe)]
fn scim_plan(
    method: Option<&str>,
    path: Option<&str>,
    query: Option<&str>,
    body: Option<&str>,
    base_url: Option<&str>,
) -> JsonB {
    JsonB(plan(
        method.unwrap_or(""),
        path.unwrap_or(""),
        query,
        body,
        base_url,
    ))
}

/// `doc` restricted to `attributes` and without `excluded` (RFC 7644
/// 3.4.2.5).
#[pg_extern(schema = "jit", name = "_scim_project", immutable, parallel_safe)]
fn scim_project(doc: JsonB, attributes: Vec<String>, excluded: Vec<String>) -> JsonB {
    JsonB(project(&doc.0, &attributes, &excluded))
}

/// Whether the `Authorization` header carries the token whose SHA-256 is
/// `stored`, compared in constant time.
#[pg_extern(schema = "jit", name = "_scim_token_matches", immutable, parallel_safe)]
fn scim_token_matches(authorization: Option<&str>, stored: Option<&[u8]>) -> bool {
    stored.is_some_and(|s| auth::header_matches(authorization, s))
}

/// A fresh random bearer token; `jit.scim_token` stores its SHA-256.
#[pg_extern(schema = "jit", name = "_scim_new_token", volatile, parallel_unsafe)]
fn scim_new_token() -> String {
    auth::new_token()
        .unwrap_or_else(|| error!("jit.scim_token: the operating system's random source failed"))
}
