//! Transactions as sources report them (Hotmart webhooks, the API sync):
//! recorded once per code, merged so that a late status never undoes a
//! settled one, in the caller's transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, Iterable,
    QueryFilter, Set, TryIntoModel,
};
use uuid::Uuid;

use crate::db::{LockForChange, new_id};
use crate::entities::transaction;
use crate::error::{Error, Result};
use crate::facts::{earlier, fit, fit_opt};
use crate::hotmart::PurchaseStatus;
use crate::tenant::Tenant;

impl TransactionFacts {
    fn fitted(&self) -> Self {
        TransactionFacts {
            code: fit(&self.code, 64),
            status: fit_opt(&self.status, 32),
            currency: fit_opt(&self.currency, 3),
            payment_method: fit_opt(&self.payment_method, 32),
            billet_url: fit_opt(&self.billet_url, 2048),
            pix_code: fit_opt(&self.pix_code, 2048),
            src: fit_opt(&self.src, 255),
            sck: fit_opt(&self.sck, 255),
            xcod: fit_opt(&self.xcod, 255),
            commission_type: fit_opt(&self.commission_type, 32),
            ..self.clone()
        }
    }
}

/// What a source says about one purchase. `None` means "not said".
#[derive(Debug, Clone, Default)]
pub struct TransactionFacts {
    pub code: String,
    pub status: Option<String>,
    /// When the source observed this status (the event's own date).
    pub status_at: Option<DateTime<Utc>>,
    pub product_id: Option<Uuid>,
    pub offer_id: Option<Uuid>,
    pub subscription_id: Option<Uuid>,
    pub amount: Option<Decimal>,
    pub currency: Option<String>,
    pub payment_method: Option<String>,
    pub installments: Option<i32>,
    pub purchased_at: Option<DateTime<Utc>>,
    pub approved_at: Option<DateTime<Utc>>,
    pub refunded_at: Option<DateTime<Utc>>,
    pub warranty_ends_at: Option<DateTime<Utc>>,
    pub billet_url: Option<String>,
    pub pix_code: Option<String>,
    pub src: Option<String>,
    pub sck: Option<String>,
    pub xcod: Option<String>,
    pub commission_type: Option<String>,
    pub recurrence_number: Option<i32>,
}

/// What recording a transaction changed.
#[derive(Debug, Clone)]
pub struct TransactionChange {
    pub transaction: transaction::Model,
    /// The status before, if the row existed.
    pub previous_status: Option<String>,
    pub status_changed: bool,
}

/// Merges `facts` into the transaction with that code. The status moves only
/// when [`PurchaseStatus::supersedes`] says so, which is how a late, stale
/// event is kept from undoing a newer state.
pub async fn record_transaction<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customer_id: Uuid,
    facts: &TransactionFacts,
    now: DateTime<Utc>,
) -> Result<TransactionChange> {
    let mut changes = record_transactions(db, tenant, &[(customer_id, facts.clone())], now).await?;
    changes.pop().ok_or(Error::NotFound("transaction"))
}

/// [`record_transaction`] for a batch of `(customer, facts)`, in order: the
/// stored rows are read once (locked), every fact is merged in turn exactly
/// as one call per fact would, and the result is written with one INSERT for
/// the new codes and one for the stored rows the batch changed (an upsert
/// that rewrites them). Answers one change per fact, in order.
///
/// A code another writer inserts between the read and the INSERT fails the
/// call (`Error::Conflict`); the caller retries, and then finds the row.
pub async fn record_transactions<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    batch: &[(Uuid, TransactionFacts)],
    now: DateTime<Utc>,
) -> Result<Vec<TransactionChange>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let batch: Vec<(Uuid, TransactionFacts)> = batch
        .iter()
        .map(|(customer_id, facts)| (*customer_id, facts.fitted()))
        .collect();
    let codes: Vec<&str> = batch.iter().map(|(_, f)| f.code.as_str()).collect();
    let mut stored: HashMap<String, transaction::Model> = tenant
        .select::<transaction::Entity>()
        .filter(transaction::Column::Code.is_in(codes))
        .lock_for_change()
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.code.clone(), t))
        .collect();
    // Codes first seen in this batch, and stored codes it changed.
    let mut fresh: Vec<String> = Vec::new();
    let mut touched: Vec<String> = Vec::new();
    let mut changes = Vec::with_capacity(batch.len());
    for (customer_id, facts) in &batch {
        let (model, previous_status, status_changed) = match stored.get(&facts.code) {
            Some(current) => {
                let (model, status_changed) =
                    merge_transaction(current, false, *customer_id, facts, now);
                (model, Some(current.status.clone()), status_changed)
            }
            None => {
                let blank = blank_transaction(tenant, *customer_id, facts, now);
                let (model, _) = merge_transaction(&blank, true, *customer_id, facts, now);
                fresh.push(facts.code.clone());
                (model, None, true)
            }
        };
        let model = model.try_into_model()?;
        if previous_status.is_some()
            && !fresh.contains(&facts.code)
            && !touched.contains(&facts.code)
        {
            touched.push(facts.code.clone());
        }
        stored.insert(facts.code.clone(), model.clone());
        changes.push(TransactionChange {
            transaction: model,
            previous_status,
            status_changed,
        });
    }
    if !fresh.is_empty() {
        let rows = fresh
            .iter()
            .map(|code| stored[code].clone().into_active_model().reset_all());
        let conflict =
            OnConflict::columns([transaction::Column::WorkspaceId, transaction::Column::Code])
                .do_nothing()
                .to_owned();
        let inserted = transaction::Entity::insert_many(rows)
            .on_conflict(conflict)
            .exec_without_returning(db)
            .await?;
        if inserted != fresh.len() as u64 {
            return Err(Error::Conflict(
                "a transaction was recorded concurrently; retry".to_owned(),
            ));
        }
    }
    if !touched.is_empty() {
        // The stored rows the batch changed (read locked above), rewritten
        // in one statement.
        let rows = touched
            .iter()
            .map(|code| stored[code].clone().into_active_model().reset_all());
        let merged = transaction::Column::iter().filter(|c| {
            !matches!(
                c,
                transaction::Column::Id
                    | transaction::Column::WorkspaceId
                    | transaction::Column::Code
                    | transaction::Column::CreatedAt
            )
        });
        let conflict =
            OnConflict::columns([transaction::Column::WorkspaceId, transaction::Column::Code])
                .update_columns(merged)
                .to_owned();
        transaction::Entity::insert_many(rows)
            .on_conflict(conflict)
            .exec_without_returning(db)
            .await?;
    }
    Ok(changes)
}

/// A first sighting of `facts.code`, before its facts are merged in.
fn blank_transaction(
    tenant: Tenant,
    customer_id: Uuid,
    facts: &TransactionFacts,
    now: DateTime<Utc>,
) -> transaction::Model {
    transaction::Model {
        id: new_id(),
        workspace_id: tenant.workspace_id(),
        code: facts.code.clone(),
        customer_id,
        product_id: facts.product_id,
        offer_id: None,
        subscription_id: None,
        status: facts.status.clone().unwrap_or_else(|| "STARTED".to_owned()),
        amount: Decimal::ZERO,
        currency: "BRL".to_owned(),
        payment_method: None,
        installments: None,
        purchased_at: None,
        approved_at: None,
        refunded_at: None,
        warranty_ends_at: None,
        billet_url: None,
        pix_code: None,
        src: None,
        sck: None,
        xcod: None,
        commission_type: None,
        recurrence_number: None,
        last_event_at: None,
        created_at: now,
        updated_at: now,
    }
}

/// `facts` merged into `current`, and whether its status changed. A new row
/// takes the first status as-is; a stored one moves only when
/// [`PurchaseStatus::supersedes`] says so.
fn merge_transaction(
    current: &transaction::Model,
    is_new: bool,
    customer_id: Uuid,
    facts: &TransactionFacts,
    now: DateTime<Utc>,
) -> (transaction::ActiveModel, bool) {
    let mut model = current.clone().into_active_model();
    let mut status_changed = false;
    if let Some(status) = &facts.status {
        let moves = is_new
            || (status != &current.status
                && PurchaseStatus::supersedes(
                    &current.status,
                    current.last_event_at,
                    status,
                    facts.status_at,
                ));
        if moves {
            status_changed = is_new || status != &current.status;
            model.status = Set(status.clone());
            model.last_event_at = Set(facts.status_at.or(current.last_event_at));
        } else if current.last_event_at.is_none()
            && facts.status_at.is_some()
            && status == &current.status
        {
            model.last_event_at = Set(facts.status_at);
        }
    }
    macro_rules! fill {
        ($field:ident) => {
            if facts.$field.is_some() {
                model.$field = Set(facts.$field.clone());
            }
        };
    }
    fill!(product_id);
    fill!(offer_id);
    fill!(subscription_id);
    fill!(payment_method);
    fill!(installments);
    fill!(warranty_ends_at);
    fill!(billet_url);
    fill!(pix_code);
    fill!(src);
    fill!(sck);
    fill!(xcod);
    fill!(commission_type);
    fill!(recurrence_number);
    if let Some(amount) = facts.amount {
        model.amount = Set(amount);
    }
    if let Some(currency) = &facts.currency {
        model.currency = Set(currency.chars().take(3).collect());
    }
    model.purchased_at = Set(earlier(current.purchased_at, facts.purchased_at));
    model.approved_at = Set(current.approved_at.or(facts.approved_at));
    model.refunded_at = Set(current.refunded_at.or(facts.refunded_at));
    model.customer_id = Set(customer_id);
    model.updated_at = Set(now);
    (model, status_changed || is_new)
}
