//! A provider's JWKS, parsed once into ring-ready public keys.
//!
//! Keys that cannot serve as JWS verification keys here (HMAC secrets, P-521,
//! short RSA moduli, encryption keys, private keys, bad encodings...) are
//! skipped and recorded in [`KeySet::skipped`] rather than failing the whole
//! set: an IdP's published JWKS routinely mixes key types, and the keys we can
//! use must keep working. A set left with no usable key is refused by
//! [`crate::Provider::new`].

use crate::b64;
use crate::error::{excerpt, ConfigError};
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value};

/// JWS `alg` values this verifier implements (RFC 7518 §3.1, RFC 8037).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl Algorithm {
    pub const ALL: [Algorithm; 9] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// Exact, case-sensitive match (RFC 7515 §4.1.1): `none`, `NONE`, HS* and
    /// everything else give `None`.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.iter().copied().find(|a| a.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    fn rsa_params(self) -> Option<&'static signature::RsaParameters> {
        Some(match self {
            Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            Algorithm::ES256 | Algorithm::ES384 | Algorithm::EdDSA => return None,
        })
    }
}

/// One usable verification key.
#[derive(Debug)]
pub struct Key {
    kid: Option<String>,
    /// The JWK's own `alg`: when present, the only JWS alg this key verifies.
    alg: Option<Algorithm>,
    material: Material,
}

#[derive(Debug)]
enum Material {
    /// Serves RS* and PS*; the digest/padding comes with the token's alg.
    Rsa(RsaPublicKeyComponents<Vec<u8>>),
    /// EC and OKP keys fit exactly one JWS alg, so the ring algorithm is bound
    /// here once (ECDSA in the fixed-size r||s form JWS uses, RFC 7518 §3.4).
    Single(Algorithm, UnparsedPublicKey<Vec<u8>>),
}

impl Key {
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// SHA-256 (hex) of the key material (RSA: n then e; EC and OKP: the
    /// public key bytes), so two documents can be compared by the keys they
    /// hold rather than by their text.
    pub fn material_sha256(&self) -> String {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        match &self.material {
            Material::Rsa(c) => {
                ctx.update(b"rsa");
                ctx.update(&(c.n.len() as u64).to_be_bytes());
                ctx.update(&c.n);
                ctx.update(&c.e);
            }
            Material::Single(alg, key) => {
                ctx.update(alg.name().as_bytes());
                ctx.update(key.as_ref());
            }
        }
        crate::fingerprint::hex(ctx.finish().as_ref())
    }

    /// Whether this key may verify a signature made with `alg`: its type fits
    /// and its own `alg`, if any, names exactly that algorithm.
    pub fn fits(&self, alg: Algorithm) -> bool {
        let type_fits = match &self.material {
            Material::Rsa(_) => alg.rsa_params().is_some(),
            Material::Single(a, _) => *a == alg,
        };
        type_fits && self.alg.is_none_or(|a| a == alg)
    }

    /// Checks a JWS signature. `alg` must already have passed [`Key::fits`];
    /// a misfit simply fails.
    pub fn verify(&self, alg: Algorithm, signing_input: &[u8], signature: &[u8]) -> bool {
        if !self.fits(alg) {
            return false;
        }
        match &self.material {
            Material::Rsa(components) => match alg.rsa_params() {
                Some(params) => components.verify(params, signing_input, signature).is_ok(),
                None => false,
            },
            Material::Single(_, key) => key.verify(signing_input, signature).is_ok(),
        }
    }
}

/// Why a key of the document was not taken (for the DBA and for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in `keys`.
    pub index: usize,
    pub kid: Option<String>,
    pub reason: SkipReason,
}

/// Stable reasons for skipping a JWK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// Not a JSON object, or `kid`/`use`/`alg`/`key_ops` of the wrong type.
    NotAnObject,
    /// `kty` missing or not RSA / EC / OKP (e.g. `oct`: HMAC is refused by design).
    UnsupportedKeyType,
    /// EC curve other than P-256/P-384 (e.g. P-521), OKP curve other than Ed25519.
    UnsupportedCurve,
    /// `use` other than `sig`, or `key_ops` without `verify`.
    NotForSignatures,
    /// `alg` is not an implemented JWS alg, or does not fit the key type/curve.
    AlgorithmMismatch,
    /// Carries private members (`d`, `p`, ...): a JWKS for verification holds
    /// public keys only, and a leaked private key must not be silently used.
    PrivateKeyMaterial,
    /// A required member is missing, not base64url, or of the wrong length.
    BadEncoding,
    /// RSA modulus under 2048 bits (or over ring's 8192), or an unusable exponent.
    WeakOrBadRsaKey,
    /// RSA modulus with the ROCA (CVE-2017-15361) fingerprint: factorable.
    RocaVulnerable,
    /// EC point not on the curve.
    InvalidPoint,
}

/// A parsed JWKS.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Key>,
    skipped: Vec<SkippedKey>,
}

const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

impl KeySet {
    /// Parses a JWKS document `{"keys":[...]}`. Only a document that is not
    /// such an object is an error; individual unusable keys are skipped.
    pub fn parse(json: &str) -> Result<KeySet, ConfigError> {
        let doc: Value = serde_json::from_str(json)
            .map_err(|e| ConfigError(format!("jwks is not valid JSON: {e}")))?;
        let keys = doc
            .as_object()
            .and_then(|o| o.get("keys"))
            .and_then(Value::as_array)
            .ok_or_else(|| ConfigError("jwks must be an object with a \"keys\" array".into()))?;
        let mut set = KeySet::default();
        for (index, jwk) in keys.iter().enumerate() {
            match parse_jwk(jwk) {
                Ok(key) => set.keys.push(key),
                Err(reason) => set.skipped.push(SkippedKey {
                    index,
                    kid: jwk.get("kid").and_then(Value::as_str).map(excerpt),
                    reason,
                }),
            }
        }
        Ok(set)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// Keys that may verify a token signed with `alg`. A token naming a `kid`
    /// is only ever checked against keys carrying that exact kid; a token
    /// without one is tried against every key that fits the alg.
    pub fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
        alg: Algorithm,
    ) -> impl Iterator<Item = &'a Key> + 'a {
        self.keys
            .iter()
            .filter(move |k| kid.is_none_or(|want| k.kid.as_deref() == Some(want)))
            .filter(move |k| k.fits(alg))
    }

    /// Whether any key carries this kid, whatever its type (for error details).
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

fn parse_jwk(jwk: &Value) -> Result<Key, SkipReason> {
    let obj = jwk.as_object().ok_or(SkipReason::NotAnObject)?;
    let kid = optional_str(obj, "kid")?.map(str::to_string);
    let kty = optional_str(obj, "kty")?.ok_or(SkipReason::UnsupportedKeyType)?;
    if !matches!(kty, "RSA" | "EC" | "OKP") {
        return Err(SkipReason::UnsupportedKeyType);
    }
    if PRIVATE_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
        return Err(SkipReason::PrivateKeyMaterial);
    }
    if optional_str(obj, "use")?.is_some_and(|u| u != "sig") {
        return Err(SkipReason::NotForSignatures);
    }
    if let Some(ops) = obj.get("key_ops") {
        let ops = ops.as_array().ok_or(SkipReason::NotAnObject)?;
        if !ops.iter().any(|o| o.as_str() == Some("verify")) {
            return Err(SkipReason::NotForSignatures);
        }
    }
    let material = match kty {
        "RSA" => rsa_material(obj)?,
        "EC" => ec_material(obj)?,
        _ => okp_material(obj)?,
    };
    let alg = match optional_str(obj, "alg")? {
        None => None,
        Some(name) => Some(Algorithm::from_name(name).ok_or(SkipReason::AlgorithmMismatch)?),
    };
    let key = Key {
        kid,
        alg: None,
        material,
    };
    // A declared alg the key type cannot serve (ES512 on P-256, RS256 on an EC
    // key) means the JWK is inconsistent; using it under any alg would be a guess.
    if let Some(a) = alg {
        if !key.fits(a) {
            return Err(SkipReason::AlgorithmMismatch);
        }
    }
    Ok(Key { alg, ..key })
}

fn optional_str<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, SkipReason> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(SkipReason::NotAnObject),
    }
}

fn b64_member(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, SkipReason> {
    let text = optional_str(obj, name)?.ok_or(SkipReason::BadEncoding)?;
    // Padding tolerated: see `b64::url_pad_optional`.
    b64::url_pad_optional(text).ok_or(SkipReason::BadEncoding)
}

fn strip_leading_zeros(mut b: &[u8]) -> &[u8] {
    while let [0, rest @ ..] = b {
        b = rest;
    }
    b
}

fn bit_length(be: &[u8]) -> usize {
    match be.first() {
        None => 0,
        Some(&top) => (be.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

fn rsa_material(obj: &Map<String, Value>) -> Result<Material, SkipReason> {
    let n = b64_member(obj, "n")?;
    let e = b64_member(obj, "e")?;
    // RFC 7518 §6.3.1.1 forbids a leading zero octet but notes that some
    // libraries emit one; ring wants minimal big-endian, so normalise.
    let n = strip_leading_zeros(&n).to_vec();
    let e = strip_leading_zeros(&e).to_vec();
    let bits = bit_length(&n);
    // Checked here, at configuration time, with the limits ring applies at
    // verification (2048..=8192 bits, odd modulus, odd exponent 3..2^33-1),
    // so a key that ring would refuse never counts as usable.
    if !(2048..=8192).contains(&bits) || n.last().is_none_or(|b| b & 1 == 0) {
        return Err(SkipReason::WeakOrBadRsaKey);
    }
    let exponent = if e.len() <= 5 {
        e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    } else {
        0
    };
    if !(3..(1u64 << 33)).contains(&exponent) || exponent & 1 == 0 {
        return Err(SkipReason::WeakOrBadRsaKey);
    }
    if has_roca_fingerprint(&n) {
        return Err(SkipReason::RocaVulnerable);
    }
    Ok(Material::Rsa(RsaPublicKeyComponents { n, e }))
}

fn ec_material(obj: &Map<String, Value>) -> Result<Material, SkipReason> {
    let (alg, size, verify_alg, agree_alg): (
        _,
        _,
        &'static signature::EcdsaVerificationAlgorithm,
        _,
    ) = match optional_str(obj, "crv")? {
        Some("P-256") => (
            Algorithm::ES256,
            32,
            &signature::ECDSA_P256_SHA256_FIXED,
            &ring::agreement::ECDH_P256,
        ),
        Some("P-384") => (
            Algorithm::ES384,
            48,
            &signature::ECDSA_P384_SHA384_FIXED,
            &ring::agreement::ECDH_P384,
        ),
        _ => return Err(SkipReason::UnsupportedCurve),
    };
    let x = b64_member(obj, "x")?;
    let y = b64_member(obj, "y")?;
    // RFC 7518 §6.2.1.2/3: coordinates are the full field size, never shortened.
    if x.len() != size || y.len() != size {
        return Err(SkipReason::BadEncoding);
    }
    let mut point = Vec::with_capacity(1 + 2 * size);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    if !point_on_curve(agree_alg, &point) {
        return Err(SkipReason::InvalidPoint);
    }
    Ok(Material::Single(
        alg,
        UnparsedPublicKey::new(verify_alg, point),
    ))
}

fn okp_material(obj: &Map<String, Value>) -> Result<Material, SkipReason> {
    if optional_str(obj, "crv")? != Some("Ed25519") {
        return Err(SkipReason::UnsupportedCurve);
    }
    let x = b64_member(obj, "x")?;
    if x.len() != 32 {
        return Err(SkipReason::BadEncoding);
    }
    Ok(Material::Single(
        Algorithm::EdDSA,
        UnparsedPublicKey::new(&signature::ED25519, x),
    ))
}

/// ring exposes no public "validate this EC point" call, but its ECDH
/// refuses a peer point that is not on the curve; one ephemeral agreement at
/// configuration time thus reports a bad key when the row is written instead
/// of as `bad_signature` at every login. If no randomness is available the
/// check is skipped: verification re-validates the point anyway.
fn point_on_curve(alg: &'static ring::agreement::Algorithm, point: &[u8]) -> bool {
    use ring::agreement;
    let rng = ring::rand::SystemRandom::new();
    match agreement::EphemeralPrivateKey::generate(alg, &rng) {
        Ok(mine) => {
            agreement::agree_ephemeral(mine, &agreement::UnparsedPublicKey::new(alg, point), |_| ())
                .is_ok()
        }
        Err(_) => true,
    }
}

/// The ROCA test of Nemec et al. (CCS 2017): moduli from the vulnerable
/// Infineon generator satisfy, for each of these small primes p, that n mod p
/// lies in the subgroup generated by 65537 mod p. A random modulus passes all
/// of them with negligible probability.
fn has_roca_fingerprint(n: &[u8]) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let residue = n
            .iter()
            .fold(0u32, |acc, &b| (acc * 256 + u32::from(b)) % p);
        let generator = 65537 % p;
        let mut x = 1;
        loop {
            if x == residue {
                return true;
            }
            x = x * generator % p;
            if x == 1 {
                return false;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roca_subgroup_walk_matches_published_prints() {
        // crocs-muni/roca publishes the subgroups as bitmasks: 6 for p=3
        // ({1,2}), 30 for p=5, 126 for p=7, 1026 for p=11 ({1,10}).
        for (p, print) in [(3u32, 6u64), (5, 30), (7, 126), (11, 1026), (13, 5658)] {
            let g = 65537 % p;
            let mut mask = 0u64;
            let mut x = 1;
            loop {
                mask |= 1 << x;
                x = x * g % p;
                if x == 1 {
                    break;
                }
            }
            assert_eq!(mask, print, "p={p}");
        }
    }

    #[test]
    fn bit_length_counts_from_top_set_bit() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[1]), 1);
        assert_eq!(bit_length(&[0x80, 0]), 16);
        assert_eq!(bit_length(&[0x01, 0, 0]), 17);
    }
}
