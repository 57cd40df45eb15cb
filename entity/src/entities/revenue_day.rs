//! `revenue_days`: one local day's sales and reversals of a workspace, per
//! product, currency, payment method and number of installments, added up
//! by the worker from the transactions.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "revenue_days")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    /// A day in the workspace's time zone.
    pub day: Date,
    pub product_id: Option<Uuid>,
    #[sea_orm(column_type = "String(StringLen::N(3))")]
    pub currency: String,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub payment_method: Option<String>,
    pub installments: Option<i32>,
    /// Sales approved that day.
    pub sales: i32,
    #[sea_orm(column_type = "Decimal(Some((16, 2)))")]
    pub gross: Decimal,
    /// Sales refunded that day (in full or in part).
    pub refunds_count: i32,
    #[sea_orm(column_type = "Decimal(Some((16, 2)))")]
    pub refunds: Decimal,
    /// Sales charged back that day.
    pub chargebacks_count: i32,
    #[sea_orm(column_type = "Decimal(Some((16, 2)))")]
    pub chargebacks: Decimal,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
}

related! {
    workspace => Workspace,
}

impl ActiveModelBehavior for ActiveModel {}
