//! Chatwoot: labels put on a conversation, taken off and put on again, each
//! a tag of its own; the conversation a customer talks in; labels jobs that
//! wait out a busy Chatwoot.
//!
//! A conversation could hold one `conversation_tags` row per label, ever:
//! a label taken off and put on again had nowhere to go, and the word cloud
//! lost it. Now only one *open* tag (not removed) per conversation and label
//! is unique, and the closed ones stay as history. The report reads a
//! workspace's tags by when they were put on. `customers` remembers the
//! Chatwoot conversation its labels are written to, and `background_jobs`
//! gets `run_after`: a job waiting for its next attempt after a provider
//! failure is not run before.

use sea_orm_migration::prelude::*;

use crate::schema::{TableIndex, add_column, create_indexes, drop_column, drop_indexes};

/// One row per conversation and label, as the tags started.
const ONE_ROW_PER_LABEL: &[TableIndex] = &[TableIndex::unique(
    "uq_conversation_tags_workspace_conversation_label",
    "conversation_tags",
    &["workspace_id", "chatwoot_conversation_id", "label"],
)];

/// What replaces [`ONE_ROW_PER_LABEL`], and the report's index.
const OPEN_TAGS: &[TableIndex] = &[
    TableIndex::unique(
        "uq_conversation_tags_open_label",
        "conversation_tags",
        &["workspace_id", "chatwoot_conversation_id", "label"],
    )
    .partial(|| Expr::col("removed_at").is_null()),
    TableIndex::new(
        "idx_conversation_tags_workspace_tagged_at",
        "conversation_tags",
        &["workspace_id", "tagged_at"],
    ),
];

/// Before the old unique index comes back, only the latest tag of each
/// conversation and label stays (the others are history it cannot hold).
const KEEP_LATEST_TAG: &str = "DELETE FROM conversation_tags WHERE EXISTS (
    SELECT 1 FROM conversation_tags AS later
    WHERE later.workspace_id = conversation_tags.workspace_id
      AND later.chatwoot_conversation_id = conversation_tags.chatwoot_conversation_id
      AND later.label = conversation_tags.label
      AND (later.tagged_at > conversation_tags.tagged_at
           OR (later.tagged_at = conversation_tags.tagged_at AND later.id > conversation_tags.id)))";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_indexes(manager, OPEN_TAGS).await?;
        drop_indexes(manager, ONE_ROW_PER_LABEL).await?;
        let conversation = ColumnDef::new("chatwoot_conversation_id")
            .string_len(64)
            .null()
            .to_owned();
        add_column(manager, "customers", conversation).await?;
        let run_after = ColumnDef::new("run_after")
            .timestamp_with_time_zone()
            .null()
            .to_owned();
        add_column(manager, "background_jobs", run_after).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, "background_jobs", "run_after").await?;
        drop_column(manager, "customers", "chatwoot_conversation_id").await?;
        manager
            .get_connection()
            .execute_unprepared(KEEP_LATEST_TAG)
            .await?;
        create_indexes(manager, ONE_ROW_PER_LABEL).await?;
        drop_indexes(manager, OPEN_TAGS).await
    }
}
