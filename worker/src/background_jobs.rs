//! Background jobs as the worker runs them: a [`JobOrder`] taken from the
//! job queue is run once while its job is queued, and its outcome recorded
//! on the job with the API's stable error codes, so the person who asked
//! reads it through `backgroundJob(id)`.

use apalis::prelude::{BoxDynError, Data};
use chrono::{DateTime, Utc};
use entity::Tenant;
use entity::background_jobs::{self, JobErrorCode, JobOrder, JobRequest, Outcome};
use entity::entities::{background_job, message_template, subscription};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Worker;
use crate::channels::SendError;
use crate::channels::whatsapp::{self, TemplateSyncError};
use crate::chatwoot;
use crate::hotmart::client::HotmartError;
use crate::hotmart::sync::{self, SyncError};

/// Every minute: jobs whose task was lost or whose worker died go back on the queue.
pub const RECOVERY_SCHEDULE: &str = "0 * * * * *";

/// Where a running job reports how far it got.
pub struct JobProgress<'a> {
    db: &'a DatabaseConnection,
    clock: &'a entity::Clock,
    job_id: Uuid,
}

impl JobProgress<'_> {
    /// Records `progress` on the job; a failure to record it is logged and
    /// does not stop the job.
    pub async fn report(&self, progress: &impl Serialize) {
        let Ok(progress) = serde_json::to_value(progress) else {
            return;
        };
        if let Err(err) =
            background_jobs::report_progress(self.db, self.job_id, progress, self.clock.now()).await
        {
            tracing::warn!(job_id = %self.job_id, error = %err, "job progress not recorded");
        }
    }
}

/// How one run of a job ends: finished, or back in the queue until `at`
/// (a provider was busy; see [`background_jobs::retry_later`]).
pub enum JobEnd {
    Finished(Outcome),
    RetryAt { at: DateTime<Utc>, reason: String },
}

/// The queue's handler: runs the job `order` names, once.
pub async fn run(order: JobOrder, worker: Data<Worker>) -> Result<(), BoxDynError> {
    run_job(&worker, order).await?;
    Ok(())
}

/// Runs the job `order` names if it is still queued; returns whether it ran.
pub async fn run_job(worker: &Worker, order: JobOrder) -> Result<bool, entity::Error> {
    let db = &worker.db;
    let clock = &worker.clock;
    let Some(job) = background_jobs::start(db, order.job_id, clock.now()).await? else {
        tracing::debug!(job_id = %order.job_id, "job not queued any more; nothing to do");
        return Ok(false);
    };
    // The stored job decides the workspace, whatever the task says.
    let tenant = Tenant::new(job.workspace_id);
    let progress = JobProgress {
        db,
        clock,
        job_id: job.id,
    };
    tracing::info!(job_id = %job.id, kind = ?job.kind, attempt = job.attempts, "job started");
    // A sync and a subscription change apply facts as webhooks do.
    let records_events = matches!(
        order.request,
        JobRequest::HotmartSync { .. }
            | JobRequest::SubscriptionCancel { .. }
            | JobRequest::SubscriptionReactivate { .. }
    );
    let outcome = match perform(worker, tenant, &job, order.request, &progress).await {
        JobEnd::Finished(outcome) => outcome,
        JobEnd::RetryAt { at, reason } => {
            tracing::info!(job_id = %job.id, attempt = job.attempts, %at, %reason, "job will be tried again");
            background_jobs::retry_later(db, job.id, &reason, at, clock.now()).await?;
            return Ok(true);
        }
    };
    match &outcome {
        Outcome::Succeeded(_) => tracing::info!(job_id = %job.id, "job succeeded"),
        Outcome::Failed { code, message } => {
            tracing::warn!(job_id = %job.id, code = code.as_str(), %message, "job failed")
        }
    }
    record_outcome(db, job.id, outcome, clock.now()).await?;
    if records_events {
        worker.signals.domain_events_recorded();
    }
    Ok(true)
}

/// Records how a job ended, trying again for a while when the database is
/// briefly unavailable (busy, or its pool exhausted): a job left running
/// would wait for [`background_jobs::STALLED_AFTER`] before it is run again.
async fn record_outcome(
    db: &DatabaseConnection,
    job_id: Uuid,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    let mut delay = std::time::Duration::from_millis(250);
    for _ in 0..FINISH_ATTEMPTS - 1 {
        match background_jobs::finish(db, job_id, outcome.clone(), now).await {
            Ok(()) => return Ok(()),
            Err(err) => {
                tracing::warn!(%job_id, error = %err, ?delay, "job outcome not recorded; trying again");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    background_jobs::finish(db, job_id, outcome, now).await
}

/// Tries at recording a job's outcome (over about eight seconds).
const FINISH_ATTEMPTS: u32 = 6;

async fn perform(
    worker: &Worker,
    tenant: Tenant,
    job: &background_job::Model,
    request: JobRequest,
    progress: &JobProgress<'_>,
) -> JobEnd {
    let (db, secrets) = (&worker.db, &worker.secrets);
    let outcome = match request {
        JobRequest::HotmartSync { since } => {
            match sync::sync_workspace(db, secrets, tenant, &worker.clock, since, Some(progress))
                .await
            {
                Ok(report) => succeeded(&report),
                Err(err) => sync_failure(err),
            }
        }
        JobRequest::SubscriptionCancel {
            subscriber_code,
            send_mail,
        } => subscription_outcome(
            sync::cancel_subscription(
                db,
                secrets,
                &worker.clock,
                tenant,
                &subscriber_code,
                send_mail,
            )
            .await,
        ),
        JobRequest::SubscriptionReactivate {
            subscriber_code,
            charge,
        } => subscription_outcome(
            sync::reactivate_subscription(
                db,
                secrets,
                &worker.clock,
                tenant,
                &subscriber_code,
                charge,
            )
            .await,
        ),
        JobRequest::TemplateSync => {
            match whatsapp::sync_templates(db, secrets, tenant, worker.clock.now()).await {
                Ok(mirrored) => Outcome::Succeeded(templates_result(&mirrored)),
                Err(err) => template_sync_failure(err),
            }
        }
        JobRequest::AutomationScan { rule_id, dry_run } => {
            match crate::automation::scans::run_now(worker, tenant, rule_id, dry_run).await {
                Ok(report) => succeeded(&report),
                Err(entity::Error::NotFound(what)) => {
                    failed(JobErrorCode::NotFound, format!("{what} not found"))
                }
                Err(entity::Error::Invalid(why)) => failed(JobErrorCode::InvalidInput, why),
                Err(err) => failed(JobErrorCode::Internal, err.to_string()),
            }
        }
        JobRequest::ChatwootLabels {
            customer_id,
            labels,
        } => return chatwoot::labels::run(worker, tenant, job, customer_id, &labels).await,
    };
    JobEnd::Finished(outcome)
}

fn succeeded(result: &impl Serialize) -> Outcome {
    match serde_json::to_value(result) {
        Ok(value) => Outcome::Succeeded(value),
        Err(err) => failed(JobErrorCode::Internal, err.to_string()),
    }
}

fn failed(code: JobErrorCode, message: impl Into<String>) -> Outcome {
    Outcome::Failed {
        code,
        message: message.into(),
    }
}

fn subscription_outcome(changed: Result<subscription::Model, SyncError>) -> Outcome {
    match changed {
        Ok(subscription) => Outcome::Succeeded(json!({
            "subscriptionId": subscription.id,
            "subscriberCode": subscription.subscriber_code,
            "status": subscription.status,
            "cancelledAt": subscription.cancelled_at,
        })),
        Err(err) => sync_failure(err),
    }
}

fn templates_result(mirrored: &[message_template::Model]) -> Value {
    json!({
        "mirrored": mirrored.len(),
        "templates": mirrored.iter().map(|t| json!({
            "id": t.id,
            "name": t.name,
            "language": t.language,
            "status": t.status,
        })).collect::<Vec<_>>(),
    })
}

fn entity_failure(err: entity::Error) -> Outcome {
    match err {
        entity::Error::Invalid(message) => failed(JobErrorCode::InvalidInput, message),
        entity::Error::NotFound(what) => {
            failed(JobErrorCode::NotFound, format!("{what} not found"))
        }
        entity::Error::Conflict(message) => failed(JobErrorCode::Conflict, message),
        other => internal(&other),
    }
}

/// An error of jornada's own: logged whole, told as `internal error`.
fn internal(err: &dyn std::error::Error) -> Outcome {
    tracing::error!(error = %err, "job failed on jornada's side");
    failed(JobErrorCode::Internal, "internal error")
}

fn sync_failure(err: SyncError) -> Outcome {
    match err {
        SyncError::NotConfigured(_) => failed(JobErrorCode::InvalidInput, err.to_string()),
        SyncError::Hotmart(HotmartError::Unauthorized | HotmartError::Forbidden) => failed(
            JobErrorCode::InvalidInput,
            "Hotmart refused the configured credentials",
        ),
        SyncError::Hotmart(HotmartError::NotFound) => {
            failed(JobErrorCode::NotFound, "subscription at Hotmart not found")
        }
        SyncError::Hotmart(HotmartError::InvalidParameter(_)) => {
            failed(JobErrorCode::InvalidInput, err.to_string())
        }
        SyncError::Hotmart(other) if other.is_transient() => failed(
            JobErrorCode::Conflict,
            format!("Hotmart did not answer as expected ({other}); try again later"),
        ),
        SyncError::Hotmart(other) => internal(&other),
        SyncError::Entity(e) => entity_failure(e),
    }
}

fn template_sync_failure(err: TemplateSyncError) -> Outcome {
    match err {
        TemplateSyncError::NotConfigured(_) => failed(JobErrorCode::InvalidInput, err.to_string()),
        TemplateSyncError::Graph(send) => match send {
            SendError::NotConfigured { reason } => failed(
                JobErrorCode::InvalidInput,
                format!("WhatsApp is not configured correctly: {reason}"),
            ),
            SendError::Unauthorized { .. } => failed(
                JobErrorCode::InvalidInput,
                "Meta refused whatsapp.token (expired or revoked): set a valid token",
            ),
            SendError::Permanent { code, reason } => failed(
                JobErrorCode::InvalidInput,
                format!(
                    "Meta refused the template listing{}: {reason}; check whatsapp.waba_id and the token's permissions",
                    code.map(|c| format!(" (code {c})")).unwrap_or_default()
                ),
            ),
            SendError::Retry { after, .. } | SendError::RetryMuchLater { after, .. } => failed(
                JobErrorCode::Conflict,
                format!(
                    "Meta is busy or limiting requests; try again in {} s",
                    Ord::max(after.as_secs(), 1)
                ),
            ),
            SendError::Unknown { .. } => failed(
                JobErrorCode::Conflict,
                "Meta did not answer in time; try again",
            ),
            other => internal(&other),
        },
        TemplateSyncError::Entity(e) => entity_failure(e),
    }
}

/// The recovery cron's tick: see [`background_jobs::recover`].
pub async fn recover(_tick: apalis_cron::Tick, worker: Data<Worker>) -> Result<(), BoxDynError> {
    let pushed = background_jobs::recover(&worker.db, worker.clock.now()).await?;
    if pushed > 0 {
        tracing::info!(pushed, "queued jobs pushed onto the job queue again");
    }
    Ok(())
}
