//! OIDC ID tokens: a compact JWS whose payload is a JSON claims object.
//!
//! Order of checks in [`verify`]: ID-token header rules (`typ`, `cty`), JWS
//! header policy, algorithm, signature with a configured key; then, on
//! claims that are now trusted, issuer, audience, time window, nonce and
//! subject; finally the claim map. Every refusal carries its reason code.

mod claims;
mod json;
mod jws;

pub use jws::{parse_jws, verify_signature, Jws};

use crate::context::Context;
use crate::error::{excerpt, reject, Reason, Rejection};
use crate::identity::Identity;
use crate::provider::Provider;
use serde_json::{Map, Value};

/// A compact JWS parsed once, with its claims decoded.
#[derive(Debug)]
pub struct Jwt {
    jws: Jws,
    claims: Map<String, Value>,
}

impl Jwt {
    /// The `iss` claim as sent; not trusted before [`verify`] succeeded.
    pub fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    pub fn jws(&self) -> &Jws {
        &self.jws
    }
}

/// Parses a compact JWS whose payload is a JSON object (the claims). Member
/// names must be unique in header and claims (see `json.rs` for why).
pub fn parse(token: &str) -> Result<Jwt, Rejection> {
    let jws = parse_jws(token)?;
    let claims = json::parse_object(jws.payload(), "JWT claims")?;
    Ok(Jwt { jws, claims })
}

/// Verifies an ID token against its provider and maps it to an [`Identity`].
pub fn verify(jwt: &Jwt, provider: &Provider, ctx: &Context) -> Result<Identity, Rejection> {
    check_id_token_header(jwt.jws.header())?;
    verify_signature(&jwt.jws, &provider.jwks, &|alg| provider.allows(alg))?;
    // The claims are the IdP's word from here on: a refusal names the token
    // by its replay key (and its subject), as `seen_tokens` would.
    let on_verified = |r: Rejection| match claims::verified(&jwt.claims, provider, jwt.jws.text()) {
        Some(v) => r.with_verified(v),
        None => r,
    };
    let window = claims::check(&jwt.claims, &provider.settings, ctx).map_err(on_verified)?;
    claims::identity(&jwt.claims, provider, window, jwt.jws.text()).map_err(on_verified)
}

/// `typ`: Okta, Entra ID, Google, Keycloak and Auth0 send `JWT` or nothing;
/// RFC 7515 §4.1.9 makes it case-insensitive and lets `application/` be
/// omitted. Any other type (`at+jwt` access tokens, `logout+jwt`, ...) is
/// a different kind of token replayed as an ID token: refused as malformed.
/// `cty` announces a nested JWT or other content, which an ID token never is.
fn check_id_token_header(header: &Map<String, Value>) -> Result<(), Rejection> {
    match header.get("typ") {
        None => {}
        Some(Value::String(t))
            if t.eq_ignore_ascii_case("JWT") || t.eq_ignore_ascii_case("application/jwt") => {}
        Some(Value::String(t)) => {
            return reject(
                Reason::Malformed,
                format!("typ '{}' is not an ID token (JWT)", excerpt(t)),
            )
        }
        Some(_) => return reject(Reason::Malformed, "typ is not a string"),
    }
    if header.contains_key("cty") {
        return reject(
            Reason::Unsupported,
            "cty (nested JWT or other content) is not supported in an ID token",
        );
    }
    Ok(())
}
