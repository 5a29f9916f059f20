//! XML-DSig, restricted to the SAML profile of it (SAML core 5.4):
//! one SignedInfo, one Reference whose URI is `#` + the ID of the
//! Signature's parent, transforms enveloped-signature then optionally one
//! canonicalization, digests SHA-256/384/512 (SHA-1 on opt-in), signatures
//! RSA PKCS#1 v1.5 and ECDSA P-256/P-384 with the provider's pinned keys.
//! KeyInfo is never read. The caller decides which Signatures must exist and
//! where; this module verifies one given Signature over its given parent.

use std::borrow::Cow;

use ring::digest;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};

use super::c14n::{self, Method};
use super::xml::{Element, Node};
use crate::b64;
use crate::error::{excerpt, reject, Reason, Rejection};
use crate::keys::x509::{Curve, TrustedKey};

pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlg {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlg {
    /// Every digest this verifier implements.
    pub const ALL: [DigestAlg; 4] = [
        DigestAlg::Sha1,
        DigestAlg::Sha256,
        DigestAlg::Sha384,
        DigestAlg::Sha512,
    ];

    fn from_uri(uri: &str) -> Option<DigestAlg> {
        Some(match uri {
            "http://www.w3.org/2000/09/xmldsig#sha1" => DigestAlg::Sha1,
            "http://www.w3.org/2001/04/xmlenc#sha256" => DigestAlg::Sha256,
            "http://www.w3.org/2001/04/xmldsig-more#sha384" => DigestAlg::Sha384,
            "http://www.w3.org/2001/04/xmlenc#sha512" => DigestAlg::Sha512,
            _ => return None,
        })
    }

    /// The name used in `jit.providers.algorithms`.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlg::Sha1 => "sha1",
            DigestAlg::Sha256 => "sha256",
            DigestAlg::Sha384 => "sha384",
            DigestAlg::Sha512 => "sha512",
        }
    }

    fn ring(self) -> &'static digest::Algorithm {
        match self {
            DigestAlg::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            DigestAlg::Sha256 => &digest::SHA256,
            DigestAlg::Sha384 => &digest::SHA384,
            DigestAlg::Sha512 => &digest::SHA512,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    Rsa(DigestAlg),
    Ecdsa(DigestAlg),
}

impl SigAlg {
    /// Every signature algorithm this verifier implements: exactly those
    /// `from_uri` builds.
    pub const IMPLEMENTED: [SigAlg; 6] = [
        SigAlg::Rsa(DigestAlg::Sha1),
        SigAlg::Rsa(DigestAlg::Sha256),
        SigAlg::Rsa(DigestAlg::Sha384),
        SigAlg::Rsa(DigestAlg::Sha512),
        SigAlg::Ecdsa(DigestAlg::Sha256),
        SigAlg::Ecdsa(DigestAlg::Sha384),
    ];

    /// The digest the signature is computed over.
    pub fn digest(self) -> DigestAlg {
        match self {
            SigAlg::Rsa(d) | SigAlg::Ecdsa(d) => d,
        }
    }

    fn from_uri(uri: &str) -> Option<SigAlg> {
        Some(match uri {
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => SigAlg::Rsa(DigestAlg::Sha1),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => SigAlg::Rsa(DigestAlg::Sha256),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => SigAlg::Rsa(DigestAlg::Sha384),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => SigAlg::Rsa(DigestAlg::Sha512),
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => {
                SigAlg::Ecdsa(DigestAlg::Sha256)
            }
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => {
                SigAlg::Ecdsa(DigestAlg::Sha384)
            }
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SigAlg::Rsa(DigestAlg::Sha1) => "rsa-sha1",
            SigAlg::Rsa(DigestAlg::Sha256) => "rsa-sha256",
            SigAlg::Rsa(DigestAlg::Sha384) => "rsa-sha384",
            SigAlg::Rsa(DigestAlg::Sha512) => "rsa-sha512",
            SigAlg::Ecdsa(DigestAlg::Sha256) => "ecdsa-sha256",
            SigAlg::Ecdsa(DigestAlg::Sha384) => "ecdsa-sha384",
            // from_uri never builds these.
            SigAlg::Ecdsa(DigestAlg::Sha1) => "ecdsa-sha1",
            SigAlg::Ecdsa(DigestAlg::Sha512) => "ecdsa-sha512",
        }
    }
}

fn bad<T>(detail: impl Into<String>) -> Result<T, Rejection> {
    reject(Reason::BadSignature, detail)
}

fn unsupported_alg<T>(detail: impl Into<String>) -> Result<T, Rejection> {
    reject(Reason::UnsupportedAlgorithm, detail)
}

/// Non-whitespace text directly inside a structural element is refused;
/// comments and processing instructions are ignored (c14n drops them).
fn structural_children<'d>(e: Element<'d>, what: &str) -> Result<Vec<Element<'d>>, Rejection> {
    let mut out = Vec::new();
    for n in e.children() {
        match n {
            Node::Element(c) => out.push(c),
            Node::Text(t) if t.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) => {}
            Node::Text(_) => return bad(format!("text inside {what}")),
            Node::Comment(_) | Node::Pi { .. } => {}
        }
    }
    Ok(out)
}

/// Text content of a leaf (DigestValue, SignatureValue): text nodes only,
/// never comments; a child element is refused.
fn leaf_text<'d>(e: Element<'d>, what: &str) -> Result<Cow<'d, str>, Rejection> {
    if e.has_element_children() {
        return bad(format!("{what} has child elements"));
    }
    Ok(e.text())
}

fn decode_b64(s: &str, what: &str) -> Result<Vec<u8>, Rejection> {
    // Empty is refused too (`standard_ws` is `None` for it). The parser lets
    // no form feed into XML text, so ASCII whitespace is XML whitespace here.
    match b64::standard_ws(s) {
        Some(v) => Ok(v),
        None => bad(format!("{what} is not valid base64")),
    }
}

fn expect_dsig<'d>(e: Option<&Element<'d>>, local: &str) -> Result<Element<'d>, Rejection> {
    match e {
        Some(el) if el.is(DSIG_NS, local) => Ok(*el),
        Some(el) => bad(format!(
            "expected ds:{local}, found {}",
            excerpt(&el.qname())
        )),
        None => bad(format!("ds:{local} is missing")),
    }
}

fn algorithm<'d>(e: Element<'d>, what: &str) -> Result<&'d str, Rejection> {
    match e.attr("Algorithm") {
        Some(a) => Ok(a),
        None => bad(format!("{what} has no Algorithm")),
    }
}

/// A canonicalization method element (CanonicalizationMethod or Transform):
/// only the two without-comments methods, exclusive with an optional
/// InclusiveNamespaces PrefixList.
fn c14n_method(e: Element<'_>, uri: &str, what: &str) -> Result<Method, Rejection> {
    let kids = structural_children(e, what)?;
    match uri {
        c14n::EXCLUSIVE => {
            let mut prefixes = None;
            match kids.as_slice() {
                [] => {}
                [inc] if inc.is(c14n::EXCLUSIVE, "InclusiveNamespaces") => {
                    if inc.has_element_children() {
                        return bad("InclusiveNamespaces has child elements");
                    }
                    prefixes = inc.attr("PrefixList");
                }
                _ => return bad(format!("unexpected content in {what}")),
            }
            Ok(Method::exclusive(prefixes))
        }
        c14n::INCLUSIVE => {
            if !kids.is_empty() {
                return bad(format!("unexpected content in {what}"));
            }
            Ok(Method::Inclusive)
        }
        c14n::EXCLUSIVE_WITH_COMMENTS | c14n::INCLUSIVE_WITH_COMMENTS => unsupported_alg(format!(
            "{what} '{}' (canonicalization with comments) is not accepted",
            excerpt(uri)
        )),
        other => unsupported_alg(format!(
            "{what} '{}' is not a supported canonicalization",
            excerpt(other)
        )),
    }
}

/// What a verified signature covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub signature: SigAlg,
    pub digest: DigestAlg,
}

/// Verifies `sig`, a direct child of `parent`, over `parent`. `path` runs
/// from the document root to `parent` (both included). Each canonical form
/// computed is bounded by `limits`. `allowed` answers whether an algorithm
/// name (`rsa-sha256`, `sha256`, ...) is in the provider's allow-list; the
/// signature check asks nothing else of the provider.
pub fn verify<'d>(
    path: &[Element<'d>],
    sig: Element<'d>,
    allowed: &dyn Fn(&str) -> bool,
    keys: &[TrustedKey],
    limits: &c14n::Limits,
) -> Result<Verified, Rejection> {
    let Some(parent) = path.last().copied() else {
        return bad("empty element path");
    };
    if sig.parent() != Some(parent) {
        return bad("the Signature is not a child of the element it signs");
    }
    if !sig.is(DSIG_NS, "Signature") {
        return bad("not a ds:Signature");
    }

    // Signature ::= SignedInfo SignatureValue KeyInfo? ; ds:Object is refused
    // (it is where wrapping attacks hide content).
    let kids = structural_children(sig, "Signature")?;
    let signed_info = expect_dsig(kids.first(), "SignedInfo")?;
    let sig_value = expect_dsig(kids.get(1), "SignatureValue")?;
    match kids.get(2..) {
        None | Some([]) => {}
        Some([k]) if k.is(DSIG_NS, "KeyInfo") => {}
        Some(_) => {
            return bad(
                "ds:Signature holds elements other than SignedInfo, SignatureValue, KeyInfo",
            )
        }
    }

    // SignedInfo ::= CanonicalizationMethod SignatureMethod Reference (one).
    let si = structural_children(signed_info, "SignedInfo")?;
    if si.len() != 3 {
        return bad(format!(
            "SignedInfo must hold CanonicalizationMethod, SignatureMethod and exactly one Reference ({} elements found)",
            si.len()
        ));
    }
    let c14n_el = expect_dsig(si.first(), "CanonicalizationMethod")?;
    let sm_el = expect_dsig(si.get(1), "SignatureMethod")?;
    let reference = expect_dsig(si.get(2), "Reference")?;

    let si_method = c14n_method(
        c14n_el,
        algorithm(c14n_el, "CanonicalizationMethod")?,
        "CanonicalizationMethod",
    )?;
    if !structural_children(sm_el, "SignatureMethod")?.is_empty() {
        return bad("SignatureMethod has child elements");
    }
    let sm_uri = algorithm(sm_el, "SignatureMethod")?;
    let Some(sig_alg) = SigAlg::from_uri(sm_uri) else {
        return unsupported_alg(format!(
            "signature method '{}' is not supported",
            excerpt(sm_uri)
        ));
    };
    if !allowed(sig_alg.name()) {
        return unsupported_alg(format!(
            "signature algorithm {} is not in the provider's algorithms",
            sig_alg.name()
        ));
    }

    // Reference: URI "#<ID of parent>".
    let Some(parent_id) = parent.attr("ID") else {
        return bad("the signed element has no ID");
    };
    let uri = reference.attr("URI").unwrap_or("");
    if uri.strip_prefix('#') != Some(parent_id) {
        return bad(format!(
            "Reference URI '{}' does not point at the Signature's parent",
            excerpt(uri)
        ));
    }
    let rk = structural_children(reference, "Reference")?;
    let (transforms, rest) = match rk.split_first() {
        Some((t, rest)) if t.is(DSIG_NS, "Transforms") => (Some(*t), rest),
        _ => (None, rk.as_slice()),
    };
    let [dm_el, dv_el] = rest else {
        return bad("Reference must hold Transforms?, DigestMethod, DigestValue");
    };
    let dm_el = expect_dsig(Some(dm_el), "DigestMethod")?;
    let dv_el = expect_dsig(Some(dv_el), "DigestValue")?;

    // Transforms: enveloped-signature, then at most one canonicalization.
    let Some(transforms) = transforms else {
        return unsupported_alg("Reference has no enveloped-signature transform");
    };
    let tlist = structural_children(transforms, "Transforms")?;
    let mut ref_method = Method::Inclusive; // the default node-set to octets conversion
    match tlist.as_slice() {
        [env] | [env, _] => {
            let env = expect_dsig(Some(env), "Transform")?;
            let a = algorithm(env, "Transform")?;
            if a != ENVELOPED {
                return unsupported_alg(format!(
                    "transform '{}' is not allowed first (enveloped-signature expected)",
                    excerpt(a)
                ));
            }
            if !structural_children(env, "Transform")?.is_empty() {
                return bad("enveloped-signature transform has content");
            }
            if let Some(t) = tlist.get(1) {
                let t = expect_dsig(Some(t), "Transform")?;
                ref_method = c14n_method(t, algorithm(t, "Transform")?, "Transform")?;
            }
        }
        _ => {
            return unsupported_alg(
                "Reference transforms must be enveloped-signature and at most one canonicalization",
            )
        }
    }

    if !structural_children(dm_el, "DigestMethod")?.is_empty() {
        return bad("DigestMethod has child elements");
    }
    let dm_uri = algorithm(dm_el, "DigestMethod")?;
    let Some(digest_alg) = DigestAlg::from_uri(dm_uri) else {
        return unsupported_alg(format!(
            "digest method '{}' is not supported",
            excerpt(dm_uri)
        ));
    };
    if !allowed(digest_alg.name()) {
        return unsupported_alg(format!(
            "digest algorithm {} is not in the provider's algorithms",
            digest_alg.name()
        ));
    }
    let expected = decode_b64(&leaf_text(dv_el, "DigestValue")?, "DigestValue")?;

    // The key-bound check first: SignatureValue over canonical SignedInfo.
    // A forger without the key stops here, before the Reference's canonical
    // form (the expensive, input-sized part) is computed at all. Anyone
    // holding one genuine SignedInfo can still reach that part, which is why
    // it has its own budget.
    let sig_bytes = decode_b64(&leaf_text(sig_value, "SignatureValue")?, "SignatureValue")?;
    let mut si_path: Vec<Element<'d>> = path.to_vec();
    si_path.push(sig);
    si_path.push(signed_info);
    let si_octets = c14n::canonicalize(&si_path, None, &si_method, limits)
        .or_else(|e| over_budget("SignedInfo", e))?;
    verify_signature_value(sig_alg, keys, &si_octets, &sig_bytes)?;

    // Digest of the parent with this Signature removed, hashed as it is
    // canonicalized.
    let actual = c14n::digest(path, Some(sig), &ref_method, digest_alg.ring(), limits)
        .or_else(|e| over_budget("the signed element", e))?;
    if actual.as_ref() != expected.as_slice() {
        return bad("digest of the signed element does not match DigestValue");
    }
    Ok(Verified {
        signature: sig_alg,
        digest: digest_alg,
    })
}

fn over_budget<T>(what: &str, e: c14n::Exceeded) -> Result<T, Rejection> {
    reject(
        Reason::Malformed,
        format!(
            "canonical form of {what} exceeds its limit of {} bytes (canonical_limit_factor × document size + {} bytes)",
            e.limit,
            c14n::SLACK_BYTES
        ),
    )
}

/// Whether `sig_bytes` is a signature of `signed` by one of `keys`.
fn verify_signature_value(
    sig_alg: SigAlg,
    keys: &[TrustedKey],
    signed: &[u8],
    sig_bytes: &[u8],
) -> Result<(), Rejection> {
    let mut tried = false;
    for key in keys {
        let Some((alg, public)) = ring_params(sig_alg, key) else {
            continue;
        };
        tried = true;
        if UnparsedPublicKey::new(alg, public)
            .verify(signed, sig_bytes)
            .is_ok()
        {
            return Ok(());
        }
    }
    if !tried {
        return bad(format!(
            "no configured certificate holds a key usable with {}",
            sig_alg.name()
        ));
    }
    bad("SignatureValue does not verify with any configured certificate")
}

/// The ring algorithm for a signature method and key, or `None` when the key
/// cannot be used with it (wrong type, or an RSA size ring refuses for that hash).
fn ring_params(
    alg: SigAlg,
    key: &TrustedKey,
) -> Option<(&'static dyn VerificationAlgorithm, &[u8])> {
    match (alg, key) {
        (SigAlg::Rsa(d), TrustedKey::Rsa { pkcs1, bits }) => {
            let legacy = *bits < 2048;
            let a: &'static dyn VerificationAlgorithm = match (d, legacy) {
                (DigestAlg::Sha1, _) => &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
                (DigestAlg::Sha256, true) => {
                    &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
                }
                (DigestAlg::Sha256, false) => &signature::RSA_PKCS1_2048_8192_SHA256,
                (DigestAlg::Sha384, true) => return None,
                (DigestAlg::Sha384, false) => &signature::RSA_PKCS1_2048_8192_SHA384,
                (DigestAlg::Sha512, true) => {
                    &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
                }
                (DigestAlg::Sha512, false) => &signature::RSA_PKCS1_2048_8192_SHA512,
            };
            Some((a, pkcs1.as_slice()))
        }
        (SigAlg::Ecdsa(d), TrustedKey::Ec { curve, point }) => {
            let a: &'static dyn VerificationAlgorithm = match (curve, d) {
                (Curve::P256, DigestAlg::Sha256) => &signature::ECDSA_P256_SHA256_FIXED,
                (Curve::P384, DigestAlg::Sha384) => &signature::ECDSA_P384_SHA384_FIXED,
                _ => return None,
            };
            Some((a, point.as_slice()))
        }
        _ => None,
    }
}
