//! Everything that happens in the background, as apalis workers on one
//! Monitor: the webhook appliers, the domain-event dispatcher and the
//! campaign runners take turns at batches claimed from jornada's tables
//! ([`turns`]); background jobs come from the job queue (apalis storage);
//! cron jobs from `apalis-cron`. Workers coordinate only through the
//! database, so any number of `jornada worker` processes can run beside
//! the API.

pub mod analytics;
pub mod automation;
pub mod background_jobs;
pub mod campaigns;
pub mod channels;
pub mod chatwoot;
pub mod domain_events;
pub mod drain;
pub mod hotmart;
pub mod maintenance;
pub mod segments;
pub mod turns;

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

use apalis::prelude::*;
use apalis_cron::CronScheduler;
use sea_orm::DatabaseConnection;

pub use drain::Drained;
pub use entity::tuning::{EVENT_BATCH, IDLE_POLL, JOB_POLL, RECIPIENT_BATCH, SHUTDOWN_GRACE};
use turns::{Turn, TurnReport, Turns, Wake};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the worker monitor failed: {0}")]
    Monitor(String),
    #[error(transparent)]
    Entity(#[from] entity::Error),
    #[error("work was still left after {0} rounds of draining")]
    Undrained(usize),
}

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
    /// Where every worker reads the time.
    pub clock: entity::Clock,
}

impl Worker {
    /// Runs every worker until `shutdown` resolves, then lets running work
    /// finish (within [`SHUTDOWN_GRACE`]).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let backend = self.db.get_database_backend();
        let schedule = |text: &str, what: &str| {
            cron::Schedule::from_str(text)
                .map_err(|e| Error::Monitor(format!("{what} schedule: {e}")))
        };
        let segment_schedule = schedule(segments::SEGMENT_REFRESH_SCHEDULE, "segment refresh")?;
        let sync_schedule = schedule(hotmart::sync::DAILY_SCHEDULE, "hotmart sync")?;
        let fire_schedule = schedule(
            campaigns::schedules::TICK_SCHEDULE,
            "campaign schedule tick",
        )?;
        let recovery_schedule = schedule(background_jobs::RECOVERY_SCHEDULE, "job recovery")?;
        let statistics_schedule = schedule(maintenance::SCHEDULE, "statistics upkeep")?;
        let scan_schedule = schedule(automation::scans::SCHEDULE, "automation scans")?;
        let metrics_schedule = schedule(campaigns::metrics::SCHEDULE, "campaign metrics")?;
        let analytics_schedule = schedule(analytics::SCHEDULE, "analytics catch-up")?;
        let snapshot_schedule = schedule(analytics::SNAPSHOT_SCHEDULE, "analytics snapshots")?;
        let (scan_worker, metrics_worker, analytics_worker, snapshot_worker) =
            (self.clone(), self.clone(), self.clone(), self.clone());
        let statistics_db = self.db.clone();
        let (segment_worker, sync_worker, fire_worker, recovery_worker) =
            (self.clone(), self.clone(), self.clone(), self.clone());
        let mut monitor = Monitor::new()
            .register(move |_restarts| {
                WorkerBuilder::new("segment-refresh")
                    .backend(CronScheduler::new(segment_schedule.clone()))
                    .data(segment_worker.clone())
                    .build(segments::refresh_segments)
            })
            .register(move |_restarts| {
                WorkerBuilder::new("hotmart-sync")
                    .backend(CronScheduler::new(sync_schedule.clone()))
                    .data(sync_worker.clone())
                    .build(hotmart::sync::daily_sync)
            })
            .register(move |_restarts| {
                WorkerBuilder::new("campaign-schedules")
                    .backend(CronScheduler::new(fire_schedule.clone()))
                    .data(fire_worker.clone())
                    .build(campaigns::schedules::tick)
            })
            .register(move |_restarts| {
                WorkerBuilder::new("automation-scans")
                    .backend(CronScheduler::new(scan_schedule.clone()))
                    .data(scan_worker.clone())
                    .build(automation::scans::tick)
            })
            .register(move |_restarts| {
                WorkerBuilder::new("campaign-metrics")
                    .backend(CronScheduler::new(metrics_schedule.clone()))
                    .data(metrics_worker.clone())
                    .build(campaigns::metrics::recount)
            })
            .register(move |_restarts| {
                WorkerBuilder::new("analytics-catch-up")
                    .backend(CronScheduler::new(analytics_schedule.clone()))
                    .data(analytics_worker.clone())
                    .build(analytics::catch_up)
            })
            .register(move |_restarts| {
                WorkerBuilder::new("analytics-snapshots")
                    .backend(CronScheduler::new(snapshot_schedule.clone()))
                    .data(snapshot_worker.clone())
                    .build(analytics::snapshot)
            })
            .register(move |_restarts| {
                WorkerBuilder::new("background-job-recovery")
                    .backend(CronScheduler::new(recovery_schedule.clone()))
                    .data(recovery_worker.clone())
                    .build(background_jobs::recover)
            })
            .shutdown_timeout(SHUTDOWN_GRACE);
        if maintenance::autovacuum_is_off(&self.db).await? {
            tracing::warn!(
                "autovacuum is off on the database server: the worker analyzes and vacuums jornada's tables itself"
            );
            monitor = monitor.register(move |_restarts| {
                WorkerBuilder::new("statistics-upkeep")
                    .backend(CronScheduler::new(statistics_schedule.clone()))
                    .data(statistics_db.clone())
                    .build(maintenance::upkeep)
            });
        }
        // Each applier takes its own partition of the queue; appliers in
        // other processes take the same ones beside them (PostgreSQL's picks
        // skip each other's rows).
        let consumers = self.domain_event_consumers();
        let appliers = entity::tuning::webhook_appliers(backend);
        for index in 0..appliers {
            let partition = entity::db::Partition {
                index,
                of: appliers,
            };
            let (worker, consumers) = (self.clone(), consumers.clone());
            monitor = monitor.register(move |_restarts| {
                let (turns, report) =
                    Turns::new(Wake::Arrivals(worker.signals.webhook_arrivals()), IDLE_POLL);
                WorkerBuilder::new(format!("webhook-applier-{index}"))
                    .backend(turns)
                    .data(Applier {
                        worker: worker.clone(),
                        consumers: consumers.clone(),
                        partition,
                        report,
                    })
                    .build(apply_webhook_events)
            });
        }
        // Dispatchers likewise take their own partition, by customer, so one
        // customer's events are delivered in order.
        let dispatchers = entity::tuning::domain_event_dispatchers(backend);
        for index in 0..dispatchers {
            let partition = entity::db::Partition {
                index,
                of: dispatchers,
            };
            let (worker, consumers) = (self.clone(), consumers.clone());
            monitor = monitor.register(move |_restarts| {
                let (turns, report) = Turns::new(
                    Wake::Arrivals(worker.signals.domain_event_arrivals()),
                    IDLE_POLL,
                );
                WorkerBuilder::new(format!("domain-event-dispatcher-{index}"))
                    .backend(turns)
                    .data(Dispatcher {
                        worker: worker.clone(),
                        consumers: consumers.clone(),
                        partition,
                        report,
                    })
                    .build(dispatch_domain_events)
            });
        }
        let shared = campaigns::runner::RunnersShared::default();
        for index in 0..entity::tuning::campaign_runners(backend) {
            let (worker, shared) = (self.clone(), shared.clone());
            monitor = monitor.register(move |_restarts| {
                let (turns, report) =
                    Turns::new(Wake::CampaignWork(worker.signals.clone()), IDLE_POLL);
                let runner = worker.campaign_runner(shared.clone());
                WorkerBuilder::new(format!("campaign-runner-{index}"))
                    .backend(turns)
                    .data(CampaignRunner {
                        runner: Arc::new(tokio::sync::Mutex::new(runner)),
                        report,
                    })
                    .build(run_campaigns)
            });
        }
        let sender_shared = shared.clone();
        let worker = self.clone();
        monitor = monitor.register(move |_restarts| {
            let (turns, report) =
                Turns::new(Wake::DispatchSends(worker.signals.clone()), IDLE_POLL);
            WorkerBuilder::new("dispatch-sender")
                .backend(turns)
                .data(DispatchSender {
                    sender: Arc::new(worker.dispatch_sender(sender_shared.clone())),
                    report,
                })
                .build(send_dispatches)
        });
        let monitor = self.register_background_jobs(monitor);
        tracing::info!(webhook_appliers = appliers, "worker started");
        monitor
            .run_with_signal(async move {
                shutdown.await;
                Ok(())
            })
            .await
            .map_err(|e| Error::Monitor(e.to_string()))?;
        tracing::info!("worker stopped");
        Ok(())
    }

    /// A campaign runner of this worker, with fresh caches, sharing
    /// `shared` with the other runners of the process.
    pub fn campaign_runner(
        &self,
        shared: campaigns::runner::RunnersShared,
    ) -> campaigns::runner::Runner {
        campaigns::runner::Runner {
            db: self.db.clone(),
            secrets: self.secrets.clone(),
            public_url: self.public_url.clone(),
            graphs: campaigns::runner::GraphCache::default(),
            channels: channels::ChannelsCache::default(),
            lease: self.lease,
            shared,
            clock: self.clock.clone(),
            signals: self.signals.clone(),
        }
    }

    /// The sender of approved dispatch items, sharing `shared`'s rate
    /// limits with the campaign runners of the process.
    pub fn dispatch_sender(
        &self,
        shared: campaigns::runner::RunnersShared,
    ) -> automation::sender::DispatchSender {
        automation::sender::DispatchSender {
            db: self.db.clone(),
            secrets: self.secrets.clone(),
            public_url: self.public_url.clone(),
            lease: self.lease,
            clock: self.clock.clone(),
            channels: channels::ChannelsCache::default(),
            shared,
            signals: self.signals.clone(),
        }
    }

    /// The consumers domain events are delivered to, in order.
    pub fn domain_event_consumers(&self) -> Consumers {
        Arc::new(vec![
            Box::new(domain_events::Timeline),
            Box::new(segments::ChurnRisk {
                secrets: self.secrets.clone(),
            }),
            Box::new(campaigns::triggers::CampaignTriggers),
            Box::new(campaigns::goals::CampaignGoals),
            Box::new(automation::events::AutomationRules {
                secrets: self.secrets.clone(),
            }),
        ])
    }

    /// The worker that runs background jobs from the job queue: woken by
    /// PostgreSQL's notification of a new task, or by polling on SQLite.
    fn register_background_jobs(&self, monitor: Monitor) -> Monitor {
        use entity::background_jobs::JobQueue;
        let worker = self.clone();
        // The job queue keeps its workers by name while their heartbeat is
        // fresh: each process gets a name of its own, so a worker restarted
        // right after a crash, or a second worker process, takes jobs too.
        let name = format!("background-jobs-{}", uuid::Uuid::new_v4().simple());
        match JobQueue::new(&self.db) {
            JobQueue::Postgres(storage) => monitor.register(move |_restarts| {
                WorkerBuilder::new(name.clone())
                    .backend(storage.clone().with_pubsub().poll_with_interval(JOB_POLL))
                    .data(worker.clone())
                    .build(background_jobs::run)
            }),
            JobQueue::Sqlite(storage) => monitor.register(move |_restarts| {
                WorkerBuilder::new(name.clone())
                    .backend(storage.clone().poll_with_interval(JOB_POLL))
                    .data(worker.clone())
                    .build(background_jobs::run)
            }),
        }
    }
}

/// The consumers domain events are delivered to, in order.
pub type Consumers = Arc<Vec<Box<dyn domain_events::DomainEventConsumer>>>;

/// One webhook applier: its partition of the queue.
#[derive(Clone)]
struct Applier {
    worker: Worker,
    consumers: Consumers,
    partition: entity::db::Partition,
    report: TurnReport,
}

/// An applier's turn: one batch of its partition's stored events.
async fn apply_webhook_events(_: Turn, applier: Data<Applier>) -> Result<(), BoxDynError> {
    let worker = &applier.worker;
    let now = worker.clock.now();
    let applied = worker
        .signals
        .in_turn_with_inbound(hotmart::applier::apply_batch(
            &worker.db,
            &worker.secrets,
            &applier.consumers,
            applier.partition,
            EVENT_BATCH,
            now,
        ))
        .await;
    if matches!(applied, Ok(n) if n > 0) {
        // Events the batch could not deliver itself wait for a dispatcher;
        // those it did may have enrolled recipients or approved sends.
        worker.signals.domain_events_recorded();
        worker.signals.campaign_work_stored();
    }
    applier.report.result("applying webhook events", applied);
    Ok(())
}

/// One domain-event dispatcher: its partition and the consumers it delivers to.
#[derive(Clone)]
struct Dispatcher {
    worker: Worker,
    consumers: Consumers,
    partition: entity::db::Partition,
    report: TurnReport,
}

/// A dispatcher's turn: one batch of undelivered domain events.
async fn dispatch_domain_events(_: Turn, dispatcher: Data<Dispatcher>) -> Result<(), BoxDynError> {
    let worker = &dispatcher.worker;
    let now = worker.clock.now();
    let dispatched = worker
        .signals
        .in_turn_with_inbound(domain_events::dispatch_batch(
            &worker.db,
            &dispatcher.consumers,
            dispatcher.partition,
            EVENT_BATCH,
            now,
        ))
        .await;
    if matches!(dispatched, Ok(n) if n > 0) {
        // Consumers may have enrolled recipients.
        worker.signals.campaign_work_stored();
    }
    dispatcher
        .report
        .result("dispatching domain events", dispatched);
    Ok(())
}

/// One campaign runner, with the caches it keeps between batches.
#[derive(Clone)]
struct CampaignRunner {
    runner: Arc<tokio::sync::Mutex<campaigns::runner::Runner>>,
    report: TurnReport,
}

/// A runner's turn: one batch of due recipients.
async fn run_campaigns(_: Turn, runner: Data<CampaignRunner>) -> Result<(), BoxDynError> {
    let stepped = runner.runner.lock().await.run_batch(RECIPIENT_BATCH).await;
    runner
        .report
        .result("advancing campaign recipients", stepped);
    Ok(())
}

/// The sender of approved dispatch items.
#[derive(Clone)]
struct DispatchSender {
    sender: Arc<automation::sender::DispatchSender>,
    report: TurnReport,
}

/// The sender's turn: one batch of approved items due.
async fn send_dispatches(_: Turn, sender: Data<DispatchSender>) -> Result<(), BoxDynError> {
    let sent = sender.sender.send_batch(RECIPIENT_BATCH).await;
    sender
        .report
        .result("sending approved dispatch items", sent);
    Ok(())
}
