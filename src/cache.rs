//! Per-backend caches of provider configuration: verifier-ready providers,
//! keyed by issuer, and the few settings and group mappings the write path
//! needs, keyed by provider name.
//!
//! Parsing a JWKS or a certificate is the expensive part of a login, so it
//! happens once per backend; reading the group mappings once per backend
//! saves every login a query. Writes to `jit.providers`, `jit.claim_map` and
//! `jit.group_map` fire a trigger that queues a relcache invalidation of `jit.providers`;
//! Postgres delivers it to every backend at its next transaction start (and
//! to the writing backend at its next command), where the callback below
//! drops the cache. No SQL runs on a cache hit.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use jit_provision_core::group_map::GroupMap;
use jit_provision_core::Provider;
use pgrx::datum::Interval;
use pgrx::prelude::*;

/// What the write path needs of a provider besides what the verifier has.
pub struct WriteSettings {
    /// Added to a token's expiry for its `jit.seen_tokens` row: the
    /// verifier accepts a token that long after it expired.
    pub clock_skew: Interval,
    pub sync_groups: bool,
    /// `on_login`, the hook function's oid (its name and owner are looked
    /// up at each call: a rename or an owner change does not touch this row).
    pub on_login: Option<pg_sys::Oid>,
    pub group_map: GroupMap,
}

thread_local! {
    static PROVIDERS: RefCell<HashMap<String, Rc<Provider>>> = RefCell::new(HashMap::new());
    static WRITE_SETTINGS: RefCell<HashMap<String, Rc<WriteSettings>>> = RefCell::new(HashMap::new());
    /// OID of jit.providers, learned at the first load; invalidations of other
    /// relations leave the cache alone.
    static PROVIDERS_OID: Cell<pg_sys::Oid> = const { Cell::new(pg_sys::InvalidOid) };
    static CALLBACK_REGISTERED: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: (the contract) only PostgreSQL calls this, as a
// RelcacheCallbackFunction registered by `ensure_callback`, on the backend's
// own thread; it takes its arguments by value, dereferences no pointer and
// calls no PostgreSQL function, and #[pg_guard] keeps a Rust panic from
// unwinding into C.
#[pg_guard]
unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    // Runs inside invalidation processing: only plain memory work here.
    let ours = PROVIDERS_OID.with(|o| o.get());
    if relid == pg_sys::InvalidOid || relid == ours {
        PROVIDERS.with(|p| {
            if let Ok(mut map) = p.try_borrow_mut() {
                map.clear();
            }
        });
        WRITE_SETTINGS.with(|w| {
            if let Ok(mut map) = w.try_borrow_mut() {
                map.clear();
            }
        });
    }
}

fn ensure_callback() {
    if !CALLBACK_REGISTERED.with(|c| c.replace(true)) {
        // Registered once per backend; Postgres keeps it for the backend's life.
        // SAFETY: we are on the backend's thread (pgrx runs SQL-callable
        // functions nowhere else). The callback has the C signature Postgres
        // expects and lives as long as the backend (a loaded library is never
        // unloaded); its Datum argument is unused. CALLBACK_REGISTERED makes
        // this happen once, so the backend's fixed table of relcache
        // callbacks (MAX_RELCACHE_CALLBACKS) cannot overflow into a FATAL.
        unsafe {
            pg_sys::CacheRegisterRelcacheCallback(
                Some(on_relcache_invalidation),
                pg_sys::Datum::from(0usize),
            );
        }
    }
}

/// The provider whose issuer is `issuer`, loaded and parsed on first use.
/// `None` when no provider has that issuer.
pub fn provider_for_issuer(issuer: &str) -> Option<Rc<Provider>> {
    ensure_callback();
    if let Some(p) = PROVIDERS.with(|p| p.borrow().get(issuer).cloned()) {
        return Some(p);
    }
    // A read-only SPI select: this must work on a hot standby (jit.verify)
    // and must not assign a transaction id.
    let row = Spi::connect(|client| {
        let row = client
            .select(
                "select jit._provider_config(p), 'jit.providers'::regclass::oid \
                 from jit.providers p where p.issuer = $1",
                Some(1),
                &[issuer.into()],
            )?
            .first();
        Ok::<_, pgrx::spi::SpiError>((row.get::<pgrx::JsonB>(1)?, row.get::<pg_sys::Oid>(2)?))
    });
    let (config, oid) = match row {
        Ok((Some(config), Some(oid))) => (config, oid),
        Ok(_) | Err(pgrx::spi::SpiError::InvalidPosition) => return None,
        Err(e) => error!("jit_provision: cannot read jit.providers: {e}"),
    };
    PROVIDERS_OID.with(|o| o.set(oid));
    let provider = match crate::config::provider_from_json(&config.0) {
        Ok(p) => Rc::new(p),
        // Rows are validated when written, so this means the row predates a
        // stricter check; refuse loudly rather than verify with half a config.
        Err(e) => error!("jit_provision: provider for issuer '{issuer}' is not usable: {e}"),
    };
    PROVIDERS.with(|p| {
        p.borrow_mut()
            .insert(issuer.to_string(), Rc::clone(&provider))
    });
    Some(provider)
}

/// The write-path settings of the provider named `name` (which the verifier
/// has just found, so the row exists), loaded on first use.
pub fn write_settings(name: &str) -> Rc<WriteSettings> {
    ensure_callback();
    if let Some(w) = WRITE_SETTINGS.with(|w| w.borrow().get(name).cloned()) {
        return w;
    }
    let row = Spi::connect(|client| {
        let row = client
            .select(
                "select p.clock_skew, p.sync_groups, p.on_login::oid, \
                        array(select g.idp_group from jit.group_map g \
                              where g.provider = p.name order by g.idp_group, g.app_group), \
                        array(select g.app_group from jit.group_map g \
                              where g.provider = p.name order by g.idp_group, g.app_group), \
                        'jit.providers'::regclass::oid \
                 from jit.providers p where p.name = $1",
                Some(1),
                &[name.into()],
            )?
            .first();
        Ok::<_, pgrx::spi::SpiError>((
            row.get::<Interval>(1)?,
            row.get::<bool>(2)?,
            row.get::<pg_sys::Oid>(3)?,
            row.get::<Vec<String>>(4)?,
            row.get::<Vec<String>>(5)?,
            row.get::<pg_sys::Oid>(6)?,
        ))
    });
    let settings = match row {
        Ok((Some(clock_skew), Some(sync_groups), on_login, Some(idp), Some(app), Some(oid))) => {
            PROVIDERS_OID.with(|o| o.set(oid));
            WriteSettings {
                clock_skew,
                sync_groups,
                on_login,
                group_map: GroupMap::new(idp.into_iter().zip(app)),
            }
        }
        Ok(_) | Err(pgrx::spi::SpiError::InvalidPosition) => {
            error!("jit_provision: provider '{name}' is gone")
        }
        Err(e) => error!("jit_provision: cannot read jit.providers: {e}"),
    };
    let settings = Rc::new(settings);
    WRITE_SETTINGS.with(|w| {
        w.borrow_mut()
            .insert(name.to_string(), Rc::clone(&settings))
    });
    settings
}

/// Trigger body: tells every backend that provider configuration changed.
#[pg_extern(schema = "jit", name = "_config_changed")]
fn config_changed(relid: pg_sys::Oid) {
    // SAFETY: called as a SQL function, so on the backend's thread inside a
    // transaction (which queuing an invalidation requires); the Oid is
    // passed by value, and an Oid that names no relation makes Postgres
    // raise an ordinary ERROR, which pgrx turns into a Rust panic.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(relid) };
}
