//! Applies Hotmart's facts to the domain. One function per effect, used by
//! both sources: webhooks (through `applier`) and the API sync.
//!
//! Every function is idempotent and order-tolerant: applying the same facts
//! twice changes nothing, and a stale fact arriving late never undoes a newer
//! state (statuses only move up the precedence of `PurchaseStatus`). Each
//! state change records a domain event whose dedupe key names the change, so
//! a webhook and a sync reporting the same change record it once.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use entity::Tenant;
use entity::commerce::{self, PersonFacts, ProductFacts, SubscriptionFacts, TransactionFacts};
use entity::domain_events::{self, NewDomainEvent};
use entity::entities::{customer, lesson, offer, product, subscription, tracked_link};
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use uuid::Uuid;
use workflow::DomainEventType;

use entity::hotmart::{
    CartAbandoned, ChargeDateChanged, EventKind, FirstAccess, ModuleCompleted, OrderFulfillment,
    PlanSwitched, Product, Purchase, PurchaseStatus, Subscriber, SubscriptionCancelled,
};

/// How long after a click on one of our links a first access counts as ours.
pub const ATTRIBUTION_WINDOW: Duration = Duration::days(7);

/// Where a fact came from, for domain events' provenance.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    Webhook(Uuid),
    Sync,
}

impl Source {
    fn event_id(self) -> Option<Uuid> {
        match self {
            Source::Webhook(id) => Some(id),
            Source::Sync => None,
        }
    }

    /// A key unique to this delivery (for facts that have no natural identity).
    fn delivery_key(self, fallback: &str) -> String {
        match self {
            Source::Webhook(id) => format!("webhook:{id}"),
            Source::Sync => format!("sync:{fallback}"),
        }
    }
}

/// Whether `new` (dated `new_at`) replaces `current` (dated `current_at`).
pub fn supersedes(
    current: &str,
    current_at: Option<DateTime<Utc>>,
    new: &str,
    new_at: Option<DateTime<Utc>>,
) -> bool {
    let (current_rank, new_rank) = (
        PurchaseStatus::parse(current).precedence(),
        PurchaseStatus::parse(new).precedence(),
    );
    match new_rank.cmp(&current_rank) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => match (current_at, new_at) {
            (Some(current_at), Some(new_at)) => new_at > current_at,
            (None, Some(_)) => true,
            _ => false,
        },
    }
}

/// A state change to record as a domain event.
struct Happened {
    customer_id: Option<Uuid>,
    event_type: DomainEventType,
    /// Names the change itself, so every source reporting it records it once.
    dedupe_key: String,
    occurred_at: Option<DateTime<Utc>>,
    data: Value,
}

impl Happened {
    fn into_event(self, source: Source) -> NewDomainEvent {
        NewDomainEvent {
            customer_id: self.customer_id,
            event_type: self.event_type.as_str(),
            data: self.data,
            occurred_at: self.occurred_at.unwrap_or_else(Utc::now),
            source_event_id: source.event_id(),
            dedupe_key: self.dedupe_key,
        }
    }
}

async fn emit<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    source: Source,
    happened: Happened,
) -> Result<(), entity::Error> {
    domain_events::record(db, tenant, happened.into_event(source)).await?;
    Ok(())
}

async fn product_of<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    product: &Product,
) -> Result<Option<product::Model>, entity::Error> {
    let Some(hotmart_id) = &product.hotmart_id else {
        return Ok(None);
    };
    let facts = ProductFacts {
        hotmart_id: hotmart_id.clone(),
        ucode: product.ucode.clone(),
        name: product.name.clone(),
    };
    Ok(Some(commerce::upsert_product(db, tenant, &facts).await?))
}

/// Records the products and offers `purchases` name (listed in arrival
/// order), each product and then each offer in one fixed order, so that
/// transactions applying different customers' purchases side by side find
/// them in place instead of creating them each in its own order — which
/// would leave each waiting for a row the other has just inserted. What the
/// catalogue ends with is what applying the purchases one by one leaves.
pub async fn prepare_catalog<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    purchases: &[&Purchase],
) -> Result<(), entity::Error> {
    let mut products: BTreeMap<&str, ProductFacts> = BTreeMap::new();
    for purchase in purchases {
        let Some(hotmart_id) = &purchase.product.hotmart_id else {
            continue;
        };
        let facts = products
            .entry(hotmart_id.as_str())
            .or_insert_with(|| ProductFacts {
                hotmart_id: hotmart_id.clone(),
                ucode: None,
                name: None,
            });
        // The first sale to tell a name or a ucode is the one that records it.
        facts.name = facts.name.take().or_else(|| purchase.product.name.clone());
        facts.ucode = facts
            .ucode
            .take()
            .or_else(|| purchase.product.ucode.clone());
    }
    let mut recorded: HashMap<&str, product::Model> = HashMap::new();
    for (hotmart_id, facts) in &products {
        recorded.insert(
            hotmart_id,
            commerce::upsert_product(db, tenant, facts).await?,
        );
    }
    let mut offers: BTreeMap<(Uuid, &str), &Purchase> = BTreeMap::new();
    for purchase in purchases {
        let (Some(hotmart_id), Some(code)) = (&purchase.product.hotmart_id, &purchase.offer_code)
        else {
            continue;
        };
        if let Some(product) = recorded.get(hotmart_id.as_str()) {
            offers
                .entry((product.id, code.as_str()))
                .or_insert(purchase);
        }
    }
    for ((product_id, code), purchase) in offers {
        commerce::upsert_offer(
            db,
            tenant,
            product_id,
            code,
            purchase.amount,
            purchase.currency.as_deref(),
        )
        .await?;
    }
    Ok(())
}

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
) -> Result<(), entity::Error> {
    apply_purchases(db, tenant, &[(purchase, source)]).await
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
) -> Result<(), entity::Error> {
    let seen: Vec<Option<DateTime<Utc>>> = purchases.iter().map(|(p, _)| seen_at_of(p)).collect();
    let people: Vec<(PersonFacts, Option<DateTime<Utc>>)> = purchases
        .iter()
        .zip(&seen)
        .map(|((purchase, _), seen_at)| {
            let person = PersonFacts {
                email: purchase.buyer.email.clone(),
                name: purchase.buyer.name.clone(),
                phone: purchase.buyer.phone.clone(),
                document: purchase.buyer.document.clone(),
                document_type: purchase.buyer.document_type.clone(),
                hotmart_ucode: None,
            };
            (person, *seen_at)
        })
        .collect();
    let customers = commerce::upsert_customers(db, tenant, &people).await?;

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
                if learns && let Some(found) = product_of(db, tenant, &purchase.product).await? {
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
                    let found = commerce::upsert_offer(
                        db,
                        tenant,
                        product.id,
                        code,
                        purchase.amount,
                        purchase.currency.as_deref(),
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
                    commerce::record_subscription(db, tenant, customer.id, &facts)
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
    let changes = commerce::record_transactions(db, tenant, &transactions, supersedes).await?;
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
    commerce::refresh_enrollments(db, tenant, &refreshes).await?;
    let mut paying: Vec<Uuid> = customers.iter().map(|c| c.id).collect();
    paying.sort_unstable();
    paying.dedup();
    commerce::recompute_ltv(db, tenant, &paying).await?;

    let mut events = Vec::new();
    for ((((purchase, source), seen_at), customer), (product, change)) in purchases
        .iter()
        .zip(&seen)
        .zip(&customers)
        .zip(bought.iter().zip(&changes))
    {
        for happened in purchase_happened(purchase, *seen_at, customer, product.as_ref(), change) {
            events.push(happened.into_event(*source));
        }
    }
    domain_events::record_many(db, tenant, events).await?;
    Ok(())
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

/// The domain events one applied purchase records.
fn purchase_happened(
    purchase: &Purchase,
    seen_at: Option<DateTime<Utc>>,
    customer: &customer::Model,
    product: Option<&product::Model>,
    change: &commerce::TransactionChange,
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
            let data = json!({"transaction": change.transaction.code, "status": paid.as_str(), "productId": product.as_ref().map(|p| p.id)});
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
) -> Result<(), entity::Error> {
    let person = PersonFacts {
        email: cart.buyer.email.clone(),
        name: cart.buyer.name.clone(),
        phone: cart.buyer.phone.clone(),
        ..PersonFacts::default()
    };
    let customer = commerce::upsert_customer(db, tenant, &person, cart.occurred_at).await?;
    let product = product_of(db, tenant, &cart.product).await?;
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
    )
    .await
}

/// The customer a subscription event is about: by e-mail, else by the
/// subscriber code we already know.
async fn subscriber_customer<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    subscriber: &Subscriber,
    seen_at: Option<DateTime<Utc>>,
    event: &str,
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
        return commerce::upsert_customer(db, tenant, &person, seen_at).await;
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
    commerce::upsert_customer(db, tenant, &person, seen_at).await
}

pub async fn apply_subscription_cancelled<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    event: &SubscriptionCancelled,
    source: Source,
) -> Result<(), entity::Error> {
    let subscriber = &event.subscriber;
    let customer =
        subscriber_customer(db, tenant, subscriber, event.occurred_at, "a cancellation").await?;
    let product = product_of(db, tenant, &event.product).await?;
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
    let change = commerce::record_subscription(db, tenant, customer.id, &facts).await?;
    let product_id = product.map(|p| p.id).or(change.subscription.product_id);
    if let Some(product_id) = product_id {
        // Access runs until the end of the period already paid for.
        commerce::set_access_end(
            db,
            tenant,
            customer.id,
            product_id,
            event.date_next_charge.or(event.cancellation_date),
            None,
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
) -> Result<(), entity::Error> {
    let subscriber = &event.subscriber;
    let seen_at = event.occurred_at.or(event.switched_at);
    let customer = subscriber_customer(db, tenant, subscriber, seen_at, "a plan switch").await?;
    let product = product_of(db, tenant, &event.product).await?;
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
    commerce::record_subscription(db, tenant, customer.id, &facts).await?;
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
    )
    .await
}

pub async fn apply_charge_date_changed<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    event: &ChargeDateChanged,
    source: Source,
) -> Result<(), entity::Error> {
    let subscriber = &event.subscriber;
    let customer = subscriber_customer(
        db,
        tenant,
        subscriber,
        event.occurred_at,
        "a charge-date change",
    )
    .await?;
    let product = product_of(db, tenant, &event.product).await?;
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
    commerce::record_subscription(db, tenant, customer.id, &facts).await?;
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
    )
    .await
}

/// What brought a first access: a click on one of our tracked links shortly
/// before it, or else Hotmart's own access e-mail.
async fn first_access_origin<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customer_id: Uuid,
    at: DateTime<Utc>,
) -> Result<&'static str, entity::Error> {
    let clicked = tenant
        .select::<tracked_link::Entity>()
        .filter(tracked_link::Column::CustomerId.eq(customer_id))
        .filter(tracked_link::Column::LastClickedAt.gte(at - ATTRIBUTION_WINDOW))
        .filter(tracked_link::Column::FirstClickedAt.lte(at))
        .order_by_desc(tracked_link::Column::LastClickedAt)
        .one(db)
        .await?;
    Ok(if clicked.is_some() {
        "whatsapp_link"
    } else {
        "hotmart_email"
    })
}

pub async fn apply_first_access<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    event: &FirstAccess,
    source: Source,
) -> Result<(), entity::Error> {
    let at = event.occurred_at.unwrap_or_else(Utc::now);
    let person = PersonFacts {
        email: event.user.email.clone(),
        name: event.user.name.clone(),
        phone: event.user.phone.clone(),
        ..PersonFacts::default()
    };
    let customer = commerce::upsert_customer(db, tenant, &person, Some(at)).await?;
    let Some(product) = product_of(db, tenant, &event.product).await? else {
        return Err(entity::Error::Invalid(
            "a first access without a product".into(),
        ));
    };
    let origin = first_access_origin(db, tenant, customer.id, at).await?;
    if commerce::record_access(db, tenant, customer.id, product.id, at, origin).await? {
        let data = json!({"productId": product.id, "origin": origin});
        let key = format!("access:{}:{}:first_access", customer.id, product.id);
        emit(
            db,
            tenant,
            source,
            Happened {
                customer_id: Some(customer.id),
                event_type: DomainEventType::FirstAccess,
                dedupe_key: key,
                occurred_at: Some(at),
                data,
            },
        )
        .await?;
    }
    Ok(())
}

pub async fn apply_module_completed<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    event: &ModuleCompleted,
    source: Source,
) -> Result<(), entity::Error> {
    let at = event.occurred_at.unwrap_or_else(Utc::now);
    let person = PersonFacts {
        email: event.user.email.clone(),
        name: event.user.name.clone(),
        phone: event.user.phone.clone(),
        ..PersonFacts::default()
    };
    let customer = commerce::upsert_customer(db, tenant, &person, Some(at)).await?;
    let Some(product) = product_of(db, tenant, &event.product).await? else {
        return Err(entity::Error::Invalid(
            "a module completion without a product".into(),
        ));
    };
    let module_key = event
        .module
        .id
        .clone()
        .or_else(|| event.module.name.clone())
        .unwrap_or_default();
    let module = commerce::upsert_module(
        db,
        tenant,
        product.id,
        &module_key,
        event.module.name.as_deref(),
        None,
        None,
    )
    .await?;
    let origin = first_access_origin(db, tenant, customer.id, at).await?;
    // Completing a module proves an access, even if CLUB_FIRST_ACCESS comes later.
    if commerce::record_access(db, tenant, customer.id, product.id, at, origin).await? {
        let key = format!("access:{}:{}:first_access", customer.id, product.id);
        let data = json!({"productId": product.id, "origin": origin});
        emit(
            db,
            tenant,
            source,
            Happened {
                customer_id: Some(customer.id),
                event_type: DomainEventType::FirstAccess,
                dedupe_key: key,
                occurred_at: Some(at),
                data,
            },
        )
        .await?;
    }
    let lessons = tenant
        .select::<lesson::Entity>()
        .filter(lesson::Column::ModuleId.eq(module.id))
        .all(db)
        .await?;
    for lesson in &lessons {
        commerce::record_lesson_progress(db, tenant, customer.id, lesson.id, true, Some(at))
            .await?;
    }
    commerce::refresh_progress(db, tenant, customer.id, product.id).await?;
    let data = json!({"productId": product.id, "moduleId": module.id, "moduleName": module.name, "hotmartModuleId": event.module.id});
    let key = format!("progress:{}:{}:module_completed", customer.id, module.id);
    emit(
        db,
        tenant,
        source,
        Happened {
            customer_id: Some(customer.id),
            event_type: DomainEventType::ModuleCompleted,
            dedupe_key: key,
            occurred_at: Some(at),
            data,
        },
    )
    .await
}

pub async fn apply_order_fulfillment<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    event: &OrderFulfillment,
    source: Source,
) -> Result<(), entity::Error> {
    let customer = match &event.email {
        Some(email) => Some(
            commerce::upsert_customer(
                db,
                tenant,
                &PersonFacts {
                    email: email.clone(),
                    ..PersonFacts::default()
                },
                event.occurred_at,
            )
            .await?,
        ),
        None => None,
    };
    let product = product_of(db, tenant, &event.product).await?;
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
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn stale_statuses_never_undo_newer_ones() {
        let t1 = Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let t2 = Some(Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap());
        assert!(supersedes("WAITING_PAYMENT", t1, "APPROVED", t2));
        assert!(
            supersedes("APPROVED", t2, "REFUNDED", t1),
            "a refund wins whatever its date"
        );
        assert!(
            !supersedes("REFUNDED", t1, "APPROVED", t2),
            "a late approval never undoes a refund"
        );
        assert!(!supersedes("COMPLETE", t1, "APPROVED", t2));
        assert!(
            supersedes("CANCELLED", t1, "APPROVED", t2),
            "a late payment approves a cancelled billet"
        );
        assert!(
            supersedes("CHARGEBACK", t1, "REFUNDED", t2),
            "same rank: the later date wins"
        );
        assert!(!supersedes("CHARGEBACK", t2, "REFUNDED", t1));
        assert!(
            !supersedes("APPROVED", t1, "MYSTERY", t2),
            "unknown statuses never overwrite known ones"
        );
    }
}
