//! A postback, typed: what each event tells the domain.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use super::*;

// ---------------------------------------------------------------------------
// Typed events
// ---------------------------------------------------------------------------

/// Why a stored envelope cannot be applied. Names the field, never its value;
/// retrying will not help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("missing field `data.{0}`")]
    Missing(&'static str),
    #[error("invalid field `data.{field}`: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
}

impl DecodeError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing(_) => "missing_field",
            Self::Invalid { .. } => "invalid_field",
        }
    }

    /// The offending path below `data`.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Missing(field) | Self::Invalid { field, .. } => field,
        }
    }
}

/// A postback, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum HotmartEvent {
    /// The nine PURCHASE_* events that change a transaction (boxed: it is
    /// twice the size of any other variant).
    Purchase(Box<Purchase>),
    CartAbandoned(CartAbandoned),
    SubscriptionCancelled(SubscriptionCancelled),
    PlanSwitched(PlanSwitched),
    ChargeDateChanged(ChargeDateChanged),
    FirstAccess(FirstAccess),
    ModuleCompleted(ModuleCompleted),
    OrderFulfillment(OrderFulfillment),
    /// An event name this code does not know; the applier marks it ignored.
    Unknown(String),
}

impl HotmartEvent {
    pub fn kind(&self) -> EventKind {
        match self {
            Self::Purchase(p) => p.kind.clone(),
            Self::CartAbandoned(_) => EventKind::PurchaseOutOfShoppingCart,
            Self::SubscriptionCancelled(_) => EventKind::SubscriptionCancellation,
            Self::PlanSwitched(_) => EventKind::SwitchPlan,
            Self::ChargeDateChanged(_) => EventKind::UpdateSubscriptionChargeDate,
            Self::FirstAccess(_) => EventKind::ClubFirstAccess,
            Self::ModuleCompleted(_) => EventKind::ClubModuleCompleted,
            Self::OrderFulfillment(_) => EventKind::OrderFulfillment,
            Self::Unknown(event) => EventKind::Unknown(event.clone()),
        }
    }

    /// The customer's e-mail, normalised (trimmed, lower-case), when known.
    pub fn customer_email(&self) -> Option<&str> {
        match self {
            Self::Purchase(e) => e.customer_email(),
            Self::CartAbandoned(e) => e.customer_email(),
            Self::SubscriptionCancelled(e) => e.customer_email(),
            Self::PlanSwitched(e) => e.customer_email(),
            Self::ChargeDateChanged(e) => e.customer_email(),
            Self::FirstAccess(e) => e.customer_email(),
            Self::ModuleCompleted(e) => e.customer_email(),
            Self::OrderFulfillment(e) => e.customer_email(),
            Self::Unknown(_) => None,
        }
    }

    /// When it happened at Hotmart, for ordering.
    pub fn occurred_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::Purchase(e) => e.occurred_at(),
            Self::CartAbandoned(e) => e.occurred_at(),
            Self::SubscriptionCancelled(e) => e.occurred_at(),
            Self::PlanSwitched(e) => e.occurred_at(),
            Self::ChargeDateChanged(e) => e.occurred_at(),
            Self::FirstAccess(e) => e.occurred_at(),
            Self::ModuleCompleted(e) => e.occurred_at(),
            Self::OrderFulfillment(e) => e.occurred_at(),
            Self::Unknown(_) => None,
        }
    }
}

/// A product as postbacks describe it; every field may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Product {
    /// Hotmart's product id as text (some payloads send "00000"-style strings).
    pub hotmart_id: Option<String>,
    pub ucode: Option<String>,
    pub name: Option<String>,
    /// `warranty_date`: refunds are no longer possible after it.
    pub warranty_ends_at: Option<DateTime<Utc>>,
}

impl Product {
    pub(super) fn from_value(product: Option<&Value>) -> Self {
        let Some(product) = product else {
            return Self::default();
        };
        Self {
            hotmart_id: id_at(product, "id"),
            ucode: id_at(product, "ucode"),
            name: text_at(product, "name"),
            warranty_ends_at: time_at(product, "warranty_date"),
        }
    }
}

/// Whoever paid, from a purchase event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buyer {
    /// Trimmed, lower-case and checked.
    pub email: String,
    pub name: Option<String>,
    /// Raw text: `checkout_phone_code` and `checkout_phone` joined by a space;
    /// normalising to E.164 is the customer module's job.
    pub phone: Option<String>,
    pub document: Option<String>,
    /// CPF or CNPJ, upper-cased.
    pub document_type: Option<String>,
}

/// A person identified by e-mail (cart abandoners, members-area users).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Trimmed, lower-case and checked.
    pub email: String,
    pub name: Option<String>,
    /// Raw text, not normalised.
    pub phone: Option<String>,
}

/// A subscriber as subscription events describe them: the code is the key,
/// the e-mail may be missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub code: String,
    /// Trimmed and lower-case; `None` when missing or not an e-mail address.
    pub email: Option<String>,
    pub name: Option<String>,
    /// Raw text, not normalised.
    pub phone: Option<String>,
}

/// A subscription plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub id: Option<String>,
    pub name: Option<String>,
    /// The plan's offer (`offer.code`, or `offer.key` in SWITCH_PLAN).
    pub offer_code: Option<String>,
}

impl Plan {
    pub(super) fn from_value(plan: Option<&Value>) -> Option<Self> {
        let plan = plan?;
        let plan = Self {
            id: id_at(plan, "id"),
            name: text_at(plan, "name"),
            offer_code: id_at(plan, "offer.code").or_else(|| id_at(plan, "offer.key")),
        };
        (plan.id.is_some() || plan.name.is_some() || plan.offer_code.is_some()).then_some(plan)
    }
}

/// Tracking parameters of the checkout link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub src: Option<String>,
    pub sck: Option<String>,
    pub xcod: Option<String>,
}

/// The subscription a purchase belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseSubscription {
    pub subscriber_code: Option<String>,
    pub status: Option<SubscriptionStatus>,
    pub plan_id: Option<String>,
    pub plan_name: Option<String>,
}

/// One of the nine PURCHASE_* events that change a transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Purchase {
    pub kind: EventKind,
    /// The envelope's `creation_date`.
    pub occurred_at: Option<DateTime<Utc>>,
    pub product: Product,
    pub buyer: Buyer,
    /// Hotmart's transaction code, e.g. HP16015479281022.
    pub transaction: String,
    /// `purchase.status`, or the status the event implies when absent.
    pub status: PurchaseStatus,
    pub order_date: Option<DateTime<Utc>>,
    pub approved_date: Option<DateTime<Utc>>,
    /// `purchase.price.value`, else `purchase.full_price.value`; exact.
    pub amount: Option<Decimal>,
    /// ISO 4217, upper-cased.
    pub currency: Option<String>,
    /// `purchase.payment.type` (CREDIT_CARD, BILLET, PIX, ...), upper-cased.
    pub payment_type: Option<String>,
    /// `purchase.payment.method`, only when the payload has it.
    pub payment_method: Option<String>,
    pub installments: Option<u32>,
    pub billet_url: Option<String>,
    /// The billet's barcode or digitable line.
    pub billet_barcode: Option<String>,
    /// The Pix "copia e cola" code.
    pub pix_code: Option<String>,
    /// A link to the Pix QR code.
    pub pix_url: Option<String>,
    pub offer_code: Option<String>,
    pub coupon: Option<String>,
    /// 1 = first charge, greater = a renewal.
    pub recurrence_number: Option<u32>,
    pub origin: Origin,
    /// For an order bump, the main purchase's transaction code.
    pub order_bump_parent_transaction: Option<String>,
    pub subscription: Option<PurchaseSubscription>,
    /// The account's role in the sale (PRODUCER, COPRODUCER, AFFILIATE, ...).
    pub commission_type: Option<String>,
}

impl Purchase {
    pub fn customer_email(&self) -> Option<&str> {
        Some(&self.buyer.email)
    }

    pub fn occurred_at(&self) -> Option<DateTime<Utc>> {
        self.occurred_at
    }
}

/// PURCHASE_OUT_OF_SHOPPING_CART: a checkout left unpaid.
#[derive(Debug, Clone, PartialEq)]
pub struct CartAbandoned {
    pub occurred_at: Option<DateTime<Utc>>,
    pub product: Product,
    pub buyer: Contact,
    pub offer_code: Option<String>,
}

impl CartAbandoned {
    pub fn customer_email(&self) -> Option<&str> {
        Some(&self.buyer.email)
    }

    pub fn occurred_at(&self) -> Option<DateTime<Utc>> {
        self.occurred_at
    }
}

/// SUBSCRIPTION_CANCELLATION.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionCancelled {
    /// `creation_date`, else `cancellation_date`.
    pub occurred_at: Option<DateTime<Utc>>,
    pub subscriber: Subscriber,
    pub subscription_id: Option<String>,
    pub product: Product,
    pub plan: Option<Plan>,
    pub cancellation_date: Option<DateTime<Utc>>,
    /// Access should end then, not at the cancellation.
    pub date_next_charge: Option<DateTime<Utc>>,
    pub actual_recurrence_value: Option<Decimal>,
}

impl SubscriptionCancelled {
    pub fn customer_email(&self) -> Option<&str> {
        self.subscriber.email.as_deref()
    }

    pub fn occurred_at(&self) -> Option<DateTime<Utc>> {
        self.occurred_at
    }
}

/// SWITCH_PLAN.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSwitched {
    /// `creation_date`, else `switch_plan_date`.
    pub occurred_at: Option<DateTime<Utc>>,
    pub subscriber: Subscriber,
    pub switched_at: Option<DateTime<Utc>>,
    /// The `plans[]` entry marked `current: true`.
    pub new_plan: Option<Plan>,
    pub status: Option<SubscriptionStatus>,
    pub date_next_charge: Option<DateTime<Utc>>,
    pub product: Product,
}

impl PlanSwitched {
    pub fn customer_email(&self) -> Option<&str> {
        self.subscriber.email.as_deref()
    }

    pub fn occurred_at(&self) -> Option<DateTime<Utc>> {
        self.occurred_at
    }
}

/// UPDATE_SUBSCRIPTION_CHARGE_DATE.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargeDateChanged {
    pub occurred_at: Option<DateTime<Utc>>,
    pub subscriber: Subscriber,
    pub product: Product,
    /// Day of the month, 1 to 31.
    pub new_charge_day: Option<u32>,
    pub old_charge_day: Option<u32>,
    pub date_next_charge: Option<DateTime<Utc>>,
    pub status: Option<SubscriptionStatus>,
    pub plan: Option<Plan>,
}

impl ChargeDateChanged {
    pub fn customer_email(&self) -> Option<&str> {
        self.subscriber.email.as_deref()
    }

    pub fn occurred_at(&self) -> Option<DateTime<Utc>> {
        self.occurred_at
    }
}

/// CLUB_FIRST_ACCESS: the member opened the members area for the first time.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstAccess {
    pub occurred_at: Option<DateTime<Utc>>,
    pub product: Product,
    pub user: Contact,
}

impl FirstAccess {
    pub fn customer_email(&self) -> Option<&str> {
        Some(&self.user.email)
    }

    pub fn occurred_at(&self) -> Option<DateTime<Utc>> {
        self.occurred_at
    }
}

/// A members-area module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Matches the Club API's module id.
    pub id: Option<String>,
    pub name: Option<String>,
}

/// CLUB_MODULE_COMPLETED.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleCompleted {
    pub occurred_at: Option<DateTime<Utc>>,
    pub product: Product,
    pub user: Contact,
    /// Has an id or a name.
    pub module: Module,
}

impl ModuleCompleted {
    pub fn customer_email(&self) -> Option<&str> {
        Some(&self.user.email)
    }

    pub fn occurred_at(&self) -> Option<DateTime<Utc>> {
        self.occurred_at
    }
}

/// ORDER_FULFILLMENT (physical products; its payload shape is not documented).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderFulfillment {
    pub occurred_at: Option<DateTime<Utc>>,
    pub product: Product,
    pub email: Option<String>,
    pub transaction: Option<String>,
}

impl OrderFulfillment {
    pub fn customer_email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    pub fn occurred_at(&self) -> Option<DateTime<Utc>> {
        self.occurred_at
    }
}
