//! Automation rules reacting to domain events: each event trigger's rules
//! meet the customer the event is about, with the product, module and
//! purchase it names; a purchase paid withdraws the recovery items it made
//! pointless.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::Tenant;
use entity::dispatch::rules::Paid;
use entity::entities::{customer, domain_event, enrollment, module, product, transaction};
use futures::future::BoxFuture;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, QueryFilter, QuerySelect};
use serde_json::Value;
use uuid::Uuid;
use workflow::DomainEventType;
use workflow::automation::Trigger;

use super::firing::{Firing, Purchase, Subject, spec_of};
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
        withdraw_paid(txn, tenant, events, now).await?;
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
            let fired: Vec<&domain_event::Model> = events
                .iter()
                .copied()
                .filter(|e| Trigger::for_event(&e.event_type) == Some(spec.trigger))
                .collect();
            let subjects = subjects_of(txn, tenant, &fired).await?;
            if subjects.is_empty() {
                continue;
            }
            let firing = Firing::prepare(txn, &self.secrets, rule, &spec, now).await?;
            firing.meet(txn, &subjects).await?;
        }
        Ok(())
    }
}

/// Purchases approved (and billets paid) withdraw the pending recovery
/// items of those purchases and the abandoned carts of those products.
async fn withdraw_paid(
    txn: &DatabaseTransaction,
    tenant: Tenant,
    events: &[&domain_event::Model],
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    let paid_types = [
        DomainEventType::PurchaseApproved.as_str(),
        DomainEventType::SaleRecovered.as_str(),
    ];
    let paid: Vec<Paid> = events
        .iter()
        .filter(|e| paid_types.contains(&e.event_type.as_str()))
        .filter_map(|e| {
            Some(Paid {
                customer_id: e.customer_id?,
                transaction_code: e
                    .data
                    .get("transaction")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                product_id: uuid_at(&e.data, "productId"),
            })
        })
        .collect();
    entity::dispatch::rules::cancel_paid(txn, tenant, &paid, now).await?;
    Ok(())
}

fn uuid_at(data: &Value, key: &str) -> Option<Uuid> {
    data.get(key)
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
}

/// The customers, products, modules and purchases the events are about,
/// read a kind at a time for the whole batch. An event yields no subject
/// when there is nothing to act on: the customer is gone, a billet already
/// paid, a renewal of a subscription rather than a first purchase.
async fn subjects_of<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    events: &[&domain_event::Model],
) -> Result<Vec<Subject>, entity::Error> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let customer_ids: Vec<Uuid> = events.iter().filter_map(|e| e.customer_id).collect();
    let product_ids: Vec<Uuid> = events
        .iter()
        .filter_map(|e| uuid_at(&e.data, "productId"))
        .collect();
    let module_ids: Vec<Uuid> = events
        .iter()
        .filter_map(|e| uuid_at(&e.data, "moduleId"))
        .collect();
    let codes: Vec<&str> = events
        .iter()
        .filter_map(|e| e.data.get("transaction").and_then(Value::as_str))
        .collect();
    let customers = tenant
        .by_ids::<customer::Entity, _>(db, &customer_ids)
        .await?;
    let products = tenant
        .by_ids::<product::Entity, _>(db, &product_ids)
        .await?;
    let modules = tenant.by_ids::<module::Entity, _>(db, &module_ids).await?;
    let purchases: HashMap<String, Purchase> = if codes.is_empty() {
        HashMap::new()
    } else {
        tenant
            .select::<transaction::Entity>()
            .select_only()
            .columns(Purchase::COLUMNS)
            .filter(transaction::Column::Code.is_in(codes))
            .into_model::<Purchase>()
            .all(db)
            .await?
            .into_iter()
            .map(|p| (p.code.clone(), p))
            .collect()
    };
    let enrollments: HashMap<(Uuid, Uuid), enrollment::Model> = if product_ids.is_empty() {
        HashMap::new()
    } else {
        tenant
            .select::<enrollment::Entity>()
            .filter(enrollment::Column::CustomerId.is_in(customer_ids))
            .filter(enrollment::Column::ProductId.is_in(product_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|e| ((e.customer_id, e.product_id), e))
            .collect()
    };
    let mut subjects = Vec::with_capacity(events.len());
    for event in events {
        let Some(customer) = event.customer_id.and_then(|id| customers.get(&id)) else {
            continue;
        };
        let data = &event.data;
        let purchase = data
            .get("transaction")
            .and_then(Value::as_str)
            .and_then(|code| purchases.get(code));
        match (event.event_type.as_str(), purchase) {
            // A renewal is not a new purchase: the welcome is for the first one.
            ("purchase_approved", Some(t)) if t.recurrence_number.is_some_and(|n| n > 1) => {
                continue;
            }
            // A billet paid by the time its event is handled needs no recovery.
            ("billet_printed", Some(t)) if t.approved_at.is_some() => continue,
            _ => {}
        }
        let product = uuid_at(data, "productId").and_then(|id| products.get(&id));
        let mut subject = Subject::of(customer.clone());
        subject.enrollment = product
            .and_then(|p| enrollments.get(&(customer.id, p.id)))
            .cloned();
        subject.product = product.cloned();
        subject.module = uuid_at(data, "moduleId").and_then(|id| modules.get(&id).cloned());
        subject.purchase = purchase.cloned();
        subjects.push(subject);
    }
    Ok(subjects)
}
