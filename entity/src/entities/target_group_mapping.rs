//! `target_group_mappings`: maps a CRM target-group name to an allow-listed source relation and filter.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "target_group_mappings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub crm_name: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub source: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub filter: Option<Json>,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    CampaignExecution: has_many campaign_execution;
}

related! {
    workspace => Workspace,
    campaign_execution => CampaignExecution,
}

impl ActiveModelBehavior for ActiveModel {}
