//! `cohort_members`: the cohort of a customer, per currency, overall
//! (`product_id` null) and per product: the month (of the workspace's
//! calendar) of their first approved purchase. Kept by the worker.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "cohort_members")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub customer_id: Uuid,
    /// Null: the first purchase of any product.
    pub product_id: Option<Uuid>,
    #[sea_orm(column_type = "String(StringLen::N(3))")]
    pub currency: String,
    pub first_approved_at: DateTimeUtc,
    /// The first day of the month of `first_approved_at`, locally.
    pub cohort_month: Date,
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
