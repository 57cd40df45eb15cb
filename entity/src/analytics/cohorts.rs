//! Purchase cohorts: the customers whose first purchase fell in the same
//! month, followed month by month: what they paid, how many still
//! subscribe, how many still study.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QuerySelect, RelationDef,
    RelationTrait,
};
use uuid::Uuid;

use super::cohort_rollup::month_of;
use super::periods::day_start;
use crate::entities::{
    cohort_day, cohort_member, lesson, lesson_progress, mrr_movement, subscription,
};
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

/// Joins a member to the rows of `entity` whose `customer` is theirs.
fn members_to<E: EntityTrait>(entity: E, customer: E::Column) -> RelationDef {
    cohort_member::Entity::belongs_to(entity)
        .from(cohort_member::Column::CustomerId)
        .to(customer)
        .into()
}

/// Whole months from `from` to `to` (both first days of a month).
fn months_between(from: NaiveDate, to: NaiveDate) -> i64 {
    i64::from(to.year() - from.year()) * 12 + i64::from(to.month()) - i64::from(from.month())
}

/// The cohorts of customers whose first approved purchase (of `product`,
/// when given) in `currency` fell in the months of the workspace's
/// calendar `[from, to)` touches, whole, each followed up to the month of
/// `now`. Read from the tables the worker keeps (`cohort_members`,
/// `cohort_days`, the MRR movements) and the lessons' progress.
#[allow(clippy::too_many_arguments)]
pub async fn cohorts<C: ConnectionTrait>(
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
    let (first, last) = (
        month_of(from, tz),
        month_of(to - Duration::microseconds(1), tz),
    );
    let scope = || match product {
        Some(product) => cohort_member::Column::ProductId.eq(product),
        None => cohort_member::Column::ProductId.is_null(),
    };
    let members = || {
        tenant
            .select::<cohort_member::Entity>()
            .filter(scope())
            .filter(cohort_member::Column::Currency.eq(currency))
            .filter(cohort_member::Column::CohortMonth.gte(first))
            .filter(cohort_member::Column::CohortMonth.lte(last))
            .select_only()
    };
    // Counted from the members' index alone (migration
    // `m20261207_000033_analytics_indexes`), as is the join below.
    let sizes: Vec<(NaiveDate, i64)> = members()
        .column(cohort_member::Column::CohortMonth)
        .column_as(Expr::col(Asterisk).count(), "customers")
        .group_by(cohort_member::Column::CohortMonth)
        .into_tuple()
        .all(db)
        .await?;
    let mut days = tenant
        .select::<cohort_day::Entity>()
        .select_only()
        .columns([
            cohort_day::Column::CohortMonth,
            cohort_day::Column::Day,
            cohort_day::Column::Net,
        ])
        .filter(cohort_day::Column::Currency.eq(currency))
        .filter(cohort_day::Column::CohortMonth.gte(first))
        .filter(cohort_day::Column::CohortMonth.lte(last));
    days = match product {
        Some(product) => days.filter(cohort_day::Column::ProductId.eq(product)),
        None => days.filter(cohort_day::Column::ProductId.is_null()),
    };
    // Each cohort's net, day by day.
    let mut nets: HashMap<NaiveDate, Vec<(NaiveDate, Decimal)>> = HashMap::new();
    for (cohort, day, net) in days
        .into_tuple::<(NaiveDate, NaiveDate, Decimal)>()
        .all(db)
        .await?
    {
        nets.entry(cohort).or_default().push((day, net));
    }
    // Subscribed members: each one's subscriptions counting, by time.
    let mut subscribed = members()
        .column(cohort_member::Column::CustomerId)
        .column(cohort_member::Column::CohortMonth)
        .column(mrr_movement::Column::OccurredAt)
        .column(mrr_movement::Column::SubscribersDelta)
        .join(
            JoinType::InnerJoin,
            members_to(subscription::Entity, subscription::Column::CustomerId),
        )
        .join(
            JoinType::InnerJoin,
            mrr_movement::Relation::Subscription.def().rev(),
        );
    if let Some(product) = product {
        subscribed = subscribed.filter(mrr_movement::Column::ProductId.eq(product));
    }
    let mut subscription_moves: HashMap<Uuid, Vec<(DateTime<Utc>, i32)>> = HashMap::new();
    let mut subscribers: HashMap<NaiveDate, HashSet<Uuid>> = HashMap::new();
    for (customer, cohort, at, delta) in subscribed
        .into_tuple::<(Uuid, NaiveDate, DateTime<Utc>, i32)>()
        .all(db)
        .await?
    {
        subscription_moves
            .entry(customer)
            .or_default()
            .push((at, delta));
        subscribers.entry(cohort).or_default().insert(customer);
    }
    // Learners: the months each member completed a lesson in.
    let mut studied = members()
        .column(cohort_member::Column::CustomerId)
        .column(cohort_member::Column::CohortMonth)
        .column(lesson_progress::Column::CompletedAt)
        .join(
            JoinType::InnerJoin,
            members_to(lesson_progress::Entity, lesson_progress::Column::CustomerId),
        )
        .filter(lesson_progress::Column::Completed.eq(true))
        .filter(lesson_progress::Column::CompletedAt.is_not_null());
    if let Some(product) = product {
        studied = studied
            .join(JoinType::InnerJoin, lesson_progress::Relation::Lesson.def())
            .filter(lesson::Column::ProductId.eq(product));
    }
    let mut learners: HashMap<(NaiveDate, NaiveDate), HashSet<Uuid>> = HashMap::new();
    for (customer, cohort, at) in studied
        .into_tuple::<(Uuid, NaiveDate, Option<DateTime<Utc>>)>()
        .all(db)
        .await?
    {
        if let Some(at) = at {
            learners
                .entry((cohort, month_of(at, tz)))
                .or_default()
                .insert(customer);
        }
    }

    let last_month = month_of(now, tz);
    let mut cohorts = Vec::new();
    let mut sizes = sizes;
    sizes.sort();
    for (month, count) in sizes {
        let span = months_between(month, last_month).clamp(0, MAX_OFFSETS as i64 - 1) as usize;
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
        let no_one = HashSet::new();
        let first_subscribers: Vec<&Uuid> = subscribers
            .get(&month)
            .unwrap_or(&no_one)
            .iter()
            .filter(|c| subscribed_at(c, ends[0]))
            .collect();
        let net = nets.get(&month).map(Vec::as_slice).unwrap_or_default();
        let mut months = Vec::with_capacity(span + 1);
        for (offset, end) in ends.iter().enumerate() {
            let this_month = month + Months::new(offset as u32);
            let next_month = this_month + Months::new(1);
            let kept: Decimal = net
                .iter()
                .filter(|(day, _)| *day < next_month)
                .map(|(_, amount)| *amount)
                .sum();
            let still = first_subscribers
                .iter()
                .filter(|c| subscribed_at(c, *end))
                .count();
            let learned = learners.get(&(month, this_month)).map_or(0, HashSet::len);
            months.push(CohortMonth {
                offset,
                start: day_start(this_month, tz),
                revenue_per_customer: money::amount(kept / Decimal::from(count)),
                subscription_retention: super::share(still as i64, first_subscribers.len() as i64),
                learner_retention: super::share(learned as i64, count).unwrap_or_default(),
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
