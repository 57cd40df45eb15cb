//! On PostgreSQL, rows jornada writes by the thousand (a launch day's
//! enrolments and timeline, a scan's queue items, every message) no longer
//! check references that another one already keeps or that never change:
//! - `workspace_id` of the rows owned by a customer (`customer_id` not
//!   null, ON DELETE CASCADE): the customer is in that workspace and goes
//!   with it, and takes the row along. Every such insert took a share lock
//!   on the one workspace row, which all writers of a workspace contend for.
//! - `template_id` of queue items and messages: a mirrored template is
//!   never deleted but with its workspace, which takes the items and
//!   messages along through their customers.
//! - `rule_id` of queue items: deleting a rule unlinks its items itself
//!   (`entity::automation::delete`), in the same transaction.
//!
//! Each foreign key costs PostgreSQL a lookup and a row lock per inserted
//! row, on the rows a launch or a scan writes by the hundred thousand.
//! SQLite checks a foreign key with a probe of the parent's primary key and
//! no lock, and cannot drop one without rebuilding the table: its foreign
//! keys stay, to the same effect.

use sea_orm_migration::prelude::*;

use crate::schema::{
    Reference, TableIndex, create_foreign_keys, create_indexes, drop_foreign_keys, drop_indexes,
};

/// Tables whose rows go with their customer. Subscriptions and transactions
/// keep theirs: they hold the products, which refuse to go while a sale
/// points at them, so a workspace deleted must take them at once, beside
/// its products, not a step later through the customers.
const OWNED_BY_CUSTOMER: &[&str] = &[
    "campaign_recipients",
    "customer_activities",
    "customer_notes",
    "dispatch_queue",
    "enrollments",
    "lesson_progress",
    "messages",
];

/// (table, column, parent, action) of the other references dropped.
const UNCHECKED: &[Reference] = &[
    (
        "dispatch_queue",
        "template_id",
        "message_templates",
        ForeignKeyAction::SetNull,
    ),
    (
        "dispatch_queue",
        "rule_id",
        "automation_rules",
        ForeignKeyAction::SetNull,
    ),
    (
        "messages",
        "template_id",
        "message_templates",
        ForeignKeyAction::SetNull,
    ),
];

/// The indexes that served only a template's ON DELETE SET NULL.
const TEMPLATE_INDEXES: &[TableIndex] = &[
    TableIndex::new(
        "idx_dispatch_queue_template",
        "dispatch_queue",
        &["template_id"],
    ),
    TableIndex::new("idx_messages_template", "messages", &["template_id"]),
];

fn references() -> Vec<Reference> {
    OWNED_BY_CUSTOMER
        .iter()
        .map(|table| {
            (
                *table,
                "workspace_id",
                "workspaces",
                ForeignKeyAction::Cascade,
            )
        })
        .chain(UNCHECKED.iter().copied())
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
        drop_foreign_keys(manager, &references()).await?;
        drop_indexes(manager, TEMPLATE_INDEXES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DbBackend::Postgres {
            return Ok(());
        }
        create_indexes(manager, TEMPLATE_INDEXES).await?;
        create_foreign_keys(manager, &references()).await
    }
}
