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

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    Product: belongs_to product by ProductId, on delete Cascade;
    Lesson: has_many lesson;
}

related! {
    workspace => Workspace,
    product => Product,
    lesson => Lesson,
}

impl ActiveModelBehavior for ActiveModel {}
