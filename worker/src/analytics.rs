//! The figures' tables catch up with what was applied: every fifteen
//! seconds the worker adds up again the days whose transactions changed and
//! derives again the MRR movements of subscriptions whose history grew;
//! every night it writes the day's snapshots.

use apalis::prelude::{BoxDynError, Data};
use apalis_cron::Tick;

use crate::Worker;

/// Every fifteen seconds.
pub const SCHEDULE: &str = "*/15 * * * * *";
/// Every night at 04:30 UTC, when yesterday has ended in the Americas and
/// in Europe.
pub const SNAPSHOT_SCHEDULE: &str = "0 30 4 * * *";

/// The cron job: catches every workspace's figures up.
pub async fn catch_up(_: Tick, worker: Data<Worker>) -> Result<(), BoxDynError> {
    let caught =
        entity::analytics::catch_up(&worker.db, &worker.secrets, worker.clock.now()).await?;
    if caught.total() > 0 {
        tracing::debug!(
            days = caught.days,
            subscriptions = caught.subscriptions,
            "analytics figures caught up"
        );
    }
    Ok(())
}

/// The nightly job: snapshots every workspace's yesterday (on its own
/// calendar) and that day's month.
pub async fn snapshot(_: Tick, worker: Data<Worker>) -> Result<(), BoxDynError> {
    let written = entity::analytics::snapshots::snapshot_yesterday(
        &worker.db,
        &worker.secrets,
        worker.clock.now(),
    )
    .await?;
    tracing::info!(written, "analytics snapshots written");
    Ok(())
}
