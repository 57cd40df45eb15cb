//! The handle the API uses to tell an in-process worker that work arrived.
//! The database is the queue; this only shortens the wait. Workers in other
//! processes find the same work by polling.
//!
//! Stored webhooks wake every idle applier (each takes its own partition of
//! the queue, so any of them may be the one the event is for), and campaign
//! work wakes a runner, each through its own signal: on a launch day every
//! postback announces itself, and a runner woken by each would poll for
//! campaign work that postbacks never bring (the webhooks bench saw 37,000
//! such polls in 30 s).
//!
//! It also lets background work give way to inbound webhooks: while the API
//! is storing postbacks, the process's background batches (the appliers',
//! the dispatcher's) take turns, one at a time, each after a pause four
//! times as long as the last one took, so the receiver keeps most of the
//! machine (the webhooks bench accepted about 6,500 postbacks/s while an
//! applier gave way a fixed 200 ms a batch, 13,500/s with no applier, and
//! 8,800–9,900/s, p99 23–28 ms, while three appliers and the dispatcher
//! each kept a pacing of their own, against 10,700–10,800/s, p99 14 ms,
//! sharing one). On a launch day, answering Hotmart fast matters more than
//! applying at once (a URL that keeps failing gets deactivated), and on
//! SQLite's single writer a busy applier would otherwise keep the receiver
//! waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};

/// How many times its last batch's duration background work waits while
/// postbacks are being stored.
const GIVE_WAY_FACTOR: u32 = 4;
/// Bounds of that wait, so a quick batch still leaves room and a slow one
/// never stalls application for long.
const GIVE_WAY_MIN: Duration = Duration::from_millis(200);
const GIVE_WAY_MAX: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct WorkQueue {
    /// Announces stored webhooks; each applier watches it.
    webhooks: Arc<watch::Sender<()>>,
    campaigns: Arc<Notify>,
    inbound: Arc<Inbound>,
}

impl Default for WorkQueue {
    fn default() -> Self {
        WorkQueue {
            webhooks: Arc::new(watch::Sender::new(())),
            campaigns: Arc::default(),
            inbound: Arc::default(),
        }
    }
}

/// One applier's view of the announcements of stored webhooks: one made
/// while it was busy still cuts its next wait short.
pub struct WebhookArrivals(watch::Receiver<()>);

impl WebhookArrivals {
    /// Waits until stored webhook events are announced or `at_most` passes.
    pub async fn wait(&mut self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.0.changed()).await;
    }
}

#[derive(Default)]
struct Inbound {
    writing: AtomicUsize,
    done: Notify,
    /// While postbacks are being stored, background batches take turns, and
    /// this is how long the last one took: every loop of the process (the
    /// appliers, the dispatcher) shares one pacing, so giving way does not
    /// shrink as loops are added.
    turn: tokio::sync::Mutex<Duration>,
}

/// Held while inbound events are being stored; see [`WorkQueue::storing_inbound`].
pub struct StoringInbound {
    inbound: Arc<Inbound>,
}

impl Drop for StoringInbound {
    fn drop(&mut self) {
        if self.inbound.writing.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inbound.done.notify_waiters();
        }
    }
}

impl WorkQueue {
    /// Called after webhook events were durably stored (or put back to apply).
    pub fn webhooks_stored(&self) {
        self.webhooks.send_replace(());
    }

    /// Announcements of stored webhooks, for one applier to wait on.
    pub fn webhook_arrivals(&self) -> WebhookArrivals {
        WebhookArrivals(self.webhooks.subscribe())
    }

    /// Called after campaign work (recipients to step, approved sends) was
    /// durably stored.
    pub fn campaign_work_stored(&self) {
        self.campaigns.notify_one();
    }

    /// Waits until campaign work is announced or `at_most` passes.
    pub async fn wait_for_campaign_work(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.campaigns.notified()).await;
    }

    /// Marks inbound events as being stored until the guard is dropped.
    pub fn storing_inbound(&self) -> StoringInbound {
        self.inbound.writing.fetch_add(1, Ordering::AcqRel);
        StoringInbound {
            inbound: self.inbound.clone(),
        }
    }

    /// Runs one batch of background work once inbound postbacks have had
    /// their turn. While postbacks are being stored, batches run one at a
    /// time across the process, each after a pause that grows with the last
    /// one's length; otherwise they run side by side at once.
    pub async fn in_turn_with_inbound<F: std::future::Future>(&self, batch: F) -> F::Output {
        if self.inbound.writing.load(Ordering::Acquire) == 0 {
            return batch.await;
        }
        let mut last_batch = self.inbound.turn.lock().await;
        self.give_way_to_inbound((*last_batch * GIVE_WAY_FACTOR).clamp(GIVE_WAY_MIN, GIVE_WAY_MAX))
            .await;
        let started = std::time::Instant::now();
        let done = batch.await;
        *last_batch = started.elapsed();
        done
    }

    /// Waits while inbound events are being stored, for `at_most` in all,
    /// so background work never starves.
    async fn give_way_to_inbound(&self, at_most: Duration) {
        let deadline = tokio::time::Instant::now() + at_most;
        loop {
            let done = self.inbound.done.notified();
            if self.inbound.writing.load(Ordering::Acquire) == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, done).await.is_err() {
                return;
            }
        }
    }
}
