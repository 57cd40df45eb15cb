//! `campaign_versions`: an immutable published snapshot of a campaign's workflow.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "campaign_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub campaign_id: Uuid,
    pub version: i32,
    /// React Flow document as JSON text, read back byte for byte (key order included).
    #[sea_orm(column_type = "Text")]
    pub workflow_data: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub published_by: Option<String>,
    pub published_at: DateTimeUtc,
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
    #[sea_orm(has_many = "super::campaign_execution::Entity")]
    CampaignExecution,
}

related! {
    workspace => Workspace,
    campaign => Campaign,
    campaign_execution => CampaignExecution,
}

impl ActiveModelBehavior for ActiveModel {}
