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

use super::periods::{day_start, local_day};
use crate::db::new_id;
use crate::entities::{revenue_day, transaction};
use crate::error::Result;
use crate::money;
use crate::tenant::Tenant;

/// Refunded in full or in part: the amount reversed is the sale's.
pub(super) const REFUNDED: &[&str] = &["REFUNDED", "PARTIALLY_REFUNDED"];
pub(super) const CHARGED_BACK: &[&str] = &["CHARGEBACK"];

/// Whether a sale in `status` was reversed (refunded or charged back).
pub(super) fn reversed(status: &str) -> bool {
    REFUNDED.contains(&status) || CHARGED_BACK.contains(&status)
}

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

fn add(days: &mut BTreeMap<NaiveDate, Day>, sale: &Sale, counted: Counted, tz: Tz) {
    if counted != Counted::Reversal
        && let Some(at) = sale.approved_at
    {
        let figures = days
            .entry(local_day(at, tz))
            .or_default()
            .entry(sale.key())
            .or_default();
        figures.sales += 1;
        figures.gross += sale.amount;
    }
    if counted != Counted::Approval
        && let Some(at) = sale.refunded_at
    {
        let refunded = REFUNDED.contains(&sale.status.as_str());
        let charged_back = CHARGED_BACK.contains(&sale.status.as_str());
        if !(refunded || charged_back) {
            return;
        }
        let figures = days
            .entry(local_day(at, tz))
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

/// Adds `days` up again (every day when `None`) from the workspace's
/// transactions, and rewrites those whose figures moved; answers how many.
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
    let mut added: BTreeMap<NaiveDate, Day> = BTreeMap::new();
    let mut stored = tenant.select::<revenue_day::Entity>();
    match days {
        None => {
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
                add(&mut added, &sale, Counted::Both, tz);
            }
        }
        Some(days) => {
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
                    for sale in &rows {
                        add(&mut added, sale, counted, tz);
                    }
                }
            }
            stored = stored.filter(revenue_day::Column::Day.is_in(days.iter().copied()));
        }
    }
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
    let mut all_days: BTreeSet<NaiveDate> = added.keys().chain(kept.keys()).copied().collect();
    if let Some(days) = days {
        all_days.retain(|day| days.contains(day));
    }
    let mut moved = 0;
    for day in all_days {
        let now: Day = added
            .remove(&day)
            .unwrap_or_default()
            .into_iter()
            .map(|(key, figures)| (key, figures.rounded()))
            .collect();
        if kept.get(&day).is_some_and(|was| *was == now)
            || (now.is_empty() && !kept.contains_key(&day))
        {
            continue;
        }
        moved += 1;
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
    Ok(moved)
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

/// The days the transactions updated after `since` count in.
pub(super) async fn days_touched_since<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    tz: Tz,
    since: DateTime<Utc>,
) -> Result<BTreeSet<NaiveDate>> {
    type Times = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let touched: Vec<Times> = tenant
        .select::<transaction::Entity>()
        .select_only()
        .column(transaction::Column::ApprovedAt)
        .column(transaction::Column::RefundedAt)
        .filter(transaction::Column::UpdatedAt.gt(since))
        .into_tuple()
        .all(db)
        .await?;
    Ok(touched
        .into_iter()
        .flat_map(|(approved, refunded)| [approved, refunded])
        .flatten()
        .map(|at| local_day(at, tz))
        .collect())
}
