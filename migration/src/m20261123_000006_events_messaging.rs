//! Events and messaging: raw webhook events, templates, automation rules, the dispatch queue, the message outbox and tracked links.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{TableIndex, TableShape, table_migration, tenant_table};

table_migration!(tables, INDEXES);

/// The tables, each after those it references.
fn tables() -> Vec<TableCreateStatement> {
    vec![
        tenant_table("webhook_events")
            .col(string_len("source", 32))
            .col(string_len("external_id", 128))
            .col(string_len("event_type", 64))
            .col(text("payload"))
            .col(string_len("status", 16))
            .col(integer("attempts").default(0))
            .col(text_null("last_error"))
            .col(timestamp_with_time_zone("received_at"))
            .col(timestamp_with_time_zone_null("processed_at"))
            .col(timestamp_with_time_zone_null("next_attempt_at"))
            .to_owned(),
        tenant_table("message_templates")
            .col(string_len("channel", 16))
            .col(string_len_null("provider_template_id", 64))
            .col(string_len("name", 512))
            .col(string_len("language", 16))
            .col(string_len_null("category", 32))
            .col(json_binary("components"))
            .col(text_null("subject"))
            .col(text_null("body"))
            .col(uuid_null("product_id"))
            .col(string_len_null("funnel", 64))
            .col(string_len("status", 16))
            .col(timestamp_with_time_zone_null("last_synced_at"))
            .timestamps()
            // The product is an optional scope.
            .fk_set_null("product_id", "products")
            .to_owned(),
        tenant_table("automation_rules")
            .col(string("name"))
            .col(string_len_null("builtin_key", 64))
            .col(string_len("trigger", 64))
            .col(json_binary("conditions"))
            .col(uuid_null("template_id"))
            .col(uuid_null("campaign_id"))
            .col(string_len("mode", 16))
            .col(boolean("active").default(true))
            .timestamps()
            // The template and the campaign are optional references.
            .fk_set_null("template_id", "message_templates")
            .fk_set_null("campaign_id", "campaigns")
            .to_owned(),
        tenant_table("dispatch_queue")
            .col(uuid_null("rule_id"))
            .col(uuid("customer_id"))
            .col(uuid_null("template_id"))
            .col(uuid_null("campaign_recipient_id"))
            .col(string_len_null("node_id", 128))
            .col(string_len("channel", 16))
            .col(json_binary("variables"))
            .col(text("reason"))
            .col(json_binary("context"))
            .col(string_len("status", 16))
            .col(timestamp_with_time_zone("suggested_at"))
            .col(timestamp_with_time_zone_null("expires_at"))
            .col(timestamp_with_time_zone_null("decided_at"))
            .col(string_len_null("decided_by", 128))
            .col(text_null("rejection_reason"))
            .col(json_binary_null("edited_content"))
            .timestamps()
            // The rule is an optional reference; decisions stay.
            .fk_set_null("rule_id", "automation_rules")
            // Dispatches are part of the customer's record.
            .fk_cascade("customer_id", "customers")
            // The template is an optional reference.
            .fk_set_null("template_id", "message_templates")
            // A campaign step's dispatch goes with the recipient.
            .fk_cascade("campaign_recipient_id", "campaign_recipients")
            .to_owned(),
        tenant_table("messages")
            .col(uuid("customer_id"))
            .col(string_len("channel", 16))
            .col(uuid_null("template_id"))
            .col(json_binary("content"))
            .col(string_len("idempotency_key", 255))
            .col(string_len("status", 16))
            .col(string_len_null("provider_message_id", 255))
            .col(text_null("error"))
            .col(uuid_null("campaign_recipient_id"))
            .col(uuid_null("dispatch_item_id"))
            .col(string_len_null("node_id", 128))
            .col(timestamp_with_time_zone_null("lease_until"))
            .col(timestamp_with_time_zone_null("sent_at"))
            .col(timestamp_with_time_zone_null("delivered_at"))
            .col(timestamp_with_time_zone_null("read_at"))
            .col(timestamp_with_time_zone_null("failed_at"))
            .timestamps()
            // Messages are part of the customer's record.
            .fk_cascade("customer_id", "customers")
            // The template is an optional reference.
            .fk_set_null("template_id", "message_templates")
            // The origin is an optional link; the message history stays.
            .fk_set_null("campaign_recipient_id", "campaign_recipients")
            .fk_set_null("dispatch_item_id", "dispatch_queue")
            .to_owned(),
        tenant_table("tracked_links")
            .col(string_len("code", 32))
            .col(uuid_null("message_id"))
            .col(uuid_null("customer_id"))
            .col(text("target_url"))
            .col(integer("click_count").default(0))
            .col(timestamp_with_time_zone_null("first_clicked_at"))
            .col(timestamp_with_time_zone_null("last_clicked_at"))
            .col(timestamp_with_time_zone("created_at"))
            // The message and the customer are optional links; the link keeps working.
            .fk_set_null("message_id", "messages")
            .fk_set_null("customer_id", "customers")
            .to_owned(),
    ]
}

const INDEXES: &[TableIndex] = &[
    TableIndex::unique(
        "uq_webhook_events_workspace_source_external_id",
        "webhook_events",
        &["workspace_id", "source", "external_id"],
    ),
    TableIndex::new(
        "idx_webhook_events_workspace_status_received_at",
        "webhook_events",
        &["workspace_id", "status", "received_at"],
    ),
    TableIndex::new(
        "idx_webhook_events_workspace_received_at",
        "webhook_events",
        &["workspace_id", "received_at"],
    ),
    TableIndex::unique(
        "uq_message_templates_workspace_channel_name_language",
        "message_templates",
        &["workspace_id", "channel", "name", "language"],
    ),
    TableIndex::unique(
        "uq_automation_rules_workspace_builtin_key",
        "automation_rules",
        &["workspace_id", "builtin_key"],
    ),
    TableIndex::new(
        "idx_automation_rules_workspace_trigger",
        "automation_rules",
        &["workspace_id", "trigger"],
    ),
    TableIndex::new(
        "idx_dispatch_queue_workspace_status_suggested_at",
        "dispatch_queue",
        &["workspace_id", "status", "suggested_at"],
    ),
    TableIndex::new(
        "idx_dispatch_queue_customer",
        "dispatch_queue",
        &["customer_id"],
    ),
    TableIndex::unique(
        "uq_messages_idempotency_key",
        "messages",
        &["idempotency_key"],
    ),
    TableIndex::new(
        "idx_messages_provider_message_id",
        "messages",
        &["provider_message_id"],
    ),
    TableIndex::new(
        "idx_messages_workspace_status",
        "messages",
        &["workspace_id", "status"],
    ),
    TableIndex::new(
        "idx_messages_customer_created_at",
        "messages",
        &["customer_id", "created_at"],
    ),
    TableIndex::unique("uq_tracked_links_code", "tracked_links", &["code"]),
    TableIndex::new(
        "idx_tracked_links_message",
        "tracked_links",
        &["message_id"],
    ),
    TableIndex::new(
        "idx_tracked_links_workspace",
        "tracked_links",
        &["workspace_id"],
    ),
];
