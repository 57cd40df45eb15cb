//! Facts as sources send them, merged into what is stored: Hotmart's
//! webhooks and the API sync describe customers, products, transactions and
//! subscriptions, sometimes late, twice or oversized. Each effect built on
//! these is one step in the caller's transaction; rows are created with
//! `INSERT .. ON CONFLICT DO NOTHING` and then read back locked, so
//! concurrent appliers never create duplicates or lose an update.

use chrono::{DateTime, Utc};

/// Cuts text to a column's width, on a character boundary: sources send
/// oversized values now and then, and a fact is better kept trimmed than lost.
pub(crate) fn fit(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}

pub(crate) fn fit_opt(value: &Option<String>, max: usize) -> Option<String> {
    value.as_deref().map(|v| fit(v, max))
}

pub(crate) fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    Ord::max(a, b)
}

pub(crate) fn earlier(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(Ord::min(a, b)),
        (a, b) => a.or(b),
    }
}
