//! SCIM bearer tokens: issuing one and checking an `Authorization` header
//! against the stored SHA-256 of the provider's token.
//!
//! Only the hash is stored, so a dump of `jit.providers` does not hand out
//! write access to the users. The comparison of hashes takes the same time
//! whatever the bytes, and every provider's hash is compared (the SQL side
//! does not stop at the first match), so timing tells nothing about which
//! provider, or which prefix, came close.

use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};

use crate::b64;

/// Issued tokens start with this, so that secret scanners can find a
/// token pasted where it should not be.
pub const TOKEN_PREFIX: &str = "jitscim_";

/// A new token: the prefix and 32 random bytes (256 bits) in base64url.
/// `None` only when the operating system's random source fails.
pub fn new_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(format!("{TOKEN_PREFIX}{}", b64::encode_url_no_pad(&bytes)))
}

/// SHA-256 of a token, as stored in `jit.providers.scim_token_sha256`.
pub fn token_hash(token: &str) -> Vec<u8> {
    digest(&SHA256, token.as_bytes()).as_ref().to_vec()
}

/// The credentials of `Authorization: Bearer <token>` (RFC 6750 2.1: the
/// scheme is case-insensitive, one or more spaces, then a b64token).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return None;
    }
    let token = rest.trim_start_matches(' ');
    let b64token = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    (!token.is_empty() && token.len() <= 1024 && token.chars().all(b64token)).then_some(token)
}

/// Whether `header` carries the token whose SHA-256 is `stored`.
pub fn header_matches(header: Option<&str>, stored: &[u8]) -> bool {
    let Some(token) = header.and_then(bearer_token) else {
        return false;
    };
    constant_time_eq(&token_hash(token), stored)
}

/// Equality of two byte strings in time that depends only on their
/// lengths (hashes: always 32 bytes).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_token_matches_its_hash_only() {
        let t = new_token().unwrap();
        assert!(t.starts_with(TOKEN_PREFIX));
        let h = token_hash(&t);
        assert!(header_matches(Some(&format!("Bearer {t}")), &h));
        assert!(header_matches(Some(&format!("bearer  {t}")), &h));
        assert!(!header_matches(Some(&format!("Bearer {t}x")), &h));
        assert!(!header_matches(Some(&format!("Basic {t}")), &h));
        assert!(!header_matches(Some(&t), &h));
        assert!(!header_matches(None, &h));
        assert!(!header_matches(Some("Bearer "), &h));
        let other = new_token().unwrap();
        assert_ne!(t, other);
        assert!(!header_matches(Some(&format!("Bearer {other}")), &h));
    }
}
