//! Background jobs: one-off work a person asks for through the API (a
//! Hotmart sync, cancelling a subscription, mirroring WhatsApp templates)
//! and follows until it is done. The worker takes them from the job queue;
//! this table holds what the user reads: kind, status, progress, result and
//! error.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{TableIndex, TableShape, table_migration, tenant_table};

const INDEXES: &[TableIndex] = &[
    // `backgroundJobs` pages a workspace's jobs newest first.
    TableIndex::new(
        "idx_background_jobs_workspace_id",
        "background_jobs",
        &["workspace_id", "id"],
    ),
    // The worker looks for jobs left queued or running too long.
    TableIndex::new(
        "idx_background_jobs_status_updated",
        "background_jobs",
        &["status", "updated_at"],
    ),
];

#[derive(DeriveMigrationName)]
pub struct Migration;

table_migration!(tables, INDEXES);

/// The tables, each after those it references.
fn tables() -> Vec<TableCreateStatement> {
    vec![
        tenant_table(BackgroundJobs::Table)
            .col(string_len(BackgroundJobs::Kind, 32))
            .col(string_len(BackgroundJobs::Status, 16))
            .col(json_binary(BackgroundJobs::Input))
            .col(json_binary_null(BackgroundJobs::Progress))
            .col(json_binary_null(BackgroundJobs::Result))
            .col(string_len_null(BackgroundJobs::ErrorCode, 32))
            .col(text_null(BackgroundJobs::ErrorMessage))
            .col(integer(BackgroundJobs::Attempts).default(0))
            .timestamps()
            .col(timestamp_with_time_zone_null(BackgroundJobs::StartedAt))
            .col(timestamp_with_time_zone_null(BackgroundJobs::FinishedAt))
            .to_owned(),
    ]
}

#[derive(DeriveIden)]
enum BackgroundJobs {
    Table,
    Kind,
    Status,
    Input,
    Progress,
    Result,
    ErrorCode,
    ErrorMessage,
    Attempts,
    StartedAt,
    FinishedAt,
}
