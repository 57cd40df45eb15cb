//! Publishing campaigns and running them: versions, executions, recipients.
//!
//! An execution pins the version it started with, so editing or republishing
//! a campaign never changes recipients already in flight.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::audiences;
use crate::db::LockForChange;
use crate::db::{begin_write, new_id};
use crate::entities::enums::{CampaignStatus, ExecutionStatus, ExecutionType, MessageStatus};
use crate::entities::{
    campaign, campaign_execution, campaign_recipient, campaign_version, message,
    target_group_mapping,
};
use crate::error::{Error, Result};
use crate::tenant::Tenant;

mod metrics;
pub use metrics::{metrics, recount_settling, refresh_execution};

/// A recipient's place in the journey.
pub mod recipient_status {
    /// Due to take its next step at `wake_at`.
    pub const ACTIVE: &str = "active";
    /// Waiting for a delay, an event or an approval (until `wake_at`).
    pub const WAITING: &str = "waiting";
    pub const COMPLETED: &str = "completed";
    pub const FAILED: &str = "failed";
    /// A send whose outcome is unknown (the worker died mid-call); never resent.
    pub const UNKNOWN: &str = "unknown";
    pub const CANCELLED: &str = "cancelled";
    pub const IN_FLIGHT: [&str; 2] = [ACTIVE, WAITING];
}

/// Recipients still in flight, as the partial index over them has it
/// (migration `m20261201_000013_due_work_in_order`).
fn in_flight() -> Expr {
    crate::db::status_is("campaign_recipients", recipient_status::IN_FLIGHT)
}

/// How long a claimed recipient is reserved for the runner that claimed it,
/// unless the worker is configured otherwise.
pub const STEP_LEASE: Duration = Duration::seconds(60);
/// Recipients enrolled per statement: 18 columns each keeps a chunk under
/// SQLite's 32,766 bound parameters.
const ENROLL_CHUNK: usize = 1500;

/// Publishes the campaign's current document as a new immutable version and
/// makes the campaign active.
pub async fn publish(
    db: &DatabaseConnection,
    tenant: Tenant,
    campaign_id: Uuid,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(campaign::Model, campaign_version::Model)> {
    let txn = begin_write(db).await?;
    let current = tenant
        .select::<campaign::Entity>()
        .filter(campaign::Column::Id.eq(campaign_id))
        .lock_for_change()
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("campaign"))?;
    let published = tenant
        .select::<campaign_version::Entity>()
        .filter(campaign_version::Column::CampaignId.eq(campaign_id))
        .count(&txn)
        .await?;
    let version = campaign_version::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        campaign_id: Set(campaign_id),
        version: Set(published as i32 + 1),
        workflow_data: Set(current.workflow_data.clone()),
        published_by: Set(Some(actor.to_owned())),
        published_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let started_at = current.started_at.or(Some(now));
    // A schedule trigger counts its fires from the moment the campaign goes
    // live; republishing a live campaign keeps its place, so a fire already
    // due is still started.
    let arm_schedule = current.status != CampaignStatus::Active;
    let mut model = current.into_active_model();
    if arm_schedule {
        model.schedule_checked_until = Set(Some(now));
    }
    model.status = Set(CampaignStatus::Active);
    model.started_at = Set(started_at);
    model.updated_at = Set(now);
    let campaign = model.update(&txn).await?;
    txn.commit().await?;
    Ok((campaign, version))
}

/// Pauses (active → paused) or resumes (paused → active) a campaign.
pub async fn set_running(
    db: &DatabaseConnection,
    tenant: Tenant,
    campaign_id: Uuid,
    running: bool,
    now: DateTime<Utc>,
) -> Result<campaign::Model> {
    let txn = begin_write(db).await?;
    let current = tenant.get::<campaign::Entity, _>(&txn, campaign_id).await?;
    let (from, to) = if running {
        (CampaignStatus::Paused, CampaignStatus::Active)
    } else {
        (CampaignStatus::Active, CampaignStatus::Paused)
    };
    if current.status != from {
        return Err(Error::Conflict(format!(
            "only a {} campaign can be {}",
            if running { "paused" } else { "active" },
            if running { "resumed" } else { "paused" }
        )));
    }
    let mut model = current.into_active_model();
    if running {
        // Fires that fell while paused are skipped, never replayed.
        model.schedule_checked_until = Set(Some(now));
    }
    model.status = Set(to);
    model.updated_at = Set(now);
    let updated = model.update(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

pub async fn latest_version<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    campaign_id: Uuid,
) -> Result<Option<campaign_version::Model>> {
    Ok(tenant
        .select::<campaign_version::Entity>()
        .filter(campaign_version::Column::CampaignId.eq(campaign_id))
        .order_by_desc(campaign_version::Column::Version)
        .one(db)
        .await?)
}

/// How an execution starts: its type, the node its recipients are placed
/// at, and the cron fire it is for (a `scheduled` one).
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    pub execution_type: ExecutionType,
    pub start_node: &'a str,
    pub scheduled_for: Option<DateTime<Utc>>,
}

/// Starts an execution of the campaign's latest version over a target
/// group's customers (every customer of the workspace without one), each
/// placed at `start_node`; returns it with the number of recipients.
/// `scheduled_for` names the cron fire of a `scheduled` execution: a campaign
/// has at most one execution per fire.
pub async fn start<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    campaign_id: Uuid,
    group: Option<&target_group_mapping::Model>,
    run: Run<'_>,
    now: DateTime<Utc>,
) -> Result<(campaign_execution::Model, u64)> {
    let Run {
        execution_type,
        start_node,
        scheduled_for,
    } = run;
    let campaign = tenant.get::<campaign::Entity, _>(db, campaign_id).await?;
    if campaign.status != CampaignStatus::Active {
        return Err(Error::Conflict(
            "only an active (published, not paused) campaign can run".into(),
        ));
    }
    let version = latest_version(db, tenant, campaign_id)
        .await?
        .ok_or_else(|| Error::Conflict("publish the campaign before running it".into()))?;
    // Created `running`: recipients are claimable as soon as they are inserted.
    let execution = campaign_execution::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        campaign_id: Set(campaign_id),
        version_id: Set(version.id),
        target_group_id: Set(group.map(|g| g.id)),
        execution_type: Set(execution_type),
        status: Set(ExecutionStatus::Running),
        execution_data: Set(json!({
            "version": version.version,
            "targetGroup": group.map(|g| g.crm_name.as_str()),
        })),
        metrics: Set(json!({})),
        started_at: Set(now),
        completed_at: Set(None),
        scheduled_for: Set(scheduled_for),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    let mut entered = 0u64;
    let mut after = None;
    loop {
        let page = audiences::audience_page(db, tenant, group, after, 5000, now).await?;
        let Some(last) = page.last().copied() else {
            break;
        };
        after = Some(last);
        for chunk in page.chunks(ENROLL_CHUNK) {
            entered += enroll(db, tenant, &execution, chunk, start_node, now).await?;
        }
    }
    Ok((execution, entered))
}

/// Adds customers to an execution at `node`, once each.
pub async fn enroll<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    execution: &campaign_execution::Model,
    customers: &[Uuid],
    node: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    let entries: Vec<Entry> = customers.iter().map(|c| Entry::plain(*c)).collect();
    enroll_entries(db, tenant, execution, &entries, node, now).await
}

/// One customer entering an execution.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub customer_id: Uuid,
    /// What the event that started the entry was about (see
    /// `campaign_recipient::Model::entry_key`).
    pub entry_key: Option<Value>,
    /// The per-key re-entry key; empty unless the trigger re-enters per key.
    pub reentry_key: String,
}

impl Entry {
    /// An entry not started by an event.
    pub fn plain(customer_id: Uuid) -> Self {
        Self {
            customer_id,
            entry_key: None,
            reentry_key: String::new(),
        }
    }
}

/// Adds entries to an execution at `node`, once per (customer, re-entry key).
pub async fn enroll_entries<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    execution: &campaign_execution::Model,
    entries: &[Entry],
    node: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    if entries.is_empty() {
        return Ok(0);
    }
    let rows = entries.iter().map(|entry| campaign_recipient::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        campaign_id: Set(execution.campaign_id),
        execution_id: Set(execution.id),
        customer_id: Set(entry.customer_id),
        channel: Set(None),
        status: Set(recipient_status::ACTIVE.to_owned()),
        current_node_id: Set(Some(node.to_owned())),
        wake_at: Set(Some(now)),
        state: Set(json!({})),
        sent_at: Set(None),
        delivered_at: Set(None),
        opened_at: Set(None),
        clicked_at: Set(None),
        converted_at: Set(None),
        revenue: Set(None),
        error: Set(None),
        entry_key: Set(entry.entry_key.clone()),
        reentry_key: Set(crate::facts::fit(&entry.reentry_key, 160)),
        created_at: Set(now),
        updated_at: Set(now),
    });
    let inserted = campaign_recipient::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                campaign_recipient::Column::ExecutionId,
                campaign_recipient::Column::CustomerId,
                campaign_recipient::Column::ReentryKey,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(inserted)
}

/// Reserves up to `limit` recipients due for a step, in running executions of
/// active campaigns only (a paused campaign's recipients stay where they are).
pub async fn claim_due(
    db: &DatabaseConnection,
    limit: u64,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<Vec<campaign_recipient::Model>> {
    let due = campaign_recipient::Entity::find()
        .filter(in_flight())
        .filter(campaign_recipient::Column::WakeAt.lte(now));
    if !crate::db::any_row(db, due).await? {
        return Ok(Vec::new());
    }
    let live_executions = Query::select()
        .column((campaign_execution::Entity, campaign_execution::Column::Id))
        .from(campaign_execution::Entity)
        .inner_join(
            campaign::Entity,
            Expr::col((campaign::Entity, campaign::Column::Id)).equals((
                campaign_execution::Entity,
                campaign_execution::Column::CampaignId,
            )),
        )
        .and_where(campaign_execution::Column::Status.eq(ExecutionStatus::Running))
        .and_where(campaign::Column::Status.eq(CampaignStatus::Active))
        .to_owned();
    let due = campaign_recipient::Entity::find()
        .filter(in_flight())
        .filter(campaign_recipient::Column::WakeAt.lte(now))
        .filter(campaign_recipient::Column::ExecutionId.in_subquery(live_executions))
        .order_by_asc(campaign_recipient::Column::WakeAt)
        .limit(limit);
    let reserve = campaign_recipient::Entity::update_many().col_expr(
        campaign_recipient::Column::WakeAt,
        Expr::value(Some(now + lease)),
    );
    let mut recipients = crate::db::claim(db, due, campaign_recipient::Column::Id, reserve).await?;
    recipients.sort_by_key(|r| r.id);
    Ok(recipients)
}

/// Whether a campaign may send right now (active, not paused).
///
/// Read under a share lock on PostgreSQL, for the rest of the caller's
/// transaction: a pause waits for every round that saw the campaign active
/// to commit its reservations, so once `pauseCampaign` has returned no
/// round that read the campaign active is still reserving sends. (SQLite's
/// one writer already orders the two.)
pub async fn campaign_sending<C: ConnectionTrait>(db: &C, campaign_id: Uuid) -> Result<bool> {
    Ok(campaign::Entity::find_by_id(campaign_id)
        .lock(sea_orm::sea_query::LockType::Share)
        .one(db)
        .await?
        .is_some_and(|c| c.status == CampaignStatus::Active))
}

/// Where a recipient goes after a step.
#[derive(Debug, Clone)]
pub struct Move {
    pub status: &'static str,
    pub node: Option<String>,
    pub wake_at: Option<DateTime<Utc>>,
    pub state: Option<Value>,
    pub error: Option<String>,
}

/// Moves a recipient, only if it is still at `from_node` (a step that
/// already ran is never run again).
pub async fn move_recipient<C: ConnectionTrait>(
    db: &C,
    recipient_id: Uuid,
    from_node: &str,
    to: Move,
    now: DateTime<Utc>,
) -> Result<bool> {
    move_recipient_from(
        db,
        recipient_id,
        from_node,
        &recipient_status::IN_FLIGHT,
        to,
        now,
    )
    .await
}

/// [`move_recipient`] from any of `from_statuses`.
async fn move_recipient_from<C: ConnectionTrait>(
    db: &C,
    recipient_id: Uuid,
    from_node: &str,
    from_statuses: &[&str],
    to: Move,
    now: DateTime<Utc>,
) -> Result<bool> {
    let moved = move_recipients_from(
        db,
        &[recipient_id],
        from_node,
        from_statuses,
        &to,
        None,
        now,
    )
    .await?;
    Ok(moved.len() == 1)
}

/// Moves every one of `recipient_ids` still at `from_node` (and in flight)
/// the same way, in one statement; returns those that moved. `sent_at`
/// stamps the recipients' first send as it goes.
pub async fn move_recipients<C: ConnectionTrait>(
    db: &C,
    recipient_ids: &[Uuid],
    from_node: &str,
    to: &Move,
    sent_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    move_recipients_from(
        db,
        recipient_ids,
        from_node,
        &recipient_status::IN_FLIGHT,
        to,
        sent_at,
        now,
    )
    .await
}

async fn move_recipients_from<C: ConnectionTrait>(
    db: &C,
    recipient_ids: &[Uuid],
    from_node: &str,
    from_statuses: &[&str],
    to: &Move,
    sent_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    if recipient_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut update = campaign_recipient::Entity::update_many()
        .col_expr(campaign_recipient::Column::Status, Expr::value(to.status))
        .col_expr(
            campaign_recipient::Column::CurrentNodeId,
            Expr::value(to.node.clone()),
        )
        .col_expr(campaign_recipient::Column::WakeAt, Expr::value(to.wake_at))
        .col_expr(campaign_recipient::Column::UpdatedAt, Expr::value(now));
    if let Some(state) = &to.state {
        update = update.col_expr(
            campaign_recipient::Column::State,
            Expr::value(state.clone()),
        );
    }
    if let Some(error) = &to.error {
        update = update.col_expr(
            campaign_recipient::Column::Error,
            Expr::value(Some(error.clone())),
        );
    }
    if let Some(at) = sent_at {
        update = update.col_expr(
            campaign_recipient::Column::SentAt,
            Expr::col(campaign_recipient::Column::SentAt).if_null(Expr::value(at)),
        );
    }
    let mut statement = update
        .filter(campaign_recipient::Column::Id.is_in(recipient_ids.iter().copied()))
        .filter(campaign_recipient::Column::CurrentNodeId.eq(from_node))
        .filter(campaign_recipient::Column::Status.is_in(from_statuses.iter().copied()))
        .into_query();
    statement.returning_col(campaign_recipient::Column::Id);
    db.query_all(&statement)
        .await?
        .iter()
        .map(|row| Ok(row.try_get_by_index::<Uuid>(0)?))
        .collect()
}

/// The `state` key of a recipient whose `unknown` send was settled as
/// accepted by the provider: the runner takes it past its send node without
/// sending (see `worker::campaigns::runner`).
pub const RECONCILED_KEY: &str = "reconciledSend";

/// A recipient parked `unknown` at the node of `message` takes the outcome
/// the provider has since reported for it: accepted (sent, delivered, read)
/// makes it due again at that node, marked [`RECONCILED_KEY`], for the
/// runner to continue its journey; failed ends it `failed` with the
/// message's error. Conditional on the recipient still being `unknown` at
/// that node, so however many callbacks arrive, concurrently or not, it
/// moves once. A completed execution is reopened so the runner takes the
/// recipient up again (it completes once more when nobody is left in
/// flight); a cancelled or failed one is left alone. Returns the execution
/// when the recipient moved.
pub async fn settle_unknown_recipient<C: ConnectionTrait>(
    db: &C,
    message: &message::Model,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>> {
    let (Some(recipient_id), Some(node)) = (message.campaign_recipient_id, &message.node_id) else {
        return Ok(None);
    };
    let to = match message.status {
        MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Read => Move {
            status: recipient_status::ACTIVE,
            node: Some(node.clone()),
            wake_at: Some(now),
            state: Some(json!({ RECONCILED_KEY: message.id })),
            error: None,
        },
        MessageStatus::Failed => Move {
            status: recipient_status::FAILED,
            node: Some(node.clone()),
            wake_at: None,
            state: None,
            error: Some(
                message
                    .error
                    .clone()
                    .unwrap_or_else(|| "the provider reported the message failed".into()),
            ),
        },
        MessageStatus::Queued | MessageStatus::Sending | MessageStatus::Unknown => {
            return Ok(None);
        }
    };
    let Some(recipient) = campaign_recipient::Entity::find_by_id(recipient_id)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if recipient.status != recipient_status::UNKNOWN
        || recipient.current_node_id.as_deref() != Some(node.as_str())
    {
        return Ok(None);
    }
    let execution_id = recipient.execution_id;
    let open = campaign_execution::Entity::find_by_id(execution_id)
        .one(db)
        .await?
        .is_some_and(|e| {
            matches!(
                e.status,
                ExecutionStatus::Running | ExecutionStatus::Completed
            )
        });
    if !open {
        return Ok(None);
    }
    let continues = to.status == recipient_status::ACTIVE;
    if !move_recipient_from(
        db,
        recipient_id,
        node,
        &[recipient_status::UNKNOWN],
        to,
        now,
    )
    .await?
    {
        return Ok(None);
    }
    if continues {
        // The outcome is known now: the parking note no longer holds.
        campaign_recipient::Entity::update_many()
            .col_expr(
                campaign_recipient::Column::Error,
                Expr::value(Option::<String>::None),
            )
            .filter(campaign_recipient::Column::Id.eq(recipient_id))
            .exec(db)
            .await?;
        campaign_execution::Entity::update_many()
            .col_expr(
                campaign_execution::Column::Status,
                Expr::value(ExecutionStatus::Running),
            )
            .col_expr(
                campaign_execution::Column::CompletedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(campaign_execution::Column::UpdatedAt, Expr::value(now))
            .filter(campaign_execution::Column::Id.eq(execution_id))
            .filter(campaign_execution::Column::Status.eq(ExecutionStatus::Completed))
            .exec(db)
            .await?;
    }
    Ok(Some(execution_id))
}

/// Stamps a delivery milestone on the recipient (first time only).
pub async fn mark_recipient<C: ConnectionTrait>(
    db: &C,
    recipient_id: Uuid,
    column: campaign_recipient::Column,
    at: DateTime<Utc>,
) -> Result<()> {
    campaign_recipient::Entity::update_many()
        .col_expr(column, Expr::value(Some(at)))
        .filter(campaign_recipient::Column::Id.eq(recipient_id))
        .filter(column.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Whether any recipient of the execution is still active or waiting.
pub async fn any_in_flight<C: ConnectionTrait>(db: &C, execution_id: Uuid) -> Result<bool> {
    let in_flight = campaign_recipient::Entity::find()
        .filter(campaign_recipient::Column::ExecutionId.eq(execution_id))
        .filter(in_flight());
    Ok(crate::db::any_row(db, in_flight).await?)
}
