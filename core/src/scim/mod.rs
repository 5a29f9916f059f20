//! SCIM 2.0 (RFC 7643 / RFC 7644) request handling, pure: the groundwork of
//! the SQL function `jit.scim(method, path, query, body, authorization,
//! base_url)` (see `sql-api.md`, "SCIM 2.0 through SQL"). No SQL, no I/O:
//! text in, typed values or a [`ScimError`] out. Nothing here panics on
//! input, and every error carries the status and `scimType` the response
//! must have.
//!
//! What is here:
//!
//! * [`request`]: `method` + `path` → [`Route`] (404 / 405 / 501),
//!   the raw query string → [`Query`] (percent-decoding, `startIndex` /
//!   `count` clamping), the body → a JSON object (413 over 1 MiB, 400
//!   `invalidSyntax` for broken JSON).
//! * [`filter`]: the `filter` parameter → a [`Filter`] AST: a conjunction of
//!   `eq` comparisons on the attributes jit_provision stores. Anything else
//!   is `400 invalidFilter`, never ignored.
//! * [`resource`]: a POST/PUT body → [`UserInput`] / [`GroupInput`], the
//!   stored attributes only.
//! * [`patch`]: a PATCH body → an ordered list of [`UserChange`] /
//!   [`GroupChange`].
//! * [`error`]: [`ScimError`] and its RFC 7644 Error body.
//! * [`plan()`]: all of the above for one request, as the JSON plan the
//!   SQL side executes; [`projection`]: `attributes` /
//!   `excludedAttributes`; [`discovery`]: `/ServiceProviderConfig`,
//!   `/ResourceTypes`, `/Schemas`; [`auth`]: bearer tokens.
//!
//! What the SQL side does with it (`jit.scim`, `sql/scim*.sql`): the bearer
//! token check (401) and provider isolation, 404 for unknown or retired
//! ids, 409 `uniqueness`, adoption of a row a login created, the resource
//! documents (`meta`, `ETag` / `If-Match`, ListResponse), membership
//! ownership and the audit trail. Filter comparisons become fixed column
//! expressions with the value as a bound parameter — never spliced into
//! SQL text, never a `LIKE` pattern. Every change of one request runs in
//! one subtransaction: any error rolls it all back.
//!
//! Choices:
//!
//! * Strict everywhere that changes what is matched or written: unknown
//!   filter attributes/operators, unknown PATCH paths, wrong value types are
//!   errors. POST/PUT bodies ignore attributes that are not stored
//!   (`password`, `locale`, `groups`, `name.formatted`...) as RFC 7644 3.3
//!   and Okta's full-user PUT need, but type-check those that are.
//! * Unquoted filter values (Entra ID, Okta): a bare token up to whitespace,
//!   `)` or `]`, without `"`, `\`, `(`, `)`, `[`, `]`, taken as a literal
//!   string; `true`/`false`/`null` are literals, and invalid for the string
//!   attributes supported. `+` in a query is a space (form encoding), so an
//!   unencoded `+` in a userName yields an error, not a different match.
//! * One stored email: `emails` maps to `jit.users.email` = the primary
//!   (else first) value. A write through `emails[type eq "<any>"].value`
//!   sets it (the element is "created" when missing); `.primary` writes are
//!   accepted and store nothing; `emails[value eq "x"]` removal clears it
//!   only when it equals `x` ([`UserChange::RemoveEmail`]); adding a
//!   non-primary email sets it only when none is stored
//!   ([`UserChange::AddEmail`]).
//! * Booleans: JSON `true`/`false` or the strings `"True"`/`"False"` (any
//!   case), as Entra ID sends. `active` cannot be removed (400 mutability):
//!   removing it must not silently re-enable nor disable a user.
//! * Member and resource ids are UUIDs (`jit.users.id`); anything else in a
//!   member list is `400 invalidValue` (it cannot name a user). Ids are
//!   canonicalised to lower case.
//! * `Remove` of `members` with a value list removes only the listed
//!   members; `members[value eq "x"]` only that one; `Remove` of `members`
//!   without a value is RFC 7644's "remove all" and is emitted as
//!   [`GroupChange::ReplaceMembers`] with an empty list — which the SQL side
//!   applies to SCIM-granted memberships only, like every replace.
//! * `id` may appear in a path-less replace value (Okta's group rename
//!   sends it) when it equals the resource's id; otherwise, and for `meta`,
//!   `400 mutability`.
//! * `UserInput::active` is `None` when absent: a POST without it creates an
//!   active user, a PUT without it leaves the block state as it is (Okta's
//!   PUT always carries it).
//! * Budgets: body 1 MiB ([`MAX_BODY_BYTES`], 413), query string 64 KiB,
//!   filter 4 KiB ([`MAX_FILTER_BYTES`]), [`MAX_OPERATIONS`] = 1000 PATCH
//!   operations, JSON nesting 128 (serde_json), pages of at most
//!   [`MAX_RESULTS`]. Every parser is a single pass.
//! * Attribute names and `op` values are case-insensitive; JSON object keys
//!   within a body are matched case-insensitively, and the same attribute
//!   given twice under different cases is `400 invalidSyntax`.

pub mod auth;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod patch;
pub mod plan;
pub mod projection;
pub mod request;
pub mod resource;
mod schema;
mod value;

pub use error::{ScimError, ScimType};
pub use filter::{parse_filter, Comparison, Filter, FilterAttr, MAX_FILTER_BYTES};
pub use patch::{
    normalize_group_patch, normalize_user_patch, GroupChange, UserChange, MAX_OPERATIONS,
    PATCH_OP_SCHEMA,
};
pub use plan::plan;
pub use projection::project;
pub use request::{
    allowed_methods, parse_body, parse_query, parse_route, Query, Route, SchemaId, MAX_BODY_BYTES,
    MAX_RESULTS,
};
pub use resource::{parse_group, parse_user, GroupInput, UserInput};
pub use schema::{
    canonical_uuid, Resource, CORE_GROUP_SCHEMA, CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA,
};
