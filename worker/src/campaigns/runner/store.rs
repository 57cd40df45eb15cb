//! A round's transaction: the sends of the last round recorded, every
//! walk's move (grouped, one statement per group), the suggestions reached,
//! and the messages reached reserved and claimed.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use entity::dispatch::{self, Suggestion};
use entity::entities::enums::MessageStatus;
use entity::executions::{self, Move, recipient_status};
use entity::links::NewLink;
use entity::outbox::{self, NewMessage};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Runner;
use super::walk::{Act, Leg, Walk, failed, retry_at, unknown};

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
    /// One transaction for the round: the sends of the last round recorded,
    /// every walk's move, the suggestions it reached, and its messages
    /// reserved and claimed. Sends of a paused campaign go back to wait.
    pub(super) async fn store(
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
        let mut links = Vec::new();
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
                    links.extend(outgoing.links.iter().map(|(code, url)| NewLink {
                        tenant,
                        code: code.clone(),
                        target_url: url.clone(),
                        message_id: Some(id),
                        customer_id: Some(customer_id),
                    }));
                    *message_id = Some(id);
                }
                None => self.resume_reserved(&txn, walk, now).await?,
            }
        }
        entity::links::create_many(&txn, links, now).await?;
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
}
