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

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    Customer: belongs_to customer by CustomerId, on delete Cascade;
    MessageTemplate: belongs_to message_template by TemplateId, on delete SetNull;
    CampaignRecipient: belongs_to campaign_recipient by CampaignRecipientId, on delete SetNull;
    DispatchItem: belongs_to dispatch_item by DispatchItemId, on delete SetNull;
    TrackedLink: has_many tracked_link;
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
