//! Table statistics and dead rows on a PostgreSQL server whose autovacuum is off.
//!
//! The planner chooses each plan from the table statistics that autovacuum
//! refreshes as rows change. jornada's queue tables change by the hundred
//! thousand on a launch day; left with the statistics of an empty table, the
//! claim of due webhook events reads and sorts the whole backlog on every
//! batch instead of walking its index, and a transaction is looked for
//! among all of its workspace's rather than by its code. Dead rows pile up
//! in the queues' indexes too. So where autovacuum is off, the worker does
//! what autovacuum would, with its default thresholds: it analyzes every
//! table more than a tenth changed since its last analysis, and vacuums
//! every table more than a fifth dead or grown by more than a fifth (and a
//! thousand rows) since its last vacuum, as autovacuum does at most once a
//! minute (its default naptime). A table only ever written to, such as the
//! cohorts' members a catch-up writes by the hundred thousand, is vacuumed
//! for its visibility map: without it, the cohorts' reads from an index
//! alone went to a heap page per member. A table a launch day writes and
//! updates row by row is a fifth dead again ten seconds later; vacuumed at
//! every look, its indexes were read whole six times a minute.

use apalis::prelude::{BoxDynError, Data};
use apalis_cron::Tick;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// Every ten seconds the worker looks at its tables' statistics.
pub const SCHEDULE: &str = "*/10 * * * * *";
/// autovacuum's defaults: `autovacuum_analyze_threshold` and `_scale_factor`.
const ANALYZE_BASE: f64 = 50.0;
const ANALYZE_SHARE: f64 = 0.1;
/// autovacuum's defaults: `autovacuum_vacuum_threshold` and `_scale_factor`.
const VACUUM_BASE: f64 = 50.0;
const VACUUM_SHARE: f64 = 0.2;
/// autovacuum's defaults: `autovacuum_vacuum_insert_threshold` and
/// `_scale_factor`. A table only written to has no dead rows, but until it
/// is vacuumed its pages are not marked all-visible, and a query PostgreSQL
/// could answer from an index alone reads a heap page per row.
const VACUUM_INSERTED_BASE: f64 = 1000.0;
const VACUUM_INSERTED_SHARE: f64 = 0.2;
/// autovacuum's default `autovacuum_naptime`: a table is vacuumed at most
/// this often.
const VACUUM_NAPTIME_SECONDS: f64 = 60.0;

/// What was done to one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upkeep {
    Analyzed,
    VacuumedAndAnalyzed,
}

/// The upkeep cron's tick, registered by the worker where
/// [`autovacuum_is_off`]: refreshes what autovacuum would have.
pub async fn upkeep(_tick: Tick, db: Data<DatabaseConnection>) -> Result<(), BoxDynError> {
    refresh_statistics(&db).await?;
    Ok(())
}

/// Whether the server's autovacuum is off, so that the worker must keep the
/// statistics itself. Always false off PostgreSQL.
pub async fn autovacuum_is_off(db: &DatabaseConnection) -> Result<bool, entity::Error> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(false);
    }
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_setting('autovacuum') = 'off'",
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get_by_index(0)?,
        None => false,
    })
}

/// Analyzes (and, if needed, vacuums) every table of jornada's schema past
/// autovacuum's default thresholds; answers what it did, table by table.
pub async fn refresh_statistics(
    db: &DatabaseConnection,
) -> Result<Vec<(String, Upkeep)>, entity::Error> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(Vec::new());
    }
    // reltuples is -1 for a table never analyzed; a table never vacuumed
    // was vacuumed "long ago".
    let tables = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT s.relname::text, s.n_mod_since_analyze::float8, s.n_dead_tup::float8, \
             greatest(c.reltuples, 0)::float8, s.n_ins_since_vacuum::float8, \
             coalesce(extract(epoch FROM now() - greatest(s.last_vacuum, s.last_autovacuum)), \
             'Infinity')::float8 \
             FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
             WHERE s.schemaname = current_schema() ORDER BY s.relname",
        ))
        .await?;
    let mut done = Vec::new();
    for row in tables {
        let name: String = row.try_get_by_index(0)?;
        let changed: f64 = row.try_get_by_index(1)?;
        let dead: f64 = row.try_get_by_index(2)?;
        let rows: f64 = row.try_get_by_index(3)?;
        let inserted: f64 = row.try_get_by_index(4)?;
        let since_vacuum: f64 = row.try_get_by_index(5)?;
        let to_vacuum = dead > VACUUM_BASE + VACUUM_SHARE * rows
            || inserted > VACUUM_INSERTED_BASE + VACUUM_INSERTED_SHARE * rows;
        let upkeep = if to_vacuum && since_vacuum >= VACUUM_NAPTIME_SECONDS {
            Upkeep::VacuumedAndAnalyzed
        } else if changed > ANALYZE_BASE + ANALYZE_SHARE * rows {
            Upkeep::Analyzed
        } else {
            continue;
        };
        let table = format!("\"{}\"", name.replace('"', "\"\""));
        let command = match upkeep {
            Upkeep::Analyzed => format!("ANALYZE {table}"),
            Upkeep::VacuumedAndAnalyzed => format!("VACUUM (ANALYZE) {table}"),
        };
        db.execute_unprepared(&command).await?;
        done.push((name, upkeep));
    }
    Ok(done)
}
