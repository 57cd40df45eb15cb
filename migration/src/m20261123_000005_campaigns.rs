//! Campaigns: target groups, campaigns, published versions, executions and recipients.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_workspaces_settings::workspace_fk;
use crate::m20261123_000003_customers::Customers;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TargetGroupMappings::Table)
                    .col(pk_uuid(TargetGroupMappings::Id))
                    .col(uuid(TargetGroupMappings::WorkspaceId))
                    .col(string_len(TargetGroupMappings::CrmName, 128))
                    .col(string_len(TargetGroupMappings::Source, 64))
                    .col(json_binary_null(TargetGroupMappings::Filter))
                    .col(text_null(TargetGroupMappings::Description))
                    .col(timestamp_with_time_zone(TargetGroupMappings::CreatedAt))
                    .col(timestamp_with_time_zone(TargetGroupMappings::UpdatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_target_group_mappings_workspace_id",
                        TargetGroupMappings::Table,
                        TargetGroupMappings::WorkspaceId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_target_group_mappings_workspace_crm_name")
                    .table(TargetGroupMappings::Table)
                    .col(TargetGroupMappings::WorkspaceId)
                    .col(TargetGroupMappings::CrmName)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Campaigns::Table)
                    .col(pk_uuid(Campaigns::Id))
                    .col(uuid(Campaigns::WorkspaceId))
                    .col(string(Campaigns::Name))
                    .col(text_null(Campaigns::Description))
                    .col(string_len(Campaigns::Status, 16))
                    // JSON kept as text on every backend: sea-orm binds JSON values as jsonb on
                    // PostgreSQL, which reorders keys even when the column is `json`.
                    .col(text(Campaigns::WorkflowData))
                    .col(string_len_null(Campaigns::CreatedBy, 128))
                    .col(timestamp_with_time_zone_null(Campaigns::ScheduledAt))
                    .col(timestamp_with_time_zone_null(Campaigns::StartedAt))
                    .col(timestamp_with_time_zone_null(Campaigns::CompletedAt))
                    .col(timestamp_with_time_zone(Campaigns::CreatedAt))
                    .col(timestamp_with_time_zone(Campaigns::UpdatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_campaigns_workspace_id",
                        Campaigns::Table,
                        Campaigns::WorkspaceId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_campaigns_workspace_status")
                    .table(Campaigns::Table)
                    .col(Campaigns::WorkspaceId)
                    .col(Campaigns::Status)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CampaignVersions::Table)
                    .col(pk_uuid(CampaignVersions::Id))
                    .col(uuid(CampaignVersions::WorkspaceId))
                    .col(uuid(CampaignVersions::CampaignId))
                    .col(integer(CampaignVersions::Version))
                    // JSON kept as text on every backend: sea-orm binds JSON values as jsonb on
                    // PostgreSQL, which reorders keys even when the column is `json`.
                    .col(text(CampaignVersions::WorkflowData))
                    .col(string_len_null(CampaignVersions::PublishedBy, 128))
                    .col(timestamp_with_time_zone(CampaignVersions::PublishedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_campaign_versions_workspace_id",
                        CampaignVersions::Table,
                        CampaignVersions::WorkspaceId,
                    ))
                    // ON DELETE CASCADE: versions are part of the campaign.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_campaign_versions_campaign_id")
                            .from(CampaignVersions::Table, CampaignVersions::CampaignId)
                            .to(Campaigns::Table, Campaigns::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_campaign_versions_campaign_version")
                    .table(CampaignVersions::Table)
                    .col(CampaignVersions::CampaignId)
                    .col(CampaignVersions::Version)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_campaign_versions_workspace")
                    .table(CampaignVersions::Table)
                    .col(CampaignVersions::WorkspaceId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CampaignExecutions::Table)
                    .col(pk_uuid(CampaignExecutions::Id))
                    .col(uuid(CampaignExecutions::WorkspaceId))
                    .col(uuid(CampaignExecutions::CampaignId))
                    .col(uuid(CampaignExecutions::VersionId))
                    .col(uuid_null(CampaignExecutions::TargetGroupId))
                    .col(string_len(CampaignExecutions::ExecutionType, 16))
                    .col(string_len(CampaignExecutions::Status, 16))
                    .col(json_binary(CampaignExecutions::ExecutionData))
                    .col(json_binary(CampaignExecutions::Metrics))
                    .col(timestamp_with_time_zone(CampaignExecutions::StartedAt))
                    .col(timestamp_with_time_zone_null(
                        CampaignExecutions::CompletedAt,
                    ))
                    .col(timestamp_with_time_zone(CampaignExecutions::CreatedAt))
                    .col(timestamp_with_time_zone(CampaignExecutions::UpdatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_campaign_executions_workspace_id",
                        CampaignExecutions::Table,
                        CampaignExecutions::WorkspaceId,
                    ))
                    // ON DELETE CASCADE: executions are part of the campaign.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_campaign_executions_campaign_id")
                            .from(CampaignExecutions::Table, CampaignExecutions::CampaignId)
                            .to(Campaigns::Table, Campaigns::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // ON DELETE NO ACTION: an execution must keep the version it ran.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_campaign_executions_version_id")
                            .from(CampaignExecutions::Table, CampaignExecutions::VersionId)
                            .to(CampaignVersions::Table, CampaignVersions::Id)
                            .on_delete(ForeignKeyAction::NoAction),
                    )
                    // ON DELETE SET NULL: the target group is an optional reference.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_campaign_executions_target_group_id")
                            .from(CampaignExecutions::Table, CampaignExecutions::TargetGroupId)
                            .to(TargetGroupMappings::Table, TargetGroupMappings::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_campaign_executions_campaign_started_at")
                    .table(CampaignExecutions::Table)
                    .col(CampaignExecutions::CampaignId)
                    .col(CampaignExecutions::StartedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_campaign_executions_workspace_status")
                    .table(CampaignExecutions::Table)
                    .col(CampaignExecutions::WorkspaceId)
                    .col(CampaignExecutions::Status)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CampaignRecipients::Table)
                    .col(pk_uuid(CampaignRecipients::Id))
                    .col(uuid(CampaignRecipients::WorkspaceId))
                    .col(uuid(CampaignRecipients::CampaignId))
                    .col(uuid(CampaignRecipients::ExecutionId))
                    .col(uuid(CampaignRecipients::CustomerId))
                    .col(string_len_null(CampaignRecipients::Channel, 16))
                    .col(string_len(CampaignRecipients::Status, 16))
                    .col(string_len_null(CampaignRecipients::CurrentNodeId, 128))
                    .col(timestamp_with_time_zone_null(CampaignRecipients::WakeAt))
                    .col(json_binary(CampaignRecipients::State))
                    .col(timestamp_with_time_zone_null(CampaignRecipients::SentAt))
                    .col(timestamp_with_time_zone_null(
                        CampaignRecipients::DeliveredAt,
                    ))
                    .col(timestamp_with_time_zone_null(CampaignRecipients::OpenedAt))
                    .col(timestamp_with_time_zone_null(CampaignRecipients::ClickedAt))
                    .col(timestamp_with_time_zone_null(
                        CampaignRecipients::ConvertedAt,
                    ))
                    .col(text_null(CampaignRecipients::Error))
                    .col(timestamp_with_time_zone(CampaignRecipients::CreatedAt))
                    .col(timestamp_with_time_zone(CampaignRecipients::UpdatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_campaign_recipients_workspace_id",
                        CampaignRecipients::Table,
                        CampaignRecipients::WorkspaceId,
                    ))
                    // ON DELETE CASCADE: recipients are part of the campaign.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_campaign_recipients_campaign_id")
                            .from(CampaignRecipients::Table, CampaignRecipients::CampaignId)
                            .to(Campaigns::Table, Campaigns::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // ON DELETE CASCADE: recipients are part of the execution.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_campaign_recipients_execution_id")
                            .from(CampaignRecipients::Table, CampaignRecipients::ExecutionId)
                            .to(CampaignExecutions::Table, CampaignExecutions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // ON DELETE CASCADE: recipients are part of the customer's record.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_campaign_recipients_customer_id")
                            .from(CampaignRecipients::Table, CampaignRecipients::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_campaign_recipients_execution_customer")
                    .table(CampaignRecipients::Table)
                    .col(CampaignRecipients::ExecutionId)
                    .col(CampaignRecipients::CustomerId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_campaign_recipients_status_wake_at")
                    .table(CampaignRecipients::Table)
                    .col(CampaignRecipients::Status)
                    .col(CampaignRecipients::WakeAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_campaign_recipients_customer")
                    .table(CampaignRecipients::Table)
                    .col(CampaignRecipients::CustomerId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_campaign_recipients_workspace")
                    .table(CampaignRecipients::Table)
                    .col(CampaignRecipients::WorkspaceId)
                    .to_owned(),
            )
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents; indexes go with their tables.
        manager
            .drop_table(Table::drop().table(CampaignRecipients::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(CampaignExecutions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(CampaignVersions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Campaigns::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(TargetGroupMappings::Table).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
pub enum TargetGroupMappings {
    Table,
    Id,
    WorkspaceId,
    CrmName,
    Source,
    Filter,
    Description,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum Campaigns {
    Table,
    Id,
    WorkspaceId,
    Name,
    Description,
    Status,
    WorkflowData,
    CreatedBy,
    ScheduledAt,
    StartedAt,
    CompletedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum CampaignVersions {
    Table,
    Id,
    WorkspaceId,
    CampaignId,
    Version,
    WorkflowData,
    PublishedBy,
    PublishedAt,
}

#[derive(DeriveIden)]
pub enum CampaignExecutions {
    Table,
    Id,
    WorkspaceId,
    CampaignId,
    VersionId,
    TargetGroupId,
    ExecutionType,
    Status,
    ExecutionData,
    Metrics,
    StartedAt,
    CompletedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum CampaignRecipients {
    Table,
    Id,
    WorkspaceId,
    CampaignId,
    ExecutionId,
    CustomerId,
    Channel,
    Status,
    CurrentNodeId,
    WakeAt,
    State,
    SentAt,
    DeliveredAt,
    OpenedAt,
    ClickedAt,
    ConvertedAt,
    Error,
    CreatedAt,
    UpdatedAt,
}
