//! Where the extension may fetch keys from, decided before any connection.
//!
//! `jit.refresh` downloads discovery documents, JWKS and SAML metadata from
//! inside a database backend. Every URL it is given, and every redirect it
//! meets, goes through [`check_url`] / [`check_redirect`] first: HTTPS only,
//! plain HTTP only to a loopback address, no credentials in the URL, and no
//! way back from HTTPS to HTTP. The parser is deliberately narrower than the
//! WHATWG URL standard: anything two parsers could read differently
//! (backslashes, `user@`, non-ASCII, percent-encoded or numeric-looking host
//! names such as `127.1` or `0x7f.0.0.1`) is refused rather than guessed at,
//! so the host this module approves is the host the connection goes to.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// Redirects followed for one fetch; the next one is an error.
pub const MAX_REDIRECTS: usize = 3;
/// Largest response body accepted (1 MiB); larger ones are refused while
/// reading, never buffered whole.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Time allowed to establish one TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for a whole fetch: connections, TLS, every read, every
/// redirect.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest URL accepted. Discovery and metadata URLs are short; this only
/// bounds the work and the size of error messages.
pub const MAX_URL_BYTES: usize = 2048;

/// Where one request goes. `host` is lower-case; an IPv6 literal is kept
/// without its brackets (`::1`), as the resolver and TLS want it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path and query as sent in the request line; never empty (at least
    /// `/`), never with a fragment.
    pub path_and_query: String,
}

impl Target {
    /// The value of the `Host` header: brackets around an IPv6 literal, the
    /// port only when it is not the scheme's default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default_port(self.tls) {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// True when the host is a loopback address or `localhost`.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.host)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "{scheme}://{host}:{}{}", self.port, self.path_and_query)
    }
}

/// Why a URL or a redirect is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    Empty,
    TooLong,
    /// Whitespace, a control character, a backslash or a non-ASCII byte.
    InvalidCharacter(char),
    MissingScheme,
    UnsupportedScheme(String),
    /// `http://` to a host that is not a loopback address.
    PlainHttpNotLoopback(String),
    UserInfo,
    EmptyHost,
    InvalidHost(String),
    /// A host name that ends in a number but is not a dotted-quad IPv4
    /// address (`127.1`, `0x7f000001`, `010.0.0.1`): resolvers disagree on it.
    AmbiguousNumericHost(String),
    InvalidPort(String),
    InvalidPath(String),
    /// A `Location` that is neither absolute nor an absolute path.
    RelativeLocation(String),
    /// A `Location` starting with `//`.
    SchemeRelativeLocation(String),
    HttpsToHttp(String),
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Empty => write!(f, "URL is empty"),
            PolicyError::TooLong => write!(f, "URL is longer than {MAX_URL_BYTES} bytes"),
            PolicyError::InvalidCharacter(c) => write!(
                f,
                "URL contains {c:?}: whitespace, control characters, backslashes and non-ASCII characters must be percent-encoded"
            ),
            PolicyError::MissingScheme => write!(f, "URL must start with https://"),
            PolicyError::UnsupportedScheme(s) => {
                write!(f, "URL scheme {s:?} is not allowed: only https (or http to a loopback address)")
            }
            PolicyError::PlainHttpNotLoopback(h) => write!(
                f,
                "plain http is allowed only to a loopback address (127.0.0.0/8, [::1], localhost), not to {h:?}: use https"
            ),
            PolicyError::UserInfo => write!(f, "URL must not contain a user name or password (user@host)"),
            PolicyError::EmptyHost => write!(f, "URL has no host"),
            PolicyError::InvalidHost(h) => write!(f, "URL host {h:?} is not a valid host name or IP address"),
            PolicyError::AmbiguousNumericHost(h) => write!(
                f,
                "URL host {h:?} looks numeric but is not a dotted-quad IPv4 address"
            ),
            PolicyError::InvalidPort(p) => write!(f, "URL port {p:?} is not a number from 1 to 65535"),
            PolicyError::InvalidPath(p) => write!(f, "URL path {p:?} is not valid"),
            PolicyError::RelativeLocation(l) => write!(
                f,
                "redirect Location {l:?} is relative: only absolute URLs and absolute paths are followed"
            ),
            PolicyError::SchemeRelativeLocation(l) => write!(
                f,
                "redirect Location {l:?} is scheme-relative (//host): only absolute URLs and absolute paths are followed"
            ),
            PolicyError::HttpsToHttp(l) => write!(f, "redirect from https to plain http refused: {l:?}"),
        }
    }
}

impl std::error::Error for PolicyError {}

/// Parses `url` and applies the policy: `https://`, or `http://` to a
/// loopback host; no user info; an optional explicit port.
pub fn check_url(url: &str) -> Result<Target, PolicyError> {
    check_characters(url)?;
    let (scheme, rest) = url.split_once("://").ok_or(PolicyError::MissingScheme)?;
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "https" => true,
        "http" => false,
        "" => return Err(PolicyError::MissingScheme),
        _ => return Err(PolicyError::UnsupportedScheme(scheme.to_string())),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err(PolicyError::UserInfo);
    }
    let (host, port) = split_host_port(authority, tls)?;
    let target = Target {
        tls,
        host,
        port,
        path_and_query: path_and_query(tail)?,
    };
    if !target.tls && !target.is_loopback() {
        return Err(PolicyError::PlainHttpNotLoopback(target.host));
    }
    Ok(target)
}

/// Resolves the `Location` of a redirect received from `from` and applies
/// the same policy to it; in addition an HTTPS request may not be sent on
/// to plain HTTP, even to a loopback address.
pub fn check_redirect(from: &Target, location: &str) -> Result<Target, PolicyError> {
    let location = location.trim_matches([' ', '\t']);
    if location.is_empty() {
        return Err(PolicyError::Empty);
    }
    if location.starts_with("//") {
        return Err(PolicyError::SchemeRelativeLocation(location.to_string()));
    }
    let next = if location.starts_with('/') {
        check_characters(location)?;
        Target {
            path_and_query: path_and_query(location)?,
            ..from.clone()
        }
    } else if has_scheme(location) {
        check_url(location).map_err(|e| match e {
            // Say "https to http" rather than "not loopback" when both apply:
            // the downgrade is the more basic objection.
            PolicyError::PlainHttpNotLoopback(_) if from.tls => {
                PolicyError::HttpsToHttp(location.to_string())
            }
            other => other,
        })?
    } else {
        return Err(PolicyError::RelativeLocation(location.to_string()));
    };
    if from.tls && !next.tls {
        return Err(PolicyError::HttpsToHttp(location.to_string()));
    }
    Ok(next)
}

fn default_port(tls: bool) -> u16 {
    if tls {
        443
    } else {
        80
    }
}

/// `scheme:` per RFC 3986: a letter, then letters, digits, `+`, `-`, `.`.
fn has_scheme(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn check_characters(url: &str) -> Result<(), PolicyError> {
    if url.is_empty() {
        return Err(PolicyError::Empty);
    }
    if url.len() > MAX_URL_BYTES {
        return Err(PolicyError::TooLong);
    }
    match url.chars().find(|c| !c.is_ascii_graphic() || *c == '\\') {
        Some(c) => Err(PolicyError::InvalidCharacter(c)),
        None => Ok(()),
    }
}

fn split_host_port(authority: &str, tls: bool) -> Result<(String, u16), PolicyError> {
    if authority.is_empty() {
        return Err(PolicyError::EmptyHost);
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (literal, after) = rest
            .split_once(']')
            .ok_or_else(|| PolicyError::InvalidHost(authority.to_string()))?;
        let addr: Ipv6Addr = literal
            .parse()
            .map_err(|_| PolicyError::InvalidHost(authority.to_string()))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| PolicyError::InvalidHost(authority.to_string()))?,
            ),
        };
        (addr.to_string(), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        (check_host_name(host)?, port)
    };
    let port = match port {
        None => default_port(tls),
        Some(p) => parse_port(p)?,
    };
    Ok((host, port))
}

fn parse_port(p: &str) -> Result<u16, PolicyError> {
    let bad = || PolicyError::InvalidPort(p.to_string());
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad()),
        Ok(n) => Ok(n),
    }
}

/// A DNS name (letters, digits, `-`, `_`, dots between non-empty labels) or
/// a dotted-quad IPv4 address, lower-cased.
fn check_host_name(host: &str) -> Result<String, PolicyError> {
    if host.is_empty() {
        return Err(PolicyError::EmptyHost);
    }
    let bad = || PolicyError::InvalidHost(host.to_string());
    if host.len() > 253 {
        return Err(bad());
    }
    let host = host.to_ascii_lowercase();
    for label in host.split('.') {
        if label.is_empty()
            || label.len() > 63
            || label.starts_with('-')
            || label.ends_with('-')
            || !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad());
        }
    }
    // The WHATWG "ends in a number" rule: such a host is an IPv4 address to
    // a browser and to getaddrinfo (which reads `127.1` and `0x7f.1` too).
    // Accept only the one unambiguous spelling.
    let last = host.rsplit('.').next().unwrap_or("");
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || (last.starts_with("0x") && last.bytes().skip(2).all(|b| b.is_ascii_hexdigit()));
    if numeric {
        let addr: Ipv4Addr = host
            .parse()
            .map_err(|_| PolicyError::AmbiguousNumericHost(host.clone()))?;
        // Ipv4Addr refuses leading zeros, so the text round-trips.
        if addr.to_string() != host {
            return Err(PolicyError::AmbiguousNumericHost(host));
        }
    }
    Ok(host)
}

fn is_loopback_host(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    if let Ok(v4) = host.parse::<Ipv4Addr>() {
        return v4.is_loopback();
    }
    if let Ok(v6) = host.parse::<Ipv6Addr>() {
        return v6.is_loopback();
    }
    false
}

/// The request target from whatever follows the authority: the fragment is
/// dropped, an empty path becomes `/`.
fn path_and_query(tail: &str) -> Result<String, PolicyError> {
    let without_fragment = tail.split('#').next().unwrap_or("");
    let pq = if without_fragment.starts_with('?') || without_fragment.is_empty() {
        format!("/{without_fragment}")
    } else {
        without_fragment.to_string()
    };
    if !pq.starts_with('/') {
        return Err(PolicyError::InvalidPath(tail.to_string()));
    }
    Ok(pq)
}
