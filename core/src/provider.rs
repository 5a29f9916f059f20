//! A provider row, validated and with its keys parsed once.

use std::sync::LazyLock;

use crate::error::ConfigError;
use crate::keys::jwks::{Algorithm, KeySet};
use crate::mapping::ClaimMap;
use crate::saml::dsig::{DigestAlg, SigAlg};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Oidc,
    Saml,
}

impl Protocol {
    pub fn parse(s: &str) -> Result<Protocol, ConfigError> {
        match s {
            "oidc" => Ok(Protocol::Oidc),
            "saml" => Ok(Protocol::Saml),
            other => Err(ConfigError(format!(
                "protocol must be 'oidc' or 'saml', not '{other}'"
            ))),
        }
    }
}

/// Which element a SAML signature must cover (`jit.providers.saml_signed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamlSigned {
    Response,
    Assertion,
    Either,
    Both,
}

impl SamlSigned {
    pub fn parse(s: &str) -> Result<SamlSigned, ConfigError> {
        match s {
            "response" => Ok(SamlSigned::Response),
            "assertion" => Ok(SamlSigned::Assertion),
            "either" => Ok(SamlSigned::Either),
            "both" => Ok(SamlSigned::Both),
            other => Err(ConfigError(format!(
                "saml_signed must be one of response, assertion, either, both; not '{other}'"
            ))),
        }
    }
}

// Every algorithm name is spelled once, by `Algorithm::name`,
// `SigAlg::name` and `DigestAlg::name`; these lists are built from them.

/// JWS `alg` values this verifier implements ([`Algorithm::ALL`]).
pub static JWS_ALGORITHMS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| Algorithm::ALL.iter().map(|a| a.name()).collect());
/// SAML signature and digest names this verifier implements
/// ([`SigAlg::IMPLEMENTED`], then [`DigestAlg::ALL`]).
pub static SAML_ALGORITHMS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    saml_names(
        SigAlg::IMPLEMENTED.iter().copied(),
        DigestAlg::ALL.iter().copied(),
    )
    .collect()
});
/// Names accepted in `algorithms` but never implemented: listing them is not
/// an error (a DBA may copy an IdP's metadata), they just never verify.
pub const KNOWN_UNIMPLEMENTED: &[&str] = &["none", "HS256", "HS384", "HS512", "ES512"];

/// The default allow-list when `algorithms` is null: strong algorithms only,
/// that is every JWS algorithm and every SAML one not built on SHA-1.
pub static DEFAULT_ALGORITHMS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let strong = |d: &DigestAlg| *d != DigestAlg::Sha1;
    let sigs = SigAlg::IMPLEMENTED
        .iter()
        .copied()
        .filter(|s| strong(&s.digest()));
    let digests = DigestAlg::ALL.iter().copied().filter(strong);
    JWS_ALGORITHMS
        .iter()
        .copied()
        .chain(saml_names(sigs, digests))
        .collect()
});

fn saml_names(
    sigs: impl Iterator<Item = SigAlg>,
    digests: impl Iterator<Item = DigestAlg>,
) -> impl Iterator<Item = &'static str> {
    sigs.map(SigAlg::name).chain(digests.map(DigestAlg::name))
}

/// The columns of `jit.providers` that the verifier needs, as plain values.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub name: String,
    pub protocol: Protocol,
    pub issuer: String,
    pub audiences: Vec<String>,
    /// `None` means [`DEFAULT_ALGORITHMS`].
    pub algorithms: Option<Vec<String>>,
    pub acs_urls: Vec<String>,
    pub saml_signed: SamlSigned,
    /// Seconds of leeway on every time check.
    pub clock_skew: i64,
    /// Seconds; reject when `iat` / IssueInstant is older.
    pub max_age: Option<i64>,
    /// Lower-cased allowed email domains; `None` admits any.
    pub email_domains: Option<Vec<String>>,
    pub enabled: bool,
}

/// A provider ready to verify tokens: settings checked, keys parsed.
#[derive(Debug)]
pub struct Provider {
    pub settings: ProviderSettings,
    pub claim_map: ClaimMap,
    /// OIDC signing keys (empty for SAML providers).
    pub jwks: KeySet,
    /// SAML trusted certificates as PEM text, as configured.
    pub certificates: Vec<String>,
    /// SAML signing keys parsed from `certificates` (empty for OIDC providers).
    pub saml_keys: Vec<crate::keys::x509::TrustedKey>,
    algorithms: Vec<String>,
}

impl Provider {
    /// Validates a provider row. Every configuration mistake is reported here,
    /// when the row is written, never at the first login.
    pub fn new(
        settings: ProviderSettings,
        jwks_json: Option<&str>,
        certificates: Vec<String>,
        claim_map: &[(String, String)],
    ) -> Result<Provider, ConfigError> {
        Provider::build(settings, jwks_json, certificates, claim_map, true)
    }

    /// As [`Provider::new`] for a row whose keys come from `jit.refresh`
    /// (a `discovery_url` or `metadata_url` is set): it may have none yet,
    /// and until its first refresh every token is `bad_signature`. Keys that
    /// are present are checked as strictly as by `new`.
    pub fn awaiting_refresh(
        settings: ProviderSettings,
        jwks_json: Option<&str>,
        certificates: Vec<String>,
        claim_map: &[(String, String)],
    ) -> Result<Provider, ConfigError> {
        Provider::build(settings, jwks_json, certificates, claim_map, false)
    }

    fn build(
        settings: ProviderSettings,
        jwks_json: Option<&str>,
        certificates: Vec<String>,
        claim_map: &[(String, String)],
        keys_required: bool,
    ) -> Result<Provider, ConfigError> {
        if settings.issuer.is_empty() {
            return Err(ConfigError("issuer must not be empty".into()));
        }
        if settings.audiences.is_empty() || settings.audiences.iter().any(|a| a.is_empty()) {
            return Err(ConfigError(
                "audiences must list at least one non-empty value".into(),
            ));
        }
        if settings.clock_skew < 0 {
            return Err(ConfigError("clock_skew must not be negative".into()));
        }
        let algorithms = match &settings.algorithms {
            None => DEFAULT_ALGORITHMS.iter().map(|s| s.to_string()).collect(),
            Some(list) => {
                for a in list {
                    let a = a.as_str();
                    if !JWS_ALGORITHMS.contains(&a)
                        && !SAML_ALGORITHMS.contains(&a)
                        && !KNOWN_UNIMPLEMENTED.contains(&a)
                    {
                        return Err(ConfigError(format!("unknown algorithm name '{a}'")));
                    }
                }
                list.clone()
            }
        };
        let claim_map = ClaimMap::new(claim_map)?;
        let mut saml_keys = Vec::new();
        let jwks = match settings.protocol {
            Protocol::Oidc => {
                let json = match jwks_json {
                    Some(json) => json,
                    None if !keys_required => r#"{"keys":[]}"#,
                    None => {
                        return Err(ConfigError(
                            "an oidc provider needs jwks ({\"keys\":[...]}) or a discovery_url"
                                .into(),
                        ))
                    }
                };
                let set = KeySet::parse(json)?;
                if set.is_empty() && (keys_required || jwks_json.is_some()) {
                    return Err(ConfigError(
                        "jwks holds no usable signing key (RSA >= 2048 bits, EC P-256/P-384, Ed25519)"
                            .into(),
                    ));
                }
                set
            }
            Protocol::Saml => {
                if settings.acs_urls.is_empty() {
                    return Err(ConfigError(
                        "a saml provider needs acs_urls (the SP's Assertion Consumer Service URLs)"
                            .into(),
                    ));
                }
                if certificates.is_empty() && keys_required {
                    return Err(ConfigError(
                        "a saml provider needs at least one PEM certificate, or a metadata_url"
                            .into(),
                    ));
                }
                for (i, pem) in certificates.iter().enumerate() {
                    let keys = crate::keys::x509::parse_pem_keys(pem)
                        .map_err(|e| ConfigError(format!("certificates[{}]: {}", i + 1, e.0)))?;
                    saml_keys.extend(keys);
                }
                KeySet::default()
            }
        };
        Ok(Provider {
            settings,
            claim_map,
            jwks,
            certificates,
            saml_keys,
            algorithms,
        })
    }

    /// Whether the allow-list names this algorithm (`RS256`, `rsa-sha256`, `sha256`, ...).
    pub fn allows(&self, alg: &str) -> bool {
        self.algorithms.iter().any(|a| a == alg)
    }

    /// Email-domain admission: the mapped email's domain (after the last `@`)
    /// must be listed, compared case-insensitively. No email, no admission.
    pub fn admits_email(&self, email: Option<&str>) -> bool {
        let Some(domains) = &self.settings.email_domains else {
            return true;
        };
        let Some(email) = email else {
            return false;
        };
        match email.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
                let domain = domain.to_ascii_lowercase();
                domains.iter().any(|d| d.eq_ignore_ascii_case(&domain))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod algorithm_list_tests {
    use super::*;

    #[test]
    fn lists_are_built_from_the_enums() {
        assert_eq!(JWS_ALGORITHMS.len(), 9);
        assert_eq!(SAML_ALGORITHMS.len(), 10);
        assert_eq!(DEFAULT_ALGORITHMS.len(), 17);
        for a in DEFAULT_ALGORITHMS.iter() {
            assert!(JWS_ALGORITHMS.contains(a) || SAML_ALGORITHMS.contains(a));
            assert!(!a.ends_with("sha1"), "{a}");
            assert!(!KNOWN_UNIMPLEMENTED.contains(a));
        }
        let mut all: Vec<&str> = JWS_ALGORITHMS.clone();
        all.extend(SAML_ALGORITHMS.iter());
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 19);
    }
}
