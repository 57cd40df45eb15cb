//! Indexes on foreign-key columns no other index starts with, so deleting or
//! updating a parent row never scans the child table.

use sea_orm_migration::prelude::*;

use crate::schema::{TableIndex, create_indexes, drop_indexes};

const FOREIGN_KEY_INDEXES: &[TableIndex] = &[
    TableIndex::new("idx_lessons_module", "lessons", &["module_id"]),
    TableIndex::new(
        "idx_subscriptions_product",
        "subscriptions",
        &["product_id"],
    ),
    TableIndex::new("idx_transactions_offer", "transactions", &["offer_id"]),
    TableIndex::new(
        "idx_transactions_subscription",
        "transactions",
        &["subscription_id"],
    ),
    TableIndex::new(
        "idx_enrollments_transaction",
        "enrollments",
        &["transaction_id"],
    ),
    TableIndex::new(
        "idx_message_templates_product",
        "message_templates",
        &["product_id"],
    ),
    TableIndex::new(
        "idx_campaign_executions_version",
        "campaign_executions",
        &["version_id"],
    ),
    TableIndex::new(
        "idx_campaign_executions_target_group",
        "campaign_executions",
        &["target_group_id"],
    ),
    TableIndex::new(
        "idx_automation_rules_template",
        "automation_rules",
        &["template_id"],
    ),
    TableIndex::new(
        "idx_automation_rules_campaign",
        "automation_rules",
        &["campaign_id"],
    ),
    TableIndex::new("idx_dispatch_queue_rule", "dispatch_queue", &["rule_id"]),
    TableIndex::new(
        "idx_dispatch_queue_template",
        "dispatch_queue",
        &["template_id"],
    ),
    TableIndex::new(
        "idx_dispatch_queue_recipient",
        "dispatch_queue",
        &["campaign_recipient_id"],
    ),
    TableIndex::new("idx_messages_template", "messages", &["template_id"]),
    TableIndex::new(
        "idx_messages_recipient",
        "messages",
        &["campaign_recipient_id"],
    ),
    TableIndex::new(
        "idx_messages_dispatch_item",
        "messages",
        &["dispatch_item_id"],
    ),
    TableIndex::new(
        "idx_tracked_links_customer",
        "tracked_links",
        &["customer_id"],
    ),
    TableIndex::new(
        "idx_conversation_tags_customer",
        "conversation_tags",
        &["customer_id"],
    ),
    TableIndex::new(
        "idx_analytics_snapshots_product",
        "analytics_snapshots",
        &["product_id"],
    ),
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_indexes(manager, FOREIGN_KEY_INDEXES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(manager, FOREIGN_KEY_INDEXES).await
    }
}
