//! `dispatch_queue`: a dispatch waiting for (or past) a human decision.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use super::enums::{Channel, DispatchStatus};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "dispatch_queue")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub rule_id: Option<Uuid>,
    pub customer_id: Uuid,
    pub template_id: Option<Uuid>,
    pub campaign_recipient_id: Option<Uuid>,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub node_id: Option<String>,
    pub channel: Channel,
    #[sea_orm(column_type = "JsonBinary")]
    pub variables: Json,
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub context: Json,
    pub status: DispatchStatus,
    pub suggested_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub decided_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub decided_by: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub rejection_reason: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub edited_content: Option<Json>,
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
        belongs_to = "super::automation_rule::Entity",
        from = "Column::RuleId",
        to = "super::automation_rule::Column::Id",
        on_delete = "SetNull"
    )]
    AutomationRule,
    #[sea_orm(
        belongs_to = "super::customer::Entity",
        from = "Column::CustomerId",
        to = "super::customer::Column::Id",
        on_delete = "Cascade"
    )]
    Customer,
    #[sea_orm(
        belongs_to = "super::message_template::Entity",
        from = "Column::TemplateId",
        to = "super::message_template::Column::Id",
        on_delete = "SetNull"
    )]
    MessageTemplate,
    #[sea_orm(
        belongs_to = "super::campaign_recipient::Entity",
        from = "Column::CampaignRecipientId",
        to = "super::campaign_recipient::Column::Id",
        on_delete = "Cascade"
    )]
    CampaignRecipient,
    #[sea_orm(has_many = "super::message::Entity")]
    Message,
}

related! {
    workspace => Workspace,
    automation_rule => AutomationRule,
    customer => Customer,
    message_template => MessageTemplate,
    campaign_recipient => CampaignRecipient,
    message => Message,
}

impl ActiveModelBehavior for ActiveModel {}
