//! Hybrid control: the queue of suggested messages a CS person works from,
//! filters, decisions one by one or in bulk, and edits before approving.

use async_graphql::connection::Connection;
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::Tenant;
use entity::dispatch::{self, Decide, QueueFilter};
use entity::dispatch_item;
use entity::entities::enums::DispatchStatus as StoredStatus;
use entity::entities::message;
use sea_orm::Select;
use serde_json::{Map, Value};

use super::automation::{AutomationRule, AutomationTrigger};
use super::connection::{Prefetch, Totals, cost, paginate};
use super::customers::Customer;
use super::loaders::{
    AutomationRuleById, CustomerById, LastMessageOf, MessageOfItem, MessageTemplateById, load,
};
use super::scope::{Access, app, caller, db, now, parse_id, tenant};
use super::templates::MessageTemplate;
use crate::error::{ApiError, ApiResult};

#[derive(Enum, Copy, Clone, Eq, PartialEq, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[graphql(remote = "entity::enums::DispatchStatus")]
pub enum DispatchStatus {
    Pending,
    Approved,
    Rejected,
    Sent,
    Error,
    Expired,
    /// Withdrawn before a decision (the purchase was paid, the product is
    /// no longer monitored); see `errorCode`.
    Cancelled,
}

/// A suggested message (or a campaign's approval gate) waiting for a
/// person's decision, or past it.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct DispatchItem {
    pub id: ID,
    pub customer_id: ID,
    pub campaign_recipient_id: Option<ID>,
    pub node_id: Option<String>,
    pub channel: String,
    /// Why it was suggested, as a stable code: the rule's trigger
    /// (`ACCESS_MISSING`, …), `TEMPLATE_NOT_APPROVED`, `CAMPAIGN_STEP`.
    pub reason_code: Option<String>,
    /// Why, in a sentence ("Comprou há 3 dias e ainda não acessou o curso").
    pub reason: String,
    pub trigger: Option<AutomationTrigger>,
    pub product_id: Option<ID>,
    pub module_id: Option<ID>,
    /// The purchase it is about (a billet waiting for payment).
    pub transaction_code: Option<String>,
    pub status: DispatchStatus,
    pub suggested_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The `sub` of the token that decided; `automatic` for an automatic rule.
    pub decided_by: Option<String>,
    pub rejection_reason: Option<String>,
    /// Why an approved send was refused or failed (`OPTED_OUT`,
    /// `WINDOW_CLOSED`, `PROVIDER_131026`, …), or why it was cancelled (`PAID`).
    pub error_code: Option<String>,
    /// What was suggested, as suggested.
    pub content: Json<Value>,
    /// What a person changed before deciding.
    pub edited_content: Option<Json<Value>>,
    #[graphql(skip)]
    pub model: dispatch_item::Model,
}

impl From<dispatch_item::Model> for DispatchItem {
    fn from(m: dispatch_item::Model) -> Self {
        DispatchItem {
            id: m.id.into(),
            customer_id: m.customer_id.into(),
            campaign_recipient_id: m.campaign_recipient_id.map(Into::into),
            node_id: m.node_id.clone(),
            channel: sea_orm::ActiveEnum::to_value(&m.channel),
            reason_code: m.reason_code.clone(),
            reason: m.reason.clone(),
            trigger: m.trigger.as_deref().and_then(AutomationTrigger::of_stored),
            product_id: m.product_id.map(Into::into),
            module_id: m.module_id.map(Into::into),
            transaction_code: m.transaction_code.clone(),
            status: m.status.into(),
            suggested_at: m.suggested_at,
            expires_at: m.expires_at,
            decided_at: m.decided_at,
            decided_by: m.decided_by.clone(),
            rejection_reason: m.rejection_reason.clone(),
            error_code: m.error_code.clone(),
            content: Json(m.variables.clone()),
            edited_content: m.edited_content.clone().map(Json),
            model: m,
        }
    }
}

/// What was sent for an item.
#[derive(SimpleObject)]
pub struct DispatchMessage {
    pub id: ID,
    pub channel: String,
    /// QUEUED, SENDING, SENT, DELIVERED, READ, FAILED or UNKNOWN.
    pub status: String,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

impl From<message::Model> for DispatchMessage {
    fn from(m: message::Model) -> Self {
        DispatchMessage {
            id: m.id.into(),
            channel: sea_orm::ActiveEnum::to_value(&m.channel),
            status: sea_orm::ActiveEnum::to_value(&m.status).to_uppercase(),
            sent_at: m.sent_at,
            delivered_at: m.delivered_at,
            read_at: m.read_at,
            failed_at: m.failed_at,
            error: m.error,
        }
    }
}

/// The last message the customer was sent, on any channel.
#[derive(SimpleObject)]
pub struct LastMessage {
    pub channel: String,
    pub status: String,
    pub at: DateTime<Utc>,
}

/// The customer as the person deciding sees them.
#[derive(SimpleObject)]
pub struct DispatchContext {
    pub ltv_total: Option<String>,
    pub churn_risk: Option<String>,
    pub segment: Option<String>,
    pub last_access_at: Option<DateTime<Utc>>,
    pub progress_percent: Option<String>,
    pub module_name: Option<String>,
    pub product_name: Option<String>,
    pub days_since_purchase: Option<i64>,
    pub last_message: Option<LastMessage>,
}

/// The content as it will go: the edit over the suggestion.
fn effective(model: &dispatch_item::Model) -> &Value {
    model.edited_content.as_ref().unwrap_or(&model.variables)
}

#[ComplexObject]
impl DispatchItem {
    /// The rule that suggested it (none for a campaign's step).
    async fn rule(&self, ctx: &Context<'_>) -> ApiResult<Option<AutomationRule>> {
        let Some(id) = self.model.rule_id else {
            return Ok(None);
        };
        Ok(load(ctx, AutomationRuleById(id)).await?.map(Into::into))
    }

    async fn customer(&self, ctx: &Context<'_>) -> ApiResult<Option<Customer>> {
        Ok(load(ctx, CustomerById(self.model.customer_id))
            .await?
            .map(Into::into))
    }

    /// The template it sends, as mirrored.
    async fn template(&self, ctx: &Context<'_>) -> ApiResult<Option<MessageTemplate>> {
        let Some(id) = self.model.template_id else {
            return Ok(None);
        };
        Ok(load(ctx, MessageTemplateById(id)).await?.map(Into::into))
    }

    /// The template's variables as they will go (edits included).
    async fn variables(&self) -> Json<Value> {
        Json(
            effective(&self.model)
                .get("variables")
                .cloned()
                .unwrap_or_else(|| Value::Object(Map::new())),
        )
    }

    /// Whether a person changed it.
    async fn edited(&self) -> bool {
        self.model.edited_content.is_some()
    }

    /// The message as the customer will read it: the free text, or the
    /// template's body with its variables filled in.
    async fn preview(&self, ctx: &Context<'_>) -> ApiResult<String> {
        let content = effective(&self.model);
        if let Some(text) = content.get("text").and_then(Value::as_str) {
            return Ok(text.to_owned());
        }
        let variables = content.get("variables").and_then(Value::as_object);
        let body = match self.model.template_id {
            Some(id) => load(ctx, MessageTemplateById(id))
                .await?
                .and_then(|t| t.body),
            None => None,
        };
        Ok(match body {
            Some(body) => variables.into_iter().flatten().fold(body, |text, (k, v)| {
                text.replace(&format!("{{{{{k}}}}}"), v.as_str().unwrap_or_default())
            }),
            None => {
                let name = content
                    .get("template")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let values: Vec<&str> = variables
                    .into_iter()
                    .flatten()
                    .filter_map(|(_, v)| v.as_str())
                    .collect();
                format!("{name}: {}", values.join(" · "))
            }
        })
    }

    /// What was sent, once it was.
    async fn message(&self, ctx: &Context<'_>) -> ApiResult<Option<DispatchMessage>> {
        Ok(load(ctx, MessageOfItem(self.model.id))
            .await?
            .filter(|m| m.workspace_id == self.model.workspace_id)
            .map(Into::into))
    }

    /// The customer's context when it was suggested, and their last message now.
    async fn context(&self, ctx: &Context<'_>) -> ApiResult<DispatchContext> {
        let c = &self.model.context;
        let text = |key: &str| c.get(key).and_then(Value::as_str).map(str::to_owned);
        let at = |key: &str| {
            c.get(key)
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        let last_message = load(ctx, LastMessageOf(self.model.customer_id))
            .await?
            .filter(|m| m.workspace_id == self.model.workspace_id)
            .map(|m| LastMessage {
                channel: sea_orm::ActiveEnum::to_value(&m.channel),
                status: sea_orm::ActiveEnum::to_value(&m.status).to_uppercase(),
                at: m.sent_at.unwrap_or(m.updated_at),
            });
        Ok(DispatchContext {
            ltv_total: text("ltvTotal"),
            churn_risk: text("churnRisk"),
            segment: text("segment"),
            last_access_at: at("lastAccessAt").or_else(|| at("lastActivityAt")),
            progress_percent: text("progressPercent"),
            module_name: text("moduleName"),
            product_name: text("productName"),
            days_since_purchase: c.get("daysSincePurchase").and_then(Value::as_i64),
            last_message,
        })
    }
}

/// What a CS person narrows the queue to.
#[derive(InputObject, Default, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DispatchFilter {
    pub status: Option<DispatchStatus>,
    pub rule_id: Option<ID>,
    pub trigger: Option<AutomationTrigger>,
    pub product_id: Option<ID>,
    pub module_id: Option<ID>,
    /// A piece of the customer's e-mail or name.
    pub search: Option<String>,
    pub suggested_from: Option<DateTime<Utc>>,
    pub suggested_to: Option<DateTime<Utc>>,
}

impl DispatchFilter {
    fn queue_filter(self) -> ApiResult<QueueFilter> {
        let id = |id: Option<ID>, field: &str| -> ApiResult<_> {
            id.map(|id| parse_id(&id, field)).transpose()
        };
        if let Some(search) = &self.search
            && search.chars().count() > 200
        {
            return Err(ApiError::invalid("search takes at most 200 characters"));
        }
        Ok(QueueFilter {
            status: self.status.map(Into::into),
            rule_id: id(self.rule_id, "filter.ruleId")?,
            trigger: self.trigger.map(|t| t.stored().to_owned()),
            product_id: id(self.product_id, "filter.productId")?,
            module_id: id(self.module_id, "filter.moduleId")?,
            search: self.search,
            suggested_from: self.suggested_from,
            suggested_to: self.suggested_to,
        })
    }
}

/// The workspace's items a filter matches.
pub(crate) fn filtered(
    tenant: Tenant,
    filter: Option<DispatchFilter>,
) -> ApiResult<Select<dispatch_item::Entity>> {
    Ok(filter.unwrap_or_default().queue_filter()?.select(tenant))
}

impl Prefetch for DispatchItem {}

/// What a decision did.
#[derive(SimpleObject)]
pub struct DispatchDecision {
    /// Items the decision named (the ids, or the pending items the filter matched).
    pub matched: u64,
    /// Items decided now.
    pub decided: u64,
    /// Items named that were no longer pending.
    pub skipped: u64,
    /// The items decided now, as decided.
    pub items: Vec<DispatchItem>,
}

#[derive(Default)]
pub struct DispatchQuery;

#[Object]
impl DispatchQuery {
    /// The queue, newest first.
    #[graphql(guard = "Access::Read", complexity = "cost(first, child_complexity)")]
    async fn dispatch_queue(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        filter: Option<DispatchFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, DispatchItem, Totals>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let select = filtered(tenant, filter)?;
        paginate(ctx, select, dispatch_item::Column::Id, first, after, |m| {
            Ok((m.id, m.into()))
        })
        .await
    }
}

/// The ids, or the filter, a decision is about (exactly one of the two).
fn target(ids: Option<Vec<ID>>, filter: Option<DispatchFilter>) -> ApiResult<Decide> {
    match (ids, filter) {
        (Some(ids), None) => Ok(Decide::Items(
            ids.iter()
                .map(|id| parse_id(id, "ids"))
                .collect::<ApiResult<Vec<_>>>()?,
        )),
        (None, Some(filter)) => Ok(Decide::Matching(filter.queue_filter()?)),
        _ => Err(ApiError::invalid(
            "name the items to decide: either ids or a filter",
        )),
    }
}

async fn decide(
    ctx: &Context<'_>,
    workspace_id: Option<ID>,
    target: ApiResult<Decide>,
    status: StoredStatus,
    reason: Option<String>,
) -> ApiResult<DispatchDecision> {
    let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
    let decision = dispatch::Decision {
        status,
        actor: &caller(ctx).actor(),
        reason,
    };
    let decided = dispatch::decide(db(ctx), tenant, target?, decision, now(ctx)).await?;
    app(ctx).work_signals.campaign_work_stored();
    app(ctx)
        .work_signals
        .workspace_changed(tenant.workspace_id());
    Ok(DispatchDecision {
        matched: decided.matched,
        decided: decided.decided.len() as u64,
        skipped: decided.skipped,
        items: decided.decided.into_iter().map(Into::into).collect(),
    })
}

#[derive(Default)]
pub struct DispatchMutation;

#[Object]
impl DispatchMutation {
    /// Approves the listed items (up to 500), or every pending item the
    /// filter matches; each is sent once, through the send rules, and
    /// campaign recipients move on.
    #[graphql(guard = "Access::Write")]
    async fn approve_dispatches(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        ids: Option<Vec<ID>>,
        filter: Option<DispatchFilter>,
    ) -> ApiResult<DispatchDecision> {
        decide(
            ctx,
            workspace_id,
            target(ids, filter),
            StoredStatus::Approved,
            None,
        )
        .await
    }

    /// Rejects the listed items (up to 500), or every pending item the
    /// filter matches; campaign recipients take the rejected branch.
    #[graphql(guard = "Access::Write")]
    async fn reject_dispatches(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        ids: Option<Vec<ID>>,
        filter: Option<DispatchFilter>,
        reason: Option<String>,
    ) -> ApiResult<DispatchDecision> {
        let reason = reason.map(|r| r.chars().take(1000).collect());
        decide(
            ctx,
            workspace_id,
            target(ids, filter),
            StoredStatus::Rejected,
            reason,
        )
        .await
    }

    /// Changes what a pending item will send: its template's variables, or
    /// free text instead of the template (WhatsApp: only while the
    /// customer's 24 h window is open, else INVALID_INPUT).
    #[graphql(guard = "Access::Write")]
    async fn edit_dispatch(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
        variables: Option<Json<Value>>,
        text: Option<String>,
    ) -> ApiResult<DispatchItem> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let id = parse_id(&id, "id")?;
        let variables = match variables {
            None => None,
            Some(Json(Value::Object(map))) => Some(map),
            Some(_) => {
                return Err(ApiError::invalid(
                    "variables must be an object of texts, e.g. {\"1\": \"Maria\"}",
                ));
            }
        };
        if variables.is_none() && text.is_none() {
            return Err(ApiError::invalid("edit the variables, the text, or both"));
        }
        let edit = dispatch::Edit { variables, text };
        let edited = dispatch::edit(db(ctx), tenant, id, edit, now(ctx)).await?;
        app(ctx)
            .work_signals
            .workspace_changed(tenant.workspace_id());
        Ok(edited.into())
    }
}
