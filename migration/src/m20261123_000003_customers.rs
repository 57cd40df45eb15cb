//! People: customers, their notes and their activity timeline.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{TableIndex, TableShape, table_migration, tenant_table};

table_migration!(tables, INDEXES);

/// The tables, each after those it references.
fn tables() -> Vec<TableCreateStatement> {
    vec![
        tenant_table("customers")
            .col(string_len_null("hotmart_ucode", 64))
            .col(string_len_null("chatwoot_contact_id", 64))
            .col(string_len("email", 254))
            .col(string_null("name"))
            .col(string_len_null("phone", 20))
            .col(string_len_null("document", 32))
            .col(string_len_null("document_type", 8))
            .col(json_binary("tags"))
            .col(string_len_null("segment", 32))
            .col(string_len_null("churn_risk", 16))
            .col(decimal_len("ltv_total", 14, 2).default(0))
            .col(timestamp_with_time_zone_null("first_activity_at"))
            .col(timestamp_with_time_zone_null("last_activity_at"))
            .col(json_binary("consent"))
            .col(json_binary("metadata"))
            .timestamps()
            .to_owned(),
        tenant_table("customer_notes")
            .col(uuid("customer_id"))
            .col(string_len("author", 128))
            .col(text("body"))
            .col(timestamp_with_time_zone("created_at"))
            // Notes belong to the customer.
            .fk_cascade("customer_id", "customers")
            .to_owned(),
        tenant_table("customer_activities")
            .col(uuid("customer_id"))
            .col(string_len("activity_type", 64))
            .col(text_null("description"))
            .col(json_binary("data"))
            .col(timestamp_with_time_zone("occurred_at"))
            .col(timestamp_with_time_zone("created_at"))
            // The timeline belongs to the customer.
            .fk_cascade("customer_id", "customers")
            .to_owned(),
    ]
}

const INDEXES: &[TableIndex] = &[
    TableIndex::unique(
        "uq_customers_workspace_email",
        "customers",
        &["workspace_id", "email"],
    ),
    TableIndex::new(
        "idx_customers_workspace_segment",
        "customers",
        &["workspace_id", "segment"],
    ),
    TableIndex::new(
        "idx_customers_workspace_phone",
        "customers",
        &["workspace_id", "phone"],
    ),
    TableIndex::new(
        "idx_customers_workspace_created_at",
        "customers",
        &["workspace_id", "created_at"],
    ),
    TableIndex::new(
        "idx_customer_notes_customer_created_at",
        "customer_notes",
        &["customer_id", "created_at"],
    ),
    TableIndex::new(
        "idx_customer_notes_workspace",
        "customer_notes",
        &["workspace_id"],
    ),
    TableIndex::new(
        "idx_customer_activities_customer_occurred_at",
        "customer_activities",
        &["customer_id", "occurred_at"],
    ),
    TableIndex::new(
        "idx_customer_activities_workspace",
        "customer_activities",
        &["workspace_id"],
    ),
];
