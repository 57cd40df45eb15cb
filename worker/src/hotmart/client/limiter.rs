//! The client-side rate limit that keeps every clone of a client under
//! Hotmart's 500 calls/minute, and holds them all back after a 429.

use std::sync::{Mutex as StdMutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// A token bucket: `burst` calls at once, then `calls_per_minute` spread
/// evenly. Callers reserve a slot (the balance may go negative) and sleep
/// until it is theirs, so waiting callers are served in order.
pub(super) struct RateLimiter {
    per_second: f64,
    capacity: f64,
    bucket: StdMutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
    paused_until: Option<Instant>,
}

impl RateLimiter {
    pub(super) fn new(calls_per_minute: u32, burst: u32) -> Self {
        let capacity = f64::from(burst.max(1));
        Self {
            per_second: f64::from(calls_per_minute.max(1)) / 60.0,
            capacity,
            bucket: StdMutex::new(Bucket {
                tokens: capacity,
                updated: Instant::now(),
                paused_until: None,
            }),
        }
    }

    pub(super) async fn acquire(&self) {
        let wait = {
            let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.capacity);
            bucket.updated = now;
            bucket.tokens -= 1.0;
            let mut wait = if bucket.tokens < 0.0 {
                Duration::from_secs_f64(-bucket.tokens / self.per_second)
            } else {
                Duration::ZERO
            };
            if let Some(until) = bucket.paused_until {
                wait = wait.max(until.saturating_duration_since(now));
            }
            wait
        };
        if !wait.is_zero() {
            tracing::debug!(?wait, "waiting for the Hotmart rate limit");
            tokio::time::sleep(wait).await;
        }
    }

    /// Holds every caller back for `delay` (after a 429).
    pub(super) fn pause_for(&self, delay: Duration) {
        let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let until = Instant::now() + delay;
        bucket.paused_until = Some(bucket.paused_until.map_or(until, |p| p.max(until)));
    }
}
