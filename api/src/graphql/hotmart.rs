use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::entities::enums::WebhookEventStatus as StoredStatus;
use entity::webhook_event;
use sea_orm::{ColumnTrait, QueryFilter};
use serde_json::Value;

use super::background_jobs::{BackgroundJob, submit};
use super::connection::{Prefetch, Totals, cost, paginate};
use super::scope::{Access, app, db, now, parse_id, tenant};
use crate::error::{ApiError, ApiResult};
use entity::Tenant;
use entity::background_jobs::JobRequest;
use entity::settings::HOTMART_API_KEYS;
use entity::subscription;

#[derive(Enum, Copy, Clone, Eq, PartialEq, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[graphql(remote = "entity::enums::WebhookEventStatus")]
pub enum WebhookEventStatus {
    /// Stored, waiting to be applied.
    Received,
    Processed,
    /// An event name jornada does not act on.
    Ignored,
    /// Failed; retried with backoff.
    Failed,
    /// Out of attempts, or impossible to apply as it is; see `lastError`, then replay.
    Dead,
}

/// A webhook as it arrived, and what became of it.
#[derive(SimpleObject)]
pub struct WebhookEvent {
    pub id: ID,
    pub source: String,
    /// The sender's event id (Hotmart's `id`), unique per workspace and source.
    pub external_id: String,
    pub event_type: String,
    pub status: WebhookEventStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The body exactly as received.
    pub payload: Option<Json<Value>>,
}

impl From<webhook_event::Model> for WebhookEvent {
    fn from(m: webhook_event::Model) -> Self {
        WebhookEvent {
            id: m.id.into(),
            payload: serde_json::from_str(&m.payload).ok().map(Json),
            source: m.source,
            external_id: m.external_id,
            event_type: m.event_type,
            status: m.status.into(),
            attempts: m.attempts,
            last_error: m.last_error,
            received_at: m.received_at,
            processed_at: m.processed_at,
            next_attempt_at: m.next_attempt_at,
        }
    }
}

#[derive(InputObject, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookEventFilter {
    pub status: Option<WebhookEventStatus>,
    pub event_type: Option<String>,
    /// Received at or after.
    pub from: Option<DateTime<Utc>>,
    /// Received before.
    pub to: Option<DateTime<Utc>>,
}

/// The workspace's stored webhook events a filter matches.
pub(crate) fn webhook_events_filtered(
    tenant: entity::Tenant,
    filter: Option<WebhookEventFilter>,
) -> sea_orm::Select<webhook_event::Entity> {
    let filter = filter.unwrap_or_default();
    let mut select = tenant.select::<webhook_event::Entity>();
    if let Some(status) = filter.status {
        select = select.filter(webhook_event::Column::Status.eq(StoredStatus::from(status)));
    }
    if let Some(event_type) = filter.event_type {
        select = select.filter(webhook_event::Column::EventType.eq(event_type.to_uppercase()));
    }
    if let Some(from) = filter.from {
        select = select.filter(webhook_event::Column::ReceivedAt.gte(from));
    }
    if let Some(to) = filter.to {
        select = select.filter(webhook_event::Column::ReceivedAt.lt(to));
    }
    select
}

/// Oldest start a sync may ask for: Hotmart keeps sales history, but a
/// wider window is a job for several calls.
const MAX_SYNC_WINDOW_DAYS: i64 = 366;

impl Prefetch for WebhookEvent {}

/// The code of one of the workspace's subscriptions, or NOT_FOUND.
async fn known_subscription(
    ctx: &Context<'_>,
    tenant: Tenant,
    subscriber_code: String,
) -> ApiResult<String> {
    let subscriber_code = subscriber_code.trim().to_owned();
    tenant
        .select::<subscription::Entity>()
        .filter(subscription::Column::SubscriberCode.eq(subscriber_code.as_str()))
        .one(db(ctx))
        .await?
        .ok_or(ApiError::NotFound("subscription"))?;
    Ok(subscriber_code)
}

#[derive(Default)]
pub struct HotmartQuery;

#[Object]
impl HotmartQuery {
    #[graphql(guard = "Access::Read", complexity = "cost(first, child_complexity)")]
    async fn webhook_events(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        filter: Option<WebhookEventFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, WebhookEvent, Totals>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let select = webhook_events_filtered(tenant, filter);
        paginate(ctx, select, webhook_event::Column::Id, first, after, |m| {
            Ok((m.id, m.into()))
        })
        .await
    }
}

#[derive(Default)]
pub struct HotmartMutation;

#[Object]
impl HotmartMutation {
    /// Queues one event for a fresh round of attempts (applying is idempotent).
    #[graphql(guard = "Access::Write")]
    async fn replay_webhook_event(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
    ) -> ApiResult<WebhookEvent> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let replayed =
            entity::webhook_events::replay(db(ctx), tenant, parse_id(&id, "id")?, now(ctx)).await?;
        app(ctx).work_signals.webhooks_stored();
        Ok(replayed.into())
    }

    /// Queues a sync: sales since `since`, every subscription and the
    /// Club's progress read from Hotmart's API, applying whatever a missed
    /// webhook left out. Answers at once with the job; its `progress`
    /// counts pages read and records applied, its `result` what was applied.
    #[graphql(guard = "Access::Write")]
    async fn sync_hotmart(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        since: DateTime<Utc>,
    ) -> ApiResult<BackgroundJob> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let now = now(ctx);
        if since > now || now - since > chrono::Duration::days(MAX_SYNC_WINDOW_DAYS) {
            return Err(ApiError::invalid(format!(
                "since must be in the last {MAX_SYNC_WINDOW_DAYS} days"
            )));
        }
        let request = JobRequest::HotmartSync { since };
        submit(ctx, tenant, HOTMART_API_KEYS, "Hotmart", request).await
    }

    /// Queues cancelling a subscription at Hotmart (optionally e-mailing
    /// the subscriber), then locally; the job's `result` holds the new status.
    #[graphql(guard = "Access::Write")]
    async fn cancel_subscription(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        subscriber_code: String,
        #[graphql(default)] send_mail: bool,
    ) -> ApiResult<BackgroundJob> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let subscriber_code = known_subscription(ctx, tenant, subscriber_code).await?;
        let request = JobRequest::SubscriptionCancel {
            subscriber_code,
            send_mail,
        };
        submit(ctx, tenant, HOTMART_API_KEYS, "Hotmart", request).await
    }

    /// Queues reactivating a subscription at Hotmart (optionally charging
    /// at once), then locally; the job's `result` holds the new status.
    #[graphql(guard = "Access::Write")]
    async fn reactivate_subscription(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        subscriber_code: String,
        #[graphql(default)] charge: bool,
    ) -> ApiResult<BackgroundJob> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let subscriber_code = known_subscription(ctx, tenant, subscriber_code).await?;
        let request = JobRequest::SubscriptionReactivate {
            subscriber_code,
            charge,
        };
        submit(ctx, tenant, HOTMART_API_KEYS, "Hotmart", request).await
    }

    /// Queues every dead event of the workspace again; returns them.
    #[graphql(guard = "Access::Write")]
    async fn replay_dead_webhook_events(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
    ) -> ApiResult<Vec<WebhookEvent>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let replayed = entity::webhook_events::replay_dead(db(ctx), tenant, now(ctx)).await?;
        app(ctx).work_signals.webhooks_stored();
        Ok(replayed.into_iter().map(Into::into).collect())
    }
}
