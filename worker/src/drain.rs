//! Working off everything that is due, at once, stage after stage: what a
//! test (or an operator's one-off run) does instead of starting the
//! workers and waiting for them. The same batch functions the workers take
//! turns at run here in a loop, by the worker's clock, until a whole round
//! finds nothing to do.

use entity::db::Partition;

use crate::{EVENT_BATCH, Error, RECIPIENT_BATCH, Worker, background_jobs, campaigns};

/// What a drain did, stage by stage.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Scheduled campaign fires started.
    pub schedule_fires: usize,
    /// Stored webhook events applied.
    pub webhook_events: usize,
    /// Domain events the dispatchers delivered to their consumers (a
    /// webhook batch delivers its own events itself, uncounted here, unless
    /// the customer had older ones pending or a consumer failed).
    pub domain_events: usize,
    /// Recipients the campaign runner advanced (one count per batch a
    /// recipient was in).
    pub recipients: usize,
    /// Background jobs run.
    pub background_jobs: usize,
    /// Automation rules' scans run on their schedules.
    pub automation_scans: usize,
    /// Approved dispatch items taken for sending.
    pub dispatch_sends: usize,
    /// Days and subscriptions whose figures the analytics catch-up rewrote.
    pub analytics: usize,
}

impl Drained {
    fn nothing(&self) -> bool {
        *self == Drained::default()
    }

    fn add(&mut self, round: Drained) {
        self.schedule_fires += round.schedule_fires;
        self.webhook_events += round.webhook_events;
        self.domain_events += round.domain_events;
        self.recipients += round.recipients;
        self.background_jobs += round.background_jobs;
        self.automation_scans += round.automation_scans;
        self.dispatch_sends += round.dispatch_sends;
        self.analytics += round.analytics;
    }
}

/// Rounds a drain may take before it gives up on work that never ends (a
/// campaign whose recipients keep stepping without settling).
const MAX_ROUNDS: usize = 1_000;

impl Worker {
    /// Works off everything due by the clock: scheduled campaign fires and
    /// automation scans, stored webhook events, domain events, campaign
    /// recipients, approved dispatch items, queued background jobs and the
    /// analytics figures,
    /// round after round, until a round finds nothing.
    /// Work due later (a wait, a retry) stays until the clock reaches it.
    pub async fn drain(&self) -> Result<Drained, Error> {
        let shared = campaigns::runner::RunnersShared::default();
        let mut runner = self.campaign_runner(shared.clone());
        let sender = self.dispatch_sender(shared);
        let consumers = self.domain_event_consumers();
        let mut drained = Drained::default();
        for _ in 0..MAX_ROUNDS {
            let mut round = Drained {
                schedule_fires: campaigns::schedules::start_due_fires(&self.db, self.clock.now())
                    .await?
                    .len(),
                automation_scans: crate::automation::scans::run_due_scans(self).await?,
                ..Drained::default()
            };
            round.webhook_events = until_idle(|| {
                crate::hotmart::applier::apply_batch(
                    &self.db,
                    &self.secrets,
                    &consumers,
                    Partition::ALL,
                    EVENT_BATCH,
                    self.clock.now(),
                )
            })
            .await?;
            round.domain_events = until_idle(|| {
                crate::domain_events::dispatch_batch(
                    &self.db,
                    &consumers,
                    Partition::ALL,
                    EVENT_BATCH,
                    self.clock.now(),
                )
            })
            .await?;
            loop {
                let stepped = runner.run_batch(RECIPIENT_BATCH).await?;
                if stepped == 0 {
                    break;
                }
                round.recipients += stepped;
            }
            round.dispatch_sends = until_idle(|| sender.send_batch(RECIPIENT_BATCH)).await?;
            for order in entity::background_jobs::queued(&self.db, 100, self.clock.now()).await? {
                if background_jobs::run_job(self, order).await? {
                    round.background_jobs += 1;
                }
            }
            round.analytics =
                entity::analytics::catch_up(&self.db, &self.secrets, self.clock.now())
                    .await?
                    .total();
            if round.nothing() {
                return Ok(drained);
            }
            drained.add(round);
        }
        Err(Error::Undrained(MAX_ROUNDS))
    }
}

/// Works `batch` after batch until one finds nothing; returns how much all
/// of them worked.
async fn until_idle<F, Fut>(mut batch: F) -> Result<usize, entity::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<usize, entity::Error>>,
{
    let mut worked = 0;
    loop {
        match batch().await? {
            0 => return Ok(worked),
            n => worked += n,
        }
    }
}
