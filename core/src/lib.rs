//! jit_provision_core: the part of jit_provision that decides.
//!
//! Given a token, a provider's settings and keys, and a clock, it returns an
//! [`Identity`] or a [`Rejection`] carrying a stable reason code. It knows
//! nothing about PostgreSQL: the extension loads configuration, calls
//! [`verify`], and persists the result.

// Input reaches almost every line of this crate: no panicking shortcuts.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

pub mod b64;
pub mod context;
pub mod discovery;
pub mod error;
pub mod fetch_policy;
pub mod fingerprint;
pub mod group_map;
pub mod identity;
pub mod jwt;
pub mod key_inventory;
pub mod keys;
pub mod mapping;
pub mod provider;
pub mod saml;
pub mod scim;
pub mod token;

pub use context::{Budget, Context};
pub use error::{ConfigError, Reason, Rejection, Verified};
pub use fingerprint::fingerprint;
pub use identity::Identity;
// Key parsing moved under `keys`; the old path stays.
pub use keys::jwks;
pub use provider::{Protocol, Provider, ProviderSettings};
pub use token::{parse, verify, Token, MAX_TOKEN_BYTES};
