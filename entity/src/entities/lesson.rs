//! `lessons`: a lesson (Hotmart page) of a product, optionally inside a module.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "lessons")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub product_id: Uuid,
    pub module_id: Option<Uuid>,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub hotmart_page_id: String,
    pub page_name: String,
    pub module_name: Option<String>,
    pub is_extra: bool,
    pub position: i32,
    pub release_after_days: Option<i32>,
    pub release_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    Product: belongs_to product by ProductId, on delete Cascade;
    Module: belongs_to module by ModuleId, on delete SetNull;
    LessonProgress: has_many lesson_progress;
}

related! {
    workspace => Workspace,
    product => Product,
    module => Module,
    lesson_progress => LessonProgress,
}

impl ActiveModelBehavior for ActiveModel {}
