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

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::workspace::Entity",
        from = "Column::WorkspaceId",
        to = "super::workspace::Column::Id",
        on_delete = "Cascade"
    )]
    Workspace,
    #[sea_orm(has_many = "super::campaign_execution::Entity")]
    CampaignExecution,
}

related! {
    workspace => Workspace,
    campaign_execution => CampaignExecution,
}

impl ActiveModelBehavior for ActiveModel {}
