//! `messages`: the outbox: one message to one customer on one channel.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use super::enums::{Channel, MessageStatus};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub customer_id: Uuid,
    pub channel: Channel,
    pub template_id: Option<Uuid>,
    #[sea_orm(column_type = "JsonBinary")]
    pub content: Json,
    #[sea_orm(column_type = "String(StringLen::N(255))", unique)]
    pub idempotency_key: String,
    pub status: MessageStatus,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub provider_message_id: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub error: Option<String>,
    pub campaign_recipient_id: Option<Uuid>,
    pub dispatch_item_id: Option<Uuid>,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub node_id: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    pub sent_at: Option<DateTimeUtc>,
    pub delivered_at: Option<DateTimeUtc>,
    pub read_at: Option<DateTimeUtc>,
    pub failed_at: Option<DateTimeUtc>,
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
        on_delete = "SetNull"
    )]
    CampaignRecipient,
    #[sea_orm(
        belongs_to = "super::dispatch_item::Entity",
        from = "Column::DispatchItemId",
        to = "super::dispatch_item::Column::Id",
        on_delete = "SetNull"
    )]
    DispatchItem,
    #[sea_orm(has_many = "super::tracked_link::Entity")]
    TrackedLink,
}

related! {
    workspace => Workspace,
    customer => Customer,
    message_template => MessageTemplate,
    campaign_recipient => CampaignRecipient,
    dispatch_item => DispatchItem,
    tracked_link => TrackedLink,
}

impl ActiveModelBehavior for ActiveModel {}
