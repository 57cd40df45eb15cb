//! Webhook events carry when they are next due from the moment they arrive.
//!
//! `next_attempt_at` used to be empty for a fresh event, so the applier's
//! claim asked for "no next attempt, or one already past" — an OR that no
//! single index serves in order, which PostgreSQL answered by reading every
//! due row and sorting them for each batch (28 ms a claim with 11,000
//! waiting, and the sort spilled to disk). Now a fresh or replayed event is
//! due when it arrives, a retry when its backoff ends and a claimed one
//! when its lease runs out, all in `next_attempt_at`; one partial index over
//! the events still to do, in that order, lets a claim stop at its first
//! batch. It replaces the one in arrival order, and (status, next_attempt_at),
//! which nothing else read.

use sea_orm_migration::prelude::*;

use crate::m20261123_000009_domain_events::WEBHOOK_EVENTS_BY_STATUS;
use crate::m20261201_000013_due_work_in_order::{
    WEBHOOK_EVENTS_DUE_IN_ARRIVAL_ORDER, webhook_events_to_do,
};
use crate::schema::{TableIndex, create_indexes, drop_indexes};

const DUE: &[TableIndex] = &[TableIndex::new(
    "idx_webhook_events_due_next_attempt_at",
    "webhook_events",
    &["next_attempt_at"],
)
.partial(webhook_events_to_do)];

/// What [`DUE`] replaces.
const REPLACED: &[TableIndex] = &[
    WEBHOOK_EVENTS_BY_STATUS,
    WEBHOOK_EVENTS_DUE_IN_ARRIVAL_ORDER,
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .exec_stmt(
                Query::update()
                    .table("webhook_events")
                    .value("next_attempt_at", Expr::col("received_at"))
                    .and_where(Expr::col("next_attempt_at").is_null())
                    .and_where(webhook_events_to_do())
                    .to_owned(),
            )
            .await?;
        create_indexes(manager, DUE).await?;
        drop_indexes(manager, REPLACED).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_indexes(manager, REPLACED).await?;
        drop_indexes(manager, DUE).await
    }
}
