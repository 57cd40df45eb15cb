//! BI: Chatwoot conversation tags and periodic analytics snapshots.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{TableIndex, TableShape, table_migration, tenant_table};

table_migration!(tables, INDEXES);

/// The tables, each after those it references.
fn tables() -> Vec<TableCreateStatement> {
    vec![
        tenant_table("conversation_tags")
            .col(string_len("chatwoot_conversation_id", 64))
            .col(uuid_null("customer_id"))
            .col(string_len("label", 128))
            .col(timestamp_with_time_zone("tagged_at"))
            .col(timestamp_with_time_zone_null("removed_at"))
            .col(timestamp_with_time_zone("created_at"))
            // The tag statistics outlive the customer.
            .fk_set_null("customer_id", "customers")
            .to_owned(),
        tenant_table("analytics_snapshots")
            .col(uuid_null("product_id"))
            .col(string_len("granularity", 8))
            .col(timestamp_with_time_zone("period_start"))
            .col(timestamp_with_time_zone("period_end"))
            .col(decimal_len("mrr", 14, 2))
            .col(decimal_len("arr", 14, 2))
            .col(integer("active_subscriptions"))
            .col(integer("churned_subscriptions"))
            .col(decimal_len("churn_rate", 9, 4))
            .col(decimal_len("revenue", 14, 2))
            .col(decimal_len("refunds", 14, 2))
            .col(integer("new_customers"))
            .col(timestamp_with_time_zone("created_at"))
            // Per-product figures go with the product.
            .fk_cascade("product_id", "products")
            .to_owned(),
    ]
}

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
