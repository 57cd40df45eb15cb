//! Campaigns: target groups, campaigns, published versions, executions and recipients.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000003_customers::Customers;
use crate::schema::{TableIndex, TableShape, table_migration, tenant_table};

const INDEXES: &[TableIndex] = &[
    TableIndex::unique(
        "uq_target_group_mappings_workspace_crm_name",
        "target_group_mappings",
        &["workspace_id", "crm_name"],
    ),
    TableIndex::new(
        "idx_campaigns_workspace_status",
        "campaigns",
        &["workspace_id", "status"],
    ),
    TableIndex::unique(
        "uq_campaign_versions_campaign_version",
        "campaign_versions",
        &["campaign_id", "version"],
    ),
    TableIndex::new(
        "idx_campaign_versions_workspace",
        "campaign_versions",
        &["workspace_id"],
    ),
    TableIndex::new(
        "idx_campaign_executions_campaign_started_at",
        "campaign_executions",
        &["campaign_id", "started_at"],
    ),
    TableIndex::new(
        "idx_campaign_executions_workspace_status",
        "campaign_executions",
        &["workspace_id", "status"],
    ),
    TableIndex::unique(
        "uq_campaign_recipients_execution_customer",
        "campaign_recipients",
        &["execution_id", "customer_id"],
    ),
    RECIPIENTS_BY_STATUS,
    TableIndex::new(
        "idx_campaign_recipients_customer",
        "campaign_recipients",
        &["customer_id"],
    ),
    TableIndex::new(
        "idx_campaign_recipients_workspace",
        "campaign_recipients",
        &["workspace_id"],
    ),
];

/// Recipients by status and wake-up time, for the campaign runner's claim.
pub const RECIPIENTS_BY_STATUS: TableIndex = TableIndex::new(
    "idx_campaign_recipients_status_wake_at",
    "campaign_recipients",
    &["status", "wake_at"],
);

#[derive(DeriveMigrationName)]
pub struct Migration;

table_migration!(tables, INDEXES);

/// The tables, each after those it references.
fn tables() -> Vec<TableCreateStatement> {
    vec![
        tenant_table(TargetGroupMappings::Table)
            .col(string_len(TargetGroupMappings::CrmName, 128))
            .col(string_len(TargetGroupMappings::Source, 64))
            .col(json_binary_null(TargetGroupMappings::Filter))
            .col(text_null(TargetGroupMappings::Description))
            .timestamps()
            .to_owned(),
        tenant_table(Campaigns::Table)
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
            .timestamps()
            .to_owned(),
        tenant_table(CampaignVersions::Table)
            .col(uuid(CampaignVersions::CampaignId))
            .col(integer(CampaignVersions::Version))
            // JSON kept as text, as in `campaigns.workflow_data`.
            .col(text(CampaignVersions::WorkflowData))
            .col(string_len_null(CampaignVersions::PublishedBy, 128))
            .col(timestamp_with_time_zone(CampaignVersions::PublishedAt))
            // Versions are part of the campaign.
            .fk_cascade(CampaignVersions::CampaignId, Campaigns::Table)
            .to_owned(),
        tenant_table(CampaignExecutions::Table)
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
            .timestamps()
            // Executions are part of the campaign.
            .fk_cascade(CampaignExecutions::CampaignId, Campaigns::Table)
            // An execution must keep the version it ran.
            .fk_no_action(CampaignExecutions::VersionId, CampaignVersions::Table)
            // The target group is an optional reference.
            .fk_set_null(
                CampaignExecutions::TargetGroupId,
                TargetGroupMappings::Table,
            )
            .to_owned(),
        tenant_table(CampaignRecipients::Table)
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
            .timestamps()
            // Recipients are part of the campaign, of the execution and of the
            // customer's record.
            .fk_cascade(CampaignRecipients::CampaignId, Campaigns::Table)
            .fk_cascade(CampaignRecipients::ExecutionId, CampaignExecutions::Table)
            .fk_cascade(CampaignRecipients::CustomerId, Customers::Table)
            .to_owned(),
    ]
}

#[derive(DeriveIden)]
enum TargetGroupMappings {
    Table,
    CrmName,
    Source,
    Filter,
    Description,
}

#[derive(DeriveIden)]
pub enum Campaigns {
    Table,
    Name,
    Description,
    Status,
    WorkflowData,
    CreatedBy,
    ScheduledAt,
    StartedAt,
    CompletedAt,
}

#[derive(DeriveIden)]
enum CampaignVersions {
    Table,
    CampaignId,
    Version,
    WorkflowData,
    PublishedBy,
    PublishedAt,
}

#[derive(DeriveIden)]
pub enum CampaignExecutions {
    Table,
    CampaignId,
    VersionId,
    TargetGroupId,
    ExecutionType,
    Status,
    ExecutionData,
    Metrics,
    StartedAt,
    CompletedAt,
}

#[derive(DeriveIden)]
pub enum CampaignRecipients {
    Table,
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
}
