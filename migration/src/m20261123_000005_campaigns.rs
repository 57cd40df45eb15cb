//! Campaigns: target groups, campaigns, published versions, executions and recipients.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{TableIndex, TableShape, table_migration, tenant_table};

/// Recipients by status and wake-up time, for the campaign runner's claim.
pub const RECIPIENTS_BY_STATUS: TableIndex = TableIndex::new(
    "idx_campaign_recipients_status_wake_at",
    "campaign_recipients",
    &["status", "wake_at"],
);

table_migration!(tables, INDEXES);

/// The tables, each after those it references.
fn tables() -> Vec<TableCreateStatement> {
    vec![
        tenant_table("target_group_mappings")
            .col(string_len("crm_name", 128))
            .col(string_len("source", 64))
            .col(json_binary_null("filter"))
            .col(text_null("description"))
            .timestamps()
            .to_owned(),
        tenant_table("campaigns")
            .col(string("name"))
            .col(text_null("description"))
            .col(string_len("status", 16))
            // JSON kept as text on every backend: sea-orm binds JSON values as jsonb on
            // PostgreSQL, which reorders keys even when the column is `json`.
            .col(text("workflow_data"))
            .col(string_len_null("created_by", 128))
            .col(timestamp_with_time_zone_null("scheduled_at"))
            .col(timestamp_with_time_zone_null("started_at"))
            .col(timestamp_with_time_zone_null("completed_at"))
            .timestamps()
            .to_owned(),
        tenant_table("campaign_versions")
            .col(uuid("campaign_id"))
            .col(integer("version"))
            // JSON kept as text, as in `campaigns.workflow_data`.
            .col(text("workflow_data"))
            .col(string_len_null("published_by", 128))
            .col(timestamp_with_time_zone("published_at"))
            // Versions are part of the campaign.
            .fk_cascade("campaign_id", "campaigns")
            .to_owned(),
        tenant_table("campaign_executions")
            .col(uuid("campaign_id"))
            .col(uuid("version_id"))
            .col(uuid_null("target_group_id"))
            .col(string_len("execution_type", 16))
            .col(string_len("status", 16))
            .col(json_binary("execution_data"))
            .col(json_binary("metrics"))
            .col(timestamp_with_time_zone("started_at"))
            .col(timestamp_with_time_zone_null("completed_at"))
            .timestamps()
            // Executions are part of the campaign.
            .fk_cascade("campaign_id", "campaigns")
            // An execution must keep the version it ran.
            .fk_no_action("version_id", "campaign_versions")
            // The target group is an optional reference.
            .fk_set_null("target_group_id", "target_group_mappings")
            .to_owned(),
        tenant_table("campaign_recipients")
            .col(uuid("campaign_id"))
            .col(uuid("execution_id"))
            .col(uuid("customer_id"))
            .col(string_len_null("channel", 16))
            .col(string_len("status", 16))
            .col(string_len_null("current_node_id", 128))
            .col(timestamp_with_time_zone_null("wake_at"))
            .col(json_binary("state"))
            .col(timestamp_with_time_zone_null("sent_at"))
            .col(timestamp_with_time_zone_null("delivered_at"))
            .col(timestamp_with_time_zone_null("opened_at"))
            .col(timestamp_with_time_zone_null("clicked_at"))
            .col(timestamp_with_time_zone_null("converted_at"))
            .col(text_null("error"))
            .timestamps()
            // Recipients are part of the campaign, of the execution and of the
            // customer's record.
            .fk_cascade("campaign_id", "campaigns")
            .fk_cascade("execution_id", "campaign_executions")
            .fk_cascade("customer_id", "customers")
            .to_owned(),
    ]
}

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
