//! Subscriptions as sources report them: recorded once per subscriber code,
//! their status moved only forward in time, in the caller's transaction,
//! each change kept in the subscription's history.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, IntoActiveModel, QueryFilter, Set};
use uuid::Uuid;

use crate::analytics::history::{self, LateFact};
use crate::db::{LockForChange, insert_ignoring_conflict, new_id};
use crate::entities::subscription;
use crate::error::{Error, Result};
use crate::facts::{earlier, fit, fit_opt, later};
use crate::tenant::Tenant;

impl SubscriptionFacts {
    fn fitted(&self) -> Self {
        SubscriptionFacts {
            subscriber_code: fit(&self.subscriber_code, 64),
            status: fit_opt(&self.status, 32),
            hotmart_subscription_id: fit_opt(&self.hotmart_subscription_id, 64),
            plan_id: fit_opt(&self.plan_id, 64),
            plan_name: fit_opt(&self.plan_name, 255),
            currency: fit_opt(&self.currency, 3),
            ..self.clone()
        }
    }
}

/// What a source says about one subscription.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionFacts {
    pub subscriber_code: String,
    pub status: Option<String>,
    pub status_at: Option<DateTime<Utc>>,
    pub product_id: Option<Uuid>,
    pub hotmart_subscription_id: Option<String>,
    pub plan_id: Option<String>,
    pub plan_name: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub next_charge_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub recurring_amount: Option<Decimal>,
    pub currency: Option<String>,
    pub recurrence_period_days: Option<i32>,
}

#[derive(Debug, Clone)]
pub struct SubscriptionChange {
    pub subscription: subscription::Model,
    pub previous_status: Option<String>,
    pub status_changed: bool,
}

/// Merges `facts` into the subscription with that subscriber code; a fact
/// older than what is stored never overwrites it.
pub async fn record_subscription<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customer_id: Uuid,
    facts: &SubscriptionFacts,
    now: DateTime<Utc>,
) -> Result<SubscriptionChange> {
    let facts = &facts.fitted();
    let fresh_id = new_id();
    let fresh = subscription::ActiveModel {
        id: Set(fresh_id),
        workspace_id: Set(tenant.workspace_id()),
        customer_id: Set(customer_id),
        product_id: Set(facts.product_id),
        subscriber_code: Set(facts.subscriber_code.clone()),
        hotmart_subscription_id: Set(None),
        plan_id: Set(None),
        plan_name: Set(None),
        status: Set(facts.status.clone().unwrap_or_else(|| "ACTIVE".to_owned())),
        started_at: Set(None),
        next_charge_at: Set(None),
        cancelled_at: Set(None),
        recurring_amount: Set(None),
        currency: Set(None),
        recurrence_period_days: Set(None),
        last_event_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    insert_ignoring_conflict(
        db,
        fresh,
        OnConflict::columns([
            subscription::Column::WorkspaceId,
            subscription::Column::SubscriberCode,
        ])
        .do_nothing()
        .to_owned(),
    )
    .await?;
    let current = tenant
        .select::<subscription::Entity>()
        .filter(subscription::Column::SubscriberCode.eq(&facts.subscriber_code))
        .lock_for_change()
        .one(db)
        .await?
        .ok_or(Error::NotFound("subscription"))?;
    let is_new = current.id == fresh_id;
    let newer = is_new
        || match (current.last_event_at, facts.status_at) {
            (Some(stored), Some(given)) => given >= stored,
            (None, _) => true,
            (Some(_), None) => false,
        };
    let previous_status = (!is_new).then(|| current.status.clone());
    let mut model = current.clone().into_active_model();
    let mut status_changed = is_new;
    if newer {
        if let Some(status) = &facts.status {
            status_changed |= status != &current.status;
            model.status = Set(status.clone());
        }
        model.last_event_at = Set(later(current.last_event_at, facts.status_at));
        if facts.next_charge_at.is_some() {
            model.next_charge_at = Set(facts.next_charge_at);
        }
        if facts.plan_id.is_some() {
            model.plan_id = Set(facts.plan_id.clone());
        }
        if facts.plan_name.is_some() {
            model.plan_name = Set(facts.plan_name.clone());
        }
        if facts.recurring_amount.is_some() {
            model.recurring_amount = Set(facts.recurring_amount);
        }
        if facts.cancelled_at.is_some() {
            model.cancelled_at = Set(facts.cancelled_at);
        }
    }
    if current.product_id.is_none() && facts.product_id.is_some() {
        model.product_id = Set(facts.product_id);
    }
    if current.hotmart_subscription_id.is_none() && facts.hotmart_subscription_id.is_some() {
        model.hotmart_subscription_id = Set(facts.hotmart_subscription_id.clone());
    }
    if facts.currency.is_some() && current.currency.is_none() {
        model.currency = Set(facts.currency.clone());
    }
    if facts.recurrence_period_days.is_some() && current.recurrence_period_days.is_none() {
        model.recurrence_period_days = Set(facts.recurrence_period_days);
    }
    model.started_at = Set(earlier(current.started_at, facts.started_at));
    model.updated_at = Set(now);
    let subscription = model.update(db).await?;
    let late = (!newer).then(|| LateFact {
        status: facts.status.clone(),
        recurring_amount: facts.recurring_amount,
    });
    let effective_at = facts.status_at.unwrap_or(now);
    history::record_change(db, &subscription, late.as_ref(), effective_at, now).await?;
    Ok(SubscriptionChange {
        subscription,
        previous_status,
        status_changed,
    })
}
