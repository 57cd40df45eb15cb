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
    #[sea_orm(column_type = "Decimal(Some((5, 2)))")]
    pub progress_percent: Decimal,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::workspace::Entity",
        from = "Column::WorkspaceId",
        to = "super::workspace::Column::Id",
        on_delete = "Cascade"
    )]
    Workspace,
    #[sea_orm(
        belongs_to = "super::customer::Entity",
        from = "Column::CustomerId",
        to = "super::customer::Column::Id",
        on_delete = "Cascade"
    )]
    Customer,
    #[sea_orm(
        belongs_to = "super::product::Entity",
        from = "Column::ProductId",
        to = "super::product::Column::Id",
        on_delete = "Cascade"
    )]
    Product,
    #[sea_orm(
        belongs_to = "super::transaction::Entity",
        from = "Column::TransactionId",
        to = "super::transaction::Column::Id",
        on_delete = "SetNull"
    )]
    Transaction,
}

related! {
    workspace => Workspace,
    customer => Customer,
    product => Product,
    transaction => Transaction,
}

impl ActiveModelBehavior for ActiveModel {}
