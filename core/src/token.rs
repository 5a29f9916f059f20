//! The entry point: recognise what kind of token arrived, find its issuer,
//! and verify it against the provider the caller looked up by that issuer.

use crate::error::{excerpt, reject, Reason, Rejection, Verified};
use crate::identity::Identity;
use crate::jwt;
use crate::provider::{Protocol, Provider};
use crate::saml;

// `Context` lives in its own leaf module (no cycle through it); the old
// path `token::Context` still works.
pub use crate::context::{Budget, Context};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 1024 * 1024;

/// A token parsed once; [`verify`] reuses this parse, nothing parses twice.
#[derive(Debug)]
pub enum Token {
    Jwt(jwt::Jwt),
    Saml(saml::SamlToken),
}

impl Token {
    /// The issuer the token claims, used only to look its provider up: it is
    /// trusted after [`verify`] checked the signature with that provider's keys.
    pub fn issuer(&self) -> Option<&str> {
        match self {
            Token::Jwt(j) => j.issuer(),
            Token::Saml(s) => s.issuer(),
        }
    }

    pub fn protocol(&self) -> Protocol {
        match self {
            Token::Jwt(_) => Protocol::Oidc,
            Token::Saml(_) => Protocol::Saml,
        }
    }
}

/// Recognises and parses a token: a compact JWS, or a SAML Response / Assertion
/// as raw XML, base64 or base64url.
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
    if t.starts_with('<') {
        return saml::parse(t).map(Token::Saml);
    }
    if looks_like_compact_jws(t) {
        return jwt::parse(t).map(Token::Jwt);
    }
    // SAML as base64 (HTTP-POST SAMLResponse) or base64url (RFC 7522).
    if let Some(bytes) = saml::decode_base64_token(t) {
        if saml::looks_like_xml(&bytes) {
            return saml::parse_vec(bytes).map(Token::Saml);
        }
    }
    reject(
        Reason::Malformed,
        format!("not a compact JWS or a SAML Response: '{}'", excerpt(t)),
    )
}

/// Two dots, and only base64url characters between them.
fn looks_like_compact_jws(t: &str) -> bool {
    // `contains` is a memchr: a 1 MiB SAML token has no dot and stops here.
    t.contains('.')
        && t.bytes().filter(|&b| b == b'.').count() == 2
        && t.bytes()
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
        Token::Saml(s) => saml::verify(s, provider, ctx)?,
    };
    // The identity was read from verified content: a refusal names it.
    let verified = || Verified {
        token_id: identity.token_id.clone(),
        subject: Some(identity.subject.clone()),
    };
    // An address the IdP itself calls unverified admits nobody by domain.
    if provider.settings.email_domains.is_some() && identity.email_verified == Some(false) {
        return Err(Rejection::new(
            Reason::DomainNotAllowed,
            "email_verified is false: an unverified address cannot pass email_domains",
        )
        .with_verified(verified()));
    }
    if !provider.admits_email(identity.email.as_deref()) {
        return Err(Rejection::new(
            Reason::DomainNotAllowed,
            format!(
                "email domain of '{}' is not in email_domains",
                excerpt(identity.email.as_deref().unwrap_or(""))
            ),
        )
        .with_verified(verified()));
    }
    Ok(identity)
}
