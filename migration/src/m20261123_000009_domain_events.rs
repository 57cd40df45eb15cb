//! Domain events: what happened to a customer, in jornada's own vocabulary
//! (`purchase_approved`, `first_access`, ...), recorded where Hotmart events
//! are applied and delivered at least once to every consumer (campaign
//! triggers, automation rules, the timeline).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_workspaces_settings::workspace_fk;
use crate::m20261123_000003_customers::Customers;
use crate::m20261123_000006_events_messaging::WebhookEvents;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DomainEvents::Table)
                    .col(pk_uuid(DomainEvents::Id))
                    .col(uuid(DomainEvents::WorkspaceId))
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
                    .foreign_key(&mut workspace_fk(
                        "fk_domain_events_workspace_id",
                        DomainEvents::Table,
                        DomainEvents::WorkspaceId,
                    ))
                    // Events outlive the customer row only as history; deleting a customer deletes theirs.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_domain_events_customer_id")
                            .from(DomainEvents::Table, DomainEvents::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_domain_events_source_event_id")
                            .from(DomainEvents::Table, DomainEvents::SourceEventId)
                            .to(WebhookEvents::Table, WebhookEvents::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns, unique) in [
            (
                "uq_domain_events_workspace_dedupe_key",
                vec![DomainEvents::WorkspaceId, DomainEvents::DedupeKey],
                true,
            ),
            (
                "idx_domain_events_pending",
                vec![DomainEvents::DispatchedAt, DomainEvents::NextAttemptAt],
                false,
            ),
            (
                "idx_domain_events_workspace_type_occurred",
                vec![
                    DomainEvents::WorkspaceId,
                    DomainEvents::EventType,
                    DomainEvents::OccurredAt,
                ],
                false,
            ),
            (
                "idx_domain_events_customer_occurred",
                vec![DomainEvents::CustomerId, DomainEvents::OccurredAt],
                false,
            ),
            (
                "idx_domain_events_source_event",
                vec![DomainEvents::SourceEventId],
                false,
            ),
        ] {
            let mut index = Index::create()
                .name(name)
                .table(DomainEvents::Table)
                .to_owned();
            for column in columns {
                index.col(column);
            }
            if unique {
                index.unique();
            }
            manager.create_index(index).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(DomainEventDeliveries::Table)
                    .col(pk_uuid(DomainEventDeliveries::Id))
                    .col(uuid(DomainEventDeliveries::DomainEventId))
                    .col(string_len(DomainEventDeliveries::Consumer, 64))
                    .col(timestamp_with_time_zone(DomainEventDeliveries::DeliveredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_domain_event_deliveries_domain_event_id")
                            .from(
                                DomainEventDeliveries::Table,
                                DomainEventDeliveries::DomainEventId,
                            )
                            .to(DomainEvents::Table, DomainEvents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_domain_event_deliveries_event_consumer")
                    .table(DomainEventDeliveries::Table)
                    .col(DomainEventDeliveries::DomainEventId)
                    .col(DomainEventDeliveries::Consumer)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The webhook applier claims due events across workspaces.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_events_status_next_attempt")
                    .table(WebhookEvents::Table)
                    .col(WebhookEvents::Status)
                    .col(WebhookEvents::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_webhook_events_status_next_attempt")
                    .table(WebhookEvents::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(DomainEventDeliveries::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(DomainEvents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum DomainEvents {
    Table,
    Id,
    WorkspaceId,
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
pub enum DomainEventDeliveries {
    Table,
    Id,
    DomainEventId,
    Consumer,
    DeliveredAt,
}
