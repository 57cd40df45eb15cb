//! Lifetime value by product, purchase cohort or origin: what the
//! customers a period brought in have paid and kept since.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use futures::TryStreamExt;
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QuerySelect, StreamTrait};
use uuid::Uuid;

use super::periods::local_day;
use crate::entities::transaction;
use crate::error::{Error, Result};
use crate::lifetime_value::KEPT;
use crate::money;
use crate::tenant::Tenant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LtvGroup {
    /// Each product the customers bought, their first purchase of it in the period.
    Product,
    /// The month of each customer's first purchase.
    Cohort,
    /// The `src`, `sck` and `xcod` of each customer's first purchase.
    Origin,
}

/// What a group of customers is, by its kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LtvKey {
    Product(Option<Uuid>),
    /// The first day of the month.
    Cohort(NaiveDate),
    Origin {
        src: Option<String>,
        sck: Option<String>,
        xcod: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct LtvRow {
    pub key: LtvKey,
    pub customers: i64,
    /// What they paid and kept, all together.
    pub total: Decimal,
}

impl LtvRow {
    pub fn average(&self) -> Decimal {
        if self.customers == 0 {
            return Decimal::ZERO;
        }
        money::amount(self.total / Decimal::from(self.customers))
    }
}

#[derive(Debug, sea_orm::FromQueryResult)]
struct Purchase {
    customer_id: Uuid,
    product_id: Option<Uuid>,
    approved_at: DateTime<Utc>,
    status: String,
    amount: Decimal,
    src: Option<String>,
    sck: Option<String>,
    xcod: Option<String>,
}

/// The customer's first purchase (of a product, for `Product`), and what
/// they kept of all of them (of that product).
struct Customer {
    first: Purchase,
    kept: Decimal,
}

/// LTV of the customers whose first approved purchase (of the product, by
/// product) in `currency` fell in `[from, to)`, by `group`: how many, and
/// what they have paid and kept since, in that currency.
pub async fn ltv_report<C: ConnectionTrait + StreamTrait>(
    db: &C,
    tenant: Tenant,
    tz: Tz,
    group: LtvGroup,
    currency: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<LtvRow>> {
    if to <= from {
        return Err(Error::Invalid("`to` must be after `from`".into()));
    }
    let mut rows = tenant
        .select::<transaction::Entity>()
        .select_only()
        .columns([
            transaction::Column::CustomerId,
            transaction::Column::ProductId,
            transaction::Column::ApprovedAt,
            transaction::Column::Status,
            transaction::Column::Amount,
            transaction::Column::Src,
            transaction::Column::Sck,
            transaction::Column::Xcod,
        ])
        .filter(transaction::Column::ApprovedAt.is_not_null())
        .filter(transaction::Column::Currency.eq(currency))
        .into_model::<Purchase>()
        .stream(db)
        .await?;
    // By customer, or by (customer, product) when grouping by product.
    let mut customers: HashMap<(Uuid, Option<Uuid>), Customer> = HashMap::new();
    while let Some(purchase) = rows.try_next().await? {
        let who = match group {
            LtvGroup::Product => (purchase.customer_id, purchase.product_id),
            LtvGroup::Cohort | LtvGroup::Origin => (purchase.customer_id, None),
        };
        let kept = if KEPT.contains(&purchase.status.as_str()) {
            purchase.amount
        } else {
            Decimal::ZERO
        };
        match customers.get_mut(&who) {
            Some(customer) => {
                customer.kept += kept;
                if purchase.approved_at < customer.first.approved_at {
                    customer.first = purchase;
                }
            }
            None => {
                customers.insert(
                    who,
                    Customer {
                        first: purchase,
                        kept,
                    },
                );
            }
        }
    }
    let mut groups: BTreeMap<LtvKey, LtvRow> = BTreeMap::new();
    for customer in customers.into_values() {
        let first = &customer.first;
        if first.approved_at < from || first.approved_at >= to {
            continue;
        }
        let key = match group {
            LtvGroup::Product => LtvKey::Product(first.product_id),
            LtvGroup::Cohort => {
                let day = local_day(first.approved_at, tz);
                LtvKey::Cohort(day.with_day0(0).unwrap_or(day))
            }
            LtvGroup::Origin => LtvKey::Origin {
                src: first.src.clone(),
                sck: first.sck.clone(),
                xcod: first.xcod.clone(),
            },
        };
        let row = groups.entry(key.clone()).or_insert(LtvRow {
            key,
            customers: 0,
            total: Decimal::ZERO,
        });
        row.customers += 1;
        row.total += customer.kept;
    }
    Ok(groups
        .into_values()
        .map(|mut row| {
            row.total = money::amount(row.total);
            row
        })
        .collect())
}
