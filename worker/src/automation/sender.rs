//! Sends the approved items of automation rules, through the same outbox
//! and send rules as a campaign's messages: opt-outs, the 24 h WhatsApp
//! window, quiet hours and the frequency cap (which defer the send), rate
//! limits. Each item is sent at most once: its message is reserved under
//! the key `dispatch:{item}` and claimed as `sending` before the provider is
//! called, so a sender killed mid-call leaves a message the next one finds
//! and never sends again.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use entity::Tenant;
use entity::dispatch::rules::{self as rule_items, SendOutcome};
use entity::entities::enums::{Channel, MessageStatus};
use entity::entities::{automation_rule, customer, dispatch_item};
use entity::links::NewLink;
use entity::outbox::{self, NewMessage};
use futures::StreamExt;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter,
    TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;
use workflow::{RenderedMessage, TemplateRef};

use crate::campaigns::policy::{SendHistory, Verdict};
use crate::campaigns::runner::send::{channel_message, opted_out};
use crate::campaigns::runner::{RunnersShared, WorkspaceSetup};
use crate::channels::{ChannelMessage, ChannelsCache, SendError};

/// Provider calls under way at once.
const CONCURRENT_CALLS: usize = 64;

/// The idempotency key of an item's message.
pub fn dispatch_key(item_id: Uuid) -> String {
    format!("dispatch:{item_id}")
}

/// Sends approved items; one per worker, keeping its channels between batches.
pub struct DispatchSender {
    pub db: DatabaseConnection,
    pub secrets: entity::SecretKey,
    pub public_url: String,
    pub lease: Duration,
    pub clock: entity::Clock,
    pub channels: ChannelsCache,
    pub shared: RunnersShared,
    pub signals: entity::WorkSignals,
}

/// A message cleared to go: its channel, the message, and its tracked links (code, URL).
type Ready = (Channel, ChannelMessage, Vec<(String, String)>);

/// A provider's answer to one item's send.
struct Answered {
    item: dispatch_item::Model,
    message_id: Uuid,
    channel: Channel,
    result: Result<crate::channels::SendReceipt, SendError>,
    at: DateTime<Utc>,
}

/// An item cleared to go, with its message.
struct Cleared {
    item: dispatch_item::Model,
    setup: Arc<WorkspaceSetup>,
    channel: Channel,
    message: ChannelMessage,
    links: Vec<(String, String)>,
    message_id: Option<Uuid>,
}

impl DispatchSender {
    /// Sends up to `limit` due items; returns how many were taken.
    ///
    /// The items are taken, cleared and their messages reserved in one
    /// transaction ([`rule_items::take_sends`]); the provider is called
    /// after it commits.
    pub async fn send_batch(&self, limit: u64) -> Result<usize, entity::Error> {
        let now = self.clock.now();
        let Some(txn) = entity::db::begin_taking(&self.db, rule_items::due_sends(now)).await?
        else {
            return Ok(0);
        };
        let items = rule_items::take_sends(&txn, limit, now).await?;
        if items.is_empty() {
            return Ok(0);
        }
        let taken = items.len();
        let mut setups: HashMap<Uuid, Arc<WorkspaceSetup>> = HashMap::new();
        for item in &items {
            if let std::collections::hash_map::Entry::Vacant(entry) =
                setups.entry(item.workspace_id)
            {
                let setup = WorkspaceSetup::load(
                    &self.db,
                    &self.secrets,
                    &self.channels,
                    item.workspace_id,
                )
                .await?;
                entry.insert(Arc::new(setup));
            }
        }
        let customer_ids: Vec<Uuid> = items.iter().map(|i| i.customer_id).collect();
        let customers: HashMap<Uuid, customer::Model> = customer::Entity::find()
            .filter(customer::Column::Id.is_in(customer_ids.iter().copied()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let mut histories: HashMap<Uuid, SendHistory> = HashMap::new();
        for (workspace_id, setup) in &setups {
            let of_workspace: Vec<Uuid> = items
                .iter()
                .filter(|i| i.workspace_id == *workspace_id)
                .map(|i| i.customer_id)
                .collect();
            histories.extend(SendHistory::of(&self.db, &of_workspace, &setup.policy, now).await?);
        }
        let mut cleared = Vec::new();
        for item in items {
            let setup = setups[&item.workspace_id].clone();
            let Some(customer) = customers.get(&item.customer_id) else {
                // Deleted meanwhile (its items go with it): look again later.
                let later = SendOutcome::Later(now + self.lease);
                rule_items::record_send(&txn, item.id, later, now).await?;
                continue;
            };
            match self.clear(&item, customer, &setup, &mut histories, now) {
                Ok((channel, message, links)) => cleared.push(Cleared {
                    item,
                    setup,
                    channel,
                    message,
                    links,
                    message_id: None,
                }),
                Err(outcome) => rule_items::record_send(&txn, item.id, outcome, now).await?,
            }
        }
        self.reserve(&txn, &mut cleared, now).await?;
        txn.commit().await?;
        let answered: Vec<Answered> = futures::stream::iter(cleared)
            .map(|c| self.call(c))
            .buffer_unordered(CONCURRENT_CALLS)
            .filter_map(std::future::ready)
            .collect()
            .await;
        let (accepted, others): (Vec<Answered>, Vec<Answered>) =
            answered.into_iter().partition(|a| a.result.is_ok());
        if let Err(err) = self.record_accepted(&accepted).await {
            tracing::warn!(error = %err, "recording accepted dispatch sends failed; their leases run out and the messages decide");
        }
        for answer in others {
            if let Err(err) = self.record_not_accepted(answer).await {
                tracing::warn!(error = %err, "recording a dispatch send failed; its lease runs out and the message decides");
            }
        }
        // Queue screens of these workspaces look again.
        for workspace_id in setups.keys() {
            self.signals.workspace_changed(*workspace_id);
        }
        Ok(taken)
    }

    /// The send rules' verdict on one item, and its message when it may go.
    fn clear(
        &self,
        item: &dispatch_item::Model,
        customer: &customer::Model,
        setup: &WorkspaceSetup,
        histories: &mut HashMap<Uuid, SendHistory>,
        now: DateTime<Utc>,
    ) -> Result<Ready, SendOutcome> {
        let refused = |code: &str, reason: &str| SendOutcome::Refused {
            code: code.to_owned(),
            reason: reason.to_owned(),
        };
        if opted_out(customer, item.channel) {
            return Err(refused(
                "OPTED_OUT",
                "the customer opted out of this channel",
            ));
        }
        let content = item.edited_content.as_ref().unwrap_or(&item.variables);
        let (mut rendered, free_text) = rendered_of(item, content);
        let verdict = match setup.policy.verdict(
            entity::whatsapp::window_until(customer),
            histories.get(&customer.id),
            item.channel,
            free_text,
            now,
        ) {
            Verdict::Go => match self.shared.rate_limits.take(
                item.workspace_id,
                item.channel,
                setup.policy.per_second(item.channel),
                now,
            ) {
                Some(at) => Verdict::Wait(at),
                None => Verdict::Go,
            },
            other => other,
        };
        match verdict {
            Verdict::Wait(at) => return Err(SendOutcome::Later(at)),
            Verdict::Refuse(why) => {
                let code = if free_text {
                    "WINDOW_CLOSED"
                } else {
                    "REFUSED"
                };
                return Err(refused(code, &why));
            }
            Verdict::Go => {}
        }
        // Links in the variables and the text are tracked, like a campaign's.
        let public_url = self.public_url.trim_end_matches('/');
        let mut links = Vec::new();
        let mut track = |text: &mut String| {
            if workflow::template::is_http_url(text) && entity::links::trackable(text) {
                let code = entity::links::new_code();
                links.push((code.clone(), std::mem::take(text)));
                *text = format!("{public_url}/r/{code}");
            }
        };
        for (_, value) in rendered.variables.iter_mut() {
            track(value);
        }
        let (channel, message) = channel_message(dispatch_key(item.id), &rendered, customer)
            .map_err(|why| refused("NOT_SENDABLE", &why))?;
        histories
            .entry(customer.id)
            .or_default()
            .record(channel, now);
        rendered.links.clear();
        Ok((channel, message, links))
    }

    /// Reserves each cleared item's message in `txn`, claimed for its send,
    /// with its tracked links; an item whose message an earlier try reserved
    /// follows that message instead.
    async fn reserve(
        &self,
        txn: &DatabaseTransaction,
        cleared: &mut [Cleared],
        now: DateTime<Utc>,
    ) -> Result<(), entity::Error> {
        if cleared.is_empty() {
            return Ok(());
        }
        let messages = cleared
            .iter()
            .map(|c| {
                (
                    Tenant::new(c.item.workspace_id),
                    NewMessage {
                        idempotency_key: c.message.idempotency_key.clone(),
                        customer_id: c.item.customer_id,
                        channel: c.channel,
                        template_id: c.item.template_id,
                        content: serde_json::to_value(&c.message.content).unwrap_or(Value::Null),
                        campaign_recipient_id: None,
                        dispatch_item_id: Some(c.item.id),
                        node_id: None,
                    },
                )
            })
            .collect();
        let reserved = outbox::reserve_claimed(txn, messages, now, self.lease).await?;
        let mut earlier = Vec::new();
        let mut links = Vec::new();
        for (c, id) in cleared.iter_mut().zip(reserved) {
            match id {
                Some(id) => {
                    links.extend(c.links.drain(..).map(|(code, target_url)| NewLink {
                        tenant: Tenant::new(c.item.workspace_id),
                        code,
                        target_url,
                        message_id: Some(id),
                        customer_id: Some(c.item.customer_id),
                    }));
                    c.message_id = Some(id);
                }
                None => earlier.push(c.item.id),
            }
        }
        entity::links::create_many(txn, links, now).await?;
        for c in cleared.iter_mut().filter(|c| earlier.contains(&c.item.id)) {
            let tenant = Tenant::new(c.item.workspace_id);
            let Some(message) =
                outbox::find_by_key(txn, tenant, &c.message.idempotency_key).await?
            else {
                continue;
            };
            let outcome = match message.status {
                MessageStatus::Queued
                    if outbox::claim_for_send(txn, message.id, now, self.lease).await? =>
                {
                    c.message_id = Some(message.id);
                    continue;
                }
                MessageStatus::Queued | MessageStatus::Sending => {
                    SendOutcome::Later(message.lease_until.unwrap_or(now + self.lease))
                }
                MessageStatus::Failed => SendOutcome::Refused {
                    code: "SEND_FAILED".into(),
                    reason: message.error.unwrap_or_default(),
                },
                _ => SendOutcome::Sent,
            };
            rule_items::record_send(txn, c.item.id, outcome, now).await?;
        }
        Ok(())
    }

    /// Calls the provider for one reserved message.
    async fn call(&self, cleared: Cleared) -> Option<Answered> {
        let message_id = cleared.message_id?;
        let result = cleared
            .setup
            .channels
            .send(cleared.channel, &cleared.message)
            .await;
        Some(Answered {
            item: cleared.item,
            message_id,
            channel: cleared.channel,
            result,
            at: self.clock.now(),
        })
    }

    /// Records the sends the provider took, together: their messages, their
    /// items, and what their rules do once a message went.
    async fn record_accepted(&self, accepted: &[Answered]) -> Result<(), entity::Error> {
        if accepted.is_empty() {
            return Ok(());
        }
        let now = self.clock.now();
        let provider_ids: Vec<(Uuid, String)> = accepted
            .iter()
            .filter_map(|a| {
                let receipt = a.result.as_ref().ok()?;
                Some((a.message_id, receipt.provider_message_id.clone()))
            })
            .collect();
        let item_ids: Vec<Uuid> = accepted.iter().map(|a| a.item.id).collect();
        let rule_ids: Vec<Uuid> = accepted.iter().filter_map(|a| a.item.rule_id).collect();
        let txn = self.db.begin().await?;
        outbox::record_sent_many(&txn, &provider_ids, now).await?;
        rule_items::record_sends(&txn, &item_ids, SendOutcome::Sent, now).await?;
        let specs: HashMap<Uuid, workflow::automation::RuleSpec> = automation_rule::Entity::find()
            .filter(automation_rule::Column::Id.is_in(rule_ids))
            .all(&txn)
            .await?
            .iter()
            .filter_map(|rule| Some((rule.id, super::firing::spec_of(rule)?)))
            .collect();
        for answer in accepted {
            let Some(spec) = answer.item.rule_id.and_then(|id| specs.get(&id)) else {
                continue;
            };
            let tenant = Tenant::new(answer.item.workspace_id);
            super::firing::apply_actions(&txn, tenant, spec, answer.item.customer_id, now).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Records a send the provider did not take: of unknown outcome, to try
    /// again later, or refused for good.
    async fn record_not_accepted(&self, answer: Answered) -> Result<(), entity::Error> {
        let Answered {
            item,
            message_id,
            channel,
            result,
            at,
        } = answer;
        let Err(err) = result else {
            return Ok(());
        };
        let tenant = Tenant::new(item.workspace_id);
        match err {
            SendError::Unknown { reason } => {
                outbox::record_unknown(&self.db, message_id, &reason, at).await?;
                rule_items::record_send(&self.db, item.id, SendOutcome::Sent, at).await?;
            }
            err => match err.retry_after() {
                Some(after) if !matches!(err, SendError::OptedOut { .. }) => {
                    let later = at + Duration::from_std(after).unwrap_or(Duration::seconds(60));
                    outbox::retry_later(&self.db, message_id, err.reason(), later, at).await?;
                    rule_items::record_send(&self.db, item.id, SendOutcome::Later(later), at)
                        .await?;
                }
                _ => {
                    outbox::record_failed(&self.db, message_id, err.reason(), at).await?;
                    if let SendError::OptedOut { .. } = err {
                        entity::customers::record_opt_out(
                            &self.db,
                            tenant,
                            item.customer_id,
                            channel,
                            "provider_131050",
                            at,
                            at,
                        )
                        .await?;
                    }
                    let code = match err.code() {
                        Some(code) => format!("PROVIDER_{code}"),
                        None => format!("PROVIDER_{}", err.class().to_uppercase()),
                    };
                    rule_items::record_send(
                        &self.db,
                        item.id,
                        SendOutcome::Refused {
                            code,
                            reason: err.reason().to_owned(),
                        },
                        at,
                    )
                    .await?;
                }
            },
        }
        Ok(())
    }
}

/// An item's content as a rendered message: its template and variables, or
/// the free text a person wrote (`free_text`: WhatsApp text, not a template).
fn rendered_of(item: &dispatch_item::Model, content: &Value) -> (RenderedMessage, bool) {
    let text = |key: &str| content.get(key).and_then(Value::as_str).map(str::to_owned);
    let pairs = |key: &str| -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = content
            .get(key)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect();
        pairs.sort_by_key(|(k, _)| k.parse::<u64>().unwrap_or(u64::MAX));
        pairs
    };
    let edited_text = item
        .edited_content
        .as_ref()
        .and_then(|c| c.get("text"))
        .and_then(Value::as_str)
        .is_some();
    let template = text("template")
        .filter(|_| !(edited_text && item.channel == Channel::Whatsapp))
        .map(|name| TemplateRef::Name {
            name,
            language: text("language"),
        });
    let free_text = item.channel == Channel::Whatsapp && template.is_none();
    let channel = match item.channel {
        Channel::Whatsapp => workflow::Channel::Whatsapp,
        Channel::Email => workflow::Channel::Email,
        Channel::Sms => workflow::Channel::Sms,
        Channel::Push => workflow::Channel::Push,
        Channel::Webhook => workflow::Channel::Webhook,
        Channel::Log => workflow::Channel::Log,
    };
    let button_variables = pairs("buttonVariables")
        .into_iter()
        .filter_map(|(k, v)| Some((k.parse().ok()?, v)))
        .collect();
    (
        RenderedMessage {
            channel,
            template,
            subject: text("subject"),
            body: text("text"),
            variables: pairs("variables"),
            button_variables,
            links: Vec::new(),
            require_approval: false,
        },
        free_text,
    )
}
