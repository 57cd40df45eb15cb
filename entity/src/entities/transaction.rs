//! `transactions`: a Hotmart purchase transaction, keyed by its transaction code.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "transactions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    /// Hotmart transaction code.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub code: String,
    pub customer_id: Uuid,
    pub product_id: Option<Uuid>,
    pub offer_id: Option<Uuid>,
    pub subscription_id: Option<Uuid>,
    /// Hotmart's value, kept as received.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub status: String,
    #[sea_orm(column_type = "Decimal(Some((14, 2)))")]
    pub amount: Decimal,
    #[sea_orm(column_type = "String(StringLen::N(3))")]
    pub currency: String,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub payment_method: Option<String>,
    pub installments: Option<i32>,
    pub purchased_at: Option<DateTimeUtc>,
    pub approved_at: Option<DateTimeUtc>,
    pub refunded_at: Option<DateTimeUtc>,
    pub warranty_ends_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text")]
    pub billet_url: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub pix_code: Option<String>,
    pub src: Option<String>,
    pub sck: Option<String>,
    pub xcod: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub commission_type: Option<String>,
    pub recurrence_number: Option<i32>,
    pub last_event_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    Customer: belongs_to customer by CustomerId, on delete Cascade;
    Product: belongs_to product by ProductId, on delete NoAction;
    Offer: belongs_to offer by OfferId, on delete SetNull;
    Subscription: belongs_to subscription by SubscriptionId, on delete SetNull;
    Enrollment: has_many enrollment;
}

related! {
    workspace => Workspace,
    customer => Customer,
    product => Product,
    offer => Offer,
    subscription => Subscription,
    enrollment => Enrollment,
}

impl ActiveModelBehavior for ActiveModel {}
