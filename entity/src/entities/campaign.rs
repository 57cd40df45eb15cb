//! `campaigns`: a campaign and its editable React Flow workflow.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use super::enums::CampaignStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "campaigns")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
    pub status: CampaignStatus,
    /// React Flow document as JSON text, read back byte for byte (key order included).
    #[sea_orm(column_type = "Text")]
    pub workflow_data: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub created_by: Option<String>,
    pub scheduled_at: Option<DateTimeUtc>,
    pub started_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
    /// Schedule triggers: cron fires at or before this instant were already
    /// started (or fell while the campaign was not active).
    pub schedule_checked_until: Option<DateTimeUtc>,
    /// What counts as a recipient's conversion: `{event, productId?, withinDays}`.
    #[sea_orm(column_type = "JsonBinary")]
    pub goal: Option<Json>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    CampaignVersion: has_many campaign_version;
    CampaignExecution: has_many campaign_execution;
    CampaignRecipient: has_many campaign_recipient;
    AutomationRule: has_many automation_rule;
}

related! {
    workspace => Workspace,
    campaign_version => CampaignVersion,
    campaign_execution => CampaignExecution,
    campaign_recipient => CampaignRecipient,
    automation_rule => AutomationRule,
}

impl ActiveModelBehavior for ActiveModel {}
