//! Tenancy: workspaces and their encrypted settings.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{
    TableIndex, TableShape, create_indexes, drop_tables, table_with_id, tenant_table,
};

/// In the order they are created, parents first.
const TABLES: &[&str] = &["workspaces", "settings"];

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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table_with_id(Workspaces::Table)
                    .col(string(Workspaces::Name))
                    .col(string_len(Workspaces::Slug, 64))
                    .col(string(Workspaces::TimeZone).default("America/Sao_Paulo"))
                    .timestamps()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                tenant_table(Settings::Table)
                    .col(string_len(Settings::Key, 100))
                    .col(text(Settings::ValueEncrypted))
                    .col(text_null(Settings::Description))
                    .col(boolean(Settings::Active).default(true))
                    .timestamps()
                    .to_owned(),
            )
            .await?;
        create_indexes(manager, INDEXES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, TABLES).await
    }
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
