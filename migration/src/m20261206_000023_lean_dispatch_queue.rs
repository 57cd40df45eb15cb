//! A leaner queue to write. Every item a scan queues, and every change of
//! an item's status, writes each of the queue's indexes; two of them did not
//! pay for that:
//! - `(workspace_id, transaction_code)`: the only reader, a paid purchase
//!   withdrawing its recovery items, also names the customer, whose index
//!   finds their few items.
//! - `campaign_recipient_id` over every row, where only a campaign's
//!   suggestions have one: it now holds only those.

use sea_orm_migration::prelude::*;

use crate::schema::{TableIndex, replaces_indexes};

const BEFORE: &[TableIndex] = &[
    TableIndex::new(
        "idx_dispatch_queue_transaction_code",
        "dispatch_queue",
        &["workspace_id", "transaction_code"],
    ),
    TableIndex::new(
        "idx_dispatch_queue_recipient",
        "dispatch_queue",
        &["campaign_recipient_id"],
    ),
];

const AFTER: &[TableIndex] = &[
    // A campaign recipient deleted takes its suggestions with it.
    TableIndex::new(
        "idx_dispatch_queue_recipient",
        "dispatch_queue",
        &["campaign_recipient_id"],
    )
    .partial(|| Expr::col("campaign_recipient_id").is_not_null()),
];

#[derive(DeriveMigrationName)]
pub struct Migration;

replaces_indexes!(Migration, BEFORE, AFTER);
