//! Key parsing, one place for both protocols: an OIDC provider's JWKS
//! ([`jwks`]) and a SAML provider's PEM certificates ([`x509`]). Both run
//! when a provider's configuration is loaded, never per token, and both
//! turn what they cannot use into a `ConfigError`.
//!
//! The old paths `jit_provision_core::jwks` and `jit_provision_core::saml::x509`
//! are re-exports of these modules.

pub mod jwks;
pub mod x509;
