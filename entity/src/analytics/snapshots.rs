//! The nightly snapshots: each day's and each month's figures of a
//! workspace, and of each of its products, in each currency it sells in,
//! written down so that a BI tool reads history without adding it up.
//! Writing a period again replaces it: the job and a backfill may run any
//! number of times.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};
use chrono_tz::Tz;
use futures::TryStreamExt;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect,
    StreamTrait, TransactionTrait,
};
use uuid::Uuid;

use super::dashboard::{DashboardPoint, DashboardQuery, dashboard};
use super::movements::MovementKind;
use super::periods::{DayRange, Granularity, local_day};
use crate::db::new_id;
use crate::entities::{analytics_snapshot, mrr_movement, revenue_day, transaction};
use crate::error::Result;
use crate::tenant::Tenant;

/// `analytics_snapshots.granularity`.
pub const DAY: &str = "day";
pub const MONTH: &str = "month";

/// The local days `first..=last` and their months, snapshotted for the
/// workspace and each product, in each currency: answers how many rows
/// were written.
pub async fn write_snapshots(
    db: &DatabaseConnection,
    tenant: Tenant,
    tz: Tz,
    days: DayRange,
    now: DateTime<Utc>,
) -> Result<usize> {
    let months = DayRange {
        first: days.first.with_day(1).unwrap_or(days.first),
        last: (days.last.with_day(1).unwrap_or(days.last) + Months::new(1)) - Days::new(1),
    };
    let mut written = 0;
    for (product, currency) in sold(db, tenant).await? {
        let firsts = first_purchases(db, tenant, product, &currency).await?;
        for (granularity, range, kind) in [
            (Granularity::Day, days, DAY),
            (Granularity::Month, months, MONTH),
        ] {
            let query = DashboardQuery {
                product_id: product,
                currency: currency.clone(),
                from: range.start(tz),
                to: range.end(tz),
                granularity,
                mixes: false,
            };
            let board = dashboard(db, tenant, tz, &query).await?;
            let new_customers = |point: &DashboardPoint| {
                firsts
                    .iter()
                    .filter(|first| **first >= point.start && **first < point.end)
                    .count() as i32
            };
            let rows: Vec<analytics_snapshot::ActiveModel> = board
                .series
                .iter()
                .map(|point| {
                    let (revenue, recurring) = (&point.revenue, &point.recurring);
                    analytics_snapshot::Model {
                        id: new_id(),
                        workspace_id: tenant.workspace_id(),
                        product_id: product,
                        granularity: kind.to_owned(),
                        period_start: point.start,
                        period_end: point.end,
                        mrr: recurring.mrr,
                        arr: recurring.arr(),
                        active_subscriptions: recurring.subscribers as i32,
                        churned_subscriptions: recurring.moved(MovementKind::Churned).subscriptions
                            as i32,
                        churn_rate: recurring.churn_rate().unwrap_or_default(),
                        revenue: revenue.gross,
                        refunds: crate::money::amount(revenue.refunds + revenue.chargebacks),
                        new_customers: new_customers(point),
                        created_at: now,
                        currency: currency.clone(),
                    }
                    .into()
                })
                .collect();
            let txn = db.begin().await?;
            let mut stale = analytics_snapshot::Entity::delete_many()
                .filter(analytics_snapshot::Column::WorkspaceId.eq(tenant.workspace_id()))
                .filter(analytics_snapshot::Column::Granularity.eq(kind))
                .filter(analytics_snapshot::Column::Currency.eq(&currency))
                .filter(analytics_snapshot::Column::PeriodStart.gte(range.start(tz)))
                .filter(analytics_snapshot::Column::PeriodStart.lt(range.end(tz)));
            stale = match product {
                Some(id) => stale.filter(analytics_snapshot::Column::ProductId.eq(id)),
                None => stale.filter(analytics_snapshot::Column::ProductId.is_null()),
            };
            stale.exec(&txn).await?;
            written += rows.len();
            for chunk in rows.chunks(500) {
                analytics_snapshot::Entity::insert_many(chunk.to_vec())
                    .exec(&txn)
                    .await?;
            }
            txn.commit().await?;
        }
    }
    Ok(written)
}

/// The workspace as a whole and each product it has figures for, each with
/// every currency it sold or subscribed in.
async fn sold<C: ConnectionTrait>(db: &C, tenant: Tenant) -> Result<Vec<(Option<Uuid>, String)>> {
    let sales: Vec<(Option<Uuid>, String)> = tenant
        .select::<revenue_day::Entity>()
        .select_only()
        .column(revenue_day::Column::ProductId)
        .column(revenue_day::Column::Currency)
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    let recurring: Vec<(Option<Uuid>, String)> = tenant
        .select::<mrr_movement::Entity>()
        .select_only()
        .column(mrr_movement::Column::ProductId)
        .column(mrr_movement::Column::Currency)
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    let mut sold = BTreeSet::new();
    for (product, currency) in sales.into_iter().chain(recurring) {
        sold.insert((None, currency.clone()));
        if product.is_some() {
            sold.insert((product, currency));
        }
    }
    Ok(sold.into_iter().collect())
}

/// When each customer first bought (the product) in the currency.
async fn first_purchases<C: ConnectionTrait + StreamTrait>(
    db: &C,
    tenant: Tenant,
    product: Option<Uuid>,
    currency: &str,
) -> Result<Vec<DateTime<Utc>>> {
    let mut select = tenant
        .select::<transaction::Entity>()
        .select_only()
        .column(transaction::Column::CustomerId)
        .column(transaction::Column::ApprovedAt)
        .filter(transaction::Column::ApprovedAt.is_not_null())
        .filter(transaction::Column::Currency.eq(currency));
    if let Some(product) = product {
        select = select.filter(transaction::Column::ProductId.eq(product));
    }
    let mut rows = select
        .into_tuple::<(Uuid, DateTime<Utc>)>()
        .stream(db)
        .await?;
    let mut firsts: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    while let Some((customer, at)) = rows.try_next().await? {
        let first = firsts.entry(customer).or_insert(at);
        *first = (*first).min(at);
    }
    Ok(firsts.into_values().collect())
}

/// The local day before `now`'s, in `tz`.
pub fn yesterday(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
    local_day(now, tz) - Days::new(1)
}

/// Snapshots of one workspace's `[from, to)`, read back for a BI tool.
pub async fn snapshots<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    granularity: &str,
    product: Option<Uuid>,
    currency: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<analytics_snapshot::Model>> {
    use sea_orm::QueryOrder;
    let mut select = tenant
        .select::<analytics_snapshot::Entity>()
        .filter(analytics_snapshot::Column::Granularity.eq(granularity))
        .filter(analytics_snapshot::Column::Currency.eq(currency))
        .filter(analytics_snapshot::Column::PeriodStart.gte(from))
        .filter(analytics_snapshot::Column::PeriodStart.lt(to))
        .order_by_asc(analytics_snapshot::Column::PeriodStart);
    select = match product {
        Some(id) => select.filter(analytics_snapshot::Column::ProductId.eq(id)),
        None => select.filter(analytics_snapshot::Column::ProductId.is_null()),
    };
    Ok(select.all(db).await?)
}

/// Snapshots the local day before `now` (and its month) for every
/// workspace, its figures caught up first: the nightly job.
pub async fn snapshot_yesterday(
    db: &DatabaseConnection,
    secrets: &crate::SecretKey,
    now: DateTime<Utc>,
) -> Result<usize> {
    let mut written = 0;
    for workspace in crate::entities::workspace::Entity::find().all(db).await? {
        super::rollups::catch_up_workspace(db, secrets, &workspace, false, now).await?;
        let tz = crate::workspaces::clock(&workspace);
        let day = yesterday(now, tz);
        let days = DayRange {
            first: day,
            last: day,
        };
        written += write_snapshots(db, Tenant::new(workspace.id), tz, days, now).await?;
    }
    Ok(written)
}

/// Adds one workspace's figures up again from scratch, then snapshots every
/// day from `since` to yesterday and their months: `jornada analytics
/// backfill`.
pub async fn backfill(
    db: &DatabaseConnection,
    secrets: &crate::SecretKey,
    workspace: &crate::entities::workspace::Model,
    since: NaiveDate,
    now: DateTime<Utc>,
) -> Result<usize> {
    super::rollups::catch_up_workspace(db, secrets, workspace, true, now).await?;
    let tz = crate::workspaces::clock(workspace);
    let last = yesterday(now, tz);
    if since > last {
        return Err(crate::error::Error::Invalid(format!(
            "--since must be a day before today ({})",
            local_day(now, tz)
        )));
    }
    let days = DayRange { first: since, last };
    days.buckets(Granularity::Day)?;
    write_snapshots(db, Tenant::new(workspace.id), tz, days, now).await
}
