//! `customer_activities`: one entry of a customer's timeline.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "customer_activities")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub customer_id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub activity_type: String,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub data: Json,
    pub occurred_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
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
