//! A stable, non-reversible name for a token, for logs and replay keys.

use std::fmt::Write;

use ring::digest::{digest, SHA256};

/// Lowercase hex SHA-256 of the token text.
pub fn fingerprint(token: &str) -> String {
    hex(digest(&SHA256, token.as_bytes()).as_ref())
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_vector() {
        assert_eq!(
            super::fingerprint("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
