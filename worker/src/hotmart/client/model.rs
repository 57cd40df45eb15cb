//! Hotmart's payloads as typed values: the status lists, the filters of the
//! list endpoints and how they become query parameters, and the lenient
//! response types (REST spelling: `recurrency_number`, `currency_code`).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::lenient;

/// Every purchase status Hotmart documents. The sales history returns only
/// some statuses unless told otherwise, so a full sync passes all of them.
pub const SALE_STATUSES: &[&str] = &[
    "APPROVED",
    "BLOCKED",
    "CANCELLED",
    "CHARGEBACK",
    "COMPLETE",
    "EXPIRED",
    "NO_FUNDS",
    "OVERDUE",
    "PARTIALLY_REFUNDED",
    "PRE_ORDER",
    "PRINTED_BILLET",
    "PROCESSING_TRANSACTION",
    "PROTESTED",
    "REFUNDED",
    "STARTED",
    "UNDER_ANALISYS",
    "WAITING_PAYMENT",
];

/// Every subscription status Hotmart documents (REST spelling).
pub const SUBSCRIPTION_STATUSES: &[&str] = &[
    "ACTIVE",
    "INACTIVE",
    "DELAYED",
    "OVERDUE",
    "STARTED",
    "EXPIRED",
    "CANCELLED_BY_CUSTOMER",
    "CANCELLED_BY_SELLER",
    "CANCELLED_BY_ADMIN",
];

// ---------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------

/// Filters of `GET /payments/api/v1/sales/history`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SalesHistoryFilter {
    /// Sent as repeated `transaction_status` keys; see [`SALE_STATUSES`].
    pub transaction_status: Vec<String>,
    pub product_id: Option<String>,
    pub transaction: Option<String>,
    pub buyer_email: Option<String>,
    pub offer_code: Option<String>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    /// Further query parameters, sent as given.
    pub extra: Vec<(String, String)>,
}

impl SalesHistoryFilter {
    pub(super) fn query(&self) -> Vec<(String, String)> {
        let mut query = Vec::new();
        for status in &self.transaction_status {
            push(&mut query, "transaction_status", status);
        }
        push_opt(&mut query, "product_id", &self.product_id);
        push_opt(&mut query, "transaction", &self.transaction);
        push_opt(&mut query, "buyer_email", &self.buyer_email);
        push_opt(&mut query, "offer_code", &self.offer_code);
        push_date(&mut query, "start_date", self.start_date);
        push_date(&mut query, "end_date", self.end_date);
        query.extend(self.extra.iter().cloned());
        query
    }
}

/// Filters of `GET /payments/api/v1/subscriptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionFilter {
    /// Sent as repeated `status` keys; see [`SUBSCRIPTION_STATUSES`].
    pub status: Vec<String>,
    pub product_id: Option<String>,
    pub subscriber_code: Option<String>,
    pub subscriber_email: Option<String>,
    /// Subscriptions started from (`accession_date`)...
    pub accession_date: Option<DateTime<Utc>>,
    /// ...until (`end_accession_date`).
    pub end_accession_date: Option<DateTime<Utc>>,
    /// Further query parameters (other date ranges), sent as given.
    pub extra: Vec<(String, String)>,
}

impl SubscriptionFilter {
    pub(super) fn query(&self) -> Vec<(String, String)> {
        let mut query = Vec::new();
        for status in &self.status {
            push(&mut query, "status", status);
        }
        push_opt(&mut query, "product_id", &self.product_id);
        push_opt(&mut query, "subscriber_code", &self.subscriber_code);
        push_opt(&mut query, "subscriber_email", &self.subscriber_email);
        push_date(&mut query, "accession_date", self.accession_date);
        push_date(&mut query, "end_accession_date", self.end_accession_date);
        query.extend(self.extra.iter().cloned());
        query
    }
}

pub(super) fn push(query: &mut Vec<(String, String)>, key: &str, value: impl ToString) {
    query.push((key.to_owned(), value.to_string()));
}

fn push_opt(query: &mut Vec<(String, String)>, key: &str, value: &Option<String>) {
    if let Some(value) = value {
        push(query, key, value);
    }
}

fn push_date(query: &mut Vec<(String, String)>, key: &str, value: Option<DateTime<Utc>>) {
    if let Some(value) = value {
        push(query, key, value.timestamp_millis());
    }
}

// ---------------------------------------------------------------------------
// Response types (REST spelling: `recurrency_number`, `currency_code`)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Price {
    #[serde(default, deserialize_with = "lenient::decimal")]
    pub value: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub currency_code: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProductRef {
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub ucode: Option<String>,
}

/// A buyer, producer or subscriber.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Person {
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub ucode: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub email: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SalePayment {
    #[serde(default, deserialize_with = "lenient::string")]
    pub method: Option<String>,
    #[serde(rename = "type", default, deserialize_with = "lenient::string")]
    pub payment_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::u32")]
    pub installments_number: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SaleTracking {
    #[serde(default, deserialize_with = "lenient::string")]
    pub source: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub source_sck: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub external_code: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SaleOffer {
    #[serde(default, deserialize_with = "lenient::string")]
    pub code: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub payment_mode: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SalePurchase {
    #[serde(default, deserialize_with = "lenient::string")]
    pub transaction: Option<String>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub order_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub approved_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub status: Option<String>,
    /// 1 = first charge, >1 = renewal.
    #[serde(default, deserialize_with = "lenient::u32")]
    pub recurrency_number: Option<u32>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub is_subscription: Option<bool>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub commission_as: Option<String>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub price: Option<Price>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub payment: Option<SalePayment>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub tracking: Option<SaleTracking>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub warranty_expire_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub offer: Option<SaleOffer>,
    /// Kept as Hotmart sent it.
    #[serde(default)]
    pub hotmart_fee: Option<Value>,
}

/// An item of the sales history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sale {
    #[serde(default, deserialize_with = "lenient::nested")]
    pub product: Option<ProductRef>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub buyer: Option<Person>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub producer: Option<Person>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub purchase: Option<SalePurchase>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionPlan {
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: Option<String>,
    /// Days between charges.
    #[serde(default, deserialize_with = "lenient::u32")]
    pub recurrency_period: Option<u32>,
    #[serde(default, deserialize_with = "lenient::u32")]
    pub max_charge_cycles: Option<u32>,
}

/// An item of the subscriptions list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    #[serde(default, deserialize_with = "lenient::string")]
    pub subscriber_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub subscription_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub accession_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub end_accession_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub request_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub date_next_charge: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub trial: Option<bool>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub transaction: Option<String>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub plan: Option<SubscriptionPlan>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub product: Option<ProductRef>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub price: Option<Price>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub subscriber: Option<Person>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClubProgress {
    #[serde(default, deserialize_with = "lenient::u32")]
    pub total: Option<u32>,
    #[serde(default, deserialize_with = "lenient::u32")]
    pub completed: Option<u32>,
    #[serde(default, deserialize_with = "lenient::f64")]
    pub completed_percentage: Option<f64>,
}

/// A member of the Club (members area).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClubUser {
    #[serde(default, deserialize_with = "lenient::string")]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub first_access_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub last_access_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub purchase_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::u64")]
    pub access_count: Option<u64>,
    /// LOW, MEDIUM or HIGH.
    #[serde(default, deserialize_with = "lenient::string")]
    pub engagement: Option<String>,
    #[serde(default, deserialize_with = "lenient::nested")]
    pub progress: Option<ClubProgress>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub locale: Option<String>,
}

/// A lesson (page) as one user's progress lists it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClubLesson {
    #[serde(default, deserialize_with = "lenient::string")]
    pub page_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub page_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub module_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub is_module_extra: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub is_completed: Option<bool>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub completed_date: Option<DateTime<Utc>>,
}

/// A Club module. The shape is not documented in CONTRACTS.md: lenient.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClubModule {
    #[serde(default, alias = "id", deserialize_with = "lenient::string")]
    pub module_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::u32")]
    pub sequence: Option<u32>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub is_extra: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub is_public: Option<bool>,
    #[serde(default, deserialize_with = "lenient::u32")]
    pub total_pages: Option<u32>,
}

/// A page (lesson) of a Club module. The shape is not documented in
/// CONTRACTS.md: lenient.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClubPage {
    #[serde(default, alias = "id", deserialize_with = "lenient::string")]
    pub page_id: Option<String>,
    #[serde(default, alias = "page_name", deserialize_with = "lenient::string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::u32")]
    pub sequence: Option<u32>,
    #[serde(default, alias = "type", deserialize_with = "lenient::string")]
    pub page_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub is_published: Option<bool>,
}
