//! Purchases: transactions and their status changes, abandoned carts and
//! fulfilled orders.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::Tenant;
use entity::domain_events::{self};
use entity::entities::{customer, offer, product, subscription};
use entity::{
    catalog,
    customers::{self, PersonFacts, Sighting},
    enrollments, lifetime_value,
    subscriptions::{self, SubscriptionFacts},
    transactions::{self, TransactionFacts},
};
use rust_decimal::Decimal;
use sea_orm::ConnectionTrait;
use serde_json::json;
use uuid::Uuid;
use workflow::DomainEventType;

use entity::hotmart::{CartAbandoned, EventKind, OrderFulfillment, Purchase, PurchaseStatus};

use super::*;

/// The domain event a purchase status change records.
fn purchase_event_type(status: &PurchaseStatus) -> Option<DomainEventType> {
    Some(match status {
        PurchaseStatus::Approved => DomainEventType::PurchaseApproved,
        PurchaseStatus::Complete => DomainEventType::PurchaseCompleted,
        PurchaseStatus::Refunded | PurchaseStatus::PartiallyRefunded => {
            DomainEventType::PurchaseRefunded
        }
        PurchaseStatus::Chargeback => DomainEventType::PurchaseChargeback,
        PurchaseStatus::Protested => DomainEventType::PurchaseProtested,
        PurchaseStatus::Cancelled => DomainEventType::PurchaseCancelled,
        PurchaseStatus::Expired => DomainEventType::PurchaseExpired,
        PurchaseStatus::PrintedBillet | PurchaseStatus::WaitingPayment => {
            DomainEventType::BilletPrinted
        }
        PurchaseStatus::Overdue => DomainEventType::PaymentDelayed,
        _ => return None,
    })
}

/// When the purchase was seen at Hotmart: its event date, else its dates.
fn seen_at_of(purchase: &Purchase) -> Option<DateTime<Utc>> {
    purchase
        .occurred_at
        .or(purchase.approved_date)
        .or(purchase.order_date)
}

/// The nine PURCHASE_* events (and a sale from the sales history).
pub async fn apply_purchase<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    purchase: &Purchase,
    source: Source,
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    apply_purchases(db, tenant, &[(purchase, source)], now).await
}

/// Purchases of one workspace, in order, applied as one batch with the
/// effects of applying them one by one: the batch's customers are written
/// with one statement, its transactions, enrollments, lifetime values and
/// domain events with one or two each, and each distinct product and offer
/// is looked up once. A launch day's postbacks cost a few statements a batch
/// instead of a dozen each.
pub async fn apply_purchases<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    purchases: &[(&Purchase, Source)],
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    let seen: Vec<Option<DateTime<Utc>>> = purchases.iter().map(|(p, _)| seen_at_of(p)).collect();
    let kept = kept_by_batch(purchases);
    let people: Vec<Sighting> = purchases
        .iter()
        .zip(&seen)
        .zip(kept)
        .map(|(((purchase, _), seen_at), kept)| Sighting {
            person: PersonFacts {
                email: purchase.buyer.email.clone(),
                name: purchase.buyer.name.clone(),
                phone: purchase.buyer.phone.clone(),
                document: purchase.buyer.document.clone(),
                document_type: purchase.buyer.document_type.clone(),
                hotmart_ucode: None,
            },
            seen_at: *seen_at,
            kept,
        })
        .collect();
    let customers = customers::upsert_customers(db, tenant, &people, now).await?;

    let mut products: HashMap<String, product::Model> = HashMap::new();
    let mut offers: HashMap<(Uuid, String), offer::Model> = HashMap::new();
    let mut transactions = Vec::with_capacity(purchases.len());
    let mut bought: Vec<Option<product::Model>> = Vec::with_capacity(purchases.len());
    for (((purchase, _), seen_at), customer) in purchases.iter().zip(&seen).zip(&customers) {
        let seen_at = *seen_at;
        let product = match &purchase.product.hotmart_id {
            Some(hotmart_id) => {
                let known = products.get(hotmart_id);
                // Looked up again only when this sale names what is still unknown.
                let learns = known.is_none_or(|p| {
                    (p.name.starts_with("Hotmart product ") && purchase.product.name.is_some())
                        || (p.ucode.is_none() && purchase.product.ucode.is_some())
                });
                if learns
                    && let Some(found) = product_of(db, tenant, &purchase.product, now).await?
                {
                    products.insert(hotmart_id.clone(), found);
                }
                products.get(hotmart_id).cloned()
            }
            None => None,
        };
        let offer = match (&product, &purchase.offer_code) {
            (Some(product), Some(code)) => {
                let key = (product.id, code.clone());
                if !offers.contains_key(&key) {
                    let found = catalog::upsert_offer(
                        db,
                        tenant,
                        product.id,
                        code,
                        purchase.amount,
                        purchase.currency.as_deref(),
                        now,
                    )
                    .await?;
                    offers.insert(key.clone(), found);
                }
                offers.get(&key).cloned()
            }
            _ => None,
        };
        let subscription = match purchase
            .subscription
            .as_ref()
            .and_then(|s| s.subscriber_code.clone().map(|code| (s, code)))
        {
            Some((details, code)) => {
                let mut status = details.status.as_ref().map(|s| s.as_str().to_owned());
                if purchase.kind == EventKind::PurchaseDelayed {
                    status = Some("DELAYED".to_owned());
                }
                let facts = SubscriptionFacts {
                    subscriber_code: code,
                    status,
                    status_at: seen_at,
                    product_id: product.as_ref().map(|p| p.id),
                    plan_id: details.plan_id.clone(),
                    plan_name: details.plan_name.clone(),
                    started_at: (purchase.recurrence_number == Some(1))
                        .then_some(purchase.approved_date.or(purchase.order_date))
                        .flatten(),
                    recurring_amount: purchase.amount,
                    currency: purchase.currency.clone(),
                    ..SubscriptionFacts::default()
                };
                Some(
                    subscriptions::record_subscription(db, tenant, customer.id, &facts, now)
                        .await?
                        .subscription,
                )
            }
            None => None,
        };
        let facts = transaction_facts(
            purchase,
            seen_at,
            product.as_ref(),
            offer.as_ref(),
            subscription.as_ref(),
        );
        transactions.push((customer.id, facts));
        bought.push(product);
    }
    let changes = transactions::record_transactions(db, tenant, &transactions, now).await?;
    let refreshes: Vec<_> = purchases
        .iter()
        .zip(&customers)
        .zip(&bought)
        .filter_map(|(((purchase, _), customer), product)| {
            product
                .as_ref()
                .map(|p| (customer.id, p.id, purchase.approved_date))
        })
        .collect();
    enrollments::refresh_enrollments(db, tenant, &refreshes, now).await?;
    let mut paying: Vec<Uuid> = customers.iter().map(|c| c.id).collect();
    paying.sort_unstable();
    paying.dedup();
    lifetime_value::recompute_ltv(db, tenant, &paying).await?;

    let mut events = Vec::new();
    for ((((purchase, source), seen_at), customer), (product, change)) in purchases
        .iter()
        .zip(&seen)
        .zip(&customers)
        .zip(bought.iter().zip(&changes))
    {
        for happened in purchase_happened(purchase, *seen_at, customer, product.as_ref(), change) {
            events.push(happened.into_event(*source, now));
        }
    }
    domain_events::record_many(db, tenant, events, now).await?;
    Ok(())
}

/// What each purchase of the batch keeps for its buyer: its amount when it
/// is the batch's last word on its transaction and leaves it approved or
/// complete, else zero. A new buyer's lifetime value starts there; the
/// recount from the stored transactions has the final say.
fn kept_by_batch(purchases: &[(&Purchase, Source)]) -> Vec<Decimal> {
    let mut last_word: HashMap<&str, usize> = HashMap::new();
    for (i, (purchase, _)) in purchases.iter().enumerate() {
        last_word.insert(purchase.transaction.as_str(), i);
    }
    purchases
        .iter()
        .enumerate()
        .map(|(i, (purchase, _))| {
            let decides = last_word.get(purchase.transaction.as_str()) == Some(&i);
            match purchase.amount {
                Some(amount) if decides && purchase.status.is_revenue() => amount,
                _ => Decimal::ZERO,
            }
        })
        .collect()
}

/// What a source says about the purchase's transaction.
fn transaction_facts(
    purchase: &Purchase,
    seen_at: Option<DateTime<Utc>>,
    product: Option<&product::Model>,
    offer: Option<&offer::Model>,
    subscription: Option<&subscription::Model>,
) -> TransactionFacts {
    TransactionFacts {
        code: purchase.transaction.clone(),
        status: Some(purchase.status.as_str().to_owned()),
        status_at: seen_at,
        product_id: product.as_ref().map(|p| p.id),
        offer_id: offer.as_ref().map(|o| o.id),
        subscription_id: subscription.as_ref().map(|s| s.id),
        amount: purchase.amount,
        currency: purchase.currency.clone(),
        payment_method: purchase
            .payment_type
            .clone()
            .or_else(|| purchase.payment_method.clone()),
        installments: purchase.installments.and_then(|i| i32::try_from(i).ok()),
        purchased_at: purchase.order_date,
        approved_at: purchase
            .approved_date
            .filter(|_| purchase.status.is_revenue() || purchase.status.is_reversal()),
        refunded_at: purchase.status.is_reversal().then_some(seen_at).flatten(),
        warranty_ends_at: purchase.product.warranty_ends_at,
        billet_url: purchase
            .billet_url
            .clone()
            .or_else(|| purchase.billet_barcode.clone()),
        pix_code: purchase
            .pix_code
            .clone()
            .or_else(|| purchase.pix_url.clone()),
        src: purchase.origin.src.clone(),
        sck: purchase.origin.sck.clone(),
        xcod: purchase.origin.xcod.clone(),
        commission_type: purchase.commission_type.clone(),
        recurrence_number: purchase
            .recurrence_number
            .and_then(|n| i32::try_from(n).ok()),
    }
}

/// The subscription a purchase charges, if it is of a subscription product.
fn subscriber_code(purchase: &Purchase) -> Option<&str> {
    purchase
        .subscription
        .as_ref()
        .and_then(|s| s.subscriber_code.as_deref())
}

/// The domain events one applied purchase records; their `data` holds the
/// purchase's key (transaction, product, offer, subscription), which
/// journeys started by them carry and match on.
fn purchase_happened(
    purchase: &Purchase,
    seen_at: Option<DateTime<Utc>>,
    customer: &customer::Model,
    product: Option<&product::Model>,
    change: &transactions::TransactionChange,
) -> Vec<Happened> {
    let mut happened = Vec::new();
    if !change.status_changed {
        // A billet event arriving after the payment it led to: the sale was
        // still recovered, whatever order the events came in.
        let incoming = &purchase.status;
        let paid = PurchaseStatus::parse(&change.transaction.status);
        let earlier_than_payment = match (seen_at, change.transaction.last_event_at) {
            (Some(billet_at), Some(paid_at)) => billet_at < paid_at,
            _ => false,
        };
        if matches!(
            incoming,
            PurchaseStatus::PrintedBillet | PurchaseStatus::WaitingPayment
        ) && paid.is_revenue()
            && earlier_than_payment
        {
            let data = json!({"transaction": change.transaction.code, "status": paid.as_str(), "productId": product.as_ref().map(|p| p.id), "offerCode": purchase.offer_code, "subscriberCode": subscriber_code(purchase)});
            for event_type in [
                DomainEventType::BilletPrinted,
                DomainEventType::SaleRecovered,
            ] {
                let key = format!("transaction:{}:{event_type}", change.transaction.code);
                let at = if event_type == DomainEventType::BilletPrinted {
                    seen_at
                } else {
                    change.transaction.last_event_at
                };
                happened.push(Happened {
                    customer_id: Some(customer.id),
                    event_type,
                    dedupe_key: key,
                    occurred_at: at,
                    data: data.clone(),
                });
            }
        }
        return happened;
    }
    let stored = PurchaseStatus::parse(&change.transaction.status);
    let data = json!({
        "transaction": change.transaction.code,
        "status": stored.as_str(),
        "previousStatus": change.previous_status,
        "productId": product.as_ref().map(|p| p.id),
        "offerCode": purchase.offer_code,
        "subscriberCode": subscriber_code(purchase),
        "amount": change.transaction.amount.to_string(),
        "currency": change.transaction.currency,
        "recurrenceNumber": change.transaction.recurrence_number,
    });
    if let Some(event_type) = purchase_event_type(&stored) {
        let key = format!("transaction:{}:{event_type}", change.transaction.code);
        happened.push(Happened {
            customer_id: Some(customer.id),
            event_type,
            dedupe_key: key,
            occurred_at: seen_at,
            data: data.clone(),
        });
    }
    let was_pending = change.previous_status.as_deref().is_some_and(|s| {
        matches!(
            PurchaseStatus::parse(s),
            PurchaseStatus::PrintedBillet | PurchaseStatus::WaitingPayment
        )
    });
    if stored.is_revenue() && was_pending {
        let key = format!("transaction:{}:sale_recovered", change.transaction.code);
        happened.push(Happened {
            customer_id: Some(customer.id),
            event_type: DomainEventType::SaleRecovered,
            dedupe_key: key,
            occurred_at: seen_at,
            data,
        });
    }
    happened
}

pub async fn apply_cart_abandoned<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    cart: &CartAbandoned,
    source: Source,
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    let person = PersonFacts {
        email: cart.buyer.email.clone(),
        name: cart.buyer.name.clone(),
        phone: cart.buyer.phone.clone(),
        ..PersonFacts::default()
    };
    let customer = customers::upsert_customer(db, tenant, &person, cart.occurred_at, now).await?;
    let product = product_of(db, tenant, &cart.product, now).await?;
    let data = json!({"productId": product.as_ref().map(|p| p.id), "offerCode": cart.offer_code});
    let key = source.delivery_key(&format!("cart:{}:{:?}", customer.id, cart.occurred_at));
    emit(
        db,
        tenant,
        source,
        Happened {
            customer_id: Some(customer.id),
            event_type: DomainEventType::CartAbandoned,
            dedupe_key: format!("{key}:cart_abandoned"),
            occurred_at: cart.occurred_at,
            data,
        },
        now,
    )
    .await
}

pub async fn apply_order_fulfillment<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    event: &OrderFulfillment,
    source: Source,
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    let customer = match &event.email {
        Some(email) => Some(
            customers::upsert_customer(
                db,
                tenant,
                &PersonFacts {
                    email: email.clone(),
                    ..PersonFacts::default()
                },
                event.occurred_at,
                now,
            )
            .await?,
        ),
        None => None,
    };
    let product = product_of(db, tenant, &event.product, now).await?;
    let data = json!({"transaction": event.transaction, "productId": product.map(|p| p.id)});
    let key = format!(
        "{}:order_fulfilled",
        source.delivery_key(&format!("{:?}", event.transaction))
    );
    emit(
        db,
        tenant,
        source,
        Happened {
            customer_id: customer.map(|c| c.id),
            event_type: DomainEventType::OrderFulfilled,
            dedupe_key: key,
            occurred_at: event.occurred_at,
            data,
        },
        now,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn purchase(event: &str, status: &str, transaction: &str, price: f64) -> Purchase {
        let body = json!({
            "id": Uuid::new_v4().to_string(),
            "creation_date": 1_717_171_717_000_i64,
            "event": event,
            "version": "2.0.0",
            "data": {
                "product": {"id": 3_526_906, "name": "Curso de Confeitaria"},
                "buyer": {"email": "bia@exemplo.com", "name": "Bia"},
                "purchase": {
                    "transaction": transaction,
                    "status": status,
                    "price": {"value": price, "currency_value": "BRL"}
                }
            }
        });
        let envelope = entity::hotmart::parse_envelope(body.to_string().as_bytes())
            .expect("a postback shaped as Hotmart sends it");
        match entity::hotmart::decode(&envelope).expect("decodes") {
            entity::hotmart::HotmartEvent::Purchase(p) => *p,
            other => panic!("expected a purchase, got {other:?}"),
        }
    }

    fn kept(batch: &[Purchase]) -> Vec<Value> {
        let batch: Vec<(&Purchase, Source)> = batch.iter().map(|p| (p, Source::Sync)).collect();
        kept_by_batch(&batch)
            .into_iter()
            .map(|d| json!(d.normalize().to_string()))
            .collect()
    }

    #[test]
    fn a_batch_keeps_what_its_last_word_on_each_purchase_keeps() {
        let batch = [
            purchase("PURCHASE_APPROVED", "APPROVED", "HP1", 497.0),
            purchase("PURCHASE_APPROVED", "APPROVED", "HP2", 49.9),
            purchase("PURCHASE_REFUNDED", "REFUNDED", "HP1", 497.0),
            purchase("PURCHASE_BILLET_PRINTED", "BILLET_PRINTED", "HP3", 89.0),
            purchase("PURCHASE_COMPLETE", "COMPLETE", "HP2", 49.9),
        ];
        assert_eq!(
            kept(&batch),
            vec![
                json!("0"),
                json!("0"),
                json!("0"),
                json!("0"),
                json!("49.9")
            ],
            "the refund takes back HP1, the billet is unpaid, HP2 counts once"
        );
        let paid_billet = [
            purchase("PURCHASE_BILLET_PRINTED", "BILLET_PRINTED", "HP3", 89.0),
            purchase("PURCHASE_APPROVED", "APPROVED", "HP3", 89.0),
        ];
        assert_eq!(kept(&paid_billet), vec![json!("0"), json!("89")]);
    }
}
