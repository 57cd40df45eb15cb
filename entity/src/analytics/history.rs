//! Each subscription's history: its status and price as they changed, so
//! that MRR can be told for any moment, not only for now.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder,
};

use crate::db::new_id;
use crate::entities::{subscription, subscription_change};
use crate::error::Result;

/// What the history keeps of a subscription at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionState {
    pub status: String,
    pub recurring_amount: Option<Decimal>,
    pub currency: Option<String>,
    pub recurrence_period_days: Option<i32>,
}

impl SubscriptionState {
    fn stored(subscription: &subscription::Model) -> Self {
        SubscriptionState {
            status: subscription.status.clone(),
            recurring_amount: subscription.recurring_amount,
            currency: subscription.currency.clone(),
            recurrence_period_days: subscription.recurrence_period_days,
        }
    }

    fn of_change(change: &subscription_change::Model) -> Self {
        SubscriptionState {
            status: change.status.clone(),
            recurring_amount: change.recurring_amount,
            currency: change.currency.clone(),
            recurrence_period_days: change.recurrence_period_days,
        }
    }
}

/// What one fact said of the subscription, when it came after a later one:
/// the rest is as the history stood at its moment.
#[derive(Debug, Clone, Default)]
pub struct LateFact {
    pub status: Option<String>,
    pub recurring_amount: Option<Decimal>,
}

/// Records the state `subscription` took at `effective_at`: as stored now
/// when the fact was the latest (`late` is `None`), else what the late fact
/// said over the history at its moment. Nothing is written when the
/// history already says the same there (a renewal at the same price, a
/// postback delivered twice).
pub async fn record_change<C: ConnectionTrait>(
    db: &C,
    subscription: &subscription::Model,
    late: Option<&LateFact>,
    effective_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    let before = subscription_change::Entity::find()
        .filter(subscription_change::Column::SubscriptionId.eq(subscription.id))
        .filter(subscription_change::Column::EffectiveAt.lte(effective_at))
        .order_by_desc(subscription_change::Column::EffectiveAt)
        .order_by_desc(subscription_change::Column::Id)
        .one(db)
        .await?;
    let before = before.as_ref().map(SubscriptionState::of_change);
    let state = match late {
        None => SubscriptionState::stored(subscription),
        Some(fact) => {
            let then = before
                .clone()
                .unwrap_or_else(|| SubscriptionState::stored(subscription));
            SubscriptionState {
                status: fact.status.clone().unwrap_or(then.status),
                recurring_amount: fact.recurring_amount.or(then.recurring_amount),
                ..then
            }
        }
    };
    if before.as_ref() == Some(&state) {
        return Ok(());
    }
    subscription_change::Model {
        id: new_id(),
        workspace_id: subscription.workspace_id,
        subscription_id: subscription.id,
        effective_at,
        status: state.status,
        recurring_amount: state.recurring_amount,
        currency: state.currency,
        recurrence_period_days: state.recurrence_period_days,
        recorded_at: now,
    }
    .into_active_model()
    .insert(db)
    .await?;
    Ok(())
}
