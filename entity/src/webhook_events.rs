//! Raw inbound webhook events: stored before the sender gets its 200, then
//! claimed and applied by the worker, retried with backoff, and finally dead.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use sea_orm::ActiveEnum as _;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::db::{Partition, new_id};
use crate::entities::enums::WebhookEventStatus;
use crate::entities::webhook_event;
use crate::error::Result;
use crate::tenant::Tenant;

pub const HOTMART: &str = "hotmart";
pub const CHATWOOT: &str = "chatwoot";

/// Attempts before an event is declared dead.
pub const MAX_ATTEMPTS: i32 = 8;
const MAX_ERROR_LEN: usize = 2000;

/// The outcome of storing an inbound event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    New(Uuid),
    Duplicate,
}

/// An inbound event as the receiver stores it.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub tenant: Tenant,
    pub source: &'static str,
    pub external_id: String,
    pub event_type: String,
    pub payload: String,
    /// [`crate::customers::customer_hash`] of the customer it names by e-mail.
    pub customer_hash: Option<i32>,
}

/// Stores a batch of events in one statement, skipping every event whose
/// workspace already has one with the same source and external id (and
/// every repeat inside the batch after its first); answers per event, in
/// order. One statement is one commit: a launch-day burst costs one disk
/// flush per batch rather than one per postback.
pub async fn accept_many<C: ConnectionTrait>(
    db: &C,
    events: &[Inbound],
    received_at: DateTime<Utc>,
) -> Result<Vec<Accepted>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = events.iter().map(|_| new_id()).collect();
    let rows = events
        .iter()
        .zip(&ids)
        .map(|(event, id)| webhook_event::ActiveModel {
            id: Set(*id),
            workspace_id: Set(event.tenant.workspace_id()),
            source: Set(event.source.to_owned()),
            external_id: Set(event.external_id.clone()),
            event_type: Set(event.event_type.clone()),
            payload: Set(event.payload.clone()),
            status: Set(WebhookEventStatus::Received),
            attempts: Set(0),
            last_error: Set(None),
            received_at: Set(received_at),
            processed_at: Set(None),
            // Due at once.
            next_attempt_at: Set(Some(received_at)),
            customer_hash: Set(event.customer_hash),
        });
    let inserted: HashSet<Uuid> = webhook_event::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                webhook_event::Column::WorkspaceId,
                webhook_event::Column::Source,
                webhook_event::Column::ExternalId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_with_returning_keys(db)
        .await?
        .into_iter()
        .collect();
    Ok(ids
        .into_iter()
        .map(|id| {
            if inserted.contains(&id) {
                Accepted::New(id)
            } else {
                Accepted::Duplicate
            }
        })
        .collect())
}

/// `partition`'s due events: received, or failed and past their backoff.
pub fn due(partition: Partition, now: DateTime<Utc>) -> sea_orm::Select<webhook_event::Entity> {
    // The partial index over events still to do, in due order (migration
    // `m20261202_000014_webhook_events_due_at`): a pick reads its batch and stops.
    let due = webhook_event::Entity::find()
        .filter(crate::db::status_is(
            "webhook_events",
            [WebhookEventStatus::Received, WebhookEventStatus::Failed].map(|s| s.to_value()),
        ))
        .filter(webhook_event::Column::NextAttemptAt.lte(now));
    match partition.keeps(Expr::col((
        webhook_event::Entity,
        webhook_event::Column::CustomerHash,
    ))) {
        Some(mine) => due.filter(mine),
        None => due,
    }
}

/// Takes up to `limit` of `partition`'s due events, the longest due first,
/// for `txn` to apply ([`crate::db::take`]): its commit, with the events
/// marked [`finish`]ed or [`fail`]ed, ends the attempt; a rollback, or a
/// worker that dies, leaves them due at once for the next applier, with no
/// attempt counted. The batch comes back in arrival order.
pub async fn claim_due(
    txn: &DatabaseTransaction,
    partition: Partition,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<Vec<webhook_event::Model>> {
    let picked = due(partition, now)
        .order_by_asc(webhook_event::Column::NextAttemptAt)
        .limit(limit);
    let mut events = crate::db::take(txn, picked).await?;
    events.sort_by_key(|e| (e.received_at, e.id));
    Ok(events)
}

/// One more attempt made on an event.
fn one_more_attempt() -> SimpleExpr {
    Expr::col(webhook_event::Column::Attempts).add(1)
}

/// Marks an event applied (`Processed`) or deliberately skipped (`Ignored`), inside the
/// transaction that applied it.
pub async fn finish<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    status: WebhookEventStatus,
    now: DateTime<Utc>,
) -> Result<()> {
    finish_many(db, &[id], status, now).await
}

/// [`finish`] for several events, in one statement.
pub async fn finish_many<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
    status: WebhookEventStatus,
    now: DateTime<Utc>,
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    webhook_event::Entity::update_many()
        .col_expr(webhook_event::Column::Status, Expr::value(status))
        .col_expr(webhook_event::Column::Attempts, one_more_attempt())
        .col_expr(webhook_event::Column::ProcessedAt, Expr::value(now))
        .col_expr(
            webhook_event::Column::NextAttemptAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            webhook_event::Column::LastError,
            Expr::value(Option::<String>::None),
        )
        .filter(webhook_event::Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// Exponential backoff: 30 s, 1 min, 2 min, ... capped at 1 h.
pub fn backoff(attempts: i32) -> Duration {
    let exponent = attempts.clamp(1, 8) as u32 - 1;
    Duration::seconds(Ord::min(30_i64 << exponent, 3600))
}

/// Records a failed attempt on `event` (as taken, before this attempt):
/// retried after a backoff, or dead once attempts run out.
pub async fn fail<C: ConnectionTrait>(
    db: &C,
    event: &webhook_event::Model,
    error: &str,
    now: DateTime<Utc>,
) -> Result<WebhookEventStatus> {
    let attempts = event.attempts + 1;
    let status = if attempts >= MAX_ATTEMPTS {
        WebhookEventStatus::Dead
    } else {
        WebhookEventStatus::Failed
    };
    let next_attempt = (status == WebhookEventStatus::Failed).then(|| now + backoff(attempts));
    let error: String = error.chars().take(MAX_ERROR_LEN).collect();
    webhook_event::Entity::update_many()
        .col_expr(webhook_event::Column::Status, Expr::value(status))
        .col_expr(webhook_event::Column::Attempts, one_more_attempt())
        .col_expr(
            webhook_event::Column::NextAttemptAt,
            Expr::value(next_attempt),
        )
        .col_expr(webhook_event::Column::LastError, Expr::value(Some(error)))
        .filter(webhook_event::Column::Id.eq(event.id))
        .exec(db)
        .await?;
    Ok(status)
}

/// An event that can never be applied as it is: dead at once, with the reason
/// kept, until someone replays it (after a fix).
pub async fn bury<C: ConnectionTrait>(
    db: &C,
    event: &webhook_event::Model,
    error: &str,
) -> Result<()> {
    let error: String = error.chars().take(MAX_ERROR_LEN).collect();
    webhook_event::Entity::update_many()
        .col_expr(
            webhook_event::Column::Status,
            Expr::value(WebhookEventStatus::Dead),
        )
        .col_expr(webhook_event::Column::Attempts, one_more_attempt())
        .col_expr(
            webhook_event::Column::NextAttemptAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(webhook_event::Column::LastError, Expr::value(Some(error)))
        .filter(webhook_event::Column::Id.eq(event.id))
        .exec(db)
        .await?;
    Ok(())
}

/// Puts an event back in the queue for a fresh round of attempts.
pub async fn replay(
    db: &DatabaseConnection,
    tenant: Tenant,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<webhook_event::Model> {
    let txn = crate::db::begin_write(db).await?;
    let event = tenant.get::<webhook_event::Entity, _>(&txn, id).await?;
    let mut model: webhook_event::ActiveModel = event.into();
    model.status = Set(WebhookEventStatus::Received);
    model.attempts = Set(0);
    model.next_attempt_at = Set(Some(now));
    let replayed = model.update(&txn).await?;
    txn.commit().await?;
    Ok(replayed)
}

/// Puts every dead event of the workspace back in the queue; returns them.
pub async fn replay_dead(
    db: &DatabaseConnection,
    tenant: Tenant,
    now: DateTime<Utc>,
) -> Result<Vec<webhook_event::Model>> {
    let txn = crate::db::begin_write(db).await?;
    let dead = tenant
        .select::<webhook_event::Entity>()
        .filter(webhook_event::Column::Status.eq(WebhookEventStatus::Dead))
        .all(&txn)
        .await?;
    if dead.is_empty() {
        return Ok(dead);
    }
    webhook_event::Entity::update_many()
        .col_expr(
            webhook_event::Column::Status,
            Expr::value(WebhookEventStatus::Received),
        )
        .col_expr(webhook_event::Column::Attempts, Expr::value(0))
        .col_expr(webhook_event::Column::NextAttemptAt, Expr::value(Some(now)))
        .filter(webhook_event::Column::Id.is_in(dead.iter().map(|e| e.id)))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    let ids: Vec<Uuid> = dead.iter().map(|e| e.id).collect();
    Ok(webhook_event::Entity::find()
        .filter(webhook_event::Column::Id.is_in(ids))
        .order_by_desc(webhook_event::Column::Id)
        .all(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::seconds(30));
        assert_eq!(backoff(2), Duration::seconds(60));
        assert_eq!(backoff(4), Duration::seconds(240));
        assert_eq!(backoff(8), Duration::seconds(3600));
        assert_eq!(backoff(50), Duration::seconds(3600));
    }
}
