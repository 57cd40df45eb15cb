//! Automation rules at work: the CS flows that run themselves. Event
//! triggers fire as domain events are delivered ([`events`]), scan
//! triggers on their schedules ([`scans`]); both meet customers through
//! [`firing`], which queues items for a person (or, for an automatic rule,
//! approves them at once), and [`sender`] sends what was approved.

pub mod events;
pub mod firing;
pub mod scans;
pub mod sender;

use chrono::{DateTime, Utc};
use entity::Tenant;
use sea_orm::ConnectionTrait;
use uuid::Uuid;

/// Asks for labels on the customer's Chatwoot conversation.
pub async fn request_chatwoot_labels<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customer_id: Uuid,
    labels: &[String],
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    entity::customers::record_activity(
        db,
        entity::customers::Activity {
            tenant,
            customer_id,
            activity_type: "chatwoot_labels_requested".into(),
            description: None,
            data: serde_json::json!({"labels": labels}),
            occurred_at: now,
        },
        now,
    )
    .await
}
