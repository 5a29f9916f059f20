//! Compact JWS (RFC 7515 §7.1): parsing, header policy and the signature
//! check against configured keys. Nothing here reads the payload, so the same
//! code serves ID tokens and the third-party JWS test vectors.

use super::json;
use crate::b64;
use crate::error::{excerpt, reject, Reason, Rejection};
use crate::keys::jwks::{Algorithm, KeySet};
use serde_json::{Map, Value};

/// A compact JWS split and decoded once.
#[derive(Debug)]
pub struct Jws {
    /// The compact text as received; its prefix is the signing input.
    text: String,
    signing_input_len: usize,
    header: Map<String, Value>,
    alg: String,
    kid: Option<String>,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl Jws {
    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// The header's `alg`, as sent (not yet checked against anything).
    pub fn alg(&self) -> &str {
        &self.alg
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes signed.
    pub fn signing_input(&self) -> &[u8] {
        self.text
            .as_bytes()
            .get(..self.signing_input_len)
            .unwrap_or_default()
    }

    /// The whole compact serialization as received.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Splits and decodes a compact JWS: exactly three segments of unpadded
/// base64url with canonical trailing bits, and a header that is a JSON object
/// with a string `alg`. The payload may be any bytes (even empty); the
/// signature segment may be empty so that `alg: none` is reported as an
/// algorithm refusal rather than as a malformed token.
pub fn parse_jws(token: &str) -> Result<Jws, Rejection> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return reject(
            Reason::Malformed,
            format!(
                "a compact JWS has 3 dot-separated segments, this has {}",
                token.split('.').count()
            ),
        );
    };
    let header_bytes = decode(h, "header")?;
    let payload = decode(p, "payload")?;
    let signature = decode(s, "signature")?;
    let header = json::parse_object(&header_bytes, "JWS header")?;
    let alg = match header.get("alg") {
        Some(Value::String(a)) => a.clone(),
        Some(_) => return reject(Reason::Malformed, "JWS header alg is not a string"),
        None => return reject(Reason::Malformed, "JWS header has no alg"),
    };
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return reject(Reason::Malformed, "JWS header kid is not a string"),
    };
    Ok(Jws {
        text: token.to_string(),
        signing_input_len: h.len() + 1 + p.len(),
        header,
        alg,
        kid,
        payload,
        signature,
    })
}

fn decode(segment: &str, what: &str) -> Result<Vec<u8>, Rejection> {
    b64::url_no_pad(segment).ok_or_else(|| {
        Rejection::new(
            Reason::Malformed,
            format!("JWS {what} is not unpadded base64url"),
        )
    })
}

/// Header members that would have the token name or carry its own key.
/// Honouring any of them lets the signer choose the key it is checked with,
/// so their mere presence refuses the token (`unsupported_algorithm`: the
/// token asks for a way of verifying that this verifier never performs).
/// `x5t` / `x5t#S256` only identify a key and stay allowed (Entra ID sends them).
const KEY_INJECTION_MEMBERS: &[&str] = &["jwk", "jku", "x5u", "x5c"];

/// Refuses header members that ask for processing this verifier does not do.
fn check_header_policy(header: &Map<String, Value>) -> Result<(), Rejection> {
    if let Some(m) = KEY_INJECTION_MEMBERS
        .iter()
        .find(|m| header.contains_key(**m))
    {
        return reject(
            Reason::UnsupportedAlgorithm,
            format!("JWS header member '{m}' supplies a key; only configured keys are trusted"),
        );
    }
    // RFC 7515 §4.1.11: a recipient must refuse a JWS whose crit names an
    // extension it does not understand; we understand none, and an empty or
    // malformed crit is invalid on its own.
    if header.contains_key("crit") {
        return reject(
            Reason::UnsupportedAlgorithm,
            "JWS header crit names extensions this verifier does not implement",
        );
    }
    // RFC 7797 unencoded payloads: without crit a b64 of false would be read
    // differently by different libraries; only the default (true) is accepted.
    if header.get("b64").is_some_and(|v| v != &Value::Bool(true)) {
        return reject(
            Reason::UnsupportedAlgorithm,
            "JWS header b64 other than true (RFC 7797) is not supported",
        );
    }
    Ok(())
}

/// Checks the header policy, the algorithm and the signature. `allowed` is
/// the provider's allow-list; the algorithm must also be implemented and fit
/// the key (type, curve and the key's own `alg`).
pub fn verify_signature(
    jws: &Jws,
    keys: &KeySet,
    allowed: &dyn Fn(&str) -> bool,
) -> Result<(), Rejection> {
    check_header_policy(&jws.header)?;
    let Some(alg) = Algorithm::from_name(&jws.alg) else {
        return reject(
            Reason::UnsupportedAlgorithm,
            format!(
                "alg '{}' is not implemented (none and HMAC are refused by design)",
                excerpt(&jws.alg)
            ),
        );
    };
    if !allowed(alg.name()) {
        return reject(
            Reason::UnsupportedAlgorithm,
            format!("alg '{}' is not in the provider's algorithms", alg.name()),
        );
    }
    let mut tried = 0usize;
    for key in keys.candidates(jws.kid(), alg) {
        tried += 1;
        if key.verify(alg, jws.signing_input(), &jws.signature) {
            return Ok(());
        }
    }
    if tried > 0 {
        return reject(
            Reason::BadSignature,
            format!("signature does not verify with any of {tried} candidate key(s)"),
        );
    }
    let detail = match jws.kid() {
        Some(kid) if keys.has_kid(kid) => format!(
            "no key with kid '{}' can verify {}",
            excerpt(kid),
            alg.name()
        ),
        Some(kid) => format!("no key with kid '{}' in the provider's jwks", excerpt(kid)),
        None => format!("no key in the provider's jwks can verify {}", alg.name()),
    };
    reject(Reason::BadSignature, detail)
}
