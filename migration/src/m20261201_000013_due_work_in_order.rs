//! Due webhook events, undispatched domain events, campaign recipients in
//! flight, sends under way and pending suggestions, indexed in the order
//! their workers take them.
//!
//! Each claim takes the oldest due rows first. With only (status,
//! next_attempt_at), (dispatched_at, next_attempt_at) and (status, wake_at)
//! to go by, a claim read every due row and sorted them to keep a batch: a
//! launch-day backlog of 20,000 postbacks, or a 100,000-recipient campaign,
//! made every claim walk all of them. A partial index over just the rows
//! still to do, in the order they are taken, lets a claim stop at the first
//! batch it can take, and costs nothing for rows already done. The runner
//! looks for lapsed send leases and expired suggestions before every batch:
//! without an index that was a scan of every message ever sent. The
//! recipients' (status, wake_at) index served the claim alone: it goes, so
//! a recipient's moves maintain one index fewer.

use sea_orm_migration::prelude::*;

use crate::m20261123_000005_campaigns::RECIPIENTS_BY_STATUS;
use crate::schema::{TableIndex, create_indexes, drop_indexes};

/// Webhook events still to apply, in arrival order.
pub const WEBHOOK_EVENTS_DUE_IN_ARRIVAL_ORDER: TableIndex = TableIndex::new(
    "idx_webhook_events_due_received_at",
    "webhook_events",
    &["received_at"],
)
.partial(webhook_events_to_do);

/// Partial indexes over the rows still to do, in the order their workers take them.
const IN_ORDER: &[TableIndex] = &[
    WEBHOOK_EVENTS_DUE_IN_ARRIVAL_ORDER,
    TableIndex::new(
        "idx_domain_events_pending_recorded_at",
        "domain_events",
        &["recorded_at"],
    )
    .partial(|| Expr::col("dispatched_at").is_null()),
    TableIndex::new(
        "idx_campaign_recipients_in_flight_wake_at",
        "campaign_recipients",
        &["wake_at"],
    )
    .partial(|| Expr::col("status").is_in(["active", "waiting"])),
    TableIndex::new(
        "idx_messages_sending_lease_until",
        "messages",
        &["lease_until"],
    )
    .partial(|| Expr::col("status").eq("sending")),
    TableIndex::new(
        "idx_dispatch_queue_pending_expires_at",
        "dispatch_queue",
        &["expires_at"],
    )
    .partial(|| Expr::col("status").eq("pending")),
];

/// Webhook events received or failed: the applier still has to apply them.
pub fn webhook_events_to_do() -> SimpleExpr {
    Expr::col("status").is_in(["received", "failed"])
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_indexes(manager, IN_ORDER).await?;
        // The in-flight index replaces it.
        drop_indexes(manager, &[RECIPIENTS_BY_STATUS]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_indexes(manager, &[RECIPIENTS_BY_STATUS]).await?;
        drop_indexes(manager, IN_ORDER).await
    }
}
