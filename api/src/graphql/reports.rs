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
}
