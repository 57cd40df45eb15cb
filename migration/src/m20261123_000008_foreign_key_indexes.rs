//! Indexes on foreign-key columns no other index starts with, so deleting or
//! updating a parent row never scans the child table.

use sea_orm_migration::prelude::*;

use crate::indexes::{PlainIndex, create_all, drop_all};

const FOREIGN_KEY_INDEXES: &[PlainIndex] = &[
    PlainIndex {
        name: "idx_lessons_module",
        table: "lessons",
        columns: &["module_id"],
    },
    PlainIndex {
        name: "idx_subscriptions_product",
        table: "subscriptions",
        columns: &["product_id"],
    },
    PlainIndex {
        name: "idx_transactions_offer",
        table: "transactions",
        columns: &["offer_id"],
    },
    PlainIndex {
        name: "idx_transactions_subscription",
        table: "transactions",
        columns: &["subscription_id"],
    },
    PlainIndex {
        name: "idx_enrollments_transaction",
        table: "enrollments",
        columns: &["transaction_id"],
    },
    PlainIndex {
        name: "idx_message_templates_product",
        table: "message_templates",
        columns: &["product_id"],
    },
    PlainIndex {
        name: "idx_campaign_executions_version",
        table: "campaign_executions",
        columns: &["version_id"],
    },
    PlainIndex {
        name: "idx_campaign_executions_target_group",
        table: "campaign_executions",
        columns: &["target_group_id"],
    },
    PlainIndex {
        name: "idx_automation_rules_template",
        table: "automation_rules",
        columns: &["template_id"],
    },
    PlainIndex {
        name: "idx_automation_rules_campaign",
        table: "automation_rules",
        columns: &["campaign_id"],
    },
    PlainIndex {
        name: "idx_dispatch_queue_rule",
        table: "dispatch_queue",
        columns: &["rule_id"],
    },
    PlainIndex {
        name: "idx_dispatch_queue_template",
        table: "dispatch_queue",
        columns: &["template_id"],
    },
    PlainIndex {
        name: "idx_dispatch_queue_recipient",
        table: "dispatch_queue",
        columns: &["campaign_recipient_id"],
    },
    PlainIndex {
        name: "idx_messages_template",
        table: "messages",
        columns: &["template_id"],
    },
    PlainIndex {
        name: "idx_messages_recipient",
        table: "messages",
        columns: &["campaign_recipient_id"],
    },
    PlainIndex {
        name: "idx_messages_dispatch_item",
        table: "messages",
        columns: &["dispatch_item_id"],
    },
    PlainIndex {
        name: "idx_tracked_links_customer",
        table: "tracked_links",
        columns: &["customer_id"],
    },
    PlainIndex {
        name: "idx_conversation_tags_customer",
        table: "conversation_tags",
        columns: &["customer_id"],
    },
    PlainIndex {
        name: "idx_analytics_snapshots_product",
        table: "analytics_snapshots",
        columns: &["product_id"],
    },
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_all(manager, FOREIGN_KEY_INDEXES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, FOREIGN_KEY_INDEXES).await
    }
}
