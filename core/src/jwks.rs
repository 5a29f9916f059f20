//! JWKS parsing (to be implemented).
use crate::error::ConfigError;

#[derive(Debug, Default)]
pub struct KeySet {}

impl KeySet {
    pub fn parse(_json: &str) -> Result<KeySet, ConfigError> {
        Err(ConfigError("jwks parsing not implemented".into()))
    }
    pub fn is_empty(&self) -> bool {
        true
    }
}
