//! The webhook applier: claims stored events and applies each in its own
//! transaction, marking it processed, ignored, retried with backoff, or dead.

use chrono::Utc;
use entity::Tenant;
use entity::entities::enums::WebhookEventStatus;
use entity::entities::webhook_event;
use entity::webhook_events;
use sea_orm::DatabaseConnection;

use super::apply::{self, Source};
use super::events::{HotmartEvent, decode, parse_envelope};

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

/// Applies one stored Hotmart event; returns the status it ends in.
pub async fn apply_event(
    db: &DatabaseConnection,
    event: &webhook_event::Model,
) -> Result<WebhookEventStatus, ApplyError> {
    let envelope = parse_envelope(event.payload.as_bytes())
        .map_err(|e| ApplyError::Undecodable(e.to_string()))?;
    let decoded = decode(&envelope).map_err(|e| ApplyError::Undecodable(e.to_string()))?;
    let tenant = Tenant::new(event.workspace_id);
    let source = Source::Webhook(event.id);
    let txn = entity::db::begin_write(db)
        .await
        .map_err(entity::Error::from)?;
    let status = match &decoded {
        HotmartEvent::Purchase(purchase) => apply::apply_purchase(&txn, tenant, purchase, source)
            .await
            .map(|_| WebhookEventStatus::Processed),
        HotmartEvent::CartAbandoned(cart) => {
            apply::apply_cart_abandoned(&txn, tenant, cart, source)
                .await
                .map(|_| WebhookEventStatus::Processed)
        }
        HotmartEvent::SubscriptionCancelled(e) => {
            apply::apply_subscription_cancelled(&txn, tenant, e, source)
                .await
                .map(|_| WebhookEventStatus::Processed)
        }
        HotmartEvent::PlanSwitched(e) => apply::apply_plan_switched(&txn, tenant, e, source)
            .await
            .map(|_| WebhookEventStatus::Processed),
        HotmartEvent::ChargeDateChanged(e) => {
            apply::apply_charge_date_changed(&txn, tenant, e, source)
                .await
                .map(|_| WebhookEventStatus::Processed)
        }
        HotmartEvent::FirstAccess(e) => apply::apply_first_access(&txn, tenant, e, source)
            .await
            .map(|_| WebhookEventStatus::Processed),
        HotmartEvent::ModuleCompleted(e) => apply::apply_module_completed(&txn, tenant, e, source)
            .await
            .map(|_| WebhookEventStatus::Processed),
        HotmartEvent::OrderFulfillment(e) => {
            apply::apply_order_fulfillment(&txn, tenant, e, source)
                .await
                .map(|_| WebhookEventStatus::Processed)
        }
        HotmartEvent::Unknown(name) => {
            tracing::info!(webhook_event_id = %event.id, event = %name, "unknown hotmart event ignored");
            Ok(WebhookEventStatus::Ignored)
        }
    };
    let status = match status {
        Ok(status) => status,
        // Facts the domain cannot take (e.g. an unknown subscriber with no e-mail) will not change on retry.
        Err(entity::Error::Invalid(why)) => return Err(ApplyError::Undecodable(why)),
        Err(other) => return Err(other.into()),
    };
    webhook_events::finish(&txn, event.id, status, Utc::now()).await?;
    txn.commit().await.map_err(entity::Error::from)?;
    Ok(status)
}

/// Claims up to `limit` due events and applies them; returns how many were claimed.
pub async fn apply_batch(db: &DatabaseConnection, limit: u64) -> Result<usize, entity::Error> {
    let events = webhook_events::claim_due(db, limit, Utc::now()).await?;
    for event in &events {
        match apply_event(db, event).await {
            Ok(status) => {
                tracing::debug!(webhook_event_id = %event.id, ?status, "webhook event applied")
            }
            Err(ApplyError::Undecodable(why)) => {
                tracing::warn!(webhook_event_id = %event.id, event_type = %event.event_type, error = %why, "webhook event cannot be applied");
                webhook_events::bury(db, event, &why, Utc::now()).await?;
            }
            Err(ApplyError::Transient(err)) => {
                // The cause is logged; what users see never carries database text.
                let status = webhook_events::fail(
                    db,
                    event,
                    "a temporary failure while applying; it will be retried",
                    Utc::now(),
                )
                .await?;
                tracing::warn!(webhook_event_id = %event.id, event_type = %event.event_type, attempts = event.attempts, ?status, error = %err, "applying a webhook event failed");
            }
        }
    }
    Ok(events.len())
}
