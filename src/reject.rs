//! Turning a core rejection into the SQL error the contract promises.

use jit_provision_core::error::escape_controls;
use jit_provision_core::Rejection;
use pgrx::prelude::*;

/// Logs the rejection (the line survives the caller's rollback), then raises
/// SQLSTATE 28000 with the reason code first in the message. Control
/// characters in the detail are escaped so that no token can write a log
/// line of its own.
pub fn raise(provider: Option<&str>, token_id: &str, rejection: &Rejection) -> ! {
    let detail = escape_controls(&rejection.detail);
    ereport!(
        PgLogLevel::LOG,
        PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
        format!(
            "jit_provision: login rejected provider={} reason={} token_id={} detail={}",
            provider.unwrap_or("-"),
            rejection.reason.code(),
            token_id,
            detail
        )
    );
    ereport!(
        PgLogLevel::ERROR,
        PgSqlErrorCode::ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
        format!("{}: {}", rejection.reason.code(), detail)
    );
    unreachable!("ereport(ERROR) returns control to Postgres")
}
