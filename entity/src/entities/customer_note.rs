//! `customer_notes`: a free-text note written about a customer.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "customer_notes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub customer_id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub author: String,
    #[sea_orm(column_type = "Text")]
    pub body: String,
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
