//! `background_jobs`: one-off work a person asked for, as the user follows it.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use super::enums::{BackgroundJobKind, BackgroundJobStatus};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "background_jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub kind: BackgroundJobKind,
    pub status: BackgroundJobStatus,
    /// The job's arguments (`workflow::jobs::JobRequest` as JSON).
    #[sea_orm(column_type = "JsonBinary")]
    pub input: Json,
    /// How far a running job got (e.g. a sync's records read and applied).
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub progress: Option<Json>,
    /// What a succeeded job produced.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub result: Option<Json>,
    /// A failed job's stable code (`workflow::jobs::JobErrorCode`).
    #[sea_orm(column_type = "String(StringLen::N(32))", nullable)]
    pub error_code: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error_message: Option<String>,
    /// Times the worker started it.
    pub attempts: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    /// A queued job waiting out a provider's failure is not run before.
    pub run_after: Option<DateTimeUtc>,
}

relations! {
    Workspace: belongs_to workspace by WorkspaceId, on delete Cascade;
}

related! {
    workspace => Workspace,
}

impl ActiveModelBehavior for ActiveModel {}
