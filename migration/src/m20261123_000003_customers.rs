//! People: customers, their notes and their activity timeline.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{TableIndex, TableShape, table_migration, tenant_table};

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

#[derive(DeriveMigrationName)]
pub struct Migration;

table_migration!(tables, INDEXES);

/// The tables, each after those it references.
fn tables() -> Vec<TableCreateStatement> {
    vec![
        tenant_table(Customers::Table)
            .col(string_len_null(Customers::HotmartUcode, 64))
            .col(string_len_null(Customers::ChatwootContactId, 64))
            .col(string_len(Customers::Email, 254))
            .col(string_null(Customers::Name))
            .col(string_len_null(Customers::Phone, 20))
            .col(string_len_null(Customers::Document, 32))
            .col(string_len_null(Customers::DocumentType, 8))
            .col(json_binary(Customers::Tags))
            .col(string_len_null(Customers::Segment, 32))
            .col(string_len_null(Customers::ChurnRisk, 16))
            .col(decimal_len(Customers::LtvTotal, 14, 2).default(0))
            .col(timestamp_with_time_zone_null(Customers::FirstActivityAt))
            .col(timestamp_with_time_zone_null(Customers::LastActivityAt))
            .col(json_binary(Customers::Consent))
            .col(json_binary(Customers::Metadata))
            .timestamps()
            .to_owned(),
        tenant_table(CustomerNotes::Table)
            .col(uuid(CustomerNotes::CustomerId))
            .col(string_len(CustomerNotes::Author, 128))
            .col(text(CustomerNotes::Body))
            .col(timestamp_with_time_zone(CustomerNotes::CreatedAt))
            // Notes belong to the customer.
            .fk_cascade(CustomerNotes::CustomerId, Customers::Table)
            .to_owned(),
        tenant_table(CustomerActivities::Table)
            .col(uuid(CustomerActivities::CustomerId))
            .col(string_len(CustomerActivities::ActivityType, 64))
            .col(text_null(CustomerActivities::Description))
            .col(json_binary(CustomerActivities::Data))
            .col(timestamp_with_time_zone(CustomerActivities::OccurredAt))
            .col(timestamp_with_time_zone(CustomerActivities::CreatedAt))
            // The timeline belongs to the customer.
            .fk_cascade(CustomerActivities::CustomerId, Customers::Table)
            .to_owned(),
    ]
}

#[derive(DeriveIden)]
pub enum Customers {
    Table,
    HotmartUcode,
    ChatwootContactId,
    Email,
    Name,
    Phone,
    Document,
    DocumentType,
    Tags,
    Segment,
    ChurnRisk,
    LtvTotal,
    FirstActivityAt,
    LastActivityAt,
    Consent,
    Metadata,
}

#[derive(DeriveIden)]
enum CustomerNotes {
    Table,
    CustomerId,
    Author,
    Body,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CustomerActivities {
    Table,
    CustomerId,
    ActivityType,
    Description,
    Data,
    OccurredAt,
    CreatedAt,
}
