//! Keeping the figures' tables caught up: per workspace, the days whose
//! transactions changed are added up again, and the subscriptions whose
//! history grew have their movements derived again. Everything is added
//! up again when the workspace's time zone or its grace changes.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, Set,
    TransactionTrait,
};

use super::{cohort_rollup, recurring, revenue};
use crate::db::{LockForChange, insert_ignoring_conflict};
use crate::entities::{analytics_rollup, workspace};
use crate::error::Result;
use crate::secrets::SecretKey;
use crate::tenant::Tenant;

/// How many days a payment may be late before its subscription stops
/// counting in MRR.
pub const GRACE_SETTING: &str = "analytics.past_due_grace_days";
pub const DEFAULT_GRACE_DAYS: i32 = 7;
/// Rows written by transactions still open when a catch-up read are seen
/// by the next one: each looks this far behind where the last one stopped.
pub const LOOK_BACK: Duration = Duration::minutes(5);

/// What one catch-up rewrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CaughtUp {
    /// Days whose figures moved.
    pub days: usize,
    /// Subscriptions whose movements moved.
    pub subscriptions: usize,
}

impl CaughtUp {
    pub fn total(&self) -> usize {
        self.days + self.subscriptions
    }
}

/// The workspace's grace for late payments, in days.
pub async fn grace_days(
    db: &DatabaseConnection,
    secrets: &SecretKey,
    tenant: Tenant,
) -> Result<i32> {
    crate::settings::whole_number(
        db,
        tenant,
        secrets,
        GRACE_SETTING,
        DEFAULT_GRACE_DAYS,
        0..=365,
    )
    .await
}

/// Starts a new workspace's figures, caught up at its creation: it has
/// nothing to add up yet, and the first catch-up only looks at what came
/// after.
pub async fn start<C: ConnectionTrait>(
    db: &C,
    workspace: &workspace::Model,
    now: DateTime<Utc>,
) -> Result<()> {
    analytics_rollup::Model {
        id: workspace.id,
        time_zone: workspace.time_zone.clone(),
        revenue_until: Some(now),
        movements_until: Some(now),
        past_due_grace_days: DEFAULT_GRACE_DAYS,
        updated_at: now,
    }
    .into_active_model()
    .insert(db)
    .await?;
    Ok(())
}

/// Catches every workspace's figures up with what was recorded until `now`.
pub async fn catch_up(
    db: &DatabaseConnection,
    secrets: &SecretKey,
    now: DateTime<Utc>,
) -> Result<CaughtUp> {
    let mut caught = CaughtUp::default();
    for workspace in workspace::Entity::find().all(db).await? {
        let done = catch_up_workspace(db, secrets, &workspace, false, now).await?;
        caught.days += done.days;
        caught.subscriptions += done.subscriptions;
    }
    Ok(caught)
}

/// Catches one workspace's figures up; `from_scratch` adds everything up
/// again (what a backfill does), as does the first catch-up of a workspace
/// older than the figures' tables.
pub async fn catch_up_workspace(
    db: &DatabaseConnection,
    secrets: &SecretKey,
    workspace: &workspace::Model,
    from_scratch: bool,
    now: DateTime<Utc>,
) -> Result<CaughtUp> {
    let tenant = Tenant::new(workspace.id);
    let tz = crate::workspaces::clock(workspace);
    let grace = grace_days(db, secrets, tenant).await?;
    let txn = db.begin().await?;
    let first = analytics_rollup::Model {
        id: workspace.id,
        time_zone: workspace.time_zone.clone(),
        revenue_until: None,
        movements_until: None,
        past_due_grace_days: grace,
        updated_at: now,
    };
    insert_ignoring_conflict(
        &txn,
        first.into_active_model(),
        OnConflict::column(analytics_rollup::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .await?;
    let Some(state) = analytics_rollup::Entity::find_by_id(workspace.id)
        .lock_for_change()
        .one(&txn)
        .await?
    else {
        return Ok(CaughtUp::default());
    };
    let same_calendar = !from_scratch && state.time_zone == workspace.time_zone;
    let revenue_since = state.revenue_until.filter(|_| same_calendar);
    let days = match revenue_since {
        Some(since) => {
            let touched = revenue::touched_since(&txn, tenant, tz, since - LOOK_BACK).await?;
            let moved =
                cohort_rollup::refresh_members(&txn, tenant, tz, &touched.customers).await?;
            let mut days = touched.days;
            days.extend(revenue::days_of(&txn, tenant, tz, &moved).await?);
            if days.is_empty() {
                0
            } else {
                revenue::refresh_days(&txn, tenant, tz, Some(&days)).await?
            }
        }
        None => revenue::refresh_days(&txn, tenant, tz, None).await?,
    };
    let movements_since = state
        .movements_until
        .filter(|_| same_calendar && state.past_due_grace_days == grace)
        .map(|since| since - LOOK_BACK);
    let changed = recurring::changed_since(&txn, tenant, movements_since).await?;
    let subscriptions =
        recurring::refresh_movements(&txn, tenant, tz, Duration::days(i64::from(grace)), &changed)
            .await?;
    let mut state = state.into_active_model();
    state.time_zone = Set(workspace.time_zone.clone());
    state.revenue_until = Set(Some(now));
    state.movements_until = Set(Some(now));
    state.past_due_grace_days = Set(grace);
    state.updated_at = Set(now);
    state.update(&txn).await?;
    txn.commit().await?;
    Ok(CaughtUp {
        days,
        subscriptions,
    })
}
