//! Verifies one token over and over, for profilers (`perf record`) and quick
//! before/after comparisons of the verifier alone, without a database.
//!
//! ```text
//! cargo run --release -p jit_provision_core --example verify_loop -- \
//!     saml TOKEN_FILE CERT_PEM ISSUER AUDIENCE ACS_URL UNIX_TIME [ITERATIONS]
//! ```
//!
//! Prints the mean time of parse + verify and of each phase.

use std::time::{Duration, Instant};

use jit_provision_core::provider::{Protocol, Provider, ProviderSettings, SamlSigned};
use jit_provision_core::token::{self, Context};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, token_file, cert_file, issuer, audience, acs, now, rest @ ..] = args.as_slice()
    else {
        eprintln!("usage: verify_loop saml TOKEN_FILE CERT_PEM ISSUER AUDIENCE ACS_URL UNIX_TIME [ITERATIONS]");
        std::process::exit(2);
    };
    if kind != "saml" {
        eprintln!("only saml is supported");
        std::process::exit(2);
    }
    let iterations: u32 = rest.first().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let token_text = std::fs::read_to_string(token_file).expect("token file");
    let cert = std::fs::read_to_string(cert_file).expect("certificate file");
    let settings = ProviderSettings {
        name: "loop".into(),
        protocol: Protocol::Saml,
        issuer: issuer.clone(),
        audiences: vec![audience.clone()],
        algorithms: None,
        acs_urls: vec![acs.clone()],
        saml_signed: SamlSigned::Either,
        clock_skew: 60,
        max_age: None,
        email_domains: None,
        enabled: true,
    };
    let provider = Provider::new(settings, None, vec![cert], &[]).expect("provider");
    let ctx = Context {
        now: now.parse().expect("unix time"),
        request_id: None,
        ..Default::default()
    };
    // Check once that the token verifies: a loop over rejections measures nothing useful.
    let parsed = token::parse(&token_text).expect("token parses");
    token::verify(&parsed, &provider, &ctx).expect("token verifies");

    let (mut parse_time, mut verify_time) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..iterations {
        let t0 = Instant::now();
        let parsed = token::parse(&token_text).expect("token parses");
        let t1 = Instant::now();
        let identity = token::verify(&parsed, &provider, &ctx).expect("token verifies");
        let t2 = Instant::now();
        std::hint::black_box(identity);
        parse_time += t1 - t0;
        verify_time += t2 - t1;
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(iterations);
    println!(
        "{iterations} iterations: parse {:.1} µs, verify {:.1} µs, total {:.1} µs per token",
        per(parse_time),
        per(verify_time),
        per(parse_time + verify_time)
    );
}
