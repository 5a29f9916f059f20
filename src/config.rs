//! Provider rows: from the JSON that `jit._provider_config` produces to a
//! core `Provider`, and the trigger-side validation that refuses a bad row
//! when it is written.

use jit_provision_core::provider::{Protocol, SamlSigned};
use jit_provision_core::{ConfigError, Provider, ProviderSettings};
use pgrx::prelude::*;
use serde_json::Value;

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn text_list(v: &Value, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ConfigError(format!("{key} must not contain nulls")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(ConfigError(format!("{key} must be a text array"))),
    }
}

fn seconds(v: &Value, key: &str) -> Option<i64> {
    // Intervals arrive as numeric text from extract(epoch ...).
    let n = match v.get(key)? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.parse::<f64>().ok()?,
        _ => return None,
    };
    n.is_finite().then(|| n.floor() as i64)
}

/// Builds a verifier-ready provider from `jit._provider_config(row)`.
pub fn provider_from_json(v: &Value) -> Result<Provider, ConfigError> {
    let name = text(v, "name").ok_or_else(|| ConfigError("name is required".into()))?;
    let protocol = Protocol::parse(&text(v, "protocol").unwrap_or_default())?;
    let saml_signed =
        SamlSigned::parse(&text(v, "saml_signed").unwrap_or_else(|| "either".into()))?;
    let settings = ProviderSettings {
        name,
        protocol,
        issuer: text(v, "issuer").unwrap_or_default(),
        audiences: text_list(v, "audiences")?.unwrap_or_default(),
        algorithms: text_list(v, "algorithms")?,
        acs_urls: text_list(v, "acs_urls")?.unwrap_or_default(),
        saml_signed,
        clock_skew: seconds(v, "clock_skew_s").unwrap_or(120),
        max_age: seconds(v, "max_age_s"),
        email_domains: text_list(v, "email_domains")?
            .map(|ds| ds.into_iter().map(|d| d.to_ascii_lowercase()).collect()),
        enabled: v.get("enabled").and_then(Value::as_bool).unwrap_or(true),
    };
    let jwks = match v.get("jwks") {
        None | Some(Value::Null) => None,
        Some(doc) => Some(doc.to_string()),
    };
    let certificates = text_list(v, "certificates")?.unwrap_or_default();
    let claim_map: Vec<(String, String)> = match v.get("claim_map") {
        Some(Value::Object(m)) => m
            .iter()
            .filter_map(|(k, s)| s.as_str().map(|s| (k.clone(), s.to_string())))
            .collect(),
        _ => Vec::new(),
    };
    // A row kept current by jit.refresh may wait for its first refresh
    // without keys; keys that are there are checked either way.
    let refreshed = text(v, "discovery_url").is_some() || text(v, "metadata_url").is_some();
    if refreshed {
        Provider::awaiting_refresh(settings, jwks.as_deref(), certificates, &claim_map)
    } else {
        Provider::new(settings, jwks.as_deref(), certificates, &claim_map)
    }
}

/// Called by the validation trigger on `jit.providers` and `jit.claim_map`:
/// raises a clear error when the row could not verify a single token.
#[pg_extern(schema = "jit", name = "_validate_provider")]
fn validate_provider(config: pgrx::JsonB) {
    if let Err(e) = provider_from_json(&config.0) {
        let name = text(&config.0, "name").unwrap_or_default();
        ereport!(
            PgLogLevel::ERROR,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("jit.providers row '{name}' is not usable: {e}")
        );
    }
}
