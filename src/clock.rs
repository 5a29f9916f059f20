//! Time in the two units the shell converts between: the core's Unix
//! seconds and PostgreSQL's timestamptz.

use std::time::{SystemTime, UNIX_EPOCH};

use pgrx::datum::TimestampWithTimeZone;

/// Seconds from the Unix epoch to the PostgreSQL epoch (2000-01-01).
const PG_EPOCH_UNIX_SECS: i64 = 946_684_800;

/// Now, in Unix seconds (0 if the clock is before 1970).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Unix seconds as a timestamptz (microseconds since 2000-01-01 UTC);
/// `None` outside timestamptz's range.
pub fn timestamptz(unix_secs: i64) -> Option<TimestampWithTimeZone> {
    let micros = unix_secs
        .checked_sub(PG_EPOCH_UNIX_SECS)?
        .checked_mul(1_000_000)?;
    TimestampWithTimeZone::try_from(micros).ok()
}
