//! The message outbox: at most one message per (execution, recipient, node).
//!
//! A message is reserved under its idempotency key, claimed as `sending`
//! before the provider is called, and recorded `sent` with the provider's id.
//! A worker that dies mid-call leaves it `sending`; once its lease runs out it
//! becomes `unknown` and waits for the provider's status callbacks. Nothing
//! here ever sends a message twice.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::Value;
use uuid::Uuid;

use crate::db::new_id;
use crate::entities::enums::{Channel, MessageStatus};
use crate::entities::message;
use crate::error::{Error, Result};
use crate::tenant::Tenant;

/// How long a claimed send may take before the message is presumed lost,
/// unless the worker is configured otherwise.
pub const SEND_LEASE: Duration = Duration::seconds(60);

/// The idempotency key of a campaign step's message.
pub fn campaign_key(execution_id: Uuid, recipient_id: Uuid, node_id: &str) -> String {
    format!("campaign:{execution_id}:{recipient_id}:{node_id}")
}

/// A message to reserve.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub idempotency_key: String,
    pub customer_id: Uuid,
    pub channel: Channel,
    pub template_id: Option<Uuid>,
    pub content: Value,
    pub campaign_recipient_id: Option<Uuid>,
    pub dispatch_item_id: Option<Uuid>,
    pub node_id: Option<String>,
}

/// Reserves the message under its key, or returns the one already there;
/// `true` when this call created it.
pub async fn reserve<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    new: NewMessage,
) -> Result<(message::Model, bool)> {
    let now = Utc::now();
    let row = message::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        customer_id: Set(new.customer_id),
        channel: Set(new.channel),
        template_id: Set(new.template_id),
        content: Set(new.content),
        idempotency_key: Set(new.idempotency_key.clone()),
        status: Set(MessageStatus::Queued),
        provider_message_id: Set(None),
        error: Set(None),
        campaign_recipient_id: Set(new.campaign_recipient_id),
        dispatch_item_id: Set(new.dispatch_item_id),
        node_id: Set(new.node_id),
        lease_until: Set(None),
        sent_at: Set(None),
        delivered_at: Set(None),
        read_at: Set(None),
        failed_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let inserted = message::Entity::insert(row)
        .on_conflict(
            OnConflict::column(message::Column::IdempotencyKey)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    let message = message::Entity::find()
        .filter(message::Column::IdempotencyKey.eq(new.idempotency_key))
        .filter(message::Column::WorkspaceId.eq(tenant.workspace_id()))
        .one(db)
        .await?
        .ok_or(Error::NotFound("message"))?;
    Ok((message, inserted > 0))
}

/// The message reserved under `key`, if any.
pub async fn find_by_key<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    key: &str,
) -> Result<Option<message::Model>> {
    Ok(tenant
        .select::<message::Entity>()
        .filter(message::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?)
}

/// Takes the right to call the provider: `queued` → `sending`. Only one
/// caller ever gets `true` for a message (until a retry puts it back).
pub async fn claim_for_send<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<bool> {
    let claimed = message::Entity::update_many()
        .col_expr(message::Column::Status, Expr::value(MessageStatus::Sending))
        .col_expr(message::Column::LeaseUntil, Expr::value(Some(now + lease)))
        .col_expr(message::Column::UpdatedAt, Expr::value(now))
        .filter(message::Column::Id.eq(id))
        .filter(message::Column::Status.eq(MessageStatus::Queued))
        .filter(
            message::Column::LeaseUntil
                .is_null()
                .or(message::Column::LeaseUntil.lte(now)),
        )
        .exec(db)
        .await?;
    Ok(claimed.rows_affected == 1)
}

/// The provider accepted the message.
pub async fn record_sent<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    provider_message_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    message::Entity::update_many()
        .col_expr(message::Column::Status, Expr::value(MessageStatus::Sent))
        .col_expr(
            message::Column::ProviderMessageId,
            Expr::value(Some(provider_message_id.to_owned())),
        )
        .col_expr(message::Column::SentAt, Expr::value(Some(now)))
        .col_expr(
            message::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(message::Column::UpdatedAt, Expr::value(now))
        .filter(message::Column::Id.eq(id))
        .filter(message::Column::Status.is_in([MessageStatus::Sending, MessageStatus::Unknown]))
        .exec(db)
        .await?;
    Ok(())
}

/// The provider refused it for good (or the runner did: opted out, no phone).
pub async fn record_failed<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    error: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    message::Entity::update_many()
        .col_expr(message::Column::Status, Expr::value(MessageStatus::Failed))
        .col_expr(
            message::Column::Error,
            Expr::value(Some(error.chars().take(1000).collect::<String>())),
        )
        .col_expr(message::Column::FailedAt, Expr::value(Some(now)))
        .col_expr(
            message::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(message::Column::UpdatedAt, Expr::value(now))
        .filter(message::Column::Id.eq(id))
        .filter(message::Column::Status.is_in([MessageStatus::Queued, MessageStatus::Sending]))
        .exec(db)
        .await?;
    Ok(())
}

/// The provider may or may not have taken it (a timeout after the request
/// went out): `unknown`, never resent; status callbacks settle it.
pub async fn record_unknown<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    error: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    message::Entity::update_many()
        .col_expr(message::Column::Status, Expr::value(MessageStatus::Unknown))
        .col_expr(
            message::Column::Error,
            Expr::value(Some(error.chars().take(1000).collect::<String>())),
        )
        .col_expr(
            message::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(message::Column::UpdatedAt, Expr::value(now))
        .filter(message::Column::Id.eq(id))
        .filter(message::Column::Status.eq(MessageStatus::Sending))
        .exec(db)
        .await?;
    Ok(())
}

/// The provider asked to try later: back to `queued`, not before `retry_at`.
/// Safe because the provider said it did not take the message.
pub async fn retry_later<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    error: &str,
    retry_at: DateTime<Utc>,
) -> Result<()> {
    message::Entity::update_many()
        .col_expr(message::Column::Status, Expr::value(MessageStatus::Queued))
        .col_expr(
            message::Column::Error,
            Expr::value(Some(error.chars().take(1000).collect::<String>())),
        )
        .col_expr(message::Column::LeaseUntil, Expr::value(Some(retry_at)))
        .col_expr(message::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(message::Column::Id.eq(id))
        .filter(message::Column::Status.eq(MessageStatus::Sending))
        .exec(db)
        .await?;
    Ok(())
}

/// Sends whose worker vanished mid-call become `unknown`: never resent, left
/// for status callbacks to settle. Returns how many.
pub async fn expire_leases<C: ConnectionTrait>(db: &C, now: DateTime<Utc>) -> Result<u64> {
    let expired = message::Entity::update_many()
        .col_expr(message::Column::Status, Expr::value(MessageStatus::Unknown))
        .col_expr(message::Column::UpdatedAt, Expr::value(now))
        .filter(message::Column::Status.eq(MessageStatus::Sending))
        .filter(message::Column::LeaseUntil.lte(now))
        .exec(db)
        .await?;
    Ok(expired.rows_affected)
}

/// The rank of a delivery status: callbacks only ever move a message up.
pub fn rank(status: MessageStatus) -> u8 {
    match status {
        MessageStatus::Queued => 0,
        MessageStatus::Sending => 1,
        MessageStatus::Unknown => 2,
        MessageStatus::Sent => 3,
        MessageStatus::Delivered => 4,
        MessageStatus::Read => 5,
        MessageStatus::Failed => 6,
    }
}
