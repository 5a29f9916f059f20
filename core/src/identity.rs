//! What a verified token says about its user, already mapped to user fields.

use serde_json::{Map, Value};

/// The outcome of a successful verification. Every value here was read from
/// the signed claims (OIDC) or the signed element (SAML), nowhere else.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The provider's `name`.
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
    /// OIDC `email_verified` as sent; `None` when absent (and for SAML).
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// Group names as the IdP sent them (before `jit.group_map`).
    pub idp_groups: Vec<String>,
    /// False when the IdP signalled that the group list is partial (Entra ID
    /// overage): memberships may then be added but never removed.
    pub groups_complete: bool,
    /// `attributes.<key>` fields of the claim map.
    pub attributes: Map<String, Value>,
    /// Replay key: OIDC `jti` (else SHA-256 hex of the token), SAML Assertion ID.
    pub token_id: String,
    /// Unix seconds after which the token is no longer acceptable.
    pub expires_at: i64,
    /// Unix seconds of `iat` / IssueInstant, when present.
    pub issued_at: Option<i64>,
}

impl Identity {
    /// The JSON handed to the SQL layer and returned by `jit.verify`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("provider".into(), Value::String(self.provider.clone()));
        m.insert("subject".into(), Value::String(self.subject.clone()));
        let opt = |v: &Option<String>| v.clone().map(Value::String).unwrap_or(Value::Null);
        m.insert("email".into(), opt(&self.email));
        m.insert("name".into(), opt(&self.name));
        m.insert("given_name".into(), opt(&self.given_name));
        m.insert("family_name".into(), opt(&self.family_name));
        m.insert(
            "idp_groups".into(),
            Value::Array(self.idp_groups.iter().cloned().map(Value::String).collect()),
        );
        m.insert("groups_complete".into(), Value::Bool(self.groups_complete));
        m.insert("attributes".into(), Value::Object(self.attributes.clone()));
        m.insert("token_id".into(), Value::String(self.token_id.clone()));
        m.insert("expires_at".into(), Value::from(self.expires_at));
        m.insert(
            "issued_at".into(),
            self.issued_at.map(Value::from).unwrap_or(Value::Null),
        );
        Value::Object(m)
    }
}
