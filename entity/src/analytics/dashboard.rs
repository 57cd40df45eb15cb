//! The dashboard's figures for a period, in one currency, from the days
//! and movements the worker keeps (see `docs/metrics.md`).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{ColumnTrait, ConnectionTrait, FromQueryResult, QueryFilter, QuerySelect, Select};
use uuid::Uuid;

use super::movements::MovementKind;
use super::periods::{DayRange, Granularity};
use crate::entities::{mrr_movement, revenue_day};
use crate::error::Result;
use crate::money;
use crate::tenant::Tenant;

/// Rates are given to four places (0.0625 is 6.25 %).
const RATE_SCALE: u32 = 4;

/// What a dashboard is asked for.
#[derive(Debug, Clone)]
pub struct DashboardQuery {
    pub product_id: Option<Uuid>,
    pub currency: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub granularity: Granularity,
    /// Whether to add up the payment-method and installments mixes.
    pub mixes: bool,
}

/// Sales and reversals of a period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Revenue {
    pub sales: i64,
    pub gross: Decimal,
    pub refunds_count: i64,
    pub refunds: Decimal,
    pub chargebacks_count: i64,
    pub chargebacks: Decimal,
}

impl Revenue {
    fn add(&mut self, other: &Revenue) {
        self.sales += other.sales;
        self.gross += other.gross;
        self.refunds_count += other.refunds_count;
        self.refunds += other.refunds;
        self.chargebacks_count += other.chargebacks_count;
        self.chargebacks += other.chargebacks;
    }

    /// Gross minus refunds and chargebacks.
    pub fn net(&self) -> Decimal {
        money::amount(self.gross - self.refunds - self.chargebacks)
    }

    /// Gross per sale; none without sales.
    pub fn average_ticket(&self) -> Option<Decimal> {
        (self.sales > 0).then(|| money::amount(self.gross / Decimal::from(self.sales)))
    }

    /// Refunds and chargebacks of the period per sale of the period.
    pub fn refund_rate(&self) -> Option<Decimal> {
        rate(self.refunds_count + self.chargebacks_count, self.sales)
    }
}

/// One kind of MRR movement in a period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Moved {
    /// How much MRR moved (negative for contraction and churn).
    pub mrr: Decimal,
    /// How many subscriptions moved so.
    pub subscriptions: i64,
}

/// Recurring revenue over a period: where it started, where it ended and
/// what moved it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recurring {
    pub mrr_at_start: Decimal,
    pub mrr: Decimal,
    pub subscribers_at_start: i64,
    pub subscribers: i64,
    pub movements: BTreeMap<MovementKind, Moved>,
}

impl Recurring {
    pub fn moved(&self, kind: MovementKind) -> Moved {
        self.movements.get(&kind).cloned().unwrap_or_default()
    }

    pub fn arr(&self) -> Decimal {
        money::amount(self.mrr * Decimal::from(12))
    }

    /// Net MRR movement: the MRR at the end minus at the start.
    pub fn net_movement(&self) -> Decimal {
        money::amount(self.mrr - self.mrr_at_start)
    }

    /// Subscriptions churned in the period per subscriber at its start.
    pub fn churn_rate(&self) -> Option<Decimal> {
        rate(
            self.moved(MovementKind::Churned).subscriptions,
            self.subscribers_at_start,
        )
    }

    /// MRR churned in the period per MRR at its start.
    pub fn revenue_churn_rate(&self) -> Option<Decimal> {
        (self.mrr_at_start > Decimal::ZERO).then(|| {
            let churned = -self.moved(MovementKind::Churned).mrr;
            (churned / self.mrr_at_start).round_dp(RATE_SCALE)
        })
    }

    fn apply(&mut self, kind: MovementKind, moved: &Moved) {
        self.mrr += moved.mrr;
        let subscribers = match kind {
            MovementKind::New | MovementKind::Reactivated => moved.subscriptions,
            MovementKind::Churned => -moved.subscriptions,
            MovementKind::Expansion | MovementKind::Contraction => 0,
        };
        self.subscribers += subscribers;
        let total = self.movements.entry(kind).or_default();
        total.mrr += moved.mrr;
        total.subscriptions += moved.subscriptions;
    }
}

fn rate(part: i64, whole: i64) -> Option<Decimal> {
    (whole > 0).then(|| (Decimal::from(part) / Decimal::from(whole)).round_dp(RATE_SCALE))
}

/// The figures of one bucket, or of the whole period.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardPoint {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub revenue: Revenue,
    pub recurring: Recurring,
}

/// Sales by payment method and number of installments.
#[derive(Debug, Clone, PartialEq)]
pub struct MixShare {
    pub payment_method: Option<String>,
    pub installments: Option<i32>,
    pub sales: i64,
    pub gross: Decimal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    pub currency: String,
    pub totals: DashboardPoint,
    pub series: Vec<DashboardPoint>,
    /// Empty unless asked for.
    pub mix: Vec<MixShare>,
}

#[derive(Debug, FromQueryResult)]
struct DayRevenue {
    day: NaiveDate,
    sales: i64,
    gross: Decimal,
    refunds_count: i64,
    refunds: Decimal,
    chargebacks_count: i64,
    chargebacks: Decimal,
}

#[derive(Debug, FromQueryResult)]
struct DayMovements {
    day: NaiveDate,
    kind: String,
    mrr: Decimal,
    subscriptions: i64,
}

#[derive(Debug, FromQueryResult)]
struct Level {
    mrr: Option<Decimal>,
    subscribers: Option<i64>,
}

#[derive(Debug, FromQueryResult)]
struct Mix {
    payment_method: Option<String>,
    installments: Option<i32>,
    sales: i64,
    gross: Decimal,
}

fn sum<C: ColumnTrait>(column: C) -> sea_orm::sea_query::SimpleExpr {
    Expr::col(column).sum()
}

/// The dashboard of `query` in the workspace's time zone `tz`.
pub async fn dashboard<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    tz: Tz,
    query: &DashboardQuery,
) -> Result<Dashboard> {
    let range = DayRange::touched_by(query.from, query.to, tz)?;
    let buckets = range.buckets(query.granularity)?;
    let days = |select: Select<revenue_day::Entity>| {
        let select = select
            .filter(revenue_day::Column::Currency.eq(&query.currency))
            .filter(revenue_day::Column::Day.gte(range.first))
            .filter(revenue_day::Column::Day.lte(range.last));
        match query.product_id {
            Some(product) => select.filter(revenue_day::Column::ProductId.eq(product)),
            None => select,
        }
    };
    let revenue_days: Vec<DayRevenue> = days(tenant.select::<revenue_day::Entity>())
        .select_only()
        .column(revenue_day::Column::Day)
        .column_as(sum(revenue_day::Column::Sales), "sales")
        .column_as(sum(revenue_day::Column::Gross), "gross")
        .column_as(sum(revenue_day::Column::RefundsCount), "refunds_count")
        .column_as(sum(revenue_day::Column::Refunds), "refunds")
        .column_as(
            sum(revenue_day::Column::ChargebacksCount),
            "chargebacks_count",
        )
        .column_as(sum(revenue_day::Column::Chargebacks), "chargebacks")
        .group_by(revenue_day::Column::Day)
        .into_model()
        .all(db)
        .await?;
    let movements = |select: Select<mrr_movement::Entity>| {
        let select = select.filter(mrr_movement::Column::Currency.eq(&query.currency));
        match query.product_id {
            Some(product) => select.filter(mrr_movement::Column::ProductId.eq(product)),
            None => select,
        }
    };
    let opening: Option<Level> = movements(tenant.select::<mrr_movement::Entity>())
        .filter(mrr_movement::Column::Day.lt(range.first))
        .select_only()
        .column_as(sum(mrr_movement::Column::MrrDelta), "mrr")
        .column_as(sum(mrr_movement::Column::SubscribersDelta), "subscribers")
        .into_model()
        .one(db)
        .await?;
    let moved_days: Vec<DayMovements> = movements(tenant.select::<mrr_movement::Entity>())
        .filter(mrr_movement::Column::Day.gte(range.first))
        .filter(mrr_movement::Column::Day.lte(range.last))
        .select_only()
        .column(mrr_movement::Column::Day)
        .column(mrr_movement::Column::Kind)
        .column_as(sum(mrr_movement::Column::MrrDelta), "mrr")
        .column_as(Expr::col(mrr_movement::Column::Id).count(), "subscriptions")
        .group_by(mrr_movement::Column::Day)
        .group_by(mrr_movement::Column::Kind)
        .into_model()
        .all(db)
        .await?;
    let mix = if query.mixes {
        days(tenant.select::<revenue_day::Entity>())
            .select_only()
            .column(revenue_day::Column::PaymentMethod)
            .column(revenue_day::Column::Installments)
            .column_as(sum(revenue_day::Column::Sales), "sales")
            .column_as(sum(revenue_day::Column::Gross), "gross")
            .group_by(revenue_day::Column::PaymentMethod)
            .group_by(revenue_day::Column::Installments)
            .into_model::<Mix>()
            .all(db)
            .await?
            .into_iter()
            .filter(|m| m.sales > 0)
            .map(|m| MixShare {
                payment_method: m.payment_method,
                installments: m.installments,
                sales: m.sales,
                gross: money::amount(m.gross),
            })
            .collect()
    } else {
        Vec::new()
    };

    let revenue_by_day: BTreeMap<NaiveDate, Revenue> = revenue_days
        .into_iter()
        .map(|d| {
            let revenue = Revenue {
                sales: d.sales,
                gross: d.gross,
                refunds_count: d.refunds_count,
                refunds: d.refunds,
                chargebacks_count: d.chargebacks_count,
                chargebacks: d.chargebacks,
            };
            (d.day, revenue)
        })
        .collect();
    let mut moved_by_day: BTreeMap<NaiveDate, Vec<(MovementKind, Moved)>> = BTreeMap::new();
    for d in moved_days {
        if let Some(kind) = MovementKind::parse(&d.kind) {
            let moved = Moved {
                mrr: d.mrr,
                subscriptions: d.subscriptions,
            };
            moved_by_day.entry(d.day).or_default().push((kind, moved));
        }
    }
    let opening = opening.unwrap_or(Level {
        mrr: None,
        subscribers: None,
    });
    let mut level = Recurring {
        mrr: opening.mrr.unwrap_or_default(),
        subscribers: opening.subscribers.unwrap_or_default(),
        ..Recurring::default()
    };
    let point = |bucket: &DayRange, level: &mut Recurring| {
        let mut revenue = Revenue::default();
        let mut recurring = Recurring {
            mrr_at_start: level.mrr,
            mrr: level.mrr,
            subscribers_at_start: level.subscribers,
            subscribers: level.subscribers,
            movements: BTreeMap::new(),
        };
        for (_, day) in revenue_by_day.range(bucket.first..=bucket.last) {
            revenue.add(day);
        }
        for (_, moves) in moved_by_day.range(bucket.first..=bucket.last) {
            for (kind, moved) in moves {
                recurring.apply(*kind, moved);
            }
        }
        level.mrr = recurring.mrr;
        level.subscribers = recurring.subscribers;
        DashboardPoint {
            start: bucket.start(tz),
            end: bucket.end(tz),
            revenue: rounded(revenue),
            recurring: rounded_recurring(recurring),
        }
    };
    let mut whole = level.clone();
    let totals = point(&range, &mut whole);
    let series = buckets.iter().map(|b| point(b, &mut level)).collect();
    Ok(Dashboard {
        currency: query.currency.clone(),
        totals,
        series,
        mix,
    })
}

fn rounded(mut revenue: Revenue) -> Revenue {
    revenue.gross = money::amount(revenue.gross);
    revenue.refunds = money::amount(revenue.refunds);
    revenue.chargebacks = money::amount(revenue.chargebacks);
    revenue
}

fn rounded_recurring(mut recurring: Recurring) -> Recurring {
    recurring.mrr_at_start = money::amount(recurring.mrr_at_start);
    recurring.mrr = money::amount(recurring.mrr);
    for moved in recurring.movements.values_mut() {
        moved.mrr = money::amount(moved.mrr);
    }
    recurring
}
