//! BI: Chatwoot conversation tags and periodic analytics snapshots.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_workspaces_settings::workspace_fk;
use crate::m20261123_000002_catalog::Products;
use crate::m20261123_000003_customers::Customers;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConversationTags::Table)
                    .col(pk_uuid(ConversationTags::Id))
                    .col(uuid(ConversationTags::WorkspaceId))
                    .col(string_len(ConversationTags::ChatwootConversationId, 64))
                    .col(uuid_null(ConversationTags::CustomerId))
                    .col(string_len(ConversationTags::Label, 128))
                    .col(timestamp_with_time_zone(ConversationTags::TaggedAt))
                    .col(timestamp_with_time_zone_null(ConversationTags::RemovedAt))
                    .col(timestamp_with_time_zone(ConversationTags::CreatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_conversation_tags_workspace_id",
                        ConversationTags::Table,
                        ConversationTags::WorkspaceId,
                    ))
                    // ON DELETE SET NULL: the tag statistics outlive the customer.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversation_tags_customer_id")
                            .from(ConversationTags::Table, ConversationTags::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_conversation_tags_workspace_conversation_label")
                    .table(ConversationTags::Table)
                    .col(ConversationTags::WorkspaceId)
                    .col(ConversationTags::ChatwootConversationId)
                    .col(ConversationTags::Label)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_conversation_tags_workspace_label_tagged_at")
                    .table(ConversationTags::Table)
                    .col(ConversationTags::WorkspaceId)
                    .col(ConversationTags::Label)
                    .col(ConversationTags::TaggedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AnalyticsSnapshots::Table)
                    .col(pk_uuid(AnalyticsSnapshots::Id))
                    .col(uuid(AnalyticsSnapshots::WorkspaceId))
                    .col(uuid_null(AnalyticsSnapshots::ProductId))
                    .col(string_len(AnalyticsSnapshots::Granularity, 8))
                    .col(timestamp_with_time_zone(AnalyticsSnapshots::PeriodStart))
                    .col(timestamp_with_time_zone(AnalyticsSnapshots::PeriodEnd))
                    .col(decimal_len(AnalyticsSnapshots::Mrr, 14, 2))
                    .col(decimal_len(AnalyticsSnapshots::Arr, 14, 2))
                    .col(integer(AnalyticsSnapshots::ActiveSubscriptions))
                    .col(integer(AnalyticsSnapshots::ChurnedSubscriptions))
                    .col(decimal_len(AnalyticsSnapshots::ChurnRate, 9, 4))
                    .col(decimal_len(AnalyticsSnapshots::Revenue, 14, 2))
                    .col(decimal_len(AnalyticsSnapshots::Refunds, 14, 2))
                    .col(integer(AnalyticsSnapshots::NewCustomers))
                    .col(timestamp_with_time_zone(AnalyticsSnapshots::CreatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_analytics_snapshots_workspace_id",
                        AnalyticsSnapshots::Table,
                        AnalyticsSnapshots::WorkspaceId,
                    ))
                    // ON DELETE CASCADE: per-product figures go with the product.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_analytics_snapshots_product_id")
                            .from(AnalyticsSnapshots::Table, AnalyticsSnapshots::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_analytics_snapshots_workspace_granularity_period_product")
                    .table(AnalyticsSnapshots::Table)
                    .col(AnalyticsSnapshots::WorkspaceId)
                    .col(AnalyticsSnapshots::Granularity)
                    .col(AnalyticsSnapshots::PeriodStart)
                    .col(AnalyticsSnapshots::ProductId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_analytics_snapshots_workspace_period_start")
                    .table(AnalyticsSnapshots::Table)
                    .col(AnalyticsSnapshots::WorkspaceId)
                    .col(AnalyticsSnapshots::PeriodStart)
                    .to_owned(),
            )
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents; indexes go with their tables.
        manager
            .drop_table(Table::drop().table(AnalyticsSnapshots::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ConversationTags::Table).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
pub enum ConversationTags {
    Table,
    Id,
    WorkspaceId,
    ChatwootConversationId,
    CustomerId,
    Label,
    TaggedAt,
    RemovedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
pub enum AnalyticsSnapshots {
    Table,
    Id,
    WorkspaceId,
    ProductId,
    Granularity,
    PeriodStart,
    PeriodEnd,
    Mrr,
    Arr,
    ActiveSubscriptions,
    ChurnedSubscriptions,
    ChurnRate,
    Revenue,
    Refunds,
    NewCustomers,
    CreatedAt,
}
