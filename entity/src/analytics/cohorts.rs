//! Purchase cohorts: the customers whose first purchase fell in the same
//! month, followed month by month: what they paid, how many still
//! subscribe, how many still study.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use chrono_tz::Tz;
use futures::TryStreamExt;
use rust_decimal::Decimal;
use sea_orm::{
    ColumnTrait, ConnectionTrait, JoinType, QueryFilter, QuerySelect, RelationTrait, StreamTrait,
};
use uuid::Uuid;

use super::periods::{day_start, local_day};
use crate::entities::{lesson, lesson_progress, mrr_movement, subscription, transaction};
use crate::error::{Error, Result};
use crate::money;
use crate::tenant::Tenant;

/// The most months a cohort is followed for.
pub const MAX_OFFSETS: usize = 120;

/// One month of a cohort's life, counted from its first (offset 0).
#[derive(Debug, Clone, PartialEq)]
pub struct CohortMonth {
    pub offset: usize,
    pub start: DateTime<Utc>,
    /// Sales approved by the month's end, less what was refunded or
    /// charged back by then, per customer of the cohort.
    pub revenue_per_customer: Decimal,
    /// Of the cohort's customers subscribed at the end of month 0, the
    /// share still subscribed at this month's end; none when none were.
    pub subscription_retention: Option<f64>,
    /// The share of the cohort's customers who completed a lesson in the month.
    pub learner_retention: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cohort {
    pub start: DateTime<Utc>,
    pub customers: i64,
    pub months: Vec<CohortMonth>,
}

#[derive(Debug, sea_orm::FromQueryResult)]
struct Sale {
    customer_id: Uuid,
    approved_at: DateTime<Utc>,
    refunded_at: Option<DateTime<Utc>>,
    status: String,
    amount: Decimal,
}

fn month_of(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    let day = local_day(at, tz);
    day.with_day(1).unwrap_or(day)
}

/// Whole months from `from` to `to` (both first days of a month).
fn months_between(from: NaiveDate, to: NaiveDate) -> i64 {
    i64::from(to.year() - from.year()) * 12 + i64::from(to.month()) - i64::from(from.month())
}

/// The cohorts of customers whose first approved purchase (of `product`,
/// when given) in `currency` fell in `[from, to)`, by month of the
/// workspace's calendar, each followed up to the month of `now`.
#[allow(clippy::too_many_arguments)]
pub async fn cohorts<C: ConnectionTrait + StreamTrait>(
    db: &C,
    tenant: Tenant,
    tz: Tz,
    product: Option<Uuid>,
    currency: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<Cohort>> {
    if to <= from {
        return Err(Error::Invalid("`to` must be after `from`".into()));
    }
    let mut sales = tenant
        .select::<transaction::Entity>()
        .select_only()
        .columns([
            transaction::Column::CustomerId,
            transaction::Column::ApprovedAt,
            transaction::Column::RefundedAt,
            transaction::Column::Status,
            transaction::Column::Amount,
        ])
        .filter(transaction::Column::ApprovedAt.is_not_null())
        .filter(transaction::Column::Currency.eq(currency));
    if let Some(product) = product {
        sales = sales.filter(transaction::Column::ProductId.eq(product));
    }
    let mut rows = sales.into_model::<Sale>().stream(db).await?;
    // Each customer's first purchase, and their money moves: (when, how much).
    let mut firsts: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    let mut moves: HashMap<Uuid, Vec<(DateTime<Utc>, Decimal)>> = HashMap::new();
    while let Some(sale) = rows.try_next().await? {
        let first = firsts.entry(sale.customer_id).or_insert(sale.approved_at);
        *first = (*first).min(sale.approved_at);
        let customer = moves.entry(sale.customer_id).or_default();
        customer.push((sale.approved_at, sale.amount));
        if let Some(at) = sale.refunded_at
            && super::revenue::reversed(&sale.status)
        {
            customer.push((at, -sale.amount));
        }
    }
    drop(rows);
    let last_month = month_of(now, tz);
    // The cohorts' customers, by the first day of their month.
    let mut members: BTreeMap<NaiveDate, Vec<Uuid>> = BTreeMap::new();
    for (customer, first) in &firsts {
        if *first >= from && *first < to {
            members
                .entry(month_of(*first, tz))
                .or_default()
                .push(*customer);
        }
    }
    let cohort_of: HashMap<Uuid, NaiveDate> = members
        .iter()
        .flat_map(|(month, customers)| customers.iter().map(move |c| (*c, *month)))
        .collect();
    // Subscribed customers: each one's subscriptions counting, by time.
    let mut subscribed = tenant
        .select::<mrr_movement::Entity>()
        .join(
            JoinType::InnerJoin,
            mrr_movement::Relation::Subscription.def(),
        )
        .select_only()
        .column(subscription::Column::CustomerId)
        .column(mrr_movement::Column::OccurredAt)
        .column(mrr_movement::Column::SubscribersDelta);
    if let Some(product) = product {
        subscribed = subscribed.filter(mrr_movement::Column::ProductId.eq(product));
    }
    let mut subscription_moves: HashMap<Uuid, Vec<(DateTime<Utc>, i32)>> = HashMap::new();
    for (customer, at, delta) in subscribed
        .into_tuple::<(Uuid, DateTime<Utc>, i32)>()
        .all(db)
        .await?
    {
        if cohort_of.contains_key(&customer) {
            subscription_moves
                .entry(customer)
                .or_default()
                .push((at, delta));
        }
    }
    // Learners: the months each customer completed a lesson in.
    let mut studied = tenant
        .select::<lesson_progress::Entity>()
        .select_only()
        .column(lesson_progress::Column::CustomerId)
        .column(lesson_progress::Column::CompletedAt)
        .filter(lesson_progress::Column::Completed.eq(true))
        .filter(lesson_progress::Column::CompletedAt.is_not_null());
    if let Some(product) = product {
        studied = studied
            .join(JoinType::InnerJoin, lesson_progress::Relation::Lesson.def())
            .filter(lesson::Column::ProductId.eq(product));
    }
    let mut study_months: HashSet<(Uuid, NaiveDate)> = HashSet::new();
    for (customer, at) in studied
        .into_tuple::<(Uuid, Option<DateTime<Utc>>)>()
        .all(db)
        .await?
    {
        if let (Some(at), true) = (at, cohort_of.contains_key(&customer)) {
            study_months.insert((customer, month_of(at, tz)));
        }
    }

    let mut cohorts = Vec::new();
    for (month, customers) in members {
        let span = months_between(month, last_month).clamp(0, MAX_OFFSETS as i64 - 1) as usize;
        let count = customers.len() as i64;
        let ends: Vec<DateTime<Utc>> = (0..=span)
            .map(|k| day_start(month + Months::new(k as u32 + 1), tz))
            .collect();
        let subscribed_at = |customer: &Uuid, end: DateTime<Utc>| {
            subscription_moves.get(customer).is_some_and(|moves| {
                moves
                    .iter()
                    .filter(|(at, _)| *at < end)
                    .map(|(_, d)| d)
                    .sum::<i32>()
                    > 0
            })
        };
        let first_subscribers: Vec<&Uuid> = customers
            .iter()
            .filter(|c| subscribed_at(c, ends[0]))
            .collect();
        let mut months = Vec::with_capacity(span + 1);
        for (offset, end) in ends.iter().enumerate() {
            let kept: Decimal = customers
                .iter()
                .filter_map(|c| moves.get(c))
                .flatten()
                .filter(|(at, _)| at < end)
                .map(|(_, amount)| *amount)
                .sum();
            let still = first_subscribers
                .iter()
                .filter(|c| subscribed_at(c, *end))
                .count();
            let this_month = month + Months::new(offset as u32);
            let learners = customers
                .iter()
                .filter(|c| study_months.contains(&(**c, this_month)))
                .count();
            months.push(CohortMonth {
                offset,
                start: day_start(this_month, tz),
                revenue_per_customer: money::amount(kept / Decimal::from(count)),
                subscription_retention: super::share(still as i64, first_subscribers.len() as i64),
                learner_retention: super::share(learners as i64, count).unwrap_or_default(),
            });
        }
        cohorts.push(Cohort {
            start: day_start(month, tz),
            customers: count,
            months,
        });
    }
    Ok(cohorts)
}
