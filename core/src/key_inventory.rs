//! What keys a provider row holds, in the words a DBA checks against the
//! IdP's console: OIDC key ids, certificate SHA-256 fingerprints, and the
//! earliest certificate expiry. Used by `jit.provider_status`, by
//! `jit.refresh` to tell whether a fetched key set differs from the one in
//! force, and by `jit.cleanup`'s expiry warning.

use serde_json::Value;

use crate::b64;
use crate::error::ConfigError;
use crate::keys::jwks::KeySet;
use crate::keys::x509;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// OIDC: each usable key's `kid` (or `sha256:<material>` when it has
    /// none); SAML: each certificate's SHA-256 fingerprint. Document order.
    pub keys: Vec<String>,
    /// Order-free identity of the key set: two documents with equal
    /// identities verify exactly the same signatures.
    pub identities: Vec<String>,
    /// Earliest notAfter (Unix seconds) among the certificates: SAML
    /// certificates, and the first `x5c` certificate of usable JWKS keys.
    pub earliest_expiry: Option<i64>,
}

/// The usable keys of a JWKS document (unusable ones are skipped, as the
/// verifier skips them).
pub fn oidc(jwks_json: &str) -> Result<Inventory, ConfigError> {
    let set = KeySet::parse(jwks_json)?;
    let mut inv = Inventory::default();
    for key in set.keys() {
        let material = key.material_sha256();
        inv.keys.push(match key.kid() {
            Some(kid) => kid.to_string(),
            None => format!("sha256:{material}"),
        });
        inv.identities
            .push(format!("{}|{material}", key.kid().unwrap_or("")));
    }
    inv.identities.sort();
    // x5c expiry of the usable keys: the skipped ones are known by index.
    let skipped: Vec<usize> = set.skipped().iter().map(|s| s.index).collect();
    let doc: Value = serde_json::from_str(jwks_json)
        .map_err(|e| ConfigError(format!("jwks is not valid JSON: {e}")))?;
    let entries = doc.get("keys").and_then(Value::as_array);
    for (i, jwk) in entries.into_iter().flatten().enumerate() {
        if skipped.contains(&i) {
            continue;
        }
        let first_cert = jwk
            .get("x5c")
            .and_then(Value::as_array)
            .and_then(|chain| chain.first())
            .and_then(Value::as_str);
        if let Some(b64_text) = first_cert {
            // x5c is standard base64 DER (RFC 7517 4.7); a broken one has no
            // expiry to report rather than failing the inventory.
            if let Some(t) =
                b64::standard(b64_text).and_then(|der| x509::certificate_not_after(&der).ok())
            {
                inv.earliest_expiry = Some(inv.earliest_expiry.map_or(t, |e| e.min(t)));
            }
        }
    }
    Ok(inv)
}

/// The pinned certificates of a SAML provider.
pub fn saml(certificates: &[String]) -> Result<Inventory, ConfigError> {
    let mut inv = Inventory::default();
    for (i, entry) in certificates.iter().enumerate() {
        let facts = x509::key_facts(entry)
            .map_err(|e| ConfigError(format!("certificates[{}]: {}", i + 1, e.0)))?;
        for f in facts {
            if !inv.keys.contains(&f.sha256) {
                inv.keys.push(f.sha256.clone());
            }
            if let Some(t) = f.not_after {
                inv.earliest_expiry = Some(inv.earliest_expiry.map_or(t, |e| e.min(t)));
            }
        }
    }
    inv.identities = inv.keys.clone();
    inv.identities.sort();
    Ok(inv)
}
