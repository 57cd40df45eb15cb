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

/// Starts a read transaction whose joins PostgreSQL plans as lookups:
/// nested loops over the joined tables' indexes, without parallel workers.
/// For a page of a thousand rows joined to their customers and purchases,
/// the planner's costs (made for data on disk) preferred reading every
/// customer of the workspace into a hash, by two processes, on every page:
/// 30–60 ms a page with 100,000 customers, where a thousand index lookups
/// take a few (seen with auto_explain in a scan). SQLite plans lookups anyway.
pub async fn begin_lookups(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let txn = db.begin().await?;
    if db.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(
            "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; \
             SET LOCAL max_parallel_workers_per_gather = 0",
        )
        .await?;
    }
    Ok(txn)
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
/// bound parameter against the index's predicate). It is written as the
/// indexes' predicates are: `= 'one'` for one status, `IN (…)` for several.
/// SQLite uses a partial index only for a query whose condition contains
/// the predicate's very term: `status IN ('one')` scans the whole table
/// where `status = 'one'` reads the index.
pub fn status_is<S: AsRef<str>>(table: &str, statuses: impl IntoIterator<Item = S>) -> Expr {
    spelled_out(table, "status", statuses)
}

/// `table`'s `column` among `values` (jornada's own constants, never a
/// caller's input), spelled out as [`status_is`] spells a status.
pub fn spelled_out<S: AsRef<str>>(
    table: &str,
    column: &str,
    values: impl IntoIterator<Item = S>,
) -> Expr {
    let listed: Vec<String> = values
        .into_iter()
        .map(|s| format!("'{}'", s.as_ref()))
        .collect();
    let column = format!("\"{table}\".\"{column}\"");
    match listed.as_slice() {
        [one] => Expr::cust(format!("{column} = {one}")),
        _ => Expr::cust(format!("{column} IN ({})", listed.join(", "))),
    }
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

/// Inserts `rows`, however many: on PostgreSQL as arrays
/// ([`insert_as_arrays`], ten thousand rows a statement), on SQLite in
/// multi-row INSERTs of `per_insert` rows, under its limit on bound values.
pub async fn insert_all<E, C>(db: &C, rows: Vec<E::Model>, per_insert: usize) -> Result<(), DbErr>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
    C: ConnectionTrait,
{
    if db.get_database_backend() == DbBackend::Postgres {
        for chunk in chunked(rows, 10_000) {
            insert_as_arrays::<E, _>(db, chunk, None).await?;
        }
        return Ok(());
    }
    for chunk in chunked(
        rows.into_iter().map(IntoActiveModel::into_active_model),
        per_insert,
    ) {
        E::insert_many(chunk).exec(db).await?;
    }
    Ok(())
}

/// Inserts `rows` into `E`'s table in one statement however many there
/// are, on PostgreSQL, skipping the rows that conflict and those for which
/// `unless_found` (a query over the row, `v`, its own values bound as `$1`,
/// `$2` …) finds anything; returns the keys inserted.
///
/// The rows travel a column at a time, in PostgreSQL's binary format: a
/// column whose value differs between rows as one array, its NULLs marked
/// in a boolean array beside it; a column alike in every row (the
/// workspace, the rule, the time) as one value. A multi-row VALUES binds
/// every column of every row instead (some 28,000 values for a thousand
/// dispatch items), which jornada encodes one by one and PostgreSQL parses
/// and plans at every statement; one JSON array of the rows costs
/// PostgreSQL a parse of every key and value, UUIDs and times as text.
///
/// `OFFSET 0` keeps the check a lookup per row: otherwise PostgreSQL turns
/// it into a join planned from the statistics of a table that grows as it
/// is written, and a scan queuing a thousand items a statement hashed the
/// whole queue for each (seen with auto_explain).
pub async fn insert_as_arrays<E, C>(
    db: &C,
    rows: Vec<E::Model>,
    unless_found: Option<(&str, Vec<sea_orm::Value>)>,
) -> Result<Vec<uuid::Uuid>, DbErr>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
    C: ConnectionTrait,
{
    use sea_orm::sea_query::ArrayType;
    use sea_orm::{IdenStatic, Iterable, PrimaryKeyToColumn, Value};
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let table = E::default().table_name().to_owned();
    let key = E::PrimaryKey::iter()
        .next()
        .map(|key| key.into_column().as_str().to_owned())
        .unwrap_or_else(|| "id".to_owned());
    let (condition, mut values) = match unless_found {
        Some((query, values)) => (format!(" WHERE NOT EXISTS ({query} OFFSET 0)"), values),
        None => (String::new(), Vec::new()),
    };
    let mut models: Vec<E::ActiveModel> = rows
        .into_iter()
        .map(IntoActiveModel::into_active_model)
        .collect();
    let (mut columns, mut selected, mut arrays, mut unnested) = (vec![], vec![], vec![], vec![]);
    for column in E::Column::iter() {
        let name = column.as_str();
        let column_values: Vec<Value> = models
            .iter_mut()
            .map(|model| model.take(column).into_value())
            .collect::<Option<_>>()
            .ok_or_else(|| DbErr::Custom(format!("a row to insert has no {name}")))?;
        let first = &column_values[0];
        columns.push(format!("\"{name}\""));
        // The key always travels as an array, so a single row is still one
        // `unnest` of something.
        if name != key && column_values.iter().all(|value| value == first) {
            values.push(first.clone());
            selected.push(format!("${} AS \"{name}\"", values.len()));
            continue;
        }
        // Documents travel as their text, which PostgreSQL reads once
        // either way; jornada then copies a string, not a tree.
        let (array_type, column_values, cast) = match first.array_type() {
            ArrayType::Json => (
                ArrayType::String,
                column_values.into_iter().map(json_as_text).collect(),
                "::jsonb",
            ),
            array_type => (array_type, column_values, ""),
        };
        let column = format!("u.\"{name}\"{cast}");
        unnested.push(format!("\"{name}\""));
        if column_values.iter().all(Value::is_some) {
            values.push(Value::Array(array_type, Some(Box::new(column_values))));
            arrays.push(format!("${}", values.len()));
            selected.push(format!("{column} AS \"{name}\""));
            continue;
        }
        // An array's elements can't be NULL as jornada binds them: a
        // placeholder stands in, and the column of flags says which.
        let nulls = column_values
            .iter()
            .map(|value| Value::Bool(Some(!value.is_some())))
            .collect();
        let placeholder = column_values[0].dummy_value();
        let filled = column_values
            .into_iter()
            .map(|value| {
                if value.is_some() {
                    value
                } else {
                    placeholder.clone()
                }
            })
            .collect();
        values.push(Value::Array(array_type, Some(Box::new(filled))));
        values.push(Value::Array(ArrayType::Bool, Some(Box::new(nulls))));
        arrays.push(format!("${}", values.len() - 1));
        arrays.push(format!("${}", values.len()));
        unnested.push(format!("\"{name}__null\""));
        selected.push(format!(
            "CASE WHEN u.\"{name}__null\" THEN NULL ELSE {column} END AS \"{name}\""
        ));
    }
    let sql = format!(
        "INSERT INTO \"{table}\" ({columns}) SELECT {from_v} \
         FROM (SELECT {selected} FROM unnest({arrays}) AS u({unnested})) AS v{condition} \
         ON CONFLICT DO NOTHING RETURNING \"{key}\"",
        from_v = columns
            .iter()
            .map(|column| format!("v.{column}"))
            .collect::<Vec<_>>()
            .join(", "),
        columns = columns.join(", "),
        selected = selected.join(", "),
        arrays = arrays.join(", "),
        unnested = unnested.join(", "),
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

/// A document as its JSON text (NULL stays NULL).
fn json_as_text(value: sea_orm::Value) -> sea_orm::Value {
    match value {
        sea_orm::Value::Json(json) => sea_orm::Value::String(json.map(|json| json.to_string())),
        other => other,
    }
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
