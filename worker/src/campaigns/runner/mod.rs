//! Steps recipients through their campaign's graph, a claimed batch at a time.
//!
//! A batch goes in rounds. Each round walks every recipient, in memory,
//! through the steps that need nothing but its context (conditions, splits,
//! delays, waits, exits) up to the next node with work to do, then stores
//! where each got to in one transaction: moves that go the same way are one
//! statement, and the messages reached are reserved in the same transaction,
//! already claimed as `sending`. Then the provider calls are made, all at
//! once, and the next round's transaction records them together with the
//! moves that follow.
//!
//! Every move is conditional on the recipient still being at the node it was
//! stored at, so a step that already ran never runs again. A message is
//! reserved under (execution, recipient, node) and committed as `sending`
//! before its provider call (`entity::outbox`); a crash mid-call leaves
//! `sending`, which turns `unknown` and is never resent.
//!
//! - `walk`: one recipient's steps in memory, with no I/O;
//! - `send`: the send rules and the provider calls;
//! - `store`: the round's transaction (moves, suggestions, reservations).

pub(crate) mod send;
mod store;
pub(crate) mod walk;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::Duration;
use entity::Tenant;
use entity::dispatch;
use entity::entities::{
    campaign_execution, campaign_recipient, campaign_version, customer, enrollment, transaction,
    workspace,
};
use entity::executions;
use entity::outbox;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value;
use uuid::Uuid;
use workflow::{CompiledGraph, Graph};

use super::policy::{RateLimits, SendPolicy};
use crate::channels::{Channels, ChannelsCache};
use walk::{Leg, Walk};

/// How often a running execution's stored metrics are recounted while
/// recipients are still in flight. A recount reads every recipient and
/// message of the execution, so recounting after every batch made a
/// 100,000-recipient run quadratic; an execution with nobody left in flight
/// is recounted (and completed) at once.
const METRICS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Graphs of published versions, read once per process.
#[derive(Default)]
pub struct GraphCache {
    versions: HashMap<Uuid, Arc<CompiledGraph>>,
}

impl GraphCache {
    async fn get(
        &mut self,
        db: &DatabaseConnection,
        version_id: Uuid,
    ) -> Result<Arc<CompiledGraph>, entity::Error> {
        if let Some(graph) = self.versions.get(&version_id) {
            return Ok(graph.clone());
        }
        let version = campaign_version::Entity::find_by_id(version_id)
            .one(db)
            .await?
            .ok_or(entity::Error::NotFound("campaign version"))?;
        let document: Value = serde_json::from_str(&version.workflow_data)
            .map_err(|e| entity::Error::Invalid(e.to_string()))?;
        let graph =
            Graph::from_value(&document).map_err(|e| entity::Error::Invalid(e.to_string()))?;
        let compiled = Arc::new(CompiledGraph::new(&graph));
        self.versions.insert(version_id, compiled.clone());
        Ok(compiled)
    }
}

/// The product of the event that started the recipient's journey, if any.
fn entry_product(recipient: &campaign_recipient::Model) -> Option<Uuid> {
    recipient
        .entry_key
        .as_ref()
        .and_then(|entry| workflow::EventKey::of(entry).product_id)
}

/// What the runner needs besides the database.
pub struct Runner {
    pub db: DatabaseConnection,
    pub secrets: entity::SecretKey,
    /// Base of tracked links, e.g. `https://cs.example.com`.
    pub public_url: String,
    pub graphs: GraphCache,
    /// Providers per workspace, kept between batches so connections are reused.
    pub channels: ChannelsCache,
    /// How long a claimed recipient or send is reserved (see `entity::outbox::SEND_LEASE`).
    pub lease: Duration,
    pub shared: RunnersShared,
    pub clock: entity::Clock,
    /// Tells live screens which workspaces' queues and metrics moved.
    pub signals: entity::WorkSignals,
}

/// What every runner of a process shares.
#[derive(Clone, Default)]
pub struct RunnersShared {
    /// The rate limits, which are per workspace and channel.
    pub rate_limits: Arc<RateLimits>,
    /// When each execution's stored metrics were last recounted.
    pub metrics_recounted: Arc<Mutex<HashMap<Uuid, std::time::Instant>>>,
    /// When a runner last looked for pending dispatch items past their expiry.
    pub expiry_looked_at: Arc<Mutex<Option<chrono::DateTime<chrono::Utc>>>>,
}

/// How often the runners of a process look for pending dispatch items past
/// their expiry (hours or days after they were suggested). Looking at every
/// turn, as the runners of a busy process take several a second, read the
/// queue dozens of times a second; while its statistics still describe an
/// emptier table (a scan queuing a hundred thousand items), each look read
/// the whole table.
const EXPIRY_LOOK_EVERY: Duration = Duration::seconds(10);

impl RunnersShared {
    /// Whether it is time to look for expired items again (and if so, the
    /// look is taken from now on).
    fn expiry_due(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        let mut looked_at = self
            .expiry_looked_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match *looked_at {
            Some(at) if now - at < EXPIRY_LOOK_EVERY && now >= at => false,
            _ => {
                *looked_at = Some(now);
                true
            }
        }
    }
}

/// What a batch needs to know about a recipient's workspace.
pub struct WorkspaceSetup {
    pub time_zone: chrono_tz::Tz,
    pub channels: Arc<Channels>,
    pub policy: SendPolicy,
    /// Where buyers open their courses (`hotmart.club_url`), for
    /// `{{enrollment.access_url}}`.
    pub access_url: Option<String>,
}

pub use entity::settings::CLUB_URL_SETTING;

impl WorkspaceSetup {
    /// Reads a workspace's clock, channels, send rules and members area.
    pub async fn load(
        db: &sea_orm::DatabaseConnection,
        secrets: &entity::SecretKey,
        channels: &crate::channels::ChannelsCache,
        workspace_id: Uuid,
    ) -> Result<Self, entity::Error> {
        let tenant = Tenant::new(workspace_id);
        let ws = workspace::Entity::find_by_id(workspace_id)
            .one(db)
            .await?
            .ok_or(entity::Error::NotFound("workspace"))?;
        let time_zone = entity::workspaces::clock(&ws);
        Ok(WorkspaceSetup {
            time_zone,
            channels: channels.get(db, secrets, tenant).await?,
            policy: SendPolicy::for_workspace(db, secrets, tenant, time_zone).await?,
            access_url: entity::settings::reveal(db, tenant, secrets, CLUB_URL_SETTING)
                .await?
                .filter(|url| workflow::template::is_http_url(url)),
        })
    }
}

impl Runner {
    /// Claims and advances up to `limit` due recipients; returns how many were claimed.
    pub async fn run_batch(&mut self, limit: u64) -> Result<usize, entity::Error> {
        let now = self.clock.now();
        outbox::expire_leases(&self.db, now).await?;
        if self.shared.expiry_due(now) && dispatch::expire(&self.db, now).await? > 0 {
            self.signals.changed_anywhere();
        }
        let claimed = executions::claim_due(&self.db, limit, now, self.lease).await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let customer_ids: Vec<Uuid> = claimed.iter().map(|r| r.customer_id).collect();
        let customers: HashMap<Uuid, customer::Model> = customer::Entity::find()
            .filter(customer::Column::Id.is_in(customer_ids.clone()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        // Each customer's latest enrollment, and each of its products': a
        // journey started by an event about a product reads that product's.
        let mut enrollments: HashMap<Uuid, enrollment::Model> = HashMap::new();
        let mut enrollments_by_product: HashMap<(Uuid, Uuid), enrollment::Model> = HashMap::new();
        for e in enrollment::Entity::find()
            .filter(enrollment::Column::CustomerId.is_in(customer_ids))
            .order_by_asc(enrollment::Column::CreatedAt)
            .all(&self.db)
            .await?
        {
            enrollments_by_product.insert((e.customer_id, e.product_id), e.clone());
            enrollments.insert(e.customer_id, e);
        }
        // The purchases behind the enrollments: when they were approved and
        // when their warranty ends, for conditions on relative dates.
        let purchases: HashMap<Uuid, transaction::Model> = transaction::Entity::find()
            .filter(
                transaction::Column::Id
                    .is_in(enrollments.values().filter_map(|e| e.transaction_id)),
            )
            .all(&self.db)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        let mut executions_seen: HashMap<Uuid, campaign_execution::Model> = HashMap::new();
        let mut workspaces: HashMap<Uuid, Arc<WorkspaceSetup>> = HashMap::new();
        let mut graphs: HashMap<Uuid, Arc<CompiledGraph>> = HashMap::new();
        for recipient in &claimed {
            if !executions_seen.contains_key(&recipient.execution_id) {
                let execution = campaign_execution::Entity::find_by_id(recipient.execution_id)
                    .one(&self.db)
                    .await?
                    .ok_or(entity::Error::NotFound("campaign execution"))?;
                graphs.insert(
                    execution.id,
                    self.graphs.get(&self.db, execution.version_id).await?,
                );
                executions_seen.insert(execution.id, execution);
            }
            if let std::collections::hash_map::Entry::Vacant(entry) =
                workspaces.entry(recipient.workspace_id)
            {
                let setup = WorkspaceSetup::load(
                    &self.db,
                    &self.secrets,
                    &self.channels,
                    recipient.workspace_id,
                )
                .await?;
                entry.insert(Arc::new(setup));
            }
        }
        let mut walks: Vec<Walk> = claimed
            .iter()
            .filter_map(|recipient| {
                let enrollment = entry_product(recipient)
                    .and_then(|p| enrollments_by_product.get(&(recipient.customer_id, p)))
                    .or_else(|| enrollments.get(&recipient.customer_id));
                let mut walk = Walk::start(
                    recipient,
                    &executions_seen[&recipient.execution_id],
                    graphs[&recipient.execution_id].clone(),
                    customers.get(&recipient.customer_id)?,
                    workspaces[&recipient.workspace_id].clone(),
                    enrollment,
                    now,
                )?;
                if let Some(purchase) = enrollment
                    .and_then(|e| e.transaction_id)
                    .and_then(|id| purchases.get(&id))
                {
                    walk.ctx.enrollment.purchased_at = purchase.approved_at;
                    walk.ctx.enrollment.warranty_ends_at = purchase.warranty_ends_at;
                }
                Some(walk)
            })
            .collect();
        let stepped = self.run_walks(&mut walks).await;
        drop(walks);
        // Even a failed batch may have stored some rounds.
        for workspace_id in workspaces.keys() {
            self.signals.workspace_changed(*workspace_id);
        }
        stepped?;
        for execution_id in executions_seen.keys() {
            // The runner that finds a recount due takes it at once, so the
            // runners beside it do not recount the same execution too.
            let due = {
                let mut recounted = self.recounted();
                if recounted.len() > 10_000 {
                    recounted.clear();
                }
                let due = recounted
                    .get(execution_id)
                    .is_none_or(|at| at.elapsed() >= METRICS_EVERY);
                if due {
                    recounted.insert(*execution_id, std::time::Instant::now());
                }
                due
            };
            if due || !executions::any_in_flight(&self.db, *execution_id).await? {
                executions::refresh_execution(&self.db, *execution_id, now).await?;
            }
        }
        Ok(claimed.len())
    }

    fn recounted(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, std::time::Instant>> {
        self.shared
            .metrics_recounted
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Rounds of walk, store, act, until every walk of the batch is done.
    async fn run_walks(&self, walks: &mut [Walk<'_>]) -> Result<(), entity::Error> {
        let mut accepted = Vec::new();
        loop {
            let now = self.clock.now();
            for walk in walks.iter_mut() {
                walk.walk(now);
            }
            self.check_sends(walks, now).await?;
            self.store(walks, &accepted, now).await?;
            if walks.iter().all(|w| matches!(w.leg, Leg::Done)) {
                return Ok(());
            }
            accepted = self.act(walks).await;
        }
    }
}
