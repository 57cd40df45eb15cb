//! BI: Chatwoot conversation tags and periodic analytics snapshots.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000002_catalog::Products;
use crate::m20261123_000003_customers::Customers;
use crate::schema::{TableIndex, TableShape, table_migration, tenant_table};

const INDEXES: &[TableIndex] = &[
    TableIndex::unique(
        "uq_conversation_tags_workspace_conversation_label",
        "conversation_tags",
        &["workspace_id", "chatwoot_conversation_id", "label"],
    ),
    TableIndex::new(
        "idx_conversation_tags_workspace_label_tagged_at",
        "conversation_tags",
        &["workspace_id", "label", "tagged_at"],
    ),
    TableIndex::unique(
        "uq_analytics_snapshots_workspace_granularity_period_product",
        "analytics_snapshots",
        &["workspace_id", "granularity", "period_start", "product_id"],
    ),
    TableIndex::new(
        "idx_analytics_snapshots_workspace_period_start",
        "analytics_snapshots",
        &["workspace_id", "period_start"],
    ),
];

#[derive(DeriveMigrationName)]
pub struct Migration;

table_migration!(tables, INDEXES);

/// The tables, each after those it references.
fn tables() -> Vec<TableCreateStatement> {
    vec![
        tenant_table(ConversationTags::Table)
            .col(string_len(ConversationTags::ChatwootConversationId, 64))
            .col(uuid_null(ConversationTags::CustomerId))
            .col(string_len(ConversationTags::Label, 128))
            .col(timestamp_with_time_zone(ConversationTags::TaggedAt))
            .col(timestamp_with_time_zone_null(ConversationTags::RemovedAt))
            .col(timestamp_with_time_zone(ConversationTags::CreatedAt))
            // The tag statistics outlive the customer.
            .fk_set_null(ConversationTags::CustomerId, Customers::Table)
            .to_owned(),
        tenant_table(AnalyticsSnapshots::Table)
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
            // Per-product figures go with the product.
            .fk_cascade(AnalyticsSnapshots::ProductId, Products::Table)
            .to_owned(),
    ]
}

#[derive(DeriveIden)]
enum ConversationTags {
    Table,
    ChatwootConversationId,
    CustomerId,
    Label,
    TaggedAt,
    RemovedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AnalyticsSnapshots {
    Table,
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
