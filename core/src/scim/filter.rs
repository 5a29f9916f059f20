//! The SCIM `filter` query parameter (RFC 7644 section 3.4.2.2), strictly:
//! only what jit_provision can evaluate faithfully.
//!
//! Grammar accepted (operators and attribute names case-insensitive,
//! whitespace = one or more spaces or tabs):
//!
//! ```text
//! filter     = ws term *( ws1 "and" ws1 term ) ws
//! term       = attrPath ws1 "eq" ws1 value
//!            / "emails[" ws "value" ws1 "eq" ws1 value ws "]"      ; Users only
//! attrPath   = [ core-schema-URN ":" ] name                        ; see below
//! value      = JSON string literal                                  ; "a\"b", "\u00e9"
//!            / bare token                                           ; john@example.com
//! ```
//!
//! Users: `userName`, `externalId`, `id`, `emails.value` (and the complex
//! form `emails[value eq "x"]`). Groups: `displayName`, `externalId`, `id`.
//! Everything else — `or`, `not`, parentheses, `co`/`sw`/`ew`/`pr`/`gt`/
//! `ge`/`lt`/`le`/`ne`, other attributes, `emails[type eq "work"]` — is
//! `400 invalidFilter`: a filter is never ignored nor widened.
//!
//! A bare (unquoted) value, as Entra ID and Okta sometimes send, runs up to
//! the next space, tab, `)` or `]` (or the end) and must not contain `"`,
//! `\`, `(`, `)`, `[` or `]`, nor a control character; it is taken as a string
//! exactly as written (`12345` is the string "12345"). The bare words `true`,
//! `false` and `null` (any case) are JSON literals; every supported attribute
//! is a string, so comparing with them is `invalidFilter`.
//!
//! One left-to-right pass, no backtracking, no recursion: linear in the
//! input, which is at most [`MAX_FILTER_BYTES`].

use super::error::{excerpt, ScimError};
use super::schema::{canonical_uuid, Resource, CORE_GROUP_SCHEMA, CORE_USER_SCHEMA};

/// Longest filter accepted (after percent-decoding).
pub const MAX_FILTER_BYTES: usize = 4096;

/// An attribute a filter may compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FilterAttr {
    /// User `userName`: compared case-insensitively (caseExact false).
    UserName,
    /// `externalId` of a User or Group: case-exact.
    ExternalId,
    /// `id` of a User or Group (`jit.users.id` / `jit.groups` id). The value
    /// is lower-cased when it is a UUID.
    Id,
    /// User `emails.value` (the stored `email`): case-insensitive.
    EmailValue,
    /// Group `displayName`: case-insensitive.
    DisplayName,
}

impl FilterAttr {
    /// The SCIM attribute path.
    pub fn scim_name(self) -> &'static str {
        match self {
            FilterAttr::UserName => "userName",
            FilterAttr::ExternalId => "externalId",
            FilterAttr::Id => "id",
            FilterAttr::EmailValue => "emails.value",
            FilterAttr::DisplayName => "displayName",
        }
    }

    /// Whether comparison is case-exact (RFC 7643 `caseExact`).
    pub fn case_exact(self) -> bool {
        matches!(self, FilterAttr::ExternalId | FilterAttr::Id)
    }
}

/// `attr eq value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    pub attr: FilterAttr,
    /// The literal, unescaped. Never a pattern: compare with `=` (or
    /// `lower(..) = lower($n)` when not [`FilterAttr::case_exact`]).
    pub value: String,
}

/// A parsed filter: the conjunction of its comparisons (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub all_of: Vec<Comparison>,
}

impl Filter {
    /// False when the filter cannot match any resource: an `id` compared
    /// with something that is not a UUID. The SQL side answers an empty
    /// list without casting the value to `uuid` (which would raise).
    pub fn can_match(&self) -> bool {
        self.all_of
            .iter()
            .all(|c| c.attr != FilterAttr::Id || canonical_uuid(&c.value).is_some())
    }
}

/// A literal in a filter or a PATCH value path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Literal {
    Str(String),
    Bool(bool),
    Null,
}

/// Parses `text` (already percent-decoded) as a filter over `resource`.
pub fn parse_filter(resource: Resource, text: &str) -> Result<Filter, ScimError> {
    if text.len() > MAX_FILTER_BYTES {
        return Err(ScimError::invalid_filter(format!(
            "filter longer than {MAX_FILTER_BYTES} bytes"
        )));
    }
    let mut lx = Lexer::new(text);
    let mut all_of = Vec::new();
    lx.skip_ws();
    loop {
        all_of.push(term(resource, &mut lx)?);
        let had_ws = lx.skip_ws();
        if lx.at_end() {
            break;
        }
        let at = lx.pos;
        let word = lx.word();
        if !had_ws || word.is_empty() {
            return Err(unexpected(&lx, at));
        }
        if !word.eq_ignore_ascii_case("and") {
            return Err(if is_unsupported_operator(word) {
                ScimError::invalid_filter(format!(
                    "the operator '{}' is not supported (only 'eq' and 'and')",
                    excerpt(word)
                ))
            } else {
                ScimError::invalid_filter(format!(
                    "expected 'and' after a comparison, found '{}'",
                    excerpt(word)
                ))
            });
        }
        if lx.skip_ws() {
            continue;
        }
        return Err(unexpected(&lx, lx.pos));
    }
    Ok(Filter { all_of })
}

fn term(resource: Resource, lx: &mut Lexer<'_>) -> Result<Comparison, ScimError> {
    let at = lx.pos;
    if lx.peek() == Some(b'(') {
        return Err(ScimError::invalid_filter(
            "parentheses are not supported (only 'eq' and 'and')",
        ));
    }
    let name = lx.word();
    if name.is_empty() {
        return Err(unexpected(lx, at));
    }
    if lx.peek() == Some(b'[') {
        return complex_email(resource, name, lx);
    }
    if name.eq_ignore_ascii_case("not") {
        return Err(ScimError::invalid_filter("'not' is not supported"));
    }
    let attr = resolve(resource, name)?;
    if !lx.skip_ws() {
        return Err(unexpected(lx, lx.pos));
    }
    operator_eq(lx)?;
    if !lx.skip_ws() {
        return Err(unexpected(lx, lx.pos));
    }
    let value = string_value(attr, lx.literal(false)?)?;
    Ok(Comparison { attr, value })
}

/// `emails[value eq "x"]`.
fn complex_email(
    resource: Resource,
    name: &str,
    lx: &mut Lexer<'_>,
) -> Result<Comparison, ScimError> {
    if resource != Resource::User || !name.eq_ignore_ascii_case("emails") {
        return Err(ScimError::invalid_filter(format!(
            "the complex filter '{}[...]' is not supported (only emails[value eq \"...\"] on Users)",
            excerpt(name)
        )));
    }
    let (sub, lit) = lx.bracket_filter()?;
    if !sub.eq_ignore_ascii_case("value") {
        return Err(ScimError::invalid_filter(format!(
            "emails[{} ...] is not supported (only emails[value eq \"...\"])",
            excerpt(sub)
        )));
    }
    if lx.peek() == Some(b'.') {
        return Err(ScimError::invalid_filter(
            "a sub-attribute after emails[...] is not supported",
        ));
    }
    let attr = FilterAttr::EmailValue;
    let value = string_value(attr, lit)?;
    Ok(Comparison { attr, value })
}

fn operator_eq(lx: &mut Lexer<'_>) -> Result<(), ScimError> {
    let at = lx.pos;
    let op = lx.word();
    if op.eq_ignore_ascii_case("eq") {
        return Ok(());
    }
    if op.is_empty() {
        return Err(unexpected(lx, at));
    }
    Err(if is_unsupported_operator(op) {
        ScimError::invalid_filter(format!(
            "the operator '{}' is not supported (only 'eq' and 'and')",
            excerpt(op)
        ))
    } else {
        ScimError::invalid_filter(format!(
            "expected the operator 'eq', found '{}'",
            excerpt(op)
        ))
    })
}

fn is_unsupported_operator(word: &str) -> bool {
    [
        "ne", "co", "sw", "ew", "pr", "gt", "ge", "lt", "le", "or", "not",
    ]
    .iter()
    .any(|op| word.eq_ignore_ascii_case(op))
}

fn string_value(attr: FilterAttr, lit: Literal) -> Result<String, ScimError> {
    match lit {
        Literal::Str(s) => Ok(match attr {
            FilterAttr::Id => canonical_uuid(&s).unwrap_or(s),
            _ => s,
        }),
        Literal::Bool(_) | Literal::Null => Err(ScimError::invalid_filter(format!(
            "{} is a string: compare it with a quoted string",
            attr.scim_name()
        ))),
    }
}

/// Strips an optional core schema URN prefix (`urn:...:core:2.0:User:`).
fn strip_schema<'a>(name: &'a str, schema: &str) -> &'a str {
    let n = schema.len();
    match (name.get(..n), name.get(n..n + 1), name.get(n + 1..)) {
        (Some(prefix), Some(":"), Some(rest)) if prefix.eq_ignore_ascii_case(schema) => rest,
        _ => name,
    }
}

fn resolve(resource: Resource, name: &str) -> Result<FilterAttr, ScimError> {
    let (bare, supported): (&str, &[(&str, FilterAttr)]) = match resource {
        Resource::User => (
            strip_schema(name, CORE_USER_SCHEMA),
            &[
                ("userName", FilterAttr::UserName),
                ("externalId", FilterAttr::ExternalId),
                ("id", FilterAttr::Id),
                ("emails.value", FilterAttr::EmailValue),
            ],
        ),
        Resource::Group => (
            strip_schema(name, CORE_GROUP_SCHEMA),
            &[
                ("displayName", FilterAttr::DisplayName),
                ("externalId", FilterAttr::ExternalId),
                ("id", FilterAttr::Id),
            ],
        ),
    };
    supported
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(bare))
        .map(|(_, a)| *a)
        .ok_or_else(|| {
            let list: Vec<&str> = supported.iter().map(|(n, _)| *n).collect();
            ScimError::invalid_filter(format!(
                "filtering {} on '{}' is not supported (supported: {})",
                resource.plural(),
                excerpt(name),
                list.join(", ")
            ))
        })
}

fn unexpected(lx: &Lexer<'_>, at: usize) -> ScimError {
    match lx.s.get(at..) {
        Some(rest) if !rest.is_empty() => {
            ScimError::invalid_filter(format!("unexpected '{}' at byte {at}", excerpt(rest)))
        }
        _ => ScimError::invalid_filter("unexpected end of filter"),
    }
}

/// A byte cursor; every split is at an ASCII byte, hence a char boundary.
pub(crate) struct Lexer<'a> {
    pub(crate) s: &'a str,
    pub(crate) pos: usize,
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'$')
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Lexer { s, pos: 0 }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    /// Skips spaces and tabs; true when it skipped any.
    pub(crate) fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// An attribute name, operator or keyword (possibly empty).
    pub(crate) fn word(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(is_name_byte) {
            self.pos += 1;
        }
        self.s.get(start..self.pos).unwrap_or("")
    }

    /// `[ ws name ws1 "eq" ws1 value ws ]`, the cursor on `[`; returns the
    /// sub-attribute name and the literal, the cursor after `]`.
    pub(crate) fn bracket_filter(&mut self) -> Result<(&'a str, Literal), ScimError> {
        if self.peek() != Some(b'[') {
            return Err(unexpected(self, self.pos));
        }
        self.pos += 1;
        self.skip_ws();
        let at = self.pos;
        let sub = self.word();
        if sub.is_empty() {
            return Err(unexpected(self, at));
        }
        if !self.skip_ws() {
            return Err(unexpected(self, self.pos));
        }
        operator_eq(self)?;
        if !self.skip_ws() {
            return Err(unexpected(self, self.pos));
        }
        let lit = self.literal(true)?;
        self.skip_ws();
        if self.peek() != Some(b']') {
            let at = self.pos;
            let w = self.word();
            if is_unsupported_operator(w) || w.eq_ignore_ascii_case("and") {
                return Err(ScimError::invalid_filter(format!(
                    "only one 'eq' comparison is supported inside [...], found '{}'",
                    excerpt(w)
                )));
            }
            return Err(unexpected(self, at));
        }
        self.pos += 1;
        Ok((sub, lit))
    }

    /// A JSON string literal or a bare token (see the module comment).
    pub(crate) fn literal(&mut self, in_brackets: bool) -> Result<Literal, ScimError> {
        let start = self.pos;
        let bytes = self.s.as_bytes();
        if self.peek() == Some(b'"') {
            let mut i = start + 1;
            loop {
                match bytes.get(i) {
                    None => {
                        return Err(ScimError::invalid_filter("unterminated string literal"));
                    }
                    Some(b'\\') => i += 2,
                    Some(b'"') => break,
                    Some(_) => i += 1,
                }
            }
            let end = i + 1;
            let quoted = self.s.get(start..end).unwrap_or("");
            self.pos = end;
            return serde_json::from_str::<String>(quoted)
                .map(Literal::Str)
                .map_err(|_| {
                    ScimError::invalid_filter(format!("invalid string literal {}", excerpt(quoted)))
                });
        }
        let mut i = start;
        while let Some(&b) = bytes.get(i) {
            if is_ws(b) || b == b')' || (in_brackets && b == b']') {
                break;
            }
            if matches!(b, b'"' | b'\\' | b'(' | b'[' | b']') || b.is_ascii_control() {
                return Err(ScimError::invalid_filter(format!(
                    "an unquoted value may not contain '{}': quote it as a JSON string",
                    char::from(b).escape_default()
                )));
            }
            i += 1;
        }
        let token = self.s.get(start..i).unwrap_or("");
        if token.is_empty() {
            return Err(unexpected(self, start));
        }
        self.pos = i;
        Ok(if token.eq_ignore_ascii_case("true") {
            Literal::Bool(true)
        } else if token.eq_ignore_ascii_case("false") {
            Literal::Bool(false)
        } else if token.eq_ignore_ascii_case("null") {
            Literal::Null
        } else {
            Literal::Str(token.to_string())
        })
    }
}
