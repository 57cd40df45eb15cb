//! The send rules a reached message is put through, and the provider calls
//! and customer updates a round makes once its moves are stored.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use entity::entities::enums::Channel;
use entity::entities::{customer, message_template};
use entity::executions::{Move, recipient_status};
use entity::outbox;
use entity::{Tenant, chatwoot, customers};
use futures::StreamExt;
use sea_orm::{ColumnTrait, QueryFilter};
use serde_json::Value;
use uuid::Uuid;
use workflow::RenderedMessage;

use super::Runner;
use super::walk::{Act, Leg, Outgoing, Walk, failed, retry_at, storage_channel, unknown};
use crate::campaigns::policy::{SendHistory, Verdict};
use crate::channels::{ChannelMessage, Content, Recipient, SendError};

/// Provider calls (and customer updates) a batch has under way at once.
const CONCURRENT_CALLS: usize = 64;

impl Runner {
    /// Puts each message reached through the send rules (opt-outs, quiet
    /// hours, the 24 h window, pair rate, frequency cap, rate limits) and
    /// renders those cleared to go.
    pub(super) async fn check_sends(
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
                entity::whatsapp::window_until(customer),
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

    /// Makes the round's provider calls and customer updates, all at once;
    /// returns the messages the providers accepted, for the next round to
    /// record with the moves that follow.
    pub(super) async fn act(&self, walks: &mut [Walk<'_>]) -> Vec<(Uuid, String)> {
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
                // Labels Chatwoot cannot hold are left out rather than
                // holding the step back; writing the same labels twice
                // leaves the conversation as once.
                let labels: Vec<String> = changes
                    .chatwoot_labels
                    .iter()
                    .filter_map(|label| chatwoot::normalize_label(label))
                    .take(chatwoot::MAX_LABELS)
                    .collect();
                if !labels.is_empty() {
                    let job = chatwoot::request_labels(
                        &self.db,
                        tenant,
                        walk.customer.id,
                        labels,
                        self.clock.now(),
                    )
                    .await?;
                    // Should the push fail, the job recovery pushes it.
                    if let Err(err) = entity::background_jobs::push(&self.db, job).await {
                        tracing::warn!(job_id = %job, error = %err, "chatwoot labels job not pushed");
                    }
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
                // When the provider answered: what the outcome is stamped with.
                let answered_at = self.clock.now();
                match result {
                    Ok(receipt) => {
                        walk.pass(next);
                        walk.sent_at = Some(acted_at);
                        Ok(Some((id, receipt.provider_message_id)))
                    }
                    Err(SendError::Unknown { reason }) => {
                        outbox::record_unknown(&self.db, id, &reason, answered_at).await?;
                        walk.settle(unknown(&walk.at));
                        Ok(None)
                    }
                    Err(err) => {
                        match err.retry_after() {
                            Some(after) if !matches!(err, SendError::OptedOut { .. }) => {
                                let at = answered_at
                                    + Duration::from_std(after).unwrap_or(Duration::seconds(60));
                                outbox::retry_later(&self.db, id, err.reason(), at, answered_at)
                                    .await?;
                                walk.settle(retry_at(&walk.at, at));
                            }
                            _ => {
                                outbox::record_failed(&self.db, id, err.reason(), answered_at)
                                    .await?;
                                if let SendError::OptedOut { .. } = err {
                                    customers::record_opt_out(
                                        &self.db,
                                        tenant,
                                        walk.customer.id,
                                        outgoing.channel,
                                        "provider_131050",
                                        answered_at,
                                        answered_at,
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

/// A customer's opt-out of a channel, as recorded in `consent`.
pub(crate) fn opted_out(customer: &customer::Model, channel: Channel) -> bool {
    let name = sea_orm::ActiveEnum::to_value(&channel);
    customer
        .consent
        .get(&name)
        .and_then(|c| c.get("optedOut"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The channel message for a rendered campaign message, or why it cannot go.
pub(crate) fn channel_message(
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
