//! Third-party JWS / JWK vectors (Wycheproof, RFC 7520 cookbook) from the
//! shared corpus, run through the signature layer of the OIDC verifier.
//!
//! Every vector where our verdict differs from the file's is listed in
//! [`DIVERGENCES`] with our reason code and why; the test fails when the set
//! of actual divergences differs from that table in any way, so a change in
//! behaviour (either direction) cannot pass unnoticed.

use jit_provision_core::jwks::KeySet;
use jit_provision_core::jwt::{parse_jws, verify_signature};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// (case id, our outcome code, why we differ). The case id is
/// `wp-sig#<tcId>` / `wp-key#<tcId>` for the two Wycheproof files and the
/// manifest id for cookbook cases. The outcome is the reason code we reject
/// with, `accepted` when we accept an invalid vector, or `not-compact` when
/// the case has no compact serialization to verify.
const DIVERGENCES: &[(&str, &str, &str)] = &[
    // json_web_signature_test.json
    ("wp-sig#1", "unsupported_algorithm", "HS256 valid: HMAC refused by design (shared secrets do not belong in an IdP JWKS)"),
    ("wp-sig#346", "bad_signature", "token alg PS384 but the JWK says alg PS256: a key's alg is binding (RFC 7517 §4.4), so no key fits"),
    ("wp-sig#347", "unsupported_algorithm", "ES512 / P-521 valid: P-521 is not supported by ring, the key is skipped"),
    ("wp-sig#348", "unsupported_algorithm", "HS256 valid (RFC 7520 figure 35): HMAC refused by design"),
    ("wp-sig#350", "bad_signature", "token alg PS384 but the JWK (with key_ops) says alg PS256: key alg is binding"),
    ("wp-sig#351", "unsupported_algorithm", "ES512 / P-521 valid (with key_ops): P-521 unsupported"),
    ("wp-sig#352", "unsupported_algorithm", "HS256 valid (RFC 7520 figure 35 again): HMAC refused by design"),
    ("wp-sig#357", "unsupported_algorithm", "HS256 valid MAC: HMAC refused by design"),
    ("wp-sig#358", "unsupported_algorithm", "HS256 valid edge-case MAC: HMAC refused by design"),
    ("wp-sig#359", "unsupported_algorithm", "HS256 valid edge-case MAC: HMAC refused by design"),
    ("wp-sig#372", "malformed", "HS256, a non-base64url character inserted in the header: strict base64url decoding refuses it (and HMAC is refused anyway)"),
    ("wp-sig#373", "malformed", "HS256, a non-base64url character inserted in the payload: strict decoding refuses it (and HMAC is refused anyway)"),
    ("wp-sig#376", "unsupported_algorithm", "HS256 valid with spaces in the header JSON: HMAC refused by design"),
    ("wp-sig#377", "unsupported_algorithm", "HS256 valid with a newline/tab in the header JSON: HMAC refused by design"),
    // json_web_key_test.json
    ("wp-key#2", "unsupported_algorithm", "HS256 with a key set of two oct keys: HMAC refused by design"),
    ("wp-key#13", "unsupported_algorithm", "HS256 long key: HMAC refused by design"),
    ("wp-key#14", "unsupported_algorithm", "HS384 long key: HMAC refused by design"),
    ("wp-key#15", "unsupported_algorithm", "HS512 long key: HMAC refused by design"),
    // RFC 7520 cookbook
    ("jc-4_3.ecdsa_signature", "unsupported_algorithm", "ES512 on P-521: not supported by ring, the key is skipped"),
    ("jc-4_4.hmac-sha2_integrity_protection", "unsupported_algorithm", "HS256: HMAC refused by design"),
    ("jc-4_5.signature_with_detached_content", "unsupported_algorithm", "detached payload (RFC 7515 appendix F) is not an ID token, and it is HS256 anyway"),
    ("jc-4_6.protecting_specific_header_fields", "not-compact", "JSON serialization only (unprotected header): a compact-only ID token verifier has nothing to verify"),
    ("jc-4_7.protecting_content_only", "not-compact", "JSON serialization only, alg in the unprotected header"),
    ("jc-4_8.multiple_signatures", "not-compact", "general JSON serialization with three signatures"),
];

/// Keys our KeySet skips, per key group (`<file>:g<index>` or cookbook id),
/// as `SkipReason` names joined by `+`. Groups not listed must skip nothing.
const KEY_SKIPS: &[(&str, &str)] = &[
    ("wp-sig:g0", "UnsupportedKeyType"),
    ("wp-sig:g11", "UnsupportedCurve"),
    ("wp-sig:g12", "UnsupportedKeyType"),
    ("wp-sig:g15", "UnsupportedCurve"),
    ("wp-sig:g16", "UnsupportedKeyType"),
    ("wp-sig:g17", "NotForSignatures"),
    ("wp-sig:g18", "NotForSignatures"),
    ("wp-sig:g19", "NotForSignatures"),
    ("wp-sig:g20", "NotForSignatures"),
    ("wp-sig:g21", "UnsupportedKeyType"),
    ("wp-key:g0", "UnsupportedKeyType"),
    ("wp-key:g1", "UnsupportedKeyType+UnsupportedKeyType"),
    ("wp-key:g2", "UnsupportedKeyType+UnsupportedKeyType"),
    ("wp-key:g4", "NotForSignatures"),
    ("wp-key:g5", "RocaVulnerable"),
    ("wp-key:g6", "WeakOrBadRsaKey"),
    ("wp-key:g7", "WeakOrBadRsaKey"),
    ("wp-key:g8", "UnsupportedKeyType"),
    ("wp-key:g9", "UnsupportedKeyType"),
    ("wp-key:g10", "UnsupportedKeyType"),
    ("wp-key:g11", "UnsupportedKeyType"),
    ("wp-key:g12", "UnsupportedKeyType"),
    ("wp-key:g13", "UnsupportedKeyType"),
    ("wp-key:g14", "UnsupportedKeyType"),
    ("wp-key:g15", "UnsupportedKeyType"),
    ("wp-key:g16", "UnsupportedKeyType"),
    ("wp-key:g17", "AlgorithmMismatch"),
    ("wp-key:g18", "AlgorithmMismatch"),
    ("wp-key:g19", "NotForSignatures"),
    ("wp-key:g20", "InvalidPoint"),
    ("wp-key:g21", "BadEncoding"),
    ("wp-key:g22", "BadEncoding"),
    ("wp-key:g23", "UnsupportedKeyType"),
    ("wp-key:g24", "UnsupportedKeyType"),
    ("jc-4_3.ecdsa_signature", "UnsupportedCurve"),
    (
        "jc-4_4.hmac-sha2_integrity_protection",
        "UnsupportedKeyType",
    ),
    (
        "jc-4_5.signature_with_detached_content",
        "UnsupportedKeyType",
    ),
    (
        "jc-4_6.protecting_specific_header_fields",
        "UnsupportedKeyType",
    ),
    ("jc-4_7.protecting_content_only", "UnsupportedKeyType"),
    ("jc-4_8.multiple_signatures", "UnsupportedKeyType"),
];

/// Rejections that agree with the file, checked for the right reason too.
const REJECTION_REASONS: &[(&str, &str)] = &[
    ("wp-sig#2", "unsupported_algorithm"), // modified HMAC: refused before any MAC
    ("wp-sig#14", "malformed"),            // four segments
    ("wp-sig#16", "unsupported_algorithm"), // alg none, empty signature
    ("wp-sig#17", "malformed"),            // JSON serialization
    ("wp-sig#19", "bad_signature"),        // modified ES256 signature
    ("wp-sig#26", "malformed"),            // empty header
    ("wp-sig#31", "unsupported_algorithm"), // HS256 keyed with the EC public key
    ("wp-sig#32", "unsupported_algorithm"), // attacker's jwk in the header
    ("wp-sig#34", "bad_signature"),        // modified RS256 signature
    ("wp-sig#37", "bad_signature"),        // modified payload
    ("wp-sig#40", "bad_signature"),        // kid changed: no such key
    ("wp-sig#46", "bad_signature"),        // PKCS#1 padding variants
    ("wp-sig#316", "bad_signature"),       // PSS signature not reduced
    ("wp-sig#331", "bad_signature"),       // PS512 header, RS256 signature
    ("wp-sig#332", "bad_signature"),       // RS256 header, key restricted to PS512
    ("wp-sig#341", "unsupported_algorithm"),
    ("wp-sig#342", "unsupported_algorithm"), // NONE
    ("wp-sig#353", "bad_signature"),         // use=enc key skipped: no key
    ("wp-sig#355", "bad_signature"),         // key_ops=[encrypt] key skipped
    ("wp-sig#379", "bad_signature"),         // ES256 signature too long
    ("wp-sig#385", "bad_signature"),
    ("wp-sig#386", "bad_signature"),       // r = s = 0
    ("wp-key#1", "unsupported_algorithm"), // mixed symmetric key set, HS256
    ("wp-key#7", "bad_signature"),         // ROCA key skipped
    ("wp-key#8", "bad_signature"),         // 1024-bit key skipped
    ("wp-key#9", "bad_signature"),         // e = 1 key skipped
    ("wp-key#19", "bad_signature"),        // ES521 alg on a P-256 key: skipped
    ("wp-key#22", "bad_signature"),        // point not on the curve: skipped
    ("wp-key#24", "bad_signature"),        // kty RSA with EC members: skipped
];

fn corpus_dir() -> PathBuf {
    let dir = std::env::var("JIT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus"))
        });
    assert!(
        dir.join("manifest.json").is_file(),
        "JWS corpus not found: {}/manifest.json is missing. Set JIT_CORPUS to the corpus \
         directory (the one holding manifest.json); this test never passes without it.",
        dir.display()
    );
    dir
}

fn read_json(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Our verdict on one compact JWS: `Ok` when accepted, else the reason code.
/// Every implemented algorithm is allowed: the allow-list is provider policy,
/// exercised in oidc_verify.rs; here `none`/HS* must fail on their own.
fn verdict(jws: &str, keys: &KeySet) -> Result<(), String> {
    let parsed = parse_jws(jws).map_err(|r| r.reason.code().to_string())?;
    verify_signature(&parsed, keys, &|_| true).map_err(|r| r.reason.code().to_string())
}

/// A JWK or a JWK set as a KeySet (a lone JWK is wrapped into a set).
fn key_set(key: &Value) -> KeySet {
    let set = if key.get("keys").is_some() {
        key.clone()
    } else {
        json!({ "keys": [key] })
    };
    KeySet::parse(&set.to_string()).expect("corpus key material is a JSON object")
}

/// The public members of a JWK: the cookbook gives the private key and says
/// to verify with its public part.
fn public_part(jwk: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for m in [
        "kty", "kid", "use", "alg", "key_ops", "n", "e", "crv", "x", "y",
    ] {
        if let Some(v) = jwk.get(m) {
            out.insert(m.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

#[derive(Default)]
struct Tally {
    vectors: usize,
    agree: usize,
    groups: usize,
    groups_without_usable_key: usize,
    divergences: BTreeMap<String, String>,
    outcomes: BTreeMap<String, String>,
    skips: BTreeMap<String, String>,
}

impl Tally {
    fn record_skips(&mut self, id: String, keys: &KeySet) {
        let reasons: Vec<String> = keys
            .skipped()
            .iter()
            .map(|k| format!("{:?}", k.reason))
            .collect();
        if !reasons.is_empty() {
            self.skips.insert(id, reasons.join("+"));
        }
    }

    fn record(&mut self, id: String, expect_valid: bool, ours: Result<(), String>) {
        self.vectors += 1;
        let outcome = ours.clone().err().unwrap_or_else(|| "accepted".into());
        self.outcomes.insert(id.clone(), outcome);
        match (&ours, expect_valid) {
            (Ok(()), true) | (Err(_), false) => self.agree += 1,
            (Ok(()), false) => {
                self.divergences.insert(id, "accepted".into());
            }
            (Err(code), true) => {
                self.divergences.insert(id, code.clone());
            }
        }
    }
}

fn run_wycheproof(dir: &std::path::Path, entry: &Value, tag: &str, tally: &mut Tally) {
    let file = read_json(dir.join(entry["file"].as_str().expect("manifest file")));
    let groups = file["testGroups"].as_array().expect("testGroups");
    let mut count = 0;
    for (index, group) in groups.iter().enumerate() {
        tally.groups += 1;
        // The verification key is `public` when present; HMAC and key-set
        // groups carry only `private` (KeySet then skips private members).
        let key = group.get("public").unwrap_or(&group["private"]);
        let keys = key_set(key);
        tally.record_skips(format!("{tag}:g{index}"), &keys);
        if keys.is_empty() {
            tally.groups_without_usable_key += 1;
        }
        for test in group["tests"].as_array().expect("tests") {
            count += 1;
            let id = format!("{tag}#{}", test["tcId"]);
            let expect_valid = match test["result"].as_str() {
                Some("valid") => true,
                Some("invalid") => false,
                other => panic!("{id}: unexpected result {other:?}"),
            };
            // A JSON-serialized vector (flag JsonSerialization) is not a
            // compact JWS; it reaches parse_jws as text and must be refused.
            let text = match &test["jws"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            tally.record(id, expect_valid, verdict(&text, &keys));
        }
    }
    let declared = entry["number_of_tests"].as_u64().expect("number_of_tests") as usize;
    assert_eq!(
        count, declared,
        "{tag}: vector count differs from the manifest"
    );
}

fn run_cookbook(dir: &std::path::Path, entry: &Value, tally: &mut Tally) {
    let id = entry["id"].as_str().expect("id").to_string();
    assert_eq!(
        entry["expect"], "accept",
        "{id}: cookbook cases are accept cases"
    );
    let file = read_json(dir.join(entry["file"].as_str().expect("manifest file")));
    let keys = key_set(&public_part(&file["input"]["key"]));
    tally.record_skips(id.clone(), &keys);
    let ours = match file["output"]["compact"].as_str() {
        Some(compact) => verdict(compact, &keys),
        None => Err("not-compact".to_string()),
    };
    tally.record(id, true, ours);
}

#[test]
fn jws_corpus_matches_expectations_except_listed_divergences() {
    let dir = corpus_dir();
    let manifest = read_json(dir.join("manifest.json"));
    let entries: Vec<&Value> = manifest
        .as_array()
        .expect("manifest is an array")
        .iter()
        .filter(|e| e["kind"] == "jws")
        .collect();
    let mut tally = Tally::default();
    let (mut wycheproof_files, mut cookbook_cases) = (0, 0);
    for entry in &entries {
        let id = entry["id"].as_str().expect("id");
        match id {
            "wp-json_web_signature_test" => run_wycheproof(&dir, entry, "wp-sig", &mut tally),
            "wp-json_web_key_test" => run_wycheproof(&dir, entry, "wp-key", &mut tally),
            _ if id.starts_with("jc-") => {
                run_cookbook(&dir, entry, &mut tally);
                cookbook_cases += 1;
                continue;
            }
            other => panic!("unknown jws manifest entry {other}: extend this harness"),
        }
        wycheproof_files += 1;
    }
    assert_eq!(
        wycheproof_files, 2,
        "both Wycheproof files must be in the manifest"
    );
    assert_eq!(
        cookbook_cases, 8,
        "cookbook 4.1..4.8 must be in the manifest"
    );

    let expected: BTreeMap<String, String> = DIVERGENCES
        .iter()
        .map(|(id, code, _)| (id.to_string(), code.to_string()))
        .collect();
    assert_eq!(
        expected.len(),
        DIVERGENCES.len(),
        "duplicate id in DIVERGENCES"
    );
    let mut problems = Vec::new();
    for (id, code) in &tally.divergences {
        match expected.get(id) {
            None => problems.push(format!("unlisted divergence {id}: ours = {code}")),
            Some(want) if want != code => {
                problems.push(format!("{id}: listed as {want}, ours = {code}"))
            }
            Some(_) => {}
        }
    }
    for id in expected.keys() {
        if !tally.divergences.contains_key(id) {
            problems.push(format!("listed divergence {id} no longer diverges"));
        }
    }
    println!(
        "jws corpus: {} vectors ({} Wycheproof groups, {} without a usable key), {} agree, {} listed divergences",
        tally.vectors,
        tally.groups,
        tally.groups_without_usable_key,
        tally.agree,
        tally.divergences.len()
    );
    compare_tables("key skip", KEY_SKIPS, &tally.skips, true, &mut problems);
    compare_tables(
        "rejection reason",
        REJECTION_REASONS,
        &tally.outcomes,
        false,
        &mut problems,
    );
    assert!(
        problems.is_empty(),
        "corpus tables mismatch:\n{}",
        problems.join("\n")
    );
    assert_eq!(tally.vectors, 401 + 26 + 8);
}

/// Compares a table with what was observed. With `exhaustive`, observed
/// entries missing from the table are problems too.
fn compare_tables(
    what: &str,
    table: &[(&str, &str)],
    seen: &BTreeMap<String, String>,
    exhaustive: bool,
    problems: &mut Vec<String>,
) {
    let want: BTreeMap<&str, &str> = table.iter().copied().collect();
    assert_eq!(want.len(), table.len(), "duplicate id in the {what} table");
    for (id, expected) in &want {
        match seen.get(*id) {
            None => problems.push(format!("{what}: {id} not observed (expected {expected})")),
            Some(got) if got != expected => {
                problems.push(format!("{what}: {id} expected {expected}, got {got}"))
            }
            Some(_) => {}
        }
    }
    if exhaustive {
        for (id, got) in seen {
            if !want.contains_key(id.as_str()) {
                problems.push(format!("{what}: unlisted {id} = {got}"));
            }
        }
    }
}
