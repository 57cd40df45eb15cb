//! The catalogue of domain events: what jornada records when something
//! happens to a customer, and so what a campaign's `trigger`, `waitForEvent`
//! and `exit` goal may name. A name outside it would never fire, so
//! [`crate::validate()`] refuses it (`unknown_event`).

use std::fmt;

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

impl fmt::Display for DomainEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::DomainEventType;

    #[test]
    fn every_event_reads_back_from_its_name() {
        for event in DomainEventType::ALL {
            assert_eq!(DomainEventType::parse(event.as_str()), Some(event));
        }
        assert_eq!(DomainEventType::parse("purchase_aproved"), None);
        assert_eq!(DomainEventType::parse("PURCHASE_APPROVED"), None);
    }
}
