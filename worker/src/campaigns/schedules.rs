//! Schedule-triggered campaigns: every minute the worker starts, for each
//! active campaign whose trigger is `{"source": "schedule", "cron": ..}`, the
//! fire of its cron (on the workspace's clock) that fell due since the last
//! one, as a `scheduled` execution over its target group.
//!
//! Each campaign carries `schedule_checked_until`: fires at or before it were
//! started already, or fell while the campaign was not active (publishing
//! and resuming set it to that moment, so pausing never replays). A worker
//! starts a fire only by moving that mark past it with a conditional UPDATE
//! in the transaction that creates the execution, so however many workers
//! tick, and however often, each fire is started once.

use std::collections::HashMap;

use apalis::prelude::*;
use apalis_cron::Tick;
use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;
use entity::Tenant;
use entity::db::begin_write;
use entity::entities::enums::{CampaignStatus, ExecutionType};
use entity::entities::{campaign, campaign_execution, target_group_mapping, workspace};
use entity::executions;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;
use workflow::nodes::TriggerSource;
use workflow::schedule::CronSchedule;

use super::triggers::{EntryTrigger, entry_trigger};

/// Every minute, on the minute: the finest schedule a campaign may use is
/// per minute, and a fire is started within a minute of falling due.
pub const TICK_SCHEDULE: &str = "0 * * * * *";

/// The cron tick's job.
pub async fn tick(_tick: Tick, worker: Data<crate::Worker>) -> Result<(), BoxDynError> {
    let started = start_due_fires(&worker.db, worker.clock.now()).await?;
    if !started.is_empty() {
        tracing::info!(
            executions = started.len(),
            "scheduled campaign fires started"
        );
        worker.signals.campaign_work_stored();
    }
    Ok(())
}

/// Starts, for every active schedule-triggered campaign, the latest of its
/// fires due at `now` that was not started yet (a worker that was down
/// catches up once, not once per missed fire). Returns the executions
/// started. A campaign whose fire cannot start (its target group deleted,
/// say) is logged and tried again on the next tick; the others go on.
pub async fn start_due_fires(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<Vec<campaign_execution::Model>, entity::Error> {
    // Cron has whole seconds; whole-second marks compare exactly on both backends.
    let now = now.trunc_subsecs(0);
    let active = campaign::Entity::find()
        .filter(campaign::Column::Status.eq(CampaignStatus::Active))
        .order_by_asc(campaign::Column::Id)
        .all(db)
        .await?;
    let mut clocks: HashMap<Uuid, Tz> = HashMap::new();
    let mut started = Vec::new();
    for campaign in active {
        let tenant = Tenant::new(campaign.workspace_id);
        let Some(entry) = entry_trigger(db, tenant, campaign.id).await? else {
            continue;
        };
        if entry.data.source != TriggerSource::Schedule {
            continue;
        }
        // Publishing validates the expression; a version that fails here was
        // written some other way and is skipped rather than guessed at.
        let Some(schedule) = entry
            .data
            .cron
            .as_deref()
            .and_then(|expr| expr.parse::<CronSchedule>().ok())
        else {
            tracing::warn!(campaign = %campaign.id, "schedule trigger without a valid cron");
            continue;
        };
        let clock = match clocks.get(&campaign.workspace_id) {
            Some(clock) => *clock,
            None => {
                let ws = workspace::Entity::find_by_id(campaign.workspace_id)
                    .one(db)
                    .await?
                    .ok_or(entity::Error::NotFound("workspace"))?;
                let clock = entity::workspaces::clock(&ws);
                clocks.insert(ws.id, clock);
                clock
            }
        };
        match start_fire(db, tenant, &campaign, &entry, &schedule, clock, now).await {
            Ok(Some(execution)) => started.push(execution),
            Ok(None) => {}
            Err(err) => {
                tracing::error!(campaign = %campaign.id, error = %err, "starting a scheduled fire failed");
            }
        }
    }
    Ok(started)
}

/// Starts the campaign's due fire, if there is one and no other worker
/// started it first.
async fn start_fire(
    db: &DatabaseConnection,
    tenant: Tenant,
    campaign: &campaign::Model,
    entry: &EntryTrigger,
    schedule: &CronSchedule,
    clock: Tz,
    now: DateTime<Utc>,
) -> Result<Option<campaign_execution::Model>, entity::Error> {
    let Some(checked_until) = campaign.schedule_checked_until else {
        // Active since before schedules were tracked: fires count from now on.
        campaign::Entity::update_many()
            .col_expr(
                campaign::Column::ScheduleCheckedUntil,
                Expr::value(Some(now)),
            )
            .filter(campaign::Column::Id.eq(campaign.id))
            .filter(campaign::Column::ScheduleCheckedUntil.is_null())
            .exec(db)
            .await?;
        return Ok(None);
    };
    let Some(fire) = schedule.latest_fire(clock, checked_until, now) else {
        return Ok(None);
    };
    let group = match entry.data.target_group_id.as_deref() {
        Some(id) => {
            let id = Uuid::parse_str(id).map_err(|_| {
                entity::Error::Invalid(format!(
                    "the schedule trigger's targetGroupId {id:?} is not an ID"
                ))
            })?;
            Some(
                tenant
                    .get::<target_group_mapping::Entity, _>(db, id)
                    .await?,
            )
        }
        None => None,
    };
    let txn = begin_write(db).await?;
    // The claim: only the worker that moves the mark past this fire starts
    // it, and only while the campaign is active (pausing stops fires at once).
    let claimed = campaign::Entity::update_many()
        .col_expr(
            campaign::Column::ScheduleCheckedUntil,
            Expr::value(Some(now)),
        )
        .filter(campaign::Column::Id.eq(campaign.id))
        .filter(campaign::Column::Status.eq(CampaignStatus::Active))
        .filter(campaign::Column::ScheduleCheckedUntil.lt(fire))
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(None);
    }
    let run = executions::Run {
        execution_type: ExecutionType::Scheduled,
        start_node: &entry.node_id,
        scheduled_for: Some(fire),
    };
    let (execution, entered) =
        executions::start(&txn, tenant, campaign.id, group.as_ref(), run, now).await?;
    txn.commit().await?;
    tracing::info!(campaign = %campaign.id, execution = %execution.id, %fire, entered, "scheduled fire started");
    Ok(Some(execution))
}
