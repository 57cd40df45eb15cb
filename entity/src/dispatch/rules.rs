//! Items of automation rules: suggested (or, for an automatic rule,
//! approved at once) without ever duplicating a pending one, withdrawn when
//! they stop making sense, and taken by the sender once approved.

use std::collections::HashSet;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveEnum as _, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

use crate::db::new_id;
use crate::entities::enums::{Channel, DispatchStatus, MessageStatus};
use crate::entities::{automation_rule, dispatch_item};
use crate::error::Result;
use crate::tenant::Tenant;

/// Who decides an automatic rule's items.
pub const AUTOMATIC: &str = "automatic";

/// Reason code of an automatic send held back because its template is not
/// approved at Meta.
pub const TEMPLATE_NOT_APPROVED: &str = "TEMPLATE_NOT_APPROVED";

/// Reason code of an automatic send held back because a variable came out
/// empty (a setting missing, a fact unknown).
pub const VARIABLE_MISSING: &str = "VARIABLE_MISSING";

/// Reason code of an item withdrawn because the purchase was paid.
pub const PAID: &str = "PAID";

/// Reason code of an item withdrawn because its product stopped being monitored.
pub const NOT_MONITORED: &str = "NOT_MONITORED";

/// What a rule suggests (or sends) for one customer.
#[derive(Debug, Clone)]
pub struct RuleItem {
    pub customer_id: Uuid,
    pub product_id: Option<Uuid>,
    pub module_id: Option<Uuid>,
    pub transaction_code: Option<String>,
    pub channel: Channel,
    pub template_id: Option<Uuid>,
    /// `{"template", "language", "variables", "text"?, "subject"?}`, rendered.
    pub content: Value,
    pub reason_code: String,
    pub reason: String,
    pub context: Value,
    /// Approved at once (an automatic rule whose template may go).
    pub approved: bool,
}

/// One pending item per (rule, customer, product).
pub fn subject_key(rule_id: Uuid, customer_id: Uuid, product_id: Option<Uuid>) -> String {
    match product_id {
        Some(product) => format!("{rule_id}:{customer_id}:{product}"),
        None => format!("{rule_id}:{customer_id}:-"),
    }
}

/// The subjects the rule holds back, of `subjects` (customer, subject key):
/// one with an item still pending, or one inside the rule's cooldown.
pub async fn held_back<C: ConnectionTrait>(
    db: &C,
    rule: &automation_rule::Model,
    subjects: &[(Uuid, String)],
    now: DateTime<Utc>,
) -> Result<HashSet<String>> {
    use dispatch_item::Column;
    let held = sea_orm::Condition::any()
        .add(Column::Status.eq(DispatchStatus::Pending))
        .add(Column::SuggestedAt.gt(cooldown_cut(rule, now)));
    let mut found = HashSet::new();
    for chunk in subjects.chunks(500) {
        // The customer's items are found through its index, then their keys.
        let keys: Vec<String> = dispatch_item::Entity::find()
            .select_only()
            .column(Column::SubjectKey)
            .filter(Column::CustomerId.is_in(chunk.iter().map(|(customer, _)| *customer)))
            .filter(Column::SubjectKey.is_in(chunk.iter().map(|(_, key)| key.as_str())))
            .filter(held.clone())
            .into_tuple::<Option<String>>()
            .all(db)
            .await?
            .into_iter()
            .flatten()
            .collect();
        found.extend(keys);
    }
    Ok(found)
}

/// Since when an item keeps its subject from another, beside a pending one
/// (`now` without a cooldown: no item was suggested after it).
fn cooldown_cut(rule: &automation_rule::Model, now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::days(i64::from(Ord::max(rule.cooldown_days, 0)))
}

/// Queues the items whose subject the rule does not hold back (cooldown,
/// or an item still pending); returns the ids queued. On PostgreSQL the
/// insert itself leaves out who is held back, in one statement whatever the
/// number of items; SQLite, whose one writer this transaction already
/// holds, asks first and inserts a few hundred rows a statement.
pub async fn queue_many<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    rule: &automation_rule::Model,
    trigger: &str,
    items: Vec<RuleItem>,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    // Stored as PostgreSQL keeps it, whichever way the row travels.
    let now = now.trunc_subsecs(6);
    let mut seen = HashSet::new();
    let rows: Vec<dispatch_item::Model> = items
        .into_iter()
        .filter_map(|item| {
            let key = subject_key(rule.id, item.customer_id, item.product_id);
            seen.insert(key.clone())
                .then(|| row(tenant, rule, trigger, item, key, now))
        })
        .collect();
    // A scan beside another one, or a redelivered event, loses the race to
    // the pending item's unique index and queues nothing.
    if db.get_database_backend() == DbBackend::Postgres {
        let pending = DispatchStatus::Pending.to_value();
        let held = format!(
            "SELECT 1 FROM dispatch_queue d WHERE d.customer_id = v.customer_id \
             AND d.subject_key = v.subject_key \
             AND (d.status = '{pending}' OR d.suggested_at > $1)"
        );
        return Ok(crate::db::insert_as_arrays::<dispatch_item::Entity, _>(
            db,
            rows,
            Some((&held, vec![cooldown_cut(rule, now).into()])),
        )
        .await?);
    }
    let subjects: Vec<(Uuid, String)> = rows
        .iter()
        .map(|row| (row.customer_id, row.subject_key.clone().unwrap_or_default()))
        .collect();
    let held = held_back(db, rule, &subjects, now).await?;
    let rows = rows.into_iter().filter(|row| {
        !row.subject_key
            .as_ref()
            .is_some_and(|key| held.contains(key))
    });
    let mut queued = Vec::new();
    for chunk in crate::db::chunked(rows.map(IntoActiveModel::into_active_model), 200) {
        let ids = dispatch_item::Entity::insert_many(chunk)
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .exec_with_returning_keys(db)
            .await?;
        queued.extend(ids);
    }
    Ok(queued)
}

fn row(
    tenant: Tenant,
    rule: &automation_rule::Model,
    trigger: &str,
    item: RuleItem,
    key: String,
    now: DateTime<Utc>,
) -> dispatch_item::Model {
    dispatch_item::Model {
        id: new_id(),
        workspace_id: tenant.workspace_id(),
        rule_id: Some(rule.id),
        customer_id: item.customer_id,
        template_id: item.template_id,
        campaign_recipient_id: None,
        node_id: None,
        channel: item.channel,
        variables: item.content,
        reason: item.reason,
        context: item.context,
        status: if item.approved {
            DispatchStatus::Approved
        } else {
            DispatchStatus::Pending
        },
        suggested_at: now,
        expires_at: (!item.approved)
            .then(|| now + Duration::hours(i64::from(Ord::max(rule.expires_after_hours, 1)))),
        decided_at: item.approved.then_some(now),
        decided_by: item.approved.then(|| AUTOMATIC.to_owned()),
        rejection_reason: None,
        edited_content: None,
        reason_code: Some(item.reason_code),
        trigger: Some(trigger.to_owned()),
        product_id: item.product_id,
        module_id: item.module_id,
        transaction_code: item.transaction_code,
        subject_key: Some(key),
        error_code: None,
        send_after: item.approved.then_some(now),
        created_at: now,
        updated_at: now,
    }
}

/// A purchase paid: what it withdraws from the queue.
#[derive(Debug, Clone)]
pub struct Paid {
    pub customer_id: Uuid,
    pub transaction_code: Option<String>,
    pub product_id: Option<Uuid>,
}

impl Paid {
    /// Whether a customer's pending item is about this purchase: its billet
    /// or Pix, or a cart of the product abandoned before it.
    fn withdraws(&self, item: &PendingOfCustomer) -> bool {
        item.customer_id == self.customer_id
            && (self
                .transaction_code
                .as_ref()
                .is_some_and(|code| item.transaction_code.as_ref() == Some(code))
                || self.product_id.is_some_and(|product| {
                    item.product_id == Some(product)
                        && item
                            .trigger
                            .as_deref()
                            .is_some_and(|t| ["CART_ABANDONED", "BILLET_PRINTED"].contains(&t))
                }))
    }
}

/// What tells whether a customer's item is about a purchase paid.
#[derive(Debug, sea_orm::FromQueryResult)]
struct PendingOfCustomer {
    id: Uuid,
    workspace_id: Uuid,
    customer_id: Uuid,
    status: DispatchStatus,
    trigger: Option<String>,
    product_id: Option<Uuid>,
    transaction_code: Option<String>,
}

/// Withdraws the pending items of these purchases (and of their customers'
/// carts and billets for the product) as `CANCELLED`, reason `PAID`, a
/// hundred purchases at a time; returns how many.
///
/// The items are found through their customers, who have a few each. A
/// workspace may hold a whole scan's pending items, and SQLite, which keeps
/// no statistics, would read all of them through (workspace, status) were
/// the workspace or the status a condition of the search: both are checked
/// on the rows found, and the status again by the update.
pub async fn cancel_paid<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    paid: &[Paid],
    now: DateTime<Utc>,
) -> Result<u64> {
    use dispatch_item::Column;
    let mut cancelled = 0;
    for chunk in paid.chunks(100) {
        let customers: HashSet<Uuid> = chunk.iter().map(|p| p.customer_id).collect();
        let items = dispatch_item::Entity::find()
            .select_only()
            .columns([
                Column::Id,
                Column::WorkspaceId,
                Column::CustomerId,
                Column::Status,
                Column::Trigger,
                Column::ProductId,
                Column::TransactionCode,
            ])
            .filter(Column::CustomerId.is_in(customers))
            .into_model::<PendingOfCustomer>()
            .all(db)
            .await?;
        let withdrawn: Vec<Uuid> = items
            .iter()
            .filter(|item| {
                item.workspace_id == tenant.workspace_id()
                    && item.status == DispatchStatus::Pending
                    && chunk.iter().any(|purchase| purchase.withdraws(item))
            })
            .map(|item| item.id)
            .collect();
        if withdrawn.is_empty() {
            continue;
        }
        cancelled += dispatch_item::Entity::update_many()
            .col_expr(Column::Status, Expr::value(DispatchStatus::Cancelled))
            .col_expr(Column::ErrorCode, Expr::value(Some(PAID)))
            .col_expr(Column::DecidedAt, Expr::value(Some(now)))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.is_in(withdrawn))
            .filter(Column::Status.eq(DispatchStatus::Pending))
            .exec(db)
            .await?
            .rows_affected;
    }
    Ok(cancelled)
}

/// Withdraws the pending items about a product no longer monitored.
pub async fn cancel_for_product<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    product_id: Uuid,
    now: DateTime<Utc>,
) -> Result<u64> {
    use dispatch_item::Column;
    let cancelled = dispatch_item::Entity::update_many()
        .col_expr(Column::Status, Expr::value(DispatchStatus::Cancelled))
        .col_expr(Column::ErrorCode, Expr::value(Some(NOT_MONITORED)))
        .col_expr(Column::DecidedAt, Expr::value(Some(now)))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::WorkspaceId.eq(tenant.workspace_id()))
        .filter(Column::ProductId.eq(product_id))
        .filter(Column::RuleId.is_not_null())
        .filter(Column::Status.eq(DispatchStatus::Pending))
        .exec(db)
        .await?;
    Ok(cancelled.rows_affected)
}

/// Approved items whose send is due, as their partial index has them,
/// but for those whose message a sender is calling the provider with
/// (`sending`).
pub fn due_sends(now: DateTime<Utc>) -> sea_orm::Select<dispatch_item::Entity> {
    dispatch_item::Entity::find()
        .filter(crate::db::status_is(
            "dispatch_queue",
            [DispatchStatus::Approved.to_value()],
        ))
        .filter(dispatch_item::Column::SendAfter.lte(now))
        .filter(Expr::cust(format!(
            "NOT EXISTS (SELECT 1 FROM messages WHERE messages.dispatch_item_id = dispatch_queue.id \
             AND messages.status = '{}')",
            MessageStatus::Sending.to_value()
        )))
}

/// Takes up to `limit` approved items whose send is due for `txn`
/// ([`crate::db::take`]), the longest due first, writing nothing to them: the
/// sender reserves their messages in `txn`, claimed for their sends
/// ([`crate::outbox::reserve_claimed`]), and from its commit those
/// messages keep every sender away from the items until their sends are
/// recorded. A sender that dies mid-call leaves a message that lapses into
/// `unknown` ([`crate::outbox::expire_leases`]), which the next take finds
/// under the item's key and records as sent, never sending again.
pub async fn take_sends(
    txn: &DatabaseTransaction,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<Vec<dispatch_item::Model>> {
    let due = due_sends(now)
        .order_by_asc(dispatch_item::Column::SendAfter)
        .limit(limit);
    Ok(crate::db::take(txn, due).await?)
}

/// How an approved item's send ended.
#[derive(Debug, Clone)]
pub enum SendOutcome {
    /// The provider took it (or may have: the message says `unknown`).
    Sent,
    /// Refused by the send rules or the provider, for good.
    Refused { code: String, reason: String },
    /// Not now: quiet hours, the frequency cap, a rate limit, a provider's retry.
    Later(DateTime<Utc>),
}

/// Records how an approved item's send ended.
pub async fn record_send<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    outcome: SendOutcome,
    now: DateTime<Utc>,
) -> Result<()> {
    record_sends(db, &[id], outcome, now).await
}

/// Records that the sends of these approved items ended alike, in one
/// statement.
pub async fn record_sends<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
    outcome: SendOutcome,
    now: DateTime<Utc>,
) -> Result<()> {
    use dispatch_item::Column;
    if ids.is_empty() {
        return Ok(());
    }
    let mut update = dispatch_item::Entity::update_many()
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.is_in(ids.iter().copied()))
        .filter(Column::Status.eq(DispatchStatus::Approved));
    update = match outcome {
        SendOutcome::Sent => update
            .col_expr(Column::Status, Expr::value(DispatchStatus::Sent))
            .col_expr(
                Column::SendAfter,
                Expr::value(Option::<DateTime<Utc>>::None),
            ),
        SendOutcome::Refused { code, reason } => update
            .col_expr(Column::Status, Expr::value(DispatchStatus::Error))
            .col_expr(Column::ErrorCode, Expr::value(Some(code)))
            .col_expr(
                Column::RejectionReason,
                Expr::value(Some(reason.chars().take(1000).collect::<String>())),
            )
            .col_expr(
                Column::SendAfter,
                Expr::value(Option::<DateTime<Utc>>::None),
            ),
        SendOutcome::Later(at) => update.col_expr(Column::SendAfter, Expr::value(Some(at))),
    };
    update.exec(db).await?;
    Ok(())
}
