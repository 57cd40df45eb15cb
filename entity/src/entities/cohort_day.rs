//! `cohort_days`: what one cohort's customers paid and kept on one local
//! day (sales approved less sales refunded or charged back that day), per
//! currency, overall (`product_id` null, by the customers' overall cohorts)
//! and per product (by their cohorts of that product). Added up by the
//! worker from the transactions.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "cohort_days")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub day: Date,
    /// Null: every product's sales.
    pub product_id: Option<Uuid>,
    #[sea_orm(column_type = "String(StringLen::N(3))")]
    pub currency: String,
    pub cohort_month: Date,
    #[sea_orm(column_type = "Decimal(Some((16, 2)))")]
    pub net: Decimal,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
}

related! {
    workspace => Workspace,
}

impl ActiveModelBehavior for ActiveModel {}
