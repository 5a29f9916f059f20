//! Whether this database runs the extension's current SQL, or an earlier
//! version's that `ALTER EXTENSION jit_provision UPDATE` has not replaced
//! yet.
//!
//! A new build is installed for the whole server at once; each database
//! keeps its SQL until it is updated. Logins must keep working in between,
//! so the write path asks here which functions it may call (see
//! `write_path::apply`). The answer is kept per backend and dropped
//! whenever any function of the database is created, replaced or dropped
//! (a syscache invalidation of pg_proc), which an update does.

use std::cell::Cell;

use pgrx::prelude::*;

/// A function that 0.6.0 added to the write path; its presence means the
/// database's SQL is 0.6.0 or later.
const PROBE: &str = "select pg_catalog.to_regprocedure(\
                     'jit._sync_login_groups(uuid, text, text[], boolean)') is not null";

thread_local! {
    static CURRENT: Cell<Option<bool>> = const { Cell::new(None) };
    /// Bumped by every invalidation: an answer read while one arrived is
    /// not kept.
    static GENERATION: Cell<u64> = const { Cell::new(0) };
    static CALLBACK_REGISTERED: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: (the contract) only PostgreSQL calls this, as a
// SyscacheCallbackFunction registered by `ensure_callback`, on the
// backend's own thread, inside invalidation processing; it takes its
// arguments by value, dereferences nothing, calls no PostgreSQL function,
// and #[pg_guard] keeps a Rust panic from unwinding into C.
#[pg_guard]
unsafe extern "C-unwind" fn on_proc_invalidation(
    _arg: pg_sys::Datum,
    _cacheid: std::ffi::c_int,
    _hashvalue: u32,
) {
    CURRENT.with(|c| c.set(None));
    GENERATION.with(|g| g.set(g.get().wrapping_add(1)));
}

fn ensure_callback() {
    if !CALLBACK_REGISTERED.with(|c| c.replace(true)) {
        // SAFETY: on the backend's thread (pgrx runs SQL-callable functions
        // nowhere else); the callback has the C signature Postgres expects
        // and lives as long as the backend (a loaded library is never
        // unloaded); its Datum argument is unused. CALLBACK_REGISTERED makes
        // this happen once, so the fixed table of syscache callbacks
        // (MAX_SYSCACHE_CALLBACKS) cannot overflow into a FATAL.
        unsafe {
            pg_sys::CacheRegisterSyscacheCallback(
                pg_sys::SysCacheIdentifier::PROCOID as std::ffi::c_int,
                Some(on_proc_invalidation),
                pg_sys::Datum::from(0usize),
            );
        }
    }
}

/// True when the database's SQL has the 0.6.0 write path.
pub fn write_path_is_current() -> bool {
    ensure_callback();
    if let Some(known) = CURRENT.with(Cell::get) {
        return known;
    }
    let generation = GENERATION.with(Cell::get);
    let current = match Spi::get_one::<bool>(PROBE) {
        Ok(Some(b)) => b,
        Ok(None) => false,
        Err(e) => error!("jit_provision: cannot read the extension's functions: {e}"),
    };
    if GENERATION.with(Cell::get) == generation {
        CURRENT.with(|c| c.set(Some(current)));
    }
    current
}
