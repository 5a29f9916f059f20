//! Resource budgets (issue 13): what one SAML verification may cost.
//!
//! A ~1 MiB Response with a junk signature once made exclusive
//! canonicalization write tens of GB (a long namespace declaration rendered
//! again on every tiny element using it, under parents that do not) and
//! aborted the backend. These tests build the amplification shapes at the
//! largest size a token may have and hold `token::parse` + `token::verify`
//! to fixed budgets, measured, not guessed:
//!
//! * thread CPU time (`CLOCK_THREAD_CPUTIME_ID`) under [`CPU_BUDGET`];
//! * peak heap bytes above the baseline under [`PEAK_BUDGET`], counted by
//!   the global allocator below, which also refuses to let the process hold
//!   more than [`HARD_CAP`]: a regression aborts the test binary ("memory
//!   allocation of N bytes failed") instead of swapping the machine.
//!
//! Each shape is verified twice: with a junk SignatureValue (refused as
//! `bad_signature` before any Reference digest is computed), and with a
//! SignedInfo signed for real by a key the provider trusts over a bogus
//! DigestValue, so the Reference is canonicalized and hashed: `malformed`
//! when the canonical form would exceed `canonical_factor x document + SLACK`
//! (the detail names that limit), else `bad_signature` for the digest.
//!
//! Every test takes one lock: the allocator's counters are global and tests
//! run on parallel threads. Measured numbers are printed (`--nocapture`):
//! `cargo test --release -p jit_provision_core --test resource_budgets --
//! --nocapture --test-threads=1`.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jit_provision_core::saml::c14n;
use jit_provision_core::saml::xml::{
    MAX_ATTRIBUTES, MAX_NAMESPACES_IN_SCOPE, MAX_NAMESPACE_URI_BYTES, MAX_NODES, MAX_PREFIX_BYTES,
};
use jit_provision_core::saml::{ASSERTION_NS, PROTOCOL_NS};
use jit_provision_core::{parse, verify, Budget, Provider, Reason, Rejection, MAX_TOKEN_BYTES};
use support::budget_sign::{
    ctx, signature_xml, Canon, TestKey, ACS, AUDIENCE, BOGUS_DIGEST, ISSUER, ISSUE_INSTANT,
    JUNK_SIGNATURE,
};

// ------------------------------------------------------------ the budgets

/// Thread CPU time one parse + verify of a 1 MiB token may take: 200 ms in
/// an optimized build (`cargo test --release`, as scripts/test runs it); an
/// unoptimized one is about 5 to 10 times slower and gets 2 s, which still
/// fails the quadratic and amplified behaviours this file guards against
/// (seconds to minutes).
const CPU_BUDGET: Duration = if cfg!(debug_assertions) {
    Duration::from_secs(2)
} else {
    Duration::from_millis(200)
};
/// Heap bytes one parse + verify may hold at once, above what was live
/// before it (the token text itself).
const PEAK_BUDGET: usize = 64 << 20;
/// The whole test process never holds more than this: past it the
/// allocator fails and the process aborts.
const HARD_CAP: usize = 1 << 30;

// ------------------------------------------- counting, capped allocator

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Accounts `n` more live bytes, or refuses when that would pass the cap.
fn reserve(n: usize) -> bool {
    let before = LIVE.fetch_add(n, Ordering::Relaxed);
    let now = before.saturating_add(n);
    if now > HARD_CAP {
        LIVE.fetch_sub(n, Ordering::Relaxed);
        return false;
    }
    PEAK.fetch_max(now, Ordering::Relaxed);
    true
}

fn release(n: usize) {
    LIVE.fetch_sub(n, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` with the same arguments; the
// counters only decide whether to forward an allocation at all (returning
// null is how an allocator reports failure).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !reserve(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            release(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !reserve(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            release(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        release(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        if new_size > old && !reserve(new_size - old) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            if new_size > old {
                release(new_size - old);
            }
        } else if new_size < old {
            release(old - new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Serializes the tests of this binary: the counters are process-wide.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    // A failed test poisons the lock; the others still measure correctly.
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

struct Measured<T> {
    value: T,
    cpu: Duration,
    /// Peak live heap bytes during the call, above those live before it.
    peak: usize,
}

/// Runs `f` on this thread, measuring its CPU time and peak heap use.
/// The caller holds [`serial`].
fn measure<T>(f: impl FnOnce() -> T) -> Measured<T> {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let cpu0 = thread_cpu();
    let value = f();
    let cpu = thread_cpu().saturating_sub(cpu0);
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    Measured { value, cpu, peak }
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What parse + verify of `token` said; an accepted token is `None`.
fn refusal(token: &str, provider: &Provider) -> Option<Rejection> {
    parse(token)
        .and_then(|t| verify(&t, provider, &ctx()))
        .err()
}

/// The limit a canonicalization of a `doc_bytes` document must stay under.
fn canonical_limit(doc_bytes: usize) -> usize {
    Budget::DEFAULT_CANONICAL_FACTOR * doc_bytes + c14n::SLACK_BYTES
}

/// What the rejection detail must say when the canonical output is cut.
fn limit_detail(doc_bytes: usize) -> String {
    format!("exceeds its limit of {} bytes", canonical_limit(doc_bytes))
}

// ------------------------------------------------------- document shapes

/// Raw XML tokens are built this long: just under the token limit.
const RAW_DOC_BYTES: usize = MAX_TOKEN_BYTES - 1024;
/// Base64 tokens carry a document this long, so the token text (4 bytes per
/// 3) stays under the limit too.
const BASE64_DOC_BYTES: usize = MAX_TOKEN_BYTES / 4 * 3 - 1024;
/// Nodes the skeleton around the filler may hold at most (it has about 40).
const SKELETON_NODES: usize = 200;
/// How many long prefixes the CPU shape keeps in scope; with samlp, saml,
/// the amplified one and ds this stays under MAX_NAMESPACES_IN_SCOPE.
const EXTRA_PREFIXES: usize = 120;
const _: () = assert!(EXTRA_PREFIXES + 5 <= MAX_NAMESPACES_IN_SCOPE);
const _: () = assert!(EXTRA_PREFIXES / 3 + 8 <= MAX_ATTRIBUTES);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// (a) one long namespace URI, used by very many tiny elements whose
    /// parents do not use it.
    LongUri,
    /// (b) the same, plus ~120 long (64-byte) prefixes bound to long URIs
    /// in scope at every element, all named by the PrefixList.
    ManyPrefixes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    /// Tiny elements `<aaaa/>` in a default namespace with the long URI.
    Default,
    /// Tiny elements `<p:aaaa/>`, p bound to the long URI.
    Prefixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SigAt {
    /// The Signature is a child of samlp:Response and covers it all.
    Response,
    /// The Signature is a child of the Assertion and covers it.
    Assertion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeclAt {
    /// The long URI is declared on the Response (the apex of a Response
    /// signature, above the apex of an Assertion signature).
    Root,
    /// ... on the Assertion (the apex of an Assertion signature, inside the
    /// apex of a Response signature).
    Assertion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Enc {
    Raw,
    Base64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CanonKind {
    Exclusive,
    ExclusiveListed,
    Inclusive,
}

#[derive(Debug, Clone, Copy)]
struct Case {
    shape: Shape,
    ns: Ns,
    sig_at: SigAt,
    decl_at: DeclAt,
    enc: Enc,
    canon: CanonKind,
}

impl Case {
    fn label(&self) -> String {
        format!(
            "{}/{}/{}-sig/decl@{}/{}/{}",
            match self.shape {
                Shape::LongUri => "long-uri",
                Shape::ManyPrefixes => "many-prefixes",
            },
            match self.ns {
                Ns::Default => "default-ns",
                Ns::Prefixed => "prefixed",
            },
            match self.sig_at {
                SigAt::Response => "response",
                SigAt::Assertion => "assertion",
            },
            match self.decl_at {
                DeclAt::Root => "response",
                DeclAt::Assertion => "assertion",
            },
            match self.enc {
                Enc::Raw => "raw",
                Enc::Base64 => "base64",
            },
            self.canon().label(),
        )
    }

    fn doc_bytes(&self) -> usize {
        match self.enc {
            Enc::Raw => RAW_DOC_BYTES,
            Enc::Base64 => BASE64_DOC_BYTES,
        }
    }

    /// The PrefixList names the 120 long prefixes (in scope in the CPU
    /// shape, unbound in the other), never the amplified namespace.
    fn canon(&self) -> Canon {
        match self.canon {
            CanonKind::Exclusive => Canon::Exclusive,
            CanonKind::ExclusiveListed => Canon::ExclusiveListed(
                (0..EXTRA_PREFIXES)
                    .map(long_prefix)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            CanonKind::Inclusive => Canon::Inclusive,
        }
    }

    /// Whether the canonical Reference would be far over its limit if it
    /// were written out: exclusive c14n renders the unlisted amplified
    /// namespace on every tiny element; inclusive c14n renders every
    /// namespace once, at the apex (its cost is per-element work, not
    /// output).
    fn amplifies(&self) -> bool {
        self.canon != CanonKind::Inclusive
    }

    fn token(&self, doc: &str) -> String {
        match self.enc {
            Enc::Raw => doc.to_string(),
            Enc::Base64 => STANDARD.encode(doc),
        }
    }
}

/// `urn:budget:<tag>:uuuu...`, `len` bytes.
fn long_uri(tag: &str, len: usize) -> String {
    let mut u = format!("urn:budget:{tag}:");
    assert!(u.len() <= len);
    u.extend(std::iter::repeat_n('u', len - u.len()));
    u
}

/// A prefix of exactly MAX_PREFIX_BYTES bytes; all of them share all but
/// their last three bytes (the worst case for comparing them).
fn long_prefix(i: usize) -> String {
    let tail = format!("{i:03}");
    let mut p = "n".repeat(MAX_PREFIX_BYTES - tail.len());
    p.push_str(&tail);
    p
}

fn decls(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(p, u)| format!(r#" xmlns:{p}="{u}""#))
        .collect()
}

const FILLER: &str = "{FILLER}";

/// The Response around the filler: Status Success, one Assertion that
/// passes every check made before signatures are verified, the Signature
/// (junk SignatureValue, bogus DigestValue) where `sig_at` says, and
/// `{FILLER}` inside an AttributeValue, under parents (AttributeValue,
/// Attribute, AttributeStatement, Assertion) that use neither the
/// amplified namespace nor the long prefixes.
fn skeleton(
    sig_at: SigAt,
    canon: &Canon,
    root_decls: &str,
    assertion_decls: &str,
    statement_decls: &str,
) -> String {
    let apex_id = match sig_at {
        SigAt::Response => "_r1",
        SigAt::Assertion => "_a1",
    };
    let sig = signature_xml(apex_id, canon, BOGUS_DIGEST, JUNK_SIGNATURE);
    let (sig_r, sig_a) = match sig_at {
        SigAt::Response => (sig.as_str(), ""),
        SigAt::Assertion => ("", sig.as_str()),
    };
    format!(
        concat!(
            r#"<samlp:Response xmlns:samlp="{pns}" xmlns:saml="{ans}"{root_decls} ID="_r1" Version="2.0" IssueInstant="{ii}" Destination="{acs}">"#,
            r#"<saml:Issuer>{iss}</saml:Issuer>{sig_r}"#,
            r#"<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>"#,
            r#"<saml:Assertion{assertion_decls} ID="_a1" Version="2.0" IssueInstant="{ii}">"#,
            r#"<saml:Issuer>{iss}</saml:Issuer>{sig_a}"#,
            r#"<saml:Subject><saml:NameID>alice@example.com</saml:NameID>"#,
            r#"<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">"#,
            r#"<saml:SubjectConfirmationData NotOnOrAfter="2023-11-14T22:18:00Z" Recipient="{acs}"/>"#,
            r#"</saml:SubjectConfirmation></saml:Subject>"#,
            r#"<saml:Conditions NotBefore="2023-11-14T22:12:30Z" NotOnOrAfter="2023-11-14T22:23:00Z">"#,
            r#"<saml:AudienceRestriction><saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions>"#,
            r#"<saml:AttributeStatement{statement_decls}><saml:Attribute Name="filler"><saml:AttributeValue>{filler}</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>"#,
            r#"</saml:Assertion></samlp:Response>"#
        ),
        pns = PROTOCOL_NS,
        ans = ASSERTION_NS,
        root_decls = root_decls,
        assertion_decls = assertion_decls,
        statement_decls = statement_decls,
        ii = ISSUE_INSTANT,
        acs = ACS,
        iss = ISSUER,
        aud = AUDIENCE,
        sig_r = sig_r,
        sig_a = sig_a,
        filler = FILLER,
    )
}

/// `n` tiny elements `open` + name + `/>` filling exactly `bytes` bytes
/// (names lengthened evenly, the rest one whitespace text node), with at
/// most `max_nodes` nodes.
fn tiny_elements(open: &str, bytes: usize, max_nodes: usize) -> String {
    let overhead = open.len() + 2;
    let n = (max_nodes - 1).min(bytes / (overhead + 1));
    let name_len = bytes / n - overhead;
    let pad = bytes - n * (overhead + name_len);
    let one = format!("{open}{}/>", "a".repeat(name_len));
    let mut out = String::with_capacity(bytes);
    for _ in 0..n {
        out.push_str(&one);
    }
    out.extend(std::iter::repeat_n(' ', pad));
    out
}

/// The case's document, exactly `case.doc_bytes()` long, with the junk
/// SignatureValue.
fn build(case: &Case) -> String {
    let amplified_uri = long_uri("amplified", MAX_NAMESPACE_URI_BYTES - 24);
    let amplified_decl = match case.ns {
        Ns::Default => format!(r#" xmlns="{amplified_uri}""#),
        Ns::Prefixed => format!(r#" xmlns:p="{amplified_uri}""#),
    };
    let extras: Vec<(String, String)> = match case.shape {
        Shape::LongUri => Vec::new(),
        Shape::ManyPrefixes => (0..EXTRA_PREFIXES)
            .map(|i| {
                (
                    long_prefix(i),
                    long_uri(&format!("x{i}"), MAX_NAMESPACE_URI_BYTES - 24),
                )
            })
            .collect(),
    };
    // A third each on the Response, the Assertion and the AttributeStatement
    // (MAX_ATTRIBUTES per element): all in scope at every tiny element.
    let third = extras.len().div_ceil(3);
    let group = |k: usize| {
        let from = (k * third).min(extras.len());
        let to = ((k + 1) * third).min(extras.len());
        decls(&extras[from..to])
    };
    let mut root_decls = group(0);
    let mut assertion_decls = group(1);
    match case.decl_at {
        DeclAt::Root => root_decls.push_str(&amplified_decl),
        DeclAt::Assertion => assertion_decls.push_str(&amplified_decl),
    }
    let skel = skeleton(
        case.sig_at,
        &case.canon(),
        &root_decls,
        &assertion_decls,
        &group(2),
    );
    let available = case.doc_bytes() - (skel.len() - FILLER.len());
    let open = match case.ns {
        Ns::Default => "<",
        Ns::Prefixed => "<p:",
    };
    let filler = tiny_elements(open, available, MAX_NODES - SKELETON_NODES);
    let doc = skel.replacen(FILLER, &filler, 1);
    assert_eq!(doc.len(), case.doc_bytes());
    assert!(case.token(&doc).len() < MAX_TOKEN_BYTES);
    doc
}

fn all_cases(shape: Shape, sig_at: SigAt) -> Vec<Case> {
    let mut out = Vec::new();
    for ns in [Ns::Default, Ns::Prefixed] {
        for decl_at in [DeclAt::Root, DeclAt::Assertion] {
            for enc in [Enc::Raw, Enc::Base64] {
                for canon in [
                    CanonKind::Exclusive,
                    CanonKind::ExclusiveListed,
                    CanonKind::Inclusive,
                ] {
                    out.push(Case {
                        shape,
                        ns,
                        sig_at,
                        decl_at,
                        enc,
                        canon,
                    });
                }
            }
        }
    }
    out
}

/// What one verification must end in.
enum Expect {
    BadSignature,
    /// `bad_signature` because the (complete) Reference digest differs.
    DigestMismatch,
    /// `malformed`: the canonical form of a document this long is over its
    /// limit.
    OverLimit(usize),
}

/// Checks one measured verification; returns the failures (empty: passed).
fn judge(label: &str, m: &Measured<Option<Rejection>>, expect: &Expect) -> Vec<String> {
    let mut failures = Vec::new();
    let got = match &m.value {
        Some(r) => format!("{}: {}", r.reason, r.detail),
        None => "accepted".to_string(),
    };
    println!(
        "[budget] {label:<70} cpu {:>7.2} ms  peak {:>6.2} MiB  -> {}",
        ms(m.cpu),
        mib(m.peak),
        got.chars().take(110).collect::<String>()
    );
    let ok = match (expect, &m.value) {
        (Expect::BadSignature, Some(r)) => r.reason == Reason::BadSignature,
        (Expect::DigestMismatch, Some(r)) => {
            r.reason == Reason::BadSignature && r.detail.contains("digest")
        }
        (Expect::OverLimit(doc), Some(r)) => {
            r.reason == Reason::Malformed && r.detail.contains(&limit_detail(*doc))
        }
        (_, None) => false,
    };
    if !ok {
        let want = match expect {
            Expect::BadSignature => "bad_signature".to_string(),
            Expect::DigestMismatch => "bad_signature (digest mismatch)".to_string(),
            Expect::OverLimit(doc) => format!("malformed '... {}'", limit_detail(*doc)),
        };
        failures.push(format!("{label}: expected {want}, got {got}"));
    }
    if m.cpu >= CPU_BUDGET {
        failures.push(format!(
            "{label}: {:.1} ms of CPU, budget {:.0} ms",
            ms(m.cpu),
            ms(CPU_BUDGET)
        ));
    }
    if m.peak >= PEAK_BUDGET {
        failures.push(format!(
            "{label}: peak {:.1} MiB, budget {:.0} MiB",
            mib(m.peak),
            mib(PEAK_BUDGET)
        ));
    }
    failures
}

/// Every case of one shape and signature placement, junk and signed.
fn run_shape(shape: Shape, sig_at: SigAt) {
    let _serial = serial();
    let key = TestKey::new();
    let provider = key.provider();
    let mut failures = Vec::new();
    let (mut max_cpu, mut max_peak) = (Duration::ZERO, 0usize);
    for case in all_cases(shape, sig_at) {
        let junk_doc = build(&case);
        let signed_doc = key.sign_signed_info(&junk_doc, &case.canon());
        let runs = [
            ("junk-sig", junk_doc, Expect::BadSignature),
            (
                "signed/bogus-digest",
                signed_doc,
                if case.amplifies() {
                    Expect::OverLimit(case.doc_bytes())
                } else {
                    Expect::DigestMismatch
                },
            ),
        ];
        for (what, doc, expect) in runs {
            let token = case.token(&doc);
            drop(doc);
            let m = measure(|| refusal(&token, &provider));
            failures.extend(judge(&format!("{} {what}", case.label()), &m, &expect));
            max_cpu = max_cpu.max(m.cpu);
            max_peak = max_peak.max(m.peak);
        }
    }
    println!(
        "[budget] {shape:?} {sig_at:?}-signature: worst cpu {:.2} ms, worst peak {:.2} MiB",
        ms(max_cpu),
        mib(max_peak)
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn long_uri_shapes_response_signature() {
    run_shape(Shape::LongUri, SigAt::Response);
}

#[test]
fn long_uri_shapes_assertion_signature() {
    run_shape(Shape::LongUri, SigAt::Assertion);
}

#[test]
fn many_prefix_shapes_response_signature() {
    run_shape(Shape::ManyPrefixes, SigAt::Response);
}

#[test]
fn many_prefix_shapes_assertion_signature() {
    run_shape(Shape::ManyPrefixes, SigAt::Assertion);
}

/// The issue's own document: a namespace URI hundreds of KB long used by
/// tens of thousands of tiny elements (before the fix: tens of GB of
/// canonical output). Refused while reading now, cheaply.
#[test]
fn issue_13_document_is_refused_while_reading() {
    let _serial = serial();
    let key = TestKey::new();
    let provider = key.provider();
    let mut failures = Vec::new();
    for enc in [Enc::Raw, Enc::Base64] {
        let doc_bytes = match enc {
            Enc::Raw => RAW_DOC_BYTES,
            Enc::Base64 => BASE64_DOC_BYTES,
        };
        let uri = long_uri("issue13", doc_bytes / 2);
        let skel = skeleton(
            SigAt::Response,
            &Canon::Exclusive,
            &format!(r#" xmlns:p="{uri}""#),
            "",
            "",
        );
        let filler = "<p:a/>".repeat((doc_bytes - skel.len()) / 6);
        let doc = skel.replacen(FILLER, &filler, 1);
        let token = match enc {
            Enc::Raw => doc,
            Enc::Base64 => STANDARD.encode(doc),
        };
        assert!(token.len() < MAX_TOKEN_BYTES);
        let m = measure(|| refusal(&token, &provider));
        failures.extend(judge_reader(
            &format!("issue-13 document ({} KiB URI, {enc:?})", uri.len() / 1024),
            &m,
            &MAX_NAMESPACE_URI_BYTES.to_string(),
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ------------------------------------------------------- reader limits

/// A Response root holding `inner`, with `decls` on it.
fn bare_response(decls: &str, inner: &str) -> String {
    format!(
        r#"<samlp:Response xmlns:samlp="{PROTOCOL_NS}"{decls} ID="_r1" Version="2.0" IssueInstant="{ISSUE_INSTANT}">{inner}</samlp:Response>"#
    )
}

/// A reader refusal: `malformed`, the detail naming the limit, and cheap.
fn judge_reader(label: &str, m: &Measured<Option<Rejection>>, limit: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let got = match &m.value {
        Some(r) => format!("{}: {}", r.reason, r.detail),
        None => "accepted".to_string(),
    };
    println!(
        "[budget] {label:<70} cpu {:>7.2} ms  peak {:>6.2} MiB  -> {}",
        ms(m.cpu),
        mib(m.peak),
        got.chars().take(110).collect::<String>()
    );
    match &m.value {
        Some(r) if r.reason == Reason::Malformed && r.detail.contains(limit) => {}
        _ => failures.push(format!(
            "{label}: expected malformed naming the limit {limit}, got {got}"
        )),
    }
    if m.cpu >= CPU_BUDGET || m.peak >= PEAK_BUDGET {
        failures.push(format!(
            "{label}: {:.1} ms, {:.1} MiB: over budget",
            ms(m.cpu),
            mib(m.peak)
        ));
    }
    failures
}

/// Parses (only) a document the reader must accept.
fn parses(doc: &str) -> Result<(), Rejection> {
    parse(doc).map(drop)
}

#[test]
fn prefix_longer_than_the_limit_is_malformed() {
    let _serial = serial();
    let provider = TestKey::new().provider();
    let at_limit = "p".repeat(MAX_PREFIX_BYTES);
    let over = "p".repeat(MAX_PREFIX_BYTES + 1);
    let mut failures = Vec::new();

    // Declared (and unused), declared and used by an element, used by an
    // attribute.
    let ok = [
        bare_response(&format!(r#" xmlns:{at_limit}="urn:x""#), ""),
        bare_response(
            "",
            &format!(r#"<{at_limit}:e xmlns:{at_limit}="urn:x" {at_limit}:a="1"/>"#),
        ),
    ];
    for doc in &ok {
        if let Err(e) = parses(doc) {
            failures.push(format!("a {MAX_PREFIX_BYTES}-byte prefix was refused: {e}"));
        }
    }
    let bad = [
        (
            "declared",
            bare_response(&format!(r#" xmlns:{over}="urn:x""#), ""),
        ),
        (
            "on an element",
            bare_response("", &format!(r#"<{over}:e xmlns:{over}="urn:x"/>"#)),
        ),
    ];
    for (what, doc) in &bad {
        for (enc, token) in [("raw", doc.clone()), ("base64", STANDARD.encode(doc))] {
            let m = measure(|| refusal(&token, &provider));
            failures.extend(judge_reader(
                &format!("prefix of {} bytes {what} ({enc})", MAX_PREFIX_BYTES + 1),
                &m,
                &MAX_PREFIX_BYTES.to_string(),
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn namespace_uri_longer_than_the_limit_is_malformed() {
    let _serial = serial();
    let provider = TestKey::new().provider();
    let at_limit = long_uri("limit", MAX_NAMESPACE_URI_BYTES);
    let over = long_uri("limit", MAX_NAMESPACE_URI_BYTES + 1);
    let mut failures = Vec::new();
    for doc in [
        bare_response(&format!(r#" xmlns:p="{at_limit}""#), ""),
        bare_response(&format!(r#" xmlns="{at_limit}""#), ""),
    ] {
        if let Err(e) = parses(&doc) {
            failures.push(format!(
                "a {MAX_NAMESPACE_URI_BYTES}-byte namespace URI was refused: {e}"
            ));
        }
    }
    let bad = [
        (
            "prefixed, on the root",
            bare_response(&format!(r#" xmlns:p="{over}""#), ""),
        ),
        (
            "default, on the root",
            bare_response(&format!(r#" xmlns="{over}""#), ""),
        ),
        (
            "prefixed, nested",
            bare_response("", &format!(r#"<a><b xmlns:p="{over}"/></a>"#)),
        ),
        (
            // Counted after attribute-value normalization: references are
            // resolved first, so `&#117;` is one byte of URI, not six.
            "with character references",
            bare_response(
                &format!(
                    r#" xmlns:p="{}""#,
                    over.replacen("uuuuuu", "&#117;&#117;&#117;&#117;&#117;&#117;", 1)
                ),
                "",
            ),
        ),
    ];
    for (what, doc) in &bad {
        for (enc, token) in [("raw", doc.clone()), ("base64", STANDARD.encode(doc))] {
            let m = measure(|| refusal(&token, &provider));
            failures.extend(judge_reader(
                &format!(
                    "URI of {} bytes, {what} ({enc})",
                    MAX_NAMESPACE_URI_BYTES + 1
                ),
                &m,
                &MAX_NAMESPACE_URI_BYTES.to_string(),
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn more_than_max_nodes_is_malformed() {
    let _serial = serial();
    let provider = TestKey::new().provider();
    let mut failures = Vec::new();
    // Elements, text, comments and processing instructions all count; the
    // root is one node. `unit` is two nodes: an element and another kind.
    let kinds = [
        ("elements", "<a/>", "<b/>"),
        ("elements and text", "<a/>", "t"),
        ("elements and comments", "<a/>", "<!--c-->"),
        ("elements and PIs", "<a/>", "<?pi d?>"),
    ];
    for (what, first, second) in kinds {
        // Exactly MAX_NODES nodes: the root and MAX_NODES - 1 children.
        let children = MAX_NODES - 1;
        let pair = format!("{first}{second}");
        let mut inner = pair.repeat(children / 2);
        if children % 2 == 1 {
            inner.push_str(first);
        }
        let at_limit = bare_response("", &inner);
        if let Err(e) = parses(&at_limit) {
            failures.push(format!(
                "{what}: a document of exactly MAX_NODES ({MAX_NODES}) nodes was refused: {e}"
            ));
        }
        // One more.
        inner.push_str(if children % 2 == 1 { second } else { first });
        let over = bare_response("", &inner);
        assert!(over.len() < MAX_TOKEN_BYTES);
        let m = measure(|| refusal(&over, &provider));
        failures.extend(judge_reader(
            &format!("{} nodes: {what}", MAX_NODES + 1),
            &m,
            &MAX_NODES.to_string(),
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ------------------------------------- work and memory are linear in size

/// xorshift64*: a fixed, dependency-free stream of test shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A namespace-heavy document family, drawn once per seed and then built at
/// any size: the same declarations, nesting and mix of tiny elements, with
/// the number of tiny elements growing with the size.
struct RandomShape {
    seed: u64,
    /// Every declared prefix and its URI; the first `hot` are the ones the
    /// tiny elements and their attributes use.
    prefixes: Vec<(String, String)>,
    hot: usize,
    /// A default namespace (a long URI) that unprefixed tiny elements use.
    default_ns: Option<String>,
    /// Where each declaration goes: 0 Response, 1 Assertion, 2 the
    /// AttributeStatement, 3 the outermost wrapper around the tiny elements.
    placement: Vec<usize>,
    /// Nested wrappers (no namespace, or a cold prefix) around the tiny
    /// elements.
    wrappers: Vec<String>,
    sig_at: SigAt,
    canon: Canon,
}

impl RandomShape {
    fn draw(seed: u64) -> RandomShape {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let n = rng.range(1, 100);
        let hot = rng.range(1, 4.min(n));
        // Declarations stay under ~24 KB so the shape fits the 64 KiB size
        // too; hot URIs get up to the limit, cold ones share the rest.
        let cold_uri_max = (16_000 / n).clamp(8, MAX_NAMESPACE_URI_BYTES);
        let prefixes: Vec<(String, String)> = (0..n)
            .map(|i| {
                let plen = rng.range(1, MAX_PREFIX_BYTES);
                let tail = format!("q{i}");
                let prefix = if plen > tail.len() {
                    format!("{}{tail}", "k".repeat(plen - tail.len()))
                } else {
                    tail
                };
                // Hot URIs from short (the canonical form may stay under its
                // limit: the digest is computed in full) to the limit.
                let ulen = if i < hot {
                    rng.range(20, MAX_NAMESPACE_URI_BYTES)
                } else {
                    rng.range(20, cold_uri_max.max(20))
                };
                (prefix, long_uri(&format!("r{seed}-{i}"), ulen))
            })
            .collect();
        let default_ns = rng
            .chance(50)
            .then(|| long_uri(&format!("d{seed}"), rng.range(200, MAX_NAMESPACE_URI_BYTES)));
        // Per element: at most MAX_ATTRIBUTES - 8 declarations.
        let mut counts = [0usize; 4];
        let placement = (0..n)
            .map(|_| loop {
                let at = rng.range(0, 3);
                if counts[at] < MAX_ATTRIBUTES - 8 {
                    counts[at] += 1;
                    break at;
                }
            })
            .collect();
        let depth = rng.range(1, 30);
        let wrappers = (0..depth)
            .map(|i| {
                if n > hot && rng.chance(50) {
                    let cold = rng.range(hot, n - 1);
                    format!("{}:w{i}", prefixes[cold].0)
                } else {
                    format!("w{i}")
                }
            })
            .collect();
        let sig_at = if rng.chance(50) {
            SigAt::Response
        } else {
            SigAt::Assertion
        };
        let canon = match rng.range(0, 2) {
            0 => Canon::Exclusive,
            1 => {
                // Some cold prefixes, sometimes a hot one or #default, and
                // names bound nowhere.
                let mut list: Vec<String> = prefixes
                    .iter()
                    .skip(hot)
                    .filter(|_| rng.chance(70))
                    .map(|(p, _)| p.clone())
                    .collect();
                if rng.chance(30) {
                    list.push(prefixes[0].0.clone());
                }
                if rng.chance(30) {
                    list.push("#default".into());
                }
                list.extend((0..rng.range(0, 200)).map(|i| format!("unbound{i}")));
                Canon::ExclusiveListed(list.join(" "))
            }
            _ => Canon::Inclusive,
        };
        RandomShape {
            seed,
            prefixes,
            hot,
            default_ns,
            placement,
            wrappers,
            sig_at,
            canon,
        }
    }

    fn decls_at(&self, at: usize) -> String {
        let mut out: String = self
            .prefixes
            .iter()
            .zip(&self.placement)
            .filter(|(_, &p)| p == at)
            .map(|((p, u), _)| format!(r#" xmlns:{p}="{u}""#))
            .collect();
        if at == 0 {
            if let Some(d) = &self.default_ns {
                out.push_str(&format!(r#" xmlns="{d}""#));
            }
        }
        out
    }

    /// The document, exactly `bytes` long, with the junk SignatureValue.
    fn build(&self, bytes: usize) -> String {
        let skel = skeleton(
            self.sig_at,
            &self.canon,
            &self.decls_at(0),
            &self.decls_at(1),
            &self.decls_at(2),
        );
        // Wrappers: the outermost carries placement 3's declarations.
        let mut open = String::new();
        let mut close = String::new();
        for (i, w) in self.wrappers.iter().enumerate() {
            let d = if i == 0 {
                self.decls_at(3)
            } else {
                String::new()
            };
            open.push_str(&format!("<{w}{d}>"));
            close.insert_str(0, &format!("</{w}>"));
        }
        let fixed = skel.len() - FILLER.len() + open.len() + close.len();
        assert!(
            fixed + 4096 < bytes,
            "shape {} too big for {bytes}",
            self.seed
        );
        let budget = bytes - fixed;
        let node_budget = MAX_NODES - SKELETON_NODES - self.wrappers.len() - 1;

        // The same element stream at every size: a fixed seed.
        let mut rng = Rng(self.seed ^ 0x5151_5151 | 1);
        let mut body = String::with_capacity(budget);
        let mut nodes = 0;
        let hot = |rng: &mut Rng| self.prefixes[rng.range(0, self.hot - 1)].0.as_str();
        loop {
            let name_len = rng.range(6, 14);
            let name = &"abcdefghijklmn"[..name_len];
            let unit = match rng.range(0, 9) {
                0..=4 => format!("<{}:{name}/>", hot(&mut rng)),
                5 | 6 => format!("<{name}/>"),
                7 => format!(r#"<{name} {}:x="1"/>"#, hot(&mut rng)),
                8 => {
                    let p = hot(&mut rng);
                    format!("<{p}:{name}>t<!--c--></{p}:{name}>")
                }
                // x and y differ: never the same attribute twice.
                _ => format!(
                    r#"<{name} {}:x="1" {}:y="2"/>"#,
                    self.prefixes[0].0,
                    hot(&mut rng)
                ),
            };
            let unit_nodes = if unit.ends_with("/>") { 1 } else { 3 };
            if body.len() + unit.len() > budget || nodes + unit_nodes > node_budget {
                break;
            }
            body.push_str(&unit);
            nodes += unit_nodes;
        }
        body.extend(std::iter::repeat_n(' ', budget - body.len()));
        let doc = skel.replacen(FILLER, &format!("{open}{body}{close}"), 1);
        assert_eq!(doc.len(), bytes);
        doc
    }
}

#[test]
fn work_and_memory_are_linear_in_the_input() {
    let _serial = serial();
    let key = TestKey::new();
    let provider = key.provider();
    let sizes = [64 * 1024, 256 * 1024, MAX_TOKEN_BYTES - 1024];
    // Absolute CPU slack for the size-independent part of a verification
    // and for timer noise.
    let slack = Duration::from_millis(20);
    let mut failures = Vec::new();
    for seed in 1..=12u64 {
        let shape = RandomShape::draw(seed);
        let mut per_size = Vec::new();
        for &bytes in &sizes {
            let junk = shape.build(bytes);
            let doc = key.sign_signed_info(&junk, &shape.canon);
            drop(junk);
            // The least of three runs: CPU time is noisy, the shape is not.
            let mut best: Option<Measured<Option<Rejection>>> = None;
            for _ in 0..3 {
                let m = measure(|| refusal(&doc, &provider));
                if best.as_ref().is_none_or(|b| m.cpu < b.cpu) {
                    best = Some(m);
                }
            }
            let Some(m) = best else { continue };
            let label = format!(
                "random shape {seed} ({} prefixes, {} hot, default ns {}, depth {}, {:?}-sig, {}) at {} KiB",
                shape.prefixes.len(),
                shape.hot,
                shape.default_ns.is_some(),
                shape.wrappers.len(),
                shape.sig_at,
                shape.canon.label(),
                bytes / 1024
            );
            let got = match &m.value {
                Some(r) => format!("{}: {}", r.reason, r.detail),
                None => "accepted".into(),
            };
            println!(
                "[budget] {label:<100} cpu {:>7.2} ms ({:>5.1} ns/B)  peak {:>6.2} MiB ({:>4.1} x input)  -> {}",
                ms(m.cpu),
                m.cpu.as_nanos() as f64 / bytes as f64,
                mib(m.peak),
                m.peak as f64 / bytes as f64,
                got.chars().take(80).collect::<String>()
            );
            let expected = match &m.value {
                Some(r) if r.reason == Reason::Malformed => r.detail.contains(&limit_detail(bytes)),
                Some(r) if r.reason == Reason::BadSignature => r.detail.contains("digest"),
                _ => false,
            };
            if !expected {
                failures.push(format!(
                    "{label}: expected malformed (canonical limit) or bad_signature (digest), got {got}"
                ));
            }
            let peak_bound = 32 * bytes + (4 << 20);
            if m.peak > peak_bound {
                failures.push(format!(
                    "{label}: peak {:.2} MiB over 32 x input + 4 MiB = {:.2} MiB",
                    mib(m.peak),
                    mib(peak_bound)
                ));
            }
            if m.cpu >= CPU_BUDGET {
                failures.push(format!("{label}: {:.1} ms of CPU", ms(m.cpu)));
            }
            per_size.push((bytes, m.cpu));
        }
        // CPU per byte at 1 MiB at most 4 x that at 64 KiB, plus the slack.
        if let (Some(&(small, t_small)), Some(&(large, t_large))) =
            (per_size.first(), per_size.last())
        {
            let allowed = t_small.mul_f64(4.0 * large as f64 / small as f64) + slack;
            println!(
                "[budget] random shape {seed}: {:.2} ms at {} KiB, {:.2} ms at {} KiB (allowed {:.2} ms)",
                ms(t_small),
                small / 1024,
                ms(t_large),
                large / 1024,
                ms(allowed)
            );
            if t_large > allowed {
                failures.push(format!(
                    "random shape {seed}: {:.2} ms at {} bytes vs {:.2} ms at {} bytes: not linear (allowed {:.2} ms)",
                    ms(t_large),
                    large,
                    ms(t_small),
                    small,
                    ms(allowed)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
