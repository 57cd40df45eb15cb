//! Campaign goals checked as domain events are applied: a recipient whose
//! campaign goal an event reaches is marked converted, with the purchase's
//! amount as the revenue attributed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use entity::Tenant;
use entity::conversions::{GoalEvent, record_conversions};
use entity::entities::domain_event;
use futures::future::BoxFuture;
use rust_decimal::Decimal;
use sea_orm::DatabaseTransaction;
use serde_json::Value;
use uuid::Uuid;

use crate::domain_events::DomainEventConsumer;

/// The domain-event consumer that converts campaign recipients.
pub struct CampaignGoals;

impl DomainEventConsumer for CampaignGoals {
    fn name(&self) -> &'static str {
        "campaign_goals"
    }

    fn handle<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        events: &'a [&'a domain_event::Model],
        _now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), entity::Error>> {
        Box::pin(async move {
            let mut by_workspace: BTreeMap<Uuid, Vec<GoalEvent<'a>>> = BTreeMap::new();
            for event in events {
                let Some(customer_id) = event.customer_id else {
                    continue;
                };
                by_workspace
                    .entry(event.workspace_id)
                    .or_default()
                    .push(goal_event(event, customer_id));
            }
            for (workspace_id, events) in by_workspace {
                record_conversions(txn, Tenant::new(workspace_id), &events).await?;
            }
            Ok(())
        })
    }
}

fn goal_event(event: &domain_event::Model, customer_id: Uuid) -> GoalEvent<'_> {
    let data = &event.data;
    GoalEvent {
        customer_id,
        event_type: &event.event_type,
        product_id: data
            .get("productId")
            .and_then(Value::as_str)
            .and_then(|id| Uuid::parse_str(id).ok()),
        amount: data
            .get("amount")
            .and_then(Value::as_str)
            .and_then(|amount| amount.parse::<Decimal>().ok()),
        occurred_at: event.occurred_at,
    }
}
