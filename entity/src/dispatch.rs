//! The hybrid-control queue: suggestions a CS person approves, edits, rejects
//! or lets expire. Campaign approval gates and messages that require approval
//! put their recipient on hold here.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveEnum as _, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, Set,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db::{begin_write, new_id};
use crate::entities::enums::{Channel, DispatchStatus};
use crate::entities::{campaign_recipient, customer, dispatch_item};
use crate::error::{Error, Result};
use crate::executions::{self, Move, recipient_status};
use crate::tenant::Tenant;

pub const MAX_DECISIONS: usize = 500;

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
        context: Set(json!({
            "ltvTotal": crate::money::amount(customer.ltv_total).to_string(),
            "churnRisk": customer.churn_risk,
            "segment": customer.segment,
            "lastActivityAt": customer.last_activity_at,
        })),
        status: Set(DispatchStatus::Pending),
        suggested_at: Set(now),
        expires_at: Set(suggestion.expires_at),
        decided_at: Set(None),
        decided_by: Set(None),
        rejection_reason: Set(None),
        edited_content: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
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
    /// The content as the person edited it before approving.
    pub edited: Option<Value>,
}

/// Approves or rejects pending items (at most `MAX_DECISIONS` at once) and
/// moves their recipients on; returns the items as decided.
pub async fn decide(
    db: &DatabaseConnection,
    tenant: Tenant,
    ids: &[Uuid],
    decision: Decision<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<dispatch_item::Model>> {
    let Decision {
        status: decision,
        actor,
        reason,
        edited,
    } = decision;
    if ids.is_empty() || ids.len() > MAX_DECISIONS {
        return Err(Error::Invalid(format!(
            "decide on 1 to {MAX_DECISIONS} items at once"
        )));
    }
    let txn = begin_write(db).await?;
    let items = tenant
        .select::<dispatch_item::Entity>()
        .filter(dispatch_item::Column::Id.is_in(ids.iter().copied()))
        .all(&txn)
        .await?;
    if items.len() != ids.len() {
        return Err(Error::NotFound("dispatch item"));
    }
    if let Some(decided) = items.iter().find(|i| i.status != DispatchStatus::Pending) {
        return Err(Error::Conflict(format!(
            "dispatch item {} was already decided",
            decided.id
        )));
    }
    let mut decided = Vec::with_capacity(items.len());
    for item in items {
        if let Some(recipient_id) = item.campaign_recipient_id
            && let Some(recipient) = campaign_recipient::Entity::find_by_id(recipient_id)
                .one(&txn)
                .await?
            && recipient.status == recipient_status::WAITING
            && let (Some(node), Some(next)) = (
                recipient.current_node_id.clone(),
                branch_for(&recipient.state, decision),
            )
        {
            let state = json!({"dispatchItemId": item.id, "node": node, "decision": if decision == DispatchStatus::Approved { "approved" } else { "rejected" }});
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
        let mut model: dispatch_item::ActiveModel = item.into();
        model.status = Set(decision);
        model.decided_at = Set(Some(now));
        model.decided_by = Set(Some(actor.to_owned()));
        model.rejection_reason = Set(reason.clone());
        if edited.is_some() {
            model.edited_content = Set(edited.clone());
        }
        model.updated_at = Set(now);
        decided.push(model.update(&txn).await?);
    }
    txn.commit().await?;
    Ok(decided)
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
