//! Trusted SAML signing keys from PEM text: just enough DER to find the
//! SubjectPublicKeyInfo of a certificate. The certificate is a pinned key
//! container: its validity period, issuer and extensions are not evaluated
//! (the DBA pinned this very certificate; IdP signing certificates are
//! commonly self-signed and long-lived).

use crate::b64;
use crate::error::ConfigError;

/// RSA moduli below this many bits are refused when the row is written.
/// 1024-bit keys are accepted because SAML IdPs and their test fixtures still
/// use them; see the crate report (open risk) before raising it to 2048.
pub const MIN_RSA_BITS: usize = 1024;
pub const MAX_RSA_BITS: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
}

/// A public key a SAML signature may verify against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustedKey {
    /// DER RSAPublicKey (PKCS#1), what ring's RSA verification takes.
    Rsa { pkcs1: Vec<u8>, bits: usize },
    /// Uncompressed point (0x04 || X || Y).
    Ec { curve: Curve, point: Vec<u8> },
}

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// Parses one `certificates` entry: one or more PEM blocks (`CERTIFICATE`,
/// `PUBLIC KEY`, `RSA PUBLIC KEY`), or the bare base64 of a DER certificate
/// as IdP metadata carries it in `ds:X509Certificate`.
pub fn parse_pem_keys(text: &str) -> Result<Vec<TrustedKey>, ConfigError> {
    der_blocks(text)?
        .iter()
        .map(|(label, der)| match *label {
            "CERTIFICATE" => key_from_certificate(der),
            "PUBLIC KEY" => key_from_spki(der),
            "RSA PUBLIC KEY" => rsa_key(der),
            other => err(format!(
                "unsupported PEM block '{other}' (expected CERTIFICATE)"
            )),
        })
        .collect()
}

/// What a DBA wants to know of one pinned key: which it is and when its
/// certificate runs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFacts {
    /// SHA-256 (hex) of the DER certificate, or of the DER public key for a
    /// `PUBLIC KEY` block: the fingerprint `openssl x509 -fingerprint -sha256`
    /// shows, without colons.
    pub sha256: String,
    /// The certificate's notAfter (Unix seconds); `None` for a bare key.
    pub not_after: Option<i64>,
}

/// [`KeyFacts`] for every block of one `certificates` entry.
pub fn key_facts(text: &str) -> Result<Vec<KeyFacts>, ConfigError> {
    der_blocks(text)?
        .iter()
        .map(|(label, der)| {
            let not_after = match *label {
                "CERTIFICATE" => Some(certificate_not_after(der)?),
                _ => None,
            };
            Ok(KeyFacts {
                sha256: crate::fingerprint::hex(
                    ring::digest::digest(&ring::digest::SHA256, der).as_ref(),
                ),
                not_after,
            })
        })
        .collect()
}

/// The DER blocks of one `certificates` entry with their PEM labels; bare
/// base64 (as in metadata) is one `CERTIFICATE`.
fn der_blocks(text: &str) -> Result<Vec<(&str, Vec<u8>)>, ConfigError> {
    let text = text.trim();
    if text.is_empty() {
        return err("a certificate entry is empty");
    }
    if !text.contains("-----BEGIN") {
        let der = b64::standard_ws(text)
            .ok_or_else(|| ConfigError("certificate is neither PEM nor base64 DER".into()))?;
        return Ok(vec![("CERTIFICATE", der)]);
    }
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = rest.get(start + 11..).unwrap_or("");
        let Some(label_end) = after.find("-----") else {
            return err("unterminated PEM header");
        };
        let label = after.get(..label_end).unwrap_or("");
        let body_start = after.get(label_end + 5..).unwrap_or("");
        let end_marker = format!("-----END {label}-----");
        let Some(body_end) = body_start.find(&end_marker) else {
            return err(format!("PEM block '{label}' has no matching END line"));
        };
        let body = body_start.get(..body_end).unwrap_or("");
        let der = b64::standard_ws(body)
            .ok_or_else(|| ConfigError(format!("PEM block '{label}' is not valid base64")))?;
        blocks.push((label, der));
        rest = body_start.get(body_end + end_marker.len()..).unwrap_or("");
    }
    if !rest.trim().is_empty() {
        return err("trailing text after the last PEM block");
    }
    if blocks.is_empty() {
        return err("no PEM block found");
    }
    Ok(blocks)
}

/// A DER reader over a byte slice: definite, minimal lengths only.
struct Der<'a> {
    data: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(data: &'a [u8]) -> Self {
        Der { data }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.data.first().copied()
    }

    /// Reads one TLV and returns (tag, contents).
    fn read_any(&mut self) -> Result<(u8, &'a [u8]), ConfigError> {
        let (&tag, rest) = self
            .data
            .split_first()
            .ok_or_else(|| ConfigError("truncated DER".into()))?;
        let (&first, mut rest) = rest
            .split_first()
            .ok_or_else(|| ConfigError("truncated DER length".into()))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 3 {
                return err("unsupported DER length encoding");
            }
            let (bytes, r) = (rest.get(..n), rest.get(n..));
            let (Some(bytes), Some(r)) = (bytes, r) else {
                return err("truncated DER length");
            };
            let mut len = 0usize;
            for &b in bytes {
                len = (len << 8) | usize::from(b);
            }
            // Minimal encoding: long form only from 128, no leading zero byte.
            if len < 0x80 || bytes.first() == Some(&0) {
                return err("non-minimal DER length");
            }
            rest = r;
            len
        };
        let (Some(contents), Some(after)) = (rest.get(..len), rest.get(len..)) else {
            return err("DER length runs past the end of the data");
        };
        self.data = after;
        Ok((tag, contents))
    }

    fn read(&mut self, want: u8) -> Result<&'a [u8], ConfigError> {
        let (tag, contents) = self.read_any()?;
        if tag != want {
            return err(format!(
                "unexpected DER tag 0x{tag:02x} (wanted 0x{want:02x})"
            ));
        }
        Ok(contents)
    }
}

const SEQUENCE: u8 = 0x30;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
const NULL: u8 = 0x05;
const CONTEXT_0: u8 = 0xa0;

const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];

/// Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
/// TBSCertificate ::= SEQUENCE { \[0\] version OPTIONAL, serialNumber,
///   signature, issuer, validity, subject, subjectPublicKeyInfo, ... }
pub fn key_from_certificate(der: &[u8]) -> Result<TrustedKey, ConfigError> {
    let mut outer = Der::new(der);
    let cert = outer.read(SEQUENCE)?;
    if !outer.is_empty() {
        return err("trailing data after the certificate");
    }
    let mut cert = Der::new(cert);
    let tbs = cert.read(SEQUENCE)?;
    let mut tbs = Der::new(tbs);
    if tbs.peek_tag() == Some(CONTEXT_0) {
        tbs.read(CONTEXT_0)?;
    }
    tbs.read(INTEGER)?; // serialNumber
    tbs.read(SEQUENCE)?; // signature algorithm
    tbs.read(SEQUENCE)?; // issuer
    tbs.read(SEQUENCE)?; // validity
    tbs.read(SEQUENCE)?; // subject
    let (tag, spki) = tbs.read_any()?;
    if tag != SEQUENCE {
        return err("certificate has no SubjectPublicKeyInfo");
    }
    parse_spki_contents(spki)
}

/// The certificate's validity notAfter, in Unix seconds (UTCTime or
/// GeneralizedTime, RFC 5280 4.1.2.5; both must be in UTC, "Z").
pub fn certificate_not_after(der: &[u8]) -> Result<i64, ConfigError> {
    let mut outer = Der::new(der);
    let mut cert = Der::new(outer.read(SEQUENCE)?);
    let mut tbs = Der::new(cert.read(SEQUENCE)?);
    if tbs.peek_tag() == Some(CONTEXT_0) {
        tbs.read(CONTEXT_0)?;
    }
    tbs.read(INTEGER)?; // serialNumber
    tbs.read(SEQUENCE)?; // signature algorithm
    tbs.read(SEQUENCE)?; // issuer
    let mut validity = Der::new(tbs.read(SEQUENCE)?);
    validity.read_any()?; // notBefore
    let (tag, time) = validity.read_any()?;
    let text = std::str::from_utf8(time)
        .map_err(|_| ConfigError("certificate notAfter is not text".into()))?;
    let full = match (tag, text.len()) {
        // UTCTime YYMMDDHHMMSSZ: years 50-99 are 19xx (RFC 5280).
        (UTC_TIME, 13) => {
            let yy: u32 = text.get(..2).and_then(|y| y.parse().ok()).unwrap_or(100);
            let century = if yy >= 50 { "19" } else { "20" };
            format!("{century}{text}")
        }
        (GENERALIZED_TIME, 15) => text.to_string(),
        _ => return err("certificate notAfter is neither UTCTime nor GeneralizedTime in UTC"),
    };
    let field = |from: usize, to: usize| full.get(from..to).unwrap_or("");
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        field(0, 4),
        field(4, 6),
        field(6, 8),
        field(8, 10),
        field(10, 12),
        field(12, 14)
    );
    if full.get(14..) != Some("Z") {
        return err("certificate notAfter is not in UTC");
    }
    crate::saml::time::parse_datetime(&iso).ok_or_else(|| {
        ConfigError(format!(
            "certificate notAfter '{}' is not a valid time",
            crate::error::excerpt(text)
        ))
    })
}

/// A DER SubjectPublicKeyInfo (`PUBLIC KEY` PEM).
pub fn key_from_spki(der: &[u8]) -> Result<TrustedKey, ConfigError> {
    let mut outer = Der::new(der);
    let spki = outer.read(SEQUENCE)?;
    if !outer.is_empty() {
        return err("trailing data after the public key");
    }
    parse_spki_contents(spki)
}

fn parse_spki_contents(spki: &[u8]) -> Result<TrustedKey, ConfigError> {
    let mut spki = Der::new(spki);
    let alg = spki.read(SEQUENCE)?;
    let bits = spki.read(BIT_STRING)?;
    if !spki.is_empty() {
        return err("trailing data in SubjectPublicKeyInfo");
    }
    let Some((&unused, key)) = bits.split_first() else {
        return err("empty public key BIT STRING");
    };
    if unused != 0 {
        return err("public key BIT STRING has unused bits");
    }
    let mut alg = Der::new(alg);
    let oid = alg.read(OID)?;
    if oid == OID_RSA_ENCRYPTION {
        if !alg.is_empty() {
            alg.read(NULL)?;
        }
        if !alg.is_empty() {
            return err("unexpected RSA algorithm parameters");
        }
        rsa_key(key)
    } else if oid == OID_EC_PUBLIC_KEY {
        let curve_oid = alg.read(OID)?;
        if !alg.is_empty() {
            return err("unexpected EC algorithm parameters");
        }
        let (curve, len) = if curve_oid == OID_P256 {
            (Curve::P256, 65)
        } else if curve_oid == OID_P384 {
            (Curve::P384, 97)
        } else {
            return err("unsupported EC curve (P-256 and P-384 are supported)");
        };
        if key.len() != len || key.first() != Some(&0x04) {
            return err("EC public key is not an uncompressed point of the curve's size");
        }
        Ok(TrustedKey::Ec {
            curve,
            point: key.to_vec(),
        })
    } else {
        err("unsupported public key algorithm (RSA and EC P-256/P-384 are supported)")
    }
}

/// RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
fn rsa_key(der: &[u8]) -> Result<TrustedKey, ConfigError> {
    let mut outer = Der::new(der);
    let seq = outer.read(SEQUENCE)?;
    if !outer.is_empty() {
        return err("trailing data after the RSA public key");
    }
    let mut seq = Der::new(seq);
    let n = seq.read(INTEGER)?;
    let e = seq.read(INTEGER)?;
    if !seq.is_empty() {
        return err("trailing data in the RSA public key");
    }
    let n_mag = strip_leading_zeros(n);
    let bits = match n_mag.first() {
        Some(&b) => n_mag.len() * 8 - b.leading_zeros() as usize,
        None => 0,
    };
    if n.first().is_some_and(|&b| b & 0x80 != 0) {
        return err("RSA modulus is negative");
    }
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return err(format!(
            "RSA key of {bits} bits is outside {MIN_RSA_BITS}..={MAX_RSA_BITS}"
        ));
    }
    let e_mag = strip_leading_zeros(e);
    if e_mag.len() > 4 || e_mag.last().is_none_or(|&b| b & 1 == 0) || e_mag == [1] {
        return err("unusable RSA public exponent");
    }
    Ok(TrustedKey::Rsa {
        pkcs1: der.to_vec(),
        bits,
    })
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    b.get(start..).unwrap_or(&[])
}
