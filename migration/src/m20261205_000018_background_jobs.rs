//! Background jobs: one-off work a person asks for through the API (a
//! Hotmart sync, cancelling a subscription, mirroring WhatsApp templates)
//! and follows until it is done. The worker takes them from the job queue;
//! this table holds what the user reads: kind, status, progress, result and
//! error.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{TableIndex, TableShape, table_migration, tenant_table};

table_migration!(tables, INDEXES);

/// The tables, each after those it references.
fn tables() -> Vec<TableCreateStatement> {
    vec![
        tenant_table("background_jobs")
            .col(string_len("kind", 32))
            .col(string_len("status", 16))
            .col(json_binary("input"))
            .col(json_binary_null("progress"))
            .col(json_binary_null("result"))
            .col(string_len_null("error_code", 32))
            .col(text_null("error_message"))
            .col(integer("attempts").default(0))
            .timestamps()
            .col(timestamp_with_time_zone_null("started_at"))
            .col(timestamp_with_time_zone_null("finished_at"))
            .to_owned(),
    ]
}

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
