//! A scan pages through a workspace's active enrolments in id order
//! (`workspace_id = ? AND access_status = ? AND id > ? ORDER BY id LIMIT n`).
//! With the index on (workspace_id, access_status) alone, SQLite read every
//! active enrolment of the workspace and sorted them for each page; with the
//! id appended each page reads its own rows.

use sea_orm_migration::prelude::*;

use crate::schema::{TableIndex, replaces_indexes};

const BEFORE: &[TableIndex] = &[TableIndex::new(
    "idx_enrollments_workspace_access_status",
    "enrollments",
    &["workspace_id", "access_status"],
)];

const AFTER: &[TableIndex] = &[TableIndex::new(
    "idx_enrollments_workspace_access_status_id",
    "enrollments",
    &["workspace_id", "access_status", "id"],
)];

#[derive(DeriveMigrationName)]
pub struct Migration;

replaces_indexes!(Migration, BEFORE, AFTER);
