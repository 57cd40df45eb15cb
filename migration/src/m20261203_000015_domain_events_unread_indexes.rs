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

use crate::m20261123_000009_domain_events::{DOMAIN_EVENTS_BY_TYPE, DOMAIN_EVENTS_PENDING};
use crate::schema::{TableIndex, create_indexes, drop_indexes};

const UNREAD: &[TableIndex] = &[DOMAIN_EVENTS_PENDING, DOMAIN_EVENTS_BY_TYPE];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(manager, UNREAD).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_indexes(manager, UNREAD).await
    }
}
