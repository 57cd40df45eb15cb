//! Indexes for what the analytics read.
//!
//! A cohort's members are read for its size and joined to their
//! subscriptions by one index that holds the customer too: the `cohorts`
//! query reads the index alone, not a heap page per member. The index by
//! workspace and customer goes: the one by customer serves the lookups of
//! a catch-up and the cascade from a deleted customer.
//!
//! On PostgreSQL a member no longer checks its workspace: its customer is
//! in that workspace and takes it along when either goes (as the rows of
//! `m20261206_000025_references_kept_by_owner`). A from-scratch catch-up
//! writes a member per customer and product it sold, half a million for a
//! big school, and each checked both references.
//!
//! The dashboard's cart conversion reads a period's abandoned carts: a
//! partial index holds those events alone, so the read is no scan of every
//! domain event and the other events' inserts maintain nothing more.

use sea_orm_migration::prelude::*;

use crate::m20261207_000032_cohort_rollups::{MEMBERS_BY_COHORT, MEMBERS_BY_CUSTOMER};
use crate::schema::{
    Reference, TableIndex, create_foreign_keys, create_indexes, drop_foreign_keys, drop_indexes,
};

const WAS: &[TableIndex] = &[MEMBERS_BY_CUSTOMER, MEMBERS_BY_COHORT];

const NOW: &[TableIndex] = &[
    TableIndex::new(
        "idx_cohort_members_workspace_currency_product_month_customer",
        "cohort_members",
        &[
            "workspace_id",
            "currency",
            "product_id",
            "cohort_month",
            "customer_id",
        ],
    ),
    TableIndex::new(
        "idx_domain_events_carts_abandoned",
        "domain_events",
        &["workspace_id", "occurred_at"],
    )
    .partial(|| Expr::col("event_type").eq("cart_abandoned")),
];

const KEPT_BY_CUSTOMER: &[Reference] = &[(
    "cohort_members",
    "workspace_id",
    "workspaces",
    ForeignKeyAction::Cascade,
)];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(manager, WAS).await?;
        create_indexes(manager, NOW).await?;
        if manager.get_database_backend() == sea_orm::DbBackend::Postgres {
            drop_foreign_keys(manager, KEPT_BY_CUSTOMER).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DbBackend::Postgres {
            create_foreign_keys(manager, KEPT_BY_CUSTOMER).await?;
        }
        drop_indexes(manager, NOW).await?;
        create_indexes(manager, WAS).await
    }
}
