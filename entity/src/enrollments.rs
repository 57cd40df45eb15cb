//! Enrollments and course progress: access to a product decided from its
//! purchases and subscriptions, first access, lessons completed and the
//! progress they add up to.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set,
};
use uuid::Uuid;

use crate::db::{LockForChange, insert_ignoring_conflict, new_id};
use crate::entities::enums::AccessStatus;
use crate::entities::{enrollment, lesson, lesson_progress, module, transaction};
use crate::error::{Error, Result};
use crate::facts::{earlier, later};
use crate::tenant::Tenant;

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
    now: DateTime<Utc>,
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
                last_lesson_completed_at: None,
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

/// The customer's enrollment in the product, created (active, from
/// `starts_at`) when there is none yet, read back locked for the rest of
/// the caller's transaction.
async fn locked_enrollment<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customer_id: Uuid,
    product_id: Uuid,
    starts_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<enrollment::Model>> {
    let fresh = enrollment::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        customer_id: Set(customer_id),
        product_id: Set(product_id),
        transaction_id: Set(None),
        access_status: Set(AccessStatus::Active),
        starts_at: Set(starts_at),
        ends_at: Set(None),
        renews_at: Set(None),
        first_access_at: Set(None),
        first_access_origin: Set(None),
        last_access_at: Set(None),
        last_lesson_completed_at: Set(None),
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
    Ok(tenant
        .select::<enrollment::Entity>()
        .filter(enrollment::Column::CustomerId.eq(customer_id))
        .filter(enrollment::Column::ProductId.eq(product_id))
        .lock_for_change()
        .one(db)
        .await?)
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
    now: DateTime<Utc>,
) -> Result<Option<enrollment::Model>> {
    // The cancellation may arrive before the purchase that grants access:
    // the enrollment is created now and the purchase fills it in later.
    let Some(current) = locked_enrollment(db, tenant, customer_id, product_id, None, now).await?
    else {
        return Ok(None);
    };
    let mut model = current.into_active_model();
    model.ends_at = Set(ends_at);
    model.renews_at = Set(renews_at);
    model.updated_at = Set(now);
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
    now: DateTime<Utc>,
) -> Result<bool> {
    let current = locked_enrollment(db, tenant, customer_id, product_id, Some(at), now)
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

/// Marks a lesson completed (or not) for a customer; returns whether it changed.
pub async fn record_lesson_progress<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customer_id: Uuid,
    lesson_id: Uuid,
    completed: bool,
    completed_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool> {
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

/// Recomputes a product enrollment's progress, and when its last lesson was
/// completed, from completed lessons.
pub async fn refresh_progress<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customer_id: Uuid,
    product_id: Uuid,
    now: DateTime<Utc>,
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
    let completed = tenant
        .select::<lesson_progress::Entity>()
        .filter(lesson_progress::Column::CustomerId.eq(customer_id))
        .filter(lesson_progress::Column::LessonId.is_in(ids))
        .filter(lesson_progress::Column::Completed.eq(true))
        .all(db)
        .await?;
    let done = completed.len();
    let last_completed = completed.iter().filter_map(|p| p.completed_at).max();
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
    let last_completed = later(current.last_lesson_completed_at, last_completed);
    if current.progress_percent != percent || current.last_lesson_completed_at != last_completed {
        let mut model = current.into_active_model();
        model.progress_percent = Set(percent);
        model.last_lesson_completed_at = Set(last_completed);
        model.updated_at = Set(now);
        model.update(db).await?;
    }
    Ok(Some(percent))
}

/// How far a customer got in one module of a product.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleProgress {
    pub module_id: Uuid,
    pub name: String,
    pub lessons_total: u64,
    pub lessons_completed: u64,
    pub last_completed_at: Option<DateTime<Utc>>,
}

/// The customer's progress in each module of the product, in course order;
/// extra lessons count as they do for progress: not at all.
pub async fn module_progress<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customer_id: Uuid,
    product_id: Uuid,
) -> Result<Vec<ModuleProgress>> {
    use sea_orm::QueryOrder;
    let modules = tenant
        .select::<module::Entity>()
        .filter(module::Column::ProductId.eq(product_id))
        .order_by_asc(module::Column::Position)
        .order_by_asc(module::Column::Id)
        .all(db)
        .await?;
    if modules.is_empty() {
        return Ok(Vec::new());
    }
    let lessons = tenant
        .select::<lesson::Entity>()
        .filter(lesson::Column::ProductId.eq(product_id))
        .filter(lesson::Column::IsExtra.eq(false))
        .all(db)
        .await?;
    let module_of: HashMap<Uuid, Uuid> = lessons
        .iter()
        .filter_map(|l| Some((l.id, l.module_id?)))
        .collect();
    let completed = tenant
        .select::<lesson_progress::Entity>()
        .filter(lesson_progress::Column::CustomerId.eq(customer_id))
        .filter(lesson_progress::Column::LessonId.is_in(module_of.keys().copied()))
        .filter(lesson_progress::Column::Completed.eq(true))
        .all(db)
        .await?;
    Ok(modules
        .into_iter()
        .map(|m| {
            let total = module_of.values().filter(|id| **id == m.id).count();
            let done: Vec<&lesson_progress::Model> = completed
                .iter()
                .filter(|p| module_of.get(&p.lesson_id) == Some(&m.id))
                .collect();
            ModuleProgress {
                module_id: m.id,
                name: m.name,
                lessons_total: total as u64,
                lessons_completed: done.len() as u64,
                last_completed_at: done.iter().filter_map(|p| p.completed_at).max(),
            }
        })
        .collect())
}
