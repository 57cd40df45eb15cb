//! The catalogue of domain events: what jornada records when something
//! happens to a customer, and so what a campaign's `trigger`, `waitForEvent`
//! and `exit` goal may name. A name outside it would never fire, so
//! [`crate::validate()`] refuses it (`unknown_event`).
//!
//! An event's `data` also names what it is about: the purchase's transaction
//! code, the product, the offer, the subscription. That is its [`EventKey`]:
//! a journey started by an event carries it, event triggers filter on it and
//! a `waitForEvent` may wake only on an event with the same key.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// One kind of domain event, stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainEventType {
    /// A purchase was approved (card, or a billet/Pix paid).
    PurchaseApproved,
    /// Hotmart closed the purchase (the warranty ran out).
    PurchaseCompleted,
    PurchaseRefunded,
    PurchaseChargeback,
    /// The buyer asked for a refund (dispute opened).
    PurchaseProtested,
    PurchaseCancelled,
    PurchaseExpired,
    /// A billet or Pix was issued and waits for payment.
    BilletPrinted,
    /// A recurring charge is overdue.
    PaymentDelayed,
    /// A purchase that waited for payment (billet, Pix) was paid.
    SaleRecovered,
    CartAbandoned,
    SubscriptionCancelled,
    PlanSwitched,
    ChargeDateChanged,
    /// The student opened the course for the first time.
    FirstAccess,
    ModuleCompleted,
    /// The student's progress reached 100 %.
    CourseCompleted,
    OrderFulfilled,
}

impl DomainEventType {
    pub const ALL: [DomainEventType; 18] = [
        Self::PurchaseApproved,
        Self::PurchaseCompleted,
        Self::PurchaseRefunded,
        Self::PurchaseChargeback,
        Self::PurchaseProtested,
        Self::PurchaseCancelled,
        Self::PurchaseExpired,
        Self::BilletPrinted,
        Self::PaymentDelayed,
        Self::SaleRecovered,
        Self::CartAbandoned,
        Self::SubscriptionCancelled,
        Self::PlanSwitched,
        Self::ChargeDateChanged,
        Self::FirstAccess,
        Self::ModuleCompleted,
        Self::CourseCompleted,
        Self::OrderFulfilled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PurchaseApproved => "purchase_approved",
            Self::PurchaseCompleted => "purchase_completed",
            Self::PurchaseRefunded => "purchase_refunded",
            Self::PurchaseChargeback => "purchase_chargeback",
            Self::PurchaseProtested => "purchase_protested",
            Self::PurchaseCancelled => "purchase_cancelled",
            Self::PurchaseExpired => "purchase_expired",
            Self::BilletPrinted => "billet_printed",
            Self::PaymentDelayed => "payment_delayed",
            Self::SaleRecovered => "sale_recovered",
            Self::CartAbandoned => "cart_abandoned",
            Self::SubscriptionCancelled => "subscription_cancelled",
            Self::PlanSwitched => "plan_switched",
            Self::ChargeDateChanged => "charge_date_changed",
            Self::FirstAccess => "first_access",
            Self::ModuleCompleted => "module_completed",
            Self::CourseCompleted => "course_completed",
            Self::OrderFulfilled => "order_fulfilled",
        }
    }

    /// The event of a stored name; `None` for a name outside the catalogue.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|event| event.as_str() == name)
    }

    /// Every name, for messages that list what may be named.
    pub fn names() -> String {
        Self::ALL
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl DomainEventType {
    /// Whether events of this kind may carry `part` in their key: purchase
    /// events carry the transaction, the product, the offer and (for a
    /// subscription product) the subscription; members-area events only the
    /// product; subscription events the subscription.
    pub fn carries(self, part: KeyPart) -> bool {
        use KeyPart::*;
        match self {
            Self::PurchaseApproved
            | Self::PurchaseCompleted
            | Self::PurchaseRefunded
            | Self::PurchaseChargeback
            | Self::PurchaseProtested
            | Self::PurchaseCancelled
            | Self::PurchaseExpired
            | Self::BilletPrinted
            | Self::PaymentDelayed
            | Self::SaleRecovered => true,
            Self::CartAbandoned => matches!(part, Product | Offer),
            Self::SubscriptionCancelled => matches!(part, Subscription | Product),
            Self::PlanSwitched | Self::ChargeDateChanged => part == Subscription,
            Self::FirstAccess | Self::ModuleCompleted | Self::CourseCompleted => part == Product,
            Self::OrderFulfilled => matches!(part, Transaction | Product),
        }
    }
}

/// One part of an [`EventKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyPart {
    /// Hotmart's transaction code: one purchase.
    Transaction,
    /// The jornada product id.
    Product,
    /// Hotmart's offer code.
    Offer,
    /// Hotmart's subscriber code: one subscription.
    Subscription,
}

impl KeyPart {
    /// The parts a `waitForEvent` may `match` on.
    pub const MATCHABLE: [KeyPart; 3] = [Self::Transaction, Self::Product, Self::Subscription];

    /// The name a `waitForEvent`'s `match` gives it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Transaction => "transaction",
            Self::Product => "product",
            Self::Offer => "offer",
            Self::Subscription => "subscription",
        }
    }

    /// A `match` value; `None` for anything but the [`Self::MATCHABLE`] names.
    pub fn parse_match(name: &str) -> Option<Self> {
        Self::MATCHABLE.into_iter().find(|p| p.as_str() == name)
    }
}

/// What a domain event is about, read from its `data` (`transaction`,
/// `productId`, `offerCode`, `subscriberCode`); each part is absent when the
/// event does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventKey {
    pub transaction: Option<String>,
    pub product_id: Option<Uuid>,
    pub offer_code: Option<String>,
    pub subscriber_code: Option<String>,
}

impl EventKey {
    /// Reads the key of an event's `data` (or of a recipient's stored entry
    /// key, which has the same shape); anything unreadable is absent.
    pub fn of(data: &Value) -> Self {
        let text = |field: &str| {
            data.get(field)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        Self {
            transaction: text("transaction"),
            product_id: text("productId").and_then(|id| id.parse().ok()),
            offer_code: text("offerCode"),
            subscriber_code: text("subscriberCode"),
        }
    }

    /// The key as an event's `data` spells it, without the absent parts.
    pub fn to_value(&self) -> Value {
        let mut fields = Map::new();
        let parts = [
            ("transaction", self.transaction.clone()),
            ("productId", self.product_id.map(|id| id.to_string())),
            ("offerCode", self.offer_code.clone()),
            ("subscriberCode", self.subscriber_code.clone()),
        ];
        for (field, value) in parts {
            if let Some(value) = value {
                fields.insert(field.to_owned(), Value::String(value));
            }
        }
        Value::Object(fields)
    }

    /// One part, as text.
    pub fn part(&self, part: KeyPart) -> Option<String> {
        match part {
            KeyPart::Transaction => self.transaction.clone(),
            KeyPart::Product => self.product_id.map(|id| id.to_string()),
            KeyPart::Offer => self.offer_code.clone(),
            KeyPart::Subscription => self.subscriber_code.clone(),
        }
    }

    /// Whether `other` is about the same `part` as this key: both have it,
    /// and it is the same. A key without it matches nothing.
    pub fn same(&self, other: &EventKey, part: KeyPart) -> bool {
        match (self.part(part), other.part(part)) {
            (Some(mine), Some(theirs)) => mine == theirs,
            _ => false,
        }
    }

    /// What per-key re-entry counts entries by: the purchase when the event
    /// names one, else the subscription, else the product; `None` for an
    /// event about none of them.
    pub fn identity(&self) -> Option<String> {
        [
            KeyPart::Transaction,
            KeyPart::Subscription,
            KeyPart::Product,
        ]
        .into_iter()
        .find_map(|part| {
            self.part(part)
                .map(|value| format!("{}:{value}", part.as_str()))
        })
    }
}

impl fmt::Display for DomainEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::{DomainEventType, EventKey, KeyPart};

    #[test]
    fn every_event_reads_back_from_its_name() {
        for event in DomainEventType::ALL {
            assert_eq!(DomainEventType::parse(event.as_str()), Some(event));
        }
        assert_eq!(DomainEventType::parse("purchase_aproved"), None);
        assert_eq!(DomainEventType::parse("PURCHASE_APPROVED"), None);
    }

    #[test]
    fn a_key_reads_what_the_event_is_about() {
        let product = uuid::Uuid::new_v4();
        let data = serde_json::json!({"transaction": "HP1", "status": "APPROVED",
            "productId": product.to_string(), "offerCode": "n82b", "subscriberCode": null});
        let key = EventKey::of(&data);
        assert_eq!(key.transaction.as_deref(), Some("HP1"));
        assert_eq!(key.product_id, Some(product));
        assert_eq!(key.offer_code.as_deref(), Some("n82b"));
        assert_eq!(key.subscriber_code, None);
        assert_eq!(
            EventKey::of(&key.to_value()),
            key,
            "the stored key reads back"
        );
        assert_eq!(key.identity().as_deref(), Some("transaction:HP1"));

        let access = EventKey::of(&serde_json::json!({"productId": product.to_string()}));
        assert_eq!(access.identity(), Some(format!("product:{product}")));
        assert!(key.same(&access, KeyPart::Product));
        assert!(
            !key.same(&access, KeyPart::Transaction),
            "absent parts match nothing"
        );
        assert_eq!(
            EventKey::of(&serde_json::json!({"productId": "not-a-uuid"})).identity(),
            None
        );
    }

    #[test]
    fn events_carry_the_parts_their_data_has() {
        use KeyPart::*;
        assert!(DomainEventType::BilletPrinted.carries(Transaction));
        assert!(DomainEventType::PurchaseApproved.carries(Offer));
        assert!(!DomainEventType::FirstAccess.carries(Transaction));
        assert!(DomainEventType::FirstAccess.carries(Product));
        assert!(!DomainEventType::PlanSwitched.carries(Product));
        assert!(DomainEventType::SubscriptionCancelled.carries(Subscription));
        assert_eq!(KeyPart::parse_match("transaction"), Some(Transaction));
        assert_eq!(KeyPart::parse_match("offer"), None);
    }
}
