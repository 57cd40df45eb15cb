//! `campaign_executions`: one run of a published campaign version.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use super::enums::{ExecutionStatus, ExecutionType};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "campaign_executions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub campaign_id: Uuid,
    pub version_id: Uuid,
    pub target_group_id: Option<Uuid>,
    pub execution_type: ExecutionType,
    pub status: ExecutionStatus,
    #[sea_orm(column_type = "JsonBinary")]
    pub execution_data: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub metrics: Json,
    pub started_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
    /// The cron fire a `scheduled` execution was started for (unique per campaign).
    pub scheduled_for: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    Campaign: belongs_to campaign by CampaignId, on delete Cascade;
    CampaignVersion: belongs_to campaign_version by VersionId, on delete NoAction;
    TargetGroupMapping: belongs_to target_group_mapping by TargetGroupId, on delete SetNull;
    CampaignRecipient: has_many campaign_recipient;
}

related! {
    workspace => Workspace,
    campaign => Campaign,
    campaign_version => CampaignVersion,
    target_group_mapping => TargetGroupMapping,
    campaign_recipient => CampaignRecipient,
}

impl ActiveModelBehavior for ActiveModel {}
