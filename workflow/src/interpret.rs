//! The interpreter: (graph, node, recipient, input, now) → transition, with
//! no I/O. The worker persists the transition and performs its effect; the
//! interpreter never sends, sleeps or reads anything itself.
//!
//! A recipient enters each node with [`StepInput::Enter`]. Waiting
//! transitions name every node the wait can lead to, so the worker can move
//! the recipient on without asking again; it may also ask, by stepping the
//! waiting node with the input that ended the wait ([`StepInput::TimerElapsed`],
//! [`StepInput::Event`], [`StepInput::Timeout`], [`StepInput::Approved`], ...),
//! which answers [`Transition::Advance`] to the same node.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::RecipientContext;
use crate::events::KeyPart;
use crate::graph::Graph;
use crate::nodes::{
    Channel, DEFAULT_HANDLE, DelayData, NodeData, NodeDataError, TemplateRef, UpdateCustomerData,
};
use crate::split::choose_branch;
use crate::template::{self, TrackedLink};
use crate::time::next_time_of_day;

/// What happened to the recipient at the node being stepped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum StepInput {
    /// The recipient arrives at the node.
    Enter,
    /// A delay's time has come.
    TimerElapsed,
    /// The event a `waitForEvent` waits for happened.
    Event {
        event: String,
    },
    /// A `waitForEvent` timed out.
    Timeout,
    /// An approval's dispatch item was approved.
    Approved,
    Rejected,
    Expired,
}

/// What the worker must do, and where the recipient goes next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Transition {
    /// Move to `next` at once.
    Advance { next: String },
    /// Send (or, with `require_approval`, queue for approval) the message,
    /// then move to `next`.
    Send {
        message: OutboundMessage,
        next: String,
    },
    /// Sleep until `until`, then move to `next`.
    WaitUntil { until: DateTime<Utc>, next: String },
    /// Wait for `event`; go to `on_event` when it happens, to `on_timeout`
    /// at `timeout_at` if it has not.
    /// With `matching`, only an event whose key has the same part as the
    /// event that started the journey counts.
    AwaitEvent {
        event: String,
        timeout_at: DateTime<Utc>,
        on_event: String,
        on_timeout: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        matching: Option<KeyPart>,
    },
    /// Create a dispatch item and wait for a person's decision, or its expiry.
    AwaitApproval {
        expires_at: DateTime<Utc>,
        on_approved: String,
        on_rejected: String,
        on_expired: String,
    },
    /// Apply the tag and field changes, then move to `next`.
    UpdateCustomer {
        changes: UpdateCustomerData,
        next: String,
    },
    /// Make the request, then move to `next`.
    CallWebhook {
        request: WebhookRequest,
        next: String,
    },
    /// The journey is over; `goal` is the conversion it counts, if any.
    Exit { goal: Option<String> },
}

/// A message to send, its texts still templates: the worker renders it
/// with [`OutboundMessage::render`], choosing the tracked links' codes, and
/// stores those links in the transaction that reserves the outbox row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundMessage {
    pub channel: Channel,
    pub template: Option<TemplateRef>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub variables: Vec<(String, String)>,
    /// WhatsApp dynamic URL button suffixes by button index.
    #[serde(default)]
    pub button_variables: Vec<(u32, String)>,
    pub require_approval: bool,
}

/// A message ready for its channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderedMessage {
    pub channel: Channel,
    pub template: Option<TemplateRef>,
    pub subject: Option<String>,
    pub body: Option<String>,
    /// Numeric keys (WhatsApp's positional `{{1}}`, `{{2}}`) in numeric
    /// order first, then the others in the builder's order.
    pub variables: Vec<(String, String)>,
    /// WhatsApp dynamic URL button suffixes by button index, in index order.
    #[serde(default)]
    pub button_variables: Vec<(u32, String)>,
    /// Every URL replaced by a tracked link, across subject, body,
    /// variables and button variables, in that order.
    pub links: Vec<TrackedLink>,
    pub require_approval: bool,
}

impl OutboundMessage {
    /// Renders every text for `ctx`; `track` turns a URL into its tracked URL.
    pub fn render(
        &self,
        ctx: &RecipientContext,
        track: &mut dyn FnMut(&str) -> String,
    ) -> RenderedMessage {
        let mut links = Vec::new();
        let mut render = |text: &str| {
            let rendered = template::render(text, ctx, track);
            links.extend(rendered.links);
            rendered.text
        };
        let subject = self.subject.as_deref().map(&mut render);
        let body = self.body.as_deref().map(&mut render);
        let mut variables: Vec<(String, String)> = self
            .variables
            .iter()
            .map(|(key, text)| (key.clone(), render(text)))
            .collect();
        variables.sort_by_key(|(key, _)| key.parse::<u64>().unwrap_or(u64::MAX));
        let button_variables = self
            .button_variables
            .iter()
            .map(|(index, text)| (*index, render(text)))
            .collect();
        RenderedMessage {
            channel: self.channel,
            template: self.template.clone(),
            subject,
            body,
            variables,
            button_variables,
            links,
            require_approval: self.require_approval,
        }
    }
}

/// An HTTP request of a `webhook` node, rendered for the recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRequest {
    pub method: String,
    pub url: String,
    /// JSON to send; every string in it rendered (a string body is sent as is).
    pub body: Option<Value>,
}

/// Why a step could not be taken. A graph that passed validation only
/// produces [`StepError::UnexpectedInput`], and only if the worker mixes up
/// its inputs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    #[error("there is no node {0:?}")]
    UnknownNode(String),
    #[error("node {node_id:?}: {error}")]
    InvalidNode {
        node_id: String,
        error: NodeDataError,
    },
    #[error("node {node_id:?}: handle {handle:?} is not connected")]
    Unconnected { node_id: String, handle: String },
    #[error("node {node_id:?} ({node_type}) does not take {input:?}")]
    UnexpectedInput {
        node_id: String,
        node_type: &'static str,
        input: StepInput,
    },
    #[error("node {node_id:?}: the wait ends past the representable time")]
    TimeOutOfRange { node_id: String },
    #[error("node {node_id:?}: no split branch has a positive weight")]
    NoBranch { node_id: String },
}

/// Steps a recipient through one node of `graph`, reading the node afresh.
/// For many recipients of one graph, [`CompiledGraph`] reads it once.
pub fn step(
    graph: &Graph,
    node_id: &str,
    ctx: &RecipientContext,
    input: StepInput,
    now: DateTime<Utc>,
) -> Result<Transition, StepError> {
    let node = graph
        .node(node_id)
        .ok_or_else(|| StepError::UnknownNode(node_id.to_owned()))?;
    let data = node.typed_data().map_err(|error| StepError::InvalidNode {
        node_id: node_id.to_owned(),
        error,
    })?;
    step_node(
        node_id,
        &data,
        &|handle| graph.next_node(node_id, handle),
        ctx,
        input,
        now,
    )
}

/// A graph read once for many steps: typed node data and an index of edges
/// by (node, handle). Lookups agree with [`Graph::node`] and
/// [`Graph::next_node`]: the first node with an id, the first edge per handle.
#[derive(Debug, Clone)]
pub struct CompiledGraph {
    nodes: HashMap<String, Result<NodeData, NodeDataError>>,
    edges: HashMap<(String, String), String>,
    entry: Option<String>,
}

impl CompiledGraph {
    pub fn new(graph: &Graph) -> Self {
        let mut nodes = HashMap::new();
        for node in &graph.nodes {
            nodes
                .entry(node.id.clone())
                .or_insert_with(|| node.typed_data());
        }
        let mut edges = HashMap::new();
        for edge in &graph.edges {
            edges
                .entry((edge.source.clone(), edge.handle().to_owned()))
                .or_insert_with(|| edge.target.clone());
        }
        Self {
            nodes,
            edges,
            entry: graph.trigger().map(|n| n.id.clone()),
        }
    }

    /// The trigger's id: where recipients enter.
    pub fn entry(&self) -> Option<&str> {
        self.entry.as_deref()
    }

    /// The typed data of a node.
    pub fn node(&self, node_id: &str) -> Option<&Result<NodeData, NodeDataError>> {
        self.nodes.get(node_id)
    }

    /// Same as [`step`].
    pub fn step(
        &self,
        node_id: &str,
        ctx: &RecipientContext,
        input: StepInput,
        now: DateTime<Utc>,
    ) -> Result<Transition, StepError> {
        let data = match self.nodes.get(node_id) {
            None => return Err(StepError::UnknownNode(node_id.to_owned())),
            Some(Err(error)) => {
                return Err(StepError::InvalidNode {
                    node_id: node_id.to_owned(),
                    error: error.clone(),
                });
            }
            Some(Ok(data)) => data,
        };
        let next = |handle: &str| {
            self.edges
                .get(&(node_id.to_owned(), handle.to_owned()))
                .map(String::as_str)
        };
        step_node(node_id, data, &next, ctx, input, now)
    }
}

fn step_node<'g>(
    node_id: &str,
    data: &NodeData,
    next: &dyn Fn(&str) -> Option<&'g str>,
    ctx: &RecipientContext,
    input: StepInput,
    now: DateTime<Utc>,
) -> Result<Transition, StepError> {
    let target = |handle: &str| {
        next(handle)
            .map(str::to_owned)
            .ok_or_else(|| StepError::Unconnected {
                node_id: node_id.to_owned(),
                handle: handle.to_owned(),
            })
    };
    let in_time = |at: Option<DateTime<Utc>>| {
        at.ok_or_else(|| StepError::TimeOutOfRange {
            node_id: node_id.to_owned(),
        })
    };
    let advance = |handle: &str| {
        Ok(Transition::Advance {
            next: target(handle)?,
        })
    };
    let tz = ctx.time_zone;
    match (data, input) {
        (NodeData::Trigger(_), StepInput::Enter) => advance(DEFAULT_HANDLE),
        (NodeData::Delay(delay), StepInput::Enter) => Ok(Transition::WaitUntil {
            until: in_time(match delay {
                DelayData::For(duration) => duration.after(now, tz),
                DelayData::Until(time) => next_time_of_day(now, tz, *time),
            })?,
            next: target(DEFAULT_HANDLE)?,
        }),
        (NodeData::Delay(_), StepInput::TimerElapsed) => advance(DEFAULT_HANDLE),
        (NodeData::WaitForEvent(wait), StepInput::Enter) => Ok(Transition::AwaitEvent {
            event: wait.event.clone(),
            timeout_at: in_time(wait.timeout.after(now, tz))?,
            on_event: target("event")?,
            on_timeout: target("timeout")?,
            matching: wait.matching,
        }),
        (NodeData::WaitForEvent(wait), StepInput::Event { event }) if event == wait.event => {
            advance("event")
        }
        (NodeData::WaitForEvent(_), StepInput::Timeout) => advance("timeout"),
        (NodeData::Condition(condition), StepInput::Enter) => {
            advance(if condition.evaluate(ctx, now) {
                "true"
            } else {
                "false"
            })
        }
        (NodeData::Split(split), StepInput::Enter) => {
            let branch =
                choose_branch(&split.branches, ctx.recipient_id, node_id).ok_or_else(|| {
                    StepError::NoBranch {
                        node_id: node_id.to_owned(),
                    }
                })?;
            advance(&branch.id)
        }
        (NodeData::SendMessage(message), StepInput::Enter) => Ok(Transition::Send {
            message: OutboundMessage {
                channel: message.channel,
                template: message.template.clone(),
                subject: message.subject.clone(),
                body: message.body.clone(),
                variables: message.variables.clone(),
                button_variables: message.button_variables.clone(),
                require_approval: message.require_approval,
            },
            next: target(DEFAULT_HANDLE)?,
        }),
        (NodeData::Approval(approval), StepInput::Enter) => Ok(Transition::AwaitApproval {
            expires_at: in_time(approval.expires_after.after(now, tz))?,
            on_approved: target("approved")?,
            on_rejected: target("rejected")?,
            on_expired: target("expired")?,
        }),
        (NodeData::Approval(_), StepInput::Approved) => advance("approved"),
        (NodeData::Approval(_), StepInput::Rejected) => advance("rejected"),
        (NodeData::Approval(_), StepInput::Expired) => advance("expired"),
        (NodeData::UpdateCustomer(changes), StepInput::Enter) => Ok(Transition::UpdateCustomer {
            changes: changes.clone(),
            next: target(DEFAULT_HANDLE)?,
        }),
        (NodeData::Webhook(webhook), StepInput::Enter) => Ok(Transition::CallWebhook {
            request: WebhookRequest {
                method: webhook.method.clone(),
                url: template::render_url(&webhook.url, ctx),
                body: webhook.body.as_ref().map(|body| render_json(body, ctx)),
            },
            next: target(DEFAULT_HANDLE)?,
        }),
        (NodeData::Exit(exit), StepInput::Enter) => Ok(Transition::Exit {
            goal: exit.goal.clone(),
        }),
        (data, input) => Err(StepError::UnexpectedInput {
            node_id: node_id.to_owned(),
            node_type: data.node_type().name(),
            input,
        }),
    }
}

fn render_json(value: &Value, ctx: &RecipientContext) -> Value {
    match value {
        Value::String(text) => Value::String(template::render_untracked(text, ctx)),
        Value::Array(items) => Value::Array(items.iter().map(|v| render_json(v, ctx)).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), render_json(v, ctx)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use uuid::Uuid;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn graph() -> Graph {
        Graph::from_value(&json!({
            "nodes": [
                {"id": "t", "type": "trigger", "data": {"source": "manual"}},
                {"id": "c", "type": "condition", "data": {"combinator": "or", "rules": [
                    {"field": "customer.tags", "op": "contains", "value": "vip"},
                    {"field": "customer.ltvTotal", "op": "gte", "value": 1000}]}},
                {"id": "s", "type": "split", "data": {"branches": [{"id": "a", "weight": 1}, {"id": "b", "weight": 1}]}},
                {"id": "m", "type": "sendMessage", "data": {"channel": "whatsapp", "templateName": "boas_vindas",
                    "language": "pt_BR", "requireApproval": true,
                    "variables": {"10": "x", "2": "{{link:enrollment.access_url}}", "1": "{{customer.first_name}}", "btn": "{{link:https://a.example/p}}"}}},
                {"id": "d", "type": "delay", "data": {"duration": "P1D"}},
                {"id": "u", "type": "delay", "data": {"until": "09:00"}},
                {"id": "w", "type": "waitForEvent", "data": {"event": "first_access", "timeout": "P3D"}},
                {"id": "ap", "type": "approval", "data": {"expiresAfter": "PT12H"}},
                {"id": "up", "type": "updateCustomer", "data": {"addTags": ["vip"], "set": {"segment": "active"}}},
                {"id": "h", "type": "webhook", "data": {"url": "https://h.example/c?e={{customer.email}}",
                    "method": "post", "body": {"name": "{{customer.name}}", "n": 1, "l": ["{{link:https://x.example}}"]}}},
                {"id": "x", "type": "exit", "data": {"goal": "purchase_approved"}},
                {"id": "bad", "type": "delay", "data": {}}
            ],
            "edges": [
                {"id": "1", "source": "t", "target": "c"},
                {"id": "2", "source": "c", "sourceHandle": "true", "target": "m"},
                {"id": "3", "source": "c", "sourceHandle": "false", "target": "s"},
                {"id": "4", "source": "s", "sourceHandle": "a", "target": "d"},
                {"id": "5", "source": "s", "sourceHandle": "b", "target": "u"},
                {"id": "6", "source": "m", "target": "w"},
                {"id": "7", "source": "d", "target": "w"},
                {"id": "8", "source": "u", "sourceHandle": "default", "target": "ap"},
                {"id": "9", "source": "w", "sourceHandle": "event", "target": "x"},
                {"id": "10", "source": "w", "sourceHandle": "timeout", "target": "ap"},
                {"id": "11", "source": "ap", "sourceHandle": "approved", "target": "up"},
                {"id": "12", "source": "ap", "sourceHandle": "rejected", "target": "x"},
                {"id": "13", "source": "ap", "sourceHandle": "expired", "target": "h"},
                {"id": "14", "source": "up", "target": "x"},
                {"id": "15", "source": "h", "target": "x"}
            ]
        }))
        .unwrap()
    }

    fn ctx() -> RecipientContext {
        let mut ctx = RecipientContext::new(Uuid::from_u128(42), chrono_tz::America::Sao_Paulo);
        ctx.customer.name = Some("Maria Souza".into());
        ctx.customer.email = Some("maria@example.com".into());
        ctx.customer.ltv_total = Some("999.99".into());
        ctx.enrollment.access_url = Some("https://club.example/m".into());
        ctx
    }

    const NOW: &str = "2025-06-10T10:00:00-03:00";

    fn enter(node: &str, ctx: &RecipientContext) -> Transition {
        let g = graph();
        let fresh = step(&g, node, ctx, StepInput::Enter, at(NOW)).unwrap();
        let compiled = CompiledGraph::new(&g)
            .step(node, ctx, StepInput::Enter, at(NOW))
            .unwrap();
        assert_eq!(fresh, compiled);
        fresh
    }

    fn advance(next: &str) -> Transition {
        Transition::Advance { next: next.into() }
    }

    #[test]
    fn trigger_and_condition() {
        assert_eq!(enter("t", &ctx()), advance("c"));
        assert_eq!(enter("c", &ctx()), advance("s"));
        let mut vip = ctx();
        vip.customer.tags = vec!["vip".into()];
        assert_eq!(enter("c", &vip), advance("m"));
        let mut rich = ctx();
        rich.customer.ltv_total = Some("1000.00".into());
        assert_eq!(enter("c", &rich), advance("m"));
    }

    #[test]
    fn split_is_deterministic_per_recipient() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..64 {
            let mut c = ctx();
            c.recipient_id = Uuid::from_u128(i);
            let first = enter("s", &c);
            assert_eq!(enter("s", &c), first);
            seen.insert(format!("{first:?}"));
        }
        assert_eq!(seen.len(), 2, "both branches are used");
    }

    #[test]
    fn send_carries_the_message_and_renders_it_with_tracked_links() {
        let Transition::Send { message, next } = enter("m", &ctx()) else {
            panic!("not a send")
        };
        assert_eq!(next, "w");
        assert_eq!(message.channel, Channel::Whatsapp);
        assert!(message.require_approval);
        let mut codes = 0;
        let rendered = message.render(&ctx(), &mut |_| {
            codes += 1;
            format!("https://t.example/r/{codes}")
        });
        assert_eq!(
            rendered.variables,
            vec![
                ("1".into(), "Maria".into()),
                ("2".into(), "https://t.example/r/1".into()),
                ("10".into(), "x".into()),
                ("btn".into(), "https://t.example/r/2".into()),
            ]
        );
        assert_eq!(rendered.links.len(), 2);
        assert_eq!(rendered.links[0].url, "https://club.example/m");
        assert_eq!(rendered.links[1].url, "https://a.example/p");
    }

    #[test]
    fn delays_wait_and_then_advance() {
        assert_eq!(
            enter("d", &ctx()),
            Transition::WaitUntil {
                until: at("2025-06-11T10:00:00-03:00"),
                next: "w".into()
            }
        );
        assert_eq!(
            enter("u", &ctx()),
            Transition::WaitUntil {
                until: at("2025-06-11T09:00:00-03:00"),
                next: "ap".into()
            }
        );
        let g = graph();
        assert_eq!(
            step(&g, "d", &ctx(), StepInput::TimerElapsed, at(NOW)).unwrap(),
            advance("w")
        );
    }

    #[test]
    fn waits_name_every_way_out_and_resume_on_their_input() {
        assert_eq!(
            enter("w", &ctx()),
            Transition::AwaitEvent {
                event: "first_access".into(),
                timeout_at: at("2025-06-13T10:00:00-03:00"),
                on_event: "x".into(),
                on_timeout: "ap".into(),
                matching: None
            }
        );
        assert_eq!(
            enter("ap", &ctx()),
            Transition::AwaitApproval {
                expires_at: at("2025-06-10T22:00:00-03:00"),
                on_approved: "up".into(),
                on_rejected: "x".into(),
                on_expired: "h".into()
            }
        );
        let g = graph();
        let resume = |node, input| step(&g, node, &ctx(), input, at(NOW));
        let event = StepInput::Event {
            event: "first_access".into(),
        };
        assert_eq!(resume("w", event).unwrap(), advance("x"));
        assert_eq!(resume("w", StepInput::Timeout).unwrap(), advance("ap"));
        assert_eq!(resume("ap", StepInput::Approved).unwrap(), advance("up"));
        assert_eq!(resume("ap", StepInput::Rejected).unwrap(), advance("x"));
        assert_eq!(resume("ap", StepInput::Expired).unwrap(), advance("h"));
        let other = StepInput::Event {
            event: "purchase_approved".into(),
        };
        assert!(matches!(
            resume("w", other),
            Err(StepError::UnexpectedInput { .. })
        ));
        assert!(matches!(
            resume("c", StepInput::Approved),
            Err(StepError::UnexpectedInput {
                node_type: "condition",
                ..
            })
        ));
    }

    #[test]
    fn update_customer_webhook_and_exit() {
        let Transition::UpdateCustomer { changes, next } = enter("up", &ctx()) else {
            panic!()
        };
        assert_eq!(
            (changes.add_tags, next),
            (vec!["vip".to_owned()], "x".to_owned())
        );
        assert_eq!(
            enter("h", &ctx()),
            Transition::CallWebhook {
                request: WebhookRequest {
                    method: "POST".into(),
                    url: "https://h.example/c?e=maria%40example.com".into(),
                    body: Some(json!({"name": "Maria Souza", "n": 1, "l": ["https://x.example"]})),
                },
                next: "x".into()
            }
        );
        assert_eq!(
            enter("x", &ctx()),
            Transition::Exit {
                goal: Some("purchase_approved".into())
            }
        );
    }

    #[test]
    fn broken_graphs_are_errors_not_panics() {
        let g = graph();
        let c = ctx();
        let now = at(NOW);
        assert_eq!(
            step(&g, "ghost", &c, StepInput::Enter, now),
            Err(StepError::UnknownNode("ghost".into()))
        );
        assert!(matches!(
            step(&g, "bad", &c, StepInput::Enter, now),
            Err(StepError::InvalidNode { .. })
        ));
        let mut cut = g.clone();
        cut.edges.retain(|e| e.id != "6");
        assert_eq!(
            step(&cut, "m", &c, StepInput::Enter, now),
            Err(StepError::Unconnected {
                node_id: "m".into(),
                handle: "default".into()
            })
        );
        let far = DateTime::<Utc>::MAX_UTC;
        assert_eq!(
            step(&g, "d", &c, StepInput::Enter, far),
            Err(StepError::TimeOutOfRange {
                node_id: "d".into()
            })
        );
    }

    #[test]
    fn transitions_serialise_as_tagged_camel_case() {
        let value = serde_json::to_value(enter("w", &ctx())).unwrap();
        assert_eq!(value["kind"], json!("awaitEvent"));
        assert_eq!(value["onTimeout"], json!("ap"));
        assert_eq!(value["timeoutAt"], json!("2025-06-13T13:00:00Z"));
        let back: Transition = serde_json::from_value(value).unwrap();
        assert_eq!(back, enter("w", &ctx()));
        assert_eq!(
            serde_json::to_value(StepInput::Event { event: "x".into() }).unwrap(),
            json!({"kind": "event", "event": "x"})
        );
    }
}
