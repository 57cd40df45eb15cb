//! Events and messaging: raw webhook events, templates, automation rules, the dispatch queue, the message outbox and tracked links.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000002_catalog::Products;
use crate::m20261123_000003_customers::Customers;
use crate::m20261123_000005_campaigns::{CampaignRecipients, Campaigns};
use crate::schema::{TableIndex, TableShape, table_migration, tenant_table};

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

#[derive(DeriveMigrationName)]
pub struct Migration;

table_migration!(tables, INDEXES);

/// The tables, each after those it references.
fn tables() -> Vec<TableCreateStatement> {
    vec![
        tenant_table(WebhookEvents::Table)
            .col(string_len(WebhookEvents::Source, 32))
            .col(string_len(WebhookEvents::ExternalId, 128))
            .col(string_len(WebhookEvents::EventType, 64))
            .col(text(WebhookEvents::Payload))
            .col(string_len(WebhookEvents::Status, 16))
            .col(integer(WebhookEvents::Attempts).default(0))
            .col(text_null(WebhookEvents::LastError))
            .col(timestamp_with_time_zone(WebhookEvents::ReceivedAt))
            .col(timestamp_with_time_zone_null(WebhookEvents::ProcessedAt))
            .col(timestamp_with_time_zone_null(WebhookEvents::NextAttemptAt))
            .to_owned(),
        tenant_table(MessageTemplates::Table)
            .col(string_len(MessageTemplates::Channel, 16))
            .col(string_len_null(MessageTemplates::ProviderTemplateId, 64))
            .col(string_len(MessageTemplates::Name, 512))
            .col(string_len(MessageTemplates::Language, 16))
            .col(string_len_null(MessageTemplates::Category, 32))
            .col(json_binary(MessageTemplates::Components))
            .col(text_null(MessageTemplates::Subject))
            .col(text_null(MessageTemplates::Body))
            .col(uuid_null(MessageTemplates::ProductId))
            .col(string_len_null(MessageTemplates::Funnel, 64))
            .col(string_len(MessageTemplates::Status, 16))
            .col(timestamp_with_time_zone_null(
                MessageTemplates::LastSyncedAt,
            ))
            .timestamps()
            // The product is an optional scope.
            .fk_set_null(MessageTemplates::ProductId, Products::Table)
            .to_owned(),
        tenant_table(AutomationRules::Table)
            .col(string(AutomationRules::Name))
            .col(string_len_null(AutomationRules::BuiltinKey, 64))
            .col(string_len(AutomationRules::Trigger, 64))
            .col(json_binary(AutomationRules::Conditions))
            .col(uuid_null(AutomationRules::TemplateId))
            .col(uuid_null(AutomationRules::CampaignId))
            .col(string_len(AutomationRules::Mode, 16))
            .col(boolean(AutomationRules::Active).default(true))
            .timestamps()
            // The template and the campaign are optional references.
            .fk_set_null(AutomationRules::TemplateId, MessageTemplates::Table)
            .fk_set_null(AutomationRules::CampaignId, Campaigns::Table)
            .to_owned(),
        tenant_table(DispatchQueue::Table)
            .col(uuid_null(DispatchQueue::RuleId))
            .col(uuid(DispatchQueue::CustomerId))
            .col(uuid_null(DispatchQueue::TemplateId))
            .col(uuid_null(DispatchQueue::CampaignRecipientId))
            .col(string_len_null(DispatchQueue::NodeId, 128))
            .col(string_len(DispatchQueue::Channel, 16))
            .col(json_binary(DispatchQueue::Variables))
            .col(text(DispatchQueue::Reason))
            .col(json_binary(DispatchQueue::Context))
            .col(string_len(DispatchQueue::Status, 16))
            .col(timestamp_with_time_zone(DispatchQueue::SuggestedAt))
            .col(timestamp_with_time_zone_null(DispatchQueue::ExpiresAt))
            .col(timestamp_with_time_zone_null(DispatchQueue::DecidedAt))
            .col(string_len_null(DispatchQueue::DecidedBy, 128))
            .col(text_null(DispatchQueue::RejectionReason))
            .col(json_binary_null(DispatchQueue::EditedContent))
            .timestamps()
            // The rule is an optional reference; decisions stay.
            .fk_set_null(DispatchQueue::RuleId, AutomationRules::Table)
            // Dispatches are part of the customer's record.
            .fk_cascade(DispatchQueue::CustomerId, Customers::Table)
            // The template is an optional reference.
            .fk_set_null(DispatchQueue::TemplateId, MessageTemplates::Table)
            // A campaign step's dispatch goes with the recipient.
            .fk_cascade(
                DispatchQueue::CampaignRecipientId,
                CampaignRecipients::Table,
            )
            .to_owned(),
        tenant_table(Messages::Table)
            .col(uuid(Messages::CustomerId))
            .col(string_len(Messages::Channel, 16))
            .col(uuid_null(Messages::TemplateId))
            .col(json_binary(Messages::Content))
            .col(string_len(Messages::IdempotencyKey, 255))
            .col(string_len(Messages::Status, 16))
            .col(string_len_null(Messages::ProviderMessageId, 255))
            .col(text_null(Messages::Error))
            .col(uuid_null(Messages::CampaignRecipientId))
            .col(uuid_null(Messages::DispatchItemId))
            .col(string_len_null(Messages::NodeId, 128))
            .col(timestamp_with_time_zone_null(Messages::LeaseUntil))
            .col(timestamp_with_time_zone_null(Messages::SentAt))
            .col(timestamp_with_time_zone_null(Messages::DeliveredAt))
            .col(timestamp_with_time_zone_null(Messages::ReadAt))
            .col(timestamp_with_time_zone_null(Messages::FailedAt))
            .timestamps()
            // Messages are part of the customer's record.
            .fk_cascade(Messages::CustomerId, Customers::Table)
            // The template is an optional reference.
            .fk_set_null(Messages::TemplateId, MessageTemplates::Table)
            // The origin is an optional link; the message history stays.
            .fk_set_null(Messages::CampaignRecipientId, CampaignRecipients::Table)
            .fk_set_null(Messages::DispatchItemId, DispatchQueue::Table)
            .to_owned(),
        tenant_table(TrackedLinks::Table)
            .col(string_len(TrackedLinks::Code, 32))
            .col(uuid_null(TrackedLinks::MessageId))
            .col(uuid_null(TrackedLinks::CustomerId))
            .col(text(TrackedLinks::TargetUrl))
            .col(integer(TrackedLinks::ClickCount).default(0))
            .col(timestamp_with_time_zone_null(TrackedLinks::FirstClickedAt))
            .col(timestamp_with_time_zone_null(TrackedLinks::LastClickedAt))
            .col(timestamp_with_time_zone(TrackedLinks::CreatedAt))
            // The message and the customer are optional links; the link keeps working.
            .fk_set_null(TrackedLinks::MessageId, Messages::Table)
            .fk_set_null(TrackedLinks::CustomerId, Customers::Table)
            .to_owned(),
    ]
}

#[derive(DeriveIden)]
pub enum WebhookEvents {
    Table,
    Source,
    ExternalId,
    EventType,
    Payload,
    Status,
    Attempts,
    LastError,
    ReceivedAt,
    ProcessedAt,
    NextAttemptAt,
}

#[derive(DeriveIden)]
enum MessageTemplates {
    Table,
    Channel,
    ProviderTemplateId,
    Name,
    Language,
    Category,
    Components,
    Subject,
    Body,
    ProductId,
    Funnel,
    Status,
    LastSyncedAt,
}

#[derive(DeriveIden)]
enum AutomationRules {
    Table,
    Name,
    BuiltinKey,
    Trigger,
    Conditions,
    TemplateId,
    CampaignId,
    Mode,
    Active,
}

#[derive(DeriveIden)]
enum DispatchQueue {
    Table,
    RuleId,
    CustomerId,
    TemplateId,
    CampaignRecipientId,
    NodeId,
    Channel,
    Variables,
    Reason,
    Context,
    Status,
    SuggestedAt,
    ExpiresAt,
    DecidedAt,
    DecidedBy,
    RejectionReason,
    EditedContent,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    CustomerId,
    Channel,
    TemplateId,
    Content,
    IdempotencyKey,
    Status,
    ProviderMessageId,
    Error,
    CampaignRecipientId,
    DispatchItemId,
    NodeId,
    LeaseUntil,
    SentAt,
    DeliveredAt,
    ReadAt,
    FailedAt,
}

#[derive(DeriveIden)]
enum TrackedLinks {
    Table,
    Code,
    MessageId,
    CustomerId,
    TargetUrl,
    ClickCount,
    FirstClickedAt,
    LastClickedAt,
    CreatedAt,
}
