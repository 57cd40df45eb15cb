//! Indexes on foreign-key columns no other index starts with, so deleting or
//! updating a parent row never scans the child table.

use sea_orm_migration::prelude::*;

/// (index name, table, column)
const FOREIGN_KEY_INDEXES: &[(&str, &str, &str)] = &[
    ("idx_lessons_module", "lessons", "module_id"),
    ("idx_subscriptions_product", "subscriptions", "product_id"),
    ("idx_transactions_offer", "transactions", "offer_id"),
    (
        "idx_transactions_subscription",
        "transactions",
        "subscription_id",
    ),
    (
        "idx_enrollments_transaction",
        "enrollments",
        "transaction_id",
    ),
    (
        "idx_message_templates_product",
        "message_templates",
        "product_id",
    ),
    (
        "idx_campaign_executions_version",
        "campaign_executions",
        "version_id",
    ),
    (
        "idx_campaign_executions_target_group",
        "campaign_executions",
        "target_group_id",
    ),
    (
        "idx_automation_rules_template",
        "automation_rules",
        "template_id",
    ),
    (
        "idx_automation_rules_campaign",
        "automation_rules",
        "campaign_id",
    ),
    ("idx_dispatch_queue_rule", "dispatch_queue", "rule_id"),
    (
        "idx_dispatch_queue_template",
        "dispatch_queue",
        "template_id",
    ),
    (
        "idx_dispatch_queue_recipient",
        "dispatch_queue",
        "campaign_recipient_id",
    ),
    ("idx_messages_template", "messages", "template_id"),
    (
        "idx_messages_recipient",
        "messages",
        "campaign_recipient_id",
    ),
    ("idx_messages_dispatch_item", "messages", "dispatch_item_id"),
    ("idx_tracked_links_customer", "tracked_links", "customer_id"),
    (
        "idx_conversation_tags_customer",
        "conversation_tags",
        "customer_id",
    ),
    (
        "idx_analytics_snapshots_product",
        "analytics_snapshots",
        "product_id",
    ),
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, column) in FOREIGN_KEY_INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(*name)
                        .table(Alias::new(*table))
                        .col(Alias::new(*column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in FOREIGN_KEY_INDEXES.iter().rev() {
            manager
                .drop_index(
                    Index::drop()
                        .name(*name)
                        .table(Alias::new(*table))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
