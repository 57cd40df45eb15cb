//! The numbers a producer runs the business on: revenue, refunds,
//! chargebacks, MRR and its movements, per day, week or month of the
//! workspace's calendar (definitions in `docs/metrics.md`).

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::analytics::{self as figures, MovementKind};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::scope::{Access, db, parse_id, tenant};
use crate::error::{ApiError, ApiResult};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "entity::analytics::Granularity")]
pub enum Granularity {
    Day,
    /// Monday to Sunday.
    Week,
    Month,
}

/// MRR moved by one kind of movement.
#[derive(SimpleObject)]
pub struct MrrMovement {
    /// Negative for contraction and churn.
    pub amount: Decimal,
    /// Subscriptions that moved so.
    pub subscriptions: i64,
}

impl From<figures::Moved> for MrrMovement {
    fn from(moved: figures::Moved) -> Self {
        MrrMovement {
            amount: entity::money::amount(moved.mrr),
            subscriptions: moved.subscriptions,
        }
    }
}

/// What moved MRR in a period, in ChartMogul's vocabulary.
#[derive(SimpleObject)]
pub struct MrrMovements {
    /// Subscriptions that started paying.
    pub new: MrrMovement,
    /// Subscriptions that pay more than before (a plan switch up).
    pub expansion: MrrMovement,
    /// Subscriptions that pay less than before.
    pub contraction: MrrMovement,
    /// Subscriptions that stopped paying: cancelled, or late past the grace.
    pub churned: MrrMovement,
    /// Subscriptions that pay again after churning.
    pub reactivated: MrrMovement,
    /// All of them: MRR at the end minus MRR at the start.
    pub net: Decimal,
}

impl From<&figures::Recurring> for MrrMovements {
    fn from(r: &figures::Recurring) -> Self {
        MrrMovements {
            new: r.moved(MovementKind::New).into(),
            expansion: r.moved(MovementKind::Expansion).into(),
            contraction: r.moved(MovementKind::Contraction).into(),
            churned: r.moved(MovementKind::Churned).into(),
            reactivated: r.moved(MovementKind::Reactivated).into(),
            net: r.net_movement(),
        }
    }
}

fn share(rate: Option<Decimal>) -> Option<f64> {
    rate.and_then(|r| r.to_f64())
}

/// Every figure of one period; money in the dashboard's currency.
#[derive(SimpleObject)]
pub struct DashboardFigures {
    /// The first instant of the period (local midnight).
    pub start: DateTime<Utc>,
    /// The first instant after it.
    pub end: DateTime<Utc>,
    /// Sales approved in the period, refunded later or not.
    pub gross_revenue: Decimal,
    /// Sales refunded in the period (in full or in part), at their amount.
    pub refunds: Decimal,
    pub chargebacks: Decimal,
    /// Gross revenue minus refunds and chargebacks.
    pub net_revenue: Decimal,
    /// Sales approved in the period.
    pub sales: i64,
    pub refunded_sales: i64,
    pub charged_back_sales: i64,
    /// Gross revenue per sale; null without sales.
    pub average_ticket: Option<Decimal>,
    /// Sales refunded or charged back in the period per sale approved in
    /// it, from 0 (null without sales).
    pub refund_rate: Option<f64>,
    /// Monthly recurring revenue at the end of the period.
    pub mrr: Decimal,
    /// MRR at the start of the period.
    pub mrr_at_start: Decimal,
    /// 12 × MRR.
    pub arr: Decimal,
    /// Subscriptions counting in MRR at the end of the period.
    pub active_subscribers: i64,
    pub active_subscribers_at_start: i64,
    pub new_subscribers: i64,
    pub churned_subscribers: i64,
    pub reactivated_subscribers: i64,
    /// Subscriptions churned in the period per active subscriber at its
    /// start, from 0 to 1 (null without subscribers at the start).
    pub churn_rate: Option<f64>,
    /// MRR churned in the period per MRR at its start.
    pub revenue_churn_rate: Option<f64>,
    pub mrr_movements: MrrMovements,
}

impl From<figures::DashboardPoint> for DashboardFigures {
    fn from(p: figures::DashboardPoint) -> Self {
        let (revenue, recurring) = (&p.revenue, &p.recurring);
        DashboardFigures {
            start: p.start,
            end: p.end,
            gross_revenue: revenue.gross,
            refunds: revenue.refunds,
            chargebacks: revenue.chargebacks,
            net_revenue: revenue.net(),
            sales: revenue.sales,
            refunded_sales: revenue.refunds_count,
            charged_back_sales: revenue.chargebacks_count,
            average_ticket: revenue.average_ticket(),
            refund_rate: share(revenue.refund_rate()),
            mrr: recurring.mrr,
            mrr_at_start: recurring.mrr_at_start,
            arr: recurring.arr(),
            active_subscribers: recurring.subscribers,
            active_subscribers_at_start: recurring.subscribers_at_start,
            new_subscribers: recurring.moved(MovementKind::New).subscriptions,
            churned_subscribers: recurring.moved(MovementKind::Churned).subscriptions,
            reactivated_subscribers: recurring.moved(MovementKind::Reactivated).subscriptions,
            churn_rate: share(recurring.churn_rate()),
            revenue_churn_rate: share(recurring.revenue_churn_rate()),
            mrr_movements: recurring.into(),
        }
    }
}

/// Sales of one payment method and number of installments.
#[derive(SimpleObject)]
pub struct SalesMixShare {
    /// Hotmart's payment type: CREDIT_CARD, PIX, BILLET, ...
    pub payment_method: Option<String>,
    pub installments: Option<i32>,
    pub sales: i64,
    pub gross_revenue: Decimal,
    /// Of the period's sales, from 0 to 1.
    pub share: f64,
}

/// The whole period's figures, and how its sales were paid.
#[derive(SimpleObject)]
pub struct DashboardTotals {
    #[graphql(flatten)]
    pub figures: DashboardFigures,
    /// Sales by payment method and installments, most sold first.
    pub sales_mix: Vec<SalesMixShare>,
}

/// One bucket of the series.
#[derive(SimpleObject)]
pub struct DashboardPoint {
    #[graphql(flatten)]
    pub figures: DashboardFigures,
}

#[derive(SimpleObject)]
pub struct Dashboard {
    /// The currency of every amount (never added across currencies).
    pub currency: String,
    /// The workspace's time zone, whose calendar the buckets follow.
    pub time_zone: String,
    pub totals: DashboardTotals,
    /// One point per day, week or month, oldest first.
    pub series: Vec<DashboardPoint>,
    /// The whole period's MRR movements (as in `totals`).
    pub mrr_movements: MrrMovements,
}

/// A currency code as ISO 4217 writes it.
fn currency_code(currency: Option<String>) -> ApiResult<String> {
    let code = currency.unwrap_or_else(|| figures::movements::DEFAULT_CURRENCY.to_owned());
    let code = code.trim().to_uppercase();
    if code.len() != 3 || !code.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(ApiError::invalid(
            "`currency` must be a three-letter ISO 4217 code, e.g. BRL",
        ));
    }
    Ok(code)
}

/// Where a figure is asked: the workspace, its calendar, the product (if
/// any) and the currency.
struct Asked {
    tenant: entity::Tenant,
    tz: chrono_tz::Tz,
    product_id: Option<uuid::Uuid>,
    currency: String,
}

async fn asked(
    ctx: &Context<'_>,
    workspace_id: Option<&ID>,
    product_id: Option<&ID>,
    currency: Option<String>,
) -> ApiResult<Asked> {
    let tenant = tenant(ctx, workspace_id, Access::Read).await?;
    let product_id = product_id.map(|id| parse_id(id, "productId")).transpose()?;
    let currency = currency_code(currency)?;
    let tz = entity::workspaces::clock_of(db(ctx), tenant.workspace_id()).await?;
    Ok(Asked {
        tenant,
        tz,
        product_id,
        currency,
    })
}

#[derive(Default)]
pub struct AnalyticsQuery;

#[Object]
impl AnalyticsQuery {
    /// Revenue, refunds, chargebacks, MRR, subscribers and churn over
    /// `[from, to)`, widened to whole days of the workspace's time zone,
    /// in one currency (BRL unless asked), of one product or all. The
    /// worker adds the figures up every 15 seconds.
    #[graphql(guard = "Access::Read")]
    #[allow(clippy::too_many_arguments)]
    async fn dashboard(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        product_id: Option<ID>,
        currency: Option<String>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        #[graphql(desc = "MONTH unless given.")] granularity: Option<Granularity>,
    ) -> ApiResult<Dashboard> {
        let Asked {
            tenant,
            tz,
            product_id,
            currency,
        } = asked(ctx, workspace_id.as_ref(), product_id.as_ref(), currency).await?;
        let mixes = ctx.look_ahead().field("totals").field("salesMix").exists();
        let query = figures::DashboardQuery {
            product_id,
            currency,
            from,
            to,
            granularity: granularity.unwrap_or(Granularity::Month).into(),
            mixes,
        };
        let dashboard = figures::dashboard(db(ctx), tenant, tz, &query).await?;
        let sold = dashboard.totals.revenue.sales;
        let mut sales_mix: Vec<SalesMixShare> = dashboard
            .mix
            .into_iter()
            .map(|m| SalesMixShare {
                payment_method: m.payment_method,
                installments: m.installments,
                sales: m.sales,
                gross_revenue: m.gross,
                share: figures::share(m.sales, sold).unwrap_or_default(),
            })
            .collect();
        sales_mix.sort_by(|a, b| {
            b.sales
                .cmp(&a.sales)
                .then_with(|| a.payment_method.cmp(&b.payment_method))
                .then_with(|| a.installments.cmp(&b.installments))
        });
        let mrr_movements = MrrMovements::from(&dashboard.totals.recurring);
        Ok(Dashboard {
            currency: dashboard.currency,
            time_zone: tz.name().to_owned(),
            totals: DashboardTotals {
                figures: dashboard.totals.into(),
                sales_mix,
            },
            series: dashboard
                .series
                .into_iter()
                .map(|p| DashboardPoint { figures: p.into() })
                .collect(),
            mrr_movements,
        })
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "entity::analytics::LtvGroup")]
pub enum LtvGroupBy {
    /// Each product, for the customers whose first purchase of it fell in the period.
    Product,
    /// The month (in the workspace's time zone) of each customer's first purchase.
    Cohort,
    /// The `src`, `sck` and `xcod` of each customer's first purchase.
    Origin,
}

/// What one group of customers has paid and kept, in one currency.
#[derive(SimpleObject)]
pub struct LtvReportRow {
    /// By PRODUCT: the product.
    pub product_id: Option<ID>,
    /// By COHORT: the month's first instant.
    pub cohort: Option<DateTime<Utc>>,
    /// By ORIGIN: Hotmart's tracking of the first purchase.
    pub src: Option<String>,
    pub sck: Option<String>,
    pub xcod: Option<String>,
    pub customers: i64,
    /// Approved and complete purchases, refunded and charged-back ones
    /// left out, since the first.
    pub ltv: Decimal,
    /// `ltv ÷ customers`.
    pub average_ltv: Decimal,
}

/// One month of a cohort's life, offset 0 being the month it bought in.
#[derive(SimpleObject)]
pub struct CohortMonth {
    pub offset: i32,
    pub start: DateTime<Utc>,
    /// Sales approved by the month's end, less refunds and chargebacks by
    /// then, per customer of the cohort.
    pub revenue_per_customer: Decimal,
    /// Of the cohort's customers subscribed at the end of month 0, the
    /// share still subscribed at this month's end, from 0 to 1 (null when
    /// none subscribed).
    pub subscription_retention: Option<f64>,
    /// The share of the cohort's customers who completed a lesson in the
    /// month, from 0 to 1.
    pub learner_retention: f64,
}

/// The customers whose first purchase fell in one month.
#[derive(SimpleObject)]
pub struct Cohort {
    /// The month's first instant.
    pub start: DateTime<Utc>,
    pub customers: i64,
    /// From the cohort's month to the current one.
    pub months: Vec<CohortMonth>,
}

impl From<figures::Cohort> for Cohort {
    fn from(c: figures::Cohort) -> Self {
        Cohort {
            start: c.start,
            customers: c.customers,
            months: c
                .months
                .into_iter()
                .map(|m| CohortMonth {
                    offset: m.offset as i32,
                    start: m.start,
                    revenue_per_customer: m.revenue_per_customer,
                    subscription_retention: m.subscription_retention,
                    learner_retention: m.learner_retention,
                })
                .collect(),
        }
    }
}

/// One period's figures as the nightly job wrote them down.
#[derive(SimpleObject)]
pub struct AnalyticsSnapshot {
    /// Null for the workspace as a whole.
    pub product_id: Option<ID>,
    /// `day` or `month`.
    pub granularity: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub currency: String,
    /// MRR at the period's end.
    pub mrr: Decimal,
    pub arr: Decimal,
    /// Subscriptions counting in MRR at the period's end.
    pub active_subscriptions: i32,
    pub churned_subscriptions: i32,
    /// Logo churn rate (0 when the period started with no subscriber).
    pub churn_rate: f64,
    /// Gross revenue: sales approved in the period.
    pub revenue: Decimal,
    /// Refunds and chargebacks of the period.
    pub refunds: Decimal,
    /// Customers whose first approved purchase fell in the period.
    pub new_customers: i32,
    /// When the snapshot was written.
    pub created_at: DateTime<Utc>,
}

impl From<entity::analytics_snapshot::Model> for AnalyticsSnapshot {
    fn from(m: entity::analytics_snapshot::Model) -> Self {
        AnalyticsSnapshot {
            product_id: m.product_id.map(Into::into),
            granularity: m.granularity,
            period_start: m.period_start,
            period_end: m.period_end,
            currency: m.currency,
            mrr: entity::money::amount(m.mrr),
            arr: entity::money::amount(m.arr),
            active_subscriptions: m.active_subscriptions,
            churned_subscriptions: m.churned_subscriptions,
            churn_rate: m.churn_rate.round_dp(4).to_f64().unwrap_or_default(),
            revenue: entity::money::amount(m.revenue),
            refunds: entity::money::amount(m.refunds),
            new_customers: m.new_customers,
            created_at: m.created_at,
        }
    }
}

/// How far a course's enrolled customers got through one module.
#[derive(SimpleObject)]
pub struct ModuleCompletion {
    /// Null for the lessons outside any module.
    pub module_id: Option<ID>,
    pub name: Option<String>,
    pub lessons: i64,
    /// Enrolled customers who completed every lesson of the module.
    pub completed: i64,
    pub completion_rate: Option<f64>,
}

/// How far a product's enrolled customers got through its course.
#[derive(SimpleObject)]
pub struct CourseCompletion {
    pub product_id: ID,
    /// Customers enrolled before the period's end.
    pub enrolled: i64,
    /// Of them, those who had completed every lesson (extras aside) by then.
    pub completed: i64,
    pub completion_rate: Option<f64>,
    pub modules: Vec<ModuleCompletion>,
}

/// Whether buyers use what they bought.
#[derive(SimpleObject)]
pub struct Engagement {
    /// The period's buyers and their first accesses, as `accessReport`.
    pub access: super::reports::AccessReport,
    /// `access.accessed ÷ access.buyers`.
    pub first_access_share: Option<f64>,
    /// Customers who completed a lesson in the period.
    pub active_learners: i64,
    pub courses: Vec<CourseCompletion>,
    /// Carts abandoned in the period.
    pub abandoned_carts: i64,
    /// Of them, those followed within 7 days by an approved purchase of the
    /// same product by the same customer.
    pub converted_carts: i64,
    pub cart_conversion_rate: Option<f64>,
}

#[derive(Default)]
pub struct CohortQuery;

#[Object]
impl CohortQuery {
    /// The customers whose first approved purchase (of `productId`, when
    /// given) in one currency (BRL unless asked) fell in the months of the
    /// workspace's calendar `[from, to)` touches (whole), by month, each
    /// followed to this month.
    #[graphql(guard = "Access::Read")]
    #[allow(clippy::too_many_arguments)]
    async fn cohorts(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        product_id: Option<ID>,
        currency: Option<String>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        #[graphql(desc = "MONTH, the only one cohorts take.")] granularity: Option<Granularity>,
    ) -> ApiResult<Vec<Cohort>> {
        let Asked {
            tenant,
            tz,
            product_id,
            currency,
        } = asked(ctx, workspace_id.as_ref(), product_id.as_ref(), currency).await?;
        if granularity.is_some_and(|g| g != Granularity::Month) {
            return Err(ApiError::invalid("cohorts are by MONTH"));
        }
        let cohorts = figures::cohorts(
            db(ctx),
            tenant,
            tz,
            product_id,
            &currency,
            from,
            to,
            super::scope::now(ctx),
        )
        .await?;
        Ok(cohorts.into_iter().map(Into::into).collect())
    }

    /// The nightly snapshots whose period starts in `[from, to)`, of the
    /// workspace (or of `productId`), by DAY or MONTH, in one currency (BRL
    /// unless asked), oldest first.
    #[graphql(guard = "Access::Read")]
    #[allow(clippy::too_many_arguments)]
    async fn analytics_snapshots(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        product_id: Option<ID>,
        currency: Option<String>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        #[graphql(desc = "DAY unless given; WEEK is not kept.")] granularity: Option<Granularity>,
    ) -> ApiResult<Vec<AnalyticsSnapshot>> {
        let Asked {
            tenant,
            product_id,
            currency,
            ..
        } = asked(ctx, workspace_id.as_ref(), product_id.as_ref(), currency).await?;
        let granularity = match granularity.unwrap_or(Granularity::Day) {
            Granularity::Day => figures::snapshots::DAY,
            Granularity::Month => figures::snapshots::MONTH,
            Granularity::Week => {
                return Err(ApiError::invalid("snapshots are kept by DAY and MONTH"));
            }
        };
        let rows = figures::snapshots::snapshots(
            db(ctx),
            tenant,
            granularity,
            product_id,
            &currency,
            from,
            to,
        )
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// First accesses, active learners, course and module completion and
    /// abandoned carts that became sales, over `[from, to)`, of
    /// `productId` or of every product.
    #[graphql(guard = "Access::Read")]
    async fn engagement(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        product_id: Option<ID>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> ApiResult<Engagement> {
        let Asked {
            tenant, product_id, ..
        } = asked(ctx, workspace_id.as_ref(), product_id.as_ref(), None).await?;
        let e = figures::engagement::engagement(db(ctx), tenant, product_id, from, to).await?;
        let (buyers, accessed) = (e.access.buyers as i64, e.access.accessed as i64);
        Ok(Engagement {
            access: e.access.into(),
            first_access_share: figures::share(accessed, buyers),
            active_learners: e.active_learners,
            courses: e
                .products
                .into_iter()
                .map(|p| CourseCompletion {
                    product_id: p.product_id.into(),
                    enrolled: p.enrolled,
                    completed: p.completed,
                    completion_rate: figures::share(p.completed, p.enrolled),
                    modules: p
                        .modules
                        .into_iter()
                        .map(|m| ModuleCompletion {
                            module_id: m.module_id.map(Into::into),
                            name: m.name,
                            lessons: m.lessons,
                            completed: m.completed,
                            completion_rate: figures::share(m.completed, p.enrolled),
                        })
                        .collect(),
                })
                .collect(),
            abandoned_carts: e.abandoned_carts,
            converted_carts: e.converted_carts,
            cart_conversion_rate: figures::share(e.converted_carts, e.abandoned_carts),
        })
    }

    /// Lifetime value of the customers whose first approved purchase fell
    /// in `[from, to)`, by product, purchase cohort or origin, in one
    /// currency (BRL unless asked).
    #[graphql(guard = "Access::Read")]
    async fn ltv_report(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        group_by: LtvGroupBy,
        currency: Option<String>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> ApiResult<Vec<LtvReportRow>> {
        let Asked {
            tenant,
            tz,
            currency,
            ..
        } = asked(ctx, workspace_id.as_ref(), None, currency).await?;
        let rows =
            figures::ltv_report(db(ctx), tenant, tz, group_by.into(), &currency, from, to).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let average_ltv = row.average();
                let mut out = LtvReportRow {
                    product_id: None,
                    cohort: None,
                    src: None,
                    sck: None,
                    xcod: None,
                    customers: row.customers,
                    ltv: row.total,
                    average_ltv,
                };
                match row.key {
                    figures::LtvKey::Product(product) => out.product_id = product.map(Into::into),
                    figures::LtvKey::Cohort(month) => {
                        out.cohort = Some(figures::periods::day_start(month, tz));
                    }
                    figures::LtvKey::Origin { src, sck, xcod } => {
                        (out.src, out.sck, out.xcod) = (src, sck, xcod);
                    }
                }
                out
            })
            .collect())
    }
}
