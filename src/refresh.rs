//! The network half of `jit.refresh` (sql/refresh.sql holds the rest): fetch
//! a provider's published keys and check them with the core, and describe
//! the keys a row holds. Nothing here writes: the SQL caller decides what
//! to store, and the row's validation trigger checks it once more.

use jit_provision_core::saml::metadata::parse_metadata;
use jit_provision_core::{discovery, fetch_policy, key_inventory, Protocol};
use pgrx::prelude::*;

use crate::clock::{timestamptz, unix_now};
use crate::http;

/// Downloads the keys a provider publishes: OIDC through its discovery
/// document, SAML through its metadata. One row: the new `jwks` or
/// `certificates`, or `error` saying why nothing usable was found. Never
/// raises for what the network or the IdP did (only for a cancel).
// The column names live in the signature (`name!`): pgrx reads them there,
// so the row type cannot move to a type alias.
#[allow(clippy::type_complexity)]
#[pg_extern(schema = "jit", name = "_fetch_keys")]
fn fetch_keys(
    protocol: &str,
    issuer: &str,
    discovery_url: Option<&str>,
    metadata_url: Option<&str>,
) -> TableIterator<
    'static,
    (
        name!(jwks, Option<pgrx::JsonB>),
        name!(certificates, Option<Vec<String>>),
        name!(error, Option<String>),
    ),
> {
    let row = match fetch(protocol, issuer, discovery_url, metadata_url) {
        Ok(Keys::Jwks(doc)) => (Some(pgrx::JsonB(doc)), None, None),
        Ok(Keys::Certificates(certs)) => (None, Some(certs), None),
        Err(e) => (None, None, Some(e)),
    };
    TableIterator::once(row)
}

enum Keys {
    Jwks(serde_json::Value),
    Certificates(Vec<String>),
}

fn fetch(
    protocol: &str,
    issuer: &str,
    discovery_url: Option<&str>,
    metadata_url: Option<&str>,
) -> Result<Keys, String> {
    match Protocol::parse(protocol).map_err(|e| e.0)? {
        Protocol::Oidc => {
            let url = discovery_url.ok_or("the provider has no discovery_url")?;
            let doc = http::fetch(url).map_err(|e| format!("discovery: {e}"))?;
            let jwks_uri = discovery::jwks_uri(&doc, issuer)?;
            // The document names the next URL: hold it to the redirect rule
            // (absolute, and never from https down to http), so an https
            // discovery cannot send the backend to a plain-http loopback
            // service nor hand it keys over an unauthenticated channel.
            let from = fetch_policy::check_url(url).map_err(|e| format!("discovery: {e}"))?;
            fetch_policy::check_redirect(&from, &jwks_uri)
                .map_err(|e| format!("jwks_uri: {jwks_uri}: {e}"))?;
            let body = http::fetch(&jwks_uri).map_err(|e| format!("jwks_uri: {e}"))?;
            let text = std::str::from_utf8(&body)
                .map_err(|_| format!("jwks_uri: {jwks_uri}: the JWKS is not UTF-8"))?;
            let inv =
                key_inventory::oidc(text).map_err(|e| format!("jwks_uri: {jwks_uri}: {}", e.0))?;
            if inv.keys.is_empty() {
                return Err(format!(
                    "jwks_uri: {jwks_uri}: the JWKS holds no usable signing key"
                ));
            }
            let json =
                serde_json::from_str(text).map_err(|e| format!("jwks_uri: {jwks_uri}: {e}"))?;
            Ok(Keys::Jwks(json))
        }
        Protocol::Saml => {
            let url = metadata_url.ok_or("the provider has no metadata_url")?;
            let body = http::fetch(url).map_err(|e| format!("metadata: {e}"))?;
            let text =
                std::str::from_utf8(&body).map_err(|_| "metadata is not UTF-8".to_string())?;
            let md =
                parse_metadata(text, Some(issuer)).map_err(|e| format!("metadata: {}", e.0))?;
            if md.issuer != issuer {
                return Err(format!(
                    "metadata is for entityID '{}', not '{issuer}'",
                    md.issuer
                ));
            }
            // Expired metadata is not to be relied on (SAML metadata 2.1.1,
            // validUntil): keep the keys in force rather than take it.
            if let Some(until) = md.valid_until {
                if until < unix_now() {
                    return Err(format!(
                        "metadata: {url}: expired (validUntil is {} seconds in the past)",
                        unix_now() - until
                    ));
                }
            }
            Ok(Keys::Certificates(md.certificates))
        }
    }
}

/// The keys a row holds: key ids or certificate fingerprints (`keys`), an
/// order-free identity of the set (`identities`, to compare two sets), and
/// the earliest certificate expiry. Unusable input gives empty arrays.
#[pg_extern(schema = "jit", name = "_key_inventory", immutable, parallel_safe)]
fn key_inventory_of(
    jwks: Option<pgrx::JsonB>,
    certificates: Option<Vec<Option<String>>>,
) -> TableIterator<
    'static,
    (
        name!(keys, Vec<String>),
        name!(identities, Vec<String>),
        name!(earliest_expiry, Option<pgrx::datum::TimestampWithTimeZone>),
    ),
> {
    let inv = match (jwks, certificates) {
        (Some(doc), _) => key_inventory::oidc(&doc.0.to_string()).unwrap_or_default(),
        (None, Some(certs)) => {
            let certs: Vec<String> = certs.into_iter().flatten().collect();
            key_inventory::saml(&certs).unwrap_or_default()
        }
        (None, None) => key_inventory::Inventory::default(),
    };
    let expiry = inv.earliest_expiry.and_then(timestamptz);
    TableIterator::once((inv.keys, inv.identities, expiry))
}
