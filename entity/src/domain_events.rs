//! Domain events: the extension point between what happened (Hotmart events,
//! later Chatwoot and tracking) and what reacts to it (campaign triggers,
//! automation rules, the timeline).
//!
//! Recording is idempotent through a dedupe key; delivery is at least once.
//! An event is marked dispatched in the same transaction as every consumer's
//! effects; when one consumer fails and the event must come round again, the
//! handling of those that succeeded is recorded in `domain_event_deliveries`,
//! in that same transaction, so the redelivery skips them.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::Value;
use uuid::Uuid;

use crate::db::{Partition, new_id};
use crate::entities::{domain_event, domain_event_delivery};
use crate::error::Result;
use crate::tenant::Tenant;

/// A domain event about to be recorded.
#[derive(Debug, Clone)]
pub struct NewDomainEvent {
    pub customer_id: Option<Uuid>,
    pub event_type: &'static str,
    pub data: Value,
    pub occurred_at: DateTime<Utc>,
    pub source_event_id: Option<Uuid>,
    /// The same key never records twice in a workspace.
    pub dedupe_key: String,
}

/// Records the event unless one with the same dedupe key exists; returns
/// whether it was new.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    event: NewDomainEvent,
    now: DateTime<Utc>,
) -> Result<bool> {
    Ok(record_many(db, tenant, vec![event], now).await? > 0)
}

/// Records every event whose dedupe key is not yet recorded (a key repeated
/// in `events` records its first), in one statement; returns how many were new.
pub async fn record_many<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    events: Vec<NewDomainEvent>,
    now: DateTime<Utc>,
) -> Result<u64> {
    if events.is_empty() {
        return Ok(0);
    }
    let recorded_at = now;
    let rows = events.into_iter().map(|event| domain_event::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        customer_id: Set(event.customer_id),
        event_type: Set(event.event_type.to_owned()),
        data: Set(event.data),
        occurred_at: Set(event.occurred_at),
        recorded_at: Set(recorded_at),
        source_event_id: Set(event.source_event_id),
        dedupe_key: Set(event.dedupe_key),
        dispatched_at: Set(None),
        attempts: Set(0),
        next_attempt_at: Set(None),
        last_error: Set(None),
    });
    Ok(domain_event::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                domain_event::Column::WorkspaceId,
                domain_event::Column::DedupeKey,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?)
}

/// `partition`'s undelivered events whose next try, if any, is due.
/// Dispatchers split the queue by customer only on PostgreSQL (the hash is
/// its `hashtext`); on SQLite one dispatcher takes [`Partition::ALL`].
pub fn pending(partition: Partition, now: DateTime<Utc>) -> sea_orm::Select<domain_event::Entity> {
    let pending = domain_event::Entity::find()
        .filter(domain_event::Column::DispatchedAt.is_null())
        .filter(
            domain_event::Column::NextAttemptAt
                .is_null()
                .or(domain_event::Column::NextAttemptAt.lte(now)),
        );
    let customer_hash =
        Expr::cust(r#"(hashtext("domain_events"."customer_id"::text) & 2147483647)"#);
    match partition.keeps(customer_hash) {
        Some(mine) => pending.filter(mine),
        None => pending,
    }
}

/// Takes up to `limit` undelivered events for `txn` to deliver
/// ([`crate::db::take`]), oldest first: every consumer's effects, and the
/// events marked dispatched, commit together or not at all.
pub async fn claim_pending(
    txn: &DatabaseTransaction,
    partition: Partition,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<Vec<domain_event::Model>> {
    let picked = pending(partition, now)
        .order_by_asc(domain_event::Column::RecordedAt)
        .limit(limit);
    let mut events = crate::db::take(txn, picked).await?;
    events.sort_by_key(|e| (e.recorded_at, e.id));
    Ok(events)
}

/// The undelivered events that the webhook events `sources` recorded, of
/// customers with no other event pending: those may be delivered now
/// without overtaking an older one. Oldest first, as [`claim_pending`]
/// orders them. Read in the transaction that recorded them, which nobody
/// else sees yet.
pub async fn first_in_line<C: ConnectionTrait>(
    db: &C,
    sources: &[Uuid],
) -> Result<Vec<domain_event::Model>> {
    use std::collections::HashSet;
    if sources.is_empty() {
        return Ok(Vec::new());
    }
    let mut recorded = domain_event::Entity::find()
        .filter(domain_event::Column::DispatchedAt.is_null())
        .filter(domain_event::Column::SourceEventId.is_in(sources.iter().copied()))
        .all(db)
        .await?;
    let customers: HashSet<Uuid> = recorded.iter().filter_map(|e| e.customer_id).collect();
    if !customers.is_empty() {
        let ours: HashSet<Uuid> = recorded.iter().map(|e| e.id).collect();
        let pending: Vec<(Uuid, Option<Uuid>)> = domain_event::Entity::find()
            .select_only()
            .column(domain_event::Column::Id)
            .column(domain_event::Column::CustomerId)
            .filter(domain_event::Column::DispatchedAt.is_null())
            .filter(domain_event::Column::CustomerId.is_in(customers))
            .into_tuple()
            .all(db)
            .await?;
        let waiting: HashSet<Uuid> = pending
            .into_iter()
            .filter(|(id, _)| !ours.contains(id))
            .filter_map(|(_, customer_id)| customer_id)
            .collect();
        recorded.retain(|e| e.customer_id.is_none_or(|c| !waiting.contains(&c)));
    }
    recorded.sort_by_key(|e| (e.recorded_at, e.id));
    Ok(recorded)
}

/// Whether `consumer` has already handled the event.
pub async fn delivered<C: ConnectionTrait>(db: &C, event_id: Uuid, consumer: &str) -> Result<bool> {
    Ok(domain_event_delivery::Entity::find()
        .filter(domain_event_delivery::Column::DomainEventId.eq(event_id))
        .filter(domain_event_delivery::Column::Consumer.eq(consumer))
        .one(db)
        .await?
        .is_some())
}

/// Records that `consumer` handled the event (in the consumer's transaction).
pub async fn mark_delivered<C: ConnectionTrait>(
    db: &C,
    event_id: Uuid,
    consumer: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let row = domain_event_delivery::ActiveModel {
        id: Set(new_id()),
        domain_event_id: Set(event_id),
        consumer: Set(consumer.to_owned()),
        delivered_at: Set(now),
    };
    domain_event_delivery::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                domain_event_delivery::Column::DomainEventId,
                domain_event_delivery::Column::Consumer,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// One more try at delivering an event.
fn one_more_attempt() -> sea_orm::sea_query::SimpleExpr {
    Expr::col(domain_event::Column::Attempts).add(1)
}

/// Every consumer handled these events (on this try).
pub async fn mark_dispatched<C: ConnectionTrait>(
    db: &C,
    event_ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<()> {
    if event_ids.is_empty() {
        return Ok(());
    }
    domain_event::Entity::update_many()
        .col_expr(domain_event::Column::DispatchedAt, Expr::value(now))
        .col_expr(domain_event::Column::Attempts, one_more_attempt())
        .col_expr(
            domain_event::Column::NextAttemptAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            domain_event::Column::LastError,
            Expr::value(Option::<String>::None),
        )
        .filter(domain_event::Column::Id.is_in(event_ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// A consumer failed: try again after a backoff (events are never dropped).
/// `event` is as taken, its attempts counting the tries before this one.
pub async fn retry_later<C: ConnectionTrait>(
    db: &C,
    event: &domain_event::Model,
    error: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let delay = crate::webhook_events::backoff(event.attempts + 1);
    domain_event::Entity::update_many()
        .col_expr(domain_event::Column::Attempts, one_more_attempt())
        .col_expr(
            domain_event::Column::NextAttemptAt,
            Expr::value(Some(now + delay)),
        )
        .col_expr(
            domain_event::Column::LastError,
            Expr::value(Some(error.chars().take(2000).collect::<String>())),
        )
        .filter(domain_event::Column::Id.eq(event.id))
        .exec(db)
        .await?;
    Ok(())
}
