//! What the producer sees of the CS work ("we brought 45 % of this cohort's
//! first accesses").

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::scope::{Access, db, parse_id, tenant};
use crate::error::ApiResult;

/// First accesses brought by one origin.
#[derive(SimpleObject)]
pub struct FirstAccessOriginShare {
    /// `whatsapp_link` or `email_link` (a click on one of our tracked links
    /// within `attribution.first_access_window_hours` before the first
    /// access), or `hotmart_email`.
    pub origin: String,
    pub count: i64,
    /// Of the buyers who accessed, from 0 to 1.
    pub share: f64,
}

/// How the buyers of a period reached their course.
#[derive(SimpleObject)]
pub struct AccessReport {
    /// Customers with a purchase approved in the period.
    pub buyers: i64,
    pub accessed: i64,
    pub never_accessed: i64,
    pub by_origin: Vec<FirstAccessOriginShare>,
    /// Hours from approval to first access; null when nobody accessed.
    pub median_hours_to_first_access: Option<f64>,
    /// First accesses that followed a message of the `access_rescue` rule.
    pub accesses_after_rescue: i64,
}

impl From<entity::reports::AccessReport> for AccessReport {
    fn from(r: entity::reports::AccessReport) -> Self {
        AccessReport {
            buyers: r.buyers as i64,
            accessed: r.accessed as i64,
            never_accessed: r.never_accessed as i64,
            by_origin: r
                .by_origin
                .into_iter()
                .map(|o| FirstAccessOriginShare {
                    origin: o.origin,
                    count: o.count as i64,
                    share: o.share,
                })
                .collect(),
            median_hours_to_first_access: r.median_hours_to_first_access,
            accesses_after_rescue: r.accesses_after_rescue as i64,
        }
    }
}

/// Money in one currency, as a decimal.
#[derive(SimpleObject)]
pub struct CurrencyAmount {
    pub currency: String,
    pub amount: rust_decimal::Decimal,
}

fn amounts(list: Vec<entity::reports::Amount>) -> Vec<CurrencyAmount> {
    list.into_iter()
        .map(|a| CurrencyAmount {
            currency: a.currency,
            amount: entity::money::amount(a.amount),
        })
        .collect()
}

/// Sales one rule brought back.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct RecoveredByRule {
    pub rule_id: ID,
    pub count: i64,
    pub revenue: Vec<CurrencyAmount>,
    #[graphql(skip)]
    uuid: uuid::Uuid,
}

#[async_graphql::ComplexObject]
impl RecoveredByRule {
    async fn rule(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Option<super::automation::AutomationRule>> {
        Ok(
            super::loaders::load(ctx, super::loaders::AutomationRuleById(self.uuid))
                .await?
                .map(Into::into),
        )
    }
}

/// Purchases approved within 7 days after one of our recovery or cart
/// messages to the same customer about the same product.
#[derive(SimpleObject)]
pub struct RecoveredSales {
    pub count: i64,
    /// Per currency (never added across currencies).
    pub revenue: Vec<CurrencyAmount>,
    pub by_rule: Vec<RecoveredByRule>,
}

#[derive(Default)]
pub struct ReportQuery;

#[Object]
impl ReportQuery {
    /// Buyers of `[from, to)` (of `productId` when given): how many accessed
    /// the course, what brought them, and how fast.
    #[graphql(guard = "Access::Read")]
    async fn access_report(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        product_id: Option<ID>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> ApiResult<AccessReport> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let product_id = product_id
            .as_ref()
            .map(|id| parse_id(id, "productId"))
            .transpose()?;
        Ok(
            entity::reports::access_report(db(ctx), tenant, product_id, from, to)
                .await?
                .into(),
        )
    }

    /// The sales of `[from, to)` brought back by the sale-recovery and
    /// abandoned-cart messages: how many, how much, by rule.
    #[graphql(guard = "Access::Read")]
    async fn recovered_sales(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> ApiResult<RecoveredSales> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let report = entity::reports::recovered_sales(db(ctx), tenant, from, to).await?;
        Ok(RecoveredSales {
            count: report.count as i64,
            revenue: amounts(report.revenue),
            by_rule: report
                .by_rule
                .into_iter()
                .map(|r| RecoveredByRule {
                    rule_id: r.rule_id.into(),
                    count: r.count as i64,
                    revenue: amounts(r.revenue),
                    uuid: r.rule_id,
                })
                .collect(),
        })
    }
}
