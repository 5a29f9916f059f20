//! JSON objects with unique member names.
//!
//! serde_json keeps the last of duplicate members. RFC 7515 §5.2 and RFC 7519
//! §4 allow that, but two parsers that pick differently (first vs last) read
//! one signed token as two different tokens: a proxy, a log or the IdP's own
//! tooling may have judged the other value. Duplicates are therefore refused
//! as `malformed`, which both RFCs also allow.

use crate::error::{excerpt, reject, Reason, Rejection};
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Parses `bytes` as a JSON object whose member names are unique at every
/// nesting level. `what` names the part for error details.
pub(super) fn parse_object(bytes: &[u8], what: &str) -> Result<Map<String, Value>, Rejection> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| Rejection::new(Reason::Malformed, format!("{what} is not JSON: {e}")))?;
    let Value::Object(map) = value else {
        return reject(Reason::Malformed, format!("{what} is not a JSON object"));
    };
    if let Some(name) = first_duplicate_member(bytes) {
        return reject(
            Reason::Malformed,
            format!("{what} repeats the member '{}'", excerpt(&name)),
        );
    }
    Ok(map)
}

enum Frame {
    Object {
        names: HashSet<String>,
        expect_name: bool,
    },
    Array,
}

/// Scans text that serde_json has already accepted, so only the structure
/// characters and string boundaries matter. Names are compared decoded
/// (`"a"` and `"\u0061"` are the same member).
fn first_duplicate_member(text: &[u8]) -> Option<String> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        match b {
            b'{' => stack.push(Frame::Object {
                names: HashSet::new(),
                expect_name: true,
            }),
            b'[' => stack.push(Frame::Array),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some(Frame::Object { expect_name, .. }) = stack.last_mut() {
                    *expect_name = true;
                }
            }
            b'"' => {
                let start = i;
                i += 1;
                loop {
                    match text.get(i) {
                        None => return None,
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                if let Some(Frame::Object { names, expect_name }) = stack.last_mut() {
                    if *expect_name {
                        *expect_name = false;
                        let name: String = serde_json::from_slice(text.get(start..=i)?).ok()?;
                        if names.contains(&name) {
                            return Some(name);
                        }
                        names.insert(name);
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dup(s: &str) -> Option<String> {
        first_duplicate_member(s.as_bytes())
    }

    #[test]
    fn finds_duplicates_at_any_level_and_through_escapes() {
        assert_eq!(dup(r#"{"a":1,"b":2}"#), None);
        assert_eq!(dup(r#"{"a":1,"a":2}"#), Some("a".into()));
        assert_eq!(dup(r#"{"a":1,"\u0061":2}"#), Some("a".into()));
        assert_eq!(dup(r#"{"x":{"a":1,"a":2}}"#), Some("a".into()));
        assert_eq!(dup(r#"{"x":[{"a":1},{"a":2}]}"#), None);
        assert_eq!(dup(r#"{"a":"a","b":"a"}"#), None);
        assert_eq!(dup(r#"{"a":"\",\"a\":","b":1}"#), None);
        assert_eq!(dup(r#"{"a":{},"b":{"a":1},"c":[1,"a"]}"#), None);
    }

    #[test]
    fn parse_object_reasons() {
        let e = parse_object(br#"{"a":1,"a":1}"#, "claims").unwrap_err();
        assert_eq!(e.reason, Reason::Malformed);
        assert!(e.detail.contains("repeats"), "{}", e.detail);
        let e = parse_object(b"[1]", "claims").unwrap_err();
        assert!(e.detail.contains("not a JSON object"), "{}", e.detail);
        let e = parse_object(b"foo", "claims").unwrap_err();
        assert!(e.detail.contains("not JSON"), "{}", e.detail);
    }
}
