//! The job queue: apalis storage on the app's own database.

use sea_orm::{DatabaseConnection, DbBackend};

use super::{JobOrder, order_of};
use crate::entities::background_job;
use crate::error::{Error, Result};

/// The apalis queue background jobs travel on.
pub const QUEUE: &str = "background_jobs";
/// Deliveries of one task before the queue gives up on it. The worker
/// records a job's failure itself; only a failure to record it (the
/// database unreachable) makes the queue deliver the task again.
const MAX_DELIVERIES: usize = 5;
/// How often the SQLite queue's worker reports alive. Its storage has no
/// notification of new tasks (PostgreSQL's has `LISTEN/NOTIFY`): a task
/// pushed after the worker has idled a while could wait for the worker's
/// next heartbeat (30 s by default) before it was fetched, a "run now" scan
/// half a minute late. One small write every two seconds bounds that wait.
const SQLITE_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(2);

/// The job queue on the app's database: apalis storage of [`JobOrder`]s.
#[derive(Clone)]
pub enum JobQueue {
    Postgres(apalis_postgres::PostgresStorage<JobOrder>),
    Sqlite(apalis_sqlite::SqliteStorage<JobOrder>),
}

impl JobQueue {
    /// The queue on `db`'s pool.
    pub fn new(db: &DatabaseConnection) -> Self {
        match db.get_database_backend() {
            DbBackend::Postgres => JobQueue::Postgres(
                apalis_postgres::PostgresStorage::new(db.get_postgres_connection_pool())
                    .with_config(apalis_postgres::Config::default().queue(QUEUE)),
            ),
            _ => JobQueue::Sqlite(
                apalis_sqlite::SqliteStorage::new(db.get_sqlite_connection_pool()).with_config(
                    apalis_sqlite::Config::default()
                        .queue(QUEUE)
                        .heartbeat_interval(SQLITE_HEARTBEAT),
                ),
            ),
        }
    }

    /// Creates the queue's tables (the storage's own migrations). Only its
    /// migrations run: the SQLite storage's `setup` would also turn off
    /// `synchronous` on a pooled connection, and jornada's commits must
    /// reach the disk.
    pub async fn create_tables(db: &DatabaseConnection) -> Result<()> {
        let outcome = match db.get_database_backend() {
            DbBackend::Postgres => {
                apalis_postgres::PostgresStorage::migrations()
                    .run(db.get_postgres_connection_pool())
                    .await
            }
            _ => {
                apalis_sqlite::SqliteStorage::migrations()
                    .run(db.get_sqlite_connection_pool())
                    .await
            }
        };
        outcome.map_err(|e| Error::Queue(format!("creating the job queue's tables: {e}")))
    }

    /// Pushes the task of a queued `job`. The task is keyed by the job and
    /// its attempts so far: pushed again before a worker starts the job, it
    /// is left as it is; a job queued again after a failed run gets a new
    /// one, delivered from its `run_after`.
    pub async fn push(&self, job: &background_job::Model) -> Result<()> {
        use apalis_core::backend::TaskSink;
        use apalis_core::task::builder::TaskBuilder;
        let key = format!("{}:{}", job.id, job.attempts);
        let mut task = TaskBuilder::new(order_of(job)?)
            .idempotency_key(&key)
            .max_attempts(MAX_DELIVERIES);
        // A job waiting out a provider's failure is delivered when it is due.
        if let Some(at) = job.run_after {
            task = task.run_at_timestamp(u64::try_from(at.timestamp()).unwrap_or(0));
        }
        let task = task.build();
        match self.clone() {
            JobQueue::Postgres(mut storage) => {
                storage.push_task(task).await.or_else(already_queued)
            }
            JobQueue::Sqlite(mut storage) => storage.push_task(task).await.or_else(already_queued),
        }
    }
}

/// A push the storage refused: fine when the job's task is already on the
/// queue (the idempotency key is taken), an error otherwise.
fn already_queued<E: StorageError>(refused: apalis_core::backend::TaskSinkError<E>) -> Result<()> {
    if let apalis_core::backend::TaskSinkError::PushError(e) = &refused
        && let Some(sea_orm::sqlx::Error::Database(e)) = e.as_sqlx()
        && e.is_unique_violation()
    {
        return Ok(());
    }
    Err(Error::Queue(refused.to_string()))
}

/// The storages' errors, as far as they come from the database.
trait StorageError: std::error::Error {
    fn as_sqlx(&self) -> Option<&sea_orm::sqlx::Error>;
}

impl StorageError for apalis_postgres::Error {
    fn as_sqlx(&self) -> Option<&sea_orm::sqlx::Error> {
        match self {
            apalis_postgres::Error::Database(e) => Some(e),
            _ => None,
        }
    }
}

impl StorageError for apalis_sqlite::Error {
    fn as_sqlx(&self) -> Option<&sea_orm::sqlx::Error> {
        match self {
            apalis_sqlite::Error::Database(e) => Some(e),
            _ => None,
        }
    }
}
