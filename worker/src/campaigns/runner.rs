//! Steps recipients through their campaign's graph.
//!
//! Every move is conditional on the recipient still being at the node it was
//! claimed at, so a step that already ran never runs again. Sends go through
//! the outbox (`entity::outbox`): reserved under (execution, recipient,
//! node), claimed as `sending` before the provider call, recorded after; a
//! crash mid-call leaves `sending`, which turns `unknown` and is never resent.

use std::collections::HashMap;

use futures::StreamExt;
use std::sync::Arc;

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
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use uuid::Uuid;
use workflow::{CompiledGraph, Graph, RecipientContext, RenderedMessage, StepInput, Transition};

use super::policy::{RateLimits, SendPolicy, Verdict};
use crate::channels::{ChannelMessage, Channels, ChannelsCache, Content, Recipient, SendError};

/// Steps one recipient may take per claim before yielding to others.
const MAX_STEPS_PER_CLAIM: usize = 32;
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
    pub rate_limits: RateLimits,
    /// When each execution's stored metrics were last recounted.
    pub metrics_recounted: HashMap<Uuid, std::time::Instant>,
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

impl Runner {
    /// Claims and advances up to `limit` due recipients; returns how many were claimed.
    pub async fn run_batch(&mut self, limit: u64) -> Result<usize, entity::Error> {
        let now = Utc::now();
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
        for recipient in &claimed {
            if !executions_seen.contains_key(&recipient.execution_id) {
                let execution = campaign_execution::Entity::find_by_id(recipient.execution_id)
                    .one(&self.db)
                    .await?
                    .ok_or(entity::Error::NotFound("campaign execution"))?;
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
        let mut steps = Vec::with_capacity(claimed.len());
        for recipient in &claimed {
            let execution = &executions_seen[&recipient.execution_id];
            let graph = self.graphs.get(&self.db, execution.version_id).await?;
            let Some(customer) = customers.get(&recipient.customer_id) else {
                continue;
            };
            let setup = workspaces[&recipient.workspace_id].clone();
            let ctx = context_for(
                recipient,
                customer,
                enrollments.get(&customer.id),
                setup.time_zone,
            );
            steps.push((recipient, execution, graph, customer, ctx, setup));
        }
        // Recipients are independent: their steps (and provider calls) overlap.
        let this = &*self;
        futures::stream::iter(steps)
            .for_each_concurrent(self.concurrency(), |(recipient, execution, graph, customer, ctx, setup)| async move {
                if let Err(err) = this.advance(recipient, execution, &graph, customer, &ctx, &setup).await {
                    tracing::warn!(recipient_id = %recipient.id, error = %err, "a campaign step failed; it will be retried");
                }
            })
            .await;
        if self.metrics_recounted.len() > 10_000 {
            self.metrics_recounted.clear();
        }
        for execution_id in executions_seen.keys() {
            let due = self
                .metrics_recounted
                .get(execution_id)
                .is_none_or(|at| at.elapsed() >= METRICS_EVERY);
            if due || !executions::any_in_flight(&self.db, *execution_id).await? {
                executions::refresh_execution(&self.db, *execution_id).await?;
                self.metrics_recounted
                    .insert(*execution_id, std::time::Instant::now());
            }
        }
        Ok(claimed.len())
    }

    /// A template named by id (ours or Meta's) is sent by its name and language.
    async fn with_template_name(
        &self,
        tenant: Tenant,
        mut rendered: RenderedMessage,
    ) -> Result<RenderedMessage, entity::Error> {
        if let Some(workflow::TemplateRef::Id(id)) = &rendered.template {
            let by_id = match Uuid::parse_str(id) {
                Ok(uuid) => message_template::Column::Id.eq(uuid),
                Err(_) => message_template::Column::ProviderTemplateId.eq(id.as_str()),
            };
            if let Some(template) = tenant
                .select::<message_template::Entity>()
                .filter(by_id)
                .one(&self.db)
                .await?
            {
                rendered.template = Some(workflow::TemplateRef::Name {
                    name: template.name,
                    language: Some(template.language),
                });
            }
        }
        Ok(rendered)
    }

    /// How many recipients are stepped at once: PostgreSQL takes concurrent
    /// writers; SQLite has one, so more would only queue on its lock.
    fn concurrency(&self) -> usize {
        match self.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => 32,
            _ => 4,
        }
    }

    /// Takes steps until the recipient waits, finishes, or hits the per-claim cap.
    async fn advance(
        &self,
        claimed: &campaign_recipient::Model,
        execution: &campaign_execution::Model,
        graph: &CompiledGraph,
        customer: &customer::Model,
        ctx: &RecipientContext,
        setup: &WorkspaceSetup,
    ) -> Result<(), entity::Error> {
        let channels = &*setup.channels;
        let tenant = Tenant::new(claimed.workspace_id);
        let Some(mut node) = claimed.current_node_id.clone() else {
            return Ok(());
        };
        let mut input = StepInput::Enter;
        if let Some(Resume {
            node: target,
            input: next_input,
        }) = self.resumption(claimed)
        {
            // A wait ran out: leave the waiting node along its timeout branch.
            if !executions::move_recipient(
                &self.db,
                claimed.id,
                &node,
                Move {
                    status: recipient_status::ACTIVE,
                    node: Some(target.clone()),
                    wake_at: Some(Utc::now()),
                    state: Some(json!({})),
                    error: None,
                },
                Utc::now(),
            )
            .await?
            {
                return Ok(());
            }
            node = target;
            input = next_input;
        }
        if claimed.state.get(executions::RECONCILED_KEY).is_some() {
            match self
                .past_reconciled_send(claimed, graph, &node, ctx)
                .await?
            {
                Some(Some(next)) => node = next,
                // Another step moved it already.
                Some(None) => return Ok(()),
                None => {}
            }
        }
        for _ in 0..MAX_STEPS_PER_CLAIM {
            let now = Utc::now();
            let transition = match graph.step(&node, ctx, input.clone(), now) {
                Ok(t) => t,
                Err(err) => {
                    executions::move_recipient(
                        &self.db,
                        claimed.id,
                        &node,
                        Move {
                            status: recipient_status::FAILED,
                            node: Some(node.clone()),
                            wake_at: None,
                            state: None,
                            error: Some(err.to_string()),
                        },
                        now,
                    )
                    .await?;
                    return Ok(());
                }
            };
            let (to, continues) = match transition {
                Transition::Advance { next } => (
                    Move {
                        status: recipient_status::ACTIVE,
                        node: Some(next),
                        wake_at: Some(now),
                        state: None,
                        error: None,
                    },
                    true,
                ),
                Transition::WaitUntil { until, next } => (
                    Move {
                        status: recipient_status::WAITING,
                        node: Some(next),
                        wake_at: Some(until),
                        state: None,
                        error: None,
                    },
                    false,
                ),
                Transition::AwaitEvent {
                    event,
                    timeout_at,
                    on_event,
                    on_timeout,
                } => (
                    Move {
                        status: recipient_status::WAITING,
                        node: Some(node.clone()),
                        wake_at: Some(timeout_at),
                        state: Some(
                            json!({"await": "event", "event": event, "onEvent": on_event, "onTimeout": on_timeout}),
                        ),
                        error: None,
                    },
                    false,
                ),
                Transition::AwaitApproval {
                    expires_at,
                    on_approved,
                    on_rejected,
                    on_expired,
                } => {
                    let suggestion = Suggestion {
                        recipient: claimed.clone(),
                        node_id: node.clone(),
                        channel: Channel::Log,
                        content: json!({}),
                        reason: "approval gate".into(),
                        expires_at: Some(expires_at),
                    };
                    let item = dispatch::suggest(&self.db, tenant, suggestion, customer).await?;
                    (
                        Move {
                            status: recipient_status::WAITING,
                            node: Some(node.clone()),
                            wake_at: Some(expires_at),
                            state: Some(
                                json!({"await": "approval", "dispatchItemId": item.id, "onApproved": on_approved, "onRejected": on_rejected, "onExpired": on_expired}),
                            ),
                            error: None,
                        },
                        false,
                    )
                }
                Transition::UpdateCustomer { changes, next } => {
                    let mut tags: Vec<String> = changes.add_tags.clone();
                    tags.retain(|t| !t.is_empty());
                    customers::change_tags(
                        &self.db,
                        tenant,
                        customer.id,
                        tags,
                        changes.remove_tags.clone(),
                    )
                    .await?;
                    if !changes.set.is_empty() {
                        customers::set_fields(&self.db, tenant, customer.id, &changes.set).await?;
                    }
                    (
                        Move {
                            status: recipient_status::ACTIVE,
                            node: Some(next),
                            wake_at: Some(now),
                            state: None,
                            error: None,
                        },
                        true,
                    )
                }
                Transition::CallWebhook { request, next } => {
                    let key = outbox::campaign_key(execution.id, claimed.id, &node);
                    let content =
                        json!({"method": request.method, "url": request.url, "body": request.body});
                    let message = ChannelMessage {
                        idempotency_key: key.clone(),
                        to: Recipient::Url(request.url.clone()),
                        content: Content::Json(request.body.clone().unwrap_or(Value::Null)),
                    };
                    let send = Outgoing {
                        node: &node,
                        channel: Channel::Webhook,
                        content,
                        message,
                        links: &[],
                    };
                    match self
                        .deliver(tenant, claimed, customer, send, channels)
                        .await?
                    {
                        Delivery::Done => (
                            Move {
                                status: recipient_status::ACTIVE,
                                node: Some(next),
                                wake_at: Some(now),
                                state: None,
                                error: None,
                            },
                            true,
                        ),
                        Delivery::Stop(to) => (to, false),
                    }
                }
                Transition::Send { message, next }
                    if message.require_approval && decision_at(claimed, &node).is_none() =>
                {
                    // Suggested, not sent: a person approves, edits or rejects it first.
                    let expires_at = now + APPROVAL_WINDOW;
                    let channel = storage_channel(message.channel);
                    let content = json!({"subject": message.subject, "body": message.body, "variables": message.variables});
                    let reason = "the campaign asks for approval before this message".to_owned();
                    let suggestion = Suggestion {
                        recipient: claimed.clone(),
                        node_id: node.clone(),
                        channel,
                        content,
                        reason,
                        expires_at: Some(expires_at),
                    };
                    let item = dispatch::suggest(&self.db, tenant, suggestion, customer).await?;
                    (
                        Move {
                            status: recipient_status::WAITING,
                            node: Some(node.clone()),
                            wake_at: Some(expires_at),
                            state: Some(
                                json!({"await": "approval", "dispatchItemId": item.id, "onApproved": node, "onRejected": next, "onExpired": next}),
                            ),
                            error: None,
                        },
                        false,
                    )
                }
                Transition::Send { next, .. } if decision_at(claimed, &node) == Some(false) => (
                    Move {
                        status: recipient_status::ACTIVE,
                        node: Some(next),
                        wake_at: Some(now),
                        state: Some(json!({})),
                        error: None,
                    },
                    true,
                ),
                Transition::Send { message, next } => {
                    let key = outbox::campaign_key(execution.id, claimed.id, &node);
                    let mut links = Vec::new();
                    let public_url = self.public_url.trim_end_matches('/').to_owned();
                    let rendered = message.render(ctx, &mut |url: &str| {
                        let code = entity::links::new_code();
                        links.push((code.clone(), url.to_owned()));
                        format!("{public_url}/r/{code}")
                    });
                    let channel = storage_channel(rendered.channel);
                    let free_text = channel == Channel::Whatsapp && rendered.template.is_none();
                    let verdict = if opted_out(customer, channel) {
                        Verdict::Go
                    } else {
                        match setup
                            .policy
                            .verdict(&self.db, customer, channel, free_text, now)
                            .await?
                        {
                            Verdict::Go => match self.rate_limits.take(
                                tenant.workspace_id(),
                                channel,
                                setup.policy.per_second(channel),
                                now,
                            ) {
                                Some(at) => Verdict::Wait(at),
                                None => Verdict::Go,
                            },
                            other => other,
                        }
                    };
                    if let Verdict::Wait(at) = verdict {
                        (retry_at(&node, at), false)
                    } else if let Verdict::Refuse(why) = verdict {
                        (failed(&node, why), false)
                    } else if opted_out(customer, channel) {
                        (
                            Move {
                                status: recipient_status::COMPLETED,
                                node: None,
                                wake_at: None,
                                state: None,
                                error: Some("opted out of this channel".into()),
                            },
                            false,
                        )
                    } else {
                        let rendered = self.with_template_name(tenant, rendered).await?;
                        match channel_message(key, &rendered, customer) {
                            Err(why) => (
                                Move {
                                    status: recipient_status::FAILED,
                                    node: Some(node.clone()),
                                    wake_at: None,
                                    state: None,
                                    error: Some(why),
                                },
                                false,
                            ),
                            Ok((channel, outgoing)) => {
                                let content =
                                    serde_json::to_value(&outgoing.content).unwrap_or(Value::Null);
                                let send = Outgoing {
                                    node: &node,
                                    channel,
                                    content,
                                    message: outgoing,
                                    links: &links,
                                };
                                match self
                                    .deliver(tenant, claimed, customer, send, channels)
                                    .await?
                                {
                                    Delivery::Done => (
                                        Move {
                                            status: recipient_status::ACTIVE,
                                            node: Some(next),
                                            wake_at: Some(now),
                                            state: None,
                                            error: None,
                                        },
                                        true,
                                    ),
                                    Delivery::Stop(to) => (to, false),
                                }
                            }
                        }
                    }
                }
                Transition::Exit { goal } => (
                    Move {
                        status: recipient_status::COMPLETED,
                        node: None,
                        wake_at: None,
                        state: goal.map(|g| json!({"goal": g})),
                        error: None,
                    },
                    false,
                ),
            };
            let next_node = to.node.clone();
            let parks_unknown = to.status == recipient_status::UNKNOWN;
            let moved = executions::move_recipient(&self.db, claimed.id, &node, to, now).await?;
            if moved && parks_unknown {
                // A callback may have settled the message between reading it
                // and parking the recipient, and found nobody parked yet.
                let key = outbox::campaign_key(execution.id, claimed.id, &node);
                if let Some(message) = outbox::find_by_key(&self.db, tenant, &key).await? {
                    executions::settle_unknown_recipient(&self.db, &message, Utc::now()).await?;
                }
            }
            if !moved || !continues {
                return Ok(());
            }
            match next_node {
                Some(next) => {
                    node = next;
                    input = StepInput::Enter;
                }
                None => return Ok(()),
            }
        }
        Ok(())
    }

    /// A recipient whose `unknown` send was since reported accepted
    /// (`executions::settle_unknown_recipient`) leaves its send node as the
    /// send had succeeded, without sending and without the send-time checks
    /// (quiet hours, caps, rate limits: the message already went). Returns
    /// the node it moved to (`Some(None)` when another step already moved
    /// it), or `None` when it is not at a send node.
    async fn past_reconciled_send(
        &self,
        claimed: &campaign_recipient::Model,
        graph: &CompiledGraph,
        node: &str,
        ctx: &RecipientContext,
    ) -> Result<Option<Option<String>>, entity::Error> {
        let now = Utc::now();
        let next = match graph.step(node, ctx, StepInput::Enter, now) {
            Ok(Transition::Send { next, .. } | Transition::CallWebhook { next, .. }) => next,
            _ => return Ok(None),
        };
        let moved = executions::move_recipient(
            &self.db,
            claimed.id,
            node,
            Move {
                status: recipient_status::ACTIVE,
                node: Some(next.clone()),
                wake_at: Some(now),
                state: Some(json!({})),
                error: None,
            },
            now,
        )
        .await?;
        Ok(Some(moved.then_some(next)))
    }

    /// A waiting recipient whose wait ran out leaves along its timeout branch.
    fn resumption(&self, claimed: &campaign_recipient::Model) -> Option<Resume> {
        if claimed.status != recipient_status::WAITING {
            return None;
        }
        let state = &claimed.state;
        let target = match state.get("await").and_then(Value::as_str)? {
            "event" => state.get("onTimeout"),
            "approval" => state.get("onExpired"),
            _ => None,
        }?;
        Some(Resume {
            node: target.as_str()?.to_owned(),
            input: StepInput::Enter,
        })
    }

    /// Sends at most once: reserve, claim, call, record.
    async fn deliver(
        &self,
        tenant: Tenant,
        claimed: &campaign_recipient::Model,
        customer: &customer::Model,
        send: Outgoing<'_>,
        channels: &Channels,
    ) -> Result<Delivery, entity::Error> {
        let Outgoing {
            node,
            channel,
            content,
            message: outgoing,
            links,
        } = send;
        let now = Utc::now();
        let txn = entity::db::begin_write(&self.db).await?;
        let (reserved, fresh) = outbox::reserve(
            &txn,
            tenant,
            NewMessage {
                idempotency_key: outgoing.idempotency_key.clone(),
                customer_id: customer.id,
                channel,
                template_id: None,
                content,
                campaign_recipient_id: Some(claimed.id),
                dispatch_item_id: None,
                node_id: Some(node.to_owned()),
            },
        )
        .await?;
        if fresh {
            for (code, url) in links {
                entity::links::create_with_code(
                    &txn,
                    tenant,
                    code,
                    url,
                    Some(reserved.id),
                    Some(customer.id),
                )
                .await?;
            }
        }
        txn.commit().await?;
        match reserved.status {
            MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Read => {
                return Ok(Delivery::Done);
            }
            MessageStatus::Failed => {
                return Ok(Delivery::Stop(failed(
                    node,
                    reserved.error.unwrap_or_default(),
                )));
            }
            MessageStatus::Unknown => return Ok(Delivery::Stop(unknown(node))),
            MessageStatus::Sending => {
                return Ok(Delivery::Stop(retry_at(
                    node,
                    reserved.lease_until.unwrap_or(now + self.lease),
                )));
            }
            MessageStatus::Queued => {}
        }
        // Pausing stops sends at once: a recipient claimed before the pause
        // goes back to wait, and is taken up again on resume.
        if !executions::campaign_sending(&self.db, claimed.campaign_id).await? {
            return Ok(Delivery::Stop(Move {
                status: recipient_status::ACTIVE,
                node: Some(node.to_owned()),
                wake_at: Some(now),
                state: None,
                error: None,
            }));
        }
        if !outbox::claim_for_send(&self.db, reserved.id, now, self.lease).await? {
            // Another runner holds it, or a retry is not due yet.
            return Ok(Delivery::Stop(retry_at(
                node,
                reserved.lease_until.unwrap_or(now) + Duration::seconds(1),
            )));
        }
        match channels.send(channel, &outgoing).await {
            Ok(receipt) => {
                outbox::record_sent(
                    &self.db,
                    reserved.id,
                    &receipt.provider_message_id,
                    Utc::now(),
                )
                .await?;
                executions::mark_recipient(
                    &self.db,
                    claimed.id,
                    campaign_recipient::Column::SentAt,
                    Utc::now(),
                )
                .await?;
                Ok(Delivery::Done)
            }
            Err(SendError::Unknown { reason }) => {
                outbox::record_unknown(&self.db, reserved.id, &reason, Utc::now()).await?;
                Ok(Delivery::Stop(unknown(node)))
            }
            Err(err) => match err.retry_after() {
                Some(after) if !matches!(err, SendError::OptedOut { .. }) => {
                    let at =
                        Utc::now() + Duration::from_std(after).unwrap_or(Duration::seconds(60));
                    outbox::retry_later(&self.db, reserved.id, err.reason(), at).await?;
                    Ok(Delivery::Stop(retry_at(node, at)))
                }
                _ => {
                    outbox::record_failed(&self.db, reserved.id, err.reason(), Utc::now()).await?;
                    if let SendError::OptedOut { .. } = err {
                        customers::record_opt_out(
                            &self.db,
                            tenant,
                            customer.id,
                            channel,
                            "provider_131050",
                            Utc::now(),
                        )
                        .await?;
                    }
                    Ok(Delivery::Stop(failed(node, err.reason().to_owned())))
                }
            },
        }
    }
}

/// One message to send for a node.
struct Outgoing<'a> {
    node: &'a str,
    channel: Channel,
    /// What the outbox row keeps of it.
    content: Value,
    message: ChannelMessage,
    /// Tracked links rendered into it: (code, target).
    links: &'a [(String, String)],
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

struct Resume {
    node: String,
    input: StepInput,
}

enum Delivery {
    Done,
    Stop(Move),
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
