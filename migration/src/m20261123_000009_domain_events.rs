//! Domain events: what happened to a customer, in jornada's own vocabulary
//! (`purchase_approved`, `first_access`, ...), recorded where Hotmart events
//! are applied and delivered at least once to every consumer (campaign
//! triggers, automation rules, the timeline).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000003_customers::Customers;
use crate::m20261123_000006_events_messaging::WebhookEvents;
use crate::schema::{
    TableIndex, TableShape, create_indexes, create_tables, drop_indexes, drop_tables,
    table_with_id, tenant_table,
};

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
        tenant_table(DomainEvents::Table)
            .col(uuid_null(DomainEvents::CustomerId))
            .col(string_len(DomainEvents::EventType, 64))
            .col(json_binary(DomainEvents::Data))
            .col(timestamp_with_time_zone(DomainEvents::OccurredAt))
            .col(timestamp_with_time_zone(DomainEvents::RecordedAt))
            .col(uuid_null(DomainEvents::SourceEventId))
            // Makes recording idempotent: the same cause never records twice.
            .col(string_len(DomainEvents::DedupeKey, 255))
            .col(timestamp_with_time_zone_null(DomainEvents::DispatchedAt))
            .col(integer(DomainEvents::Attempts).default(0))
            .col(timestamp_with_time_zone_null(DomainEvents::NextAttemptAt))
            .col(text_null(DomainEvents::LastError))
            // Events outlive the customer row only as history; deleting a customer deletes theirs.
            .fk_cascade(DomainEvents::CustomerId, Customers::Table)
            .fk_set_null(DomainEvents::SourceEventId, WebhookEvents::Table)
            .to_owned(),
        table_with_id(DomainEventDeliveries::Table)
            .col(uuid(DomainEventDeliveries::DomainEventId))
            .col(string_len(DomainEventDeliveries::Consumer, 64))
            .col(timestamp_with_time_zone(DomainEventDeliveries::DeliveredAt))
            .fk_cascade(DomainEventDeliveries::DomainEventId, DomainEvents::Table)
            .to_owned(),
    ]
}

#[derive(DeriveIden)]
enum DomainEvents {
    Table,
    CustomerId,
    EventType,
    Data,
    OccurredAt,
    RecordedAt,
    SourceEventId,
    DedupeKey,
    DispatchedAt,
    Attempts,
    NextAttemptAt,
    LastError,
}

#[derive(DeriveIden)]
enum DomainEventDeliveries {
    Table,
    DomainEventId,
    Consumer,
    DeliveredAt,
}
