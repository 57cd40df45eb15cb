//! `message_templates`: a message template of a channel (e.g. an approved WhatsApp template).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use super::enums::Channel;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "message_templates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub channel: Channel,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub provider_template_id: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(512))")]
    pub name: String,
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub language: String,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub category: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub components: Json,
    #[sea_orm(column_type = "Text")]
    pub subject: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub body: Option<String>,
    pub product_id: Option<Uuid>,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub funnel: Option<String>,
    /// Provider status (APPROVED / PENDING / REJECTED / PAUSED), kept as received.
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub status: String,
    pub last_synced_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    Product: belongs_to product by ProductId, on delete SetNull;
    AutomationRule: has_many automation_rule;
    DispatchItem: has_many dispatch_item;
    Message: has_many message;
}

related! {
    workspace => Workspace,
    product => Product,
    automation_rule => AutomationRule,
    dispatch_item => DispatchItem,
    message => Message,
}

impl ActiveModelBehavior for ActiveModel {}
