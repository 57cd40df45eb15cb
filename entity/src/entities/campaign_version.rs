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

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    Campaign: belongs_to campaign by CampaignId, on delete Cascade;
    CampaignExecution: has_many campaign_execution;
}

related! {
    workspace => Workspace,
    campaign => Campaign,
    campaign_execution => CampaignExecution,
}

impl ActiveModelBehavior for ActiveModel {}
