//! ID token claim checks (OpenID Connect Core 1.0 §3.1.3.7) and the mapping
//! of verified claims to an [`Identity`]. Runs only after the signature held.

use crate::context::Context;
use crate::error::{excerpt, reject, Reason, Rejection, Verified};
use crate::identity::Identity;
use crate::mapping::{as_list, as_text, lookup, Field};
use crate::provider::{Provider, ProviderSettings};
use serde_json::{Map, Value};

/// 9999-12-31T23:59:59Z: anything later (or negative) is not a date an IdP
/// means, and keeping values far from i64 limits keeps the arithmetic exact.
const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

/// The validity window read from the claims.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub exp: i64,
    pub iat: i64,
}

/// Issuer, audience, time window and request binding.
pub(super) fn check(
    claims: &Map<String, Value>,
    settings: &ProviderSettings,
    ctx: &Context,
) -> Result<Window, Rejection> {
    let iss = required_str(claims, "iss")?;
    if iss != settings.issuer {
        return reject(
            Reason::UnknownIssuer,
            format!(
                "iss '{}' is not the provider's issuer '{}'",
                excerpt(iss),
                excerpt(&settings.issuer)
            ),
        );
    }
    check_audience(claims, &settings.audiences)?;

    let skew = settings.clock_skew.max(0);
    let now = ctx.now;
    let exp = numeric_date(claims, "exp")?.ok_or_else(|| missing("exp"))?;
    if now >= exp.saturating_add(skew) {
        return reject(
            Reason::Expired,
            format!("expired at {exp} (now {now}, clock_skew {skew}s)"),
        );
    }
    let iat = numeric_date(claims, "iat")?.ok_or_else(|| missing("iat"))?;
    if iat > now.saturating_add(skew) {
        return reject(
            Reason::NotYetValid,
            format!("issued in the future at {iat} (now {now}, clock_skew {skew}s)"),
        );
    }
    if let Some(nbf) = numeric_date(claims, "nbf")? {
        if now.saturating_add(skew) < nbf {
            return reject(
                Reason::NotYetValid,
                format!("not valid before {nbf} (now {now}, clock_skew {skew}s)"),
            );
        }
    }
    if let Some(max_age) = settings.max_age {
        if now.saturating_sub(iat) > max_age.saturating_add(skew) {
            return reject(
                Reason::TooOld,
                format!("issued at {iat}, older than max_age {max_age}s (now {now})"),
            );
        }
    }

    if let Some(request_id) = &ctx.request_id {
        match claims.get("nonce") {
            None => {
                return reject(
                    Reason::RequestMismatch,
                    "request_id given but token has no nonce",
                )
            }
            Some(Value::String(n)) if n == request_id => {}
            Some(Value::String(n)) => {
                return reject(
                    Reason::RequestMismatch,
                    format!("nonce '{}' is not the request_id", excerpt(n)),
                )
            }
            Some(_) => return reject(Reason::Malformed, "nonce is not a string"),
        }
    }

    match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() => {}
        _ => {
            return reject(
                Reason::MissingClaim,
                "sub is missing, empty or not a string",
            )
        }
    }
    Ok(Window { exp, iat })
}

/// Every `aud` value must be accepted; several values need an `azp`; an
/// `azp`, when present, must be accepted too.
fn check_audience(claims: &Map<String, Value>, accepted: &[String]) -> Result<(), Rejection> {
    let values: Vec<&str> = match claims.get("aud") {
        None => return Err(missing("aud")),
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(a) => out.push(a.as_str()),
                    _ => {
                        return reject(Reason::Malformed, "aud holds a value that is not a string")
                    }
                }
            }
            out
        }
        Some(_) => return reject(Reason::Malformed, "aud is neither a string nor an array"),
    };
    if values.is_empty() {
        return reject(Reason::AudienceMismatch, "aud is an empty array");
    }
    let is_accepted = |a: &str| accepted.iter().any(|x| x == a);
    if let Some(bad) = values.iter().find(|a| !is_accepted(a)) {
        return reject(
            Reason::AudienceMismatch,
            format!("aud '{}' is not an accepted audience", excerpt(bad)),
        );
    }
    match claims.get("azp") {
        None if values.len() > 1 => reject(
            Reason::AudienceMismatch,
            "aud has several values but there is no azp",
        ),
        None => Ok(()),
        Some(Value::String(azp)) if is_accepted(azp) => Ok(()),
        Some(Value::String(azp)) => reject(
            Reason::AudienceMismatch,
            format!("azp '{}' is not an accepted audience", excerpt(azp)),
        ),
        Some(_) => reject(Reason::Malformed, "azp is not a string"),
    }
}

fn missing(name: &str) -> Rejection {
    Rejection::new(
        Reason::MissingClaim,
        format!("required claim '{name}' is missing"),
    )
}

fn required_str<'a>(claims: &'a Map<String, Value>, name: &str) -> Result<&'a str, Rejection> {
    match claims.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => reject(Reason::Malformed, format!("{name} is not a string")),
        None => Err(missing(name)),
    }
}

/// RFC 7519 NumericDate: seconds, integer or not (fractions are floored).
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, Rejection> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let Value::Number(n) = value else {
        return reject(Reason::Malformed, format!("{name} is not a number"));
    };
    let secs = match (n.as_i64(), n.as_f64()) {
        (Some(i), _) => Some(i),
        (None, Some(f)) if f.is_finite() && f >= 0.0 && f <= MAX_NUMERIC_DATE as f64 => {
            Some(f.floor() as i64)
        }
        _ => None,
    };
    match secs {
        Some(s) if (0..=MAX_NUMERIC_DATE).contains(&s) => Ok(Some(s)),
        _ => reject(
            Reason::Malformed,
            format!("{name} is not a date between 1970 and 9999"),
        ),
    }
}

/// What a refusal of a token with these (signature-verified) claims records:
/// its replay key and the subject the claim map reads. `None` when the
/// claims hold no usable replay key (a `jti` that is empty or not a string):
/// the token is then named by its hash like an unverified one.
pub(super) fn verified(
    claims: &Map<String, Value>,
    provider: &Provider,
    token_text: &str,
) -> Option<Verified> {
    let token_id = token_id(claims, token_text).ok()?;
    let subject_source = provider.claim_map.source(&Field::Subject).unwrap_or("sub");
    let subject = lookup(claims, subject_source)
        .and_then(as_text)
        .filter(|s| !s.is_empty());
    Some(Verified { token_id, subject })
}

/// Maps verified claims to the user fields, per `jit.claim_map`.
pub(super) fn identity(
    claims: &Map<String, Value>,
    provider: &Provider,
    window: Window,
    token_text: &str,
) -> Result<Identity, Rejection> {
    let map = &provider.claim_map;
    let text = |field: Field, default: &str| {
        lookup(claims, map.source(&field).unwrap_or(default)).and_then(as_text)
    };
    let subject_source = map.source(&Field::Subject).unwrap_or("sub");
    let subject = lookup(claims, subject_source)
        .and_then(as_text)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Rejection::new(
                Reason::MissingClaim,
                format!(
                    "subject claim '{}' is missing or not text",
                    excerpt(subject_source)
                ),
            )
        })?;
    let groups_source = map.source(&Field::Groups).unwrap_or("groups");
    let idp_groups = lookup(claims, groups_source)
        .map(as_list)
        .unwrap_or_default();
    let mut attributes = Map::new();
    for (key, source) in map.attributes() {
        if let Some(v) = lookup(claims, source) {
            attributes.insert(key.to_string(), v.clone());
        }
    }
    Ok(Identity {
        provider: provider.settings.name.clone(),
        subject,
        email: text(Field::Email, "email"),
        email_verified: email_verified(claims),
        name: text(Field::Name, "name"),
        given_name: text(Field::GivenName, "given_name"),
        family_name: text(Field::FamilyName, "family_name"),
        idp_groups,
        groups_complete: !groups_overage(claims, groups_source),
        attributes,
        token_id: token_id(claims, token_text)?,
        expires_at: window.exp,
        issued_at: Some(window.iat),
    })
}

/// `email_verified`: absent is unknown (`None`). Some IdPs send the boolean
/// as a string, so "true" / "false" in any case are the booleans; any other
/// value (another string, a number, null, ...) is not a claim that the
/// address was verified, so it counts as unverified.
fn email_verified(claims: &Map<String, Value>) -> Option<bool> {
    match claims.get("email_verified")? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => Some(s.eq_ignore_ascii_case("true")),
        _ => Some(false),
    }
}

/// Entra ID leaves out the group list when it is too long and says so with
/// `_claim_names.groups` (pointing at Graph) or `hasgroups: true`; the list
/// received is then partial and must not drive removals.
fn groups_overage(claims: &Map<String, Value>, groups_source: &str) -> bool {
    let claim_names = claims.get("_claim_names").and_then(Value::as_object);
    let redirected = claim_names
        .is_some_and(|names| names.contains_key("groups") || names.contains_key(groups_source));
    let hasgroups = match claims.get("hasgroups") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    redirected || hasgroups
}

/// The replay key: `jti` as sent, else the hex SHA-256 of the JWS signing
/// input (`BASE64URL(header) '.' BASE64URL(payload)`, ASCII).
///
/// Not of the whole compact token: a signature is not a unique encoding of
/// what was signed. ECDSA is malleable — when `(r, s)` verifies, so does
/// `(r, n - s)` — so hashing the token with its signature gave one ID token
/// two replay keys, and it could log in twice. The signing input is exactly
/// what the IdP signed, whatever bytes carry the signature.
fn token_id(claims: &Map<String, Value>, token_text: &str) -> Result<String, Rejection> {
    match claims.get("jti") {
        Some(Value::String(j)) if !j.is_empty() => Ok(j.clone()),
        // An empty jti would make every such token share one replay key.
        Some(Value::String(_)) => reject(Reason::Malformed, "jti is empty"),
        Some(_) => reject(Reason::Malformed, "jti is not a string"),
        None => {
            // The compact form was split into exactly three segments when it
            // was parsed: the signing input is everything before the last dot.
            let Some((signing_input, _signature)) = token_text.rsplit_once('.') else {
                return reject(Reason::Malformed, "the token is not a compact JWS");
            };
            Ok(crate::fingerprint::fingerprint(signing_input))
        }
    }
}
