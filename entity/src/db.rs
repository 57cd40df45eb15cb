//! Connection-level helpers shared by api and worker.

use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    DbBackend, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect, QueryTrait, Select,
    SqliteTransactionMode, TransactionOptions, TransactionTrait, UpdateMany,
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

/// Whether `select` finds any row, reading one at most. Periodic writers
/// ask first, so an idle one takes no write lock (on SQLite an UPDATE that
/// matches nothing still waits for, and holds, the database's one writer).
pub async fn any_row<E: EntityTrait, C: ConnectionTrait>(
    db: &C,
    select: Select<E>,
) -> Result<bool, DbErr> {
    Ok(select
        .select_only()
        .expr(Expr::cust("1"))
        .limit(1)
        .into_tuple::<i32>()
        .one(db)
        .await?
        .is_some())
}

/// Opens the write transaction a worker takes work in ([`take`]), or none
/// when `due` has nothing for it. On SQLite, whose BEGIN takes the one
/// writer, an idle worker looks first ([`any_row`]); on PostgreSQL an empty
/// take costs less than the look.
pub async fn begin_taking<E: EntityTrait>(
    db: &DatabaseConnection,
    due: Select<E>,
) -> Result<Option<DatabaseTransaction>, DbErr> {
    if db.get_database_backend() == DbBackend::Sqlite && !any_row(db, due).await? {
        return Ok(None);
    }
    begin_write(db).await.map(Some)
}

/// Locks the rows `due` picks for the rest of `txn` and returns them, for
/// work done wholly inside that transaction: its commit finishes the work
/// and its rollback, or the death of its connection, puts the rows back at
/// once. On PostgreSQL the pick skips rows another transaction holds (`FOR
/// NO KEY UPDATE SKIP LOCKED`), so workers taking work side by side get
/// disjoint rows; SQLite's write transaction is already exclusive. Unlike a
/// lease ([`claim`]) it writes nothing to the rows it takes.
///
/// `due` should walk an index in the order it takes rows, and stop at its
/// limit. A queue's statistics cannot tell PostgreSQL so: they describe a
/// table of work long done, with a handful of rows to do, and during a burst
/// the planner read every due row through a bitmap and sorted them all for
/// each batch (25–35 ms a batch with 20,000 waiting, the sort spilling to
/// disk, seen with auto_explain). A bitmap scan also never marks the index
/// entries of rows already done as dead, so every pick read them again. The
/// pick is therefore planned without bitmap scans, which leaves the ordered
/// index walk; the rest of the transaction is planned as usual.
pub async fn take<E: EntityTrait>(
    txn: &DatabaseTransaction,
    due: Select<E>,
) -> Result<Vec<E::Model>, DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return due.all(txn).await;
    }
    txn.execute_unprepared("SET LOCAL enable_bitmapscan = off")
        .await?;
    let taken = due
        .lock_with_behavior(LockType::NoKeyUpdate, LockBehavior::SkipLocked)
        .all(txn)
        .await?;
    txn.execute_unprepared("RESET enable_bitmapscan").await?;
    Ok(taken)
}

/// Reserves the rows `due` picks and returns them as `reserve` left them,
/// in one statement: `UPDATE … SET … WHERE id IN (SELECT id … LIMIT n)
/// RETURNING *`. On PostgreSQL the pick skips rows another claim holds
/// (`FOR UPDATE SKIP LOCKED`), so claimers running side by side take
/// disjoint batches; SQLite's single writer makes the statement exclusive.
/// One statement is one round trip and one commit, where a locked SELECT
/// and an UPDATE in a transaction were four. The rows come back in no
/// particular order.
pub async fn claim<E: EntityTrait, C: ConnectionTrait>(
    db: &C,
    due: Select<E>,
    id: E::Column,
    reserve: UpdateMany<E>,
) -> Result<Vec<E::Model>, DbErr> {
    let backend = db.get_database_backend();
    let mut picked = due.select_only().column(id);
    if backend == DbBackend::Postgres {
        picked = picked.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let mut update = reserve
        .filter(id.in_subquery(picked.into_query()))
        .into_query();
    update.returning_all();
    E::find().from_raw_sql(backend.build(&update)).all(db).await
}

/// A condition on a status column spelled out rather than bound, so both
/// databases see that the query wants the rows of a partial index over that
/// status (PostgreSQL's generic plans and SQLite's planner cannot match a
/// bound parameter against the index's predicate).
pub fn status_is<S: AsRef<str>>(table: &str, statuses: impl IntoIterator<Item = S>) -> Expr {
    let listed: Vec<String> = statuses
        .into_iter()
        .map(|s| format!("'{}'", s.as_ref()))
        .collect();
    Expr::cust(format!("\"{table}\".\"status\" IN ({})", listed.join(", ")))
}

/// `rows` in batches of at most `size`, in order: a multi-row INSERT per
/// batch stays under both backends' limit on bound values.
pub(crate) fn chunked<T>(rows: impl IntoIterator<Item = T>, size: usize) -> Vec<Vec<T>> {
    let mut chunks = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        chunks.push(rows.by_ref().take(size).collect());
    }
    chunks
}

/// Inserts `rows` into `E`'s table in one statement however many there
/// are, on PostgreSQL, skipping the rows that conflict and those for which
/// `unless_found` (a query over the row, `v`, its values bound from `$2`)
/// finds anything; returns the keys inserted. The rows travel as one JSON
/// array that `jsonb_populate_recordset` reads back as rows of the table's
/// own type. A multi-row VALUES binds every column of every row instead
/// (some 28,000 values for a thousand dispatch items), which jornada
/// encodes one by one and PostgreSQL parses and plans at every statement.
/// Each field of the model serializes as its column's stored value (the
/// column's name, enums as their stored strings), as jornada's entities do.
///
/// `OFFSET 0` keeps the check a lookup per row: otherwise PostgreSQL turns
/// it into a join planned from the statistics of a table that grows as it
/// is written, and a scan queuing a thousand items a statement hashed the
/// whole queue for each (seen with auto_explain).
pub async fn insert_as_json<E, C>(
    db: &C,
    rows: &[E::Model],
    unless_found: Option<(&str, Vec<sea_orm::Value>)>,
) -> Result<Vec<uuid::Uuid>, DbErr>
where
    E: EntityTrait,
    E::Model: serde::Serialize,
    C: ConnectionTrait,
{
    use sea_orm::{IdenStatic, Iterable, PrimaryKeyToColumn};
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let table = E::default().table_name().to_owned();
    let columns: Vec<String> = E::Column::iter()
        .map(|column| format!("\"{}\"", column.as_str()))
        .collect();
    let key = E::PrimaryKey::iter()
        .next()
        .map(|key| key.into_column().as_str().to_owned())
        .unwrap_or_else(|| "id".to_owned());
    // Serialized straight to text, into room for about a kilobyte a row: a
    // `serde_json::Value` of the rows would copy every row's documents once
    // more, and a buffer grown by doubling copies the text again and again.
    let mut json = Vec::with_capacity(rows.len() * 1024);
    serde_json::to_writer(&mut json, rows).map_err(|err| DbErr::Json(err.to_string()))?;
    let json = String::from_utf8(json).map_err(|err| DbErr::Json(err.to_string()))?;
    let (condition, mut values) = match unless_found {
        Some((query, values)) => (format!(" WHERE NOT EXISTS ({query} OFFSET 0)"), values),
        None => (String::new(), Vec::new()),
    };
    values.insert(0, json.into());
    let sql = format!(
        "INSERT INTO \"{table}\" ({columns}) SELECT {selected} \
         FROM jsonb_populate_recordset(NULL::\"{table}\", $1::jsonb) AS v{condition} \
         ON CONFLICT DO NOTHING RETURNING \"{key}\"",
        columns = columns.join(", "),
        selected = columns
            .iter()
            .map(|column| format!("v.{column}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let inserted = db
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?;
    inserted
        .iter()
        .map(|row| row.try_get::<uuid::Uuid>("", &key))
        .collect()
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

/// Inserts `row` unless it conflicts; returns it when this call created it
/// (the new row stays locked until commit). One statement for the common
/// case of a first sighting, where inserting then reading back costs two.
pub(crate) async fn insert_new<C, A>(
    db: &C,
    row: A,
    conflict: OnConflict,
) -> crate::error::Result<Option<<A::Entity as EntityTrait>::Model>>
where
    C: ConnectionTrait,
    A: ActiveModelTrait,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    Ok(<A::Entity as EntityTrait>::insert_many([row])
        .on_conflict(conflict)
        .exec_with_returning(db)
        .await?
        .pop())
}

pub(crate) async fn insert_ignoring_conflict<C, A>(
    db: &C,
    row: A,
    conflict: OnConflict,
) -> crate::error::Result<()>
where
    C: ConnectionTrait,
    A: ActiveModelTrait,
{
    <A::Entity as EntityTrait>::insert(row)
        .on_conflict(conflict)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The share of a queue one of several workers running side by side takes:
/// worker `index` of `of` takes the rows whose customer hash leaves `index`
/// divided by `of`, so two workers never hold rows of one customer and each
/// customer's rows are worked in order; the first also takes the rows that
/// name no customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub index: u32,
    pub of: u32,
}

impl Partition {
    /// The whole queue, for a single worker.
    pub const ALL: Partition = Partition { index: 0, of: 1 };

    /// The condition keeping this partition's rows, given the expression of
    /// a row's customer hash (a non-negative integer, NULL when the row
    /// names no customer); `None` for the whole queue.
    pub fn keeps(self, hash: Expr) -> Option<Expr> {
        if self.of <= 1 {
            return None;
        }
        let mine = hash
            .clone()
            .modulo(i32::try_from(self.of).unwrap_or(i32::MAX))
            .eq(i32::try_from(self.index).unwrap_or(0));
        Some(if self.index == 0 {
            mine.or(hash.is_null())
        } else {
            mine
        })
    }
}
