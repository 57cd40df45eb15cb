//! Persistence primitives for what Hotmart tells us: customers, products,
//! offers, transactions, subscriptions, enrollments, lessons and progress.
//!
//! Each function is one effect, used alike by the webhook applier and the API
//! sync, inside the caller's transaction. Rows are created with
//! `INSERT .. ON CONFLICT DO NOTHING` and then read back locked, so concurrent
//! appliers never create duplicates or lose an update.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, ExprTrait as _, Func, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, Iterable,
    QueryFilter, Set, TryIntoModel,
};
use serde_json::json;
use uuid::Uuid;

use crate::customers::{normalize_email, normalize_phone};
use crate::db::LockForChange;
use crate::db::new_id;
use crate::entities::enums::AccessStatus;
use crate::entities::{
    customer, enrollment, lesson, lesson_progress, module, offer, product, subscription,
    transaction,
};
use crate::error::{Error, Result};
use crate::tenant::Tenant;

/// Inserts `row` unless it conflicts; returns it when this call created it
/// (the new row stays locked until commit). One statement for the common
/// case of a first sighting, where inserting then reading back costs two.
async fn insert_new<C, A>(
    db: &C,
    row: A,
    conflict: OnConflict,
) -> Result<Option<<A::Entity as EntityTrait>::Model>>
where
    C: ConnectionTrait,
    A: ActiveModelTrait,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    Ok(<A::Entity as EntityTrait>::insert_many([row])
        .on_conflict(conflict)
        .exec_with_returning(db)
        .await?
        .pop())
}

fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    Ord::max(a, b)
}

fn earlier(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(Ord::min(a, b)),
        (a, b) => a.or(b),
    }
}

async fn insert_ignoring_conflict<C, A>(db: &C, row: A, conflict: OnConflict) -> Result<()>
where
    C: ConnectionTrait,
    A: ActiveModelTrait,
{
    <A::Entity as EntityTrait>::insert(row)
        .on_conflict(conflict)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Cuts text to a column's width, on a character boundary: sources send
/// oversized values now and then, and a fact is better kept trimmed than lost.
fn fit(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}

fn fit_opt(value: &Option<String>, max: usize) -> Option<String> {
    value.as_deref().map(|v| fit(v, max))
}

impl PersonFacts {
    fn fitted(&self) -> Self {
        PersonFacts {
            email: self.email.clone(),
            name: fit_opt(&self.name, 200),
            phone: self.phone.clone(),
            document: fit_opt(&self.document, 32),
            document_type: fit_opt(&self.document_type, 8),
            hotmart_ucode: fit_opt(&self.hotmart_ucode, 64),
        }
    }
}

impl ProductFacts {
    fn fitted(&self) -> Self {
        ProductFacts {
            hotmart_id: fit(&self.hotmart_id, 64),
            ucode: fit_opt(&self.ucode, 64),
            name: fit_opt(&self.name, 255),
        }
    }
}

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

impl SubscriptionFacts {
    fn fitted(&self) -> Self {
        SubscriptionFacts {
            subscriber_code: fit(&self.subscriber_code, 64),
            status: fit_opt(&self.status, 32),
            hotmart_subscription_id: fit_opt(&self.hotmart_subscription_id, 64),
            plan_id: fit_opt(&self.plan_id, 64),
            plan_name: fit_opt(&self.plan_name, 255),
            currency: fit_opt(&self.currency, 3),
            ..self.clone()
        }
    }
}

/// Who bought or studied, as a source describes them.
#[derive(Debug, Clone, Default)]
pub struct PersonFacts {
    pub email: String,
    pub name: Option<String>,
    /// As the source gives it; normalised to E.164 here, dropped if unusable.
    pub phone: Option<String>,
    pub document: Option<String>,
    pub document_type: Option<String>,
    pub hotmart_ucode: Option<String>,
}

/// Finds or creates the customer, fills what was unknown, and moves their
/// activity window to include `seen_at`. The row stays locked until commit.
pub async fn upsert_customer<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    facts: &PersonFacts,
    seen_at: Option<DateTime<Utc>>,
) -> Result<customer::Model> {
    let mut found = upsert_customers(db, tenant, &[(facts.clone(), seen_at)]).await?;
    found.pop().ok_or(Error::NotFound("customer"))
}

/// What a batch says about one e-mail address, merged in the batch's order
/// the way applying its facts one by one would.
struct PersonMerge {
    name: Option<String>,
    phone: Option<String>,
    document: Option<String>,
    document_type: Option<String>,
    hotmart_ucode: Option<String>,
    first_seen: Option<DateTime<Utc>>,
    last_seen: Option<DateTime<Utc>>,
}

/// The customer each person is, in order: created when new; otherwise what
/// was unknown is filled (a name, a phone, a document, the Hotmart ucode)
/// and the activity window widened to include when they were seen. The rows
/// stay locked until commit.
///
/// The whole batch costs two statements: one `INSERT .. ON CONFLICT DO
/// UPDATE` that rewrites only the rows it changes, in e-mail order (so two
/// appliers lock shared customers in the same order), and one read back.
pub async fn upsert_customers<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    people: &[(PersonFacts, Option<DateTime<Utc>>)],
) -> Result<Vec<customer::Model>> {
    let mut emails = Vec::with_capacity(people.len());
    let mut merged: std::collections::BTreeMap<String, PersonMerge> = Default::default();
    for (facts, seen_at) in people {
        let facts = facts.fitted();
        let email = normalize_email(&facts.email)?;
        let phone = facts.phone.as_deref().and_then(|p| normalize_phone(p).ok());
        let name = facts
            .name
            .as_ref()
            .map(|n| n.trim().chars().take(200).collect::<String>())
            .filter(|n| !n.is_empty());
        let entry = merged.entry(email.clone()).or_insert(PersonMerge {
            name: None,
            phone: None,
            document: None,
            document_type: None,
            hotmart_ucode: None,
            first_seen: *seen_at,
            last_seen: *seen_at,
        });
        entry.name = entry.name.take().or(name);
        entry.phone = entry.phone.take().or(phone);
        if entry.document.is_none() && facts.document.is_some() {
            entry.document = facts.document.clone();
            entry.document_type = facts.document_type.clone();
        }
        entry.hotmart_ucode = entry.hotmart_ucode.take().or(facts.hotmart_ucode);
        entry.first_seen = earlier(entry.first_seen, *seen_at);
        entry.last_seen = later(entry.last_seen, *seen_at);
        emails.push(email);
    }
    if emails.is_empty() {
        return Ok(Vec::new());
    }
    let now = Utc::now();
    let rows = merged.iter().map(|(email, person)| customer::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        hotmart_ucode: Set(person.hotmart_ucode.clone()),
        chatwoot_contact_id: Set(None),
        email: Set(email.clone()),
        name: Set(person.name.clone()),
        phone: Set(person.phone.clone()),
        document: Set(person.document.clone()),
        document_type: Set(person.document_type.clone()),
        tags: Set(json!([])),
        segment: Set(Some(crate::segments::LEAD.to_owned())),
        churn_risk: Set(None),
        ltv_total: Set(Decimal::ZERO),
        first_activity_at: Set(person.first_seen),
        last_activity_at: Set(person.last_seen),
        consent: Set(json!({})),
        metadata: Set(json!({})),
        created_at: Set(now),
        updated_at: Set(now),
    });
    // `customers.x` is the stored row, `excluded.x` the incoming one; both
    // backends read them the same way inside an upsert.
    let fill = |column: &str| format!("COALESCE(customers.{column}, excluded.{column})");
    let fills =
        |column: &str| format!("(customers.{column} IS NULL AND excluded.{column} IS NOT NULL)");
    let widen = |column: &str, op: &str| {
        format!(
            "CASE WHEN customers.{column} IS NULL OR excluded.{column} {op} customers.{column} \
             THEN excluded.{column} ELSE customers.{column} END"
        )
    };
    let widens = |column: &str, op: &str| {
        format!(
            "(excluded.{column} {op} customers.{column} OR {})",
            fills(column)
        )
    };
    let changed = [
        fills("name"),
        fills("phone"),
        fills("document"),
        fills("hotmart_ucode"),
        widens("first_activity_at", "<"),
        widens("last_activity_at", ">"),
    ]
    .join(" OR ");
    let conflict = OnConflict::columns([customer::Column::WorkspaceId, customer::Column::Email])
        .values([
            (customer::Column::Name, Expr::cust(fill("name"))),
            (customer::Column::Phone, Expr::cust(fill("phone"))),
            (
                customer::Column::DocumentType,
                Expr::cust(
                    "CASE WHEN customers.document IS NULL THEN excluded.document_type \
                     ELSE customers.document_type END",
                ),
            ),
            (customer::Column::Document, Expr::cust(fill("document"))),
            (
                customer::Column::HotmartUcode,
                Expr::cust(fill("hotmart_ucode")),
            ),
            (
                customer::Column::FirstActivityAt,
                Expr::cust(widen("first_activity_at", "<")),
            ),
            (
                customer::Column::LastActivityAt,
                Expr::cust(widen("last_activity_at", ">")),
            ),
            (
                customer::Column::UpdatedAt,
                Expr::cust("excluded.updated_at"),
            ),
        ])
        .action_and_where(Expr::cust(changed))
        .to_owned();
    customer::Entity::insert_many(rows)
        .on_conflict(conflict)
        .exec_without_returning(db)
        .await?;
    let stored: HashMap<String, customer::Model> = tenant
        .select::<customer::Entity>()
        .filter(customer::Column::Email.is_in(merged.keys().cloned()))
        .lock_for_change()
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.email.clone(), c))
        .collect();
    emails
        .iter()
        .map(|email| {
            stored
                .get(email)
                .cloned()
                .ok_or(Error::NotFound("customer"))
        })
        .collect()
}

/// A product as Hotmart names it.
#[derive(Debug, Clone, Default)]
pub struct ProductFacts {
    pub hotmart_id: String,
    pub ucode: Option<String>,
    pub name: Option<String>,
}

pub async fn upsert_product<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    facts: &ProductFacts,
) -> Result<product::Model> {
    let facts = &facts.fitted();
    let now = Utc::now();
    let fresh = product::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        hotmart_product_id: Set(Some(facts.hotmart_id.clone())),
        ucode: Set(facts.ucode.clone()),
        name: Set(facts
            .name
            .clone()
            .unwrap_or_else(|| format!("Hotmart product {}", facts.hotmart_id))),
        description: Set(None),
        cover_url: Set(None),
        monitored: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let find = || {
        tenant
            .select::<product::Entity>()
            .filter(product::Column::HotmartProductId.eq(&facts.hotmart_id))
            .one(db)
    };
    // Products are few and seen on every sale: look before inserting.
    let current = match find().await? {
        Some(current) => current,
        None => {
            let conflict = OnConflict::columns([
                product::Column::WorkspaceId,
                product::Column::HotmartProductId,
            ])
            .do_nothing()
            .to_owned();
            if let Some(created) = insert_new(db, fresh, conflict).await? {
                return Ok(created);
            }
            find().await?.ok_or(Error::NotFound("product"))?
        }
    };
    let placeholder = current.name.starts_with("Hotmart product ");
    let better_name = facts
        .name
        .as_ref()
        .filter(|n| placeholder && !n.trim().is_empty());
    if better_name.is_none() && (current.ucode.is_some() || facts.ucode.is_none()) {
        return Ok(current);
    }
    let mut model = current.clone().into_active_model();
    if let Some(name) = better_name {
        model.name = Set(name.trim().to_owned());
    }
    if current.ucode.is_none() && facts.ucode.is_some() {
        model.ucode = Set(facts.ucode.clone());
    }
    model.updated_at = Set(now);
    Ok(model.update(db).await?)
}

pub async fn upsert_offer<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    product_id: Uuid,
    code: &str,
    price: Option<Decimal>,
    currency: Option<&str>,
) -> Result<offer::Model> {
    let code = &fit(code, 64);
    let now = Utc::now();
    let fresh = offer::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        product_id: Set(product_id),
        hotmart_offer_code: Set(code.to_owned()),
        name: Set(None),
        price: Set(price),
        currency: Set(currency.unwrap_or("BRL").chars().take(3).collect()),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let find = || {
        tenant
            .select::<offer::Entity>()
            .filter(offer::Column::ProductId.eq(product_id))
            .filter(offer::Column::HotmartOfferCode.eq(code))
            .one(db)
    };
    if let Some(current) = find().await? {
        return Ok(current);
    }
    let conflict = OnConflict::columns([offer::Column::ProductId, offer::Column::HotmartOfferCode])
        .do_nothing()
        .to_owned();
    if let Some(created) = insert_new(db, fresh, conflict).await? {
        return Ok(created);
    }
    find().await?.ok_or(Error::NotFound("offer"))
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
/// when `supersedes(current status, its date, new status, new date)` says so,
/// which is how a late, stale event is kept from undoing a newer state.
pub async fn record_transaction<C, F>(
    db: &C,
    tenant: Tenant,
    customer_id: Uuid,
    facts: &TransactionFacts,
    supersedes: F,
) -> Result<TransactionChange>
where
    C: ConnectionTrait,
    F: Fn(&str, Option<DateTime<Utc>>, &str, Option<DateTime<Utc>>) -> bool,
{
    let mut changes =
        record_transactions(db, tenant, &[(customer_id, facts.clone())], supersedes).await?;
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
pub async fn record_transactions<C, F>(
    db: &C,
    tenant: Tenant,
    batch: &[(Uuid, TransactionFacts)],
    supersedes: F,
) -> Result<Vec<TransactionChange>>
where
    C: ConnectionTrait,
    F: Fn(&str, Option<DateTime<Utc>>, &str, Option<DateTime<Utc>>) -> bool,
{
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
    let now = Utc::now();
    // Codes first seen in this batch, and stored codes it changed.
    let mut fresh: Vec<String> = Vec::new();
    let mut touched: Vec<String> = Vec::new();
    let mut changes = Vec::with_capacity(batch.len());
    for (customer_id, facts) in &batch {
        let (model, previous_status, status_changed) = match stored.get(&facts.code) {
            Some(current) => {
                let (model, status_changed) =
                    merge_transaction(current, false, *customer_id, facts, &supersedes, now);
                (model, Some(current.status.clone()), status_changed)
            }
            None => {
                let blank = blank_transaction(tenant, *customer_id, facts, now);
                let (model, _) =
                    merge_transaction(&blank, true, *customer_id, facts, &supersedes, now);
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
/// takes the first status as-is; a stored one moves only when `supersedes`
/// says so.
fn merge_transaction<F>(
    current: &transaction::Model,
    is_new: bool,
    customer_id: Uuid,
    facts: &TransactionFacts,
    supersedes: &F,
    now: DateTime<Utc>,
) -> (transaction::ActiveModel, bool)
where
    F: Fn(&str, Option<DateTime<Utc>>, &str, Option<DateTime<Utc>>) -> bool,
{
    let mut model = current.clone().into_active_model();
    let mut status_changed = false;
    if let Some(status) = &facts.status {
        let moves = is_new
            || (status != &current.status
                && supersedes(
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

/// What a source says about one subscription.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionFacts {
    pub subscriber_code: String,
    pub status: Option<String>,
    pub status_at: Option<DateTime<Utc>>,
    pub product_id: Option<Uuid>,
    pub hotmart_subscription_id: Option<String>,
    pub plan_id: Option<String>,
    pub plan_name: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub next_charge_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub recurring_amount: Option<Decimal>,
    pub currency: Option<String>,
    pub recurrence_period_days: Option<i32>,
}

#[derive(Debug, Clone)]
pub struct SubscriptionChange {
    pub subscription: subscription::Model,
    pub previous_status: Option<String>,
    pub status_changed: bool,
}

/// Merges `facts` into the subscription with that subscriber code; a fact
/// older than what is stored never overwrites it.
pub async fn record_subscription<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customer_id: Uuid,
    facts: &SubscriptionFacts,
) -> Result<SubscriptionChange> {
    let facts = &facts.fitted();
    let now = Utc::now();
    let fresh_id = new_id();
    let fresh = subscription::ActiveModel {
        id: Set(fresh_id),
        workspace_id: Set(tenant.workspace_id()),
        customer_id: Set(customer_id),
        product_id: Set(facts.product_id),
        subscriber_code: Set(facts.subscriber_code.clone()),
        hotmart_subscription_id: Set(None),
        plan_id: Set(None),
        plan_name: Set(None),
        status: Set(facts.status.clone().unwrap_or_else(|| "ACTIVE".to_owned())),
        started_at: Set(None),
        next_charge_at: Set(None),
        cancelled_at: Set(None),
        recurring_amount: Set(None),
        currency: Set(None),
        recurrence_period_days: Set(None),
        last_event_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    insert_ignoring_conflict(
        db,
        fresh,
        OnConflict::columns([
            subscription::Column::WorkspaceId,
            subscription::Column::SubscriberCode,
        ])
        .do_nothing()
        .to_owned(),
    )
    .await?;
    let current = tenant
        .select::<subscription::Entity>()
        .filter(subscription::Column::SubscriberCode.eq(&facts.subscriber_code))
        .lock_for_change()
        .one(db)
        .await?
        .ok_or(Error::NotFound("subscription"))?;
    let is_new = current.id == fresh_id;
    let newer = is_new
        || match (current.last_event_at, facts.status_at) {
            (Some(stored), Some(given)) => given >= stored,
            (None, _) => true,
            (Some(_), None) => false,
        };
    let previous_status = (!is_new).then(|| current.status.clone());
    let mut model = current.clone().into_active_model();
    let mut status_changed = is_new;
    if newer {
        if let Some(status) = &facts.status {
            status_changed |= status != &current.status;
            model.status = Set(status.clone());
        }
        model.last_event_at = Set(later(current.last_event_at, facts.status_at));
        if facts.next_charge_at.is_some() {
            model.next_charge_at = Set(facts.next_charge_at);
        }
        if facts.plan_id.is_some() {
            model.plan_id = Set(facts.plan_id.clone());
        }
        if facts.plan_name.is_some() {
            model.plan_name = Set(facts.plan_name.clone());
        }
        if facts.recurring_amount.is_some() {
            model.recurring_amount = Set(facts.recurring_amount);
        }
        if facts.cancelled_at.is_some() {
            model.cancelled_at = Set(facts.cancelled_at);
        }
    }
    if current.product_id.is_none() && facts.product_id.is_some() {
        model.product_id = Set(facts.product_id);
    }
    if current.hotmart_subscription_id.is_none() && facts.hotmart_subscription_id.is_some() {
        model.hotmart_subscription_id = Set(facts.hotmart_subscription_id.clone());
    }
    if facts.currency.is_some() && current.currency.is_none() {
        model.currency = Set(facts.currency.clone());
    }
    if facts.recurrence_period_days.is_some() && current.recurrence_period_days.is_none() {
        model.recurrence_period_days = Set(facts.recurrence_period_days);
    }
    model.started_at = Set(earlier(current.started_at, facts.started_at));
    model.updated_at = Set(now);
    let subscription = model.update(db).await?;
    Ok(SubscriptionChange {
        subscription,
        previous_status,
        status_changed,
    })
}

/// The access a set of purchase statuses grants, newest purchase first.
pub fn access_from(latest_settled_status: Option<&str>) -> Option<AccessStatus> {
    match latest_settled_status? {
        "APPROVED" | "COMPLETE" => Some(AccessStatus::Active),
        "REFUNDED" | "CHARGEBACK" | "PARTIALLY_REFUNDED" | "PROTESTED" => {
            Some(AccessStatus::Blocked)
        }
        "CANCELLED" | "EXPIRED" => Some(AccessStatus::Cancelled),
        _ => None,
    }
}

#[derive(Debug, Clone)]
pub struct EnrollmentChange {
    pub enrollment: Option<enrollment::Model>,
    pub previous_access: Option<AccessStatus>,
}

/// What an enrollment is decided from, of each purchase of the product:
/// a customer with years of renewals has dozens, read on every refresh, so
/// only these columns come back.
#[derive(Debug, Clone, sea_orm::DerivePartialModel)]
#[sea_orm(entity = "transaction::Entity")]
struct PurchaseOfProduct {
    id: Uuid,
    customer_id: Uuid,
    product_id: Option<Uuid>,
    status: String,
    purchased_at: Option<DateTime<Utc>>,
    approved_at: Option<DateTime<Utc>>,
    last_event_at: Option<DateTime<Utc>>,
    recurrence_number: Option<i32>,
}

/// Derives each customer's access to a product from their purchases of it:
/// the most recent settled purchase decides (an approved one grants, a
/// refunded or charged-back one blocks). No settled purchase, no enrollment.
///
/// `refreshes` are `(customer, product, starts_at)` in order; the purchases
/// and enrollments of the whole batch are read with one query each, every
/// refresh is decided in turn as one call per refresh would, and only the
/// enrollments that end up new or changed are written. Answers one change
/// per refresh, in order.
pub async fn refresh_enrollments<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    refreshes: &[(Uuid, Uuid, Option<DateTime<Utc>>)],
) -> Result<Vec<EnrollmentChange>> {
    if refreshes.is_empty() {
        return Ok(Vec::new());
    }
    let customers: Vec<Uuid> = refreshes.iter().map(|r| r.0).collect();
    let products: Vec<Uuid> = refreshes.iter().map(|r| r.1).collect();
    let mut purchases: HashMap<(Uuid, Uuid), Vec<PurchaseOfProduct>> = HashMap::new();
    for t in tenant
        .select::<transaction::Entity>()
        .filter(transaction::Column::CustomerId.is_in(customers.clone()))
        .filter(transaction::Column::ProductId.is_in(products.clone()))
        .into_partial_model::<PurchaseOfProduct>()
        .all(db)
        .await?
    {
        if let Some(product_id) = t.product_id {
            purchases
                .entry((t.customer_id, product_id))
                .or_default()
                .push(t);
        }
    }
    let mut enrollments: HashMap<(Uuid, Uuid), enrollment::Model> = tenant
        .select::<enrollment::Entity>()
        .filter(enrollment::Column::CustomerId.is_in(customers))
        .filter(enrollment::Column::ProductId.is_in(products))
        .lock_for_change()
        .all(db)
        .await?
        .into_iter()
        .map(|e| ((e.customer_id, e.product_id), e))
        .collect();
    let now = Utc::now();
    let mut written: Vec<(Uuid, Uuid)> = Vec::new();
    let mut changes = Vec::with_capacity(refreshes.len());
    for &(customer_id, product_id, starts_at) in refreshes {
        let key = (customer_id, product_id);
        let existing = enrollments.get(&key);
        let bought = purchases.get(&key).map(Vec::as_slice).unwrap_or_default();
        let (next, change) = decide_enrollment(
            tenant,
            customer_id,
            product_id,
            bought,
            existing,
            starts_at,
            now,
        );
        if let Some(next) = next {
            if !written.contains(&key) {
                written.push(key);
            }
            enrollments.insert(key, next);
        }
        changes.push(change);
    }
    if !written.is_empty() {
        // New and changed enrollments in one statement; a refresh changes
        // only these columns of a stored one.
        let rows = written
            .iter()
            .map(|key| enrollments[key].clone().into_active_model().reset_all());
        let conflict = OnConflict::columns([
            enrollment::Column::CustomerId,
            enrollment::Column::ProductId,
        ])
        .update_columns([
            enrollment::Column::AccessStatus,
            enrollment::Column::TransactionId,
            enrollment::Column::StartsAt,
            enrollment::Column::UpdatedAt,
        ])
        .to_owned();
        enrollment::Entity::insert_many(rows)
            .on_conflict(conflict)
            .exec_without_returning(db)
            .await?;
    }
    Ok(changes)
}

/// One refresh of the enrollment in `existing` from the customer's
/// purchases of the product: the enrollment as it must now be stored, if it
/// changes, and the change.
fn decide_enrollment(
    tenant: Tenant,
    customer_id: Uuid,
    product_id: Uuid,
    purchases: &[PurchaseOfProduct],
    existing: Option<&enrollment::Model>,
    starts_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (Option<enrollment::Model>, EnrollmentChange) {
    let unchanged = || EnrollmentChange {
        previous_access: existing.map(|e| e.access_status),
        enrollment: existing.cloned(),
    };
    let latest = purchases
        .iter()
        .filter(|t| access_from(Some(&t.status)).is_some())
        .max_by_key(|t| {
            (
                t.purchased_at.or(t.last_event_at),
                t.recurrence_number,
                t.id,
            )
        });
    let Some(latest) = latest else {
        return (None, unchanged());
    };
    let access = access_from(Some(&latest.status)).unwrap_or(AccessStatus::Active);
    // A purchase never approved (cancelled billet) grants nothing to enroll in.
    let ever_approved = purchases.iter().any(|t| {
        t.approved_at.is_some()
            || matches!(
                t.status.as_str(),
                "APPROVED"
                    | "COMPLETE"
                    | "REFUNDED"
                    | "CHARGEBACK"
                    | "PARTIALLY_REFUNDED"
                    | "PROTESTED"
            )
    });
    match existing {
        Some(current) => {
            let previous = current.access_status;
            // Access began with the first paid purchase, whatever arrived first.
            let paid_since = purchases
                .iter()
                .filter(|t| t.approved_at.is_some())
                .filter_map(|t| t.approved_at.or(t.purchased_at))
                .min();
            let starts_at = earlier(current.starts_at, paid_since);
            if previous == access
                && current.transaction_id == Some(latest.id)
                && current.starts_at == starts_at
            {
                return (None, unchanged());
            }
            let next = enrollment::Model {
                access_status: access,
                transaction_id: Some(latest.id),
                starts_at,
                updated_at: now,
                ..current.clone()
            };
            (
                Some(next.clone()),
                EnrollmentChange {
                    enrollment: Some(next),
                    previous_access: Some(previous),
                },
            )
        }
        None if ever_approved => {
            let created = enrollment::Model {
                id: new_id(),
                workspace_id: tenant.workspace_id(),
                customer_id,
                product_id,
                transaction_id: Some(latest.id),
                access_status: access,
                starts_at: starts_at.or(latest.approved_at).or(latest.purchased_at),
                ends_at: None,
                renews_at: None,
                first_access_at: None,
                first_access_origin: None,
                last_access_at: None,
                progress_percent: Decimal::ZERO,
                created_at: now,
                updated_at: now,
            };
            (
                Some(created.clone()),
                EnrollmentChange {
                    enrollment: Some(created),
                    previous_access: None,
                },
            )
        }
        None => (None, unchanged()),
    }
}

/// Sets when access to a product ends (a cancelled subscription runs until
/// its paid period is over).
pub async fn set_access_end<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customer_id: Uuid,
    product_id: Uuid,
    ends_at: Option<DateTime<Utc>>,
    renews_at: Option<DateTime<Utc>>,
) -> Result<Option<enrollment::Model>> {
    // The cancellation may arrive before the purchase that grants access:
    // the enrollment is created now and the purchase fills it in later.
    let now = Utc::now();
    let fresh = enrollment::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        customer_id: Set(customer_id),
        product_id: Set(product_id),
        transaction_id: Set(None),
        access_status: Set(AccessStatus::Active),
        starts_at: Set(None),
        ends_at: Set(None),
        renews_at: Set(None),
        first_access_at: Set(None),
        first_access_origin: Set(None),
        last_access_at: Set(None),
        progress_percent: Set(Decimal::ZERO),
        created_at: Set(now),
        updated_at: Set(now),
    };
    insert_ignoring_conflict(
        db,
        fresh,
        OnConflict::columns([
            enrollment::Column::CustomerId,
            enrollment::Column::ProductId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .await?;
    let Some(current) = tenant
        .select::<enrollment::Entity>()
        .filter(enrollment::Column::CustomerId.eq(customer_id))
        .filter(enrollment::Column::ProductId.eq(product_id))
        .lock_for_change()
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let mut model = current.into_active_model();
    model.ends_at = Set(ends_at);
    model.renews_at = Set(renews_at);
    model.updated_at = Set(Utc::now());
    Ok(Some(model.update(db).await?))
}

/// Access that ran past its end (a cancelled subscription's paid period)
/// becomes CANCELLED; returns how many enrollments ended.
pub async fn expire_ended_access<C: ConnectionTrait>(db: &C, now: DateTime<Utc>) -> Result<u64> {
    use sea_orm::sea_query::Expr;
    let ended = enrollment::Entity::update_many()
        .col_expr(
            enrollment::Column::AccessStatus,
            Expr::value(AccessStatus::Cancelled),
        )
        .col_expr(enrollment::Column::UpdatedAt, Expr::value(now))
        .filter(enrollment::Column::AccessStatus.eq(AccessStatus::Active))
        .filter(enrollment::Column::EndsAt.lte(now))
        .exec(db)
        .await?;
    Ok(ended.rows_affected)
}

/// Records the first access to a product's members area; later ones only
/// move `last_access_at`. Returns whether this was the first.
pub async fn record_access<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customer_id: Uuid,
    product_id: Uuid,
    at: DateTime<Utc>,
    origin: &str,
) -> Result<bool> {
    let now = Utc::now();
    let fresh = enrollment::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        customer_id: Set(customer_id),
        product_id: Set(product_id),
        transaction_id: Set(None),
        access_status: Set(AccessStatus::Active),
        starts_at: Set(Some(at)),
        ends_at: Set(None),
        renews_at: Set(None),
        first_access_at: Set(None),
        first_access_origin: Set(None),
        last_access_at: Set(None),
        progress_percent: Set(Decimal::ZERO),
        created_at: Set(now),
        updated_at: Set(now),
    };
    insert_ignoring_conflict(
        db,
        fresh,
        OnConflict::columns([
            enrollment::Column::CustomerId,
            enrollment::Column::ProductId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .await?;
    let current = tenant
        .select::<enrollment::Entity>()
        .filter(enrollment::Column::CustomerId.eq(customer_id))
        .filter(enrollment::Column::ProductId.eq(product_id))
        .lock_for_change()
        .one(db)
        .await?
        .ok_or(Error::NotFound("enrollment"))?;
    let first = current.first_access_at.is_none_or(|existing| at < existing);
    let moves_last = current.last_access_at.is_none_or(|existing| at > existing);
    if !first && !moves_last {
        return Ok(false);
    }
    let was_first = current.first_access_at.is_none();
    let mut model = current.into_active_model();
    if first {
        model.first_access_at = Set(Some(at));
        model.first_access_origin = Set(Some(origin.to_owned()));
    }
    if moves_last {
        model.last_access_at = Set(Some(at));
    }
    model.updated_at = Set(now);
    model.update(db).await?;
    Ok(was_first)
}

/// A module of a product's course, by Hotmart's module id.
pub async fn upsert_module<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    product_id: Uuid,
    hotmart_module_id: &str,
    name: Option<&str>,
    position: Option<i32>,
    is_extra: Option<bool>,
) -> Result<module::Model> {
    let hotmart_module_id = &fit(hotmart_module_id, 64);
    let name = name.map(|n| fit(n, 255));
    let name = name.as_deref();
    let now = Utc::now();
    let fresh = module::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        product_id: Set(product_id),
        hotmart_module_id: Set(Some(hotmart_module_id.to_owned())),
        name: Set(name.unwrap_or(hotmart_module_id).to_owned()),
        position: Set(position.unwrap_or(0)),
        is_extra: Set(is_extra.unwrap_or(false)),
        created_at: Set(now),
        updated_at: Set(now),
    };
    insert_ignoring_conflict(
        db,
        fresh,
        OnConflict::columns([module::Column::ProductId, module::Column::HotmartModuleId])
            .do_nothing()
            .to_owned(),
    )
    .await?;
    let current = tenant
        .select::<module::Entity>()
        .filter(module::Column::ProductId.eq(product_id))
        .filter(module::Column::HotmartModuleId.eq(hotmart_module_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("module"))?;
    let rename = name.is_some_and(|n| n != current.name);
    let reposition = position.is_some_and(|p| p != current.position);
    if !rename && !reposition && is_extra.is_none_or(|x| x == current.is_extra) {
        return Ok(current);
    }
    let mut model = current.into_active_model();
    if let Some(name) = name {
        model.name = Set(name.to_owned());
    }
    if let Some(position) = position {
        model.position = Set(position);
    }
    if let Some(is_extra) = is_extra {
        model.is_extra = Set(is_extra);
    }
    model.updated_at = Set(now);
    Ok(model.update(db).await?)
}

/// A lesson (Club page) as the catalogue sync describes it.
#[derive(Debug, Clone, Default)]
pub struct LessonFacts {
    pub hotmart_page_id: String,
    pub page_name: String,
    pub module_id: Option<Uuid>,
    pub module_name: Option<String>,
    pub is_extra: bool,
    pub position: i32,
}

pub async fn upsert_lesson<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    product_id: Uuid,
    facts: &LessonFacts,
) -> Result<lesson::Model> {
    let now = Utc::now();
    let fresh = lesson::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        product_id: Set(product_id),
        module_id: Set(facts.module_id),
        hotmart_page_id: Set(facts.hotmart_page_id.clone()),
        page_name: Set(facts.page_name.clone()),
        module_name: Set(facts.module_name.clone()),
        is_extra: Set(facts.is_extra),
        position: Set(facts.position),
        release_after_days: Set(None),
        release_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    insert_ignoring_conflict(
        db,
        fresh,
        OnConflict::columns([lesson::Column::ProductId, lesson::Column::HotmartPageId])
            .do_nothing()
            .to_owned(),
    )
    .await?;
    let current = tenant
        .select::<lesson::Entity>()
        .filter(lesson::Column::ProductId.eq(product_id))
        .filter(lesson::Column::HotmartPageId.eq(&facts.hotmart_page_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("lesson"))?;
    let same = current.page_name == facts.page_name
        && current.module_name == facts.module_name
        && current.is_extra == facts.is_extra
        && current.position == facts.position
        && (facts.module_id.is_none() || current.module_id == facts.module_id);
    if same {
        return Ok(current);
    }
    let mut model = current.into_active_model();
    model.page_name = Set(facts.page_name.clone());
    model.module_name = Set(facts.module_name.clone());
    model.is_extra = Set(facts.is_extra);
    model.position = Set(facts.position);
    if facts.module_id.is_some() {
        model.module_id = Set(facts.module_id);
    }
    model.updated_at = Set(now);
    Ok(model.update(db).await?)
}

/// Marks a lesson completed (or not) for a customer; returns whether it changed.
pub async fn record_lesson_progress<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customer_id: Uuid,
    lesson_id: Uuid,
    completed: bool,
    completed_at: Option<DateTime<Utc>>,
) -> Result<bool> {
    let now = Utc::now();
    let fresh = lesson_progress::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        customer_id: Set(customer_id),
        lesson_id: Set(lesson_id),
        completed: Set(false),
        completed_at: Set(None),
        updated_at: Set(now),
    };
    insert_ignoring_conflict(
        db,
        fresh,
        OnConflict::columns([
            lesson_progress::Column::CustomerId,
            lesson_progress::Column::LessonId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .await?;
    let current = tenant
        .select::<lesson_progress::Entity>()
        .filter(lesson_progress::Column::CustomerId.eq(customer_id))
        .filter(lesson_progress::Column::LessonId.eq(lesson_id))
        .lock_for_change()
        .one(db)
        .await?
        .ok_or(Error::NotFound("lesson progress"))?;
    // Progress only moves forward: a completed lesson stays completed.
    if current.completed || !completed {
        return Ok(false);
    }
    let mut model = current.into_active_model();
    model.completed = Set(true);
    model.completed_at = Set(completed_at.or(Some(now)));
    model.updated_at = Set(now);
    model.update(db).await?;
    Ok(true)
}

/// Recomputes a product enrollment's progress from completed lessons.
pub async fn refresh_progress<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customer_id: Uuid,
    product_id: Uuid,
) -> Result<Option<Decimal>> {
    let lessons = tenant
        .select::<lesson::Entity>()
        .filter(lesson::Column::ProductId.eq(product_id))
        .filter(lesson::Column::IsExtra.eq(false))
        .all(db)
        .await?;
    if lessons.is_empty() {
        return Ok(None);
    }
    let ids: Vec<Uuid> = lessons.iter().map(|l| l.id).collect();
    let done = tenant
        .select::<lesson_progress::Entity>()
        .filter(lesson_progress::Column::CustomerId.eq(customer_id))
        .filter(lesson_progress::Column::LessonId.is_in(ids))
        .filter(lesson_progress::Column::Completed.eq(true))
        .all(db)
        .await?
        .len();
    let percent = crate::money::at_scale(
        Decimal::from(done as u64 * 100) / Decimal::from(lessons.len() as u64),
        2,
    );
    let Some(current) = tenant
        .select::<enrollment::Entity>()
        .filter(enrollment::Column::CustomerId.eq(customer_id))
        .filter(enrollment::Column::ProductId.eq(product_id))
        .one(db)
        .await?
    else {
        return Ok(Some(percent));
    };
    if current.progress_percent != percent {
        let mut model = current.into_active_model();
        model.progress_percent = Set(percent);
        model.updated_at = Set(Utc::now());
        model.update(db).await?;
    }
    Ok(Some(percent))
}

/// LTV: what each customer paid and kept — approved and complete purchases;
/// refunded and charged-back ones count nothing. One statement for all of
/// them: the sums are taken and stored by the database.
pub async fn recompute_ltv<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customer_ids: &[Uuid],
) -> Result<()> {
    if customer_ids.is_empty() {
        return Ok(());
    }
    let kept = Query::select()
        .expr(Func::coalesce([
            sea_orm::sea_query::ExprTrait::sum(Expr::col((
                transaction::Entity,
                transaction::Column::Amount,
            ))),
            Expr::val(0),
        ]))
        .from(transaction::Entity)
        .and_where(transaction::Column::WorkspaceId.eq(tenant.workspace_id()))
        .and_where(
            Expr::col((transaction::Entity, transaction::Column::CustomerId))
                .equals((customer::Entity, customer::Column::Id)),
        )
        .and_where(transaction::Column::Status.is_in(["APPROVED", "COMPLETE"]))
        .to_owned();
    customer::Entity::update_many()
        .col_expr(
            customer::Column::LtvTotal,
            Expr::SubQuery(None, Box::new(kept.into())),
        )
        .filter(customer::Column::WorkspaceId.eq(tenant.workspace_id()))
        .filter(customer::Column::Id.is_in(customer_ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}
