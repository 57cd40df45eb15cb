//! One claimed recipient's way through its campaign's graph within a batch,
//! in memory: the steps that need nothing but its context (conditions,
//! splits, delays, waits, exits) are taken here, and the walk stops at the
//! next node with work to do (a message, a customer update, a webhook, an
//! approval). Nothing here reads or writes the database or calls a provider.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use entity::entities::enums::Channel;
use entity::entities::{campaign_execution, campaign_recipient, customer, enrollment};
use entity::executions::{self, Move, recipient_status};
use entity::outbox;
use entity::{Tenant, customers};
use serde_json::{Value, json};
use uuid::Uuid;
use workflow::{
    CompiledGraph, OutboundMessage, RecipientContext, StepInput, Transition, UpdateCustomerData,
};

use super::WorkspaceSetup;
use crate::channels::{ChannelMessage, Content, Recipient};

/// Steps one recipient may take per claim before yielding to others.
const MAX_STEPS_PER_CLAIM: usize = 32;
/// How long a message waiting for approval stays suggested.
const APPROVAL_WINDOW: Duration = Duration::days(2);

/// A claimed recipient on its way through its graph within one batch.
pub(super) struct Walk<'a> {
    pub(super) recipient: &'a campaign_recipient::Model,
    pub(super) execution: &'a campaign_execution::Model,
    graph: Arc<CompiledGraph>,
    pub(super) customer: &'a customer::Model,
    pub(super) ctx: RecipientContext,
    pub(super) setup: Arc<WorkspaceSetup>,
    /// The node its stored row is at.
    pub(super) stored: String,
    /// The node the walk has reached.
    pub(super) at: String,
    input: StepInput,
    steps: usize,
    /// Whether the walk went anywhere since it was last stored.
    pub(super) moved: bool,
    /// The state and error the latest steps left, stored with the next move.
    pub(super) state: Option<Value>,
    pub(super) error: Option<String>,
    /// Stamps the recipient's first send with the next move.
    pub(super) sent_at: Option<DateTime<Utc>>,
    pub(super) leg: Leg,
}

/// Where a walk is in its batch.
pub(super) enum Leg {
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
pub(super) enum Act {
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
pub(super) struct Outgoing {
    pub(super) channel: Channel,
    /// What the outbox row keeps of it.
    pub(super) content: Value,
    pub(super) message: ChannelMessage,
    /// Tracked links rendered into it: (code, target).
    pub(super) links: Vec<(String, String)>,
}

impl Outgoing {
    pub(super) fn new(
        channel: Channel,
        message: ChannelMessage,
        links: Vec<(String, String)>,
    ) -> Self {
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
    pub(super) fn start(
        recipient: &'a campaign_recipient::Model,
        execution: &'a campaign_execution::Model,
        graph: Arc<CompiledGraph>,
        customer: &'a customer::Model,
        setup: Arc<WorkspaceSetup>,
        enrollment: Option<&enrollment::Model>,
        now: DateTime<Utc>,
    ) -> Option<Self> {
        let node = recipient.current_node_id.clone()?;
        let mut ctx = context_for(
            recipient.id,
            customer,
            enrollment,
            setup.time_zone,
            setup.access_url.as_deref(),
        );
        if let Some(entry) = &recipient.entry_key {
            ctx.event = started_by(entry);
        }
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

    pub(super) fn tenant(&self) -> Tenant {
        Tenant::new(self.recipient.workspace_id)
    }

    /// Goes on to `next` and keeps walking.
    pub(super) fn pass(&mut self, next: String) {
        self.at = next;
        self.input = StepInput::Enter;
        self.moved = true;
        self.leg = Leg::Walking;
    }

    /// Ends the walk for this claim with `to`; the state and error of
    /// earlier steps stand unless `to` replaces them.
    pub(super) fn settle(&mut self, mut to: Move) {
        to.state = to.state.or(self.state.take());
        to.error = to.error.or(self.error.take());
        self.leg = Leg::Settled(to);
    }

    /// Takes the steps that need nothing but the recipient's context, up to
    /// the next node with work to do or the end of this claim's walk.
    pub(super) fn walk(&mut self, now: DateTime<Utc>) {
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
                    matching,
                } => {
                    let mut state = json!({"await": "event", "event": event, "onEvent": on_event, "onTimeout": on_timeout});
                    if let Some(part) = matching {
                        state["match"] = json!(part.as_str());
                    }
                    self.settle(Move {
                        status: recipient_status::WAITING,
                        node: Some(self.at.clone()),
                        wake_at: Some(timeout_at),
                        state: Some(state),
                        error: None,
                    })
                }
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
    pub(super) fn next_move(&self, held_until: DateTime<Utc>) -> Option<Move> {
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

pub(crate) fn storage_channel(channel: workflow::Channel) -> Channel {
    match channel {
        workflow::Channel::Whatsapp => Channel::Whatsapp,
        workflow::Channel::Email => Channel::Email,
        workflow::Channel::Sms => Channel::Sms,
        workflow::Channel::Push => Channel::Push,
        workflow::Channel::Webhook => Channel::Webhook,
        workflow::Channel::Log => Channel::Log,
    }
}

/// The key of the event that started a journey, as templates and
/// conditions read it (`event.transaction`, `event.productName`, …).
pub(crate) fn started_by(entry: &Value) -> workflow::EventFields {
    let key = workflow::EventKey::of(entry);
    workflow::EventFields {
        transaction: key.transaction,
        product_id: key.product_id.map(|id| id.to_string()),
        product_name: entry
            .get("productName")
            .and_then(Value::as_str)
            .map(str::to_owned),
        offer_code: key.offer_code,
        subscriber_code: key.subscriber_code,
        ..workflow::EventFields::default()
    }
}

/// What templates and conditions read about a customer (and their
/// enrollment in the product at hand); `id` seeds the split.
pub(crate) fn context_for(
    id: Uuid,
    customer: &customer::Model,
    enrollment: Option<&enrollment::Model>,
    time_zone: chrono_tz::Tz,
    access_url: Option<&str>,
) -> RecipientContext {
    let mut ctx = RecipientContext::new(id, time_zone);
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
        ctx.enrollment.last_access_at = enrollment.last_access_at;
        ctx.enrollment.last_lesson_completed_at = enrollment.last_lesson_completed_at;
        ctx.enrollment.progress = Some(enrollment.progress_percent.to_string());
        ctx.enrollment.access_url = access_url.map(str::to_owned);
    }
    ctx
}

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

pub(super) fn failed(node: &str, error: String) -> Move {
    Move {
        status: recipient_status::FAILED,
        node: Some(node.to_owned()),
        wake_at: None,
        state: None,
        error: Some(error),
    }
}

pub(super) fn unknown(node: &str) -> Move {
    Move {
        status: recipient_status::UNKNOWN,
        node: Some(node.to_owned()),
        wake_at: None,
        state: None,
        error: Some("the send's outcome is unknown; it is never repeated".into()),
    }
}

/// Stay at the node and try the step again at `at` (the message is reserved, so nothing is sent twice).
pub(super) fn retry_at(node: &str, at: DateTime<Utc>) -> Move {
    Move {
        status: recipient_status::ACTIVE,
        node: Some(node.to_owned()),
        wake_at: Some(at),
        state: None,
        error: None,
    }
}

#[cfg(test)]
mod tests;
