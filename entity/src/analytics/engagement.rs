//! Whether buyers use what they bought: first accesses, learners active in
//! a period, courses and modules completed, and abandoned carts that ended
//! in a sale.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, JoinType, QueryFilter, QuerySelect, RelationTrait};
use uuid::Uuid;

use crate::entities::{domain_event, enrollment, lesson, lesson_progress, transaction};
use crate::error::Result;
use crate::reports::{AccessReport, RECOVERY_WINDOW, access_report};
use crate::tenant::Tenant;

/// The domain event a PURCHASE_OUT_OF_SHOPPING_CART postback records (as
/// `workflow::DomainEventType::CartAbandoned` names it).
pub const CART_ABANDONED: &str = "cart_abandoned";

/// A module's lessons, as read.
struct ModuleLessons {
    id: Option<Uuid>,
    name: Option<String>,
    lessons: Vec<Uuid>,
}

/// One module of a course (lessons without a module form one of their own).
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleCompletion {
    pub module_id: Option<Uuid>,
    pub name: Option<String>,
    pub lessons: i64,
    /// Enrolled customers who completed every lesson of the module.
    pub completed: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProductCompletion {
    pub product_id: Uuid,
    /// Customers whose access started before the period's end.
    pub enrolled: i64,
    /// Of them, those who completed every lesson (extras aside) by then.
    pub completed: i64,
    pub modules: Vec<ModuleCompletion>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Engagement {
    pub access: AccessReport,
    /// Customers who completed a lesson in the period.
    pub active_learners: i64,
    pub products: Vec<ProductCompletion>,
    /// Carts abandoned in the period.
    pub abandoned_carts: i64,
    /// Of them, those followed within 7 days by an approved purchase of the
    /// same product by the same customer.
    pub converted_carts: i64,
}

/// The engagement of `[from, to)`, of `product` when given.
pub async fn engagement<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    product: Option<Uuid>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Engagement> {
    let access = access_report(db, tenant, product, from, to).await?;
    // Lessons: (id, product, module, module name), extras aside.
    let mut lessons = tenant
        .select::<lesson::Entity>()
        .select_only()
        .column(lesson::Column::Id)
        .column(lesson::Column::ProductId)
        .column(lesson::Column::ModuleId)
        .column(lesson::Column::ModuleName)
        .filter(lesson::Column::IsExtra.eq(false));
    if let Some(product) = product {
        lessons = lessons.filter(lesson::Column::ProductId.eq(product));
    }
    let lessons: Vec<(Uuid, Uuid, Option<Uuid>, Option<String>)> =
        lessons.into_tuple().all(db).await?;
    let mut completions = tenant
        .select::<lesson_progress::Entity>()
        .select_only()
        .column(lesson_progress::Column::CustomerId)
        .column(lesson_progress::Column::LessonId)
        .column(lesson_progress::Column::CompletedAt)
        .filter(lesson_progress::Column::Completed.eq(true))
        .filter(lesson_progress::Column::CompletedAt.lt(to));
    if let Some(product) = product {
        completions = completions
            .join(JoinType::InnerJoin, lesson_progress::Relation::Lesson.def())
            .filter(lesson::Column::ProductId.eq(product));
    }
    let completions: Vec<(Uuid, Uuid, Option<DateTime<Utc>>)> =
        completions.into_tuple().all(db).await?;
    let active_learners = completions
        .iter()
        .filter(|(_, _, at)| at.is_some_and(|at| at >= from))
        .map(|(customer, _, _)| *customer)
        .collect::<HashSet<_>>()
        .len() as i64;
    let done: HashSet<(Uuid, Uuid)> = completions
        .iter()
        .map(|(customer, lesson, _)| (*customer, *lesson))
        .collect();
    let mut enrolled = tenant
        .select::<enrollment::Entity>()
        .select_only()
        .column(enrollment::Column::ProductId)
        .column(enrollment::Column::CustomerId)
        .column(enrollment::Column::StartsAt)
        .column(enrollment::Column::CreatedAt);
    if let Some(product) = product {
        enrolled = enrolled.filter(enrollment::Column::ProductId.eq(product));
    }
    let mut students: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    for (product, customer, starts_at, created_at) in enrolled
        .into_tuple::<(Uuid, Uuid, Option<DateTime<Utc>>, DateTime<Utc>)>()
        .all(db)
        .await?
    {
        // Enrolled by the period's end: from the access's start (the
        // purchase), or when jornada learned of it.
        if starts_at.unwrap_or(created_at) < to {
            students.entry(product).or_default().push(customer);
        }
    }
    // Each product's modules, in the order of their first lesson read.
    let mut modules: BTreeMap<Uuid, Vec<ModuleLessons>> = BTreeMap::new();
    for (id, product, module, name) in lessons {
        let of_product = modules.entry(product).or_default();
        match of_product
            .iter_mut()
            .find(|m| m.id == module && (module.is_some() || m.name == name))
        {
            Some(found) => found.lessons.push(id),
            None => of_product.push(ModuleLessons {
                id: module,
                name,
                lessons: vec![id],
            }),
        }
    }
    let products = students
        .into_iter()
        .map(|(product_id, customers)| {
            let of_product = modules.remove(&product_id).unwrap_or_default();
            let finished = |customer: &Uuid, ids: &[Uuid]| {
                !ids.is_empty()
                    && ids
                        .iter()
                        .all(|lesson| done.contains(&(*customer, *lesson)))
            };
            let all: Vec<Uuid> = of_product
                .iter()
                .flat_map(|m| m.lessons.iter().copied())
                .collect();
            ProductCompletion {
                product_id,
                enrolled: customers.len() as i64,
                completed: customers.iter().filter(|c| finished(c, &all)).count() as i64,
                modules: of_product
                    .iter()
                    .map(|m| ModuleCompletion {
                        module_id: m.id,
                        name: m.name.clone(),
                        lessons: m.lessons.len() as i64,
                        completed: customers.iter().filter(|c| finished(c, &m.lessons)).count()
                            as i64,
                    })
                    .collect(),
            }
        })
        .collect();
    let (abandoned_carts, converted_carts) = carts(db, tenant, product, from, to).await?;
    Ok(Engagement {
        access,
        active_learners,
        products,
        abandoned_carts,
        converted_carts,
    })
}

/// Carts abandoned in `[from, to)`, and those that became a sale.
async fn carts<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    product: Option<Uuid>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(i64, i64)> {
    let carts: Vec<(Option<Uuid>, serde_json::Value, DateTime<Utc>)> = tenant
        .select::<domain_event::Entity>()
        .select_only()
        .column(domain_event::Column::CustomerId)
        .column(domain_event::Column::Data)
        .column(domain_event::Column::OccurredAt)
        // As the partial index over them has it (migration
        // `m20261207_000033_analytics_indexes`).
        .filter(crate::db::spelled_out(
            "domain_events",
            "event_type",
            [CART_ABANDONED],
        ))
        .filter(domain_event::Column::OccurredAt.gte(from))
        .filter(domain_event::Column::OccurredAt.lt(to))
        .into_tuple()
        .all(db)
        .await?;
    let carts: Vec<(Uuid, Uuid, DateTime<Utc>)> = carts
        .into_iter()
        .filter_map(|(customer, data, at)| {
            let cart_product = data
                .get("productId")
                .and_then(serde_json::Value::as_str)
                .and_then(|id| Uuid::parse_str(id).ok())?;
            let wanted = product.is_none_or(|p| p == cart_product);
            Some((customer?, cart_product, at)).filter(|_| wanted)
        })
        .collect();
    if carts.is_empty() {
        return Ok((0, 0));
    }
    let customers: HashSet<Uuid> = carts.iter().map(|(customer, _, _)| *customer).collect();
    let mut sales: HashMap<(Uuid, Uuid), Vec<DateTime<Utc>>> = HashMap::new();
    for (customer, product, at) in tenant
        .select::<transaction::Entity>()
        .select_only()
        .column(transaction::Column::CustomerId)
        .column(transaction::Column::ProductId)
        .column(transaction::Column::ApprovedAt)
        .filter(transaction::Column::CustomerId.is_in(customers))
        .filter(transaction::Column::ApprovedAt.gte(from))
        .filter(transaction::Column::ApprovedAt.lt(to + RECOVERY_WINDOW))
        .into_tuple::<(Uuid, Option<Uuid>, Option<DateTime<Utc>>)>()
        .all(db)
        .await?
    {
        if let (Some(product), Some(at)) = (product, at) {
            sales.entry((customer, product)).or_default().push(at);
        }
    }
    let converted = carts
        .iter()
        .filter(|(customer, product, at)| {
            sales.get(&(*customer, *product)).is_some_and(|approved| {
                approved
                    .iter()
                    .any(|sale| *sale >= *at && *sale <= *at + RECOVERY_WINDOW)
            })
        })
        .count();
    Ok((carts.len() as i64, converted as i64))
}
