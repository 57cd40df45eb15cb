//! Sales and reversals per local day: gross by the day a sale was
//! approved (refunded later or not), refunds and chargebacks by the day
//! they happened, each per product, currency, payment method and number of
//! installments.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use futures::TryStreamExt;
use rust_decimal::Decimal;
use sea_orm::StreamTrait;
use sea_orm::sea_query::Condition;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::cohort_rollup::{self, CohortDays, Members, add_to_cohorts};
use super::periods::{day_start, local_day};
use crate::db::new_id;
use crate::entities::{revenue_day, transaction};
use crate::error::Result;
use crate::money;
use crate::tenant::Tenant;

/// Refunded in full or in part: the amount reversed is the sale's.
pub(super) const REFUNDED: &[&str] = &["REFUNDED", "PARTIALLY_REFUNDED"];
pub(super) const CHARGED_BACK: &[&str] = &["CHARGEBACK"];

/// What one day's figures are kept by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    product_id: Option<Uuid>,
    currency: String,
    payment_method: Option<String>,
    installments: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Figures {
    sales: i32,
    gross: Decimal,
    refunds_count: i32,
    refunds: Decimal,
    chargebacks_count: i32,
    chargebacks: Decimal,
}

impl Figures {
    fn rounded(mut self) -> Self {
        self.gross = money::amount(self.gross);
        self.refunds = money::amount(self.refunds);
        self.chargebacks = money::amount(self.chargebacks);
        self
    }
}

type Day = BTreeMap<Key, Figures>;

/// The part of a transaction the days are added up from.
#[derive(Debug, sea_orm::FromQueryResult)]
struct Sale {
    customer_id: Uuid,
    product_id: Option<Uuid>,
    currency: String,
    payment_method: Option<String>,
    installments: Option<i32>,
    status: String,
    amount: Decimal,
    approved_at: Option<DateTime<Utc>>,
    refunded_at: Option<DateTime<Utc>>,
}

impl Sale {
    fn key(&self) -> Key {
        Key {
            product_id: self.product_id,
            currency: self.currency.clone(),
            payment_method: self.payment_method.clone(),
            installments: self.installments,
        }
    }
}

/// What is counted of a sale read for one measure or for both.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Counted {
    Approval,
    Reversal,
    Both,
}

/// What the days are added up into: the revenue, and the cohorts' net.
#[derive(Default)]
struct Added {
    revenue: BTreeMap<NaiveDate, Day>,
    cohorts: CohortDays,
}

fn add(added: &mut Added, members: &Members, sale: &Sale, counted: Counted, tz: Tz) {
    let of_cohorts = (sale.customer_id, sale.product_id, sale.currency.as_str());
    if counted != Counted::Reversal
        && let Some(at) = sale.approved_at
    {
        let day = local_day(at, tz);
        let figures = added
            .revenue
            .entry(day)
            .or_default()
            .entry(sale.key())
            .or_default();
        figures.sales += 1;
        figures.gross += sale.amount;
        add_to_cohorts(&mut added.cohorts, members, day, of_cohorts, sale.amount);
    }
    if counted != Counted::Approval
        && let Some(at) = sale.refunded_at
    {
        let refunded = REFUNDED.contains(&sale.status.as_str());
        let charged_back = CHARGED_BACK.contains(&sale.status.as_str());
        if !(refunded || charged_back) {
            return;
        }
        let day = local_day(at, tz);
        add_to_cohorts(&mut added.cohorts, members, day, of_cohorts, -sale.amount);
        let figures = added
            .revenue
            .entry(day)
            .or_default()
            .entry(sale.key())
            .or_default();
        if refunded {
            figures.refunds_count += 1;
            figures.refunds += sale.amount;
        } else {
            figures.chargebacks_count += 1;
            figures.chargebacks += sale.amount;
        }
    }
}

/// Adds `days` up again (every day when `None`, with every customer's
/// cohorts worked out again first) from the workspace's transactions, the
/// revenue and the cohorts' net (by the cohorts stored), and rewrites those
/// whose figures moved; answers how many.
pub(super) async fn refresh_days<C: ConnectionTrait + StreamTrait>(
    db: &C,
    tenant: Tenant,
    tz: Tz,
    days: Option<&BTreeSet<NaiveDate>>,
) -> Result<usize> {
    let sales = || {
        tenant
            .select::<transaction::Entity>()
            .select_only()
            .columns([
                transaction::Column::CustomerId,
                transaction::Column::ProductId,
                transaction::Column::Currency,
                transaction::Column::PaymentMethod,
                transaction::Column::Installments,
                transaction::Column::Status,
                transaction::Column::Amount,
                transaction::Column::ApprovedAt,
                transaction::Column::RefundedAt,
            ])
    };
    let mut added = Added::default();
    let mut stored = tenant.select::<revenue_day::Entity>();
    match days {
        None => {
            let members = cohort_rollup::rebuild_members(db, tenant, tz).await?;
            let mut rows = sales()
                .filter(
                    Condition::any()
                        .add(transaction::Column::ApprovedAt.is_not_null())
                        .add(transaction::Column::RefundedAt.is_not_null()),
                )
                .into_model::<Sale>()
                .stream(db)
                .await?;
            while let Some(sale) = rows.try_next().await? {
                add(&mut added, &members, &sale, Counted::Both, tz);
            }
        }
        Some(days) => {
            let mut read = Vec::new();
            for (first, last) in runs(days) {
                let (start, end) = (
                    day_start(first, tz),
                    day_start(last.succ_opt().unwrap_or(last), tz),
                );
                for (column, counted) in [
                    (transaction::Column::ApprovedAt, Counted::Approval),
                    (transaction::Column::RefundedAt, Counted::Reversal),
                ] {
                    let rows = sales()
                        .filter(column.gte(start))
                        .filter(column.lt(end))
                        .into_model::<Sale>()
                        .all(db)
                        .await?;
                    read.extend(rows.into_iter().map(|sale| (sale, counted)));
                }
            }
            let customers: BTreeSet<Uuid> = read.iter().map(|(sale, _)| sale.customer_id).collect();
            let customers: Vec<Uuid> = customers.into_iter().collect();
            let members = cohort_rollup::stored(db, tenant, &customers).await?;
            for (sale, counted) in &read {
                add(&mut added, &members, sale, *counted, tz);
            }
            stored = stored.filter(revenue_day::Column::Day.is_in(days.iter().copied()));
        }
    }
    let cohorts_moved =
        cohort_rollup::write_days(db, tenant, std::mem::take(&mut added.cohorts), days).await?;
    let mut kept: BTreeMap<NaiveDate, Day> = BTreeMap::new();
    for row in stored.all(db).await? {
        let key = Key {
            product_id: row.product_id,
            currency: row.currency,
            payment_method: row.payment_method,
            installments: row.installments,
        };
        let figures = Figures {
            sales: row.sales,
            gross: row.gross,
            refunds_count: row.refunds_count,
            refunds: row.refunds,
            chargebacks_count: row.chargebacks_count,
            chargebacks: row.chargebacks,
        };
        kept.entry(row.day)
            .or_default()
            .insert(key, figures.rounded());
    }
    let added = added
        .revenue
        .into_iter()
        .map(|(day, figures)| {
            let figures = figures
                .into_iter()
                .map(|(key, figures)| (key, figures.rounded()))
                .collect();
            (day, figures)
        })
        .collect();
    let moved = days_that_moved(added, kept, days);
    let count = moved.len();
    for (day, now) in moved {
        revenue_day::Entity::delete_many()
            .filter(revenue_day::Column::WorkspaceId.eq(tenant.workspace_id()))
            .filter(revenue_day::Column::Day.eq(day))
            .exec(db)
            .await?;
        let rows: Vec<revenue_day::ActiveModel> = now
            .into_iter()
            .map(|(key, f)| {
                revenue_day::Model {
                    id: new_id(),
                    workspace_id: tenant.workspace_id(),
                    day,
                    product_id: key.product_id,
                    currency: key.currency,
                    payment_method: key.payment_method,
                    installments: key.installments,
                    sales: f.sales,
                    gross: f.gross,
                    refunds_count: f.refunds_count,
                    refunds: f.refunds,
                    chargebacks_count: f.chargebacks_count,
                    chargebacks: f.chargebacks,
                }
                .into()
            })
            .collect();
        if !rows.is_empty() {
            revenue_day::Entity::insert_many(rows).exec(db).await?;
        }
    }
    Ok(count + cohorts_moved)
}

/// The days (those asked, or all when `None`) whose figures as added up
/// now differ from those kept, with their figures now (none: the day has
/// nothing left to keep).
pub(super) fn days_that_moved<K: Ord, V: PartialEq>(
    mut added: BTreeMap<NaiveDate, BTreeMap<K, V>>,
    kept: BTreeMap<NaiveDate, BTreeMap<K, V>>,
    days: Option<&BTreeSet<NaiveDate>>,
) -> Vec<(NaiveDate, BTreeMap<K, V>)> {
    let mut all_days: BTreeSet<NaiveDate> = added.keys().chain(kept.keys()).copied().collect();
    if let Some(days) = days {
        all_days.retain(|day| days.contains(day));
    }
    all_days
        .into_iter()
        .filter_map(|day| {
            let now = added.remove(&day).unwrap_or_default();
            let unmoved = match kept.get(&day) {
                Some(was) => *was == now,
                None => now.is_empty(),
            };
            (!unmoved).then_some((day, now))
        })
        .collect()
}

/// `days` as runs of consecutive days, each `(first, last)`.
fn runs(days: &BTreeSet<NaiveDate>) -> Vec<(NaiveDate, NaiveDate)> {
    let mut runs: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for &day in days {
        match runs.last_mut() {
            Some((_, last)) if last.succ_opt() == Some(day) => *last = day,
            _ => runs.push((day, day)),
        }
    }
    runs
}

/// What changed transactions touch: the days they count in, and their customers.
#[derive(Debug, Default)]
pub(super) struct Touched {
    pub days: BTreeSet<NaiveDate>,
    pub customers: BTreeSet<Uuid>,
}

type Touching = (Uuid, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

fn touched_by(rows: Vec<Touching>, tz: Tz) -> Touched {
    let mut touched = Touched::default();
    for (customer, approved, refunded) in rows {
        touched.customers.insert(customer);
        touched.days.extend(
            [approved, refunded]
                .into_iter()
                .flatten()
                .map(|at| local_day(at, tz)),
        );
    }
    touched
}

fn touching(tenant: Tenant) -> sea_orm::Select<transaction::Entity> {
    tenant
        .select::<transaction::Entity>()
        .select_only()
        .column(transaction::Column::CustomerId)
        .column(transaction::Column::ApprovedAt)
        .column(transaction::Column::RefundedAt)
}

/// What the transactions updated after `since` touch.
pub(super) async fn touched_since<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    tz: Tz,
    since: DateTime<Utc>,
) -> Result<Touched> {
    let rows = touching(tenant)
        .filter(transaction::Column::UpdatedAt.gt(since))
        .into_tuple()
        .all(db)
        .await?;
    Ok(touched_by(rows, tz))
}

/// The days every transaction of `customers` counts in.
pub(super) async fn days_of<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    tz: Tz,
    customers: &BTreeSet<Uuid>,
) -> Result<BTreeSet<NaiveDate>> {
    let customers: Vec<Uuid> = customers.iter().copied().collect();
    let mut days = BTreeSet::new();
    for chunk in customers.chunks(cohort_rollup::CHUNK) {
        let rows = touching(tenant)
            .filter(transaction::Column::CustomerId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        days.extend(touched_by(rows, tz).days);
    }
    Ok(days)
}
