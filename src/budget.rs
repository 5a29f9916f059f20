//! The verifier's resource budget as the server sees it: the
//! `jit_provision.canonical_limit_factor` setting, and the interrupt hook
//! that lets `statement_timeout` and `pg_cancel_backend` stop a verification.

use jit_provision_core::Budget;
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Bytes one canonicalization may write, as a multiple of the SAML
/// document's size. Superuser-only: it is the bound that keeps one token
/// from costing unbounded CPU, so an application role must not raise it.
static CANONICAL_LIMIT_FACTOR: GucSetting<i32> =
    GucSetting::<i32>::new(Budget::DEFAULT_CANONICAL_FACTOR as i32);

pub fn register_gucs() {
    GucRegistry::define_int_guc(
        c"jit_provision.canonical_limit_factor",
        c"Canonical XML a SAML signature check may produce, as a multiple of the document's size.",
        c"A Reference or SignedInfo whose canonical form exceeds this multiple of the document's size plus 64 KiB is refused as malformed. Genuine documents canonicalize to about their own size.",
        &CANONICAL_LIMIT_FACTOR,
        1,
        1_000_000,
        GucContext::Suset,
        GucFlags::default(),
    );
}

/// Runs `CHECK_FOR_INTERRUPTS`. A pending cancel or timeout raises an
/// ERROR, which pgrx turns into a Rust panic that unwinds out of the core
/// (it holds no locks or foreign state) and is re-raised as that ERROR at
/// the function boundary.
fn check_for_interrupts() {
    pg_sys::check_for_interrupts!();
}

/// The budget for one verification, read from the current settings.
pub fn current() -> Budget {
    Budget {
        canonical_factor: usize::try_from(CANONICAL_LIMIT_FACTOR.get())
            .unwrap_or(Budget::DEFAULT_CANONICAL_FACTOR),
        interrupt: Some(check_for_interrupts),
    }
}
