//! Everything that happens in the background: applying webhook events,
//! delivering domain events, and cron jobs. Workers coordinate only through
//! the database, so any number of `jornada worker` processes can run beside
//! the API.

pub mod background_jobs;
pub mod campaigns;
pub mod channels;
pub mod customers;
pub mod domain_events;
pub mod hotmart;
pub mod maintenance;

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use apalis::prelude::*;
use apalis_cron::CronScheduler;
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the worker monitor failed: {0}")]
    Monitor(String),
    #[error(transparent)]
    Entity(#[from] entity::Error),
}

/// How long running jobs get to finish after shutdown is requested.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How often an idle worker looks for work no in-process API announced.
pub const IDLE_POLL: Duration = Duration::from_millis(500);
/// Events (webhook or domain) claimed per batch. On PostgreSQL the API's
/// inserts run beside a batch, so a large one spreads its statements over
/// more events; SQLite has one writer, every postback arriving meanwhile
/// waits for the whole batch to commit, so batches stay small there.
pub fn batch_size(backend: DbBackend) -> u64 {
    match backend {
        DbBackend::Postgres => 256,
        _ => 64,
    }
}
/// Webhook appliers running side by side, each taking and applying its own
/// partition of the queue, split by customer. On PostgreSQL three keep the
/// database's two cores busy while each waits on its commits and round
/// trips (the webhooks bench applied 4,100–4,400 postbacks/s after its load
/// with three, against about 3,100/s when one applier split each batch in
/// three lanes and waited for the slowest); SQLite has one writer, so one.
pub fn webhook_appliers(backend: DbBackend) -> u32 {
    match backend {
        DbBackend::Postgres => 3,
        _ => 1,
    }
}
/// How often the background-job worker looks at the job queue when no
/// notification woke it.
pub const JOB_POLL: Duration = Duration::from_millis(250);
/// Campaign recipients claimed per batch: the runner stores a batch's moves
/// and messages a few statements per round, so larger batches cost little more.
pub const RECIPIENT_BATCH: u64 = 1024;
/// The background worker of one process.
#[derive(Clone)]
pub struct Worker {
    pub db: DatabaseConnection,
    pub secrets: entity::SecretKey,
    pub signals: entity::WorkSignals,
    /// Base URL tracked links point at (`{public_url}/r/{code}`).
    pub public_url: String,
    /// How long a claimed recipient or send is reserved before another
    /// worker may take it over (a send then becomes `unknown`).
    pub lease: chrono::Duration,
}

impl Worker {
    /// Runs every loop and cron job until `shutdown` resolves, then lets
    /// running work finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let (stop, stopped) = watch::channel(false);
        let mut loops = tokio::task::JoinSet::new();
        // Each applier takes its own partition of the queue; appliers in
        // other processes take the same ones beside them (PostgreSQL's picks
        // skip each other's rows).
        let appliers = webhook_appliers(self.db.get_database_backend());
        for index in 0..appliers {
            let partition = entity::webhook_events::Partition {
                index,
                of: appliers,
            };
            let (worker, applier_stopped) = (self.clone(), stopped.clone());
            loops.spawn(async move {
                worker
                    .apply_webhook_events(partition, applier_stopped)
                    .await
            });
        }
        // Each runner steps its batch as a sequence of statements, one
        // connection at a time, and spends much of it waiting for commits
        // and sends; on PostgreSQL six of them keep the database's cores
        // busy (claims skip each other's locked recipients). The campaign
        // bench drained 4,200 recipients/s with three, 5,600 with five and
        // 5,900 with seven.
        let runners = if self.db.get_database_backend() == DbBackend::Postgres {
            6
        } else {
            1
        };
        let shared = campaigns::runner::RunnersShared::default();
        for _ in 0..runners {
            let (worker, runner_stopped, shared) = (self.clone(), stopped.clone(), shared.clone());
            loops.spawn(async move { worker.run_campaigns(runner_stopped, shared).await });
        }
        let (worker, dispatcher_stopped) = (self.clone(), stopped.clone());
        loops.spawn(async move { worker.dispatch_domain_events(dispatcher_stopped).await });
        if maintenance::autovacuum_is_off(&self.db).await? {
            loops.spawn(maintenance::keep_statistics(
                self.db.clone(),
                stopped.clone(),
            ));
        }

        let segment_schedule = cron::Schedule::from_str(customers::SEGMENT_REFRESH_SCHEDULE)
            .map_err(|e| Error::Monitor(format!("segment refresh schedule: {e}")))?;
        let sync_schedule = cron::Schedule::from_str(hotmart::sync::DAILY_SCHEDULE)
            .map_err(|e| Error::Monitor(format!("hotmart sync schedule: {e}")))?;
        let fire_schedule = cron::Schedule::from_str(campaigns::schedules::TICK_SCHEDULE)
            .map_err(|e| Error::Monitor(format!("campaign schedule tick: {e}")))?;
        let recovery_schedule = cron::Schedule::from_str(background_jobs::RECOVERY_SCHEDULE)
            .map_err(|e| Error::Monitor(format!("job recovery schedule: {e}")))?;
        let recovery_db = self.db.clone();
        let db = self.db.clone();
        let sync_deps = (self.db.clone(), self.secrets.clone());
        let (fire_db, fire_signals) = (self.db.clone(), self.signals.clone());
        let monitor = Monitor::new()
            .register(move |_restarts| {
                WorkerBuilder::new("segment-refresh")
                    .backend(CronScheduler::new(segment_schedule.clone()))
                    .data(db.clone())
                    .build(customers::refresh_segments)
            })
            .register(move |_restarts| {
                WorkerBuilder::new("hotmart-sync")
                    .backend(CronScheduler::new(sync_schedule.clone()))
                    .data(sync_deps.clone())
                    .build(hotmart::sync::daily_sync)
            })
            .register(move |_restarts| {
                WorkerBuilder::new("campaign-schedules")
                    .backend(CronScheduler::new(fire_schedule.clone()))
                    .data(fire_db.clone())
                    .data(fire_signals.clone())
                    .build(campaigns::schedules::tick)
            })
            .register(move |_restarts| {
                WorkerBuilder::new("background-job-recovery")
                    .backend(CronScheduler::new(recovery_schedule.clone()))
                    .data(recovery_db.clone())
                    .build(background_jobs::recover)
            })
            .shutdown_timeout(SHUTDOWN_GRACE);
        let monitor = self.register_background_jobs(monitor);
        tracing::info!(
            webhook_appliers = webhook_appliers(self.db.get_database_backend()),
            "worker started"
        );
        let mut monitor_stopped = stopped.clone();
        let monitor_result = monitor
            .run_with_signal(async move {
                tokio::select! {
                    _ = shutdown => {}
                    _ = monitor_stopped.wait_for(|s| *s) => {}
                }
                let _ = stop.send(true);
                Ok(())
            })
            .await;
        while loops.join_next().await.is_some() {}
        monitor_result.map_err(|e| Error::Monitor(e.to_string()))?;
        tracing::info!("worker stopped");
        Ok(())
    }

    /// The worker that runs background jobs from the job queue: woken by
    /// PostgreSQL's notification of a new task, or by polling on SQLite.
    fn register_background_jobs(&self, monitor: Monitor) -> Monitor {
        use entity::background_jobs::JobQueue;
        let worker = self.clone();
        match JobQueue::new(&self.db) {
            JobQueue::Postgres(storage) => monitor.register(move |_restarts| {
                WorkerBuilder::new("background-jobs")
                    .backend(storage.clone().with_pubsub().poll_with_interval(JOB_POLL))
                    .data(worker.clone())
                    .build(background_jobs::run)
            }),
            JobQueue::Sqlite(storage) => monitor.register(move |_restarts| {
                WorkerBuilder::new("background-jobs")
                    .backend(storage.clone().poll_with_interval(JOB_POLL))
                    .data(worker.clone())
                    .build(background_jobs::run)
            }),
        }
    }

    /// Applies `partition`'s stored webhook events until stopped.
    async fn apply_webhook_events(
        self,
        partition: entity::webhook_events::Partition,
        mut stopped: watch::Receiver<bool>,
    ) {
        let limit = batch_size(self.db.get_database_backend());
        let mut arrivals = self.signals.webhook_arrivals();
        while !*stopped.borrow() {
            let applied = self
                .signals
                .in_turn_with_inbound(hotmart::applier::apply_batch(&self.db, partition, limit))
                .await;
            match applied {
                Ok(0) => {
                    tokio::select! {
                        _ = arrivals.wait(IDLE_POLL) => {}
                        _ = stopped.changed() => {}
                    }
                }
                Ok(_) => self.signals.domain_events_recorded(),
                Err(err) => {
                    tracing::error!(error = %err, "claiming webhook events failed");
                    tokio::select! {
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                        _ = stopped.changed() => {}
                    }
                }
            }
        }
    }

    /// Advances campaign recipients until stopped.
    async fn run_campaigns(
        self,
        mut stopped: watch::Receiver<bool>,
        shared: campaigns::runner::RunnersShared,
    ) {
        let mut runner = campaigns::runner::Runner {
            db: self.db.clone(),
            secrets: self.secrets.clone(),
            public_url: self.public_url.clone(),
            graphs: campaigns::runner::GraphCache::default(),
            channels: channels::ChannelsCache::default(),
            lease: self.lease,
            shared,
        };
        while !*stopped.borrow() {
            match runner.run_batch(RECIPIENT_BATCH).await {
                Ok(n) if n > 0 => {}
                Ok(_) => {
                    tokio::select! {
                        _ = self.signals.wait_for_campaign_work(IDLE_POLL) => {}
                        _ = stopped.changed() => {}
                    }
                }
                Err(err) => {
                    tracing::error!(error = %err, "advancing campaign recipients failed");
                    tokio::select! {
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                        _ = stopped.changed() => {}
                    }
                }
            }
        }
    }

    /// Delivers domain events to their consumers until stopped.
    async fn dispatch_domain_events(self, mut stopped: watch::Receiver<bool>) {
        let consumers: Vec<Box<dyn domain_events::DomainEventConsumer>> = vec![
            Box::new(domain_events::Timeline),
            Box::new(campaigns::triggers::CampaignTriggers),
        ];
        let mut arrivals = self.signals.domain_event_arrivals();
        while !*stopped.borrow() {
            let dispatched = self
                .signals
                .in_turn_with_inbound(domain_events::dispatch_batch(
                    &self.db,
                    &consumers,
                    batch_size(self.db.get_database_backend()),
                ))
                .await;
            match dispatched {
                // Consumers may have enrolled recipients.
                Ok(n) if n > 0 => self.signals.campaign_work_stored(),
                Ok(_) => {
                    tokio::select! {
                        _ = arrivals.wait(IDLE_POLL) => {}
                        _ = stopped.changed() => {}
                    }
                }
                Err(err) => {
                    tracing::error!(error = %err, "dispatching domain events failed");
                    tokio::select! {
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                        _ = stopped.changed() => {}
                    }
                }
            }
        }
    }
}
