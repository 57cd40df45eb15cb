//! The webhook applier: takes stored events and applies a whole batch in the
//! transaction that took them, each event inside its own savepoint, marking
//! it processed, ignored, retried with backoff, or dead. Hotmart's
//! postbacks are applied here; Chatwoot's deliveries taken in the same
//! batch by [`crate::chatwoot::applier`].
//!
//! One commit per batch instead of one per event is what lets a launch-day
//! backlog drain at the speed of the statements rather than of the disk
//! flushes; the savepoints keep one bad event from undoing the others.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use entity::db::Partition;
use entity::entities::enums::WebhookEventStatus;
use entity::entities::webhook_event;
use entity::webhook_events;
use entity::{SecretKey, Tenant};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, TransactionTrait,
};
use uuid::Uuid;

use super::effects::{self, Source};
use crate::domain_events::DomainEventConsumer;
use entity::hotmart::{HotmartEvent, Purchase, decode, parse_envelope};

/// Why an event could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The stored payload cannot be understood; retrying will not help.
    #[error("{0}")]
    Undecodable(String),
    /// Something that may pass (the database, a lock); retried with backoff.
    #[error(transparent)]
    Transient(#[from] entity::Error),
}

/// Reads a stored event back into what it says.
fn decode_stored(event: &webhook_event::Model) -> Result<HotmartEvent, ApplyError> {
    let envelope = parse_envelope(event.payload.as_bytes())
        .map_err(|e| ApplyError::Undecodable(e.to_string()))?;
    decode(&envelope).map_err(|e| ApplyError::Undecodable(e.to_string()))
}

fn customer_of(decoded: &Result<HotmartEvent, ApplyError>) -> Option<&str> {
    decoded.as_ref().ok().and_then(HotmartEvent::customer_email)
}

/// Applies one decoded event and marks it finished, all through `db`;
/// returns the status it ends in.
async fn apply_decoded<C: ConnectionTrait>(
    db: &C,
    secrets: &SecretKey,
    event: &webhook_event::Model,
    decoded: &HotmartEvent,
    now: DateTime<Utc>,
) -> Result<WebhookEventStatus, ApplyError> {
    let tenant = Tenant::new(event.workspace_id);
    let source = Source::Webhook(event.id);
    let applied = match decoded {
        HotmartEvent::Purchase(purchase) => {
            effects::apply_purchase(db, tenant, purchase, source, now).await
        }
        HotmartEvent::CartAbandoned(cart) => {
            effects::apply_cart_abandoned(db, tenant, cart, source, now).await
        }
        HotmartEvent::SubscriptionCancelled(e) => {
            effects::apply_subscription_cancelled(db, tenant, e, source, now).await
        }
        HotmartEvent::PlanSwitched(e) => {
            effects::apply_plan_switched(db, tenant, e, source, now).await
        }
        HotmartEvent::ChargeDateChanged(e) => {
            effects::apply_charge_date_changed(db, tenant, e, source, now).await
        }
        HotmartEvent::FirstAccess(e) => {
            effects::apply_first_access(db, tenant, secrets, e, source, now).await
        }
        HotmartEvent::ModuleCompleted(e) => {
            effects::apply_module_completed(db, tenant, secrets, e, source, now).await
        }
        HotmartEvent::OrderFulfillment(e) => {
            effects::apply_order_fulfillment(db, tenant, e, source, now).await
        }
        HotmartEvent::Unknown(name) => {
            tracing::info!(webhook_event_id = %event.id, event = %name, "unknown hotmart event ignored");
            webhook_events::finish(db, event.id, WebhookEventStatus::Ignored, now).await?;
            return Ok(WebhookEventStatus::Ignored);
        }
    };
    match applied {
        Ok(()) => {}
        // Facts the domain cannot take (e.g. an unknown subscriber with no e-mail) will not change on retry.
        Err(entity::Error::Invalid(why)) => return Err(ApplyError::Undecodable(why)),
        Err(other) => return Err(other.into()),
    }
    webhook_events::finish(db, event.id, WebhookEventStatus::Processed, now).await?;
    Ok(WebhookEventStatus::Processed)
}

/// Takes up to `limit` of `partition`'s due events and applies them in one
/// transaction; returns how many were taken. The domain events the batch
/// records are delivered to `consumers` before it commits
/// ([`crate::domain_events::deliver_recorded`]); with none, all are left to
/// the dispatchers.
///
/// On PostgreSQL several appliers run side by side (see
/// [`entity::tuning::webhook_appliers`]), each taking its own partition of the
/// queue, split by customer, so their batches never wait on each other's
/// customer rows (appliers in other processes take the same partitions and
/// skip each other's rows). An event naming no customer by e-mail (a
/// subscriber code alone) may still meet another batch's customer; the
/// two wait for each other, and application is order-tolerant whichever
/// commits first. The products and offers the batches share are recorded
/// first, each batch's in a short transaction of their own, in one fixed
/// order.
pub async fn apply_batch(
    db: &DatabaseConnection,
    secrets: &SecretKey,
    consumers: &[Box<dyn DomainEventConsumer>],
    partition: Partition,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<usize, entity::Error> {
    let Some(txn) = entity::db::begin_taking(db, webhook_events::due(partition, now)).await? else {
        return Ok(0);
    };
    let events = webhook_events::claim_due(&txn, partition, limit, now).await?;
    if events.is_empty() {
        return Ok(0);
    }
    let (chatwoot, hotmart): (Vec<&webhook_event::Model>, Vec<&webhook_event::Model>) = events
        .iter()
        .partition(|e| e.source == webhook_events::CHATWOOT);
    let mut work: Vec<Work<'_>> = hotmart.into_iter().map(|e| (e, decode_stored(e))).collect();
    // SQLite's one writer applies one batch at a time, and a second write
    // transaction would wait for this one.
    if db.get_database_backend() == DbBackend::Postgres {
        prepare_catalog(db, &work, now).await;
    }
    // Every applier takes its customers' rows in the same (e-mail) order.
    // The sort is stable: one customer's events keep their order.
    work.sort_by_cached_key(|(_, decoded)| customer_of(decoded).map(entity::customers::email_key));
    apply_taken(&txn, secrets, work, now).await?;
    crate::chatwoot::applier::apply_taken(&txn, &chatwoot, now).await?;
    if !consumers.is_empty() {
        let sources: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        crate::domain_events::deliver_recorded(&txn, consumers, &sources, now).await?;
    }
    txn.commit().await?;
    Ok(events.len())
}

/// Records the products and offers the batch's purchases name before it is
/// applied ([`effects::prepare_catalog`]). Should that fail, applying records
/// them, as it would anyway.
async fn prepare_catalog(db: &DatabaseConnection, batch: &[Work<'_>], now: DateTime<Utc>) {
    let mut purchases: BTreeMap<Uuid, Vec<&Purchase>> = BTreeMap::new();
    for (event, decoded) in batch {
        if let Ok(HotmartEvent::Purchase(purchase)) = decoded {
            purchases
                .entry(event.workspace_id)
                .or_default()
                .push(purchase);
        }
    }
    if purchases.is_empty() {
        return;
    }
    let prepared = async {
        let txn = entity::db::begin_write(db).await?;
        for (workspace_id, purchases) in &purchases {
            effects::prepare_catalog(&txn, Tenant::new(*workspace_id), purchases, now).await?;
        }
        txn.commit().await?;
        Ok::<_, entity::Error>(())
    };
    if let Err(err) = prepared.await {
        tracing::warn!(error = %err, "recording a webhook batch's products and offers failed");
    }
}

type Work<'a> = (&'a webhook_event::Model, Result<HotmartEvent, ApplyError>);

/// Applies a batch taken by `txn`, in its order.
///
/// The purchases of a workspace (a launch day's bulk) are applied together
/// by [`effects::apply_purchases`], in one savepoint; should that fail, each is
/// applied on its own like every other event, so only the culprit fails.
async fn apply_taken(
    txn: &DatabaseTransaction,
    secrets: &SecretKey,
    work: Vec<Work<'_>>,
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    let mut purchases: BTreeMap<Uuid, Vec<(&webhook_event::Model, &Purchase)>> = BTreeMap::new();
    for (event, decoded) in &work {
        if let Ok(HotmartEvent::Purchase(purchase)) = decoded {
            purchases
                .entry(event.workspace_id)
                .or_default()
                .push((*event, purchase));
        }
    }
    let mut applied: HashSet<Uuid> = HashSet::new();
    for (workspace_id, batch) in &purchases {
        let items: Vec<_> = batch
            .iter()
            .map(|(event, purchase)| (*purchase, Source::Webhook(event.id)))
            .collect();
        let ids: Vec<Uuid> = batch.iter().map(|(event, _)| event.id).collect();
        let savepoint = txn.begin().await?;
        let together = async {
            effects::apply_purchases(&savepoint, Tenant::new(*workspace_id), &items, now).await?;
            webhook_events::finish_many(&savepoint, &ids, WebhookEventStatus::Processed, now).await
        };
        match together.await {
            Ok(()) => {
                savepoint.commit().await?;
                tracing::debug!(events = ids.len(), "webhook purchases applied together");
                applied.extend(ids);
            }
            Err(err) => {
                savepoint.rollback().await?;
                tracing::debug!(error = %err, events = ids.len(), "applying purchases together failed; applying them one by one");
            }
        }
    }
    for (event, decoded) in work {
        if applied.contains(&event.id) {
            continue;
        }
        let outcome = match decoded {
            Ok(decoded) => {
                let savepoint = txn.begin().await?;
                match apply_decoded(&savepoint, secrets, event, &decoded, now).await {
                    Ok(status) => {
                        savepoint.commit().await?;
                        Ok(status)
                    }
                    Err(err) => {
                        savepoint.rollback().await?;
                        Err(err)
                    }
                }
            }
            Err(err) => Err(err),
        };
        settle(txn, event, outcome, now).await?;
    }
    Ok(())
}

/// Records how applying a taken event went, in the transaction that took
/// it: applied (marked by the effects), dead when it can never apply, or
/// retried with backoff.
pub(crate) async fn settle(
    txn: &DatabaseTransaction,
    event: &webhook_event::Model,
    outcome: Result<WebhookEventStatus, ApplyError>,
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    match outcome {
        Ok(status) => {
            tracing::debug!(webhook_event_id = %event.id, ?status, "webhook event applied")
        }
        Err(ApplyError::Undecodable(why)) => {
            tracing::warn!(webhook_event_id = %event.id, event_type = %event.event_type, error = %why, "webhook event cannot be applied");
            webhook_events::bury(txn, event, &why).await?;
        }
        Err(ApplyError::Transient(err)) => {
            // The cause is logged; what users see never carries database text.
            let status = webhook_events::fail(
                txn,
                event,
                "a temporary failure while applying; it will be retried",
                now,
            )
            .await?;
            tracing::warn!(webhook_event_id = %event.id, event_type = %event.event_type, attempts = event.attempts + 1, ?status, error = %err, "applying a webhook event failed");
        }
    }
    Ok(())
}
