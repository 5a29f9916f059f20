//! `jit.saml_metadata`: an IdP metadata document in, the columns of a SAML
//! `jit.providers` row out. All judgement is in
//! `jit_provision_core::saml::metadata`; the metadata's own signature is not
//! verified (the DBA who pastes it, or the HTTPS URL it came from, is the
//! trust). A pure parser that reads no table: EXECUTE stays with PUBLIC.

use jit_provision_core::error::escape_controls;
use jit_provision_core::saml::metadata::parse_metadata;
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;

use crate::clock::timestamptz;

// The column names live in the signature (`name!`): pgrx reads them there,
// so the row type cannot move to a type alias.
#[allow(clippy::type_complexity)]
#[pg_extern(schema = "jit", name = "saml_metadata", immutable, parallel_safe)]
fn saml_metadata(
    metadata: Option<&str>,
    issuer: default!(Option<&str>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(issuer, String),
        name!(certificates, Vec<String>),
        name!(sso_url, Option<String>),
        name!(valid_until, Option<TimestampWithTimeZone>),
    ),
> {
    // As a STRICT set-returning function would: no document, no row. (Not
    // declared STRICT so that a null `issuer` means "the only IdP".)
    let Some(metadata) = metadata else {
        return TableIterator::new(std::iter::empty());
    };
    let m = match parse_metadata(metadata, issuer) {
        Ok(m) => m,
        Err(e) => invalid(&e.0),
    };
    let valid_until = m.valid_until.map(|secs| {
        timestamptz(secs)
            .unwrap_or_else(|| invalid("validUntil is outside the range of timestamptz"))
    });
    TableIterator::once((m.issuer, m.certificates, m.sso_url, valid_until))
}

/// SQLSTATE 22023 with the core's message (control characters escaped:
/// it may quote the document).
fn invalid(message: &str) -> ! {
    ereport!(
        PgLogLevel::ERROR,
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        escape_controls(message)
    );
    unreachable!("ereport(ERROR) returns control to Postgres")
}
