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
    /// The trigger's parameters (`hours`, `days`, `maxProgress`).
    #[sea_orm(column_type = "JsonBinary")]
    pub params: Json,
    /// What the rule does, in order (`SEND_MESSAGE`, `ADD_TAGS`, …).
    #[sea_orm(column_type = "JsonBinary")]
    pub actions: Json,
    /// The products the rule is limited to; empty for every product.
    #[sea_orm(column_type = "JsonBinary")]
    pub product_ids: Json,
    pub cooldown_days: i32,
    pub expires_after_hours: i32,
    /// When a scan trigger runs (cron, in the workspace's time zone).
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub schedule: Option<String>,
    /// A scan trigger's schedule has been run up to here.
    pub scanned_until: Option<DateTimeUtc>,
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
