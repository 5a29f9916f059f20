//! Character-level rules of the reader: which characters XML allows, line
//! ends, references, attribute-value normalization and names. A leaf.

use std::borrow::Cow;

use crate::error::{excerpt, reject, Reason, Rejection};

pub(super) fn malformed<T>(detail: impl Into<String>) -> Result<T, Rejection> {
    reject(Reason::Malformed, detail)
}

/// XML 1.0 `Char`: refuse control characters and the two non-characters
/// (surrogates cannot occur in a `str`).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

pub(super) fn check_chars(s: &str) -> Result<(), Rejection> {
    // Byte-wise: in UTF-8 the only characters outside `Char` that a `str` can
    // hold are the C0 controls other than tab, LF and CR (single bytes) and
    // U+FFFE / U+FFFF (EF BF BE / EF BF BF). Same verdict as testing
    // `is_xml_char` on every char, without decoding the text.
    let b = s.as_bytes();
    // First a branch-free pass the compiler vectorizes: almost every document
    // has neither a control byte nor an EF lead byte, and is done here.
    let suspect = b.iter().fold(false, |acc, &c| {
        acc | ((c < 0x20) & (c != b'\t') & (c != b'\n') & (c != b'\r')) | (c == 0xEF)
    });
    if !suspect {
        return Ok(());
    }
    for (i, &c) in b.iter().enumerate() {
        let bad = match c {
            b'\t' | b'\n' | b'\r' => None,
            0..=0x1F => Some(u32::from(c)),
            0xEF if b.get(i + 1) == Some(&0xBF) => match b.get(i + 2) {
                Some(0xBE) => Some(0xFFFE),
                Some(0xBF) => Some(0xFFFF),
                _ => None,
            },
            _ => None,
        };
        if let Some(code) = bad {
            return malformed(format!("character U+{code:04X} is not allowed in XML"));
        }
    }
    Ok(())
}

/// XML 1.0 section 2.11: CRLF and lone CR become LF before parsing.
pub(super) fn normalize_line_ends(s: &str) -> Cow<'_, str> {
    if !s.contains('\r') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One of the five predefined entities, or a character reference (`#N`,
/// `#xH`) to a legal XML character. Anything else is refused: no DTD can
/// declare more.
pub(super) fn resolve_reference(name: &str) -> Result<char, Rejection> {
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => {
            let Some(num) = name.strip_prefix('#') else {
                return malformed(format!(
                    "entity reference '&{};' is not one of the predefined entities",
                    excerpt(name)
                ));
            };
            let (digits, radix) = match num.strip_prefix('x') {
                Some(h) => (h, 16),
                None => (num, 10),
            };
            if digits.is_empty() || digits.len() > 8 || !digits.chars().all(|c| c.is_digit(radix)) {
                return malformed(format!("bad character reference '&{};'", excerpt(name)));
            }
            let code = u32::from_str_radix(digits, radix).ok();
            match code.and_then(char::from_u32) {
                Some(c) if is_xml_char(c) => c,
                _ => {
                    return malformed(format!(
                        "character reference '&{};' is not a legal XML character",
                        excerpt(name)
                    ))
                }
            }
        }
    };
    Ok(c)
}

/// Whether an attribute value needs normalizing: a reference, or a literal
/// whitespace character other than space (or a '<', refused by
/// [`normalize_attr_value`]). Most values need nothing and stay borrowed.
pub(super) fn attr_value_needs_work(raw: &str) -> bool {
    raw.bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'\t' | b'\n' | b'\r'))
}

/// Attribute-value normalization for CDATA attributes (XML 1.0 3.3.3):
/// literal whitespace characters become spaces, references are resolved
/// (a character reference to whitespace is kept as that character). Appends
/// to `out`.
pub(super) fn normalize_attr_value(raw: &str, out: &mut String) -> Result<(), Rejection> {
    let mut rest = raw;
    while let Some(pos) = rest
        .bytes()
        .position(|b| matches!(b, b'&' | b'<' | b'\t' | b'\n' | b'\r'))
    {
        let (before, tail) = rest.split_at(pos);
        out.push_str(before);
        let mut tail_chars = tail.chars();
        match tail_chars.next() {
            Some('&') => {
                let after = tail_chars.as_str();
                let Some(end) = after.find(';') else {
                    return malformed("unterminated reference in an attribute value");
                };
                let (name, after_name) = after.split_at(end);
                out.push(resolve_reference(name)?);
                rest = after_name.get(1..).unwrap_or("");
            }
            Some('<') => return malformed("'<' in an attribute value"),
            Some(_) => {
                out.push(' ');
                rest = tail_chars.as_str();
            }
            None => break,
        }
    }
    out.push_str(rest);
    Ok(())
}

/// NCName check, close enough for refusing garbage: no empty parts, no
/// characters that XML names cannot hold.
///
/// Byte-wise: every byte of a non-ASCII character is >= 0x80, and any
/// non-ASCII character is accepted.
pub(super) fn is_ncname(s: &str) -> bool {
    let name_start = |b: u8| b.is_ascii_alphabetic() || b == b'_' || b >= 0x80;
    match s.as_bytes().split_first() {
        Some((&first, rest)) => {
            name_start(first)
                && rest
                    .iter()
                    .all(|&b| name_start(b) || b.is_ascii_digit() || b == b'-' || b == b'.')
        }
        None => false,
    }
}

/// Splits `p:l` / `l`, checking both parts.
pub(super) fn split_qname(q: &str) -> Result<(Option<&str>, &str), Rejection> {
    // ':' is ASCII, so splitting at its byte offset keeps both halves valid.
    let (prefix, local) = match q.bytes().position(|b| b == b':') {
        Some(i) => (q.get(..i), q.get(i + 1..).unwrap_or("")),
        None => (None, q),
    };
    if !is_ncname(local) || prefix.is_some_and(|p| !is_ncname(p)) {
        return malformed(format!("'{}' is not a valid XML name", excerpt(q)));
    }
    Ok((prefix, local))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-wise scan refuses exactly the characters `Char` excludes.
    #[test]
    fn check_chars_agrees_with_the_char_production() {
        let mut buf = [0u8; 4];
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let s: &str = c.encode_utf8(&mut buf);
            assert_eq!(check_chars(s).is_ok(), is_xml_char(c), "U+{:04X}", c as u32);
            // And in context: neighbours never hide or fake a verdict.
            let framed = format!("a\u{FFFD}{s}\u{EFBF}z");
            assert_eq!(
                check_chars(&framed).is_ok(),
                is_xml_char(c),
                "U+{:04X} framed",
                c as u32
            );
        }
    }
}
