//! `jit_login` and `jit._verify`: the front door.

use jit_provision_core::{self as verifier, Context, Identity, Reason, Rejection};
use pgrx::prelude::*;

use crate::clock::unix_now;
use crate::{budget, cache, hook, identity, reject, write_path};

/// The oid of `jit.login_result`, by two syscache lookups: naming the type
/// as text would run it through the SQL parser on every login.
fn login_result_type() -> pg_sys::Oid {
    // SAFETY: on the backend's thread inside a transaction (syscache access
    // needs one). Both names are NUL-terminated 'static C strings, which is
    // what a `name` syscache key is (Postgres passes char * the same way);
    // neither lookup keeps the pointer. TYPENAMENSP takes two keys, the
    // unused ones are 0. A missing schema raises an ordinary ERROR
    // (missing_ok = false), which pgrx turns into a Rust panic.
    unsafe {
        let nsp = pg_sys::get_namespace_oid(c"jit".as_ptr(), false);
        pg_sys::GetSysCacheOid(
            pg_sys::SysCacheIdentifier::TYPENAMENSP as i32,
            pg_sys::Anum_pg_type_oid as pg_sys::AttrNumber,
            pg_sys::Datum::from(c"login_result".as_ptr()),
            pg_sys::Datum::from(nsp),
            pg_sys::Datum::from(0usize),
            pg_sys::Datum::from(0usize),
        )
    }
}

/// Parses, finds the provider, verifies. Every failure raises 28000 (see
/// [`reject::raise`] for the token id it records).
fn verify_token(token: Option<&str>, request_id: Option<&str>, now: i64) -> Identity {
    let token = token.unwrap_or("");
    let parsed = match verifier::parse(token) {
        Ok(t) => t,
        Err(r) => reject::raise(None, token, &r),
    };
    let Some(issuer) = parsed.issuer() else {
        let r = Rejection::new(Reason::MissingClaim, "token names no issuer");
        reject::raise(None, token, &r)
    };
    let Some(provider) = cache::provider_for_issuer(issuer) else {
        let r = Rejection::new(
            Reason::UnknownIssuer,
            format!(
                "no provider has issuer '{}'",
                verifier::error::excerpt(issuer)
            ),
        );
        reject::raise(None, token, &r)
    };
    let ctx = Context {
        now,
        request_id: request_id.map(str::to_string),
        budget: budget::current(),
    };
    match verifier::verify(&parsed, &provider, &ctx) {
        Ok(identity) => identity,
        Err(r) => reject::raise(Some(&provider.settings.name), token, &r),
    }
}

/// Verifies an OIDC ID token or a SAML Response and provisions its user in
/// the caller's transaction. See the README for the full contract.
#[pg_extern(volatile, parallel_unsafe)]
fn jit_login(
    token: Option<&str>,
    request_id: default!(Option<&str>, "NULL"),
) -> pgrx::composite_type!('static, "jit.login_result") {
    // SAFETY: no arguments; it reads shared memory that is set up before any
    // backend runs SQL.
    if unsafe { pg_sys::RecoveryInProgress() } {
        ereport!(
            PgLogLevel::ERROR,
            PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION,
            "jit_login cannot run on a hot standby: it writes the user; call it on the primary (jit.verify works here)"
        );
    }
    let identity = verify_token(token, request_id, unix_now());
    let write_path::Applied {
        user_id,
        created,
        groups,
        hook,
    } = write_path::apply(&identity);
    if let Some((hook, owner)) = hook {
        hook::call(&hook, owner, user_id, identity.to_json());
    }
    identity::establish(user_id, groups.clone());

    let mut result = PgHeapTuple::new_composite_type_by_oid(login_result_type())
        .unwrap_or_else(|e| error!("jit_provision: {e}"));
    let set = result
        .set_by_name("user_id", user_id)
        .and_then(|_| result.set_by_name("created", created))
        .and_then(|_| result.set_by_name("groups", groups));
    if let Err(e) = set {
        error!("jit_provision: cannot build jit.login_result: {e}");
    }
    result
}

/// Verification and mapping only, for `jit.verify`: no writes, no replay
/// check. `at` (unix seconds) judges the token as of another instant.
#[pg_extern(schema = "jit", name = "_verify", stable, parallel_restricted)]
fn verify_only(token: Option<&str>, request_id: Option<&str>, at: Option<f64>) -> pgrx::JsonB {
    let now = at
        .filter(|a| a.is_finite())
        .map(|a| a.floor() as i64)
        .unwrap_or_else(unix_now);
    pgrx::JsonB(verify_token(token, request_id, now).to_json())
}
