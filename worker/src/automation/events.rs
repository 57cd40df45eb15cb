//! Automation rules reacting to domain events: each event trigger's rules
//! meet the customer the event is about, with the product, module and
//! purchase it names; a purchase paid withdraws the recovery items it made
//! pointless.

use chrono::{DateTime, Utc};
use entity::Tenant;
use entity::entities::{customer, domain_event, enrollment, module, product, transaction};
use futures::future::BoxFuture;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, QueryFilter};
use serde_json::Value;
use uuid::Uuid;
use workflow::DomainEventType;
use workflow::automation::Trigger;

use super::firing::{Firing, Subject, spec_of};
use crate::domain_events::{DomainEventConsumer, about_customers_by_workspace};

/// The domain-event consumer that fires automation rules.
pub struct AutomationRules {
    pub secrets: entity::SecretKey,
}

impl DomainEventConsumer for AutomationRules {
    fn name(&self) -> &'static str {
        "automation_rules"
    }

    fn handle<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        events: &'a [&'a domain_event::Model],
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), entity::Error>> {
        Box::pin(async move {
            for (workspace_id, events) in about_customers_by_workspace(events) {
                self.handle_workspace(txn, Tenant::new(workspace_id), &events, now)
                    .await?;
            }
            Ok(())
        })
    }
}

impl AutomationRules {
    async fn handle_workspace(
        &self,
        txn: &DatabaseTransaction,
        tenant: Tenant,
        events: &[&domain_event::Model],
        now: DateTime<Utc>,
    ) -> Result<(), entity::Error> {
        for event in events {
            withdraw_paid(txn, tenant, event, now).await?;
        }
        let triggers: Vec<&str> = events
            .iter()
            .filter_map(|e| Trigger::for_event(&e.event_type))
            .map(Trigger::as_str)
            .collect();
        if triggers.is_empty() {
            return Ok(());
        }
        let rules = entity::automation::active_rules(txn, tenant, &triggers).await?;
        for rule in &rules {
            let Some(spec) = spec_of(rule) else { continue };
            let mut subjects = Vec::new();
            for event in events
                .iter()
                .filter(|e| Trigger::for_event(&e.event_type) == Some(spec.trigger))
            {
                if let Some(subject) = subject_of(txn, tenant, event).await? {
                    subjects.push(subject);
                }
            }
            if subjects.is_empty() {
                continue;
            }
            let firing = Firing::prepare(txn, &self.secrets, rule, &spec, now).await?;
            firing.meet(txn, &subjects).await?;
        }
        Ok(())
    }
}

/// A purchase approved (or a billet paid) withdraws the pending recovery
/// items of that purchase and the abandoned carts of that product.
async fn withdraw_paid(
    txn: &DatabaseTransaction,
    tenant: Tenant,
    event: &domain_event::Model,
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    let paid = [
        DomainEventType::PurchaseApproved.as_str(),
        DomainEventType::SaleRecovered.as_str(),
    ];
    let Some(customer_id) = event.customer_id else {
        return Ok(());
    };
    if !paid.contains(&event.event_type.as_str()) {
        return Ok(());
    }
    let code = event.data.get("transaction").and_then(Value::as_str);
    let product = uuid_at(&event.data, "productId");
    entity::dispatch::rules::cancel_paid(txn, tenant, customer_id, code, product, now).await?;
    Ok(())
}

fn uuid_at(data: &Value, key: &str) -> Option<Uuid> {
    data.get(key)
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
}

/// The customer, product, module and purchase an event is about; `None`
/// when there is nothing to act on (the customer is gone, a billet already
/// paid, a renewal of a subscription rather than a first purchase).
async fn subject_of<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    event: &domain_event::Model,
) -> Result<Option<Subject>, entity::Error> {
    let Some(customer_id) = event.customer_id else {
        return Ok(None);
    };
    let Some(customer) = tenant
        .select::<customer::Entity>()
        .filter(customer::Column::Id.eq(customer_id))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let data = &event.data;
    let product = match uuid_at(data, "productId") {
        Some(id) => {
            tenant
                .select::<product::Entity>()
                .filter(product::Column::Id.eq(id))
                .one(db)
                .await?
        }
        None => None,
    };
    let module = match uuid_at(data, "moduleId") {
        Some(id) => {
            tenant
                .select::<module::Entity>()
                .filter(module::Column::Id.eq(id))
                .one(db)
                .await?
        }
        None => None,
    };
    let transaction = match data.get("transaction").and_then(Value::as_str) {
        Some(code) => {
            tenant
                .select::<transaction::Entity>()
                .filter(transaction::Column::Code.eq(code))
                .one(db)
                .await?
        }
        None => None,
    };
    match (event.event_type.as_str(), &transaction) {
        // A renewal is not a new purchase: the welcome is for the first one.
        ("purchase_approved", Some(t)) if t.recurrence_number.is_some_and(|n| n > 1) => {
            return Ok(None);
        }
        // A billet paid by the time its event is handled needs no recovery.
        ("billet_printed", Some(t)) if t.approved_at.is_some() => return Ok(None),
        _ => {}
    }
    let enrollment = match &product {
        Some(product) => {
            tenant
                .select::<enrollment::Entity>()
                .filter(enrollment::Column::CustomerId.eq(customer.id))
                .filter(enrollment::Column::ProductId.eq(product.id))
                .one(db)
                .await?
        }
        None => None,
    };
    let mut subject = Subject::of(customer);
    subject.product = product;
    subject.module = module;
    subject.transaction = transaction;
    subject.enrollment = enrollment;
    Ok(Some(subject))
}
