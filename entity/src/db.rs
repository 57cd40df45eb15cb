//! Connection-level helpers shared by api and worker.

use sea_orm::sea_query::LockType;
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, QuerySelect, Select,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

/// Starts a transaction that will write. On SQLite it takes the write lock at
/// `BEGIN` (IMMEDIATE), so a read-then-write never fails half-way with
/// SQLITE_BUSY; PostgreSQL ignores the mode.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// A new primary key: UUID v7, so keys sort by creation time.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

/// Row locks for a read-modify-write that leaves the rows' keys alone:
/// `FOR NO KEY UPDATE` on PostgreSQL (the lock its own UPDATE of non-key
/// columns takes; SQLite's single writer needs none). Unlike `FOR UPDATE` it
/// does not block inserts elsewhere whose foreign keys point at the locked
/// rows — a timeline entry, a campaign recipient — so a batch holding
/// customers locked never deadlocks with another adding to their timelines.
pub trait LockForChange: QuerySelect {
    fn lock_for_change(self) -> Self {
        self.lock(LockType::NoKeyUpdate)
    }
}

impl<E: EntityTrait> LockForChange for Select<E> {}
