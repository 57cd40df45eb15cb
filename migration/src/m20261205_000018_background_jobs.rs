//! Background jobs: one-off work a person asks for through the API (a
//! Hotmart sync, cancelling a subscription, mirroring WhatsApp templates)
//! and follows until it is done. The worker takes them from the job queue;
//! this table holds what the user reads: kind, status, progress, result and
//! error.

use sea_orm_migration::{prelude::*, schema::*};

use crate::indexes::{PlainIndex, create_all, drop_all};
use crate::m20261123_000001_workspaces_settings::workspace_fk;

const INDEXES: &[PlainIndex] = &[
    // `backgroundJobs` pages a workspace's jobs newest first.
    PlainIndex {
        name: "idx_background_jobs_workspace_id",
        table: "background_jobs",
        columns: &["workspace_id", "id"],
    },
    // The worker looks for jobs left queued or running too long.
    PlainIndex {
        name: "idx_background_jobs_status_updated",
        table: "background_jobs",
        columns: &["status", "updated_at"],
    },
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BackgroundJobs::Table)
                    .col(pk_uuid(BackgroundJobs::Id))
                    .col(uuid(BackgroundJobs::WorkspaceId))
                    .col(string_len(BackgroundJobs::Kind, 32))
                    .col(string_len(BackgroundJobs::Status, 16))
                    .col(json_binary(BackgroundJobs::Input))
                    .col(json_binary_null(BackgroundJobs::Progress))
                    .col(json_binary_null(BackgroundJobs::Result))
                    .col(string_len_null(BackgroundJobs::ErrorCode, 32))
                    .col(text_null(BackgroundJobs::ErrorMessage))
                    .col(integer(BackgroundJobs::Attempts).default(0))
                    .col(timestamp_with_time_zone(BackgroundJobs::CreatedAt))
                    .col(timestamp_with_time_zone(BackgroundJobs::UpdatedAt))
                    .col(timestamp_with_time_zone_null(BackgroundJobs::StartedAt))
                    .col(timestamp_with_time_zone_null(BackgroundJobs::FinishedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_background_jobs_workspace_id",
                        BackgroundJobs::Table,
                        BackgroundJobs::WorkspaceId,
                    ))
                    .to_owned(),
            )
            .await?;
        create_all(manager, INDEXES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, INDEXES).await?;
        manager
            .drop_table(Table::drop().table(BackgroundJobs::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum BackgroundJobs {
    Table,
    Id,
    WorkspaceId,
    Kind,
    Status,
    Input,
    Progress,
    Result,
    ErrorCode,
    ErrorMessage,
    Attempts,
    CreatedAt,
    UpdatedAt,
    StartedAt,
    FinishedAt,
}
