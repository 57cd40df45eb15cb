//! On PostgreSQL, the rows every Hotmart postback writes no longer check
//! that their workspace exists: customers, transactions, stored webhooks,
//! domain events and tracked links. A postback wrote five of them, and
//! each check took a share lock on the one workspace row that every writer
//! of the workspace locks too, so that concurrent writers wrapped their
//! locks in a new multixact at every row. The workspace a row names is the
//! one its writer was let into, and a workspace deleted takes these rows
//! itself: `entity::workspaces::delete` deletes them in its transaction,
//! customers first (and with them what they own), then the workspace.
//!
//! SQLite checks a foreign key without a lock and cannot drop one without
//! rebuilding the table: its foreign keys stay, to the same effect.

use sea_orm_migration::prelude::*;

use crate::schema::{Reference, create_foreign_keys, drop_foreign_keys};

/// Tables whose `workspace_id` is no longer checked; each cascaded.
const KEPT_BY_DELETION: &[&str] = &[
    "customers",
    "transactions",
    "webhook_events",
    "domain_events",
    "tracked_links",
];

fn references() -> Vec<Reference> {
    KEPT_BY_DELETION
        .iter()
        .map(|table| {
            (
                *table,
                "workspace_id",
                "workspaces",
                ForeignKeyAction::Cascade,
            )
        })
        .collect()
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DbBackend::Postgres {
            return Ok(());
        }
        drop_foreign_keys(manager, &references()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DbBackend::Postgres {
            return Ok(());
        }
        create_foreign_keys(manager, &references()).await
    }
}
