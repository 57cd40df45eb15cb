//! A customer's purchases found by (workspace, customer, status).
//!
//! Applying a purchase sums the customer's kept purchases (LTV) and reads
//! their purchases of the product (access); both filter on workspace and
//! customer. With only (workspace_id, status) to start from, PostgreSQL —
//! its statistics lagging behind a launch-day burst — walked every approved
//! purchase of the workspace for each event, so applying slowed as sales grew.

use sea_orm_migration::prelude::*;

const NAME: &str = "idx_transactions_workspace_customer_status";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Transactions {
    Table,
    WorkspaceId,
    CustomerId,
    Status,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(Transactions::Table)
                    .col(Transactions::WorkspaceId)
                    .col(Transactions::CustomerId)
                    .col(Transactions::Status)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(NAME)
                    .table(Transactions::Table)
                    .to_owned(),
            )
            .await
    }
}
