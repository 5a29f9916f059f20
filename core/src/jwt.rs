//! Compact JWS ID tokens (to be implemented).
use crate::error::{reject, Reason, Rejection};
use crate::identity::Identity;
use crate::provider::Provider;
use crate::token::Context;

#[derive(Debug)]
pub struct Jwt {}

impl Jwt {
    pub fn issuer(&self) -> Option<&str> {
        None
    }
}

pub fn parse(_token: &str) -> Result<Jwt, Rejection> {
    reject(Reason::Malformed, "not implemented")
}

pub fn verify(_jwt: &Jwt, _provider: &Provider, _ctx: &Context) -> Result<Identity, Rejection> {
    reject(Reason::Unsupported, "not implemented")
}
