//! Rejections (a token refused) and configuration errors (a provider row refused).

use std::fmt;

/// Why a token was refused. Each variant has a stable, documented code that
/// starts the SQL error message; tests assert the code, never only "failed".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    Malformed,
    UnknownIssuer,
    ProviderDisabled,
    UnsupportedAlgorithm,
    BadSignature,
    Expired,
    NotYetValid,
    TooOld,
    AudienceMismatch,
    RecipientMismatch,
    RequestMismatch,
    StatusNotSuccess,
    Replayed,
    MissingClaim,
    DomainNotAllowed,
    SeatLimitReached,
    UserBlocked,
    Unsupported,
}

impl Reason {
    pub const ALL: [Reason; 18] = [
        Reason::Malformed,
        Reason::UnknownIssuer,
        Reason::ProviderDisabled,
        Reason::UnsupportedAlgorithm,
        Reason::BadSignature,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::TooOld,
        Reason::AudienceMismatch,
        Reason::RecipientMismatch,
        Reason::RequestMismatch,
        Reason::StatusNotSuccess,
        Reason::Replayed,
        Reason::MissingClaim,
        Reason::DomainNotAllowed,
        Reason::SeatLimitReached,
        Reason::UserBlocked,
        Reason::Unsupported,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::UnknownIssuer => "unknown_issuer",
            Reason::ProviderDisabled => "provider_disabled",
            Reason::UnsupportedAlgorithm => "unsupported_algorithm",
            Reason::BadSignature => "bad_signature",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::TooOld => "too_old",
            Reason::AudienceMismatch => "audience_mismatch",
            Reason::RecipientMismatch => "recipient_mismatch",
            Reason::RequestMismatch => "request_mismatch",
            Reason::StatusNotSuccess => "status_not_success",
            Reason::Replayed => "replayed",
            Reason::MissingClaim => "missing_claim",
            Reason::DomainNotAllowed => "domain_not_allowed",
            Reason::SeatLimitReached => "seat_limit_reached",
            Reason::UserBlocked => "user_blocked",
            Reason::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refused token: the reason code plus a short human detail. The detail
/// never echoes more than a bounded slice of attacker-controlled text.
///
/// `verified` is set when the refusal came after the token's signature
/// verified (an expired or mis-addressed token from the real IdP): the
/// trace of the rejection then names the token by the id `seen_tokens`
/// would use, not by a hash of the token. A refusal before or at the
/// signature check leaves it `None`, so a forged token is never recorded
/// under the `jti` or Assertion ID it claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub detail: String,
    pub verified: Option<Verified>,
}

/// What is known of a refused token whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The replay key: OIDC `jti` (else the SHA-256 hex of the JWS signing
    /// input), SAML Assertion `ID`. Signed, but the IdP's text: escape it
    /// before it reaches a log line.
    pub token_id: String,
    /// The subject as the claim map reads it, when the signed content has
    /// one at the point of refusal.
    pub subject: Option<String>,
}

impl Rejection {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Rejection {
            reason,
            detail: detail.into(),
            verified: None,
        }
    }

    /// Marks a refusal as made on verified content. A rejection that already
    /// carries what it verified keeps it (the innermost point knows best).
    pub fn with_verified(mut self, verified: Verified) -> Self {
        if self.verified.is_none() {
            self.verified = Some(verified);
        }
        self
    }

    /// The token id for the trace of this rejection: the verified replay key
    /// when there is one, else the SHA-256 hex of `token` (the text as sent).
    pub fn token_id(&self, token: &str) -> String {
        match &self.verified {
            Some(v) => v.token_id.clone(),
            None => crate::fingerprint::fingerprint(token),
        }
    }

    /// The verified subject, if any.
    pub fn subject(&self) -> Option<&str> {
        self.verified.as_ref().and_then(|v| v.subject.as_deref())
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.code(), self.detail)
    }
}

impl std::error::Error for Rejection {}

/// Shorthand used throughout the verifiers.
pub(crate) fn reject<T>(reason: Reason, detail: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection::new(reason, detail))
}

/// Cuts attacker-controlled text for inclusion in an error detail.
pub fn excerpt(s: &str) -> String {
    const MAX_CHARS: usize = 80;
    match s.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", escape_controls(s.get(..cut).unwrap_or(""))),
        None => escape_controls(s),
    }
}

/// Escapes control characters: details land in server-log lines, where a
/// newline would let a token forge a line of its own. Besides the C0 and C1
/// controls (`char::is_control`, NEL U+0085 included) that means the Unicode
/// line and paragraph separators U+2028 and U+2029, which many log readers
/// and JSON-to-JavaScript paths treat as line ends too.
pub fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `s` as a JSON string literal in which no control character appears raw:
/// besides what JSON requires (C0, `"`, `\\`), DEL, the C1 controls and
/// U+2028 / U+2029 are written as `\\uXXXX` too, so the text can go into a
/// server-log line (an error's DETAIL) without starting a line of its own,
/// and still parses back to exactly `s`.
pub fn json_string(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                // Every such character is in the BMP: one \uXXXX escape.
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_string_escapes_every_line_break() {
        let s = "a\"b\\c\nd\u{0}e\u{7f}f\u{85}g\u{2028}h\u{2029}i é😀";
        let j = super::json_string(s);
        assert_eq!(
            j,
            "\"a\\\"b\\\\c\\nd\\u0000e\\u007ff\\u0085g\\u2028h\\u2029i é😀\""
        );
        assert!(!j
            .chars()
            .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}'));
        let back: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(back, serde_json::Value::String(s.to_string()));
    }

    #[test]
    fn rejection_token_id_is_verified_id_or_hash() {
        use super::{Reason, Rejection, Verified};
        let r = Rejection::new(Reason::BadSignature, "x");
        assert_eq!(r.token_id("abc"), crate::fingerprint::fingerprint("abc"));
        assert_eq!(r.subject(), None);
        let v = Verified {
            token_id: "jti-1".into(),
            subject: Some("alice".into()),
        };
        let r = Rejection::new(Reason::Expired, "x").with_verified(v.clone());
        assert_eq!(r.token_id("abc"), "jti-1");
        assert_eq!(r.subject(), Some("alice"));
        // The innermost point that set it wins.
        let other = Verified {
            token_id: "other".into(),
            subject: None,
        };
        assert_eq!(r.with_verified(other).verified, Some(v));
    }

    #[test]
    fn excerpt_cuts_and_escapes() {
        assert_eq!(super::excerpt("a\nb\u{1b}"), "a\\nb\\u{1b}");
        let long = "é".repeat(100);
        assert_eq!(super::excerpt(&long), format!("{}…", "é".repeat(80)));
    }

    /// Line and paragraph separators (U+2028, U+2029) and NEL (U+0085) end a
    /// line for many log readers: escaped like the C0 / C1 controls.
    #[test]
    fn unicode_line_breaks_are_escaped() {
        assert_eq!(
            super::escape_controls("a\u{2028}b\u{2029}c\u{85}d"),
            "a\\u{2028}b\\u{2029}c\\u{85}d"
        );
        assert_eq!(super::excerpt("x\u{2028}y"), "x\\u{2028}y");
        // Other non-ASCII text is kept as is.
        assert_eq!(super::escape_controls("é\u{a0}😀"), "é\u{a0}😀");
    }
}

/// A provider row that cannot be used: reported when the row is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}
