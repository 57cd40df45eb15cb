//! Domain events keep only the indexes something reads.
//!
//! Every event recorded, and every one dispatched, wrote an entry into each
//! of the table's seven indexes. Two of them no query reads:
//! (dispatched_at, next_attempt_at), which the partial index over pending
//! events in recording order replaced for the dispatcher
//! (`m20261201_000013_due_work_in_order`), and (workspace, event type,
//! occurred at), kept for consumers that read events by type, which none
//! does: consumers are handed events by the dispatcher. On a launch day they
//! cost two index writes per event recorded and two per event dispatched.
//! The foreign keys keep their indexes (workspace through the dedupe key,
//! customer, source event).

use sea_orm_migration::prelude::*;

const PENDING: &str = "idx_domain_events_pending";
const BY_TYPE: &str = "idx_domain_events_workspace_type_occurred";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum DomainEvents {
    Table,
    WorkspaceId,
    EventType,
    OccurredAt,
    DispatchedAt,
    NextAttemptAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [PENDING, BY_TYPE] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(DomainEvents::Table)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, columns) in [
            (
                PENDING,
                vec![DomainEvents::DispatchedAt, DomainEvents::NextAttemptAt],
            ),
            (
                BY_TYPE,
                vec![
                    DomainEvents::WorkspaceId,
                    DomainEvents::EventType,
                    DomainEvents::OccurredAt,
                ],
            ),
        ] {
            let mut index = Index::create()
                .name(name)
                .table(DomainEvents::Table)
                .to_owned();
            for column in columns {
                index.col(column);
            }
            manager.create_index(index).await?;
        }
        Ok(())
    }
}
