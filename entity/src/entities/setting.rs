//! `settings`: per-workspace configuration; values are encrypted by the application.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub key: String,
    #[sea_orm(column_type = "Text")]
    pub value_encrypted: String,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
}

related! {
    workspace => Workspace,
}

impl ActiveModelBehavior for ActiveModel {}
