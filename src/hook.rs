//! The provider's `on_login` hook: the application's own provisioning,
//! called in the login's transaction.
//!
//! `jit_login` runs as the extension's owner (a superuser). The hook must
//! not: it runs as the owner of the hook function, inside a security-
//! restricted operation, the way PostgreSQL runs index expressions. So a
//! role that owns the hook can do no more through it than it could itself.

use pgrx::prelude::*;

/// Restores the caller's user id and security context, also when the hook
/// raises (the error unwinds through this guard).
struct RestoreUser {
    user: pg_sys::Oid,
    context: i32,
}

impl Drop for RestoreUser {
    fn drop(&mut self) {
        // SAFETY: on the backend's thread, with the two plain values
        // GetUserIdAndSecContext gave `call`; SetUserIdAndSecContext only
        // assigns two backend globals and cannot raise, so it is safe here
        // even while a panic (a PostgreSQL ERROR from the hook) unwinds.
        unsafe { pg_sys::SetUserIdAndSecContext(self.user, self.context) };
    }
}

/// Calls `hook(user_id, identity)` as `owner`. `hook` is the function's
/// regproc text as Postgres printed it, never token content.
pub fn call(hook: &str, owner: pg_sys::Oid, user_id: pgrx::Uuid, identity: serde_json::Value) {
    let mut user = pg_sys::InvalidOid;
    let mut context = 0i32;
    // SAFETY: both pointers are to live, aligned locals of the C types the
    // function writes (Oid, int), and it keeps neither pointer.
    unsafe { pg_sys::GetUserIdAndSecContext(&mut user, &mut context) };
    let _restore = RestoreUser { user, context };
    let restricted =
        (pg_sys::SECURITY_LOCAL_USERID_CHANGE | pg_sys::SECURITY_RESTRICTED_OPERATION) as i32;
    // SAFETY: plain values, assigned to two backend globals on the
    // backend's thread; `_restore` puts the caller's back on every exit
    // from this function, unwinding included.
    unsafe { pg_sys::SetUserIdAndSecContext(owner, context | restricted) };
    let query = format!("select {hook}($1, $2)");
    PgTryBuilder::new(|| {
        if let Err(e) = Spi::run_with_args(&query, &[user_id.into(), pgrx::JsonB(identity).into()])
        {
            error!("jit_provision: on_login hook {hook} failed: {e}");
        }
    })
    .catch_others(|e| match e {
        pg_sys::panic::CaughtError::PostgresError(r)
        | pg_sys::panic::CaughtError::ErrorReport(r)
            if r.detail().is_some_and(looks_like_rejection_facts) =>
        {
            // jit.try_login trusts a 28000 whose DETAIL holds a rejection's
            // facts (src/reject.rs, jit._reject). A hook chooses its own
            // DETAIL: re-raise its error with that DETAIL marked as the
            // hook's, so a hook cannot forge a rejection try_login records.
            let detail = r.detail().unwrap_or_default();
            let mut report = pg_sys::panic::ErrorReport::new(
                r.sql_error_code(),
                r.message().to_string(),
                "jit_provision::hook::call",
            )
            .set_detail(format!("from the on_login hook: {detail}"));
            if let Some(hint) = r.hint() {
                report = report.set_hint(hint);
            }
            report.report(PgLogLevel::ERROR);
            unreachable!("an ERROR does not return")
        }
        other => other.rethrow(),
    })
    .execute();
}

/// The shape of the DETAIL a rejection carries (`{"reason":...`).
fn looks_like_rejection_facts(detail: &str) -> bool {
    detail.trim_start().starts_with("{\"reason\"")
}
