//! Domain events: what happened to a customer, in jornada's own vocabulary
//! (`purchase_approved`, `first_access`, ...), recorded where Hotmart events
//! are applied and delivered at least once to every consumer (campaign
//! triggers, automation rules, the timeline).

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema::{
    TableIndex, TableShape, create_indexes, create_tables, drop_indexes, drop_tables,
    table_with_id, tenant_table,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_tables(manager, tables(), INDEXES).await?;
        create_indexes(manager, &[WEBHOOK_EVENTS_BY_STATUS]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(manager, &[WEBHOOK_EVENTS_BY_STATUS]).await?;
        drop_tables(manager, tables()).await
    }
}

/// The tables, each after those it references.
fn tables() -> Vec<TableCreateStatement> {
    vec![
        tenant_table("domain_events")
            .col(uuid_null("customer_id"))
            .col(string_len("event_type", 64))
            .col(json_binary("data"))
            .col(timestamp_with_time_zone("occurred_at"))
            .col(timestamp_with_time_zone("recorded_at"))
            .col(uuid_null("source_event_id"))
            // Makes recording idempotent: the same cause never records twice.
            .col(string_len("dedupe_key", 255))
            .col(timestamp_with_time_zone_null("dispatched_at"))
            .col(integer("attempts").default(0))
            .col(timestamp_with_time_zone_null("next_attempt_at"))
            .col(text_null("last_error"))
            // Events outlive the customer row only as history; deleting a customer deletes theirs.
            .fk_cascade("customer_id", "customers")
            .fk_set_null("source_event_id", "webhook_events")
            .to_owned(),
        table_with_id("domain_event_deliveries")
            .col(uuid("domain_event_id"))
            .col(string_len("consumer", 64))
            .col(timestamp_with_time_zone("delivered_at"))
            .fk_cascade("domain_event_id", "domain_events")
            .to_owned(),
    ]
}

const INDEXES: &[TableIndex] = &[
    TableIndex::unique(
        "uq_domain_events_workspace_dedupe_key",
        "domain_events",
        &["workspace_id", "dedupe_key"],
    ),
    DOMAIN_EVENTS_PENDING,
    DOMAIN_EVENTS_BY_TYPE,
    TableIndex::new(
        "idx_domain_events_customer_occurred",
        "domain_events",
        &["customer_id", "occurred_at"],
    ),
    TableIndex::new(
        "idx_domain_events_source_event",
        "domain_events",
        &["source_event_id"],
    ),
    TableIndex::unique(
        "uq_domain_event_deliveries_event_consumer",
        "domain_event_deliveries",
        &["domain_event_id", "consumer"],
    ),
];

/// Events not dispatched yet, for the dispatcher.
pub const DOMAIN_EVENTS_PENDING: TableIndex = TableIndex::new(
    "idx_domain_events_pending",
    "domain_events",
    &["dispatched_at", "next_attempt_at"],
);

/// Events by type, for consumers that read them so.
pub const DOMAIN_EVENTS_BY_TYPE: TableIndex = TableIndex::new(
    "idx_domain_events_workspace_type_occurred",
    "domain_events",
    &["workspace_id", "event_type", "occurred_at"],
);

/// The webhook applier claims due events across workspaces.
pub const WEBHOOK_EVENTS_BY_STATUS: TableIndex = TableIndex::new(
    "idx_webhook_events_status_next_attempt",
    "webhook_events",
    &["status", "next_attempt_at"],
);
