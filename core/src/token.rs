//! The entry point: recognise what kind of token arrived, find its issuer,
//! and verify it against the provider the caller looked up by that issuer.

use crate::error::{excerpt, reject, Reason, Rejection};
use crate::identity::Identity;
use crate::jwt;
use crate::provider::{Protocol, Provider};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 1024 * 1024;

/// What the verifier needs from the outside world.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Unix seconds: the instant the token is judged at.
    pub now: i64,
    /// Must equal the OIDC `nonce` or the SAML `InResponseTo` when given.
    pub request_id: Option<String>,
}

/// A token parsed once; [`verify`] reuses this parse, nothing parses twice.
#[derive(Debug)]
pub enum Token {
    Jwt(jwt::Jwt),
}

impl Token {
    /// The issuer the token claims, used only to look its provider up: it is
    /// trusted after [`verify`] checked the signature with that provider's keys.
    pub fn issuer(&self) -> Option<&str> {
        match self {
            Token::Jwt(j) => j.issuer(),
        }
    }

    pub fn protocol(&self) -> Protocol {
        match self {
            Token::Jwt(_) => Protocol::Oidc,
        }
    }
}

/// Recognises and parses a token: a compact JWS, or (later) a SAML Response.
pub fn parse(token: &str) -> Result<Token, Rejection> {
    if token.len() > MAX_TOKEN_BYTES {
        return reject(
            Reason::Malformed,
            format!("token is {} bytes, over the 1 MiB limit", token.len()),
        );
    }
    let t = token.trim();
    if t.is_empty() {
        return reject(Reason::Malformed, "empty token");
    }
    if looks_like_compact_jws(t) {
        return jwt::parse(t).map(Token::Jwt);
    }
    reject(
        Reason::Malformed,
        format!("not a compact JWS or a SAML Response: '{}'", excerpt(t)),
    )
}

/// Two dots, and only base64url characters between them.
fn looks_like_compact_jws(t: &str) -> bool {
    t.bytes().filter(|&b| b == b'.').count() == 2
        && t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Verifies a parsed token against its provider and maps it to an [`Identity`].
pub fn verify(token: &Token, provider: &Provider, ctx: &Context) -> Result<Identity, Rejection> {
    if !provider.settings.enabled {
        return reject(
            Reason::ProviderDisabled,
            format!("provider '{}' is disabled", provider.settings.name),
        );
    }
    if token.protocol() != provider.settings.protocol {
        return reject(
            Reason::UnknownIssuer,
            format!(
                "provider '{}' is not configured for this kind of token",
                provider.settings.name
            ),
        );
    }
    let identity = match token {
        Token::Jwt(j) => jwt::verify(j, provider, ctx)?,
    };
    if !provider.admits_email(identity.email.as_deref()) {
        return reject(
            Reason::DomainNotAllowed,
            format!(
                "email domain of '{}' is not in email_domains",
                excerpt(identity.email.as_deref().unwrap_or(""))
            ),
        );
    }
    Ok(identity)
}
