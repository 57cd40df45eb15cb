//! Catalog: products with their offers, modules and lessons.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{TableIndex, TableShape, table_migration, tenant_table};

table_migration!(tables, INDEXES);

/// The tables, each after those it references.
fn tables() -> Vec<TableCreateStatement> {
    vec![
        tenant_table("products")
            .col(string_len_null("hotmart_product_id", 64))
            .col(string_len_null("ucode", 64))
            .col(string("name"))
            .col(text_null("description"))
            .col(text_null("cover_url"))
            .col(boolean("monitored").default(false))
            .timestamps()
            .to_owned(),
        tenant_table("offers")
            .col(uuid("product_id"))
            .col(string_len("hotmart_offer_code", 64))
            .col(string_null("name"))
            .col(decimal_len_null("price", 14, 2))
            .col(string_len("currency", 3).default("BRL"))
            .col(boolean("active").default(true))
            .timestamps()
            // An offer exists only as part of its product.
            .fk_cascade("product_id", "products")
            .to_owned(),
        tenant_table("modules")
            .col(uuid("product_id"))
            .col(string_len_null("hotmart_module_id", 64))
            .col(string("name"))
            .col(integer("position").default(0))
            .col(boolean("is_extra").default(false))
            .timestamps()
            // A module exists only as part of its product.
            .fk_cascade("product_id", "products")
            .to_owned(),
        tenant_table("lessons")
            .col(uuid("product_id"))
            .col(uuid_null("module_id"))
            .col(string_len("hotmart_page_id", 64))
            .col(string("page_name"))
            .col(string_null("module_name"))
            .col(boolean("is_extra").default(false))
            .col(integer("position").default(0))
            .col(integer_null("release_after_days"))
            .col(timestamp_with_time_zone_null("release_at"))
            .timestamps()
            // A lesson exists only as part of its product.
            .fk_cascade("product_id", "products")
            // The module is optional; a lesson survives its module.
            .fk_set_null("module_id", "modules")
            .to_owned(),
    ]
}

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
