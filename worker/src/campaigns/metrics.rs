//! Deliveries, reads, clicks and conversions keep arriving after an
//! execution's last step: every five minutes the stored metrics of running
//! executions, and of those completed within a week, catch up with them.

use apalis::prelude::{BoxDynError, Data};
use apalis_cron::Tick;

use crate::Worker;

/// Every five minutes, on the minute.
pub const SCHEDULE: &str = "0 */5 * * * *";

/// The cron job: recounts the executions' stored metrics.
pub async fn recount(_: Tick, worker: Data<Worker>) -> Result<(), BoxDynError> {
    let changed = entity::executions::recount_settling(&worker.db, worker.clock.now()).await?;
    if changed > 0 {
        tracing::debug!(changed, "campaign executions' stored metrics recounted");
    }
    Ok(())
}
