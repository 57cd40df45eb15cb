//! Catalog: products with their offers, modules and lessons.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{TableIndex, TableShape, table_migration, tenant_table};

const INDEXES: &[TableIndex] = &[
    TableIndex::unique(
        "uq_products_workspace_hotmart_product_id",
        "products",
        &["workspace_id", "hotmart_product_id"],
    ),
    TableIndex::unique(
        "uq_offers_product_hotmart_offer_code",
        "offers",
        &["product_id", "hotmart_offer_code"],
    ),
    TableIndex::new("idx_offers_workspace", "offers", &["workspace_id"]),
    TableIndex::unique(
        "uq_modules_product_hotmart_module_id",
        "modules",
        &["product_id", "hotmart_module_id"],
    ),
    TableIndex::new("idx_modules_workspace", "modules", &["workspace_id"]),
    TableIndex::unique(
        "uq_lessons_product_hotmart_page_id",
        "lessons",
        &["product_id", "hotmart_page_id"],
    ),
    TableIndex::new("idx_lessons_workspace", "lessons", &["workspace_id"]),
];

#[derive(DeriveMigrationName)]
pub struct Migration;

table_migration!(tables, INDEXES);

/// The tables, each after those it references.
fn tables() -> Vec<TableCreateStatement> {
    vec![
        tenant_table(Products::Table)
            .col(string_len_null(Products::HotmartProductId, 64))
            .col(string_len_null(Products::Ucode, 64))
            .col(string(Products::Name))
            .col(text_null(Products::Description))
            .col(text_null(Products::CoverUrl))
            .col(boolean(Products::Monitored).default(false))
            .timestamps()
            .to_owned(),
        tenant_table(Offers::Table)
            .col(uuid(Offers::ProductId))
            .col(string_len(Offers::HotmartOfferCode, 64))
            .col(string_null(Offers::Name))
            .col(decimal_len_null(Offers::Price, 14, 2))
            .col(string_len(Offers::Currency, 3).default("BRL"))
            .col(boolean(Offers::Active).default(true))
            .timestamps()
            // An offer exists only as part of its product.
            .fk_cascade(Offers::ProductId, Products::Table)
            .to_owned(),
        tenant_table(Modules::Table)
            .col(uuid(Modules::ProductId))
            .col(string_len_null(Modules::HotmartModuleId, 64))
            .col(string(Modules::Name))
            .col(integer(Modules::Position).default(0))
            .col(boolean(Modules::IsExtra).default(false))
            .timestamps()
            // A module exists only as part of its product.
            .fk_cascade(Modules::ProductId, Products::Table)
            .to_owned(),
        tenant_table(Lessons::Table)
            .col(uuid(Lessons::ProductId))
            .col(uuid_null(Lessons::ModuleId))
            .col(string_len(Lessons::HotmartPageId, 64))
            .col(string(Lessons::PageName))
            .col(string_null(Lessons::ModuleName))
            .col(boolean(Lessons::IsExtra).default(false))
            .col(integer(Lessons::Position).default(0))
            .col(integer_null(Lessons::ReleaseAfterDays))
            .col(timestamp_with_time_zone_null(Lessons::ReleaseAt))
            .timestamps()
            // A lesson exists only as part of its product.
            .fk_cascade(Lessons::ProductId, Products::Table)
            // The module is optional; a lesson survives its module.
            .fk_set_null(Lessons::ModuleId, Modules::Table)
            .to_owned(),
    ]
}

#[derive(DeriveIden)]
pub enum Products {
    Table,
    HotmartProductId,
    Ucode,
    Name,
    Description,
    CoverUrl,
    Monitored,
}

#[derive(DeriveIden)]
pub enum Offers {
    Table,
    ProductId,
    HotmartOfferCode,
    Name,
    Price,
    Currency,
    Active,
}

#[derive(DeriveIden)]
enum Modules {
    Table,
    ProductId,
    HotmartModuleId,
    Name,
    Position,
    IsExtra,
}

#[derive(DeriveIden)]
pub enum Lessons {
    Table,
    ProductId,
    ModuleId,
    HotmartPageId,
    PageName,
    ModuleName,
    IsExtra,
    Position,
    ReleaseAfterDays,
    ReleaseAt,
}
