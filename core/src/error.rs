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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Rejection {
            reason,
            detail: detail.into(),
        }
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

#[cfg(test)]
mod tests {
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
