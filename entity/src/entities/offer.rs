//! `offers`: a priced offer (Hotmart offer code) of a product.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "offers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub product_id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub hotmart_offer_code: String,
    pub name: Option<String>,
    #[sea_orm(column_type = "Decimal(Some((14, 2)))")]
    pub price: Option<Decimal>,
    #[sea_orm(column_type = "String(StringLen::N(3))")]
    pub currency: String,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    Product: belongs_to product by ProductId, on delete Cascade;
    Transaction: has_many transaction;
}

related! {
    workspace => Workspace,
    product => Product,
    transaction => Transaction,
}

impl ActiveModelBehavior for ActiveModel {}
