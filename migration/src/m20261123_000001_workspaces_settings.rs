//! Tenancy: workspaces and their encrypted settings.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{TableIndex, TableShape, table_migration, table_with_id, tenant_table};

table_migration!(tables, INDEXES);

/// The tables, each after those it references.
fn tables() -> Vec<TableCreateStatement> {
    vec![
        table_with_id("workspaces")
            .col(string("name"))
            .col(string_len("slug", 64))
            .col(string("time_zone").default("America/Sao_Paulo"))
            .timestamps()
            .to_owned(),
        tenant_table("settings")
            .col(string_len("key", 100))
            .col(text("value_encrypted"))
            .col(text_null("description"))
            .col(boolean("active").default(true))
            .timestamps()
            .to_owned(),
    ]
}

const INDEXES: &[TableIndex] = &[
    TableIndex::unique("uq_workspaces_slug", "workspaces", &["slug"]),
    TableIndex::unique(
        "uq_settings_workspace_key",
        "settings",
        &["workspace_id", "key"],
    ),
];
