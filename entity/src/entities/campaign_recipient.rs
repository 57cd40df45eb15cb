//! `campaign_recipients`: a customer's walk through one campaign execution.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use super::enums::Channel;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "campaign_recipients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub campaign_id: Uuid,
    pub execution_id: Uuid,
    pub customer_id: Uuid,
    pub channel: Option<Channel>,
    /// Pending / sent / delivered / opened / clicked / failed; evolving.
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub status: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub current_node_id: Option<String>,
    pub wake_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "JsonBinary")]
    pub state: Json,
    pub sent_at: Option<DateTimeUtc>,
    pub delivered_at: Option<DateTimeUtc>,
    pub opened_at: Option<DateTimeUtc>,
    pub clicked_at: Option<DateTimeUtc>,
    pub converted_at: Option<DateTimeUtc>,
    /// The goal's purchase amount, once converted by a purchase.
    #[sea_orm(column_type = "Decimal(Some((14, 2)))")]
    pub revenue: Option<Decimal>,
    #[sea_orm(column_type = "Text")]
    pub error: Option<String>,
    /// What the event that started this entry was about: `event`,
    /// `transaction`, `productId`, `productName`, `offerCode`,
    /// `subscriberCode` (those it named); `None` for entries not started by an event.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub entry_key: Option<Json>,
    /// The key a per-key re-entry entered the customer under (e.g.
    /// `transaction:HP16015479281022`); empty for every other entry. One
    /// recipient per (execution, customer, reentry_key).
    #[sea_orm(column_type = "String(StringLen::N(160))")]
    pub reentry_key: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    Campaign: belongs_to campaign by CampaignId, on delete Cascade;
    CampaignExecution: belongs_to campaign_execution by ExecutionId, on delete Cascade;
    Customer: belongs_to customer by CustomerId, on delete Cascade;
    DispatchItem: has_many dispatch_item;
    Message: has_many message;
}

related! {
    workspace => Workspace,
    campaign => Campaign,
    campaign_execution => CampaignExecution,
    customer => Customer,
    dispatch_item => DispatchItem,
    message => Message,
}

impl ActiveModelBehavior for ActiveModel {}
