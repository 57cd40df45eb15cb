//! `modules`: a module (track) grouping lessons of a product.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "modules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub product_id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub hotmart_module_id: Option<String>,
    pub name: String,
    pub position: i32,
    pub is_extra: bool,
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
        belongs_to = "super::product::Entity",
        from = "Column::ProductId",
        to = "super::product::Column::Id",
        on_delete = "Cascade"
    )]
    Product,
    #[sea_orm(has_many = "super::lesson::Entity")]
    Lesson,
}

related! {
    workspace => Workspace,
    product => Product,
    lesson => Lesson,
}

impl ActiveModelBehavior for ActiveModel {}
