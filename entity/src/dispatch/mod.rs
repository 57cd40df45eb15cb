//! The hybrid-control queue: suggestions a CS person approves, edits, rejects
//! or lets expire. Campaign approval gates and messages that require approval
//! put their recipient on hold here; automation rules queue their
//! suggestions here ([`rules`]).

pub mod rules;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveEnum as _, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select, Set,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::customers;
use crate::db::{LockForChange, begin_write, new_id};
use crate::entities::enums::{Channel, DispatchStatus};
use crate::entities::{campaign_recipient, customer, dispatch_item};
use crate::error::{Error, Result};
use crate::executions::{self, Move, recipient_status};
use crate::tenant::Tenant;

/// Items decided in one transaction; a decision by filter takes as many
/// rounds as it needs.
pub const MAX_DECISIONS: usize = 500;

/// The reason code of a campaign's approval gate or approval-required message.
pub const CAMPAIGN_STEP: &str = "CAMPAIGN_STEP";

/// A suggestion for a campaign recipient.
#[derive(Debug, Clone)]
pub struct Suggestion {
    pub recipient: campaign_recipient::Model,
    pub node_id: String,
    pub channel: Channel,
    pub content: Value,
    pub reason: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Queues a suggestion with the customer's context for the person deciding.
pub async fn suggest<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    suggestion: Suggestion,
    customer: &customer::Model,
    now: DateTime<Utc>,
) -> Result<dispatch_item::Model> {
    Ok(dispatch_item::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        rule_id: Set(None),
        customer_id: Set(customer.id),
        template_id: Set(None),
        campaign_recipient_id: Set(Some(suggestion.recipient.id)),
        node_id: Set(Some(suggestion.node_id)),
        channel: Set(suggestion.channel),
        variables: Set(suggestion.content),
        reason: Set(suggestion.reason),
        context: Set(customer_context(customer, serde_json::Map::new())),
        status: Set(DispatchStatus::Pending),
        suggested_at: Set(now),
        expires_at: Set(suggestion.expires_at),
        decided_at: Set(None),
        decided_by: Set(None),
        rejection_reason: Set(None),
        edited_content: Set(None),
        reason_code: Set(Some(CAMPAIGN_STEP.into())),
        trigger: Set(None),
        product_id: Set(None),
        module_id: Set(None),
        transaction_code: Set(None),
        subject_key: Set(None),
        error_code: Set(None),
        send_after: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// The customer's context for the person deciding: LTV, churn risk,
/// segment, last activity, and what the suggestion adds (`extra`).
pub fn customer_context(
    customer: &customer::Model,
    extra: serde_json::Map<String, Value>,
) -> Value {
    let mut context = json!({
        "ltvTotal": crate::money::amount(customer.ltv_total).to_string(),
        "churnRisk": customer.churn_risk,
        "segment": customer.segment,
        "lastActivityAt": customer.last_activity_at,
    });
    if let Some(object) = context.as_object_mut() {
        object.extend(extra);
    }
    context
}

/// Where a decision sends the waiting recipient, from what it recorded when it stopped.
fn branch_for(state: &Value, decision: DispatchStatus) -> Option<String> {
    let key = match decision {
        DispatchStatus::Approved => "onApproved",
        DispatchStatus::Rejected => "onRejected",
        _ => "onExpired",
    };
    state.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// A person's decision on pending items.
#[derive(Debug, Clone)]
pub struct Decision<'a> {
    /// `Approved` or `Rejected`.
    pub status: DispatchStatus,
    /// Who decided.
    pub actor: &'a str,
    /// Why an item was rejected.
    pub reason: Option<String>,
}

/// What a CS person narrows the queue to.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub status: Option<DispatchStatus>,
    pub rule_id: Option<Uuid>,
    pub trigger: Option<String>,
    pub product_id: Option<Uuid>,
    pub module_id: Option<Uuid>,
    /// A piece of the customer's e-mail or name.
    pub search: Option<String>,
    pub suggested_from: Option<DateTime<Utc>>,
    pub suggested_to: Option<DateTime<Utc>>,
}

impl QueueFilter {
    /// The workspace's items this filter matches.
    pub fn select(&self, tenant: Tenant) -> Select<dispatch_item::Entity> {
        use dispatch_item::Column;
        let mut select = tenant.select::<dispatch_item::Entity>();
        if let Some(status) = self.status {
            select = select.filter(Column::Status.eq(status));
        }
        if let Some(rule) = self.rule_id {
            select = select.filter(Column::RuleId.eq(rule));
        }
        if let Some(trigger) = &self.trigger {
            select = select.filter(Column::Trigger.eq(trigger.as_str()));
        }
        if let Some(product) = self.product_id {
            select = select.filter(Column::ProductId.eq(product));
        }
        if let Some(module) = self.module_id {
            select = select.filter(Column::ModuleId.eq(module));
        }
        if let Some(from) = self.suggested_from {
            select = select.filter(Column::SuggestedAt.gte(from));
        }
        if let Some(to) = self.suggested_to {
            select = select.filter(Column::SuggestedAt.lt(to));
        }
        if let Some(text) = self
            .search
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let matching = tenant
                .select::<customer::Entity>()
                .select_only()
                .column(customer::Column::Id)
                .filter(customers::filters::search(text))
                .into_query();
            select = select.filter(Column::CustomerId.in_subquery(matching));
        }
        select
    }
}

/// The items a decision is about.
#[derive(Debug, Clone)]
pub enum Decide {
    /// These items (at most [`MAX_DECISIONS`]).
    Items(Vec<Uuid>),
    /// Every pending item the filter matches ("all stalled in Module 2").
    Matching(QueueFilter),
}

/// What a decision did.
#[derive(Debug, Clone, Default)]
pub struct Decided {
    /// Items the decision named.
    pub matched: u64,
    /// The items decided now, as decided.
    pub decided: Vec<dispatch_item::Model>,
    /// Items named that were no longer pending (decided by someone else,
    /// expired, cancelled).
    pub skipped: u64,
}

/// Approves or rejects pending items and moves their recipients on; an
/// approved item of a rule goes to the sender. Every decision lands on the
/// customer's timeline.
pub async fn decide(
    db: &DatabaseConnection,
    tenant: Tenant,
    target: Decide,
    decision: Decision<'_>,
    now: DateTime<Utc>,
) -> Result<Decided> {
    match target {
        Decide::Items(ids) => {
            if ids.is_empty() || ids.len() > MAX_DECISIONS {
                return Err(Error::Invalid(format!(
                    "decide on 1 to {MAX_DECISIONS} items at once, or on a filter"
                )));
            }
            let found = tenant
                .select::<dispatch_item::Entity>()
                .filter(dispatch_item::Column::Id.is_in(ids.iter().copied()))
                .count(db)
                .await?;
            let mut unique = ids.clone();
            unique.sort_unstable();
            unique.dedup();
            if found != unique.len() as u64 {
                return Err(Error::NotFound("dispatch item"));
            }
            let decided = decide_round(db, tenant, &unique, &decision, now).await?;
            Ok(Decided {
                matched: found,
                skipped: found - decided.len() as u64,
                decided,
            })
        }
        Decide::Matching(filter) => {
            let filter = QueueFilter {
                status: Some(DispatchStatus::Pending),
                ..filter
            };
            let mut all = Decided::default();
            let mut after: Option<Uuid> = None;
            loop {
                let mut page = filter.select(tenant);
                if let Some(after) = after {
                    page = page.filter(dispatch_item::Column::Id.gt(after));
                }
                let ids: Vec<Uuid> = page
                    .select_only()
                    .column(dispatch_item::Column::Id)
                    .order_by_asc(dispatch_item::Column::Id)
                    .limit(MAX_DECISIONS as u64)
                    .into_tuple()
                    .all(db)
                    .await?;
                let Some(last) = ids.last().copied() else {
                    break;
                };
                after = Some(last);
                let decided = decide_round(db, tenant, &ids, &decision, now).await?;
                all.matched += ids.len() as u64;
                all.skipped += (ids.len() - decided.len()) as u64;
                all.decided.extend(decided);
            }
            Ok(all)
        }
    }
}

/// Decides the items of `ids` still pending, in one transaction.
async fn decide_round(
    db: &DatabaseConnection,
    tenant: Tenant,
    ids: &[Uuid],
    decision: &Decision<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<dispatch_item::Model>> {
    let status = decision.status;
    let txn = begin_write(db).await?;
    let items = tenant
        .select::<dispatch_item::Entity>()
        .filter(dispatch_item::Column::Id.is_in(ids.iter().copied()))
        .filter(dispatch_item::Column::Status.eq(DispatchStatus::Pending))
        .lock_for_change()
        .all(&txn)
        .await?;
    let mut decided = Vec::with_capacity(items.len());
    let mut timeline = Vec::with_capacity(items.len());
    let (mut to_send, mut to_hold) = (Vec::new(), Vec::new());
    for item in items {
        if let Some(recipient_id) = item.campaign_recipient_id
            && let Some(recipient) = campaign_recipient::Entity::find_by_id(recipient_id)
                .one(&txn)
                .await?
            && recipient.status == recipient_status::WAITING
            && let (Some(node), Some(next)) = (
                recipient.current_node_id.clone(),
                branch_for(&recipient.state, status),
            )
        {
            let state = json!({"dispatchItemId": item.id, "node": node, "decision": if status == DispatchStatus::Approved { "approved" } else { "rejected" }});
            executions::move_recipient(
                &txn,
                recipient.id,
                &node,
                Move {
                    status: recipient_status::ACTIVE,
                    node: Some(next),
                    wake_at: Some(now),
                    state: Some(state),
                    error: None,
                },
                now,
            )
            .await?;
        }
        timeline.push(customers::Activity {
            tenant,
            customer_id: item.customer_id,
            activity_type: if status == DispatchStatus::Approved {
                "dispatch_approved".into()
            } else {
                "dispatch_rejected".into()
            },
            description: Some(item.reason.clone()),
            data: json!({"dispatchItemId": item.id, "ruleId": item.rule_id, "decidedBy": decision.actor, "rejectionReason": decision.reason}),
            occurred_at: now,
        });
        let rule_send = item.rule_id.is_some() && item.campaign_recipient_id.is_none();
        let mut item = item;
        item.status = status;
        item.decided_at = Some(now);
        item.decided_by = Some(decision.actor.to_owned());
        item.rejection_reason = decision.reason.clone();
        item.updated_at = now;
        if status == DispatchStatus::Approved && rule_send {
            item.send_after = Some(now);
            to_send.push(item.id);
        } else {
            to_hold.push(item.id);
        }
        decided.push(item);
    }
    // The round's items, written in (at most) two statements rather than one
    // each: an approved rule item also becomes due for the sender.
    for (ids, due) in [(to_send, true), (to_hold, false)] {
        if ids.is_empty() {
            continue;
        }
        use dispatch_item::Column;
        let mut update = dispatch_item::Entity::update_many()
            .col_expr(Column::Status, Expr::value(status))
            .col_expr(Column::DecidedAt, Expr::value(Some(now)))
            .col_expr(
                Column::DecidedBy,
                Expr::value(Some(decision.actor.to_owned())),
            )
            .col_expr(
                Column::RejectionReason,
                Expr::value(decision.reason.clone()),
            )
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.is_in(ids));
        if due {
            update = update.col_expr(Column::SendAfter, Expr::value(Some(now)));
        }
        update.exec(&txn).await?;
    }
    customers::record_activities(&txn, timeline, now).await?;
    txn.commit().await?;
    Ok(decided)
}

/// A CS person's change to a pending item before deciding on it.
#[derive(Debug, Clone, Default)]
pub struct Edit {
    /// New values of the template's variables (merged over the suggested ones).
    pub variables: Option<serde_json::Map<String, Value>>,
    /// Free text instead of the template (WhatsApp only inside the 24 h window).
    pub text: Option<String>,
}

/// Changes what a pending item will send.
pub async fn edit(
    db: &DatabaseConnection,
    tenant: Tenant,
    id: Uuid,
    edit: Edit,
    now: DateTime<Utc>,
) -> Result<dispatch_item::Model> {
    let txn = begin_write(db).await?;
    let item = tenant
        .select::<dispatch_item::Entity>()
        .filter(dispatch_item::Column::Id.eq(id))
        .lock_for_change()
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("dispatch item"))?;
    if item.status != DispatchStatus::Pending {
        return Err(Error::Conflict(format!(
            "dispatch item {id} is no longer pending"
        )));
    }
    if item.campaign_recipient_id.is_some() && edit.text.is_some() {
        return Err(Error::Invalid(
            "a campaign step's message is edited through its variables only".into(),
        ));
    }
    let mut content = item
        .edited_content
        .clone()
        .unwrap_or_else(|| item.variables.clone());
    if let Some(variables) = edit.variables {
        for (key, value) in &variables {
            let ok = value.as_str().is_some_and(|v| v.chars().count() <= 1024);
            if !ok || key.chars().count() > 64 {
                return Err(Error::Invalid(format!(
                    "variables.{key} must be text of at most 1024 characters"
                )));
            }
        }
        let object = content
            .as_object_mut()
            .ok_or_else(|| Error::Invalid("this item's content has no variables to edit".into()))?;
        let target = object
            .entry("variables")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or_else(|| Error::Invalid("this item's content has no variables to edit".into()))?;
        target.extend(variables);
    }
    if let Some(text) = edit.text {
        let text = text.trim().to_owned();
        if text.is_empty() || text.chars().count() > 4096 {
            return Err(Error::Invalid("text must be 1 to 4096 characters".into()));
        }
        if item.channel == Channel::Whatsapp {
            let customer = tenant
                .get::<customer::Entity, _>(&txn, item.customer_id)
                .await?;
            let open = crate::whatsapp::window_until(&customer).is_some_and(|until| until > now);
            if !open {
                return Err(Error::Invalid(
                    "free text goes only while the customer's 24 h WhatsApp window is open; edit the template's variables instead".into(),
                ));
            }
        }
        if let Some(object) = content.as_object_mut() {
            object.insert("text".into(), json!(text));
        }
    }
    let mut model: dispatch_item::ActiveModel = item.into();
    model.edited_content = Set(Some(content));
    model.updated_at = Set(now);
    let edited = model.update(&txn).await?;
    txn.commit().await?;
    Ok(edited)
}

/// Pending items past their expiry become `expired` (their recipients leave
/// by the `expired` branch when their wait runs out).
pub async fn expire<C: ConnectionTrait>(db: &C, now: DateTime<Utc>) -> Result<u64> {
    // Pending items, as their partial index has them (migration
    // `m20261201_000013_due_work_in_order`).
    let pending = || crate::db::status_is("dispatch_queue", [DispatchStatus::Pending.to_value()]);
    let lapsed = dispatch_item::Entity::find()
        .filter(pending())
        .filter(dispatch_item::Column::ExpiresAt.lte(now));
    if !crate::db::any_row(db, lapsed).await? {
        return Ok(0);
    }
    let expired = dispatch_item::Entity::update_many()
        .col_expr(
            dispatch_item::Column::Status,
            Expr::value(DispatchStatus::Expired),
        )
        .col_expr(dispatch_item::Column::UpdatedAt, Expr::value(now))
        .filter(pending())
        .filter(dispatch_item::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(expired.rows_affected)
}

/// The item a recipient's decision named, for the send that follows an approval.
pub async fn approved_item<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<dispatch_item::Model>> {
    Ok(dispatch_item::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|i| i.status == DispatchStatus::Approved))
}

pub async fn mark_sent<C: ConnectionTrait>(db: &C, id: Uuid, now: DateTime<Utc>) -> Result<()> {
    dispatch_item::Entity::update_many()
        .col_expr(
            dispatch_item::Column::Status,
            Expr::value(DispatchStatus::Sent),
        )
        .col_expr(dispatch_item::Column::UpdatedAt, Expr::value(now))
        .filter(dispatch_item::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
