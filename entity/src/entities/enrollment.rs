//! `enrollments`: a customer's access to a product.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use super::enums::AccessStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "enrollments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub customer_id: Uuid,
    pub product_id: Uuid,
    pub transaction_id: Option<Uuid>,
    pub access_status: AccessStatus,
    pub starts_at: Option<DateTimeUtc>,
    pub ends_at: Option<DateTimeUtc>,
    pub renews_at: Option<DateTimeUtc>,
    pub first_access_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub first_access_origin: Option<String>,
    pub last_access_at: Option<DateTimeUtc>,
    pub last_lesson_completed_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Decimal(Some((5, 2)))")]
    pub progress_percent: Decimal,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    Customer: belongs_to customer by CustomerId, on delete Cascade;
    Product: belongs_to product by ProductId, on delete Cascade;
    Transaction: belongs_to transaction by TransactionId, on delete SetNull;
}

related! {
    workspace => Workspace,
    customer => Customer,
    product => Product,
    transaction => Transaction,
}

impl ActiveModelBehavior for ActiveModel {}
