//! Events and messaging: raw webhook events, templates, automation rules, the dispatch queue, the message outbox and tracked links.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_workspaces_settings::workspace_fk;
use crate::m20261123_000002_catalog::Products;
use crate::m20261123_000003_customers::Customers;
use crate::m20261123_000005_campaigns::{CampaignRecipients, Campaigns};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEvents::Table)
                    .col(pk_uuid(WebhookEvents::Id))
                    .col(uuid(WebhookEvents::WorkspaceId))
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
                    .foreign_key(&mut workspace_fk(
                        "fk_webhook_events_workspace_id",
                        WebhookEvents::Table,
                        WebhookEvents::WorkspaceId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_webhook_events_workspace_source_external_id")
                    .table(WebhookEvents::Table)
                    .col(WebhookEvents::WorkspaceId)
                    .col(WebhookEvents::Source)
                    .col(WebhookEvents::ExternalId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_events_workspace_status_received_at")
                    .table(WebhookEvents::Table)
                    .col(WebhookEvents::WorkspaceId)
                    .col(WebhookEvents::Status)
                    .col(WebhookEvents::ReceivedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_events_workspace_received_at")
                    .table(WebhookEvents::Table)
                    .col(WebhookEvents::WorkspaceId)
                    .col(WebhookEvents::ReceivedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MessageTemplates::Table)
                    .col(pk_uuid(MessageTemplates::Id))
                    .col(uuid(MessageTemplates::WorkspaceId))
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
                    .col(timestamp_with_time_zone(MessageTemplates::CreatedAt))
                    .col(timestamp_with_time_zone(MessageTemplates::UpdatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_message_templates_workspace_id",
                        MessageTemplates::Table,
                        MessageTemplates::WorkspaceId,
                    ))
                    // ON DELETE SET NULL: the product is an optional scope.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_message_templates_product_id")
                            .from(MessageTemplates::Table, MessageTemplates::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_message_templates_workspace_channel_name_language")
                    .table(MessageTemplates::Table)
                    .col(MessageTemplates::WorkspaceId)
                    .col(MessageTemplates::Channel)
                    .col(MessageTemplates::Name)
                    .col(MessageTemplates::Language)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AutomationRules::Table)
                    .col(pk_uuid(AutomationRules::Id))
                    .col(uuid(AutomationRules::WorkspaceId))
                    .col(string(AutomationRules::Name))
                    .col(string_len_null(AutomationRules::BuiltinKey, 64))
                    .col(string_len(AutomationRules::Trigger, 64))
                    .col(json_binary(AutomationRules::Conditions))
                    .col(uuid_null(AutomationRules::TemplateId))
                    .col(uuid_null(AutomationRules::CampaignId))
                    .col(string_len(AutomationRules::Mode, 16))
                    .col(boolean(AutomationRules::Active).default(true))
                    .col(timestamp_with_time_zone(AutomationRules::CreatedAt))
                    .col(timestamp_with_time_zone(AutomationRules::UpdatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_automation_rules_workspace_id",
                        AutomationRules::Table,
                        AutomationRules::WorkspaceId,
                    ))
                    // ON DELETE SET NULL: the template is an optional reference.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_automation_rules_template_id")
                            .from(AutomationRules::Table, AutomationRules::TemplateId)
                            .to(MessageTemplates::Table, MessageTemplates::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    // ON DELETE SET NULL: the campaign is an optional reference.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_automation_rules_campaign_id")
                            .from(AutomationRules::Table, AutomationRules::CampaignId)
                            .to(Campaigns::Table, Campaigns::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_automation_rules_workspace_builtin_key")
                    .table(AutomationRules::Table)
                    .col(AutomationRules::WorkspaceId)
                    .col(AutomationRules::BuiltinKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_automation_rules_workspace_trigger")
                    .table(AutomationRules::Table)
                    .col(AutomationRules::WorkspaceId)
                    .col(AutomationRules::Trigger)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(DispatchQueue::Table)
                    .col(pk_uuid(DispatchQueue::Id))
                    .col(uuid(DispatchQueue::WorkspaceId))
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
                    .col(timestamp_with_time_zone(DispatchQueue::CreatedAt))
                    .col(timestamp_with_time_zone(DispatchQueue::UpdatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_dispatch_queue_workspace_id",
                        DispatchQueue::Table,
                        DispatchQueue::WorkspaceId,
                    ))
                    // ON DELETE SET NULL: the rule is an optional reference; decisions stay.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_dispatch_queue_rule_id")
                            .from(DispatchQueue::Table, DispatchQueue::RuleId)
                            .to(AutomationRules::Table, AutomationRules::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    // ON DELETE CASCADE: dispatches are part of the customer's record.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_dispatch_queue_customer_id")
                            .from(DispatchQueue::Table, DispatchQueue::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // ON DELETE SET NULL: the template is an optional reference.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_dispatch_queue_template_id")
                            .from(DispatchQueue::Table, DispatchQueue::TemplateId)
                            .to(MessageTemplates::Table, MessageTemplates::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    // ON DELETE CASCADE: a campaign step's dispatch goes with the recipient.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_dispatch_queue_campaign_recipient_id")
                            .from(DispatchQueue::Table, DispatchQueue::CampaignRecipientId)
                            .to(CampaignRecipients::Table, CampaignRecipients::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_dispatch_queue_workspace_status_suggested_at")
                    .table(DispatchQueue::Table)
                    .col(DispatchQueue::WorkspaceId)
                    .col(DispatchQueue::Status)
                    .col(DispatchQueue::SuggestedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_dispatch_queue_customer")
                    .table(DispatchQueue::Table)
                    .col(DispatchQueue::CustomerId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .col(pk_uuid(Messages::Id))
                    .col(uuid(Messages::WorkspaceId))
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
                    .col(timestamp_with_time_zone(Messages::CreatedAt))
                    .col(timestamp_with_time_zone(Messages::UpdatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_messages_workspace_id",
                        Messages::Table,
                        Messages::WorkspaceId,
                    ))
                    // ON DELETE CASCADE: messages are part of the customer's record.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_messages_customer_id")
                            .from(Messages::Table, Messages::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // ON DELETE SET NULL: the template is an optional reference.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_messages_template_id")
                            .from(Messages::Table, Messages::TemplateId)
                            .to(MessageTemplates::Table, MessageTemplates::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    // ON DELETE SET NULL: the origin is an optional link; the message history stays.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_messages_campaign_recipient_id")
                            .from(Messages::Table, Messages::CampaignRecipientId)
                            .to(CampaignRecipients::Table, CampaignRecipients::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    // ON DELETE SET NULL: the origin is an optional link; the message history stays.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_messages_dispatch_item_id")
                            .from(Messages::Table, Messages::DispatchItemId)
                            .to(DispatchQueue::Table, DispatchQueue::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_messages_idempotency_key")
                    .table(Messages::Table)
                    .col(Messages::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_provider_message_id")
                    .table(Messages::Table)
                    .col(Messages::ProviderMessageId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_workspace_status")
                    .table(Messages::Table)
                    .col(Messages::WorkspaceId)
                    .col(Messages::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_customer_created_at")
                    .table(Messages::Table)
                    .col(Messages::CustomerId)
                    .col(Messages::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TrackedLinks::Table)
                    .col(pk_uuid(TrackedLinks::Id))
                    .col(uuid(TrackedLinks::WorkspaceId))
                    .col(string_len(TrackedLinks::Code, 32))
                    .col(uuid_null(TrackedLinks::MessageId))
                    .col(uuid_null(TrackedLinks::CustomerId))
                    .col(text(TrackedLinks::TargetUrl))
                    .col(integer(TrackedLinks::ClickCount).default(0))
                    .col(timestamp_with_time_zone_null(TrackedLinks::FirstClickedAt))
                    .col(timestamp_with_time_zone_null(TrackedLinks::LastClickedAt))
                    .col(timestamp_with_time_zone(TrackedLinks::CreatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_tracked_links_workspace_id",
                        TrackedLinks::Table,
                        TrackedLinks::WorkspaceId,
                    ))
                    // ON DELETE SET NULL: the message is an optional link; the link keeps working.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tracked_links_message_id")
                            .from(TrackedLinks::Table, TrackedLinks::MessageId)
                            .to(Messages::Table, Messages::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    // ON DELETE SET NULL: the customer is an optional link; the link keeps working.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tracked_links_customer_id")
                            .from(TrackedLinks::Table, TrackedLinks::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_tracked_links_code")
                    .table(TrackedLinks::Table)
                    .col(TrackedLinks::Code)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tracked_links_message")
                    .table(TrackedLinks::Table)
                    .col(TrackedLinks::MessageId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tracked_links_workspace")
                    .table(TrackedLinks::Table)
                    .col(TrackedLinks::WorkspaceId)
                    .to_owned(),
            )
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents; indexes go with their tables.
        manager
            .drop_table(Table::drop().table(TrackedLinks::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Messages::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(DispatchQueue::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AutomationRules::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(MessageTemplates::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(WebhookEvents::Table).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
pub enum WebhookEvents {
    Table,
    Id,
    WorkspaceId,
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
pub enum MessageTemplates {
    Table,
    Id,
    WorkspaceId,
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
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum AutomationRules {
    Table,
    Id,
    WorkspaceId,
    Name,
    BuiltinKey,
    Trigger,
    Conditions,
    TemplateId,
    CampaignId,
    Mode,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum DispatchQueue {
    Table,
    Id,
    WorkspaceId,
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
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum Messages {
    Table,
    Id,
    WorkspaceId,
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
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum TrackedLinks {
    Table,
    Id,
    WorkspaceId,
    Code,
    MessageId,
    CustomerId,
    TargetUrl,
    ClickCount,
    FirstClickedAt,
    LastClickedAt,
    CreatedAt,
}
