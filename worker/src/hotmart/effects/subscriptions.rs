//! Subscriptions: cancellations, plan switches and new charge dates.

use chrono::{DateTime, Utc};
use entity::Tenant;
use entity::entities::{customer, subscription};
use entity::{
    customers::{self, PersonFacts},
    enrollments,
    subscriptions::{self, SubscriptionFacts},
};
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter};
use serde_json::json;
use workflow::DomainEventType;

use entity::hotmart::{ChargeDateChanged, PlanSwitched, Subscriber, SubscriptionCancelled};

use super::*;

/// The customer a subscription event is about: by e-mail, else by the
/// subscriber code we already know.
async fn subscriber_customer<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    subscriber: &Subscriber,
    seen_at: Option<DateTime<Utc>>,
    event: &str,
    now: DateTime<Utc>,
) -> Result<customer::Model, entity::Error> {
    let (code, email, name, phone) = (
        &subscriber.code,
        subscriber.email.as_deref(),
        subscriber.name.as_ref(),
        subscriber.phone.as_ref(),
    );
    if let Some(email) = email {
        let person = PersonFacts {
            email: email.to_owned(),
            name: name.cloned(),
            phone: phone.cloned(),
            ..PersonFacts::default()
        };
        return customers::upsert_customer(db, tenant, &person, seen_at, now).await;
    }
    let known = tenant
        .select::<subscription::Entity>()
        .filter(subscription::Column::SubscriberCode.eq(code.as_str()))
        .one(db)
        .await?;
    let Some(subscription) = known else {
        return Err(entity::Error::Invalid(format!(
            "{event} for an unknown subscriber without e-mail"
        )));
    };
    let known_customer = tenant
        .get::<customer::Entity, _>(db, subscription.customer_id)
        .await?;
    // Known by code: still learn what this event says about them.
    let person = PersonFacts {
        email: known_customer.email.clone(),
        name: name.cloned(),
        phone: phone.cloned(),
        ..PersonFacts::default()
    };
    customers::upsert_customer(db, tenant, &person, seen_at, now).await
}

pub async fn apply_subscription_cancelled<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    event: &SubscriptionCancelled,
    source: Source,
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    let subscriber = &event.subscriber;
    let customer = subscriber_customer(
        db,
        tenant,
        subscriber,
        event.occurred_at,
        "a cancellation",
        now,
    )
    .await?;
    let product = product_of(db, tenant, &event.product, now).await?;
    let facts = SubscriptionFacts {
        subscriber_code: subscriber.code.clone(),
        // The postback does not say who cancelled; Hotmart sends it when the subscriber does.
        status: Some("CANCELLED_BY_CUSTOMER".to_owned()),
        status_at: event.occurred_at.or(event.cancellation_date),
        product_id: product.as_ref().map(|p| p.id),
        hotmart_subscription_id: event.subscription_id.clone(),
        plan_id: event.plan.as_ref().and_then(|p| p.id.clone()),
        plan_name: event.plan.as_ref().and_then(|p| p.name.clone()),
        cancelled_at: event.cancellation_date.or(event.occurred_at),
        recurring_amount: event.actual_recurrence_value,
        ..SubscriptionFacts::default()
    };
    let change = subscriptions::record_subscription(db, tenant, customer.id, &facts, now).await?;
    let product_id = product.map(|p| p.id).or(change.subscription.product_id);
    if let Some(product_id) = product_id {
        // Access runs until the end of the period already paid for.
        enrollments::set_access_end(
            db,
            tenant,
            customer.id,
            product_id,
            event.date_next_charge.or(event.cancellation_date),
            None,
            now,
        )
        .await?;
    }
    if change.status_changed {
        let data = json!({"subscriberCode": subscriber.code, "productId": product_id, "accessEndsAt": event.date_next_charge});
        let key = format!("subscription:{}:subscription_cancelled", subscriber.code);
        emit(
            db,
            tenant,
            source,
            Happened {
                customer_id: Some(customer.id),
                event_type: DomainEventType::SubscriptionCancelled,
                dedupe_key: key,
                occurred_at: event.occurred_at.or(event.cancellation_date),
                data,
            },
            now,
        )
        .await?;
    }
    Ok(())
}

pub async fn apply_plan_switched<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    event: &PlanSwitched,
    source: Source,
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    let subscriber = &event.subscriber;
    let seen_at = event.occurred_at.or(event.switched_at);
    let customer =
        subscriber_customer(db, tenant, subscriber, seen_at, "a plan switch", now).await?;
    let product = product_of(db, tenant, &event.product, now).await?;
    let facts = SubscriptionFacts {
        subscriber_code: subscriber.code.clone(),
        status: event.status.as_ref().map(|s| s.as_str().to_owned()),
        status_at: seen_at,
        product_id: product.as_ref().map(|p| p.id),
        plan_id: event.new_plan.as_ref().and_then(|p| p.id.clone()),
        plan_name: event.new_plan.as_ref().and_then(|p| p.name.clone()),
        next_charge_at: event.date_next_charge,
        ..SubscriptionFacts::default()
    };
    subscriptions::record_subscription(db, tenant, customer.id, &facts, now).await?;
    let data = json!({"subscriberCode": subscriber.code, "planId": facts.plan_id, "planName": facts.plan_name});
    let key = format!(
        "{}:plan_switched",
        source.delivery_key(&format!("{}:{:?}", subscriber.code, seen_at))
    );
    emit(
        db,
        tenant,
        source,
        Happened {
            customer_id: Some(customer.id),
            event_type: DomainEventType::PlanSwitched,
            dedupe_key: key,
            occurred_at: seen_at,
            data,
        },
        now,
    )
    .await
}

pub async fn apply_charge_date_changed<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    event: &ChargeDateChanged,
    source: Source,
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    let subscriber = &event.subscriber;
    let customer = subscriber_customer(
        db,
        tenant,
        subscriber,
        event.occurred_at,
        "a charge-date change",
        now,
    )
    .await?;
    let product = product_of(db, tenant, &event.product, now).await?;
    let facts = SubscriptionFacts {
        subscriber_code: subscriber.code.clone(),
        status: event.status.as_ref().map(|s| s.as_str().to_owned()),
        status_at: event.occurred_at,
        product_id: product.as_ref().map(|p| p.id),
        plan_id: event.plan.as_ref().and_then(|p| p.id.clone()),
        plan_name: event.plan.as_ref().and_then(|p| p.name.clone()),
        next_charge_at: event.date_next_charge,
        ..SubscriptionFacts::default()
    };
    subscriptions::record_subscription(db, tenant, customer.id, &facts, now).await?;
    let data = json!({"subscriberCode": subscriber.code, "newChargeDay": event.new_charge_day, "oldChargeDay": event.old_charge_day, "nextChargeAt": event.date_next_charge});
    let key = format!(
        "{}:charge_date_changed",
        source.delivery_key(&format!("{}:{:?}", subscriber.code, event.date_next_charge))
    );
    emit(
        db,
        tenant,
        source,
        Happened {
            customer_id: Some(customer.id),
            event_type: DomainEventType::ChargeDateChanged,
            dedupe_key: key,
            occurred_at: event.occurred_at,
            data,
        },
        now,
    )
    .await
}
