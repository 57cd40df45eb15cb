//! Tenancy: workspaces and their encrypted settings.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{TableIndex, TableShape, table_migration, table_with_id, tenant_table};

const INDEXES: &[TableIndex] = &[
    TableIndex::unique("uq_workspaces_slug", "workspaces", &["slug"]),
    TableIndex::unique(
        "uq_settings_workspace_key",
        "settings",
        &["workspace_id", "key"],
    ),
];

#[derive(DeriveMigrationName)]
pub struct Migration;

table_migration!(tables, INDEXES);

/// The tables, each after those it references.
fn tables() -> Vec<TableCreateStatement> {
    vec![
        table_with_id(Workspaces::Table)
            .col(string(Workspaces::Name))
            .col(string_len(Workspaces::Slug, 64))
            .col(string(Workspaces::TimeZone).default("America/Sao_Paulo"))
            .timestamps()
            .to_owned(),
        tenant_table(Settings::Table)
            .col(string_len(Settings::Key, 100))
            .col(text(Settings::ValueEncrypted))
            .col(text_null(Settings::Description))
            .col(boolean(Settings::Active).default(true))
            .timestamps()
            .to_owned(),
    ]
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Name,
    Slug,
    TimeZone,
}

#[derive(DeriveIden)]
enum Settings {
    Table,
    Key,
    ValueEncrypted,
    Description,
    Active,
}
