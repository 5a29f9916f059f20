//! Verifies one token over and over, for profilers (`perf record`) and quick
//! before/after comparisons of the verifier alone, without a database.
//!
//! ```text
//! cargo run --release -p jit_provision_core --example verify_loop -- \
//!     saml TOKEN_FILE CERT_PEM ISSUER AUDIENCE ACS_URL UNIX_TIME [ITERATIONS]
//! ```
//!
//! TOKEN_FILE holds the token as posted (base64) or raw XML. Prints the mean
//! time of parse + verify (the production path, `token::parse` then
//! `token::verify`), then the time of each phase, measured in a second loop
//! that runs the phases one by one through the crate's public API:
//!
//! * base64: `saml::decode_base64_token` (nothing for raw XML);
//! * XML parse: `saml::parse_vec` (the tree, the root and the claimed issuer);
//! * reference: the Assertion's exclusive canonical form hashed (SHA-256) as
//!   it is produced, the Signature left out (`c14n::digest`);
//! * SignedInfo + RSA: SignedInfo canonicalized, SignatureValue decoded and
//!   checked with the certificate's key (ring);
//! * the rest: `token::verify` minus the two phases above (structure and
//!   wrapping checks, the ds:Signature walk, profile checks, attributes).
//!
//! Heap allocations and bytes allocated per verification are counted by a
//! `#[global_allocator]` wrapped around the system allocator (this example's
//! own; the crate has none).
//!
//! The phase loop assumes what the test tokens are: one signature, on the
//! Assertion (a Response child, or the root), RSA-SHA256, exclusive c14n
//! without a PrefixList. Other tokens still get the total.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use jit_provision_core::provider::{Protocol, Provider, ProviderSettings, SamlSigned};
use jit_provision_core::saml::c14n::{self, Limits, Method};
use jit_provision_core::saml::xml::Element;
use jit_provision_core::saml::{self, TrustedKey, ASSERTION_NS};
use jit_provision_core::token::{self, Context};

/// Counts every allocation (and reallocation) and the bytes requested.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Time and allocations of one phase, summed over the iterations.
#[derive(Default, Clone, Copy)]
struct Phase {
    time: Duration,
    allocs: u64,
    bytes: u64,
}

impl Phase {
    fn measure<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let (a0, b0) = (
            ALLOCS.load(Ordering::Relaxed),
            BYTES.load(Ordering::Relaxed),
        );
        let t0 = Instant::now();
        let out = f();
        self.time += t0.elapsed();
        self.allocs += ALLOCS.load(Ordering::Relaxed) - a0;
        self.bytes += BYTES.load(Ordering::Relaxed) - b0;
        out
    }
}

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
    let provider = Provider::new(settings, None, vec![cert.clone()], &[]).expect("provider");
    let ctx = Context {
        now: now.parse().expect("unix time"),
        request_id: None,
        ..Default::default()
    };
    // Check once that the token verifies: a loop over rejections measures nothing useful.
    let parsed = token::parse(&token_text).expect("token parses");
    token::verify(&parsed, &provider, &ctx).expect("token verifies");

    // The production path.
    let (mut parse, mut verify) = (Phase::default(), Phase::default());
    for _ in 0..iterations {
        let parsed = parse.measure(|| token::parse(&token_text).expect("token parses"));
        let identity = verify.measure(|| token::verify(&parsed, &provider, &ctx));
        std::hint::black_box(identity.expect("token verifies"));
        // Dropping the parsed token is part of the cost; count it with verify.
        verify.measure(|| drop(parsed));
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(iterations);
    let n = u64::from(iterations);
    let line = |name: &str, p: &Phase| {
        println!(
            "  {name:<24} {:>7.1} µs {:>6} allocs {:>8} bytes",
            per(p.time),
            p.allocs / n,
            p.bytes / n
        );
    };
    println!("{iterations} iterations of {token_file}:");
    let total = Phase {
        time: parse.time + verify.time,
        allocs: parse.allocs + verify.allocs,
        bytes: parse.bytes + verify.bytes,
    };
    line("parse (token::parse)", &parse);
    line("verify (token::verify)", &verify);
    line("TOTAL parse + verify", &total);

    let Some(phases) = phase_loop(&token_text, &cert, iterations) else {
        println!("  (no per-phase figures: not an Assertion-signed RSA-SHA256 token)");
        return;
    };
    let [b64, xml, reference, signed_info] = phases;
    let known = reference.time + signed_info.time;
    let rest = Phase {
        time: verify.time.saturating_sub(known),
        allocs: verify
            .allocs
            .saturating_sub(reference.allocs + signed_info.allocs),
        bytes: verify
            .bytes
            .saturating_sub(reference.bytes + signed_info.bytes),
    };
    println!("phases (second loop; 'rest' = verify above minus the two signature phases):");
    line("base64 decode", &b64);
    line("XML parse", &xml);
    line("reference c14n + SHA-256", &reference);
    line("SignedInfo c14n + RSA", &signed_info);
    line("rest of verify", &rest);
}

/// The phases run one by one, `None` when the token is not of the shape
/// they assume.
fn phase_loop(token_text: &str, cert: &str, iterations: u32) -> Option<[Phase; 4]> {
    let keys = saml::parse_pem_keys(cert).ok()?;
    let pkcs1 = keys.iter().find_map(|k| match k {
        TrustedKey::Rsa { pkcs1, .. } => Some(pkcs1.clone()),
        _ => None,
    })?;
    let key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        pkcs1,
    );
    let limits = Limits::bytes(64 << 20);
    let method = Method::exclusive(None);
    let t = token_text.trim();
    let raw = t.starts_with('<');
    let mut phases = [Phase::default(); 4];
    for _ in 0..iterations {
        let [b64, xml, reference, signed_info] = &mut phases;
        let bytes = b64.measure(|| {
            if raw {
                Some(t.as_bytes().to_vec())
            } else {
                saml::decode_base64_token(t)
            }
        })?;
        let doc = xml.measure(|| saml::parse_vec(bytes)).ok()?;
        let root = doc.document().root();
        let assertion = if root.is(ASSERTION_NS, "Assertion") {
            root
        } else {
            root.children_named(ASSERTION_NS, "Assertion").next()?
        };
        let sig = assertion
            .child_elements()
            .find(|c| c.local() == "Signature")?;
        let path: Vec<Element> = root.path_to(assertion)?;
        let digest = reference
            .measure(|| c14n::digest(&path, Some(sig), &method, &ring::digest::SHA256, &limits));
        std::hint::black_box(digest.ok()?);
        let verified = signed_info.measure(|| {
            let si = sig.child_elements().next()?;
            let value = sig.child_elements().nth(1)?.text();
            let compact: String = value.split_ascii_whitespace().collect();
            let sig_bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .ok()?;
            let mut si_path = path.clone();
            si_path.push(sig);
            si_path.push(si);
            let octets = c14n::canonicalize(&si_path, None, &method, &limits).ok()?;
            key.verify(&octets, &sig_bytes).ok()
        });
        verified?;
        drop(doc);
    }
    Some(phases)
}
