//! Whether a rule holds a subject back (an item of the same rule, customer
//! and product still pending, or suggested within the cooldown) is asked
//! through the customer's few items, by the customer's index, and the
//! pending one by the unique index on pending subjects. The index on
//! (subject_key, suggested_at), a key of some 110 bytes that every item
//! queued wrote, served only that question and goes.

use sea_orm_migration::prelude::*;

use crate::schema::{TableIndex, replaces_indexes};

const BEFORE: &[TableIndex] = &[TableIndex::new(
    "idx_dispatch_queue_subject_suggested_at",
    "dispatch_queue",
    &["subject_key", "suggested_at"],
)];

const AFTER: &[TableIndex] = &[];

#[derive(DeriveMigrationName)]
pub struct Migration;

replaces_indexes!(Migration, BEFORE, AFTER);
