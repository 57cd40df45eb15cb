//! What was said to a customer: the messages of the outbox, each with where
//! it came from (an automation rule's suggestion, or a campaign).

use async_graphql::connection::Connection;
use async_graphql::{ComplexObject, Context, Enum, ID, SimpleObject};
use chrono::{DateTime, Utc};
use entity::message;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::connection::{Prefetch, Totals, paginate};
use super::loaders::{
    AutomationRuleById, CampaignById, CampaignRecipientById, DispatchItemById, MessageTemplateById,
    load,
};
use crate::error::ApiResult;

/// One message to the customer on one channel.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Message {
    pub id: ID,
    /// whatsapp, email, sms, push, webhook or log.
    pub channel: String,
    /// queued, sending, sent, delivered, read, failed or unknown.
    pub status: String,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    /// Why sending failed, when it did.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    #[graphql(skip)]
    pub template_id: Option<Uuid>,
    #[graphql(skip)]
    pub campaign_recipient_id: Option<Uuid>,
    #[graphql(skip)]
    pub dispatch_item_id: Option<Uuid>,
}

impl From<message::Model> for Message {
    fn from(m: message::Model) -> Self {
        Message {
            id: m.id.into(),
            channel: sea_orm::ActiveEnum::to_value(&m.channel),
            status: sea_orm::ActiveEnum::to_value(&m.status),
            sent_at: m.sent_at,
            delivered_at: m.delivered_at,
            read_at: m.read_at,
            failed_at: m.failed_at,
            error: m.error,
            created_at: m.created_at,
            template_id: m.template_id,
            campaign_recipient_id: m.campaign_recipient_id,
            dispatch_item_id: m.dispatch_item_id,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum MessageOriginKind {
    /// Suggested (or sent) by an automation rule.
    Rule,
    /// Sent by a campaign to one of its recipients.
    Campaign,
}

/// Where a message came from.
#[derive(SimpleObject)]
pub struct MessageOrigin {
    pub kind: MessageOriginKind,
    pub rule_id: Option<ID>,
    /// Set for the built-in rules (`welcome`, `access_rescue`, ...).
    pub rule_key: Option<String>,
    pub rule_name: Option<String>,
    pub campaign_id: Option<ID>,
    pub campaign_name: Option<String>,
}

impl Prefetch for Message {}

#[ComplexObject]
impl Message {
    /// The template's name, when the message was sent from one.
    async fn template_name(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        let Some(id) = self.template_id else {
            return Ok(None);
        };
        Ok(load(ctx, MessageTemplateById(id)).await?.map(|t| t.name))
    }

    /// The rule or campaign that sent it; null for a message sent by hand.
    async fn origin(&self, ctx: &Context<'_>) -> ApiResult<Option<MessageOrigin>> {
        let item = match self.dispatch_item_id {
            Some(id) => load(ctx, DispatchItemById(id)).await?,
            None => None,
        };
        if let Some(rule_id) = item.as_ref().and_then(|i| i.rule_id)
            && let Some(rule) = load(ctx, AutomationRuleById(rule_id)).await?
        {
            return Ok(Some(MessageOrigin {
                kind: MessageOriginKind::Rule,
                rule_id: Some(rule.id.into()),
                rule_key: rule.builtin_key,
                rule_name: Some(rule.name),
                campaign_id: None,
                campaign_name: None,
            }));
        }
        let recipient_id = self
            .campaign_recipient_id
            .or(item.and_then(|i| i.campaign_recipient_id));
        let Some(recipient_id) = recipient_id else {
            return Ok(None);
        };
        let Some(recipient) = load(ctx, CampaignRecipientById(recipient_id)).await? else {
            return Ok(None);
        };
        let campaign = load(ctx, CampaignById(recipient.campaign_id)).await?;
        Ok(Some(MessageOrigin {
            kind: MessageOriginKind::Campaign,
            rule_id: None,
            rule_key: None,
            rule_name: None,
            campaign_id: Some(recipient.campaign_id.into()),
            campaign_name: campaign.map(|c| c.name),
        }))
    }
}

/// A customer's messages, newest first.
pub async fn messages_of(
    ctx: &Context<'_>,
    customer_id: Uuid,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<Connection<String, Message, Totals>> {
    let select = message::Entity::find().filter(message::Column::CustomerId.eq(customer_id));
    paginate(ctx, select, message::Column::Id, first, after, |m| {
        Ok((m.id, m.into()))
    })
    .await
}
