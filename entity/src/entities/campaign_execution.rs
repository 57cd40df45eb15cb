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

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::workspace::Entity",
        from = "Column::WorkspaceId",
        to = "super::workspace::Column::Id",
        on_delete = "Cascade"
    )]
    Workspace,
    #[sea_orm(
        belongs_to = "super::campaign::Entity",
        from = "Column::CampaignId",
        to = "super::campaign::Column::Id",
        on_delete = "Cascade"
    )]
    Campaign,
    #[sea_orm(
        belongs_to = "super::campaign_version::Entity",
        from = "Column::VersionId",
        to = "super::campaign_version::Column::Id",
        on_delete = "NoAction"
    )]
    CampaignVersion,
    #[sea_orm(
        belongs_to = "super::target_group_mapping::Entity",
        from = "Column::TargetGroupId",
        to = "super::target_group_mapping::Column::Id",
        on_delete = "SetNull"
    )]
    TargetGroupMapping,
    #[sea_orm(has_many = "super::campaign_recipient::Entity")]
    CampaignRecipient,
}

related! {
    workspace => Workspace,
    campaign => Campaign,
    campaign_version => CampaignVersion,
    target_group_mapping => TargetGroupMapping,
    campaign_recipient => CampaignRecipient,
}

impl ActiveModelBehavior for ActiveModel {}
