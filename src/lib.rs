//! jit_provision: the PostgreSQL shell around `jit_provision_core`.
//!
//! The core decides whether a token is good; this crate finds the provider,
//! hands the core its settings and a clock, and persists the verdict through
//! the SQL in `sql/`. Nothing here judges a token.

// Every `unsafe` block says why it is sound; clippy (run with -D warnings
// by scripts/test) holds new ones to it.
#![warn(clippy::undocumented_unsafe_blocks)]

use pgrx::prelude::*;

mod budget;
mod cache;
mod clock;
mod config;
mod hook;
mod http;
mod identity;
mod login;
mod metadata;
mod refresh;
mod reject;
mod schema_version;
mod scim;
mod write_path;

::pgrx::pg_module_magic!(name, version);

// Tables, types and helpers first; everything Rust defines refers to them.
pgrx::extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
pgrx::extension_sql_file!("../sql/login.sql", name = "login", requires = ["schema"]);
pgrx::extension_sql_file!(
    "../sql/lifecycle.sql",
    name = "lifecycle",
    requires = ["login"]
);
pgrx::extension_sql_file!(
    "../sql/refresh.sql",
    name = "refresh",
    requires = ["lifecycle"]
);
pgrx::extension_sql_file!("../sql/scim.sql", name = "scim", requires = ["refresh"]);
pgrx::extension_sql_file!(
    "../sql/scim_users.sql",
    name = "scim_users",
    requires = ["scim"]
);
pgrx::extension_sql_file!(
    "../sql/scim_groups.sql",
    name = "scim_groups",
    requires = ["scim_users"]
);
// Privileges, triggers and RLS last, once every function exists.
pgrx::extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    budget::register_gucs();
    http::register_gucs();
    // Nobody may invent jit_provision.* settings: a SET of a misspelt or
    // not-yet-defined name is an error rather than a silent placeholder.
    // SAFETY: called once while the library loads, on the backend's thread,
    // with a NUL-terminated static string that PostgreSQL copies.
    unsafe { pg_sys::MarkGUCPrefixReserved(c"jit_provision".as_ptr()) };
    identity::register_callbacks();
}

/// Declares schema `jit` to pgrx so `#[pg_extern(schema = "jit")]` resolves;
/// sql/schema.sql creates it.
#[pg_schema]
mod jit {}
