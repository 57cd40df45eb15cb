//! `webhook_events`: a raw inbound webhook event, stored before it is applied.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use super::enums::WebhookEventStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "webhook_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub source: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub external_id: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub event_type: String,
    /// Raw body exactly as received.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub status: WebhookEventStatus,
    pub attempts: i32,
    #[sea_orm(column_type = "Text")]
    pub last_error: Option<String>,
    pub received_at: DateTimeUtc,
    pub processed_at: Option<DateTimeUtc>,
    pub next_attempt_at: Option<DateTimeUtc>,
    /// [`crate::customers::customer_hash`] of the customer the event is
    /// about, when it names one by e-mail: appliers split the queue by it.
    pub customer_hash: Option<i32>,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
}

related! {
    workspace => Workspace,
}

impl ActiveModelBehavior for ActiveModel {}
