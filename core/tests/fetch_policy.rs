//! The fetch policy on its own: every rule is decided from the URL text, so
//! none of these tests opens a socket or resolves a name.

use std::time::Duration;

use jit_provision_core::fetch_policy::{
    check_redirect, check_url, PolicyError, Target, CONNECT_TIMEOUT, MAX_BODY_BYTES, MAX_REDIRECTS,
    MAX_URL_BYTES, TOTAL_TIMEOUT,
};

fn target(tls: bool, host: &str, port: u16, pq: &str) -> Target {
    Target {
        tls,
        host: host.to_string(),
        port,
        path_and_query: pq.to_string(),
    }
}

fn refused(url: &str) -> PolicyError {
    match check_url(url) {
        Ok(t) => panic!("{url} accepted as {t:?}"),
        Err(e) => e,
    }
}

#[test]
fn limits_are_the_contract() {
    assert_eq!(MAX_REDIRECTS, 3);
    assert_eq!(MAX_BODY_BYTES, 1024 * 1024);
    assert_eq!(CONNECT_TIMEOUT, Duration::from_secs(5));
    assert_eq!(TOTAL_TIMEOUT, Duration::from_secs(15));
}

// --- schemes ---------------------------------------------------------------

#[test]
fn https_anywhere() {
    assert_eq!(
        check_url("https://login.example.com/.well-known/openid-configuration"),
        Ok(target(
            true,
            "login.example.com",
            443,
            "/.well-known/openid-configuration"
        ))
    );
    assert_eq!(
        check_url("https://192.0.2.1/keys"),
        Ok(target(true, "192.0.2.1", 443, "/keys"))
    );
    assert_eq!(
        check_url("https://[2001:db8::1]/keys"),
        Ok(target(true, "2001:db8::1", 443, "/keys"))
    );
}

#[test]
fn scheme_is_case_insensitive_and_host_lowercased() {
    assert_eq!(
        check_url("HTTPS://Login.Example.COM/Path"),
        Ok(target(true, "login.example.com", 443, "/Path"))
    );
}

#[test]
fn plain_http_only_to_loopback() {
    assert_eq!(
        check_url("http://127.0.0.1/x"),
        Ok(target(false, "127.0.0.1", 80, "/x"))
    );
    assert_eq!(
        check_url("http://127.255.3.4:8080/x"),
        Ok(target(false, "127.255.3.4", 8080, "/x"))
    );
    assert_eq!(
        check_url("http://[::1]:9/x"),
        Ok(target(false, "::1", 9, "/x"))
    );
    assert_eq!(
        check_url("http://localhost/x"),
        Ok(target(false, "localhost", 80, "/x"))
    );
    assert_eq!(
        check_url("HTTP://LOCALHOST/x"),
        Ok(target(false, "localhost", 80, "/x"))
    );

    for url in [
        "http://192.0.2.1/",
        "http://10.0.0.1/",
        "http://128.0.0.1/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[2001:db8::1]/",
        "http://example.com/",
        "http://localhost.example.com/",
        "http://sub.localhost/",
        "http://127.0.0.1.nip.io/",
    ] {
        assert!(
            matches!(refused(url), PolicyError::PlainHttpNotLoopback(_)),
            "{url}"
        );
    }
    let msg = refused("http://192.0.2.1/").to_string();
    assert!(
        msg.contains("plain http") && msg.contains("loopback"),
        "{msg}"
    );
}

#[test]
fn other_schemes_refused() {
    for url in [
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://127.0.0.1/",
        "ws://127.0.0.1/",
        "httpss://example.com/",
    ] {
        assert!(
            matches!(refused(url), PolicyError::UnsupportedScheme(_)),
            "{url}: {:?}",
            check_url(url)
        );
    }
    for url in [
        "example.com/keys",
        "//example.com/keys",
        "https:/example.com",
        "://x/",
    ] {
        assert!(matches!(refused(url), PolicyError::MissingScheme), "{url}");
    }
    assert!(refused("ftp://x/").to_string().contains("only https"));
}

// --- authority -------------------------------------------------------------

#[test]
fn user_info_refused() {
    for url in [
        "https://user@example.com/",
        "https://user:pw@example.com/",
        "https://@example.com/",
        "https://example.com@evil.example/",
        "http://evil.example@127.0.0.1/",
    ] {
        assert_eq!(refused(url), PolicyError::UserInfo, "{url}");
    }
    assert!(refused("https://u@h/").to_string().contains("user name"));
}

#[test]
fn at_sign_in_path_is_not_user_info() {
    assert_eq!(
        check_url("https://example.com/a@b?c=d@e"),
        Ok(target(true, "example.com", 443, "/a@b?c=d@e"))
    );
}

#[test]
fn explicit_ports() {
    assert_eq!(
        check_url("https://example.com:8443/"),
        Ok(target(true, "example.com", 8443, "/"))
    );
    assert_eq!(
        check_url("https://example.com:443/"),
        Ok(target(true, "example.com", 443, "/"))
    );
    assert_eq!(
        check_url("http://127.0.0.1:65535/"),
        Ok(target(false, "127.0.0.1", 65535, "/"))
    );
    assert_eq!(
        check_url("https://[::1]:1/"),
        Ok(target(true, "::1", 1, "/"))
    );
    for url in [
        "https://example.com:/",
        "https://example.com:0/",
        "https://example.com:65536/",
        "https://example.com:000443/",
        "https://example.com:-1/",
        "https://example.com:+443/",
        "https://example.com:44a/",
        "https://example.com:443:443/",
        "https://[::1]:/",
        "https://[::1]x/",
    ] {
        assert!(
            matches!(
                refused(url),
                PolicyError::InvalidPort(_) | PolicyError::InvalidHost(_)
            ),
            "{url}: {:?}",
            check_url(url)
        );
    }
}

#[test]
fn host_names_are_strict() {
    for url in ["https:///keys", "https://:443/", "https://?x", "https://#f"] {
        assert_eq!(refused(url), PolicyError::EmptyHost, "{url}");
    }
    for url in [
        "https://exa%6dple.com/",
        "https://exa$mple.com/",
        "https://example..com/",
        "https://.example.com/",
        "https://example.com./",
        "https://-example.com/",
        "https://example-.com/",
        "https://[::1/",
        "https://[not-an-address]/",
        "https://[fe80::1%25eth0]/",
        "https://[127.0.0.1]/",
    ] {
        assert!(
            matches!(refused(url), PolicyError::InvalidHost(_)),
            "{url}: {:?}",
            check_url(url)
        );
    }
    let long_label = format!("https://{}.com/", "a".repeat(64));
    assert!(matches!(refused(&long_label), PolicyError::InvalidHost(_)));
}

#[test]
fn numeric_hosts_must_be_dotted_quads() {
    // Each of these is 127.0.0.1 (or an address) to getaddrinfo or a browser,
    // and something else to a naive parser: refuse rather than guess.
    for url in [
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0x7f.0.0.1/",
        "http://0177.0.0.1/",
        "http://127.000.000.001/",
        "https://1.2.3.4.5/",
        "https://256.1.1.1/",
        "https://example.123/",
    ] {
        assert!(
            matches!(refused(url), PolicyError::AmbiguousNumericHost(_)),
            "{url}: {:?}",
            check_url(url)
        );
    }
    // Digits elsewhere are ordinary names.
    assert!(check_url("https://123.example.com/").is_ok());
    assert!(check_url("https://0x7f.example/").is_ok());
    assert!(check_url("https://a1/").is_ok());
}

// --- characters, path ------------------------------------------------------

#[test]
fn unencoded_characters_refused() {
    for url in [
        "https://example.com/a b",
        " https://example.com/",
        "https://example.com/\n",
        "https://example.com/\r\nX-Injected: 1",
        "https://example.com/\u{7f}",
        "https://example.com\\@evil.example/",
        "https://example.com/\\x",
        "https://exämple.com/",
        "https://example.com/ä",
        "https://example.com/\0",
    ] {
        assert!(
            matches!(refused(url), PolicyError::InvalidCharacter(_)),
            "{url:?}: {:?}",
            check_url(url)
        );
    }
}

#[test]
fn empty_and_oversized() {
    assert_eq!(refused(""), PolicyError::Empty);
    let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
    assert_eq!(refused(&long), PolicyError::TooLong);
    let just_fits = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES - 20));
    assert!(check_url(&just_fits).is_ok());
}

#[test]
fn path_query_and_fragment() {
    assert_eq!(
        check_url("https://example.com"),
        Ok(target(true, "example.com", 443, "/"))
    );
    assert_eq!(
        check_url("https://example.com?a=1"),
        Ok(target(true, "example.com", 443, "/?a=1"))
    );
    assert_eq!(
        check_url("https://example.com/p?q=%20x#frag"),
        Ok(target(true, "example.com", 443, "/p?q=%20x"))
    );
    assert_eq!(
        check_url("https://example.com#frag"),
        Ok(target(true, "example.com", 443, "/"))
    );
    assert_eq!(
        check_url("https://example.com:8443?x"),
        Ok(target(true, "example.com", 8443, "/?x"))
    );
}

#[test]
fn host_header_and_display() {
    let t = check_url("https://example.com/k").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.host_header(), "example.com");
    assert_eq!(t.to_string(), "https://example.com:443/k");
    let t = check_url("https://example.com:8443/k").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.host_header(), "example.com:8443");
    let t = check_url("http://[::1]:8080/k").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.host_header(), "[::1]:8080");
    assert_eq!(t.to_string(), "http://[::1]:8080/k");
    let t = check_url("http://[::1]/").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.host_header(), "[::1]");
}

// --- redirects -------------------------------------------------------------

fn https_from() -> Target {
    target(
        true,
        "idp.example.com",
        8443,
        "/.well-known/openid-configuration",
    )
}

fn http_from() -> Target {
    target(false, "127.0.0.1", 8080, "/start")
}

#[test]
fn redirect_to_absolute_path_keeps_origin() {
    assert_eq!(
        check_redirect(&https_from(), "/keys?v=2#x"),
        Ok(target(true, "idp.example.com", 8443, "/keys?v=2"))
    );
    assert_eq!(
        check_redirect(&http_from(), "/next"),
        Ok(target(false, "127.0.0.1", 8080, "/next"))
    );
    assert_eq!(
        check_redirect(&https_from(), "  /padded\t"),
        Ok(target(true, "idp.example.com", 8443, "/padded"))
    );
}

#[test]
fn redirect_to_absolute_url_is_checked_like_a_url() {
    assert_eq!(
        check_redirect(&https_from(), "https://cdn.example.net/jwks.json"),
        Ok(target(true, "cdn.example.net", 443, "/jwks.json"))
    );
    assert_eq!(
        check_redirect(&http_from(), "https://cdn.example.net/jwks.json"),
        Ok(target(true, "cdn.example.net", 443, "/jwks.json"))
    );
    assert_eq!(
        check_redirect(&http_from(), "http://localhost:9/x"),
        Ok(target(false, "localhost", 9, "/x"))
    );
    assert_eq!(
        check_redirect(&https_from(), "https://u@cdn.example.net/"),
        Err(PolicyError::UserInfo)
    );
    assert!(matches!(
        check_redirect(&https_from(), "file:///etc/passwd"),
        Err(PolicyError::UnsupportedScheme(_))
    ));
    assert!(matches!(
        check_redirect(&http_from(), "http://192.0.2.1/"),
        Err(PolicyError::PlainHttpNotLoopback(_))
    ));
    assert!(matches!(
        check_redirect(&https_from(), "https://127.1/"),
        Err(PolicyError::AmbiguousNumericHost(_))
    ));
}

#[test]
fn never_from_https_to_http() {
    for loc in [
        "http://127.0.0.1/keys",
        "http://localhost:8080/keys",
        "http://[::1]/keys",
        "HTTP://127.0.0.1/keys",
        "http://192.0.2.1/keys",
    ] {
        assert!(
            matches!(
                check_redirect(&https_from(), loc),
                Err(PolicyError::HttpsToHttp(_))
            ),
            "{loc}: {:?}",
            check_redirect(&https_from(), loc)
        );
    }
    let msg = check_redirect(&https_from(), "http://127.0.0.1/")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.contains("https to plain http"), "{msg}");
}

#[test]
fn relative_and_scheme_relative_locations_refused() {
    for loc in ["keys", "../keys", "?page=2", "#top", "keys/x:1"] {
        let got = check_redirect(&https_from(), loc);
        assert!(
            matches!(got, Err(PolicyError::RelativeLocation(_))),
            "{loc}: {got:?}"
        );
    }
    for loc in ["//evil.example/keys", "//127.0.0.1/"] {
        assert!(matches!(
            check_redirect(&https_from(), loc),
            Err(PolicyError::SchemeRelativeLocation(_))
        ));
    }
    assert_eq!(check_redirect(&https_from(), ""), Err(PolicyError::Empty));
    assert_eq!(check_redirect(&https_from(), "  "), Err(PolicyError::Empty));
}

#[test]
fn redirect_location_characters_checked() {
    for loc in ["/a b", "/a\r\nSet-Cookie: x", "/\\evil.example", "/ä"] {
        assert!(
            matches!(
                check_redirect(&https_from(), loc),
                Err(PolicyError::InvalidCharacter(_))
            ),
            "{loc:?}"
        );
    }
}

#[test]
fn every_error_says_why() {
    let errors = [
        PolicyError::Empty,
        PolicyError::TooLong,
        PolicyError::InvalidCharacter(' '),
        PolicyError::MissingScheme,
        PolicyError::UnsupportedScheme("ftp".into()),
        PolicyError::PlainHttpNotLoopback("192.0.2.1".into()),
        PolicyError::UserInfo,
        PolicyError::EmptyHost,
        PolicyError::InvalidHost("a..b".into()),
        PolicyError::AmbiguousNumericHost("127.1".into()),
        PolicyError::InvalidPort("0".into()),
        PolicyError::InvalidPath("x".into()),
        PolicyError::RelativeLocation("x".into()),
        PolicyError::SchemeRelativeLocation("//x".into()),
        PolicyError::HttpsToHttp("http://x".into()),
    ];
    let mut seen = std::collections::HashSet::new();
    for e in errors {
        let msg = e.to_string();
        assert!(msg.len() > 10, "{e:?}: {msg}");
        assert!(seen.insert(msg), "two errors share a message");
    }
}
