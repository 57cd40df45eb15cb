//! `lesson_progress`: whether a customer completed a lesson.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "lesson_progress")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub customer_id: Uuid,
    pub lesson_id: Uuid,
    pub completed: bool,
    pub completed_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
    Customer: belongs_to customer by CustomerId, on delete Cascade;
    Lesson: belongs_to lesson by LessonId, on delete Cascade;
}

related! {
    workspace => Workspace,
    customer => Customer,
    lesson => Lesson,
}

impl ActiveModelBehavior for ActiveModel {}
