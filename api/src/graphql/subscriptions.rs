//! Live updates, so a queue screen and a builder's counters follow what
//! happens without polling (served over WebSocket at `/graphql/ws`).
//!
//! Each subscription sends what it watches at once, then again whenever
//! that changed. It looks again when a change of its workspace is announced
//! (`entity::WorkSignals::workspace_changed`, from this process or, on
//! PostgreSQL, from a worker elsewhere), and every [`RECHECK_EVERY`] in any
//! case, for writers that announce nothing. A look is one query (two when
//! something changed), and a subscription looks at most once every
//! [`LEAST_GAP`]: announcements in between are folded into one look.

use std::collections::BTreeMap;
use std::time::Duration;

use async_graphql::{Context, ID, Json, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use entity::dispatch_item;
use entity::entities::enums::DispatchStatus as StoredStatus;
use entity::{Tenant, WorkSignals, work_signals::Changes};
use futures::Stream;
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ColumnTrait, DatabaseConnection, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select,
};
use serde_json::Value;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use uuid::Uuid;

use super::dispatch::{DispatchFilter, DispatchItem, filtered};
use super::scope::{Access, app, db, parse_id, tenant};
use crate::error::{ApiError, ApiResult};

/// How often a subscription looks again when no change was announced.
pub const RECHECK_EVERY: Duration = Duration::from_secs(5);
/// The least time between two looks of one subscription.
pub const LEAST_GAP: Duration = Duration::from_millis(250);
/// Most changed items one message carries.
pub const MAX_CHANGED_ITEMS: u64 = 100;

/// The dispatch queue as a screen filtering it sees it, after a change.
#[derive(SimpleObject)]
pub struct DispatchQueueChange {
    /// The items that changed since the previous message (created, decided,
    /// sent, expired, edited) and match the filter, its `status` aside: an
    /// item whose status the filter does not take any more has left the
    /// filtered queue. Most recent change first; empty in the first message.
    pub items: Vec<DispatchItem>,
    /// More items changed than a message carries ([`MAX_CHANGED_ITEMS`]):
    /// reload the list.
    pub truncated: bool,
    /// How many items match the filter now.
    pub total_count: u64,
    /// How many of those are pending.
    pub pending_count: u64,
}

/// The subscription root; named apart from the `Subscription` of a
/// customer's Hotmart plan.
#[derive(Default)]
pub struct LiveUpdates;

#[Subscription(name = "SubscriptionRoot")]
impl LiveUpdates {
    /// The workspace's dispatch queue as `filter` sees it: the counts at
    /// once, then a message each time items matching it are created or
    /// change, with those items.
    #[graphql(guard = "Access::Read")]
    async fn dispatch_queue_changed(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        filter: Option<DispatchFilter>,
    ) -> async_graphql::Result<impl Stream<Item = DispatchQueueChange> + use<>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let mut queue = QueueWatch {
            db: db(ctx).clone(),
            tenant,
            filter,
            seen: None,
            watermark: None,
        };
        let first = queue.start().await?;
        Ok(live(&app(ctx).work_signals, tenant, queue, first))
    }

    /// The campaign's metrics, the same object as `campaignMetrics`: at
    /// once, then each time they change.
    #[graphql(guard = "Access::Read")]
    async fn campaign_metrics_changed(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        campaign_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = Json<Value>> + use<>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let campaign_id = parse_id(&campaign_id, "campaignId")?;
        tenant
            .get::<entity::campaign::Entity, _>(db(ctx), campaign_id)
            .await
            .map_err(ApiError::from)?;
        let mut metrics = MetricsWatch {
            db: db(ctx).clone(),
            tenant,
            campaign_id,
            last: Value::Null,
        };
        // The first look always finds metrics (an object) where there were none.
        let first = metrics.look().await?.unwrap_or_default();
        Ok(live(&app(ctx).work_signals, tenant, metrics, first))
    }
}

/// Something a subscription watches: a look tells what changed, if anything.
trait Watched: Send + 'static {
    type Item: Send + 'static;

    fn look(&mut self) -> impl Future<Output = ApiResult<Option<Self::Item>>> + Send;
}

/// `first`, then what each look finds changed, looking when told of a change
/// of the tenant's workspace or every [`RECHECK_EVERY`].
fn live<W: Watched>(
    signals: &WorkSignals,
    tenant: Tenant,
    watched: W,
    first: W::Item,
) -> impl Stream<Item = W::Item> + use<W> {
    let pace = Pace::new(signals.changes(), tenant.workspace_id());
    futures::stream::unfold(
        (pace, watched, Some(first)),
        |(mut pace, mut watched, first)| async move {
            if let Some(first) = first {
                return Some((first, (pace, watched, None)));
            }
            loop {
                pace.next_look().await;
                match watched.look().await {
                    Ok(Some(item)) => return Some((item, (pace, watched, None))),
                    Ok(None) => {}
                    Err(err) => {
                        tracing::warn!(error = ?err, "a subscription could not look for changes")
                    }
                }
            }
        },
    )
}

/// When a subscription looks again.
struct Pace {
    changes: Changes,
    workspace_id: Uuid,
    recheck: Interval,
    last_look: Instant,
}

impl Pace {
    fn new(changes: Changes, workspace_id: Uuid) -> Self {
        let mut recheck = tokio::time::interval_at(Instant::now() + RECHECK_EVERY, RECHECK_EVERY);
        recheck.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Pace {
            changes,
            workspace_id,
            recheck,
            last_look: Instant::now(),
        }
    }

    /// Waits for a change of the workspace or the recheck, but at least
    /// [`LEAST_GAP`] since the last look.
    async fn next_look(&mut self) {
        tokio::time::sleep_until(self.last_look + LEAST_GAP).await;
        loop {
            tokio::select! {
                changed = self.changes.next() => {
                    if changed.concerns(self.workspace_id) {
                        break;
                    }
                }
                _ = self.recheck.tick() => break,
            }
        }
        self.recheck.reset();
        self.last_look = Instant::now();
    }
}

/// What a filter's items look like, cheaply: how many in each status and
/// when the newest change was.
#[derive(Debug, Clone, PartialEq, Eq)]
struct QueueSeen {
    by_status: BTreeMap<String, i64>,
    newest: Option<DateTime<Utc>>,
}

struct QueueWatch {
    db: DatabaseConnection,
    tenant: Tenant,
    filter: Option<DispatchFilter>,
    seen: Option<QueueSeen>,
    /// Items changed after this are reported.
    watermark: Option<DateTime<Utc>>,
}

impl QueueWatch {
    /// The filter's items, its `status` aside.
    fn any_status(&self) -> ApiResult<Select<dispatch_item::Entity>> {
        let filter = self.filter.clone().map(|mut filter| {
            filter.status = None;
            filter
        });
        Ok(unordered(filtered(self.tenant, filter)?))
    }

    /// The counts as they are; what changes after this is reported.
    async fn start(&mut self) -> ApiResult<DispatchQueueChange> {
        let newest: Option<Option<DateTime<Utc>>> = self
            .any_status()?
            .select_only()
            .expr(Func::max(Expr::col(dispatch_item::Column::UpdatedAt)))
            .into_tuple()
            .one(&self.db)
            .await?;
        self.watermark = newest.flatten();
        let seen = self.seen().await?;
        let message = DispatchQueueChange {
            items: Vec::new(),
            truncated: false,
            total_count: seen.total(),
            pending_count: seen.pending(),
        };
        self.seen = Some(seen);
        Ok(message)
    }

    async fn seen(&self) -> ApiResult<QueueSeen> {
        let rows: Vec<(StoredStatus, i64, Option<DateTime<Utc>>)> =
            unordered(filtered(self.tenant, self.filter.clone())?)
                .select_only()
                .column(dispatch_item::Column::Status)
                .expr(Func::count(Expr::col(dispatch_item::Column::Id)))
                .expr(Func::max(Expr::col(dispatch_item::Column::UpdatedAt)))
                .group_by(dispatch_item::Column::Status)
                .into_tuple()
                .all(&self.db)
                .await?;
        Ok(QueueSeen {
            newest: rows.iter().filter_map(|(_, _, at)| *at).max(),
            by_status: rows
                .into_iter()
                .map(|(status, n, _)| (sea_orm::ActiveEnum::to_value(&status), n))
                .collect(),
        })
    }
}

impl QueueSeen {
    fn total(&self) -> u64 {
        self.by_status.values().map(|n| *n as u64).sum()
    }

    fn pending(&self) -> u64 {
        let pending = sea_orm::ActiveEnum::to_value(&StoredStatus::Pending);
        self.by_status.get(&pending).map_or(0, |n| *n as u64)
    }
}

impl Watched for QueueWatch {
    type Item = DispatchQueueChange;

    async fn look(&mut self) -> ApiResult<Option<DispatchQueueChange>> {
        let seen = self.seen().await?;
        if self.seen.as_ref() == Some(&seen) {
            return Ok(None);
        }
        let mut changed = self.any_status()?;
        if let Some(watermark) = self.watermark {
            changed = changed.filter(dispatch_item::Column::UpdatedAt.gt(watermark));
        }
        let mut items = changed
            .order_by_desc(dispatch_item::Column::UpdatedAt)
            .order_by_desc(dispatch_item::Column::Id)
            .limit(MAX_CHANGED_ITEMS + 1)
            .all(&self.db)
            .await?;
        let truncated = items.len() as u64 > MAX_CHANGED_ITEMS;
        items.truncate(MAX_CHANGED_ITEMS as usize);
        self.watermark = self
            .watermark
            .into_iter()
            .chain(items.first().map(|i| i.updated_at))
            .chain(seen.newest)
            .max();
        let message = DispatchQueueChange {
            items: items.into_iter().map(Into::into).collect(),
            truncated,
            total_count: seen.total(),
            pending_count: seen.pending(),
        };
        self.seen = Some(seen);
        Ok(Some(message))
    }
}

/// `select` without an order, for counting and grouping.
fn unordered(mut select: Select<dispatch_item::Entity>) -> Select<dispatch_item::Entity> {
    QueryTrait::query(&mut select).clear_order_by();
    select
}

struct MetricsWatch {
    db: DatabaseConnection,
    tenant: Tenant,
    campaign_id: Uuid,
    last: Value,
}

impl Watched for MetricsWatch {
    type Item = Json<Value>;

    async fn look(&mut self) -> ApiResult<Option<Json<Value>>> {
        let metrics =
            super::executions::campaign_metrics(&self.db, self.tenant, self.campaign_id).await?;
        if metrics == self.last {
            return Ok(None);
        }
        self.last = metrics.clone();
        Ok(Some(Json(metrics)))
    }
}
