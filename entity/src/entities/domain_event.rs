//! `domain_events`: something that happened to a customer, in jornada's
//! vocabulary, waiting to be delivered to every consumer.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "domain_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub customer_id: Option<Uuid>,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub event_type: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub data: Json,
    pub occurred_at: DateTimeUtc,
    pub recorded_at: DateTimeUtc,
    pub source_event_id: Option<Uuid>,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub dedupe_key: String,
    pub dispatched_at: Option<DateTimeUtc>,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    Customer: belongs_to customer by CustomerId, on delete Cascade;
}

related! {
    workspace => Workspace,
    customer => Customer,
}

impl ActiveModelBehavior for ActiveModel {}
