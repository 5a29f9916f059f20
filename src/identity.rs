//! The identity a successful `jit_login` establishes for the rest of its
//! transaction, read by RLS policies through `jit.current_user_id()`.
//!
//! It lives in this backend's memory, never in a GUC, so `SET` and
//! `set_config` cannot forge it. It is tagged with the local transaction id
//! and cleared by transaction callbacks: a pooled connection's next
//! transaction starts with no identity.

use std::cell::RefCell;

use pgrx::prelude::*;

struct Established {
    /// MyProc->lxid when it was set: a belt to the callbacks' braces.
    lxid: pg_sys::LocalTransactionId,
    /// The subtransaction that set it; rolling that one back clears it.
    subxid: pg_sys::SubTransactionId,
    user_id: pgrx::Uuid,
    groups: Vec<String>,
}

thread_local! {
    static CURRENT: RefCell<Option<Established>> = const { RefCell::new(None) };
}

fn current_lxid() -> pg_sys::LocalTransactionId {
    // SAFETY: MyProc is this backend's own PGPROC, set once at backend start
    // and valid until it exits; we read it on the backend's thread (no other
    // thread writes it), copy the pointer rather than borrow the static, and
    // dereference it only when it is not null.
    unsafe {
        if pg_sys::MyProc.is_null() {
            0
        } else {
            (*pg_sys::MyProc).lxid
        }
    }
}

pub fn establish(user_id: pgrx::Uuid, groups: Vec<String>) {
    // SAFETY: no arguments; it reads this backend's transaction state, and
    // `establish` runs on the backend's thread inside the login's transaction.
    let subxid = unsafe { pg_sys::GetCurrentSubTransactionId() };
    CURRENT.with(|c| {
        *c.borrow_mut() = Some(Established {
            lxid: current_lxid(),
            subxid,
            user_id,
            groups,
        })
    });
}

fn clear() {
    CURRENT.with(|c| {
        if let Ok(mut cur) = c.try_borrow_mut() {
            *cur = None;
        }
    });
}

fn with_current<T>(f: impl FnOnce(&Established) -> T) -> Option<T> {
    let lxid = current_lxid();
    CURRENT.with(|c| c.borrow().as_ref().filter(|e| e.lxid == lxid).map(f))
}

// SAFETY: (the contract, for both callbacks) only PostgreSQL calls these,
// as the XactCallback and SubXactCallback registered by
// `register_callbacks`, on the backend's thread; they ignore the pointer
// argument, touch only this thread's Rust state (with try_borrow_mut, so a
// callback that arrives while CURRENT is borrowed does nothing rather than
// panic), and #[pg_guard] keeps a panic from unwinding into C.
#[pg_guard]
unsafe extern "C-unwind" fn on_xact(_event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    // Commit, abort, prepare: whatever ends the transaction ends the identity.
    clear();
}

// SAFETY: as for `on_xact` above.
#[pg_guard]
unsafe extern "C-unwind" fn on_subxact(
    event: pg_sys::SubXactEvent::Type,
    my_subid: pg_sys::SubTransactionId,
    parent_subid: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    CURRENT.with(|c| {
        let Ok(mut cur) = c.try_borrow_mut() else {
            return;
        };
        let Some(est) = cur.as_mut() else { return };
        if est.subxid != my_subid {
            return;
        }
        if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
            // The login's rows are rolled back with this savepoint: so is it.
            *cur = None;
        } else if event == pg_sys::SubXactEvent::SUBXACT_EVENT_COMMIT_SUB {
            // Released into the parent: the parent's rollback must clear it.
            est.subxid = parent_subid;
        }
    });
}

pub fn register_callbacks() {
    // SAFETY: called from _PG_init only, so once per backend on its thread.
    // The callbacks have the C signatures Postgres expects and live as long
    // as the backend (a loaded library is never unloaded); the null argument
    // is passed back to them unused.
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact), std::ptr::null_mut());
    }
}

/// The user `jit_login` established in the current transaction, else null.
#[pg_extern(schema = "jit", stable, parallel_restricted)]
fn current_user_id() -> Option<pgrx::Uuid> {
    with_current(|e| e.user_id)
}

/// That user's application groups, else null.
#[pg_extern(schema = "jit", stable, parallel_restricted)]
fn current_groups() -> Option<Vec<String>> {
    with_current(|e| e.groups.clone())
}
