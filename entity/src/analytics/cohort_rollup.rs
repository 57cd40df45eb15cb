//! Keeping the cohorts' tables: each customer's cohorts (`cohort_members`),
//! worked out again for the customers whose transactions changed, and each
//! cohort's net revenue per local day (`cohort_days`), added up again with
//! the revenue of the days whose transactions changed. A customer whose
//! cohort moves (an earlier purchase told late) has every day of theirs
//! added up again, under the cohort they now belong to.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::periods::local_day;
use crate::db::{insert_all, new_id};
use crate::entities::{cohort_day, cohort_member, transaction};
use crate::error::Result;
use crate::money;
use crate::tenant::Tenant;

/// How many customers are worked out per statement.
pub(super) const CHUNK: usize = 500;
/// Rows a multi-row INSERT carries on SQLite (seven values each).
const ROWS_PER_INSERT: usize = 2_000;

/// A customer's cohort: `(customer, product or none for any, currency)`.
pub(super) type MemberKey = (Uuid, Option<Uuid>, String);

/// The customers' cohorts: when each first bought, and its month.
pub(super) type Members = HashMap<MemberKey, (DateTime<Utc>, NaiveDate)>;

/// The first day of the local month of `at`.
pub(super) fn month_of(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    let day = local_day(at, tz);
    day.with_day(1).unwrap_or(day)
}

/// The cohorts of `customers` (every customer's when `None`), worked out
/// from their approved transactions.
async fn work_out<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    tz: Tz,
    customers: Option<&[Uuid]>,
) -> Result<Members> {
    let mut firsts = tenant
        .select::<transaction::Entity>()
        .select_only()
        .column(transaction::Column::CustomerId)
        .column(transaction::Column::ProductId)
        .column(transaction::Column::Currency)
        .column_as(transaction::Column::ApprovedAt.min(), "first")
        .filter(transaction::Column::ApprovedAt.is_not_null())
        .group_by(transaction::Column::CustomerId)
        .group_by(transaction::Column::ProductId)
        .group_by(transaction::Column::Currency);
    if let Some(customers) = customers {
        firsts = firsts.filter(transaction::Column::CustomerId.is_in(customers.iter().copied()));
    }
    let rows: Vec<(Uuid, Option<Uuid>, String, DateTime<Utc>)> =
        firsts.into_tuple().all(db).await?;
    let mut members: Members = HashMap::with_capacity(rows.len() * 2);
    for (customer, product, currency, first) in rows {
        let overall = (customer, None, currency.clone());
        if product.is_some() {
            members.insert((customer, product, currency), (first, month_of(first, tz)));
        }
        let earliest = members
            .get(&overall)
            .map_or(first, |(known, _)| (*known).min(first));
        members.insert(overall, (earliest, month_of(earliest, tz)));
    }
    Ok(members)
}

/// The stored cohorts of `customers`.
pub(super) async fn stored<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customers: &[Uuid],
) -> Result<Members> {
    let mut members = Members::new();
    for chunk in customers.chunks(CHUNK) {
        let rows = tenant
            .select::<cohort_member::Entity>()
            .filter(cohort_member::Column::CustomerId.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        members.extend(rows.into_iter().map(|m| {
            (
                (m.customer_id, m.product_id, m.currency),
                (m.first_approved_at, m.cohort_month),
            )
        }));
    }
    Ok(members)
}

async fn insert_members<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    members: impl Iterator<Item = (MemberKey, (DateTime<Utc>, NaiveDate))>,
) -> Result<()> {
    let rows = members
        .map(
            |((customer_id, product_id, currency), (first, month))| cohort_member::Model {
                id: new_id(),
                workspace_id: tenant.workspace_id(),
                customer_id,
                product_id,
                currency,
                first_approved_at: first,
                cohort_month: month,
            },
        )
        .collect();
    Ok(insert_all::<cohort_member::Entity, _>(db, rows, ROWS_PER_INSERT).await?)
}

/// Works every customer's cohorts out again from scratch, stores them and
/// answers them.
pub(super) async fn rebuild_members<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    tz: Tz,
) -> Result<Members> {
    tenant.delete_all::<cohort_member::Entity, _>(db).await?;
    let members = work_out(db, tenant, tz, None).await?;
    let rows = members.iter().map(|(key, value)| (key.clone(), *value));
    insert_members(db, tenant, rows).await?;
    Ok(members)
}

/// Works the cohorts of `customers` out again and stores those that
/// changed. Answers the customers already in a cohort who moved to another
/// month: every day of theirs counts elsewhere now.
pub(super) async fn refresh_members<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    tz: Tz,
    customers: &BTreeSet<Uuid>,
) -> Result<BTreeSet<Uuid>> {
    let customers: Vec<Uuid> = customers.iter().copied().collect();
    let mut moved = BTreeSet::new();
    for chunk in customers.chunks(CHUNK) {
        let now = work_out(db, tenant, tz, Some(chunk)).await?;
        let was = stored(db, tenant, chunk).await?;
        let changed: BTreeSet<Uuid> = now
            .iter()
            .filter(|(key, value)| was.get(*key) != Some(*value))
            .map(|((customer, ..), _)| *customer)
            .chain(
                was.keys()
                    .filter(|key| !now.contains_key(*key))
                    .map(|(customer, ..)| *customer),
            )
            .collect();
        if changed.is_empty() {
            continue;
        }
        moved.extend(was.iter().filter_map(|(key, (_, month))| {
            let month_now = now.get(key).map(|(_, m)| m);
            (month_now != Some(month)).then_some(key.0)
        }));
        cohort_member::Entity::delete_many()
            .filter(cohort_member::Column::WorkspaceId.eq(tenant.workspace_id()))
            .filter(cohort_member::Column::CustomerId.is_in(changed.iter().copied()))
            .exec(db)
            .await?;
        insert_members(
            db,
            tenant,
            now.into_iter()
                .filter(|((customer, ..), _)| changed.contains(customer)),
        )
        .await?;
    }
    Ok(moved)
}

/// What one cohort's day is kept by: `(product or none for all, currency,
/// cohort month)`.
pub(super) type CohortKey = (Option<Uuid>, String, NaiveDate);

/// Cohorts' net revenue, per local day.
pub(super) type CohortDays = BTreeMap<NaiveDate, BTreeMap<CohortKey, Decimal>>;

/// Adds `amount` (negative for a reversal) of a sale by `customer` on `day`
/// to the customer's cohorts: overall, and of the sale's product.
pub(super) fn add_to_cohorts(
    days: &mut CohortDays,
    members: &Members,
    day: NaiveDate,
    sale: (Uuid, Option<Uuid>, &str),
    amount: Decimal,
) {
    let (customer, product, currency) = sale;
    let scopes = std::iter::once(None).chain(product.map(Some));
    for scope in scopes {
        let key = (customer, scope, currency.to_owned());
        let Some((_, month)) = members.get(&key) else {
            continue;
        };
        *days
            .entry(day)
            .or_default()
            .entry((scope, currency.to_owned(), *month))
            .or_default() += amount;
    }
}

/// Rewrites the cohorts' `days` (those asked, or all when `None`) whose
/// figures moved from what is stored; answers how many.
pub(super) async fn write_days<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    added: CohortDays,
    days: Option<&BTreeSet<NaiveDate>>,
) -> Result<usize> {
    let mut stored = tenant.select::<cohort_day::Entity>();
    if let Some(days) = days {
        stored = stored.filter(cohort_day::Column::Day.is_in(days.iter().copied()));
    }
    let mut kept: CohortDays = BTreeMap::new();
    for row in stored.all(db).await? {
        kept.entry(row.day)
            .or_default()
            .insert((row.product_id, row.currency, row.cohort_month), row.net);
    }
    let added: CohortDays = added
        .into_iter()
        .map(|(day, cohorts)| {
            let cohorts = cohorts
                .into_iter()
                .map(|(key, net)| (key, money::amount(net)))
                .collect();
            (day, cohorts)
        })
        .collect();
    let moved = super::revenue::days_that_moved(added, kept, days);
    let count = moved.len();
    for (day, now) in moved {
        cohort_day::Entity::delete_many()
            .filter(cohort_day::Column::WorkspaceId.eq(tenant.workspace_id()))
            .filter(cohort_day::Column::Day.eq(day))
            .exec(db)
            .await?;
        let rows = now
            .into_iter()
            .map(
                |((product_id, currency, cohort_month), net)| cohort_day::Model {
                    id: new_id(),
                    workspace_id: tenant.workspace_id(),
                    day,
                    product_id,
                    currency,
                    cohort_month,
                    net,
                },
            )
            .collect();
        insert_all::<cohort_day::Entity, _>(db, rows, ROWS_PER_INSERT).await?;
    }
    Ok(count)
}
