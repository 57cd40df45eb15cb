//! Stored Chatwoot deliveries, applied in the webhook applier's batch
//! ([`crate::hotmart::applier::apply_batch`] takes them with the
//! postbacks), each in its own savepoint.

use chrono::{DateTime, Utc};
use entity::Tenant;
use entity::chatwoot::{self, ChatwootEvent, webhook};
use entity::entities::enums::WebhookEventStatus;
use entity::entities::webhook_event;
use entity::webhook_events;
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};
use serde_json::Value;

use crate::hotmart::applier::{ApplyError, settle};

/// Applies the Chatwoot deliveries `txn` took, in their order.
pub(crate) async fn apply_taken(
    txn: &DatabaseTransaction,
    events: &[&webhook_event::Model],
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    for event in events {
        let savepoint = txn.begin().await?;
        let outcome = match apply(&savepoint, event, now).await {
            Ok(status) => {
                savepoint.commit().await?;
                Ok(status)
            }
            Err(err) => {
                savepoint.rollback().await?;
                Err(err)
            }
        };
        settle(txn, event, outcome, now).await?;
    }
    Ok(())
}

/// Applies one delivery and marks it finished; returns the status it ends in.
async fn apply<C: ConnectionTrait>(
    db: &C,
    event: &webhook_event::Model,
    now: DateTime<Utc>,
) -> Result<WebhookEventStatus, ApplyError> {
    let body: Value = serde_json::from_str(&event.payload)
        .map_err(|_| ApplyError::Undecodable("the stored delivery is not JSON".into()))?;
    let status = match webhook::decode(&body).map_err(ApplyError::Undecodable)? {
        ChatwootEvent::Conversation(conversation) => {
            let tenant = Tenant::new(event.workspace_id);
            // Chatwoot delivers as things happen (and never again): the
            // moment it told jornada is when the labels changed.
            let recorded =
                chatwoot::record_conversation(db, tenant, &conversation, event.received_at, now)
                    .await
                    .map_err(|err| match err {
                        entity::Error::Invalid(why) => ApplyError::Undecodable(why),
                        other => ApplyError::Transient(other),
                    })?;
            tracing::debug!(
                webhook_event_id = %event.id,
                matched_customer = recorded.customer_id.is_some(),
                tagged = recorded.tagged,
                untagged = recorded.untagged,
                "chatwoot conversation applied"
            );
            WebhookEventStatus::Processed
        }
        ChatwootEvent::Ignored(name) => {
            tracing::debug!(webhook_event_id = %event.id, event = %name, "chatwoot event ignored");
            WebhookEventStatus::Ignored
        }
    };
    webhook_events::finish(db, event.id, status, now).await?;
    Ok(status)
}
