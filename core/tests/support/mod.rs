//! Helpers shared by integration tests that include them with `mod support;`.

pub mod budget_sign;
