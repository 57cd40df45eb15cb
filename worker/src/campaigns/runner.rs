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

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use entity::dispatch::{self, Suggestion};
use entity::entities::enums::{Channel, MessageStatus};
use entity::entities::message_template;
use entity::entities::{
    campaign_execution, campaign_recipient, campaign_version, customer, enrollment, workspace,
};
use entity::executions::{self, Move, recipient_status};
use entity::outbox::{self, NewMessage};
use entity::{Tenant, customers};
use futures::StreamExt;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};
use serde_json::{Value, json};
use uuid::Uuid;
use workflow::{
    CompiledGraph, Graph, OutboundMessage, RecipientContext, RenderedMessage, StepInput,
    Transition, UpdateCustomerData,
};

use super::policy::{RateLimits, SendHistory, SendPolicy, Verdict, whatsapp_window_until};
use crate::channels::{ChannelMessage, Channels, ChannelsCache, Content, Recipient, SendError};

/// Steps one recipient may take per claim before yielding to others.
const MAX_STEPS_PER_CLAIM: usize = 32;
/// How often a running execution's stored metrics are recounted while
/// recipients are still in flight. A recount reads every recipient and
/// message of the execution, so recounting after every batch made a
/// 100,000-recipient run quadratic; an execution with nobody left in flight
/// is recounted (and completed) at once.
const METRICS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// Provider calls (and customer updates) a batch has under way at once.
const CONCURRENT_CALLS: usize = 64;

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
}

/// What every runner of a process shares.
#[derive(Clone, Default)]
pub struct RunnersShared {
    /// The rate limits, which are per workspace and channel.
    pub rate_limits: Arc<RateLimits>,
    /// When each execution's stored metrics were last recounted.
    pub metrics_recounted: Arc<Mutex<HashMap<Uuid, std::time::Instant>>>,
}

/// A claimed recipient on its way through its graph within one batch.
struct Walk<'a> {
    recipient: &'a campaign_recipient::Model,
    execution: &'a campaign_execution::Model,
    graph: Arc<CompiledGraph>,
    customer: &'a customer::Model,
    ctx: RecipientContext,
    setup: Arc<WorkspaceSetup>,
    /// The node its stored row is at.
    stored: String,
    /// The node the walk has reached.
    at: String,
    input: StepInput,
    steps: usize,
    /// Whether the walk went anywhere since it was last stored.
    moved: bool,
    /// The state and error the latest steps left, stored with the next move.
    state: Option<Value>,
    error: Option<String>,
    /// Stamps the recipient's first send with the next move.
    sent_at: Option<DateTime<Utc>>,
    leg: Leg,
}

/// Where a walk is in its batch.
enum Leg {
    /// Steps on from `at` in the next round.
    Walking,
    /// Reached a node with work to do; stored at it before the work is done.
    Act(Act),
    /// Its journey for this claim ends with this move, stored next.
    Settled(Move),
    /// Nothing left: its last move is stored, or another step moved it first.
    Done,
}

/// Work a node asks for.
enum Act {
    /// A `sendMessage`, not yet checked against the send rules.
    Message {
        message: OutboundMessage,
        next: String,
    },
    /// A message cleared to go; `message_id` once it is reserved and claimed.
    Send {
        outgoing: Outgoing,
        next: String,
        message_id: Option<Uuid>,
    },
    /// Tags and fields to change on the customer.
    Update {
        changes: UpdateCustomerData,
        next: String,
    },
    /// A suggestion for a person to decide on, waited for until `expires_at`.
    Suggest {
        channel: Channel,
        content: Value,
        reason: String,
        expires_at: DateTime<Utc>,
        on_approved: String,
        on_rejected: String,
        on_expired: String,
    },
}

/// One message to send for a node.
struct Outgoing {
    channel: Channel,
    /// What the outbox row keeps of it.
    content: Value,
    message: ChannelMessage,
    /// Tracked links rendered into it: (code, target).
    links: Vec<(String, String)>,
}

impl Outgoing {
    fn new(channel: Channel, message: ChannelMessage, links: Vec<(String, String)>) -> Self {
        let content = serde_json::to_value(&message.content).unwrap_or(Value::Null);
        Outgoing {
            channel,
            content,
            message,
            links,
        }
    }
}

impl<'a> Walk<'a> {
    /// A walk from the claimed recipient's node; a wait that ran out leaves
    /// along its timeout branch, and a send settled since it was parked
    /// `unknown` is passed without sending.
    fn start(
        recipient: &'a campaign_recipient::Model,
        execution: &'a campaign_execution::Model,
        graph: Arc<CompiledGraph>,
        customer: &'a customer::Model,
        setup: Arc<WorkspaceSetup>,
        enrollment: Option<&enrollment::Model>,
        now: DateTime<Utc>,
    ) -> Option<Self> {
        let node = recipient.current_node_id.clone()?;
        let ctx = context_for(recipient, customer, enrollment, setup.time_zone);
        let mut walk = Walk {
            recipient,
            execution,
            graph,
            customer,
            ctx,
            setup,
            stored: node.clone(),
            at: node,
            input: StepInput::Enter,
            steps: 0,
            moved: false,
            state: None,
            error: None,
            sent_at: None,
            leg: Leg::Walking,
        };
        if let Some(target) = timed_out_branch(recipient) {
            walk.pass(target);
            walk.state = Some(json!({}));
        }
        if recipient.state.get(executions::RECONCILED_KEY).is_some() {
            // The message went (`executions::settle_unknown_recipient`): on as
            // if the send had just succeeded, without the send-time checks.
            if let Ok(Transition::Send { next, .. } | Transition::CallWebhook { next, .. }) =
                walk.graph.step(&walk.at, &walk.ctx, StepInput::Enter, now)
            {
                walk.pass(next);
                walk.state = Some(json!({}));
            }
        }
        Some(walk)
    }

    fn tenant(&self) -> Tenant {
        Tenant::new(self.recipient.workspace_id)
    }

    /// Goes on to `next` and keeps walking.
    fn pass(&mut self, next: String) {
        self.at = next;
        self.input = StepInput::Enter;
        self.moved = true;
        self.leg = Leg::Walking;
    }

    /// Ends the walk for this claim with `to`; the state and error of
    /// earlier steps stand unless `to` replaces them.
    fn settle(&mut self, mut to: Move) {
        to.state = to.state.or(self.state.take());
        to.error = to.error.or(self.error.take());
        self.leg = Leg::Settled(to);
    }

    /// Takes the steps that need nothing but the recipient's context, up to
    /// the next node with work to do or the end of this claim's walk.
    fn walk(&mut self, now: DateTime<Utc>) {
        while matches!(self.leg, Leg::Walking) {
            if self.steps >= MAX_STEPS_PER_CLAIM {
                self.settle(retry_at(&self.at, now));
                return;
            }
            self.steps += 1;
            let input = std::mem::replace(&mut self.input, StepInput::Enter);
            let transition = match self.graph.step(&self.at, &self.ctx, input, now) {
                Ok(transition) => transition,
                Err(err) => {
                    self.settle(failed(&self.at, err.to_string()));
                    return;
                }
            };
            match transition {
                Transition::Advance { next } => self.pass(next),
                Transition::WaitUntil { until, next } => self.settle(Move {
                    status: recipient_status::WAITING,
                    node: Some(next),
                    wake_at: Some(until),
                    state: None,
                    error: None,
                }),
                Transition::AwaitEvent {
                    event,
                    timeout_at,
                    on_event,
                    on_timeout,
                } => self.settle(Move {
                    status: recipient_status::WAITING,
                    node: Some(self.at.clone()),
                    wake_at: Some(timeout_at),
                    state: Some(
                        json!({"await": "event", "event": event, "onEvent": on_event, "onTimeout": on_timeout}),
                    ),
                    error: None,
                }),
                Transition::AwaitApproval {
                    expires_at,
                    on_approved,
                    on_rejected,
                    on_expired,
                } => {
                    self.leg = Leg::Act(Act::Suggest {
                        channel: Channel::Log,
                        content: json!({}),
                        reason: "approval gate".into(),
                        expires_at,
                        on_approved,
                        on_rejected,
                        on_expired,
                    })
                }
                Transition::UpdateCustomer { changes, next } => {
                    self.leg = Leg::Act(Act::Update { changes, next })
                }
                Transition::CallWebhook { request, next } => {
                    let key = outbox::campaign_key(self.execution.id, self.recipient.id, &self.at);
                    let message = ChannelMessage {
                        idempotency_key: key,
                        to: Recipient::Url(request.url.clone()),
                        content: Content::Json(request.body.clone().unwrap_or(Value::Null)),
                    };
                    let outgoing = Outgoing {
                        channel: Channel::Webhook,
                        content: json!({"method": request.method, "url": request.url, "body": request.body}),
                        message,
                        links: Vec::new(),
                    };
                    self.leg = Leg::Act(Act::Send {
                        outgoing,
                        next,
                        message_id: None,
                    });
                }
                Transition::Send { message, next }
                    if message.require_approval
                        && decision_at(self.recipient, &self.at).is_none() =>
                {
                    // Suggested, not sent: a person approves, edits or rejects it first.
                    self.leg = Leg::Act(Act::Suggest {
                        channel: storage_channel(message.channel),
                        content: json!({"subject": message.subject, "body": message.body, "variables": message.variables}),
                        reason: "the campaign asks for approval before this message".into(),
                        expires_at: now + APPROVAL_WINDOW,
                        on_approved: self.at.clone(),
                        on_rejected: next.clone(),
                        on_expired: next,
                    });
                }
                Transition::Send { next, .. }
                    if decision_at(self.recipient, &self.at) == Some(false) =>
                {
                    self.pass(next);
                    self.state = Some(json!({}));
                }
                Transition::Send { message, next } => {
                    self.leg = Leg::Act(Act::Message { message, next })
                }
                Transition::Exit { goal } => self.settle(Move {
                    status: recipient_status::COMPLETED,
                    node: None,
                    wake_at: None,
                    state: goal.map(|g| json!({"goal": g})),
                    error: None,
                }),
            }
        }
    }

    /// The move to store for this walk now, if it needs one: its settled
    /// move, or, at a node with work to do, a stop there reserved for this
    /// runner until `held_until`.
    fn next_move(&self, held_until: DateTime<Utc>) -> Option<Move> {
        match &self.leg {
            Leg::Settled(to) => Some(to.clone()),
            Leg::Act(_) if self.moved || self.state.is_some() || self.error.is_some() => {
                Some(Move {
                    status: recipient_status::ACTIVE,
                    node: Some(self.at.clone()),
                    wake_at: Some(held_until),
                    state: self.state.clone(),
                    error: self.error.clone(),
                })
            }
            _ => None,
        }
    }
}

/// Moves that go the same way from the same node, stored as one statement.
#[derive(Default)]
struct MoveGroups {
    groups: HashMap<String, MoveGroup>,
}

/// Recipients moving from one node the same way (with the same first-send stamp).
struct MoveGroup {
    from: String,
    to: Move,
    sent_at: Option<DateTime<Utc>>,
    recipients: Vec<Uuid>,
}

impl MoveGroups {
    fn add(&mut self, recipient: Uuid, from: &str, to: Move, sent_at: Option<DateTime<Utc>>) {
        let key = format!(
            "{from}\u{0}{}\u{0}{:?}\u{0}{:?}\u{0}{}\u{0}{:?}\u{0}{:?}",
            to.status,
            to.node,
            to.wake_at,
            to.state.as_ref().map(Value::to_string).unwrap_or_default(),
            to.error,
            sent_at,
        );
        self.groups
            .entry(key)
            .or_insert_with(|| MoveGroup {
                from: from.to_owned(),
                to,
                sent_at,
                recipients: Vec::new(),
            })
            .recipients
            .push(recipient);
    }

    /// Stores every group; returns the recipients that moved.
    async fn store<C: ConnectionTrait>(
        self,
        db: &C,
        now: DateTime<Utc>,
    ) -> Result<HashSet<Uuid>, entity::Error> {
        let mut moved = HashSet::new();
        for MoveGroup {
            from,
            to,
            sent_at,
            recipients,
        } in self.groups.into_values()
        {
            moved.extend(
                executions::move_recipients(db, &recipients, &from, &to, sent_at, now).await?,
            );
        }
        Ok(moved)
    }
}

impl Runner {
    /// Claims and advances up to `limit` due recipients; returns how many were claimed.
    pub async fn run_batch(&mut self, limit: u64) -> Result<usize, entity::Error> {
        let now = self.clock.now();
        outbox::expire_leases(&self.db, now).await?;
        dispatch::expire(&self.db, now).await?;
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
        let mut enrollments: HashMap<Uuid, enrollment::Model> = HashMap::new();
        for e in enrollment::Entity::find()
            .filter(enrollment::Column::CustomerId.is_in(customer_ids))
            .order_by_asc(enrollment::Column::CreatedAt)
            .all(&self.db)
            .await?
        {
            enrollments.insert(e.customer_id, e);
        }
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
            if !workspaces.contains_key(&recipient.workspace_id) {
                let ws = workspace::Entity::find_by_id(recipient.workspace_id)
                    .one(&self.db)
                    .await?
                    .ok_or(entity::Error::NotFound("workspace"))?;
                let tz = entity::workspaces::clock(&ws);
                let channels = self
                    .channels
                    .get(&self.db, &self.secrets, Tenant::new(ws.id))
                    .await?;
                let policy =
                    SendPolicy::for_workspace(&self.db, &self.secrets, Tenant::new(ws.id), tz)
                        .await?;
                workspaces.insert(
                    ws.id,
                    Arc::new(WorkspaceSetup {
                        time_zone: tz,
                        channels,
                        policy,
                    }),
                );
            }
        }
        let mut walks: Vec<Walk> = claimed
            .iter()
            .filter_map(|recipient| {
                Walk::start(
                    recipient,
                    &executions_seen[&recipient.execution_id],
                    graphs[&recipient.execution_id].clone(),
                    customers.get(&recipient.customer_id)?,
                    workspaces[&recipient.workspace_id].clone(),
                    enrollments.get(&recipient.customer_id),
                    now,
                )
            })
            .collect();
        self.run_walks(&mut walks).await?;
        drop(walks);
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

    /// Puts each message reached through the send rules (opt-outs, quiet
    /// hours, the 24 h window, pair rate, frequency cap, rate limits) and
    /// renders those cleared to go.
    async fn check_sends(
        &self,
        walks: &mut [Walk<'_>],
        now: DateTime<Utc>,
    ) -> Result<(), entity::Error> {
        let mut by_workspace: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for walk in walks.iter() {
            if let Leg::Act(Act::Message { .. }) = walk.leg {
                by_workspace
                    .entry(walk.recipient.workspace_id)
                    .or_default()
                    .push(walk.customer.id);
            }
        }
        if by_workspace.is_empty() {
            return Ok(());
        }
        let mut histories: HashMap<Uuid, SendHistory> = HashMap::new();
        for walk in walks.iter() {
            if let Some(customers) = by_workspace.remove(&walk.recipient.workspace_id) {
                histories
                    .extend(SendHistory::of(&self.db, &customers, &walk.setup.policy, now).await?);
            }
        }
        let mut template_names = HashMap::new();
        let public_url = self.public_url.trim_end_matches('/');
        for walk in walks.iter_mut() {
            let Leg::Act(Act::Message { message, next }) = &walk.leg else {
                continue;
            };
            let next = next.clone();
            let key = outbox::campaign_key(walk.execution.id, walk.recipient.id, &walk.at);
            let mut links = Vec::new();
            let rendered = message.render(&walk.ctx, &mut |url: &str| {
                let code = entity::links::new_code();
                links.push((code.clone(), url.to_owned()));
                format!("{public_url}/r/{code}")
            });
            let channel = storage_channel(rendered.channel);
            let customer = walk.customer;
            if opted_out(customer, channel) {
                walk.settle(Move {
                    status: recipient_status::COMPLETED,
                    node: None,
                    wake_at: None,
                    state: None,
                    error: Some("opted out of this channel".into()),
                });
                continue;
            }
            let free_text = channel == Channel::Whatsapp && rendered.template.is_none();
            let policy = &walk.setup.policy;
            let verdict = match policy.verdict(
                whatsapp_window_until(customer),
                histories.get(&customer.id),
                channel,
                free_text,
                now,
            ) {
                Verdict::Go => match self.shared.rate_limits.take(
                    walk.recipient.workspace_id,
                    channel,
                    policy.per_second(channel),
                    now,
                ) {
                    Some(at) => Verdict::Wait(at),
                    None => Verdict::Go,
                },
                other => other,
            };
            match verdict {
                Verdict::Wait(at) => walk.settle(retry_at(&walk.at, at)),
                Verdict::Refuse(why) => walk.settle(failed(&walk.at, why)),
                Verdict::Go if links.iter().any(|(_, url)| !entity::links::trackable(url)) => walk
                    .settle(failed(
                        &walk.at,
                        "a tracked link needs an http(s) URL".into(),
                    )),
                Verdict::Go => {
                    let rendered = self
                        .with_template_name(walk.tenant(), rendered, &mut template_names)
                        .await?;
                    match channel_message(key, &rendered, customer) {
                        Err(why) => walk.settle(failed(&walk.at, why)),
                        Ok((channel, message)) => {
                            histories
                                .entry(customer.id)
                                .or_default()
                                .record(channel, now);
                            walk.leg = Leg::Act(Act::Send {
                                outgoing: Outgoing::new(channel, message, links),
                                next,
                                message_id: None,
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// One transaction for the round: the sends of the last round recorded,
    /// every walk's move, the suggestions it reached, and its messages
    /// reserved and claimed. Sends of a paused campaign go back to wait.
    async fn store(
        &self,
        walks: &mut [Walk<'_>],
        accepted: &[(Uuid, String)],
        now: DateTime<Utc>,
    ) -> Result<(), entity::Error> {
        let txn = entity::db::begin_write(&self.db).await?;
        outbox::record_sent_many(&txn, accepted, now).await?;
        // Pausing stops sends at once: a recipient about to send goes back
        // to wait at its node, and is taken up again on resume.
        let mut sending: HashMap<Uuid, bool> = HashMap::new();
        for walk in walks.iter_mut() {
            if let Leg::Act(Act::Send { .. }) = walk.leg {
                let campaign = walk.recipient.campaign_id;
                let live = match sending.get(&campaign) {
                    Some(live) => *live,
                    None => {
                        let live = executions::campaign_sending(&txn, campaign).await?;
                        sending.insert(campaign, live);
                        live
                    }
                };
                if !live {
                    walk.settle(retry_at(&walk.at, now));
                }
            }
        }
        let mut groups = MoveGroups::default();
        for walk in walks.iter() {
            if let Some(to) = walk.next_move(now + self.lease) {
                groups.add(walk.recipient.id, &walk.stored, to, walk.sent_at);
            }
        }
        let moved = groups.store(&txn, now).await?;
        let mut parked_unknown = Vec::new();
        let mut reservations = Vec::new();
        for (index, walk) in walks.iter_mut().enumerate() {
            if let Some(to) = walk.next_move(now + self.lease) {
                if !moved.contains(&walk.recipient.id) {
                    // Another step moved it: this one must not run again.
                    walk.leg = Leg::Done;
                    continue;
                }
                walk.stored = to.node.clone().unwrap_or_default();
                walk.moved = false;
                walk.state = None;
                walk.error = None;
                walk.sent_at = None;
                if to.status == recipient_status::UNKNOWN {
                    parked_unknown.push(index);
                }
            }
            match &walk.leg {
                Leg::Settled(_) => walk.leg = Leg::Done,
                Leg::Act(Act::Suggest { .. }) => self.suggest(&txn, walk, now).await?,
                Leg::Act(Act::Send { outgoing, .. }) => reservations.push((
                    index,
                    (
                        walk.tenant(),
                        NewMessage {
                            idempotency_key: outgoing.message.idempotency_key.clone(),
                            customer_id: walk.customer.id,
                            channel: outgoing.channel,
                            template_id: None,
                            content: outgoing.content.clone(),
                            campaign_recipient_id: Some(walk.recipient.id),
                            dispatch_item_id: None,
                            node_id: Some(walk.at.clone()),
                        },
                    ),
                )),
                _ => {}
            }
        }
        let (indexes, messages): (Vec<usize>, Vec<_>) = reservations.into_iter().unzip();
        let reserved = outbox::reserve_claimed(&txn, messages, now, self.lease).await?;
        for (index, message_id) in indexes.into_iter().zip(reserved) {
            let walk = &mut walks[index];
            let tenant = walk.tenant();
            let customer_id = walk.customer.id;
            match message_id {
                Some(id) => {
                    let Leg::Act(Act::Send {
                        outgoing,
                        message_id,
                        ..
                    }) = &mut walk.leg
                    else {
                        continue;
                    };
                    for (code, url) in &outgoing.links {
                        entity::links::create_with_code(
                            &txn,
                            tenant,
                            code,
                            url,
                            Some(id),
                            Some(customer_id),
                            now,
                        )
                        .await?;
                    }
                    *message_id = Some(id);
                }
                None => self.resume_reserved(&txn, walk, now).await?,
            }
        }
        txn.commit().await?;
        for index in parked_unknown {
            // A callback may have settled the message between reading it and
            // parking the recipient, and found nobody parked yet.
            let walk = &walks[index];
            let key = outbox::campaign_key(walk.execution.id, walk.recipient.id, &walk.stored);
            if let Some(message) = outbox::find_by_key(&self.db, walk.tenant(), &key).await? {
                executions::settle_unknown_recipient(&self.db, &message, self.clock.now()).await?;
            }
        }
        Ok(())
    }

    /// Queues the walk's suggestion and parks it waiting for the decision.
    async fn suggest<C: ConnectionTrait>(
        &self,
        db: &C,
        walk: &mut Walk<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), entity::Error> {
        let Leg::Act(Act::Suggest {
            channel,
            content,
            reason,
            expires_at,
            on_approved,
            on_rejected,
            on_expired,
        }) = std::mem::replace(&mut walk.leg, Leg::Done)
        else {
            return Ok(());
        };
        let suggestion = Suggestion {
            recipient: walk.recipient.clone(),
            node_id: walk.at.clone(),
            channel,
            content,
            reason,
            expires_at: Some(expires_at),
        };
        let item = dispatch::suggest(db, walk.tenant(), suggestion, walk.customer, now).await?;
        let state = json!({"await": "approval", "dispatchItemId": item.id, "onApproved": on_approved, "onRejected": on_rejected, "onExpired": on_expired});
        let waiting = Move {
            status: recipient_status::WAITING,
            node: Some(walk.at.clone()),
            wake_at: Some(expires_at),
            state: Some(state),
            error: None,
        };
        executions::move_recipient(db, walk.recipient.id, &walk.at, waiting, now).await?;
        Ok(())
    }

    /// A message an earlier attempt reserved: carried on from where that
    /// attempt left it, never sent a second time.
    async fn resume_reserved<C: ConnectionTrait>(
        &self,
        db: &C,
        walk: &mut Walk<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), entity::Error> {
        let tenant = walk.tenant();
        let Leg::Act(Act::Send {
            outgoing,
            next,
            message_id,
        }) = &mut walk.leg
        else {
            return Ok(());
        };
        let reserved = outbox::find_by_key(db, tenant, &outgoing.message.idempotency_key)
            .await?
            .ok_or(entity::Error::NotFound("message"))?;
        match reserved.status {
            MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Read => {
                let next = next.clone();
                walk.pass(next);
            }
            MessageStatus::Failed => {
                walk.settle(failed(&walk.at, reserved.error.unwrap_or_default()))
            }
            MessageStatus::Unknown => walk.settle(unknown(&walk.at)),
            MessageStatus::Sending => walk.settle(retry_at(
                &walk.at,
                reserved.lease_until.unwrap_or(now + self.lease),
            )),
            MessageStatus::Queued => {
                if outbox::claim_for_send(db, reserved.id, now, self.lease).await? {
                    *message_id = Some(reserved.id);
                } else {
                    // A retry is not due yet.
                    walk.settle(retry_at(
                        &walk.at,
                        reserved.lease_until.unwrap_or(now) + Duration::seconds(1),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Makes the round's provider calls and customer updates, all at once;
    /// returns the messages the providers accepted, for the next round to
    /// record with the moves that follow.
    async fn act(&self, walks: &mut [Walk<'_>]) -> Vec<(Uuid, String)> {
        let acted_at = self.clock.now();
        let mut waiting = walks
            .iter_mut()
            .filter(|walk| {
                matches!(
                    walk.leg,
                    Leg::Act(Act::Send {
                        message_id: Some(_),
                        ..
                    }) | Leg::Act(Act::Update { .. })
                )
            })
            .collect::<Vec<_>>()
            .into_iter();
        let mut under_way = futures::stream::FuturesUnordered::new();
        let mut accepted = Vec::new();
        loop {
            while under_way.len() < CONCURRENT_CALLS {
                let Some(walk) = waiting.next() else { break };
                under_way.push(self.perform(walk, acted_at));
            }
            match under_way.next().await {
                Some(Some(sent)) => accepted.push(sent),
                Some(None) => {}
                None => return accepted,
            }
        }
    }

    /// Does one walk's work: a provider call (the message is already claimed)
    /// or a customer update.
    async fn perform(
        &self,
        walk: &mut Walk<'_>,
        acted_at: DateTime<Utc>,
    ) -> Option<(Uuid, String)> {
        match self.try_perform(walk, acted_at).await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(recipient_id = %walk.recipient.id, error = %err, "a campaign step failed; it will be retried");
                walk.leg = Leg::Done;
                None
            }
        }
    }

    async fn try_perform(
        &self,
        walk: &mut Walk<'_>,
        acted_at: DateTime<Utc>,
    ) -> Result<Option<(Uuid, String)>, entity::Error> {
        let tenant = walk.tenant();
        match std::mem::replace(&mut walk.leg, Leg::Done) {
            Leg::Act(Act::Update { changes, next }) => {
                let mut tags = changes.add_tags.clone();
                tags.retain(|t| !t.is_empty());
                customers::change_tags(
                    &self.db,
                    tenant,
                    walk.customer.id,
                    tags,
                    changes.remove_tags.clone(),
                    self.clock.now(),
                )
                .await?;
                if !changes.set.is_empty() {
                    customers::set_fields(
                        &self.db,
                        tenant,
                        walk.customer.id,
                        &changes.set,
                        self.clock.now(),
                    )
                    .await?;
                }
                walk.pass(next);
                Ok(None)
            }
            Leg::Act(Act::Send {
                outgoing,
                next,
                message_id: Some(id),
            }) => {
                let result = walk
                    .setup
                    .channels
                    .send(outgoing.channel, &outgoing.message)
                    .await;
                match result {
                    Ok(receipt) => {
                        walk.pass(next);
                        walk.sent_at = Some(acted_at);
                        Ok(Some((id, receipt.provider_message_id)))
                    }
                    Err(SendError::Unknown { reason }) => {
                        outbox::record_unknown(&self.db, id, &reason, self.clock.now()).await?;
                        walk.settle(unknown(&walk.at));
                        Ok(None)
                    }
                    Err(err) => {
                        match err.retry_after() {
                            Some(after) if !matches!(err, SendError::OptedOut { .. }) => {
                                let at = self.clock.now()
                                    + Duration::from_std(after).unwrap_or(Duration::seconds(60));
                                outbox::retry_later(
                                    &self.db,
                                    id,
                                    err.reason(),
                                    at,
                                    self.clock.now(),
                                )
                                .await?;
                                walk.settle(retry_at(&walk.at, at));
                            }
                            _ => {
                                outbox::record_failed(&self.db, id, err.reason(), self.clock.now())
                                    .await?;
                                if let SendError::OptedOut { .. } = err {
                                    customers::record_opt_out(
                                        &self.db,
                                        tenant,
                                        walk.customer.id,
                                        outgoing.channel,
                                        "provider_131050",
                                        self.clock.now(),
                                        self.clock.now(),
                                    )
                                    .await?;
                                }
                                walk.settle(failed(&walk.at, err.reason().to_owned()));
                            }
                        }
                        Ok(None)
                    }
                }
            }
            other => {
                walk.leg = other;
                Ok(None)
            }
        }
    }

    /// A template named by id (ours or Meta's) is sent by its name and
    /// language; `known` keeps the names looked up in this batch.
    async fn with_template_name(
        &self,
        tenant: Tenant,
        mut rendered: RenderedMessage,
        known: &mut HashMap<(Uuid, String), Option<workflow::TemplateRef>>,
    ) -> Result<RenderedMessage, entity::Error> {
        let Some(workflow::TemplateRef::Id(id)) = &rendered.template else {
            return Ok(rendered);
        };
        let cache_key = (tenant.workspace_id(), id.clone());
        if !known.contains_key(&cache_key) {
            let by_id = match Uuid::parse_str(id) {
                Ok(uuid) => message_template::Column::Id.eq(uuid),
                Err(_) => message_template::Column::ProviderTemplateId.eq(id.as_str()),
            };
            let named = tenant
                .select::<message_template::Entity>()
                .filter(by_id)
                .one(&self.db)
                .await?
                .map(|template| workflow::TemplateRef::Name {
                    name: template.name,
                    language: Some(template.language),
                });
            known.insert(cache_key.clone(), named);
        }
        if let Some(Some(named)) = known.get(&cache_key) {
            rendered.template = Some(named.clone());
        }
        Ok(rendered)
    }
}

/// A waiting recipient whose wait ran out leaves along its timeout branch.
fn timed_out_branch(recipient: &campaign_recipient::Model) -> Option<String> {
    if recipient.status != recipient_status::WAITING {
        return None;
    }
    let state = &recipient.state;
    let target = match state.get("await").and_then(Value::as_str)? {
        "event" => state.get("onTimeout"),
        "approval" => state.get("onExpired"),
        _ => None,
    }?;
    Some(target.as_str()?.to_owned())
}

fn storage_channel(channel: workflow::Channel) -> Channel {
    match channel {
        workflow::Channel::Whatsapp => Channel::Whatsapp,
        workflow::Channel::Email => Channel::Email,
        workflow::Channel::Sms => Channel::Sms,
        workflow::Channel::Push => Channel::Push,
        workflow::Channel::Webhook => Channel::Webhook,
        workflow::Channel::Log => Channel::Log,
    }
}

fn context_for(
    recipient: &campaign_recipient::Model,
    customer: &customer::Model,
    enrollment: Option<&enrollment::Model>,
    time_zone: chrono_tz::Tz,
) -> RecipientContext {
    let mut ctx = RecipientContext::new(recipient.id, time_zone);
    ctx.customer.email = Some(customer.email.clone());
    ctx.customer.name = customer.name.clone();
    ctx.customer.phone = customer.phone.clone();
    ctx.customer.tags = customers::tags_of(customer);
    ctx.customer.ltv_total = Some(entity::money::amount(customer.ltv_total).to_string());
    ctx.customer.segment = customer.segment.clone();
    ctx.customer.churn_risk = customer.churn_risk.clone();
    ctx.customer.created_at = Some(customer.created_at);
    if let Some(enrollment) = enrollment {
        ctx.enrollment.access_status =
            Some(sea_orm::ActiveEnum::to_value(&enrollment.access_status));
        ctx.enrollment.first_access_at = enrollment.first_access_at;
        ctx.enrollment.progress = Some(enrollment.progress_percent.to_string());
    }
    ctx
}

/// A customer's opt-out of a channel, as recorded in `consent`.
fn opted_out(customer: &customer::Model, channel: Channel) -> bool {
    let name = sea_orm::ActiveEnum::to_value(&channel);
    customer
        .consent
        .get(&name)
        .and_then(|c| c.get("optedOut"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The channel message for a rendered campaign message, or why it cannot go.
fn channel_message(
    key: String,
    rendered: &RenderedMessage,
    customer: &customer::Model,
) -> Result<(Channel, ChannelMessage), String> {
    let channel = storage_channel(rendered.channel);
    let to = match channel {
        Channel::Whatsapp | Channel::Sms => {
            Recipient::Phone(customer.phone.clone().ok_or("the customer has no phone")?)
        }
        Channel::Email | Channel::Log => Recipient::Email(customer.email.clone()),
        Channel::Push => Recipient::External(customer.id.to_string()),
        Channel::Webhook => return Err("webhook messages go through a webhook node".into()),
    };
    let content = match (channel, &rendered.template) {
        (Channel::Whatsapp, Some(template)) => {
            let (name, language) = match template {
                workflow::TemplateRef::Name { name, language } => (
                    name.clone(),
                    language.clone().unwrap_or_else(|| "pt_BR".into()),
                ),
                workflow::TemplateRef::Id(id) => (id.clone(), "pt_BR".into()),
            };
            Content::Template {
                name,
                language,
                body_parameters: rendered.variables.iter().map(|(_, v)| v.clone()).collect(),
                button_url_parameters: rendered.button_variables.clone(),
            }
        }
        (Channel::Email, _) => Content::Email {
            subject: rendered.subject.clone().unwrap_or_default(),
            text: rendered.body.clone().unwrap_or_default(),
            html: None,
        },
        _ => Content::Text {
            body: rendered.body.clone().unwrap_or_default(),
        },
    };
    Ok((
        channel,
        ChannelMessage {
            idempotency_key: key,
            to,
            content,
        },
    ))
}

/// What a batch needs to know about a recipient's workspace.
pub struct WorkspaceSetup {
    pub time_zone: chrono_tz::Tz,
    pub channels: Arc<Channels>,
    pub policy: SendPolicy,
}

/// How long a message waiting for approval stays suggested.
const APPROVAL_WINDOW: Duration = Duration::days(2);

/// A person's decision on this node's suggestion, if one was made:
/// `Some(true)` approved, `Some(false)` rejected.
fn decision_at(recipient: &campaign_recipient::Model, node: &str) -> Option<bool> {
    let state = &recipient.state;
    if state.get("node").and_then(Value::as_str) != Some(node) {
        return None;
    }
    match state.get("decision").and_then(Value::as_str) {
        Some("approved") => Some(true),
        Some("rejected") => Some(false),
        _ => None,
    }
}

fn failed(node: &str, error: String) -> Move {
    Move {
        status: recipient_status::FAILED,
        node: Some(node.to_owned()),
        wake_at: None,
        state: None,
        error: Some(error),
    }
}

fn unknown(node: &str) -> Move {
    Move {
        status: recipient_status::UNKNOWN,
        node: Some(node.to_owned()),
        wake_at: None,
        state: None,
        error: Some("the send's outcome is unknown; it is never repeated".into()),
    }
}

/// Stay at the node and try the step again at `at` (the message is reserved, so nothing is sent twice).
fn retry_at(node: &str, at: DateTime<Utc>) -> Move {
    Move {
        status: recipient_status::ACTIVE,
        node: Some(node.to_owned()),
        wake_at: Some(at),
        state: None,
        error: None,
    }
}
