//! The write path of a login (steps 2 to 6 of the contract): what
//! `jit_login` persists once the core has verified the token.
//!
//! Most logins are a returning user whose groups did not change. That case
//! is one SQL statement with typed parameters, planned once per backend
//! ([`RETURNING_LOGIN`]): it claims the token's replay row, updates the user
//! unless it is blocked, writes the audit row, and reads the user's
//! memberships, from which the core decides whether the groups are settled.
//! Everything else goes to the plpgsql in `sql/login.sql`, which holds the
//! full rules: a replayed token, a first login (admission, seats), a
//! blocked user (`jit._apply_login`), and groups that changed
//! (`jit._sync_login_groups`).

use std::cell::RefCell;
use std::thread::LocalKey;

use jit_provision_core::group_map::{settled, Held};
use jit_provision_core::Identity;
use pgrx::prelude::*;
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiError, SpiTupleTable};
use pgrx::{JsonB, PgOid, Uuid};

use crate::cache::{self, WriteSettings};
use crate::schema_version;

/// A returning user's login in one statement. The replay row comes first:
/// the update runs only when the token is fresh, and only on a user that
/// is not blocked (in READ COMMITTED, re-checked on the newest row version
/// when a concurrent deprovision or SCIM change got there first). The audit
/// row is written for the user updated, so none is written when nothing
/// was. When the statement updates no user, it has written nothing but
/// (for a fresh token) the replay row, and `jit._apply_login` carries on
/// from there.
const RETURNING_LOGIN: &str = "\
with seen as (
    insert into jit.seen_tokens as s (provider, token_id, expires_at)
    values ($1, $3, pg_catalog.to_timestamp($4) + $5)
    on conflict (provider, token_id) do update
        set expires_at = excluded.expires_at
        where s.expires_at <= pg_catalog.now()
    returning true),
returning_user as (
    update jit.users u
    set email = $6, name = $7, given_name = $8, family_name = $9, attributes = $10,
        updated_at = pg_catalog.now(), last_login_at = pg_catalog.now(),
        login_count = u.login_count + 1, disabled_at = null
    where u.provider = $1 and u.subject = $2 and not u.blocked
      and exists (select from seen)
    returning u.id),
audit as (
    insert into jit.login_events (provider, subject, user_id, outcome, token_id)
    select $1, $2, r.id, 'updated', $3 from returning_user r)
select exists (select from seen), r.id, m.all_groups, m.by_login, m.by_provider
from (values (1)) one
left join returning_user r on true
left join lateral (
    -- One sort, for the result's order; the other two are sets.
    select pg_catalog.array_agg(g.group_name order by g.group_name) as all_groups,
           pg_catalog.array_agg(g.group_name) filter (where g.via_login) as by_login,
           pg_catalog.array_agg(g.group_name) filter (where g.via_login and g.source = $1)
               as by_provider
    from jit.memberships g where g.user_id = r.id) m on true";

const SYNC_GROUPS: &str = "select jit._sync_login_groups($1, $2, $3, $4)";

/// The write path of versions before 0.6.0, for a database whose SQL has
/// not been updated yet (see `schema_version`).
const LEGACY_APPLY_LOGIN: &str =
    "select user_id, created, groups, hook, hook_owner from jit._apply_login($1)";

const APPLY_LOGIN: &str =
    "select user_id, created, groups, hook, hook_owner from jit._apply_login($1, $2, $3)";

/// The hook's name and owner, as `jit._apply_login` reports them.
const HOOK: &str = "select $1::pg_catalog.regprocedure::pg_catalog.regproc::pg_catalog.text, \
                    (select p.proowner from pg_catalog.pg_proc p where p.oid = $1)";

thread_local! {
    static RETURNING_LOGIN_PLAN: RefCell<Option<OwnedPreparedStatement>> = const { RefCell::new(None) };
    static SYNC_GROUPS_PLAN: RefCell<Option<OwnedPreparedStatement>> = const { RefCell::new(None) };
    static APPLY_LOGIN_PLAN: RefCell<Option<OwnedPreparedStatement>> = const { RefCell::new(None) };
    static LEGACY_APPLY_LOGIN_PLAN: RefCell<Option<OwnedPreparedStatement>> = const { RefCell::new(None) };
    static HOOK_PLAN: RefCell<Option<OwnedPreparedStatement>> = const { RefCell::new(None) };
}

/// What the login wrote: the login result, and the hook to call (its
/// regproc text and owner) if the provider has one.
pub struct Applied {
    pub user_id: Uuid,
    pub created: bool,
    pub groups: Vec<String>,
    pub hook: Option<(String, pg_sys::Oid)>,
}

/// Runs `sql` through a plan prepared once per backend and kept: the plan
/// cache revalidates it when the objects it uses change.
fn run<'c>(
    client: &mut SpiClient<'c>,
    cell: &'static LocalKey<RefCell<Option<OwnedPreparedStatement>>>,
    sql: &str,
    types: &[pg_sys::Oid],
    args: &[pgrx::datum::DatumWithOid],
) -> Result<SpiTupleTable<'c>, SpiError> {
    cell.with(|cell| {
        let mut plan = cell.borrow_mut();
        if plan.is_none() {
            let oids: Vec<PgOid> = types.iter().map(|t| PgOid::from(*t)).collect();
            *plan = Some(client.prepare_mut(sql, &oids)?.keep());
        }
        match plan.as_ref() {
            Some(p) => client.update(p, Some(1), args),
            None => Err(SpiError::NoTupleTable),
        }
    })
}

/// Runs `f` with `enable_seqscan = off`, as the plpgsql write path runs
/// (see sql/login.sql): every statement here finds its rows through an
/// index, and a plan made while a table was small must not keep scanning
/// it as it grows. The setting is restored on return; an error unwinds it
/// with the (sub)transaction, as for a function's SET clause.
fn with_index_plans<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: on the backend's thread inside a transaction; both strings
    // are NUL-terminated statics that set_config_option copies. This is
    // what fmgr does for a function's SET clause: a new GUC nest level,
    // a GUC_ACTION_SAVE assignment, and AtEOXact_GUC(true, level) to pop
    // it; an ERROR in between is unwound by the (sub)transaction's abort.
    let level = unsafe {
        let level = pg_sys::NewGUCNestLevel();
        pg_sys::set_config_option(
            c"enable_seqscan".as_ptr(),
            c"off".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
        level
    };
    let out = f();
    // SAFETY: pops the level opened above, on the same thread, in the same
    // transaction (f returned normally).
    unsafe { pg_sys::AtEOXact_GUC(true, level) };
    out
}

/// Persists a verified login. Every rejection raises 28000 (through
/// `jit._reject`), rolling back what was written.
pub fn apply(identity: &Identity) -> Applied {
    let applied = if schema_version::write_path_is_current() {
        let settings = cache::write_settings(&identity.provider);
        let grants = settings.group_map.grants(&identity.idp_groups);
        let sync = settings.sync_groups && identity.groups_complete;
        with_index_plans(|| {
            Spi::connect_mut(|client| returning_login(client, identity, &settings, &grants, sync))
        })
    } else {
        Spi::connect_mut(|client| legacy_apply_login(client, identity))
    };
    match applied {
        Ok(a) => a,
        Err(e) => error!("jit_provision: login failed: {e}"),
    }
}

fn returning_login(
    client: &mut SpiClient<'_>,
    identity: &Identity,
    settings: &WriteSettings,
    grants: &[String],
    sync: bool,
) -> Result<Applied, SpiError> {
    use pg_sys::{FLOAT8OID, INTERVALOID, JSONBOID, TEXTOID};
    let attributes = JsonB(serde_json::Value::Object(identity.attributes.clone()));
    let row = run(
        client,
        &RETURNING_LOGIN_PLAN,
        RETURNING_LOGIN,
        &[
            TEXTOID,
            TEXTOID,
            TEXTOID,
            FLOAT8OID,
            INTERVALOID,
            TEXTOID,
            TEXTOID,
            TEXTOID,
            TEXTOID,
            JSONBOID,
        ],
        &[
            identity.provider.as_str().into(),
            identity.subject.as_str().into(),
            identity.token_id.as_str().into(),
            // Unix seconds as the plpgsql path reads them from the JSON
            // identity; exact for every representable date.
            (identity.expires_at as f64).into(),
            settings.clock_skew.into(),
            identity.email.as_deref().into(),
            identity.name.as_deref().into(),
            identity.given_name.as_deref().into(),
            identity.family_name.as_deref().into(),
            attributes.into(),
        ],
    )?
    .first();
    let fresh = row.get::<bool>(1)?.unwrap_or(false);
    let user_id = row.get::<Uuid>(2)?;
    let (Some(user_id), true) = (user_id, fresh) else {
        // Not settled here: nothing was written but the replay row, which
        // `fresh` tells jit._apply_login it need not (must not) write again.
        return apply_login(client, identity, grants, fresh);
    };
    let all = row.get::<Vec<String>>(3)?.unwrap_or_default();
    let by_login = row.get::<Vec<String>>(4)?.unwrap_or_default();
    let by_this_provider = row.get::<Vec<String>>(5)?.unwrap_or_default();
    let held = Held {
        by_login: &by_login,
        by_this_provider: &by_this_provider,
    };
    let groups = if settled(grants, &held, sync) {
        all
    } else {
        sync_groups(client, user_id, &identity.provider, grants, sync)?
    };
    let hook = match settings.on_login {
        Some(oid) => hook_of(client, oid)?,
        None => None,
    };
    Ok(Applied {
        user_id,
        created: false,
        groups,
        hook,
    })
}

fn sync_groups(
    client: &mut SpiClient<'_>,
    user_id: Uuid,
    provider: &str,
    grants: &[String],
    sync: bool,
) -> Result<Vec<String>, SpiError> {
    use pg_sys::{BOOLOID, TEXTARRAYOID, TEXTOID, UUIDOID};
    let row = run(
        client,
        &SYNC_GROUPS_PLAN,
        SYNC_GROUPS,
        &[UUIDOID, TEXTOID, TEXTARRAYOID, BOOLOID],
        &[
            user_id.into(),
            provider.into(),
            grants.to_vec().into(),
            sync.into(),
        ],
    )?
    .first();
    Ok(row.get::<Vec<String>>(1)?.unwrap_or_default())
}

fn hook_of(
    client: &mut SpiClient<'_>,
    oid: pg_sys::Oid,
) -> Result<Option<(String, pg_sys::Oid)>, SpiError> {
    let row = run(client, &HOOK_PLAN, HOOK, &[pg_sys::OIDOID], &[oid.into()])?.first();
    Ok(match (row.get::<String>(1)?, row.get::<pg_sys::Oid>(2)?) {
        (Some(name), Some(owner)) => Some((name, owner)),
        _ => None,
    })
}

fn apply_login(
    client: &mut SpiClient<'_>,
    identity: &Identity,
    grants: &[String],
    replay_claimed: bool,
) -> Result<Applied, SpiError> {
    use pg_sys::{BOOLOID, JSONBOID, TEXTARRAYOID};
    let table = run(
        client,
        &APPLY_LOGIN_PLAN,
        APPLY_LOGIN,
        &[JSONBOID, TEXTARRAYOID, BOOLOID],
        &[
            JsonB(identity.to_json()).into(),
            grants.to_vec().into(),
            replay_claimed.into(),
        ],
    )?;
    applied_row(table)
}

fn legacy_apply_login(
    client: &mut SpiClient<'_>,
    identity: &Identity,
) -> Result<Applied, SpiError> {
    let table = run(
        client,
        &LEGACY_APPLY_LOGIN_PLAN,
        LEGACY_APPLY_LOGIN,
        &[pg_sys::JSONBOID],
        &[JsonB(identity.to_json()).into()],
    )?;
    applied_row(table)
}

/// A `jit._applied` row: (user_id, created, groups, hook, hook_owner).
fn applied_row(table: SpiTupleTable<'_>) -> Result<Applied, SpiError> {
    let row = table.first();
    let (Some(user_id), Some(created)) = (row.get::<Uuid>(1)?, row.get::<bool>(2)?) else {
        error!("jit_provision: login produced no user")
    };
    let hook = match (row.get::<String>(4)?, row.get::<pg_sys::Oid>(5)?) {
        (Some(name), Some(owner)) => Some((name, owner)),
        _ => None,
    };
    Ok(Applied {
        user_id,
        created,
        groups: row.get::<Vec<String>>(3)?.unwrap_or_default(),
        hook,
    })
}
