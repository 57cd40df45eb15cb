//! Everything that happens in the background: apalis workers and cron jobs.
//! Workers coordinate only through the database, so any number of
//! `jornada worker` processes can run beside the API.

pub mod customers;

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use apalis::prelude::*;
use apalis_cron::CronScheduler;
use sea_orm::DatabaseConnection;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the worker monitor failed: {0}")]
    Monitor(String),
    #[error(transparent)]
    Entity(#[from] entity::Error),
}

/// How long running jobs get to finish after shutdown is requested.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Runs every worker until `shutdown` resolves, then lets running jobs finish.
pub async fn run(
    db: DatabaseConnection,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let segment_schedule = cron::Schedule::from_str(customers::SEGMENT_REFRESH_SCHEDULE)
        .map_err(|e| Error::Monitor(format!("segment refresh schedule: {e}")))?;
    tracing::info!("worker started");
    Monitor::new()
        .register(move |_restarts| {
            WorkerBuilder::new("segment-refresh")
                .backend(CronScheduler::new(segment_schedule.clone()))
                .data(db.clone())
                .build(customers::refresh_segments)
        })
        .shutdown_timeout(SHUTDOWN_GRACE)
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await
        .map_err(|e| Error::Monitor(e.to_string()))?;
    tracing::info!("worker stopped");
    Ok(())
}
