//! The OpenID Provider Configuration document (OpenID Connect Discovery 1.0,
//! section 3): only what a key refresh needs from it.

use serde_json::Value;

use crate::error::excerpt;

/// The `jwks_uri` of a discovery document, after checking that the document
/// speaks for `issuer`: its `issuer` must equal ours byte for byte
/// (Discovery 4.3), or keys published for another tenant would be trusted.
pub fn jwks_uri(document: &[u8], issuer: &str) -> Result<String, String> {
    let doc: Value = serde_json::from_slice(document).map_err(|e| {
        format!(
            "discovery document is not JSON: {}",
            excerpt(&e.to_string())
        )
    })?;
    let Some(obj) = doc.as_object() else {
        return Err("discovery document is not a JSON object".into());
    };
    match obj.get("issuer").and_then(Value::as_str) {
        Some(i) if i == issuer => {}
        Some(i) => {
            return Err(format!(
                "discovery document is for issuer '{}', not '{}'",
                excerpt(i),
                excerpt(issuer)
            ))
        }
        None => return Err("discovery document has no issuer".into()),
    }
    match obj.get("jwks_uri").and_then(Value::as_str) {
        Some(u) if !u.is_empty() => Ok(u.to_string()),
        _ => Err("discovery document has no jwks_uri".into()),
    }
}
