//! Cohorts added up ahead, as the dashboard's days are: each customer's
//! cohort (the month of their first approved purchase, overall and per
//! product, per currency) and each cohort's net revenue per local day. The
//! `cohorts` query reads these instead of every transaction. Every
//! workspace's figures are added up again at the worker's next catch-up,
//! which fills them.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{TableIndex, TableShape, create_tables, drop_tables, tenant_table};

fn tables() -> Vec<TableCreateStatement> {
    vec![
        tenant_table("cohort_members")
            .col(uuid("customer_id"))
            // Null: the cohort of the first purchase of any product.
            .col(uuid_null("product_id"))
            .col(string_len("currency", 3))
            .col(timestamp_with_time_zone("first_approved_at"))
            .col(date("cohort_month"))
            // A cohort's member goes with the customer.
            .fk_cascade("customer_id", "customers")
            .to_owned(),
        tenant_table("cohort_days")
            .col(date("day"))
            // Null: every product's sales, by the cohorts of any product.
            .col(uuid_null("product_id"))
            .col(string_len("currency", 3))
            .col(date("cohort_month"))
            .col(decimal_len("net", 16, 2))
            .to_owned(),
    ]
}

/// A customer's members, by workspace (replaced by migration 33).
pub const MEMBERS_BY_CUSTOMER: TableIndex = TableIndex::new(
    "idx_cohort_members_workspace_customer",
    "cohort_members",
    &["workspace_id", "customer_id"],
);

/// A cohort's members (replaced by migration 33).
pub const MEMBERS_BY_COHORT: TableIndex = TableIndex::new(
    "idx_cohort_members_workspace_currency_product_month",
    "cohort_members",
    &["workspace_id", "currency", "product_id", "cohort_month"],
);

const INDEXES: &[TableIndex] = &[
    MEMBERS_BY_CUSTOMER,
    MEMBERS_BY_COHORT,
    TableIndex::new(
        "idx_cohort_members_customer",
        "cohort_members",
        &["customer_id"],
    ),
    TableIndex::new(
        "idx_cohort_days_workspace_day",
        "cohort_days",
        &["workspace_id", "day"],
    ),
    TableIndex::new(
        "idx_cohort_days_workspace_currency_product",
        "cohort_days",
        &["workspace_id", "currency", "product_id"],
    ),
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_tables(manager, tables(), INDEXES).await?;
        // The next catch-up adds every workspace up from scratch.
        manager
            .get_connection()
            .execute_unprepared("UPDATE analytics_rollups SET revenue_until = NULL")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, tables()).await
    }
}
