//! Delivers recorded domain events to every consumer, at least once.
//!
//! Consumers handle events inside the transaction that marks them dispatched
//! (or, for an event coming round again, records who already handled it), so
//! their database effects happen exactly once even after a crash.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use entity::Tenant;
use entity::db::Partition;
use entity::entities::domain_event;

/// Something that reacts to domain events (campaign triggers, automation
/// rules, the timeline). `name` is stored with each delivery: never rename one.
pub trait DomainEventConsumer: Send + Sync {
    fn name(&self) -> &'static str;

    /// Handles `events` (in the order they happened) inside `txn`; an error
    /// rolls back this consumer's handling of all of them. The dispatcher
    /// then hands them over one at a time, so only the event that fails is
    /// retried.
    fn handle<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        events: &'a [&'a domain_event::Model],
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), entity::Error>>;
}

/// The events about a customer, by workspace (in the order they came).
pub fn about_customers_by_workspace<'a>(
    events: &[&'a domain_event::Model],
) -> std::collections::BTreeMap<Uuid, Vec<&'a domain_event::Model>> {
    let mut by_workspace: std::collections::BTreeMap<Uuid, Vec<&domain_event::Model>> =
        std::collections::BTreeMap::new();
    for event in events.iter().filter(|e| e.customer_id.is_some()) {
        by_workspace
            .entry(event.workspace_id)
            .or_default()
            .push(event);
    }
    by_workspace
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
        events: &'a [&'a domain_event::Model],
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), entity::Error>> {
        Box::pin(async move {
            let activities = events
                .iter()
                .filter_map(|event| {
                    let customer_id = event.customer_id?;
                    let mut data = event.data.clone();
                    if let Some(object) = data.as_object_mut() {
                        object.insert("domainEventId".into(), json!(event.id));
                    }
                    Some(entity::customers::Activity {
                        tenant: Tenant::new(event.workspace_id),
                        customer_id,
                        activity_type: event.event_type.clone(),
                        description: None,
                        data,
                        occurred_at: event.occurred_at,
                    })
                })
                .collect();
            entity::customers::record_activities(txn, activities, now).await
        })
    }
}

/// Takes a batch of pending events and delivers them to every consumer
/// ([`deliver`]), in one transaction: a dispatcher that dies leaves them
/// pending, and nothing of their handling stored. Returns how many events
/// were fully dispatched.
///
/// Dispatchers side by side take their own `partition` of the events, by
/// customer, so one customer's events are delivered in order, by one of them.
pub async fn dispatch_batch(
    db: &DatabaseConnection,
    consumers: &[Box<dyn DomainEventConsumer>],
    partition: Partition,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<usize, entity::Error> {
    let Some(txn) =
        entity::db::begin_taking(db, entity::domain_events::pending(partition, now)).await?
    else {
        return Ok(0);
    };
    let events = entity::domain_events::claim_pending(&txn, partition, limit, now).await?;
    if events.is_empty() {
        return Ok(0);
    }
    let dispatched = deliver(&txn, consumers, &events, now).await?;
    txn.commit().await?;
    Ok(dispatched)
}

/// Delivers the domain events that the webhook events `sources` recorded in
/// `txn`, the transaction applying them, before it commits: a postback's
/// effects and its consumers' (a welcome approved, a campaign entered) then
/// land together, without waiting for a dispatcher's turn. A customer who
/// still has events pending from before keeps all of theirs for the
/// dispatcher, so their events are still delivered in order; those a
/// consumer fails on wait for their retry like any other. All of it happens
/// in a savepoint: should delivering fail as a whole, `txn` still commits
/// what it applied, and its events wait for a dispatcher.
pub async fn deliver_recorded(
    txn: &DatabaseTransaction,
    consumers: &[Box<dyn DomainEventConsumer>],
    sources: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    let savepoint = txn.begin().await?;
    let delivered = async {
        let events = entity::domain_events::first_in_line(&savepoint, sources).await?;
        deliver(&savepoint, consumers, &events, now).await
    };
    match delivered.await {
        Ok(delivered) => {
            savepoint.commit().await?;
            tracing::debug!(
                delivered,
                "a webhook batch's domain events delivered with it"
            );
        }
        Err(err) => {
            savepoint.rollback().await?;
            tracing::warn!(error = %err, "delivering a webhook batch's domain events failed; the dispatchers deliver them");
        }
    }
    Ok(())
}

/// Delivers `events` (in order) to every consumer inside `txn`: each
/// consumer takes them all at once, in a savepoint; should that fail, it
/// takes them one at a time, each in its own savepoint, so a failing event
/// undoes only its own handling. Returns how many events were fully
/// dispatched.
///
/// A delivery is recorded only where it must be remembered: for an event
/// that will come round again because a consumer failed on it. An event
/// every consumer handled is marked dispatched in the same transaction as
/// their effects, which is record enough.
async fn deliver(
    txn: &DatabaseTransaction,
    consumers: &[Box<dyn DomainEventConsumer>],
    events: &[domain_event::Model],
    now: DateTime<Utc>,
) -> Result<usize, entity::Error> {
    // Per event: the consumers that handled it now, and the first error.
    let mut handled: HashMap<Uuid, Vec<&'static str>> = HashMap::new();
    let mut failed: HashMap<Uuid, entity::Error> = HashMap::new();
    for consumer in consumers {
        let mut todo: Vec<&domain_event::Model> = Vec::with_capacity(events.len());
        for event in events {
            // Only an event that failed before can have deliveries
            // recorded by an earlier try.
            if event.attempts > 0
                && entity::domain_events::delivered(txn, event.id, consumer.name()).await?
            {
                continue;
            }
            todo.push(event);
        }
        if todo.is_empty() {
            continue;
        }
        let together = txn.begin().await?;
        match consumer.handle(&together, &todo, now).await {
            Ok(()) => {
                together.commit().await?;
                for event in &todo {
                    handled.entry(event.id).or_default().push(consumer.name());
                }
                continue;
            }
            Err(err) => {
                together.rollback().await?;
                tracing::debug!(consumer = consumer.name(), events = todo.len(), error = %err, "delivering domain events together failed; delivering them one by one");
            }
        }
        for event in todo {
            let alone = txn.begin().await?;
            match consumer.handle(&alone, &[event], now).await {
                Ok(()) => {
                    alone.commit().await?;
                    handled.entry(event.id).or_default().push(consumer.name());
                }
                Err(err) => {
                    alone.rollback().await?;
                    tracing::warn!(domain_event_id = %event.id, event_type = %event.event_type, consumer = consumer.name(), error = %err, "domain event delivery failed; will retry");
                    failed.entry(event.id).or_insert(err);
                }
            }
        }
    }
    let dispatched: Vec<Uuid> = events
        .iter()
        .map(|e| e.id)
        .filter(|id| !failed.contains_key(id))
        .collect();
    entity::domain_events::mark_dispatched(txn, &dispatched, now).await?;
    for event in events {
        let Some(err) = failed.get(&event.id) else {
            continue;
        };
        // The event comes round again: the consumers that handled it now
        // must then be skipped.
        for consumer in handled.get(&event.id).into_iter().flatten() {
            entity::domain_events::mark_delivered(txn, event.id, consumer, now).await?;
        }
        entity::domain_events::retry_later(txn, event, &err.to_string(), now).await?;
    }
    Ok(dispatched.len())
}
