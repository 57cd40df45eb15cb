//! Background jobs: one-off work a person asks for through the API (a
//! Hotmart sync, cancelling or reactivating a subscription, mirroring the
//! WhatsApp templates), done by the worker, followed through GraphQL.
//!
//! A job is two things on the app's own database: a `background_jobs` row,
//! the state the user reads (queued → running → succeeded | failed, with
//! progress, result and error), and a task on the apalis job queue
//! ([`JobQueue`]: `apalis-postgres` or `apalis-sqlite` storage) that
//! carries a typed [`JobOrder`] to a worker. [`submit`] stores the row,
//! then pushes the task after the row's commit. The task is keyed by the
//! job ([`JobQueue::push`]), so pushing it again is harmless, and the worker runs a job
//! only while its row is queued ([`start`]): a task delivered twice does
//! the work once. A job whose task was lost (the API died between commit
//! and push) or whose worker died mid-run is queued and pushed again by
//! [`recover`].

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::Value;
use uuid::Uuid;

use crate::db::new_id;
use crate::entities::background_job;
use crate::entities::enums::{BackgroundJobKind, BackgroundJobStatus};
use crate::error::{Error, Result};
use crate::tenant::Tenant;

mod queue;
mod request;

pub use queue::JobQueue;
pub use request::{JobErrorCode, JobOrder, JobRequest};

/// A job queued this long whose task never reached the queue is pushed again.
pub const LOST_AFTER: Duration = Duration::minutes(1);
/// A job running this long with no progress reported is taken to have
/// died with its worker, and is queued again.
pub const STALLED_AFTER: Duration = Duration::minutes(15);
const MAX_ERROR_LEN: usize = 2000;

impl BackgroundJobKind {
    /// The kind of job `request` asks for.
    pub fn of(request: &JobRequest) -> Self {
        match request {
            JobRequest::HotmartSync { .. } => BackgroundJobKind::HotmartSync,
            JobRequest::SubscriptionCancel { .. } => BackgroundJobKind::SubscriptionCancel,
            JobRequest::SubscriptionReactivate { .. } => BackgroundJobKind::SubscriptionReactivate,
            JobRequest::TemplateSync => BackgroundJobKind::TemplateSync,
            JobRequest::AutomationScan { .. } => BackgroundJobKind::AutomationScan,
            JobRequest::ChatwootLabels { .. } => BackgroundJobKind::ChatwootLabels,
        }
    }
}

/// Stores a job for `request` in the workspace and pushes it onto the
/// queue; returns it queued.
pub async fn submit(
    db: &DatabaseConnection,
    tenant: Tenant,
    request: JobRequest,
    now: DateTime<Utc>,
) -> Result<background_job::Model> {
    let job = enqueue(db, tenant, request, now).await?;
    JobQueue::new(db).push(&job).await?;
    Ok(job)
}

/// Stores a job for `request` through `db`, inside the caller's
/// transaction when it is one: the job exists exactly when the caller's
/// work commits. Nothing is pushed onto the queue (its storage writes on
/// connections of its own): after the commit, [`push`] hands the job to a
/// worker at once; otherwise [`recover`] pushes it within [`LOST_AFTER`]
/// and a minute (and a draining worker finds it among the [`queued`]).
pub async fn enqueue<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    request: JobRequest,
    now: DateTime<Utc>,
) -> Result<background_job::Model> {
    Ok(background_job::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        kind: Set(BackgroundJobKind::of(&request)),
        status: Set(BackgroundJobStatus::Queued),
        input: Set(serde_json::to_value(&request).map_err(|e| Error::Queue(e.to_string()))?),
        progress: Set(None),
        result: Set(None),
        error_code: Set(None),
        error_message: Set(None),
        attempts: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        started_at: Set(None),
        finished_at: Set(None),
        run_after: Set(None),
    }
    .insert(db)
    .await?)
}

/// Pushes the task of the job `id` (stored by [`enqueue`], committed) onto
/// the queue, so a worker runs it at once rather than after recovery
/// finds it; a job no longer queued is left alone.
pub async fn push(db: &DatabaseConnection, id: Uuid) -> Result<()> {
    let job = background_job::Entity::find_by_id(id).one(db).await?;
    match job {
        Some(job) if job.status == BackgroundJobStatus::Queued => {
            JobQueue::new(db).push(&job).await
        }
        _ => Ok(()),
    }
}

/// The queue's order for a stored job.
pub fn order_of(job: &background_job::Model) -> Result<JobOrder> {
    Ok(JobOrder {
        job_id: job.id,
        workspace_id: job.workspace_id,
        request: serde_json::from_value(job.input.clone())
            .map_err(|e| Error::Queue(format!("job {} has an unreadable input: {e}", job.id)))?,
    })
}

/// Takes a queued job to run it: it becomes running, with one more
/// attempt. `None` when the job is not queued (already run, running
/// elsewhere, or gone), so a task delivered twice runs the job once.
pub async fn start(
    db: &DatabaseConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<background_job::Model>> {
    let taken = background_job::Entity::update_many()
        .col_expr(
            background_job::Column::Status,
            Expr::value(BackgroundJobStatus::Running),
        )
        .col_expr(background_job::Column::StartedAt, Expr::value(now))
        .col_expr(background_job::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            background_job::Column::Attempts,
            Expr::col(background_job::Column::Attempts).add(1),
        )
        .filter(background_job::Column::Id.eq(id))
        .filter(background_job::Column::Status.eq(BackgroundJobStatus::Queued))
        .exec(db)
        .await?;
    if taken.rows_affected == 0 {
        return Ok(None);
    }
    Ok(background_job::Entity::find_by_id(id).one(db).await?)
}

/// Records how far a running job got.
pub async fn report_progress(
    db: &DatabaseConnection,
    id: Uuid,
    progress: Value,
    now: DateTime<Utc>,
) -> Result<()> {
    background_job::Entity::update_many()
        .col_expr(background_job::Column::Progress, Expr::value(progress))
        .col_expr(background_job::Column::UpdatedAt, Expr::value(now))
        .filter(background_job::Column::Id.eq(id))
        .filter(background_job::Column::Status.eq(BackgroundJobStatus::Running))
        .exec(db)
        .await?;
    Ok(())
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded(Value),
    Failed { code: JobErrorCode, message: String },
}

/// Records how a running job ended.
pub async fn finish(
    db: &DatabaseConnection,
    id: Uuid,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut update = background_job::Entity::update_many()
        .col_expr(background_job::Column::FinishedAt, Expr::value(now))
        .col_expr(background_job::Column::UpdatedAt, Expr::value(now));
    update = match outcome {
        Outcome::Succeeded(result) => update
            .col_expr(
                background_job::Column::Status,
                Expr::value(BackgroundJobStatus::Succeeded),
            )
            .col_expr(background_job::Column::Result, Expr::value(result)),
        Outcome::Failed { code, message } => update
            .col_expr(
                background_job::Column::Status,
                Expr::value(BackgroundJobStatus::Failed),
            )
            .col_expr(
                background_job::Column::ErrorCode,
                Expr::value(code.as_str()),
            )
            .col_expr(
                background_job::Column::ErrorMessage,
                Expr::value(message.chars().take(MAX_ERROR_LEN).collect::<String>()),
            ),
    };
    update
        .filter(background_job::Column::Id.eq(id))
        .filter(background_job::Column::Status.eq(BackgroundJobStatus::Running))
        .exec(db)
        .await?;
    Ok(())
}

/// Attempts a job that meets a busy or failing provider gets before it
/// fails for good (see [`retry_later`]).
pub const MAX_ATTEMPTS: i32 = 6;

/// Puts a running job back in the queue after a failure that may pass (the
/// provider answered 5xx or 429, or not at all): it runs again from `at`,
/// with `reason` in its progress for whoever follows it. The queue's task
/// is pushed to be delivered then.
pub async fn retry_later(
    db: &DatabaseConnection,
    id: Uuid,
    reason: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    let reason: String = reason.chars().take(MAX_ERROR_LEN).collect();
    let progress = serde_json::json!({"lastError": reason, "nextAttemptAt": at});
    let requeued = background_job::Entity::update_many()
        .col_expr(
            background_job::Column::Status,
            Expr::value(BackgroundJobStatus::Queued),
        )
        .col_expr(background_job::Column::Progress, Expr::value(progress))
        .col_expr(background_job::Column::RunAfter, Expr::value(Some(at)))
        .col_expr(background_job::Column::UpdatedAt, Expr::value(now))
        .filter(background_job::Column::Id.eq(id))
        .filter(background_job::Column::Status.eq(BackgroundJobStatus::Running))
        .exec(db)
        .await?;
    if requeued.rows_affected == 0 {
        return Ok(());
    }
    // Should the push fail, the job waits for the recovery to push it.
    if let Some(job) = background_job::Entity::find_by_id(id).one(db).await?
        && let Err(err) = JobQueue::new(db).push(&job).await
    {
        tracing::warn!(job_id = %id, error = %err, "a job to retry was not pushed; the recovery will");
    }
    Ok(())
}

/// The orders of up to `limit` jobs queued and due by `now`, oldest first
/// (what a worker that drains its work runs without waiting for the
/// queue's delivery).
pub async fn queued(
    db: &DatabaseConnection,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<Vec<JobOrder>> {
    background_job::Entity::find()
        .filter(background_job::Column::Status.eq(BackgroundJobStatus::Queued))
        .filter(
            Condition::any()
                .add(background_job::Column::RunAfter.is_null())
                .add(background_job::Column::RunAfter.lte(now)),
        )
        .order_by_asc(background_job::Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await?
        .iter()
        .map(order_of)
        .collect()
}

/// Puts lost work back on the queue as of `now`: jobs running with no word
/// for [`STALLED_AFTER`] are queued again, and every job queued for
/// [`LOST_AFTER`] has its task pushed again (a no-op when it is there).
/// Returns how many jobs it pushed.
pub async fn recover(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<usize> {
    background_job::Entity::update_many()
        .col_expr(
            background_job::Column::Status,
            Expr::value(BackgroundJobStatus::Queued),
        )
        .col_expr(background_job::Column::UpdatedAt, Expr::value(now))
        .filter(background_job::Column::Status.eq(BackgroundJobStatus::Running))
        .filter(background_job::Column::UpdatedAt.lt(now - STALLED_AFTER))
        .exec(db)
        .await?;
    let waiting = background_job::Entity::find()
        .filter(background_job::Column::Status.eq(BackgroundJobStatus::Queued))
        .filter(background_job::Column::UpdatedAt.lt(now - LOST_AFTER))
        .order_by_asc(background_job::Column::UpdatedAt)
        .limit(500)
        .all(db)
        .await?;
    let queue = JobQueue::new(db);
    for job in &waiting {
        queue.push(job).await?;
    }
    Ok(waiting.len())
}
