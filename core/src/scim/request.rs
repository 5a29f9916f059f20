//! The HTTP request as `jit.scim` receives it: method and path to a
//! [`Route`], the raw query string to a [`Query`], the body to JSON.

use serde_json::Value;

use super::error::{excerpt, ScimError};
use super::filter::{parse_filter, Filter};
use super::schema::{
    canonical_uuid, Resource, CORE_GROUP_SCHEMA, CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA,
};

/// Largest request body accepted; larger is `413`.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Largest raw query string accepted; larger is `400 invalidValue`.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;

/// Most distinct names one `attributes` / `excludedAttributes` may list.
/// The schemas have about twenty attributes; the bound keeps the work of
/// shaping every resource of a page proportional to the page, not to the
/// page times the query string.
pub const MAX_ATTRIBUTE_NAMES: usize = 64;

/// Most resources one list response returns (`count` is clamped to it);
/// the SQL side advertises it as `filter.maxResults`.
pub const MAX_RESULTS: u64 = 1000;

/// A schema the service provider publishes under `/Schemas/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaId {
    User,
    Group,
    EnterpriseUser,
}

impl SchemaId {
    pub fn urn(self) -> &'static str {
        match self {
            SchemaId::User => CORE_USER_SCHEMA,
            SchemaId::Group => CORE_GROUP_SCHEMA,
            SchemaId::EnterpriseUser => ENTERPRISE_USER_SCHEMA,
        }
    }
}

/// What a request asks for. Ids of Users and Groups are canonical
/// lower-case UUIDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /Users`, `GET /Groups`.
    List(Resource),
    /// `POST /Users`, `POST /Groups`.
    Create(Resource),
    /// `GET /Users/{id}`.
    Get(Resource, String),
    /// `PUT /Users/{id}`.
    Replace(Resource, String),
    /// `PATCH /Users/{id}`.
    Patch(Resource, String),
    /// `DELETE /Users/{id}`.
    Delete(Resource, String),
    ServiceProviderConfig,
    ResourceTypes,
    ResourceType(Resource),
    Schemas,
    Schema(SchemaId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Collection(Resource),
    Item(Resource, String),
    ServiceProviderConfig,
    ResourceTypes,
    ResourceType(Resource),
    Schemas,
    Schema(SchemaId),
}

impl Target {
    fn allow(&self) -> &'static str {
        match self {
            Target::Collection(_) => "GET, POST",
            Target::Item(..) => "GET, PUT, PATCH, DELETE",
            _ => "GET",
        }
    }
}

/// Resolves `method` and `path` (below the SCIM base URL, e.g.
/// `/Users/2819c223-7f76-453a-919d-413861904646`; one trailing `/`
/// tolerated; endpoint names case-insensitive). An unknown path, or a
/// User/Group id that is not a UUID (it cannot name a resource), is `404`;
/// `/Me` and `/Bulk` are `501` (not implemented, RFC 7644 3.11); a known
/// path with a method it does not take is `405`.
pub fn parse_route(method: &str, path: &str) -> Result<Route, ScimError> {
    let target = parse_target(path)?;
    let m = match method.to_ascii_uppercase().as_str() {
        "GET" => Some(Method::Get),
        "POST" => Some(Method::Post),
        "PUT" => Some(Method::Put),
        "PATCH" => Some(Method::Patch),
        "DELETE" => Some(Method::Delete),
        _ => None,
    };
    let route = match (m, target.clone()) {
        (Some(Method::Get), Target::Collection(r)) => Some(Route::List(r)),
        (Some(Method::Post), Target::Collection(r)) => Some(Route::Create(r)),
        (Some(Method::Get), Target::Item(r, id)) => Some(Route::Get(r, id)),
        (Some(Method::Put), Target::Item(r, id)) => Some(Route::Replace(r, id)),
        (Some(Method::Patch), Target::Item(r, id)) => Some(Route::Patch(r, id)),
        (Some(Method::Delete), Target::Item(r, id)) => Some(Route::Delete(r, id)),
        (Some(Method::Get), Target::ServiceProviderConfig) => Some(Route::ServiceProviderConfig),
        (Some(Method::Get), Target::ResourceTypes) => Some(Route::ResourceTypes),
        (Some(Method::Get), Target::ResourceType(r)) => Some(Route::ResourceType(r)),
        (Some(Method::Get), Target::Schemas) => Some(Route::Schemas),
        (Some(Method::Get), Target::Schema(s)) => Some(Route::Schema(s)),
        _ => None,
    };
    route.ok_or_else(|| {
        ScimError::method_not_allowed(format!(
            "method '{}' is not allowed here (allowed: {})",
            excerpt(method),
            target.allow()
        ))
    })
}

/// The `Allow` header value for a `405` on `path`; `None` when the path is
/// not a route.
pub fn allowed_methods(path: &str) -> Option<&'static str> {
    parse_target(path).ok().map(|t| t.allow())
}

fn parse_target(path: &str) -> Result<Target, ScimError> {
    let not_found = || ScimError::not_found(format!("no SCIM endpoint at '{}'", excerpt(path)));
    let trimmed = match path.strip_suffix('/') {
        Some(t) if !t.is_empty() => t,
        _ => path,
    };
    let rest = trimmed.strip_prefix('/').ok_or_else(not_found)?;
    let (first, second) = match rest.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let is = |name: &str| first.eq_ignore_ascii_case(name);
    let resource = if is("Users") {
        Some(Resource::User)
    } else if is("Groups") {
        Some(Resource::Group)
    } else {
        None
    };
    if let Some(r) = resource {
        return match second {
            None => Ok(Target::Collection(r)),
            Some(".search") => Err(ScimError::new(
                501,
                None,
                format!("/{}/.search is not implemented", r.plural()),
            )),
            Some(id) => canonical_uuid(id)
                .map(|id| Target::Item(r, id))
                .ok_or_else(|| {
                    ScimError::not_found(format!("{} '{}' not found", r.name(), excerpt(id)))
                }),
        };
    }
    if is("ServiceProviderConfig") && second.is_none() {
        return Ok(Target::ServiceProviderConfig);
    }
    if is("ResourceTypes") {
        return match second {
            None => Ok(Target::ResourceTypes),
            Some(id) if id.eq_ignore_ascii_case("User") => Ok(Target::ResourceType(Resource::User)),
            Some(id) if id.eq_ignore_ascii_case("Group") => {
                Ok(Target::ResourceType(Resource::Group))
            }
            Some(_) => Err(not_found()),
        };
    }
    if is("Schemas") {
        let Some(id) = second else {
            return Ok(Target::Schemas);
        };
        let id = percent_decode(id, false).unwrap_or_default();
        return [SchemaId::User, SchemaId::Group, SchemaId::EnterpriseUser]
            .into_iter()
            .find(|s| s.urn().eq_ignore_ascii_case(&id))
            .map(Target::Schema)
            .ok_or_else(not_found);
    }
    // POST /.search and /<Resource>/.search (RFC 7644 3.4.3) are not
    // supported: 501, which clients take for "use GET", not 404.
    if (is("Me") || is("Bulk") || is(".search")) && second.is_none() {
        return Err(ScimError::new(
            501,
            None,
            format!("/{first} is not implemented"),
        ));
    }
    Err(not_found())
}

/// The list parameters of RFC 7644 section 3.4.2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The percent-decoded filter text; parse it with [`Query::filter_for`].
    pub filter: Option<String>,
    /// 1-based; values below 1 are 1 (RFC 7644 3.4.2.4).
    pub start_index: u64,
    /// Page size: negative is 0, above [`MAX_RESULTS`] is [`MAX_RESULTS`];
    /// `None` when absent (the SQL side uses [`MAX_RESULTS`]).
    pub count: Option<u64>,
    /// `attributes`, split on commas, trimmed, empty items and repeats dropped.
    pub attributes: Vec<String>,
    /// `excludedAttributes`, likewise.
    pub excluded_attributes: Vec<String>,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            filter: None,
            start_index: 1,
            count: None,
            attributes: Vec::new(),
            excluded_attributes: Vec::new(),
        }
    }
}

impl Query {
    /// The filter parsed for `resource`; `None` when there is none.
    pub fn filter_for(&self, resource: Resource) -> Result<Option<Filter>, ScimError> {
        self.filter
            .as_deref()
            .map(|f| parse_filter(resource, f))
            .transpose()
    }
}

/// Parses the raw query string (without `?`, still URL-encoded; `+` is a
/// space). Parameter names are case-insensitive; unknown parameters are
/// ignored; a parameter given twice is `400` (`invalidFilter` for `filter`,
/// `invalidValue` otherwise), since either reading could be wrong.
pub fn parse_query(raw: Option<&str>) -> Result<Query, ScimError> {
    let mut q = Query::default();
    let Some(raw) = raw else {
        return Ok(q);
    };
    if raw.len() > MAX_QUERY_BYTES {
        return Err(ScimError::invalid_value(format!(
            "query string longer than {MAX_QUERY_BYTES} bytes"
        )));
    }
    let (mut seen_start, mut seen_count, mut seen_attrs, mut seen_excluded) =
        (false, false, false, false);
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(k, true)
            .ok_or_else(|| ScimError::invalid_value("malformed percent-encoding in the query"))?;
        let is = |name: &str| key.eq_ignore_ascii_case(name);
        let decode = |bad: fn(String) -> ScimError| {
            percent_decode(v, true).ok_or_else(|| {
                bad(format!(
                    "malformed percent-encoding in the query parameter '{}'",
                    excerpt(&key)
                ))
            })
        };
        let twice = |name: &str| {
            ScimError::invalid_value(format!("the query parameter '{name}' is given twice"))
        };
        if is("filter") {
            if q.filter.is_some() {
                return Err(ScimError::invalid_filter(
                    "the query parameter 'filter' is given twice",
                ));
            }
            q.filter = Some(decode(ScimError::invalid_filter)?);
        } else if is("startIndex") {
            if std::mem::replace(&mut seen_start, true) {
                return Err(twice("startIndex"));
            }
            let n = integer("startIndex", &decode(ScimError::invalid_value)?)?;
            q.start_index = u64::try_from(n.max(1)).unwrap_or(1);
        } else if is("count") {
            if std::mem::replace(&mut seen_count, true) {
                return Err(twice("count"));
            }
            let n = integer("count", &decode(ScimError::invalid_value)?)?;
            q.count = Some(u64::try_from(n.max(0)).unwrap_or(0).min(MAX_RESULTS));
        } else if is("attributes") {
            if std::mem::replace(&mut seen_attrs, true) {
                return Err(twice("attributes"));
            }
            q.attributes = attribute_list("attributes", &decode(ScimError::invalid_value)?)?;
        } else if is("excludedAttributes") {
            if std::mem::replace(&mut seen_excluded, true) {
                return Err(twice("excludedAttributes"));
            }
            q.excluded_attributes =
                attribute_list("excludedAttributes", &decode(ScimError::invalid_value)?)?;
        }
    }
    Ok(q)
}

/// The names of a comma-separated list, trimmed, empty items dropped,
/// repeats (in any case) kept once; more than [`MAX_ATTRIBUTE_NAMES`] is
/// `400 invalidValue`.
fn attribute_list(param: &str, v: &str) -> Result<Vec<String>, ScimError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for a in v
        .split(',')
        .map(|a| a.trim_matches(|c: char| c == ' ' || c == '\t'))
        .filter(|a| !a.is_empty())
    {
        if seen.insert(a.to_ascii_lowercase()) {
            if out.len() == MAX_ATTRIBUTE_NAMES {
                return Err(ScimError::invalid_value(format!(
                    "{param} lists more than {MAX_ATTRIBUTE_NAMES} attributes"
                )));
            }
            out.push(a.to_string());
        }
    }
    Ok(out)
}

/// `-?[0-9]+`, saturating at the i64 range.
fn integer(name: &str, v: &str) -> Result<i64, ScimError> {
    let (neg, digits) = match v.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, v),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ScimError::invalid_value(format!(
            "{name} must be an integer, not '{}'",
            excerpt(v)
        )));
    }
    let mut n: i64 = 0;
    for b in digits.bytes() {
        let d = i64::from(b - b'0');
        n = n.saturating_mul(10).saturating_add(d);
    }
    Ok(if neg { -n } else { n })
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoding (`plus_is_space`: form encoding, `+` is a space);
/// `None` on a malformed escape or a result that is not UTF-8.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = hex(*bytes.get(i + 1)?)?;
                let lo = hex(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The request body as a JSON object. Absent or blank is `400
/// invalidSyntax`; over [`MAX_BODY_BYTES`] is `413`; not JSON (including
/// nesting beyond serde_json's recursion limit of 128) or not an object is
/// `400 invalidSyntax`.
pub fn parse_body(body: Option<&str>) -> Result<Value, ScimError> {
    let text = body.unwrap_or("");
    if text.len() > MAX_BODY_BYTES {
        return Err(ScimError::new(
            413,
            None,
            format!(
                "the request body is {} bytes; the limit is {MAX_BODY_BYTES}",
                text.len()
            ),
        ));
    }
    if text.trim().is_empty() {
        return Err(ScimError::invalid_syntax("a JSON request body is required"));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}"))
    })?;
    if !value.is_object() {
        return Err(ScimError::invalid_syntax(
            "the request body must be a JSON object",
        ));
    }
    Ok(value)
}
