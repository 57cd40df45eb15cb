//! The figures' tables catch up with what was applied: every fifteen
//! seconds the worker adds up again the days whose transactions changed and
//! derives again the MRR movements of subscriptions whose history grew.

use apalis::prelude::{BoxDynError, Data};
use apalis_cron::Tick;

use crate::Worker;

/// Every fifteen seconds.
pub const SCHEDULE: &str = "*/15 * * * * *";

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
