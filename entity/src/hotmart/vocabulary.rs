//! Hotmart's purchase and subscription statuses and its event names.

use std::fmt;

use chrono::{DateTime, Utc};

// ---------------------------------------------------------------------------
// Vocabularies
// ---------------------------------------------------------------------------

/// Hotmart's purchase (transaction) statuses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PurchaseStatus {
    Approved,
    Blocked,
    /// Sent as CANCELLED and as CANCELED.
    Cancelled,
    Chargeback,
    Complete,
    Expired,
    NoFunds,
    Overdue,
    PartiallyRefunded,
    PreOrder,
    PrintedBillet,
    ProcessingTransaction,
    /// Sent as PROTESTED and as DISPUTE.
    Protested,
    Refunded,
    Started,
    /// Hotmart spells it UNDER_ANALISYS.
    UnderAnalisys,
    WaitingPayment,
    /// Anything else, trimmed and upper-cased.
    Other(String),
}

impl PurchaseStatus {
    /// Case-insensitive; accepts the alternative spellings Hotmart uses.
    pub fn parse(raw: &str) -> Self {
        let status = raw.trim().to_ascii_uppercase();
        match status.as_str() {
            "APPROVED" => Self::Approved,
            "BLOCKED" => Self::Blocked,
            "CANCELLED" | "CANCELED" => Self::Cancelled,
            "CHARGEBACK" => Self::Chargeback,
            "COMPLETE" | "COMPLETED" => Self::Complete,
            "EXPIRED" => Self::Expired,
            "NO_FUNDS" => Self::NoFunds,
            // Hotmart's own test postbacks spell these two differently.
            "OVERDUE" | "DELAYED" => Self::Overdue,
            "PARTIALLY_REFUNDED" => Self::PartiallyRefunded,
            "PRE_ORDER" => Self::PreOrder,
            "PRINTED_BILLET" | "BILLET_PRINTED" => Self::PrintedBillet,
            "PROCESSING_TRANSACTION" => Self::ProcessingTransaction,
            "PROTESTED" | "DISPUTE" => Self::Protested,
            "REFUNDED" => Self::Refunded,
            "STARTED" => Self::Started,
            "UNDER_ANALISYS" | "UNDER_ANALYSIS" => Self::UnderAnalisys,
            "WAITING_PAYMENT" => Self::WaitingPayment,
            _ => Self::Other(status),
        }
    }

    /// The canonical spelling, as stored.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Approved => "APPROVED",
            Self::Blocked => "BLOCKED",
            Self::Cancelled => "CANCELLED",
            Self::Chargeback => "CHARGEBACK",
            Self::Complete => "COMPLETE",
            Self::Expired => "EXPIRED",
            Self::NoFunds => "NO_FUNDS",
            Self::Overdue => "OVERDUE",
            Self::PartiallyRefunded => "PARTIALLY_REFUNDED",
            Self::PreOrder => "PRE_ORDER",
            Self::PrintedBillet => "PRINTED_BILLET",
            Self::ProcessingTransaction => "PROCESSING_TRANSACTION",
            Self::Protested => "PROTESTED",
            Self::Refunded => "REFUNDED",
            Self::Started => "STARTED",
            Self::UnderAnalisys => "UNDER_ANALISYS",
            Self::WaitingPayment => "WAITING_PAYMENT",
            Self::Other(status) => status,
        }
    }

    /// Rank for order tolerance: Hotmart does not deliver in order, so a stored
    /// status is replaced only by one of equal or higher rank (on a tie, the
    /// event with the later date wins). A late APPROVED never undoes a REFUNDED.
    ///
    /// | rank | statuses                                                        |
    /// |------|-----------------------------------------------------------------|
    /// | 60   | REFUNDED, CHARGEBACK (final: the money went back)               |
    /// | 55   | PARTIALLY_REFUNDED (a full refund may still follow)             |
    /// | 50   | PROTESTED (a dispute may still end in a chargeback)             |
    /// | 40   | COMPLETE (paid and past the warranty)                           |
    /// | 30   | APPROVED                                                        |
    /// | 20   | CANCELLED, EXPIRED, NO_FUNDS, BLOCKED, OVERDUE (unpaid endings; |
    /// |      | a later payment can still approve the same transaction)        |
    /// | 10   | STARTED, PROCESSING_TRANSACTION, WAITING_PAYMENT,               |
    /// |      | PRINTED_BILLET, UNDER_ANALISYS, PRE_ORDER (pending)             |
    /// | 0    | unknown statuses (never overwrite a known one)                  |
    pub fn precedence(&self) -> u8 {
        match self {
            Self::Refunded | Self::Chargeback => 60,
            Self::PartiallyRefunded => 55,
            Self::Protested => 50,
            Self::Complete => 40,
            Self::Approved => 30,
            Self::Cancelled | Self::Expired | Self::NoFunds | Self::Blocked | Self::Overdue => 20,
            Self::Started
            | Self::ProcessingTransaction
            | Self::WaitingPayment
            | Self::PrintedBillet
            | Self::UnderAnalisys
            | Self::PreOrder => 10,
            Self::Other(_) => 0,
        }
    }

    /// Whether a transaction's stored status `current` (dated `current_at`)
    /// gives way to `new` (dated `new_at`): a higher precedence always
    /// wins, whatever the dates (a late APPROVED never beats a REFUNDED);
    /// between equals the later date wins; an undated report never
    /// replaces a dated one.
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

    /// Counts as money received (towards LTV and revenue).
    pub fn is_revenue(&self) -> bool {
        matches!(self, Self::Approved | Self::Complete)
    }

    /// Money given back to the buyer.
    pub fn is_reversal(&self) -> bool {
        matches!(
            self,
            Self::Refunded | Self::Chargeback | Self::PartiallyRefunded
        )
    }
}

impl fmt::Display for PurchaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Hotmart's subscription statuses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubscriptionStatus {
    Active,
    Inactive,
    Delayed,
    Overdue,
    Started,
    Expired,
    /// Sent as CANCELLED_BY_CUSTOMER and CANCELED_BY_CUSTOMER (likewise below).
    CancelledByCustomer,
    CancelledBySeller,
    CancelledByAdmin,
    /// Anything else, trimmed and upper-cased.
    Other(String),
}

impl SubscriptionStatus {
    /// Case-insensitive; accepts one L or two in the cancelled states.
    pub fn parse(raw: &str) -> Self {
        let status = raw.trim().to_ascii_uppercase();
        match status.as_str() {
            "ACTIVE" => Self::Active,
            "INACTIVE" => Self::Inactive,
            "DELAYED" => Self::Delayed,
            "OVERDUE" => Self::Overdue,
            "STARTED" => Self::Started,
            "EXPIRED" => Self::Expired,
            "CANCELLED_BY_CUSTOMER" | "CANCELED_BY_CUSTOMER" => Self::CancelledByCustomer,
            "CANCELLED_BY_SELLER" | "CANCELED_BY_SELLER" => Self::CancelledBySeller,
            "CANCELLED_BY_ADMIN" | "CANCELED_BY_ADMIN" => Self::CancelledByAdmin,
            _ => Self::Other(status),
        }
    }

    /// The canonical spelling, as stored.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Active => "ACTIVE",
            Self::Inactive => "INACTIVE",
            Self::Delayed => "DELAYED",
            Self::Overdue => "OVERDUE",
            Self::Started => "STARTED",
            Self::Expired => "EXPIRED",
            Self::CancelledByCustomer => "CANCELLED_BY_CUSTOMER",
            Self::CancelledBySeller => "CANCELLED_BY_SELLER",
            Self::CancelledByAdmin => "CANCELLED_BY_ADMIN",
            Self::Other(status) => status,
        }
    }

    /// Cancelled by anyone.
    pub fn is_cancelled(&self) -> bool {
        matches!(
            self,
            Self::CancelledByCustomer | Self::CancelledBySeller | Self::CancelledByAdmin
        )
    }
}

impl fmt::Display for SubscriptionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The 16 postback event names, and whatever else arrives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventKind {
    PurchaseApproved,
    PurchaseComplete,
    /// Sent as PURCHASE_CANCELED; PURCHASE_CANCELLED accepted too.
    PurchaseCanceled,
    PurchaseBilletPrinted,
    PurchaseProtest,
    PurchaseRefunded,
    PurchaseChargeback,
    PurchaseExpired,
    PurchaseDelayed,
    PurchaseOutOfShoppingCart,
    SubscriptionCancellation,
    SwitchPlan,
    UpdateSubscriptionChargeDate,
    ClubFirstAccess,
    ClubModuleCompleted,
    OrderFulfillment,
    /// Anything else, trimmed and upper-cased.
    Unknown(String),
}

impl EventKind {
    /// Case-insensitive.
    pub fn parse(raw: &str) -> Self {
        let event = raw.trim().to_ascii_uppercase();
        match event.as_str() {
            "PURCHASE_APPROVED" => Self::PurchaseApproved,
            "PURCHASE_COMPLETE" => Self::PurchaseComplete,
            "PURCHASE_CANCELED" | "PURCHASE_CANCELLED" => Self::PurchaseCanceled,
            "PURCHASE_BILLET_PRINTED" => Self::PurchaseBilletPrinted,
            "PURCHASE_PROTEST" => Self::PurchaseProtest,
            "PURCHASE_REFUNDED" => Self::PurchaseRefunded,
            "PURCHASE_CHARGEBACK" => Self::PurchaseChargeback,
            "PURCHASE_EXPIRED" => Self::PurchaseExpired,
            "PURCHASE_DELAYED" => Self::PurchaseDelayed,
            "PURCHASE_OUT_OF_SHOPPING_CART" => Self::PurchaseOutOfShoppingCart,
            "SUBSCRIPTION_CANCELLATION" => Self::SubscriptionCancellation,
            "SWITCH_PLAN" => Self::SwitchPlan,
            "UPDATE_SUBSCRIPTION_CHARGE_DATE" => Self::UpdateSubscriptionChargeDate,
            "CLUB_FIRST_ACCESS" => Self::ClubFirstAccess,
            "CLUB_MODULE_COMPLETED" => Self::ClubModuleCompleted,
            "ORDER_FULFILLMENT" => Self::OrderFulfillment,
            _ => Self::Unknown(event),
        }
    }

    /// The canonical name (Hotmart's spelling).
    pub fn as_str(&self) -> &str {
        match self {
            Self::PurchaseApproved => "PURCHASE_APPROVED",
            Self::PurchaseComplete => "PURCHASE_COMPLETE",
            Self::PurchaseCanceled => "PURCHASE_CANCELED",
            Self::PurchaseBilletPrinted => "PURCHASE_BILLET_PRINTED",
            Self::PurchaseProtest => "PURCHASE_PROTEST",
            Self::PurchaseRefunded => "PURCHASE_REFUNDED",
            Self::PurchaseChargeback => "PURCHASE_CHARGEBACK",
            Self::PurchaseExpired => "PURCHASE_EXPIRED",
            Self::PurchaseDelayed => "PURCHASE_DELAYED",
            Self::PurchaseOutOfShoppingCart => "PURCHASE_OUT_OF_SHOPPING_CART",
            Self::SubscriptionCancellation => "SUBSCRIPTION_CANCELLATION",
            Self::SwitchPlan => "SWITCH_PLAN",
            Self::UpdateSubscriptionChargeDate => "UPDATE_SUBSCRIPTION_CHARGE_DATE",
            Self::ClubFirstAccess => "CLUB_FIRST_ACCESS",
            Self::ClubModuleCompleted => "CLUB_MODULE_COMPLETED",
            Self::OrderFulfillment => "ORDER_FULFILLMENT",
            Self::Unknown(event) => event,
        }
    }

    /// The status a purchase event implies when its payload has none; `None`
    /// for events that are not about a purchase's money.
    pub fn implied_purchase_status(&self) -> Option<PurchaseStatus> {
        Some(match self {
            Self::PurchaseApproved => PurchaseStatus::Approved,
            Self::PurchaseComplete => PurchaseStatus::Complete,
            Self::PurchaseCanceled => PurchaseStatus::Cancelled,
            Self::PurchaseBilletPrinted => PurchaseStatus::PrintedBillet,
            Self::PurchaseProtest => PurchaseStatus::Protested,
            Self::PurchaseRefunded => PurchaseStatus::Refunded,
            Self::PurchaseChargeback => PurchaseStatus::Chargeback,
            Self::PurchaseExpired => PurchaseStatus::Expired,
            Self::PurchaseDelayed => PurchaseStatus::Overdue,
            _ => return None,
        })
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn stale_statuses_never_undo_newer_ones() {
        let supersedes = PurchaseStatus::supersedes;
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
