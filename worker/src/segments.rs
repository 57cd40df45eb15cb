//! Keeps customers' access, segments and churn risk current.

use apalis::prelude::*;
use apalis_cron::Tick;

/// Every hour, on the hour.
pub const SEGMENT_REFRESH_SCHEDULE: &str = "0 0 * * * *";

/// Reclassifies every workspace's customers (the cron tick's job).
pub async fn refresh_segments(_tick: Tick, worker: Data<crate::Worker>) -> Result<(), BoxDynError> {
    let db = &worker.db;
    let ended = entity::enrollments::expire_ended_access(db, worker.clock.now()).await?;
    if ended > 0 {
        tracing::info!(ended, "access past its end cancelled");
    }
    let changed = entity::segments::refresh_all(db, worker.clock.now()).await?;
    tracing::info!(changed, "customer segments refreshed");
    Ok(())
}
