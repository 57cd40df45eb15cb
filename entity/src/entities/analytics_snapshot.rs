//! `analytics_snapshots`: business metrics of one period, for the whole workspace (no product) or one product.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "analytics_snapshots")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub product_id: Option<Uuid>,
    /// `day` or `month`.
    #[sea_orm(column_type = "String(StringLen::N(8))")]
    pub granularity: String,
    pub period_start: DateTimeUtc,
    pub period_end: DateTimeUtc,
    #[sea_orm(column_type = "Decimal(Some((14, 2)))")]
    pub mrr: Decimal,
    #[sea_orm(column_type = "Decimal(Some((14, 2)))")]
    pub arr: Decimal,
    pub active_subscriptions: i32,
    pub churned_subscriptions: i32,
    #[sea_orm(column_type = "Decimal(Some((9, 4)))")]
    pub churn_rate: Decimal,
    #[sea_orm(column_type = "Decimal(Some((14, 2)))")]
    pub revenue: Decimal,
    #[sea_orm(column_type = "Decimal(Some((14, 2)))")]
    pub refunds: Decimal,
    pub new_customers: i32,
    pub created_at: DateTimeUtc,
    /// The currency of every amount.
    #[sea_orm(column_type = "String(StringLen::N(3))")]
    pub currency: String,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    Product: belongs_to product by ProductId, on delete Cascade;
}

related! {
    workspace => Workspace,
    product => Product,
}

impl ActiveModelBehavior for ActiveModel {}
