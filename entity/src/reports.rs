//! What the producer sees of the CS work: how many buyers reached the
//! course, how fast, and how many of those first accesses jornada brought.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::attribution::{self, HOTMART_EMAIL};
use crate::entities::{automation_rule, dispatch_item, enrollment, message, transaction};
use crate::error::{Error, Result};
use crate::tenant::Tenant;

/// The built-in rule whose messages rescue buyers who never accessed.
pub const ACCESS_RESCUE_RULE: &str = "access_rescue";

/// First accesses by what brought them.
#[derive(Debug, Clone, PartialEq)]
pub struct OriginShare {
    pub origin: String,
    pub count: u64,
    /// Of the buyers who accessed, 0 to 1.
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AccessReport {
    /// Customers with a purchase approved in the period.
    pub buyers: u64,
    pub accessed: u64,
    pub never_accessed: u64,
    pub by_origin: Vec<OriginShare>,
    /// From approval to first access; `None` when nobody accessed.
    pub median_hours_to_first_access: Option<f64>,
    /// First accesses that came after an `access_rescue` message was sent.
    pub accesses_after_rescue: u64,
}

/// An enrolment's first access, as the report reads it: (customer,
/// product, when, origin).
type FirstAccessRow = (Uuid, Uuid, Option<DateTime<Utc>>, Option<String>);

/// One buyer's first access to what they bought in the period.
struct BuyerAccess {
    approved_at: DateTime<Utc>,
    first_access: Option<(DateTime<Utc>, String)>,
}

/// The access report over the buyers of `[from, to)`, of `product_id` when
/// given. A buyer of several products counts once, with the first access
/// to any of them.
pub async fn access_report<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    product_id: Option<Uuid>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<AccessReport> {
    if to <= from {
        return Err(Error::Invalid("`to` must be after `from`".into()));
    }
    let mut purchases = tenant
        .select::<transaction::Entity>()
        .select_only()
        .column(transaction::Column::CustomerId)
        .column(transaction::Column::ProductId)
        .column(transaction::Column::ApprovedAt)
        .filter(transaction::Column::ApprovedAt.gte(from))
        .filter(transaction::Column::ApprovedAt.lt(to))
        .filter(transaction::Column::ProductId.is_not_null());
    if let Some(product_id) = product_id {
        purchases = purchases.filter(transaction::Column::ProductId.eq(product_id));
    }
    let purchases: Vec<(Uuid, Uuid, DateTime<Utc>)> = purchases.into_tuple().all(db).await?;
    // Each (customer, product) bought, from its first approval in the period.
    let mut bought: HashMap<(Uuid, Uuid), DateTime<Utc>> = HashMap::new();
    for (customer_id, product_id, approved_at) in purchases {
        bought
            .entry((customer_id, product_id))
            .and_modify(|at| *at = (*at).min(approved_at))
            .or_insert(approved_at);
    }
    let buyers_query = Query::select()
        .column(transaction::Column::CustomerId)
        .from(transaction::Entity)
        .and_where(transaction::Column::WorkspaceId.eq(tenant.workspace_id()))
        .and_where(transaction::Column::ApprovedAt.gte(from))
        .and_where(transaction::Column::ApprovedAt.lt(to))
        .to_owned();
    let accesses: Vec<FirstAccessRow> = tenant
        .select::<enrollment::Entity>()
        .select_only()
        .column(enrollment::Column::CustomerId)
        .column(enrollment::Column::ProductId)
        .column(enrollment::Column::FirstAccessAt)
        .column(enrollment::Column::FirstAccessOrigin)
        .filter(enrollment::Column::CustomerId.in_subquery(buyers_query.clone()))
        .filter(enrollment::Column::FirstAccessAt.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    let mut first_access: HashMap<(Uuid, Uuid), (DateTime<Utc>, String)> = HashMap::new();
    for (customer_id, product_id, at, origin) in accesses {
        if let Some(at) = at {
            let origin = origin.unwrap_or_else(|| HOTMART_EMAIL.to_owned());
            first_access.insert((customer_id, product_id), (at, origin));
        }
    }
    let mut buyers: HashMap<Uuid, BuyerAccess> = HashMap::new();
    for (key, approved_at) in &bought {
        let access = first_access.get(key).cloned();
        let buyer = buyers.entry(key.0).or_insert(BuyerAccess {
            approved_at: *approved_at,
            first_access: None,
        });
        buyer.approved_at = buyer.approved_at.min(*approved_at);
        if let Some(access) = access
            && buyer
                .first_access
                .as_ref()
                .is_none_or(|(at, _)| access.0 < *at)
        {
            buyer.first_access = Some(access);
        }
    }
    let rescued_at = rescue_messages(db, tenant, buyers_query).await?;
    let mut hours: Vec<f64> = Vec::new();
    let mut by_origin: HashMap<String, u64> = HashMap::new();
    let mut accesses_after_rescue = 0;
    for (customer_id, buyer) in &buyers {
        let Some((at, origin)) = &buyer.first_access else {
            continue;
        };
        *by_origin.entry(origin.clone()).or_default() += 1;
        // An access before the approval (an earlier purchase's) took no time.
        let seconds = (*at - buyer.approved_at).num_seconds().max(0);
        hours.push(seconds as f64 / 3600.0);
        if rescued_at
            .get(customer_id)
            .is_some_and(|sent| sent.iter().any(|s| s <= at))
        {
            accesses_after_rescue += 1;
        }
    }
    let accessed = hours.len() as u64;
    let mut origins: Vec<String> = attribution::ORIGINS.iter().map(|o| o.to_string()).collect();
    let mut others: Vec<String> = by_origin
        .keys()
        .filter(|o| !origins.contains(o))
        .cloned()
        .collect();
    others.sort();
    origins.extend(others);
    let by_origin = origins
        .into_iter()
        .map(|origin| {
            let count = by_origin.get(&origin).copied().unwrap_or(0);
            let share = if accessed == 0 {
                0.0
            } else {
                count as f64 / accessed as f64
            };
            OriginShare {
                origin,
                count,
                share,
            }
        })
        .collect();
    Ok(AccessReport {
        buyers: buyers.len() as u64,
        accessed,
        never_accessed: buyers.len() as u64 - accessed,
        by_origin,
        median_hours_to_first_access: median(&mut hours),
        accesses_after_rescue,
    })
}

/// When `access_rescue` messages were sent to each of the buyers.
async fn rescue_messages<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    buyers: sea_orm::sea_query::SelectStatement,
) -> Result<HashMap<Uuid, Vec<DateTime<Utc>>>> {
    let rescue_items = Query::select()
        .column(dispatch_item::Column::Id)
        .from(dispatch_item::Entity)
        .and_where(dispatch_item::Column::WorkspaceId.eq(tenant.workspace_id()))
        .and_where(
            dispatch_item::Column::RuleId.in_subquery(
                Query::select()
                    .column(automation_rule::Column::Id)
                    .from(automation_rule::Entity)
                    .and_where(automation_rule::Column::WorkspaceId.eq(tenant.workspace_id()))
                    .and_where(automation_rule::Column::BuiltinKey.eq(ACCESS_RESCUE_RULE))
                    .to_owned(),
            ),
        )
        .to_owned();
    let sent: Vec<(Uuid, Option<DateTime<Utc>>)> = tenant
        .select::<message::Entity>()
        .select_only()
        .column(message::Column::CustomerId)
        .column(message::Column::SentAt)
        .filter(message::Column::CustomerId.in_subquery(buyers))
        .filter(message::Column::DispatchItemId.in_subquery(rescue_items))
        .filter(message::Column::SentAt.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    let mut by_customer: HashMap<Uuid, Vec<DateTime<Utc>>> = HashMap::new();
    for (customer_id, at) in sent {
        if let Some(at) = at {
            by_customer.entry(customer_id).or_default().push(at);
        }
    }
    Ok(by_customer)
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 10.0]), Some(3.5));
    }
}

/// How long after one of our recovery or cart messages a purchase of the
/// same product counts as recovered by it.
pub const RECOVERY_WINDOW: chrono::Duration = chrono::Duration::days(7);

/// The rule triggers whose messages recover sales.
const RECOVERY_TRIGGERS: [&str; 2] = ["BILLET_PRINTED", "CART_ABANDONED"];

/// (customer, product) → our recovery messages, as (sent at, rule).
type RecoveryMessages = HashMap<(Uuid, Uuid), Vec<(DateTime<Utc>, Uuid)>>;

/// A purchase as the report reads it: customer, product, approved at,
/// amount, currency, status.
type Purchase = (
    Uuid,
    Option<Uuid>,
    Option<DateTime<Utc>>,
    rust_decimal::Decimal,
    String,
    String,
);

/// Money in one currency.
#[derive(Debug, Clone, PartialEq)]
pub struct Amount {
    pub currency: String,
    pub amount: rust_decimal::Decimal,
}

/// Sales one rule recovered.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveredByRule {
    pub rule_id: Uuid,
    pub count: u64,
    pub revenue: Vec<Amount>,
}

/// Purchases approved within [`RECOVERY_WINDOW`] after one of our recovery
/// or cart messages to the same customer about the same product.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecoveredSales {
    pub count: u64,
    /// Per currency: never added across currencies.
    pub revenue: Vec<Amount>,
    pub by_rule: Vec<RecoveredByRule>,
}

fn add_amount(amounts: &mut Vec<Amount>, currency: &str, amount: rust_decimal::Decimal) {
    match amounts.iter_mut().find(|a| a.currency == currency) {
        Some(total) => total.amount += amount,
        None => amounts.push(Amount {
            currency: currency.to_owned(),
            amount,
        }),
    }
}

/// The sales of `[from, to)` our recovery and cart messages brought back,
/// each counted once, for the latest message before it.
pub async fn recovered_sales<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<RecoveredSales> {
    if to <= from {
        return Err(Error::Invalid("`to` must be after `from`".into()));
    }
    let recovery_rules = Query::select()
        .column(automation_rule::Column::Id)
        .from(automation_rule::Entity)
        .and_where(automation_rule::Column::WorkspaceId.eq(tenant.workspace_id()))
        .and_where(automation_rule::Column::Trigger.is_in(RECOVERY_TRIGGERS))
        .to_owned();
    // Our messages sent in the window before the period or in it: (item, sent at).
    let sent: Vec<(Uuid, DateTime<Utc>)> = tenant
        .select::<message::Entity>()
        .select_only()
        .column(message::Column::DispatchItemId)
        .column(message::Column::SentAt)
        .filter(message::Column::SentAt.gte(from - RECOVERY_WINDOW))
        .filter(message::Column::SentAt.lt(to))
        .filter(message::Column::DispatchItemId.is_not_null())
        .into_tuple::<(Option<Uuid>, Option<DateTime<Utc>>)>()
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(item, at)| Some((item?, at?)))
        .collect();
    if sent.is_empty() {
        return Ok(RecoveredSales::default());
    }
    let item_ids: Vec<Uuid> = sent.iter().map(|(id, _)| *id).collect();
    let mut items: HashMap<Uuid, (Uuid, Uuid, Uuid)> = HashMap::new();
    for chunk in item_ids.chunks(500) {
        let rows: Vec<(Uuid, Option<Uuid>, Uuid, Option<Uuid>)> = tenant
            .select::<dispatch_item::Entity>()
            .select_only()
            .column(dispatch_item::Column::Id)
            .column(dispatch_item::Column::RuleId)
            .column(dispatch_item::Column::CustomerId)
            .column(dispatch_item::Column::ProductId)
            .filter(dispatch_item::Column::Id.is_in(chunk.iter().copied()))
            .filter(dispatch_item::Column::RuleId.in_subquery(recovery_rules.clone()))
            .into_tuple()
            .all(db)
            .await?;
        for (id, rule, customer, product) in rows {
            if let (Some(rule), Some(product)) = (rule, product) {
                items.insert(id, (rule, customer, product));
            }
        }
    }
    // (customer, product) → the recovery messages, as (sent at, rule).
    let mut messages: RecoveryMessages = HashMap::new();
    for (item, at) in sent {
        if let Some((rule, customer, product)) = items.get(&item) {
            messages
                .entry((*customer, *product))
                .or_default()
                .push((at, *rule));
        }
    }
    let customers: Vec<Uuid> = messages.keys().map(|(c, _)| *c).collect();
    let mut report = RecoveredSales::default();
    for chunk in customers.chunks(500) {
        let purchases: Vec<Purchase> = tenant
            .select::<transaction::Entity>()
            .select_only()
            .column(transaction::Column::CustomerId)
            .column(transaction::Column::ProductId)
            .column(transaction::Column::ApprovedAt)
            .column(transaction::Column::Amount)
            .column(transaction::Column::Currency)
            .column(transaction::Column::Status)
            .filter(transaction::Column::CustomerId.is_in(chunk.iter().copied()))
            .filter(transaction::Column::ApprovedAt.gte(from))
            .filter(transaction::Column::ApprovedAt.lt(to))
            .into_tuple()
            .all(db)
            .await?;
        for (customer, product, approved_at, amount, currency, status) in purchases {
            let (Some(product), Some(approved_at)) = (product, approved_at) else {
                continue;
            };
            if !crate::hotmart::PurchaseStatus::parse(&status).is_revenue() {
                continue;
            }
            let latest = messages.get(&(customer, product)).and_then(|sent| {
                sent.iter()
                    .filter(|(at, _)| *at <= approved_at && *at + RECOVERY_WINDOW >= approved_at)
                    .max_by_key(|(at, _)| *at)
            });
            let Some((_, rule)) = latest else { continue };
            report.count += 1;
            add_amount(&mut report.revenue, &currency, amount);
            let by_rule = match report.by_rule.iter_mut().position(|r| r.rule_id == *rule) {
                Some(i) => &mut report.by_rule[i],
                None => {
                    report.by_rule.push(RecoveredByRule {
                        rule_id: *rule,
                        count: 0,
                        revenue: Vec::new(),
                    });
                    report.by_rule.last_mut().expect("just pushed")
                }
            };
            by_rule.count += 1;
            add_amount(&mut by_rule.revenue, &currency, amount);
        }
    }
    Ok(report)
}
