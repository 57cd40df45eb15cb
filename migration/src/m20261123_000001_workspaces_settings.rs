//! Tenancy: workspaces and their encrypted settings.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Workspaces::Table)
                    .col(pk_uuid(Workspaces::Id))
                    .col(string(Workspaces::Name))
                    .col(string_len(Workspaces::Slug, 64))
                    .col(string(Workspaces::TimeZone).default("America/Sao_Paulo"))
                    .col(timestamp_with_time_zone(Workspaces::CreatedAt))
                    .col(timestamp_with_time_zone(Workspaces::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_workspaces_slug")
                    .table(Workspaces::Table)
                    .col(Workspaces::Slug)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Settings::Table)
                    .col(pk_uuid(Settings::Id))
                    .col(uuid(Settings::WorkspaceId))
                    .col(string_len(Settings::Key, 100))
                    .col(text(Settings::ValueEncrypted))
                    .col(text_null(Settings::Description))
                    .col(boolean(Settings::Active).default(true))
                    .col(timestamp_with_time_zone(Settings::CreatedAt))
                    .col(timestamp_with_time_zone(Settings::UpdatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_settings_workspace_id",
                        Settings::Table,
                        Settings::WorkspaceId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_settings_workspace_key")
                    .table(Settings::Table)
                    .col(Settings::WorkspaceId)
                    .col(Settings::Key)
                    .unique()
                    .to_owned(),
            )
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents; indexes go with their tables.
        manager
            .drop_table(Table::drop().table(Settings::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Workspaces::Table).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
pub enum Workspaces {
    Table,
    Id,
    Name,
    Slug,
    TimeZone,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum Settings {
    Table,
    Id,
    WorkspaceId,
    Key,
    ValueEncrypted,
    Description,
    Active,
    CreatedAt,
    UpdatedAt,
}

/// The `workspace_id` foreign key every tenant table carries.
///
/// ON DELETE CASCADE: tenant data goes with its workspace.
pub(crate) fn workspace_fk<T, C>(name: &str, table: T, column: C) -> ForeignKeyCreateStatement
where
    T: IntoTableRef,
    C: IntoIden,
{
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(Workspaces::Table, Workspaces::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}
