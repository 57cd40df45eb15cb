//! Background jobs: work the API hands to the worker (a Hotmart sync,
//! cancelling a subscription, mirroring templates). The mutation that asks
//! for one answers at once with the queued job; the client follows it with
//! `backgroundJob(id)` until it has succeeded or failed.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::Tenant;
use entity::background_job;
use entity::background_jobs::{self, JobRequest};
use entity::enums::{BackgroundJobKind as StoredKind, BackgroundJobStatus as StoredStatus};
use sea_orm::{ColumnTrait, QueryFilter};
use serde_json::Value;

use super::connection::{Prefetch, Totals, cost, paginate};
use super::scope::{Access, db, now, parse_id, tenant};
use crate::error::{ApiError, ApiResult};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "entity::enums::BackgroundJobKind")]
pub enum BackgroundJobKind {
    /// `syncHotmart`: sales, subscriptions and Club progress read from Hotmart.
    HotmartSync,
    /// `cancelSubscription`.
    SubscriptionCancel,
    /// `reactivateSubscription`.
    SubscriptionReactivate,
    /// `syncTemplates`: the WhatsApp templates mirrored from Meta.
    TemplateSync,
    /// `runAutomationRule`: a scan rule run now (or its dry run).
    AutomationScan,
    /// Labels written to a customer's Chatwoot conversation (by a journey's
    /// `updateCustomer` or an automation rule).
    ChatwootLabels,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "entity::enums::BackgroundJobStatus")]
pub enum BackgroundJobStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker is on it; see `progress`.
    Running,
    /// Done; see `result`.
    Succeeded,
    /// Done without success; see `error`.
    Failed,
}

/// Why a job failed, with the same stable codes as the API's errors.
#[derive(SimpleObject)]
pub struct BackgroundJobError {
    /// INVALID_INPUT (settings missing, credentials refused), NOT_FOUND,
    /// CONFLICT (the provider is busy: ask again later) or INTERNAL.
    pub code: String,
    pub message: String,
}

/// Work the worker does for the workspace, as it stands.
#[derive(SimpleObject)]
pub struct BackgroundJob {
    pub id: ID,
    pub kind: BackgroundJobKind,
    pub status: BackgroundJobStatus,
    /// What was asked, e.g. `{"kind": "hotmart_sync", "since": "…"}`.
    pub input: Json<Value>,
    /// How far a running job got, e.g. a sync's pages read and records applied.
    pub progress: Option<Json<Value>>,
    /// What a succeeded job produced, e.g. a sync's counts or the subscription's new status.
    pub result: Option<Json<Value>>,
    pub error: Option<BackgroundJobError>,
    /// Times a worker started it (more than one after a worker died mid-run).
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<background_job::Model> for BackgroundJob {
    fn from(m: background_job::Model) -> Self {
        BackgroundJob {
            id: m.id.into(),
            kind: m.kind.into(),
            status: m.status.into(),
            input: Json(m.input),
            progress: m.progress.map(Json),
            result: m.result.map(Json),
            error: m.error_code.map(|code| BackgroundJobError {
                code,
                message: m.error_message.unwrap_or_default(),
            }),
            attempts: m.attempts,
            created_at: m.created_at,
            started_at: m.started_at,
            finished_at: m.finished_at,
        }
    }
}

impl Prefetch for BackgroundJob {}

#[derive(InputObject, Default)]
pub struct BackgroundJobFilter {
    pub kind: Option<BackgroundJobKind>,
    pub status: Option<BackgroundJobStatus>,
}

/// Queues a job for `request` after checking that the workspace has set
/// `needs`: a job that could only fail on a missing setting is refused at
/// once, naming it.
pub async fn submit(
    ctx: &Context<'_>,
    tenant: Tenant,
    needs: &[&'static str],
    what: &str,
    request: JobRequest,
) -> ApiResult<BackgroundJob> {
    if let Some(key) = entity::settings::first_unset(db(ctx), tenant, needs).await? {
        return Err(ApiError::invalid(format!(
            "{what} is not configured for this workspace: set {key}"
        )));
    }
    Ok(background_jobs::submit(db(ctx), tenant, request, now(ctx))
        .await?
        .into())
}

#[derive(Default)]
pub struct BackgroundJobQuery;

#[Object]
impl BackgroundJobQuery {
    /// One job of the workspace.
    #[graphql(guard = "Access::Read")]
    async fn background_job(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
    ) -> ApiResult<BackgroundJob> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let id = parse_id(&id, "id")?;
        Ok(tenant
            .get::<background_job::Entity, _>(db(ctx), id)
            .await?
            .into())
    }

    /// The workspace's jobs, newest first.
    #[graphql(guard = "Access::Read", complexity = "cost(first, child_complexity)")]
    async fn background_jobs(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        filter: Option<BackgroundJobFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, BackgroundJob, Totals>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let filter = filter.unwrap_or_default();
        let mut select = tenant.select::<background_job::Entity>();
        if let Some(kind) = filter.kind {
            select = select.filter(background_job::Column::Kind.eq(StoredKind::from(kind)));
        }
        if let Some(status) = filter.status {
            select = select.filter(background_job::Column::Status.eq(StoredStatus::from(status)));
        }
        paginate(ctx, select, background_job::Column::Id, first, after, |m| {
            Ok((m.id, m.into()))
        })
        .await
    }
}
