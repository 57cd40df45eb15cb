//! How the stages of jornada tell the next one that work was stored: the
//! API's receivers and mutations announce stored webhooks and campaign
//! work, the appliers announce recorded domain events, the dispatcher the
//! recipients it enrolled; a waiting worker stops waiting and looks. The
//! database holds the work; these signals only shorten the wait, and
//! polling stays as the fallback. On PostgreSQL the announcements also
//! reach other processes (`jornada api` beside `jornada worker`) through
//! `LISTEN/NOTIFY` ([`WorkSignals::across_processes`]).
//!
//! Stored webhooks wake every idle applier (each takes its own partition of
//! the stored events, so any of them may be the one an event is for), and
//! recorded domain events every idle dispatcher; campaign work wakes one
//! runner, through a signal of its own, so a launch day's postbacks do not
//! send runners looking for campaign work they never bring.
//!
//! Live screens (the GraphQL subscriptions of a queue screen or a
//! campaign's counters) hear of changes through the same handle: whoever
//! stores dispatch items, moves recipients or records message statuses
//! announces the workspace ([`WorkSignals::workspace_changed`]), and the API
//! process, wherever it runs, looks again for the subscriptions of that
//! workspace only.
//!
//! The same handle paces background work while postbacks crowd the door
//! (more are being stored at once than the backend takes in its stride):
//! batches of the appliers and the dispatcher then take turns, one at a
//! time, each after a pause four times as long as the last one took
//! (within bounds), so the receiver keeps most of the machine. Answering
//! Hotmart fast matters more than applying at once (a URL that keeps
//! failing gets deactivated), and on SQLite's single writer a busy applier
//! would otherwise keep the receiver waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, broadcast, mpsc, watch};
use uuid::Uuid;

mod across_processes;

/// How many times its last batch's duration background work waits while
/// postbacks are being stored.
const GIVE_WAY_FACTOR: u32 = 4;
/// Bounds of that wait, so a quick batch still leaves room and a slow one
/// never stalls application for long.
const GIVE_WAY_MIN: Duration = Duration::from_millis(200);
const GIVE_WAY_MAX: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct WorkSignals {
    /// Announces stored webhooks; each applier watches it.
    webhooks: Arc<watch::Sender<()>>,
    /// Announces recorded domain events; each dispatcher watches it.
    domain_events: Arc<watch::Sender<()>>,
    /// Wakes one campaign runner per announcement.
    campaigns: Arc<Notify>,
    /// Wakes the dispatch sender on the same announcements: approved
    /// items and automatic sends are campaign work too, and the sender
    /// must not wait for a runner to pass the wake on.
    dispatch_sends: Arc<Notify>,
    inbound: Arc<Inbound>,
    /// Announces what live screens show that changed, to whoever listens.
    changes: broadcast::Sender<Changed>,
    /// Where announcements go to other processes, when they do.
    broadcast: Option<mpsc::UnboundedSender<Work>>,
}

/// How many announced changes a slow listener may fall behind before it is
/// told that anything may have changed.
const CHANGES_BACKLOG: usize = 1024;

impl Default for WorkSignals {
    fn default() -> Self {
        WorkSignals {
            webhooks: Arc::new(watch::Sender::new(())),
            domain_events: Arc::new(watch::Sender::new(())),
            campaigns: Arc::default(),
            dispatch_sends: Arc::default(),
            inbound: Arc::default(),
            changes: broadcast::Sender::new(CHANGES_BACKLOG),
            broadcast: None,
        }
    }
}

/// The kinds of work a stage announces to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Work {
    Webhooks,
    DomainEvents,
    Campaigns,
    /// What live screens show changed.
    Changed(Changed),
}

/// Where the dispatch queue or campaign metrics may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Changed {
    Workspace(Uuid),
    /// Possibly in any workspace: a sweep across workspaces (expiry), or
    /// announcements missed.
    Anywhere,
}

impl Changed {
    /// Whether a screen of `workspace_id` should look again.
    pub fn concerns(self, workspace_id: Uuid) -> bool {
        match self {
            Changed::Workspace(id) => id == workspace_id,
            Changed::Anywhere => true,
        }
    }
}

/// One listener's view of the announced changes.
pub struct Changes(broadcast::Receiver<Changed>);

impl Changes {
    /// The next change announced; one that fell behind hears `Anywhere`.
    pub async fn next(&mut self) -> Changed {
        match self.0.recv().await {
            Ok(changed) => changed,
            Err(broadcast::error::RecvError::Lagged(_)) => Changed::Anywhere,
            // Never while the signals live; a listener outliving them waits.
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}

/// One worker's view of the announcements of one kind of work: one made
/// while it was busy still cuts its next wait short.
pub struct Arrivals(watch::Receiver<()>);

impl Arrivals {
    /// Waits until work is announced or `at_most` passes.
    pub async fn wait(&mut self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.0.changed()).await;
    }
}

#[derive(Default)]
struct Inbound {
    writing: AtomicUsize,
    /// How many postbacks being stored at once the backend takes in its
    /// stride; background work gives way only to more.
    crowd: usize,
    /// Told when the door stops being crowded.
    done: Notify,
    /// While postbacks crowd the door, background batches take turns, and
    /// this is how long the last one took: every loop of the process (the
    /// appliers, the dispatcher) shares one pacing, so giving way does not
    /// shrink as loops are added.
    turn: tokio::sync::Mutex<Duration>,
}

/// Held while inbound events are being stored; see [`WorkSignals::storing_inbound`].
pub struct StoringInbound {
    inbound: Arc<Inbound>,
}

impl Drop for StoringInbound {
    fn drop(&mut self) {
        if self.inbound.writing.fetch_sub(1, Ordering::AcqRel) == self.inbound.crowd + 1 {
            self.inbound.done.notify_waiters();
        }
    }
}

impl WorkSignals {
    /// In-process signals, pacing background work as `backend` needs
    /// ([`crate::tuning::inbound_crowd`]).
    pub fn for_backend(backend: sea_orm::DbBackend) -> WorkSignals {
        WorkSignals {
            inbound: Arc::new(Inbound {
                crowd: crate::tuning::inbound_crowd(backend),
                ..Inbound::default()
            }),
            ..WorkSignals::default()
        }
    }

    /// Called after webhook events were durably stored (or put back to apply).
    pub fn webhooks_stored(&self) {
        self.announce(Work::Webhooks);
    }

    /// Announcements of stored webhooks, for one applier to wait on.
    pub fn webhook_arrivals(&self) -> Arrivals {
        Arrivals(self.webhooks.subscribe())
    }

    /// Called after domain events were recorded (an applied batch).
    pub fn domain_events_recorded(&self) {
        self.announce(Work::DomainEvents);
    }

    /// Announcements of recorded domain events, for one dispatcher to wait on.
    pub fn domain_event_arrivals(&self) -> Arrivals {
        Arrivals(self.domain_events.subscribe())
    }

    /// Called after campaign work (recipients to step, approved sends) was
    /// durably stored.
    pub fn campaign_work_stored(&self) {
        self.announce(Work::Campaigns);
    }

    /// Called after a workspace's dispatch items, campaign recipients or
    /// message statuses were stored.
    pub fn workspace_changed(&self, workspace_id: Uuid) {
        self.announce(Work::Changed(Changed::Workspace(workspace_id)));
    }

    /// Called after a change that may touch any workspace.
    pub fn changed_anywhere(&self) {
        self.announce(Work::Changed(Changed::Anywhere));
    }

    /// The changes announced from now on, for one live screen.
    pub fn changes(&self) -> Changes {
        Changes(self.changes.subscribe())
    }

    fn announce(&self, work: Work) {
        self.wake(work);
        if let Some(broadcast) = &self.broadcast {
            let _ = broadcast.send(work);
        }
    }

    /// Wakes this process's workers waiting for `work`.
    fn wake(&self, work: Work) {
        match work {
            Work::Webhooks => {
                self.webhooks.send_replace(());
            }
            Work::DomainEvents => {
                self.domain_events.send_replace(());
            }
            Work::Campaigns => {
                self.campaigns.notify_one();
                self.dispatch_sends.notify_one();
            }
            Work::Changed(changed) => {
                // Nobody listening (a worker-only process) is fine.
                let _ = self.changes.send(changed);
            }
        }
    }

    /// Waits until campaign work is announced or `at_most` passes.
    pub async fn wait_for_campaign_work(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.campaigns.notified()).await;
    }

    /// Waits until sends of dispatch items may be due (campaign work was
    /// announced) or `at_most` passes.
    pub async fn wait_for_dispatch_sends(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.dispatch_sends.notified()).await;
    }

    /// Marks inbound events as being stored until the guard is dropped.
    pub fn storing_inbound(&self) -> StoringInbound {
        self.inbound.writing.fetch_add(1, Ordering::AcqRel);
        StoringInbound {
            inbound: self.inbound.clone(),
        }
    }

    /// Runs one batch of background work once inbound postbacks have had
    /// their turn. While postbacks crowd the door, batches run one at a
    /// time across the process, each after a pause that grows with the last
    /// one's length; otherwise they run side by side at once.
    pub async fn in_turn_with_inbound<F: std::future::Future>(&self, batch: F) -> F::Output {
        if !self.inbound_crowded() {
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

    /// Whether more postbacks are being stored than the crowd the backend
    /// takes in its stride.
    fn inbound_crowded(&self) -> bool {
        self.inbound.writing.load(Ordering::Acquire) > self.inbound.crowd
    }

    /// Waits while the door is crowded, for `at_most` in all, so background
    /// work never starves.
    async fn give_way_to_inbound(&self, at_most: Duration) {
        let deadline = tokio::time::Instant::now() + at_most;
        loop {
            let done = self.inbound.done.notified();
            if !self.inbound_crowded() {
                return;
            }
            if tokio::time::timeout_at(deadline, done).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::DbBackend;

    /// How long a batch waited before it ran, with `storing` postbacks
    /// being stored throughout, on the paused clock.
    async fn waited(backend: DbBackend, storing: usize) -> Duration {
        let signals = WorkSignals::for_backend(backend);
        let _door: Vec<StoringInbound> = (0..storing).map(|_| signals.storing_inbound()).collect();
        let asked = tokio::time::Instant::now();
        signals
            .in_turn_with_inbound(async { asked.elapsed() })
            .await
    }

    #[tokio::test(start_paused = true)]
    async fn sqlite_gives_way_to_any_postback_being_stored() {
        assert_eq!(waited(DbBackend::Sqlite, 0).await, Duration::ZERO);
        assert_eq!(waited(DbBackend::Sqlite, 1).await, GIVE_WAY_MIN);
    }

    #[tokio::test(start_paused = true)]
    async fn postgres_gives_way_only_to_a_crowd() {
        let crowd = crate::tuning::inbound_crowd(DbBackend::Postgres);
        assert_eq!(waited(DbBackend::Postgres, crowd).await, Duration::ZERO);
        assert_eq!(waited(DbBackend::Postgres, crowd + 1).await, GIVE_WAY_MIN);
    }

    #[tokio::test(start_paused = true)]
    async fn a_crowd_thinning_out_ends_the_wait() {
        let signals = WorkSignals::for_backend(DbBackend::Postgres);
        let crowd = crate::tuning::inbound_crowd(DbBackend::Postgres);
        let mut door: Vec<StoringInbound> =
            (0..=crowd).map(|_| signals.storing_inbound()).collect();
        let asked = tokio::time::Instant::now();
        let batch = tokio::spawn({
            let signals = signals.clone();
            async move {
                signals
                    .in_turn_with_inbound(async { asked.elapsed() })
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        door.pop();
        assert_eq!(
            batch.await.expect("the batch ran"),
            Duration::from_millis(50)
        );
    }
}
