//! Catalog: products with their offers, modules and lessons.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_workspaces_settings::workspace_fk;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Products::Table)
                    .col(pk_uuid(Products::Id))
                    .col(uuid(Products::WorkspaceId))
                    .col(string_len_null(Products::HotmartProductId, 64))
                    .col(string_len_null(Products::Ucode, 64))
                    .col(string(Products::Name))
                    .col(text_null(Products::Description))
                    .col(text_null(Products::CoverUrl))
                    .col(boolean(Products::Monitored).default(false))
                    .col(timestamp_with_time_zone(Products::CreatedAt))
                    .col(timestamp_with_time_zone(Products::UpdatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_products_workspace_id",
                        Products::Table,
                        Products::WorkspaceId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_products_workspace_hotmart_product_id")
                    .table(Products::Table)
                    .col(Products::WorkspaceId)
                    .col(Products::HotmartProductId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Offers::Table)
                    .col(pk_uuid(Offers::Id))
                    .col(uuid(Offers::WorkspaceId))
                    .col(uuid(Offers::ProductId))
                    .col(string_len(Offers::HotmartOfferCode, 64))
                    .col(string_null(Offers::Name))
                    .col(decimal_len_null(Offers::Price, 14, 2))
                    .col(string_len(Offers::Currency, 3).default("BRL"))
                    .col(boolean(Offers::Active).default(true))
                    .col(timestamp_with_time_zone(Offers::CreatedAt))
                    .col(timestamp_with_time_zone(Offers::UpdatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_offers_workspace_id",
                        Offers::Table,
                        Offers::WorkspaceId,
                    ))
                    // ON DELETE CASCADE: an offer exists only as part of its product.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_offers_product_id")
                            .from(Offers::Table, Offers::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_offers_product_hotmart_offer_code")
                    .table(Offers::Table)
                    .col(Offers::ProductId)
                    .col(Offers::HotmartOfferCode)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_offers_workspace")
                    .table(Offers::Table)
                    .col(Offers::WorkspaceId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Modules::Table)
                    .col(pk_uuid(Modules::Id))
                    .col(uuid(Modules::WorkspaceId))
                    .col(uuid(Modules::ProductId))
                    .col(string_len_null(Modules::HotmartModuleId, 64))
                    .col(string(Modules::Name))
                    .col(integer(Modules::Position).default(0))
                    .col(boolean(Modules::IsExtra).default(false))
                    .col(timestamp_with_time_zone(Modules::CreatedAt))
                    .col(timestamp_with_time_zone(Modules::UpdatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_modules_workspace_id",
                        Modules::Table,
                        Modules::WorkspaceId,
                    ))
                    // ON DELETE CASCADE: a module exists only as part of its product.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_modules_product_id")
                            .from(Modules::Table, Modules::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_modules_product_hotmart_module_id")
                    .table(Modules::Table)
                    .col(Modules::ProductId)
                    .col(Modules::HotmartModuleId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_modules_workspace")
                    .table(Modules::Table)
                    .col(Modules::WorkspaceId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Lessons::Table)
                    .col(pk_uuid(Lessons::Id))
                    .col(uuid(Lessons::WorkspaceId))
                    .col(uuid(Lessons::ProductId))
                    .col(uuid_null(Lessons::ModuleId))
                    .col(string_len(Lessons::HotmartPageId, 64))
                    .col(string(Lessons::PageName))
                    .col(string_null(Lessons::ModuleName))
                    .col(boolean(Lessons::IsExtra).default(false))
                    .col(integer(Lessons::Position).default(0))
                    .col(integer_null(Lessons::ReleaseAfterDays))
                    .col(timestamp_with_time_zone_null(Lessons::ReleaseAt))
                    .col(timestamp_with_time_zone(Lessons::CreatedAt))
                    .col(timestamp_with_time_zone(Lessons::UpdatedAt))
                    .foreign_key(&mut workspace_fk(
                        "fk_lessons_workspace_id",
                        Lessons::Table,
                        Lessons::WorkspaceId,
                    ))
                    // ON DELETE CASCADE: a lesson exists only as part of its product.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_lessons_product_id")
                            .from(Lessons::Table, Lessons::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // ON DELETE SET NULL: the module is optional; a lesson survives its module.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_lessons_module_id")
                            .from(Lessons::Table, Lessons::ModuleId)
                            .to(Modules::Table, Modules::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_lessons_product_hotmart_page_id")
                    .table(Lessons::Table)
                    .col(Lessons::ProductId)
                    .col(Lessons::HotmartPageId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_lessons_workspace")
                    .table(Lessons::Table)
                    .col(Lessons::WorkspaceId)
                    .to_owned(),
            )
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents; indexes go with their tables.
        manager
            .drop_table(Table::drop().table(Lessons::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Modules::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Offers::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Products::Table).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
pub enum Products {
    Table,
    Id,
    WorkspaceId,
    HotmartProductId,
    Ucode,
    Name,
    Description,
    CoverUrl,
    Monitored,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum Offers {
    Table,
    Id,
    WorkspaceId,
    ProductId,
    HotmartOfferCode,
    Name,
    Price,
    Currency,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum Modules {
    Table,
    Id,
    WorkspaceId,
    ProductId,
    HotmartModuleId,
    Name,
    Position,
    IsExtra,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum Lessons {
    Table,
    Id,
    WorkspaceId,
    ProductId,
    ModuleId,
    HotmartPageId,
    PageName,
    ModuleName,
    IsExtra,
    Position,
    ReleaseAfterDays,
    ReleaseAt,
    CreatedAt,
    UpdatedAt,
}
