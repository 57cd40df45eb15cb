//! Delivers recorded domain events to every consumer, at least once.
//!
//! A consumer handles an event inside a transaction that also records its
//! delivery, so its database effects happen exactly once even when the event
//! comes round again after a crash.

use chrono::Utc;
use futures::future::BoxFuture;
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use serde_json::json;

use entity::Tenant;
use entity::entities::domain_event;

/// Something that reacts to domain events (campaign triggers, automation
/// rules, the timeline). `name` is stored with each delivery: never rename one.
pub trait DomainEventConsumer: Send + Sync {
    fn name(&self) -> &'static str;

    /// Handles one event inside `txn`; an error rolls back and retries later.
    fn handle<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        event: &'a domain_event::Model,
    ) -> BoxFuture<'a, Result<(), entity::Error>>;
}

/// Writes every domain event about a customer into their timeline.
pub struct Timeline;

impl DomainEventConsumer for Timeline {
    fn name(&self) -> &'static str {
        "timeline"
    }

    fn handle<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        event: &'a domain_event::Model,
    ) -> BoxFuture<'a, Result<(), entity::Error>> {
        Box::pin(async move {
            let Some(customer_id) = event.customer_id else {
                return Ok(());
            };
            let mut data = event.data.clone();
            if let Some(object) = data.as_object_mut() {
                object.insert("domainEventId".into(), json!(event.id));
            }
            entity::customers::record_activity(
                txn,
                Tenant::new(event.workspace_id),
                customer_id,
                &event.event_type,
                None,
                data,
                event.occurred_at,
            )
            .await?;
            Ok(())
        })
    }
}

/// Claims a batch of pending events and delivers each to every consumer, in
/// one transaction for the batch with a savepoint per delivery (a failing
/// consumer undoes only its own handling of that event); returns how many
/// events were fully dispatched.
pub async fn dispatch_batch(
    db: &DatabaseConnection,
    consumers: &[Box<dyn DomainEventConsumer>],
    limit: u64,
) -> Result<usize, entity::Error> {
    let events = entity::domain_events::claim_pending(db, limit, Utc::now()).await?;
    if events.is_empty() {
        return Ok(0);
    }
    let txn = entity::db::begin_write(db).await?;
    let mut dispatched = 0;
    for event in &events {
        match deliver(&txn, consumers, event).await {
            Ok(()) => {
                entity::domain_events::mark_dispatched(&txn, event.id, Utc::now()).await?;
                dispatched += 1;
            }
            Err(err) => {
                tracing::warn!(domain_event_id = %event.id, event_type = %event.event_type, error = %err, "domain event delivery failed; will retry");
                entity::domain_events::retry_later(&txn, event, &err.to_string(), Utc::now())
                    .await?;
            }
        }
    }
    txn.commit().await?;
    Ok(dispatched)
}

async fn deliver(
    txn: &DatabaseTransaction,
    consumers: &[Box<dyn DomainEventConsumer>],
    event: &domain_event::Model,
) -> Result<(), entity::Error> {
    for consumer in consumers {
        if entity::domain_events::delivered(txn, event.id, consumer.name()).await? {
            continue;
        }
        let savepoint = txn.begin().await?;
        let handled = match consumer.handle(&savepoint, event).await {
            Ok(()) => {
                entity::domain_events::mark_delivered(&savepoint, event.id, consumer.name()).await
            }
            Err(err) => Err(err),
        };
        match handled {
            Ok(()) => savepoint.commit().await?,
            Err(err) => {
                savepoint.rollback().await?;
                return Err(err);
            }
        }
    }
    Ok(())
}
