//! The message outbox: at most one message per (execution, recipient, node).
//!
//! A message is reserved under its idempotency key, claimed as `sending`
//! before the provider is called, and recorded `sent` with the provider's id.
//! A worker that dies mid-call leaves it `sending`; once its lease runs out it
//! becomes `unknown` and waits for the provider's status callbacks. Nothing
//! here ever sends a message twice.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveEnum as _, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
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

/// The row of a message about to be reserved.
fn new_row(
    tenant: Tenant,
    new: NewMessage,
    status: MessageStatus,
    lease_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> message::ActiveModel {
    message::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        customer_id: Set(new.customer_id),
        channel: Set(new.channel),
        template_id: Set(new.template_id),
        content: Set(new.content),
        idempotency_key: Set(new.idempotency_key),
        status: Set(status),
        provider_message_id: Set(None),
        error: Set(None),
        campaign_recipient_id: Set(new.campaign_recipient_id),
        dispatch_item_id: Set(new.dispatch_item_id),
        node_id: Set(new.node_id),
        lease_until: Set(lease_until),
        sent_at: Set(None),
        delivered_at: Set(None),
        read_at: Set(None),
        failed_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

fn on_key_conflict() -> OnConflict {
    OnConflict::column(message::Column::IdempotencyKey)
        .do_nothing()
        .to_owned()
}

/// Reserves the message under its key, or returns the one already there;
/// `true` when this call created it.
pub async fn reserve<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    new: NewMessage,
    now: DateTime<Utc>,
) -> Result<(message::Model, bool)> {
    let key = new.idempotency_key.clone();
    let row = new_row(tenant, new, MessageStatus::Queued, None, now);
    let inserted = message::Entity::insert(row)
        .on_conflict(on_key_conflict())
        .exec_without_returning(db)
        .await?;
    let message = message::Entity::find()
        .filter(message::Column::IdempotencyKey.eq(key))
        .filter(message::Column::WorkspaceId.eq(tenant.workspace_id()))
        .one(db)
        .await?
        .ok_or(Error::NotFound("message"))?;
    Ok((message, inserted > 0))
}

/// Reserves each message under its key already claimed for its provider
/// call (`sending`, leased until `now + lease`), all in one statement: a
/// step's first attempt, where reserving and then claiming would write every
/// message twice. Returns, in order, the id of each message this call
/// created, or `None` where the key was taken already: that message is
/// whatever an earlier attempt left ([`find_by_key`]), and is not claimed.
pub async fn reserve_claimed<C: ConnectionTrait>(
    db: &C,
    messages: Vec<(Tenant, NewMessage)>,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<Vec<Option<Uuid>>> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<message::ActiveModel> = messages
        .into_iter()
        .map(|(tenant, new)| new_row(tenant, new, MessageStatus::Sending, Some(now + lease), now))
        .collect();
    let ids: Vec<Uuid> = rows.iter().map(|row| *row.id.as_ref()).collect();
    let inserted: HashSet<Uuid> = message::Entity::insert_many(rows)
        .on_conflict(on_key_conflict())
        .exec_with_returning_keys(db)
        .await?
        .into_iter()
        .collect();
    Ok(ids
        .into_iter()
        .map(|id| inserted.contains(&id).then_some(id))
        .collect())
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
    record_sent_many(db, &[(id, provider_message_id.to_owned())], now).await
}

/// The provider accepted each of these messages (id, provider's id), recorded
/// in one statement.
pub async fn record_sent_many<C: ConnectionTrait>(
    db: &C,
    accepted: &[(Uuid, String)],
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(((first_id, first_provider_id), rest)) = accepted.split_first() else {
        return Ok(());
    };
    let provider_ids = rest.iter().fold(
        Expr::case(
            message::Column::Id.eq(*first_id),
            Expr::value(first_provider_id.clone()),
        ),
        |case, (id, provider_id)| {
            case.case(
                message::Column::Id.eq(*id),
                Expr::value(provider_id.clone()),
            )
        },
    );
    message::Entity::update_many()
        .col_expr(message::Column::Status, Expr::value(MessageStatus::Sent))
        .col_expr(
            message::Column::ProviderMessageId,
            provider_ids
                .finally(Expr::col(message::Column::ProviderMessageId))
                .into(),
        )
        .col_expr(message::Column::SentAt, Expr::value(Some(now)))
        .col_expr(
            message::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(message::Column::UpdatedAt, Expr::value(now))
        .filter(message::Column::Id.is_in(accepted.iter().map(|(id, _)| *id)))
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
    now: DateTime<Utc>,
) -> Result<()> {
    message::Entity::update_many()
        .col_expr(message::Column::Status, Expr::value(MessageStatus::Queued))
        .col_expr(
            message::Column::Error,
            Expr::value(Some(error.chars().take(1000).collect::<String>())),
        )
        .col_expr(message::Column::LeaseUntil, Expr::value(Some(retry_at)))
        .col_expr(message::Column::UpdatedAt, Expr::value(now))
        .filter(message::Column::Id.eq(id))
        .filter(message::Column::Status.eq(MessageStatus::Sending))
        .exec(db)
        .await?;
    Ok(())
}

/// Sends whose worker vanished mid-call become `unknown`: never resent, left
/// for status callbacks to settle. Returns how many.
pub async fn expire_leases<C: ConnectionTrait>(db: &C, now: DateTime<Utc>) -> Result<u64> {
    // Sends under way, as their partial index has them (migration
    // `m20261201_000013_due_work_in_order`).
    let sending = || crate::db::status_is("messages", [MessageStatus::Sending.to_value()]);
    let lapsed = message::Entity::find()
        .filter(sending())
        .filter(message::Column::LeaseUntil.lte(now));
    if !crate::db::any_row(db, lapsed).await? {
        return Ok(0);
    }
    let expired = message::Entity::update_many()
        .col_expr(message::Column::Status, Expr::value(MessageStatus::Unknown))
        .col_expr(message::Column::UpdatedAt, Expr::value(now))
        .filter(sending())
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
