//! Campaign conversions: a recipient reaches their campaign's goal when the
//! goal's event happens to them in time, and a purchase brings its amount
//! as the revenue attributed. Each recipient converts once, on the first
//! event that reaches the goal.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::campaigns::CampaignGoal;
use crate::entities::{campaign, campaign_recipient};
use crate::error::Result;
use crate::tenant::Tenant;

/// A domain event as a goal reads it.
#[derive(Debug, Clone)]
pub struct GoalEvent<'a> {
    pub customer_id: Uuid,
    pub event_type: &'a str,
    pub product_id: Option<Uuid>,
    /// A purchase's amount.
    pub amount: Option<Decimal>,
    pub occurred_at: DateTime<Utc>,
}

/// Marks converted every recipient of a campaign with a goal that one of
/// `events` (of this workspace, in the order they happened) reaches;
/// returns how many converted.
pub async fn record_conversions<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    events: &[GoalEvent<'_>],
) -> Result<u64> {
    if events.is_empty() {
        return Ok(0);
    }
    let goals: Vec<(Uuid, CampaignGoal)> = tenant
        .select::<campaign::Entity>()
        .filter(campaign::Column::Goal.is_not_null())
        .all(db)
        .await?
        .iter()
        .filter_map(|c| Some((c.id, CampaignGoal::of(c)?)))
        .filter(|(_, goal)| events.iter().any(|e| e.event_type == goal.event))
        .collect();
    if goals.is_empty() {
        return Ok(0);
    }
    let mut customers: Vec<Uuid> = events.iter().map(|e| e.customer_id).collect();
    customers.sort_unstable();
    customers.dedup();
    let open = tenant
        .select::<campaign_recipient::Entity>()
        .filter(campaign_recipient::Column::CampaignId.is_in(goals.iter().map(|g| g.0)))
        .filter(campaign_recipient::Column::CustomerId.is_in(customers))
        .filter(campaign_recipient::Column::ConvertedAt.is_null())
        .all(db)
        .await?;
    let mut converted = 0;
    for recipient in open {
        let Some((_, goal)) = goals.iter().find(|g| g.0 == recipient.campaign_id) else {
            continue;
        };
        let since = recipient.sent_at.unwrap_or(recipient.created_at);
        let Some(reaching) = events.iter().find(|e| {
            e.customer_id == recipient.customer_id
                && goal.reached_by(e.event_type, e.product_id, e.occurred_at, since)
        }) else {
            continue;
        };
        // Only the first event converts, whoever else delivers it again.
        let updated = campaign_recipient::Entity::update_many()
            .col_expr(
                campaign_recipient::Column::ConvertedAt,
                Expr::value(Some(reaching.occurred_at)),
            )
            .col_expr(
                campaign_recipient::Column::Revenue,
                Expr::value(reaching.amount.map(crate::money::amount)),
            )
            .filter(campaign_recipient::Column::Id.eq(recipient.id))
            .filter(campaign_recipient::Column::ConvertedAt.is_null())
            .exec(db)
            .await?;
        converted += updated.rows_affected;
    }
    Ok(converted)
}
