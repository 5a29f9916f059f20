//! `attributes` and `excludedAttributes` (RFC 7644 section 3.4.2.5) applied
//! to a resource document as the SQL side built it.
//!
//! An attribute is named `attr`, `attr.sub`, or either prefixed by a schema
//! URN and `:` (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`);
//! a bare extension URN names the whole extension. Names are
//! case-insensitive. `id` and `schemas` are always returned; names that
//! match nothing are ignored, as the RFC's "returned" rules allow.

use serde_json::{Map, Value};

use super::schema::{CORE_GROUP_SCHEMA, CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA};

/// Where a requested attribute lives: the top level or inside the
/// extension object, and an optional sub-attribute.
struct Name {
    ext: bool,
    attr: String,
    sub: Option<String>,
}

fn parse(spec: &str) -> Option<Name> {
    let spec = spec.trim();
    let lower = spec.to_ascii_lowercase();
    let ext_urn = ENTERPRISE_USER_SCHEMA.to_ascii_lowercase();
    let (ext, rest) = if lower == ext_urn {
        return Some(Name {
            ext: false,
            attr: ENTERPRISE_USER_SCHEMA.to_ascii_lowercase(),
            sub: None,
        });
    } else if let Some(r) = lower.strip_prefix(&format!("{ext_urn}:")) {
        (true, r.to_string())
    } else if let Some(r) = [CORE_USER_SCHEMA, CORE_GROUP_SCHEMA]
        .iter()
        .find_map(|u| lower.strip_prefix(&format!("{}:", u.to_ascii_lowercase())))
    {
        (false, r.to_string())
    } else {
        (false, lower)
    };
    let (attr, sub) = match rest.split_once('.') {
        Some((a, s)) => (a.to_string(), Some(s.to_string())),
        None => (rest, None),
    };
    (!attr.is_empty()).then_some(Name { ext, attr, sub })
}

fn always(key: &str) -> bool {
    key.eq_ignore_ascii_case("id") || key.eq_ignore_ascii_case("schemas")
}

fn is_ext(key: &str) -> bool {
    key.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA)
}

/// Keeps only `sub` of a complex value (each element of a multi-valued
/// one); `None` when nothing is left.
fn keep_sub(v: &Value, sub: &str) -> Option<Value> {
    let pick = |o: &Map<String, Value>| -> Option<Value> {
        let m: Map<String, Value> = o
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(sub))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (!m.is_empty()).then_some(Value::Object(m))
    };
    match v {
        Value::Object(o) => pick(o),
        Value::Array(items) => {
            let kept: Vec<Value> = items
                .iter()
                .filter_map(|i| i.as_object().and_then(pick))
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        _ => None,
    }
}

/// Removes `sub` from a complex value (each element of a multi-valued one).
fn drop_sub(v: &mut Value, sub: &str) {
    let strip = |o: &mut Map<String, Value>| o.retain(|k, _| !k.eq_ignore_ascii_case(sub));
    match v {
        Value::Object(o) => strip(o),
        Value::Array(items) => items
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .for_each(strip),
        _ => {}
    }
}

/// Merges `add` into `into` (both objects): used when `name.givenName` and
/// `name.familyName` are both asked for.
fn merge(into: &mut Value, add: Value) {
    match (into, add) {
        (Value::Object(a), Value::Object(b)) => a.extend(b),
        (Value::Array(a), Value::Array(b)) => {
            for (x, y) in a.iter_mut().zip(b) {
                merge(x, y);
            }
        }
        _ => {}
    }
}

fn select(obj: &Map<String, Value>, names: &[&Name]) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in obj {
        if always(k) {
            out.insert(k.clone(), v.clone());
            continue;
        }
        for n in names.iter().filter(|n| k.eq_ignore_ascii_case(&n.attr)) {
            let picked = match &n.sub {
                None => Some(v.clone()),
                Some(s) => keep_sub(v, s),
            };
            if let Some(p) = picked {
                match out.get_mut(k) {
                    Some(existing) if n.sub.is_some() => merge(existing, p),
                    _ => {
                        out.insert(k.clone(), p);
                    }
                }
            }
        }
    }
    out
}

/// `doc` with `attributes` (when not empty: only those, plus `id` and
/// `schemas`), then without `excluded`.
pub fn project(doc: &Value, attributes: &[String], excluded: &[String]) -> Value {
    let Value::Object(obj) = doc else {
        return doc.clone();
    };
    let mut out = obj.clone();
    if !attributes.is_empty() {
        let names: Vec<Name> = attributes.iter().filter_map(|a| parse(a)).collect();
        let core: Vec<&Name> = names.iter().filter(|n| !n.ext).collect();
        let ext: Vec<&Name> = names.iter().filter(|n| n.ext).collect();
        let mut kept = select(obj, &core);
        if !ext.is_empty() {
            if let Some((k, Value::Object(e))) = obj.iter().find(|(k, _)| is_ext(k)) {
                let inner = select(e, &ext);
                if !inner.is_empty() {
                    kept.insert(k.clone(), Value::Object(inner));
                }
            }
        }
        out = kept;
    }
    for n in excluded.iter().filter_map(|a| parse(a)) {
        let target = if n.ext {
            match out.iter_mut().find(|(k, _)| is_ext(k)) {
                Some((_, Value::Object(e))) => e,
                _ => continue,
            }
        } else {
            &mut out
        };
        match &n.sub {
            None => target.retain(|k, _| always(k) || !k.eq_ignore_ascii_case(&n.attr)),
            Some(s) => {
                if let Some((_, v)) = target
                    .iter_mut()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&n.attr))
                {
                    drop_sub(v, s);
                }
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": [CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "id": "1",
            "userName": "bjensen",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "b@example.com", "primary": true}],
            ENTERPRISE_USER_SCHEMA: {"department": "Tour", "employeeNumber": "7"},
            "meta": {"resourceType": "User"},
        })
    }

    #[test]
    fn attributes_keep_only_named_plus_id() {
        let p = project(&user(), &["userName".into(), "name.givenName".into()], &[]);
        assert_eq!(
            p,
            json!({"schemas": [CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA], "id": "1",
                   "userName": "bjensen", "name": {"givenName": "Barbara"}})
        );
    }

    #[test]
    fn sub_attributes_of_one_parent_merge() {
        let p = project(
            &user(),
            &["name.givenName".into(), "NAME.familyName".into()],
            &[],
        );
        assert_eq!(
            p["name"],
            json!({"givenName": "Barbara", "familyName": "Jensen"})
        );
    }

    #[test]
    fn extension_attributes_by_urn() {
        let a = format!("{ENTERPRISE_USER_SCHEMA}:department");
        let p = project(&user(), &[a], &[]);
        assert_eq!(p[ENTERPRISE_USER_SCHEMA], json!({"department": "Tour"}));
        assert!(p.get("userName").is_none());
    }

    #[test]
    fn excluded_attributes_never_drop_id() {
        let p = project(
            &user(),
            &[],
            &["emails".into(), "id".into(), "name.familyName".into()],
        );
        assert!(p.get("emails").is_none());
        assert_eq!(p["id"], "1");
        assert_eq!(p["name"], json!({"givenName": "Barbara"}));
        let p = project(&user(), &[], &[ENTERPRISE_USER_SCHEMA.into()]);
        assert!(p.get(ENTERPRISE_USER_SCHEMA).is_none());
    }

    #[test]
    fn multi_valued_sub_attribute() {
        let p = project(&user(), &["emails.value".into()], &[]);
        assert_eq!(p["emails"], json!([{"value": "b@example.com"}]));
    }
}
