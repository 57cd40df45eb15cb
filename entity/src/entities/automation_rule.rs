//! `automation_rules`: a rule that turns a trigger into a suggested or automatic dispatch.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use super::enums::RuleMode;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "automation_rules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub builtin_key: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub trigger: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub conditions: Json,
    pub template_id: Option<Uuid>,
    pub campaign_id: Option<Uuid>,
    pub mode: RuleMode,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    MessageTemplate: belongs_to message_template by TemplateId, on delete SetNull;
    Campaign: belongs_to campaign by CampaignId, on delete SetNull;
    DispatchItem: has_many dispatch_item;
}

related! {
    workspace => Workspace,
    message_template => MessageTemplate,
    campaign => Campaign,
    dispatch_item => DispatchItem,
}

impl ActiveModelBehavior for ActiveModel {}
