//! What one verification gets from the outside world: the clock, the
//! request id, and the resource budget. A leaf: every verifier depends on it,
//! it depends on no other module of the crate.

/// What the verifier needs from the outside world.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Unix seconds: the instant the token is judged at.
    pub now: i64,
    /// Must equal the OIDC `nonce` or the SAML `InResponseTo` when given.
    pub request_id: Option<String>,
    /// Resource limits and the interrupt hook (see [`Budget`]).
    pub budget: Budget,
}

/// How much work one verification may do, and how it is interrupted.
///
/// Every phase is bounded by a constant or by a multiple of the token's
/// size; the limits that are constants live next to the code they bound
/// (`saml::xml::MAX_*`). What is configurable is here.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Bytes one canonicalization may produce, as a multiple of the XML
    /// document's size (plus `saml::c14n::SLACK_BYTES`). Genuine
    /// documents canonicalize to about their own size; what exceeds the
    /// limit is `malformed`.
    pub canonical_factor: usize,
    /// Called every so often while the verifier works (per batch of
    /// elements, per chunk of canonical output). The extension runs
    /// `CHECK_FOR_INTERRUPTS` here, so `statement_timeout` and
    /// `pg_cancel_backend` stop a verification; the hook may unwind.
    pub interrupt: Option<fn()>,
}

impl Budget {
    pub const DEFAULT_CANONICAL_FACTOR: usize = 8;
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            canonical_factor: Budget::DEFAULT_CANONICAL_FACTOR,
            interrupt: None,
        }
    }
}
