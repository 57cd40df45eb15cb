//! A snapshot's money is in one currency, like every figure of jornada: the
//! nightly snapshots are written per currency, and one period's snapshot of
//! a product (or of the whole workspace) is unique per currency.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{TableIndex, add_column, create_indexes, drop_column, drop_indexes};

const BEFORE: &[TableIndex] = &[TableIndex::unique(
    "uq_analytics_snapshots_workspace_granularity_period_product",
    "analytics_snapshots",
    &["workspace_id", "granularity", "period_start", "product_id"],
)];

const AFTER: &[TableIndex] = &[TableIndex::unique(
    "uq_analytics_snapshots_period_product_currency",
    "analytics_snapshots",
    &[
        "workspace_id",
        "granularity",
        "period_start",
        "product_id",
        "currency",
    ],
)];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let currency = string_len("currency", 3).default("BRL").to_owned();
        add_column(manager, "analytics_snapshots", currency).await?;
        drop_indexes(manager, BEFORE).await?;
        create_indexes(manager, AFTER).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(manager, AFTER).await?;
        drop_column(manager, "analytics_snapshots", "currency").await?;
        create_indexes(manager, BEFORE).await
    }
}
