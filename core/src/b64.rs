//! Every base64 decoder of the crate, one function per alphabet and
//! strictness actually needed (issue 11: one base64 decoder per alphabet).
//!
//! A leaf module: it uses the `base64` crate and nothing of this crate.
//! All decoders refuse non-zero trailing bits (one encoding per value); they
//! differ in alphabet, in whether `=` padding is required, forbidden or
//! optional, and in whether whitespace is skipped:
//!
//! | function                  | alphabet     | padding   | whitespace          | used for |
//! |---------------------------|--------------|-----------|---------------------|----------|
//! | [`url_no_pad`]            | base64url    | forbidden | refused             | JWS segments |
//! | [`url_pad_optional`]      | base64url    | optional  | refused             | JWK members |
//! | [`standard`]              | standard     | required  | refused             | JWK `x5c` |
//! | [`standard_ws`]           | standard     | required  | ASCII, skipped      | XML DigestValue / SignatureValue / X509Certificate, PEM bodies |
//! | [`standard_or_url_token`] | either       | optional  | XML, skipped        | a SAML token as posted |

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

/// `=` padding optional, trailing bits must be zero. Built at compile time.
const PAD_OPTIONAL: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(false);
const STANDARD_PAD_OPTIONAL: GeneralPurpose =
    GeneralPurpose::new(&alphabet::STANDARD, PAD_OPTIONAL);
const URL_PAD_OPTIONAL: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, PAD_OPTIONAL);
/// base64url, no padding accepted, trailing bits must be zero.
const URL_NO_PAD: GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A JWS segment: RFC 7515 §2 defines base64url *without* padding, and the
/// signing input is the text itself, so only the canonical form is accepted
/// (no `=`, no whitespace, zero trailing bits). Empty input is empty output.
pub fn url_no_pad(s: &str) -> Option<Vec<u8>> {
    URL_NO_PAD.decode(s).ok()
}

/// A JWK member (`n`, `e`, `x`, `y`): JWKs are configuration, not attacker
/// input, so the `=` padding some tools add is tolerated; the URL-safe
/// alphabet and canonical trailing bits are still required, whitespace is not
/// skipped. Empty input is empty output.
pub fn url_pad_optional(s: &str) -> Option<Vec<u8>> {
    URL_PAD_OPTIONAL.decode(s).ok()
}

/// Standard base64 exactly as RFC 7517 §4.7 prescribes for `x5c` (padded, no
/// whitespace). Empty input is empty output.
pub fn standard(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok()
}

/// Standard padded base64 that may be broken into lines: XML content
/// (`ds:DigestValue`, `ds:SignatureValue`, `ds:X509Certificate`, where
/// XML Signature allows line breaks) and PEM bodies / bare base64 DER in the
/// configuration. ASCII whitespace (space, tab, LF, FF, CR) is skipped before
/// decoding; the XML parser never lets a form feed through, so for XML text
/// this is exactly XML whitespace. `None` when nothing but whitespace is left
/// (no empty digest, signature or certificate).
pub fn standard_ws(s: &str) -> Option<Vec<u8>> {
    let compact: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return None;
    }
    STANDARD.decode(&compact).ok()
}

/// A SAML token as a client sends it: standard base64 (the HTTP-POST binding,
/// line breaks allowed) or base64url (RFC 7522), padded or not. Only XML
/// whitespace (space, tab, LF, CR) is skipped; a form feed is refused, as it
/// always was. `None` for empty input.
pub fn standard_or_url_token(t: &str) -> Option<Vec<u8>> {
    // The decoders check the alphabet themselves (a byte of the other
    // alphabet, or whitespace, fails them), so the common case of one
    // unbroken base64 line costs one decode and no scan or copy.
    let decode = |b: &[u8]| {
        if b.is_empty() {
            return None;
        }
        STANDARD_PAD_OPTIONAL
            .decode(b)
            .or_else(|_| URL_PAD_OPTIONAL.decode(b))
            .ok()
    };
    let bytes = t.as_bytes();
    if let Some(v) = decode(bytes) {
        return Some(v);
    }
    // Line breaks and spaces are common in form-posted values; dropping them
    // byte-wise keeps this linear on a 1 MiB token.
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    if !bytes.iter().any(is_ws) {
        return None;
    }
    let compact: Vec<u8> = bytes.iter().filter(|b| !is_ws(b)).copied().collect();
    decode(&compact)
}

/// Standard padded base64 (PEM text built from metadata).
pub fn encode_standard(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// base64url without padding (SCIM bearer tokens).
pub fn encode_url_no_pad(bytes: &[u8]) -> String {
    URL_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictness_differs_as_documented() {
        // "hi" = aGk (unpadded) / aGk= (padded).
        assert_eq!(url_no_pad("aGk"), Some(b"hi".to_vec()));
        assert_eq!(url_no_pad("aGk="), None);
        assert_eq!(url_pad_optional("aGk="), Some(b"hi".to_vec()));
        assert_eq!(url_pad_optional("aGk"), Some(b"hi".to_vec()));
        assert_eq!(url_pad_optional("aG k"), None);
        assert_eq!(standard("aGk="), Some(b"hi".to_vec()));
        assert_eq!(standard("aGk"), None);
        assert_eq!(standard("aG\nk="), None);
        assert_eq!(standard_ws("aG\n k=\x0c"), Some(b"hi".to_vec()));
        assert_eq!(standard_ws(" \n"), None);
        assert_eq!(standard_ws("aGk"), None);
        assert_eq!(standard_or_url_token("aGk"), Some(b"hi".to_vec()));
        assert_eq!(standard_or_url_token("a Gk\r\n="), Some(b"hi".to_vec()));
        assert_eq!(standard_or_url_token("aG\x0ck"), None);
        assert_eq!(standard_or_url_token(""), None);
        // Trailing bits: "aGl" decodes "hi" with non-zero spare bits.
        assert_eq!(url_no_pad("aGl"), None);
        assert_eq!(url_pad_optional("aGl"), None);
        assert_eq!(standard_or_url_token("aGl"), None);
        // Alphabets.
        assert_eq!(url_no_pad("-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(standard("-_8="), None);
        assert_eq!(standard_ws("+/8="), Some(vec![0xfb, 0xff]));
        assert_eq!(standard_or_url_token("-_8"), Some(vec![0xfb, 0xff]));
    }
}
