//! Journeys keyed on what started them: a campaign recipient entered by an
//! event keeps that event's key (transaction, product, offer, subscription)
//! in `entry_key`, so a `waitForEvent` can wake on the same purchase only,
//! and a per-key re-entry enters a customer once per key: `reentry_key`
//! joins the recipient's unique key, letting one customer be two recipients
//! of one execution, keyed differently. Everyone else has an empty
//! `reentry_key` and stays one recipient per execution.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{TableIndex, add_column, create_indexes, drop_column, drop_indexes};

const TABLE: &str = "campaign_recipients";

/// One recipient per execution and customer (before).
const ONE_PER_CUSTOMER: TableIndex = TableIndex::unique(
    "uq_campaign_recipients_execution_customer",
    TABLE,
    &["execution_id", "customer_id"],
);

/// One recipient per execution, customer and re-entry key (after).
const ONE_PER_KEY: TableIndex = TableIndex::unique(
    "uq_campaign_recipients_execution_customer_key",
    TABLE,
    &["execution_id", "customer_id", "reentry_key"],
);

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(manager, TABLE, json_binary_null("entry_key")).await?;
        add_column(
            manager,
            TABLE,
            string_len("reentry_key", 160).default("").to_owned(),
        )
        .await?;
        create_indexes(manager, &[ONE_PER_KEY]).await?;
        drop_indexes(manager, &[ONE_PER_CUSTOMER]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A customer's later per-key entries go: one recipient per execution again.
        manager
            .get_connection()
            .execute_unprepared(
                "DELETE FROM campaign_recipients WHERE reentry_key <> '' AND EXISTS (
                    SELECT 1 FROM campaign_recipients AS earlier
                    WHERE earlier.execution_id = campaign_recipients.execution_id
                      AND earlier.customer_id = campaign_recipients.customer_id
                      AND (earlier.created_at < campaign_recipients.created_at
                        OR (earlier.created_at = campaign_recipients.created_at
                            AND earlier.id < campaign_recipients.id)))",
            )
            .await?;
        create_indexes(manager, &[ONE_PER_CUSTOMER]).await?;
        drop_indexes(manager, &[ONE_PER_KEY]).await?;
        drop_column(manager, TABLE, "reentry_key").await?;
        drop_column(manager, TABLE, "entry_key").await
    }
}
