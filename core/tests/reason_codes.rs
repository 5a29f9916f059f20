//! Reason codes are defined once, by `Reason` in core/src/error.rs. The SQL
//! write path raises three of them itself (`jit._reject` in sql/login.sql),
//! and the README and the contract list them for users: each of those is
//! checked against the enum here, so a code cannot drift in one place.

use std::collections::BTreeSet;

use jit_provision_core::Reason;

fn repo_file(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn codes() -> BTreeSet<&'static str> {
    Reason::ALL.iter().map(|r| r.code()).collect()
}

#[test]
fn every_code_is_distinct_snake_case_and_round_trips_its_display() {
    assert_eq!(codes().len(), Reason::ALL.len(), "a code is listed twice");
    for r in Reason::ALL {
        let c = r.code();
        assert!(
            c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{c}"
        );
        assert_eq!(r.to_string(), c);
    }
}

#[test]
fn sql_raises_only_codes_the_enum_defines() {
    let mut raised = BTreeSet::new();
    for file in [
        "sql/login.sql",
        "sql/lifecycle.sql",
        "sql/refresh.sql",
        "sql/finalize.sql",
    ] {
        let text = repo_file(file);
        for (i, _) in text.match_indices("jit._reject(") {
            // jit._reject(provider, 'code', ...): the second argument.
            let args = text.get(i..).unwrap_or("");
            let code = args
                .split('\'')
                .nth(1)
                .unwrap_or_else(|| panic!("{file}: jit._reject without a literal code"));
            raised.insert(code.to_string());
        }
    }
    assert!(
        !raised.is_empty(),
        "no jit._reject call found: the check would be empty"
    );
    for code in &raised {
        assert!(
            codes().contains(code.as_str()),
            "SQL raises '{code}', which Reason does not define"
        );
    }
    // The three the write path decides are raised there and nowhere else.
    let sql_side: BTreeSet<String> = ["replayed", "user_blocked", "seat_limit_reached"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(raised, sql_side);
}

#[test]
fn the_readme_lists_exactly_the_enum() {
    let readme = repo_file("README.md");
    let start = readme
        .find("stable reason code, e.g.")
        .expect("the README's reason-code paragraph");
    let para = readme.get(start..).unwrap_or("");
    let para = para
        .get(..para.find("\n\n").unwrap_or(para.len()))
        .unwrap_or("");
    let listed: BTreeSet<&str> = para
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .collect();
    assert_eq!(listed, codes(), "README paragraph: {para}");
}
