//! `subscriptions`: a Hotmart subscription (recurring plan) of a customer; source of MRR.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub customer_id: Uuid,
    pub product_id: Option<Uuid>,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub subscriber_code: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub hotmart_subscription_id: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub plan_id: Option<String>,
    pub plan_name: Option<String>,
    /// Hotmart's value, kept as received.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub status: String,
    pub started_at: Option<DateTimeUtc>,
    pub next_charge_at: Option<DateTimeUtc>,
    pub cancelled_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Decimal(Some((14, 2)))")]
    pub recurring_amount: Option<Decimal>,
    #[sea_orm(column_type = "String(StringLen::N(3))")]
    pub currency: Option<String>,
    pub recurrence_period_days: Option<i32>,
    pub last_event_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    Customer: belongs_to customer by CustomerId, on delete Cascade;
    Product: belongs_to product by ProductId, on delete NoAction;
    Transaction: has_many transaction;
}

related! {
    workspace => Workspace,
    customer => Customer,
    product => Product,
    transaction => Transaction,
}

impl ActiveModelBehavior for ActiveModel {}
