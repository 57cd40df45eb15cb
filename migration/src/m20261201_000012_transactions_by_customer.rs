//! A customer's purchases found by (workspace, customer, status).
//!
//! Applying a purchase sums the customer's kept purchases (LTV) and reads
//! their purchases of the product (access); both filter on workspace and
//! customer. With only (workspace_id, status) to start from, PostgreSQL —
//! its statistics lagging behind a launch-day burst — walked every approved
//! purchase of the workspace for each event, so applying slowed as sales grew.

use sea_orm_migration::prelude::*;

use crate::schema::{TableIndex, create_indexes, drop_indexes};

const BY_CUSTOMER: &[TableIndex] = &[TableIndex::new(
    "idx_transactions_workspace_customer_status",
    "transactions",
    &["workspace_id", "customer_id", "status"],
)];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_indexes(manager, BY_CUSTOMER).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(manager, BY_CUSTOMER).await
    }
}
