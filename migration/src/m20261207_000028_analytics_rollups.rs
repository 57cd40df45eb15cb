//! The business figures' own tables: each subscription's history (its
//! status and price as they changed), the MRR movements derived from it,
//! sales and reversals added up per local day, and where the worker's
//! catching up stands per workspace. The dashboard reads these instead of
//! every transaction of a year. Existing subscriptions start their history
//! with their current state.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{
    TableIndex, TableShape, create_tables, drop_indexes, drop_tables, table_with_id, tenant_table,
};

fn tables() -> Vec<TableCreateStatement> {
    vec![
        tenant_table("subscription_changes")
            .col(uuid("subscription_id"))
            .col(timestamp_with_time_zone("effective_at"))
            .col(string_len("status", 32))
            .col(decimal_len_null("recurring_amount", 14, 2))
            .col(string_len_null("currency", 3))
            .col(integer_null("recurrence_period_days"))
            .col(timestamp_with_time_zone("recorded_at"))
            // The history is part of the subscription.
            .fk_cascade("subscription_id", "subscriptions")
            .to_owned(),
        tenant_table("mrr_movements")
            .col(uuid("subscription_id"))
            .col(uuid_null("product_id"))
            .col(date("day"))
            .col(timestamp_with_time_zone("occurred_at"))
            .col(string_len("kind", 16))
            .col(string_len("currency", 3))
            .col(decimal_len("mrr_delta", 14, 2))
            .col(integer("subscribers_delta"))
            // Derived from the subscription's history, and gone with it.
            .fk_cascade("subscription_id", "subscriptions")
            .to_owned(),
        tenant_table("revenue_days")
            .col(date("day"))
            .col(uuid_null("product_id"))
            .col(string_len("currency", 3))
            .col(string_len_null("payment_method", 32))
            .col(integer_null("installments"))
            .col(integer("sales"))
            .col(decimal_len("gross", 16, 2))
            .col(integer("refunds_count"))
            .col(decimal_len("refunds", 16, 2))
            .col(integer("chargebacks_count"))
            .col(decimal_len("chargebacks", 16, 2))
            .to_owned(),
        table_with_id("analytics_rollups")
            .col(string_len("time_zone", 64))
            .col(timestamp_with_time_zone_null("revenue_until"))
            .col(timestamp_with_time_zone_null("movements_until"))
            .col(integer("past_due_grace_days"))
            .col(timestamp_with_time_zone("updated_at"))
            // The row's id is its workspace's.
            .fk_cascade("id", "workspaces")
            .to_owned(),
    ]
}

const INDEXES: &[TableIndex] = &[
    TableIndex::new(
        "idx_subscription_changes_subscription_effective_at",
        "subscription_changes",
        &["subscription_id", "effective_at"],
    ),
    TableIndex::new(
        "idx_subscription_changes_workspace_recorded_at",
        "subscription_changes",
        &["workspace_id", "recorded_at"],
    ),
    TableIndex::new(
        "idx_mrr_movements_workspace_day",
        "mrr_movements",
        &["workspace_id", "day"],
    ),
    TableIndex::new(
        "idx_mrr_movements_subscription",
        "mrr_movements",
        &["subscription_id"],
    ),
    TableIndex::new(
        "idx_revenue_days_workspace_day",
        "revenue_days",
        &["workspace_id", "day"],
    ),
    TableIndex::new(
        "idx_transactions_workspace_updated_at",
        "transactions",
        &["workspace_id", "updated_at"],
    ),
    TableIndex::new(
        "idx_transactions_workspace_approved_at",
        "transactions",
        &["workspace_id", "approved_at"],
    )
    .partial(|| Expr::col("approved_at").is_not_null()),
    TableIndex::new(
        "idx_transactions_workspace_refunded_at",
        "transactions",
        &["workspace_id", "refunded_at"],
    )
    .partial(|| Expr::col("refunded_at").is_not_null()),
];

/// Each existing subscription's history starts with its state as stored,
/// under the subscription's own id.
const HISTORY_FROM_CURRENT_STATE: &str = r#"
INSERT INTO subscription_changes
    (id, workspace_id, subscription_id, effective_at, status, recurring_amount, currency,
     recurrence_period_days, recorded_at)
SELECT id, workspace_id, id, COALESCE(last_event_at, started_at, created_at), status,
       recurring_amount, currency, recurrence_period_days, updated_at
FROM subscriptions
"#;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_tables(manager, tables(), INDEXES).await?;
        manager
            .get_connection()
            .execute_unprepared(HISTORY_FROM_CURRENT_STATE)
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The tables take their own indexes; those on transactions stay.
        drop_indexes(manager, &INDEXES[5..]).await?;
        drop_tables(manager, tables()).await
    }
}
