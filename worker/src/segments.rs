//! Keeps customers' access, segments and churn risk current.

use apalis::prelude::*;
use apalis_cron::Tick;
use chrono::Utc;
use sea_orm::DatabaseConnection;

/// Every hour, on the hour.
pub const SEGMENT_REFRESH_SCHEDULE: &str = "0 0 * * * *";

/// Reclassifies every workspace's customers (the cron tick's job).
pub async fn refresh_segments(
    _tick: Tick,
    db: Data<DatabaseConnection>,
) -> Result<(), BoxDynError> {
    let ended = entity::enrollments::expire_ended_access(&*db, Utc::now()).await?;
    if ended > 0 {
        tracing::info!(ended, "access past its end cancelled");
    }
    let changed = entity::segments::refresh_all(&db, Utc::now()).await?;
    tracing::info!(changed, "customer segments refreshed");
    Ok(())
}
