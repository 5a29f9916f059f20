//! Turning a core rejection into the SQL error the contract promises.

use jit_provision_core::error::{escape_controls, json_string};
use jit_provision_core::Rejection;
use pgrx::prelude::*;

/// Logs the rejection (the line survives the caller's rollback), then raises
/// SQLSTATE 28000 with the reason code first in the message. Control
/// characters in the detail are escaped so that no token can write a log
/// line of its own.
///
/// The token id is the one `jit.seen_tokens` would use when the signature
/// verified before the refusal (`jti`, else the SHA-256 of the signing
/// input; the SAML Assertion ID), and the SHA-256 hex of `token` (as sent)
/// otherwise. The error's DETAIL carries the facts of the rejection for
/// `jit.try_login`, as the JSON object `jit._reject` writes for the SQL side:
/// `{"reason":..,"provider":..,"token_id":..,"subject":..}` (`subject` only
/// when the signature verified), with every control character escaped.
pub fn raise(provider: Option<&str>, token: &str, rejection: &Rejection) -> ! {
    let detail = escape_controls(&rejection.detail);
    let token_id = rejection.token_id(token);
    ereport!(
        PgLogLevel::LOG,
        PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
        format!(
            "jit_provision: login rejected provider={} reason={} token_id={} detail={}",
            provider.unwrap_or("-"),
            rejection.reason.code(),
            escape_controls(&token_id),
            detail
        )
    );
    let facts = format!(
        "{{\"reason\":{},\"provider\":{},\"token_id\":{},\"subject\":{}}}",
        json_string(rejection.reason.code()),
        provider.map_or_else(|| "null".to_string(), json_string),
        json_string(&token_id),
        rejection
            .subject()
            .map_or_else(|| "null".to_string(), json_string),
    );
    ereport!(
        PgLogLevel::ERROR,
        PgSqlErrorCode::ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
        format!("{}: {}", rejection.reason.code(), detail),
        facts
    );
    unreachable!("ereport(ERROR) returns control to Postgres")
}
