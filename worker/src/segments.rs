//! Keeps customers' access, segments and churn risk current: every hour for
//! the passage of time, and for a customer as soon as an event about them
//! is applied.

use apalis::prelude::*;
use apalis_cron::Tick;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sea_orm::DatabaseTransaction;

use entity::Tenant;
use entity::entities::domain_event;

use crate::domain_events::{DomainEventConsumer, about_customers_by_workspace};

/// Every hour, on the hour.
pub const SEGMENT_REFRESH_SCHEDULE: &str = "0 0 * * * *";

/// Reclassifies every workspace's customers (the cron tick's job).
pub async fn refresh_segments(_tick: Tick, worker: Data<crate::Worker>) -> Result<(), BoxDynError> {
    let db = &worker.db;
    let ended = entity::enrollments::expire_ended_access(db, worker.clock.now()).await?;
    if ended > 0 {
        tracing::info!(ended, "access past its end cancelled");
    }
    let changed = entity::segments::refresh_all(db, &worker.secrets, worker.clock.now()).await?;
    tracing::info!(changed, "customer segments refreshed");
    Ok(())
}

/// Reclassifies the customers an event is about (a purchase, a refund
/// request, a late charge, an access, a module completed), before the
/// consumers after it (automation rules) read their segment and risk.
pub struct ChurnRisk {
    pub secrets: entity::SecretKey,
}

impl DomainEventConsumer for ChurnRisk {
    fn name(&self) -> &'static str {
        "churn_risk"
    }

    fn handle<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        events: &'a [&'a domain_event::Model],
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), entity::Error>> {
        Box::pin(async move {
            for (workspace, events) in about_customers_by_workspace(events) {
                let mut customers: Vec<_> = events.iter().filter_map(|e| e.customer_id).collect();
                customers.sort_unstable();
                customers.dedup();
                entity::segments::reclassify(
                    txn,
                    &self.secrets,
                    Tenant::new(workspace),
                    &customers,
                    now,
                )
                .await?;
            }
            Ok(())
        })
    }
}
