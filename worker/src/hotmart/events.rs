//! Hotmart postback v2 decoding, without I/O.
//!
//! Two layers. [`parse_envelope`] checks only what the webhook receiver needs to
//! authenticate and dedupe, because the receiver must answer within milliseconds;
//! [`decode`] turns a stored envelope into a typed [`HotmartEvent`] for the job
//! that applies it to the domain.
//!
//! Hotmart's payloads vary between accounts and over time (ids as numbers or
//! strings, dates as epoch milliseconds or ISO-8601, "CANCELED" and "CANCELLED",
//! payment links under changing names), so the scalar helpers accept every shape
//! seen. A field is an error only when the event cannot be applied without it,
//! and errors name the field, never its value: payloads carry personal data.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

/// Deepest nesting of arrays and objects accepted in a webhook body. Real
/// payloads stay under 6; serde_json's own limit (128) would still let a
/// hostile body cost stack, and its error would not say what went wrong.
pub const MAX_DEPTH: usize = 64;
/// Longest envelope `id` accepted, in characters after trimming.
pub const MAX_ID_CHARS: usize = 128;
/// Longest envelope `event` accepted, in characters after trimming.
pub const MAX_EVENT_CHARS: usize = 64;
/// Longest transaction or subscriber code accepted (the column width).
pub const MAX_CODE_CHARS: usize = 64;

// ---------------------------------------------------------------------------
// Envelope
// ---------------------------------------------------------------------------

/// What every postback carries, whatever the event.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Hotmart's event id, trimmed: the dedupe key.
    pub id: String,
    /// The event name as sent, trimmed and upper-cased (unknown names kept).
    pub event: String,
    pub creation_date: Option<DateTime<Utc>>,
    pub version: Option<String>,
    /// The body's copy of the shared token (the header is the primary source).
    pub hottok: Option<String>,
    /// Always an object (empty when the body had none).
    pub data: Value,
}

/// Why a webhook body is not a usable envelope: the receiver answers 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the body is not valid JSON (line {line}, column {column})")]
    MalformedJson { line: usize, column: usize },
    #[error("the body nests arrays or objects more than {MAX_DEPTH} levels deep")]
    TooDeep,
    #[error("the body is not a JSON object")]
    NotAnObject,
    #[error("the body has no `id`")]
    MissingId,
    #[error("`id` must be a string or an integer of at most {MAX_ID_CHARS} characters")]
    InvalidId,
    #[error("the body has no `event`")]
    MissingEvent,
    #[error("`event` must be a string of at most {MAX_EVENT_CHARS} characters")]
    InvalidEvent,
    #[error("`data` must be an object")]
    InvalidData,
}

impl EnvelopeError {
    /// A stable, machine-readable code for responses and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedJson { .. } => "malformed_json",
            Self::TooDeep => "too_deep",
            Self::NotAnObject => "not_an_object",
            Self::MissingId => "missing_id",
            Self::InvalidId => "invalid_id",
            Self::MissingEvent => "missing_event",
            Self::InvalidEvent => "invalid_event",
            Self::InvalidData => "invalid_data",
        }
    }
}

/// Parses a postback body into its envelope; `data` is kept as it came.
pub fn parse_envelope(body: &[u8]) -> Result<Envelope, EnvelopeError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if nesting_exceeds(body, MAX_DEPTH) {
        return Err(EnvelopeError::TooDeep);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| EnvelopeError::MalformedJson {
        line: e.line(),
        column: e.column(),
    })?;
    let Value::Object(mut object) = value else {
        return Err(EnvelopeError::NotAnObject);
    };
    let id = envelope_id(object.get("id"))?;
    let event = envelope_event(object.get("event"))?;
    let mut data = match object.remove("data") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(data @ Value::Object(_)) => data,
        Some(_) => return Err(EnvelopeError::InvalidData),
    };
    // A NUL in a name or an address is noise no store keeps: it goes here,
    // once, so every fact decoded from `data` is free of it.
    entity::text::strip_nul(&mut data);
    let creation_date = object
        .get("creation_date")
        .and_then(timestamp)
        .or_else(|| object.get("creationDate").and_then(timestamp));
    Ok(Envelope {
        id,
        event,
        creation_date,
        version: object.get("version").and_then(id_text),
        hottok: object.get("hottok").and_then(text),
        data,
    })
}

fn envelope_id(value: Option<&Value>) -> Result<String, EnvelopeError> {
    match value {
        None | Some(Value::Null) => Err(EnvelopeError::MissingId),
        Some(Value::String(s)) if s.trim().is_empty() => Err(EnvelopeError::MissingId),
        Some(value) => id_text(value)
            .filter(|id| id.chars().count() <= MAX_ID_CHARS && !id.chars().any(char::is_control))
            .ok_or(EnvelopeError::InvalidId),
    }
}

fn envelope_event(value: Option<&Value>) -> Result<String, EnvelopeError> {
    match value {
        None | Some(Value::Null) => Err(EnvelopeError::MissingEvent),
        Some(Value::String(s)) => {
            let event = s.trim();
            if event.is_empty() {
                Err(EnvelopeError::MissingEvent)
            } else if event.chars().count() > MAX_EVENT_CHARS || event.chars().any(char::is_control)
            {
                Err(EnvelopeError::InvalidEvent)
            } else {
                Ok(event.to_ascii_uppercase())
            }
        }
        Some(_) => Err(EnvelopeError::InvalidEvent),
    }
}

/// Whether arrays and objects nest deeper than `max`, brackets inside strings
/// aside. Runs before serde_json so depth is bounded before any recursion.
fn nesting_exceeds(body: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in body {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

// ---------------------------------------------------------------------------
// Lenient scalars
// ---------------------------------------------------------------------------

/// Largest integer an `f64` holds exactly (2^53).
const F64_EXACT_INT: f64 = 9_007_199_254_740_992.0;
/// Below this, a numeric timestamp is taken as seconds: 10^11 ms is March 1973,
/// 10^11 s is the year 5138, so no real date is ambiguous.
const SECONDS_BELOW: i64 = 100_000_000_000;

/// An identifier as text: a string (trimmed) or an integral number.
/// Numbers with a fractional part, empty strings and other types give `None`.
pub fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_owned())
        }
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(i.to_string())
            } else if let Some(u) = n.as_u64() {
                Some(u.to_string())
            } else {
                let f = n.as_f64()?;
                (f.fract() == 0.0 && f.abs() <= F64_EXACT_INT).then(|| format!("{f:.0}"))
            }
        }
        _ => None,
    }
}

/// A point in time from epoch milliseconds (number or numeric string; values
/// below 10^11 are seconds), RFC 3339 / ISO-8601 with or without an offset
/// (none means UTC), or a plain `YYYY-MM-DD` (midnight UTC). Zero and negative
/// epochs are treated as "not set".
pub fn timestamp(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::Number(n) => epoch(n.as_i64().or_else(|| whole(n.as_f64()?))?),
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() {
                None
            } else if let Ok(n) = s.parse::<i64>() {
                epoch(n)
            } else if let Ok(f) = s.parse::<f64>() {
                epoch(whole(f)?)
            } else {
                datetime_text(s)
            }
        }
        _ => None,
    }
}

fn whole(f: f64) -> Option<i64> {
    // Sub-millisecond digits carry no meaning here; truncate them.
    (f.is_finite() && f.abs() <= F64_EXACT_INT).then(|| f.trunc() as i64)
}

fn epoch(n: i64) -> Option<DateTime<Utc>> {
    if n <= 0 {
        None
    } else if n < SECONDS_BELOW {
        DateTime::from_timestamp(n, 0)
    } else {
        DateTime::from_timestamp_millis(n)
    }
}

fn datetime_text(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // `%z` accepts "+0300" and "+03:00"; rfc3339 above covers "Z" and full forms.
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// An exact decimal from a JSON number or numeric string. Numbers are read from
/// their textual form, so `1234.56` is 1234.56, not the nearest binary float.
/// Decimal commas and thousands separators are refused: "1,234" is ambiguous.
pub fn decimal(value: &Value) -> Option<Decimal> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    if text.is_empty()
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return None;
    }
    Decimal::from_str_exact(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

/// A string, trimmed; empty and non-string values give `None`.
pub fn text(value: &Value) -> Option<String> {
    let s = value.as_str()?.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// A small non-negative count (installments, recurrence number) as text or number.
fn count(value: &Value) -> Option<u32> {
    id_text(value)?.parse().ok()
}

/// The value at a dotted path below `value`; `null` counts as absent.
fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = value;
    for key in path.split('.') {
        current = current.as_object()?.get(key)?;
    }
    (!current.is_null()).then_some(current)
}

fn text_at(value: &Value, path: &str) -> Option<String> {
    at(value, path).and_then(text)
}

fn id_at(value: &Value, path: &str) -> Option<String> {
    at(value, path).and_then(id_text)
}

fn time_at(value: &Value, path: &str) -> Option<DateTime<Utc>> {
    at(value, path).and_then(timestamp)
}

fn upper(s: String) -> String {
    s.to_ascii_uppercase()
}

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
    fn from_value(product: Option<&Value>) -> Self {
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
    fn from_value(plan: Option<&Value>) -> Option<Self> {
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

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/// Types a stored envelope. Unknown event names give [`HotmartEvent::Unknown`].
pub fn decode(envelope: &Envelope) -> Result<HotmartEvent, DecodeError> {
    let kind = EventKind::parse(&envelope.event);
    let data = &envelope.data;
    let occurred_at = envelope.creation_date;
    Ok(match kind {
        EventKind::PurchaseApproved
        | EventKind::PurchaseComplete
        | EventKind::PurchaseCanceled
        | EventKind::PurchaseBilletPrinted
        | EventKind::PurchaseProtest
        | EventKind::PurchaseRefunded
        | EventKind::PurchaseChargeback
        | EventKind::PurchaseExpired
        | EventKind::PurchaseDelayed => {
            HotmartEvent::Purchase(Box::new(decode_purchase(kind, occurred_at, data)?))
        }
        EventKind::PurchaseOutOfShoppingCart => HotmartEvent::CartAbandoned(CartAbandoned {
            occurred_at,
            product: Product::from_value(at(data, "product")),
            buyer: Contact {
                email: required_email(data, "buyer.email")?,
                name: person_name(data, "buyer"),
                phone: id_at(data, "buyer.phone").or_else(|| checkout_phone(data)),
            },
            offer_code: id_at(data, "offer.code"),
        }),
        EventKind::SubscriptionCancellation => {
            let code = required_code(data, &["subscriber.code", "subscription.subscriber.code"])?;
            HotmartEvent::SubscriptionCancelled(SubscriptionCancelled {
                occurred_at: occurred_at.or_else(|| time_at(data, "cancellation_date")),
                subscriber: Subscriber {
                    code,
                    email: optional_email(data, "subscriber.email"),
                    name: text_at(data, "subscriber.name"),
                    phone: at(data, "subscriber.phone").and_then(split_phone),
                },
                subscription_id: id_at(data, "subscription.id"),
                product: Product::from_value(at(data, "product")),
                plan: Plan::from_value(at(data, "subscription.plan")),
                cancellation_date: time_at(data, "cancellation_date"),
                date_next_charge: time_at(data, "date_next_charge"),
                actual_recurrence_value: at(data, "actual_recurrence_value").and_then(decimal),
            })
        }
        EventKind::SwitchPlan => {
            let code = required_code(
                data,
                &[
                    "subscription.subscriber_code",
                    "subscription.subscriber.code",
                    "subscriber.code",
                ],
            )?;
            HotmartEvent::PlanSwitched(PlanSwitched {
                occurred_at: occurred_at.or_else(|| time_at(data, "switch_plan_date")),
                subscriber: Subscriber {
                    code,
                    email: optional_email(data, "subscription.user.email"),
                    name: text_at(data, "subscription.user.name"),
                    phone: None,
                },
                switched_at: time_at(data, "switch_plan_date"),
                new_plan: current_plan(data),
                status: text_at(data, "subscription.status").map(|s| SubscriptionStatus::parse(&s)),
                date_next_charge: time_at(data, "subscription.date_next_charge"),
                product: Product::from_value(
                    at(data, "subscription.product").or_else(|| at(data, "product")),
                ),
            })
        }
        EventKind::UpdateSubscriptionChargeDate => {
            let code = required_code(data, &["subscriber.code", "subscription.subscriber_code"])?;
            HotmartEvent::ChargeDateChanged(ChargeDateChanged {
                occurred_at,
                subscriber: Subscriber {
                    code,
                    email: optional_email(data, "subscriber.email"),
                    name: text_at(data, "subscriber.name"),
                    phone: None,
                },
                product: Product::from_value(
                    at(data, "subscription.product").or_else(|| at(data, "product")),
                ),
                new_charge_day: at(data, "subscription.new_charge_day").and_then(charge_day),
                old_charge_day: at(data, "subscription.old_charge_day").and_then(charge_day),
                date_next_charge: time_at(data, "subscription.date_next_charge"),
                status: text_at(data, "subscription.status").map(|s| SubscriptionStatus::parse(&s)),
                plan: Plan::from_value(at(data, "plan"))
                    .or_else(|| Plan::from_value(at(data, "subscription.plan"))),
            })
        }
        EventKind::ClubFirstAccess => HotmartEvent::FirstAccess(FirstAccess {
            occurred_at,
            product: Product::from_value(at(data, "product")),
            user: member(data)?,
        }),
        EventKind::ClubModuleCompleted => {
            let module = Module {
                id: id_at(data, "module.id"),
                name: text_at(data, "module.name"),
            };
            if module.id.is_none() && module.name.is_none() {
                return Err(DecodeError::Missing("module.id"));
            }
            HotmartEvent::ModuleCompleted(ModuleCompleted {
                occurred_at,
                product: Product::from_value(at(data, "product")),
                user: member(data)?,
                module,
            })
        }
        EventKind::OrderFulfillment => HotmartEvent::OrderFulfillment(OrderFulfillment {
            occurred_at,
            product: Product::from_value(at(data, "product")),
            email: optional_email(data, "buyer.email")
                .or_else(|| optional_email(data, "user.email")),
            transaction: id_at(data, "purchase.transaction").or_else(|| id_at(data, "transaction")),
        }),
        EventKind::Unknown(event) => HotmartEvent::Unknown(event),
    })
}

fn decode_purchase(
    kind: EventKind,
    occurred_at: Option<DateTime<Utc>>,
    data: &Value,
) -> Result<Purchase, DecodeError> {
    let buyer = Buyer {
        email: required_email(data, "buyer.email")?,
        name: person_name(data, "buyer"),
        phone: checkout_phone(data).or_else(|| id_at(data, "buyer.phone")),
        document: id_at(data, "buyer.document"),
        document_type: text_at(data, "buyer.document_type").map(upper),
    };
    let transaction = required_code(data, &["purchase.transaction"])?;
    let status = text_at(data, "purchase.status")
        .map(|s| PurchaseStatus::parse(&s))
        .or_else(|| kind.implied_purchase_status())
        .ok_or(DecodeError::Missing("purchase.status"))?;
    let (amount, currency) = purchase_price(data);
    let links = PaymentLinks::find(at(data, "purchase"));
    let is_bump = at(data, "purchase.order_bump.is_order_bump") != Some(&Value::Bool(false));
    Ok(Purchase {
        kind,
        occurred_at,
        product: Product::from_value(at(data, "product")),
        buyer,
        transaction,
        status,
        order_date: time_at(data, "purchase.order_date"),
        approved_date: time_at(data, "purchase.approved_date"),
        amount,
        currency,
        payment_type: text_at(data, "purchase.payment.type").map(upper),
        payment_method: text_at(data, "purchase.payment.method").map(upper),
        installments: at(data, "purchase.payment.installments_number").and_then(count),
        billet_url: links.billet_url,
        billet_barcode: links.billet_barcode,
        pix_code: links.pix_emv.or(links.pix_other),
        pix_url: links.pix_url,
        offer_code: id_at(data, "purchase.offer.code"),
        coupon: id_at(data, "purchase.offer.coupon_code"),
        // REST spells it `recurrency_number`; accept both in case a relay mixes them.
        recurrence_number: at(data, "purchase.recurrence_number")
            .or_else(|| at(data, "purchase.recurrency_number"))
            .and_then(count),
        origin: Origin {
            src: text_at(data, "purchase.origin.src"),
            sck: text_at(data, "purchase.origin.sck"),
            xcod: text_at(data, "purchase.origin.xcod"),
        },
        order_bump_parent_transaction: id_at(
            data,
            "purchase.order_bump.parent_purchase_transaction",
        )
        .filter(|_| is_bump),
        subscription: purchase_subscription(data),
        commission_type: commission_type(data),
    })
}

fn required_email(data: &Value, path: &'static str) -> Result<String, DecodeError> {
    let raw = text_at(data, path).ok_or(DecodeError::Missing(path))?;
    entity::customers::normalize_email(&raw).map_err(|_| DecodeError::Invalid {
        field: path,
        reason: "not an e-mail address",
    })
}

/// Where the subscriber code identifies the customer, a bad e-mail is dropped
/// rather than failing the event.
fn optional_email(data: &Value, path: &str) -> Option<String> {
    entity::customers::normalize_email(&text_at(data, path)?).ok()
}

/// The first of `paths` holding a code; the error names the first path.
fn required_code(data: &Value, paths: &[&'static str]) -> Result<String, DecodeError> {
    let primary = paths.first().copied().unwrap_or("");
    for path in paths {
        if let Some(code) = id_at(data, path) {
            if code.chars().count() > MAX_CODE_CHARS {
                return Err(DecodeError::Invalid {
                    field: path,
                    reason: "longer than 64 characters",
                });
            }
            return Ok(code);
        }
    }
    Err(DecodeError::Missing(primary))
}

fn member(data: &Value) -> Result<Contact, DecodeError> {
    Ok(Contact {
        email: required_email(data, "user.email")?,
        name: text_at(data, "user.name"),
        phone: None,
    })
}

/// `name`, else `first_name` and `last_name` joined.
fn person_name(data: &Value, person: &str) -> Option<String> {
    let person = at(data, person)?;
    text_at(person, "name").or_else(|| {
        let parts: Vec<String> = ["first_name", "last_name"]
            .iter()
            .filter_map(|key| text_at(person, key))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    })
}

fn join_phone(prefix: Option<String>, number: Option<String>) -> Option<String> {
    match (prefix, number) {
        (Some(prefix), Some(number)) => Some(format!("{prefix} {number}")),
        (_, number) => number,
    }
}

fn checkout_phone(data: &Value) -> Option<String> {
    join_phone(
        id_at(data, "buyer.checkout_phone_code"),
        id_at(data, "buyer.checkout_phone"),
    )
}

/// `{dddCell, cell, dddPhone, phone}`, mobile first; a plain string is taken as is.
fn split_phone(phone: &Value) -> Option<String> {
    if !phone.is_object() {
        return id_text(phone);
    }
    join_phone(id_at(phone, "dddCell"), id_at(phone, "cell"))
        .or_else(|| join_phone(id_at(phone, "dddPhone"), id_at(phone, "phone")))
}

fn charge_day(value: &Value) -> Option<u32> {
    count(value).filter(|day| (1..=31).contains(day))
}

fn purchase_price(data: &Value) -> (Option<Decimal>, Option<String>) {
    let amount_of = |price: Option<&Value>| {
        let price = price?;
        at(price, "value")
            .and_then(decimal)
            .or_else(|| decimal(price))
    };
    let currency_of = |price: Option<&Value>| {
        let price = price?;
        text_at(price, "currency_value")
            .or_else(|| text_at(price, "currency_code"))
            .map(upper)
    };
    let price = at(data, "purchase.price");
    let full_price = at(data, "purchase.full_price");
    match amount_of(price) {
        Some(amount) => (
            Some(amount),
            currency_of(price).or_else(|| currency_of(full_price)),
        ),
        None => (
            amount_of(full_price),
            currency_of(full_price).or_else(|| currency_of(price)),
        ),
    }
}

fn purchase_subscription(data: &Value) -> Option<PurchaseSubscription> {
    let subscription = at(data, "subscription")?;
    let found = PurchaseSubscription {
        subscriber_code: id_at(subscription, "subscriber.code"),
        status: text_at(subscription, "status").map(|s| SubscriptionStatus::parse(&s)),
        plan_id: id_at(subscription, "plan.id"),
        plan_name: text_at(subscription, "plan.name"),
    };
    (found.subscriber_code.is_some()
        || found.status.is_some()
        || found.plan_id.is_some()
        || found.plan_name.is_some())
    .then_some(found)
}

/// The account's own role in the sale: PRODUCER when a producer commission is
/// listed, else the first role that is not Hotmart's own fee (MARKETPLACE).
fn commission_type(data: &Value) -> Option<String> {
    let sources: Vec<String> = at(data, "commissions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|commission| text_at(commission, "source").map(upper))
        .collect();
    sources
        .iter()
        .find(|source| *source == "PRODUCER")
        .or_else(|| sources.iter().find(|source| *source != "MARKETPLACE"))
        .cloned()
}

/// The `plans[]` entry with `current: true` (a boolean or the string "true").
fn current_plan(data: &Value) -> Option<Plan> {
    at(data, "plans")?
        .as_array()?
        .iter()
        .find(|plan| match at(plan, "current") {
            Some(Value::Bool(current)) => *current,
            Some(Value::String(current)) => current.trim().eq_ignore_ascii_case("true"),
            _ => false,
        })
        .and_then(|plan| Plan::from_value(Some(plan)))
}

/// Billet and Pix data from a purchase. Hotmart's field names for these vary
/// (billet_url, billet_barcode, pix_code, pix_qrcode, pix_url, nested objects),
/// so keys only say billet or Pix and the value says what it is: a URL is a
/// link, a long run of digits a barcode, a "000201..." string a Pix EMV code.
#[derive(Debug, Default)]
struct PaymentLinks {
    billet_url: Option<String>,
    billet_barcode: Option<String>,
    pix_emv: Option<String>,
    pix_other: Option<String>,
    pix_url: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum Means {
    Billet,
    Pix,
}

impl PaymentLinks {
    fn find(purchase: Option<&Value>) -> Self {
        let mut links = Self::default();
        if let Some(purchase) = purchase {
            // `payment` first, then the rest of the purchase; the first value found wins.
            if let Some(payment) = at(purchase, "payment") {
                links.scan(payment, None, 1);
            }
            links.scan(purchase, None, 0);
        }
        links
    }

    fn scan(&mut self, object: &Value, inherited: Option<Means>, depth: u8) {
        let Some(object) = object.as_object() else {
            return;
        };
        for (key, value) in object {
            let means = means_of(key).or(inherited);
            if value.is_object() {
                if depth < 2 {
                    self.scan(value, means, depth + 1);
                }
            } else if let (Some(means), Some(value)) = (means, text(value)) {
                self.record(means, key, value);
            }
        }
    }

    fn record(&mut self, means: Means, key: &str, value: String) {
        let lower = value.to_ascii_lowercase();
        let is_url = lower.starts_with("https://") || lower.starts_with("http://");
        let slot = match means {
            Means::Billet if is_url => &mut self.billet_url,
            Means::Billet if is_barcode(&value) => &mut self.billet_barcode,
            Means::Pix if is_url => &mut self.pix_url,
            Means::Pix if value.starts_with("000201") => &mut self.pix_emv,
            // Bounded: a QR image sent inline (base64) is not a code to paste.
            Means::Pix
                if is_pix_code_key(key) && !lower.starts_with("data:") && value.len() <= 512 =>
            {
                &mut self.pix_other
            }
            _ => return,
        };
        slot.get_or_insert(value);
    }
}

fn means_of(key: &str) -> Option<Means> {
    let key = key.to_ascii_lowercase();
    if key.contains("billet") || key.contains("boleto") || key.contains("bankslip") {
        Some(Means::Billet)
    } else if key.contains("pix") && !key.contains("pixel") {
        Some(Means::Pix)
    } else {
        None
    }
}

/// A barcode (44 digits) or digitable line (47/48), possibly punctuated.
fn is_barcode(value: &str) -> bool {
    value
        .chars()
        .all(|c| c.is_ascii_digit() || " .-".contains(c))
        && value.chars().filter(char::is_ascii_digit).count() >= 40
}

fn is_pix_code_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    // Not "key": a Pix key identifies the payee, it is not a payable code.
    ["code", "qr", "copy", "emv"]
        .iter()
        .any(|word| key.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn envelope(value: Value) -> Envelope {
        parse_envelope(value.to_string().as_bytes()).expect("valid envelope")
    }

    fn decoded(value: Value) -> HotmartEvent {
        decode(&envelope(value)).expect("decodes")
    }

    fn purchase(value: Value) -> Purchase {
        match decoded(value) {
            HotmartEvent::Purchase(p) => *p,
            other => panic!("expected a purchase, got {other:?}"),
        }
    }

    fn utc_ms(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    fn dec(text: &str) -> Decimal {
        Decimal::from_str_exact(text).unwrap()
    }

    /// Shaped like CONTRACTS.md section 1 and Hotmart's published samples.
    const APPROVED: &str = r#"{
        "id": "5f1c2e1a-8b7d-4c3e-9a1f-0e2d3c4b5a69",
        "creation_date": 1717171717000,
        "event": "PURCHASE_APPROVED",
        "version": "2.0.0",
        "hottok": "tok-123",
        "data": {
            "product": {
                "id": 3526906,
                "ucode": "fb056612-bcc6-4217-9e6d-2a5d1110ac2f",
                "name": "Curso de Confeitaria Profissional",
                "warranty_date": "2024-06-07T00:00:00Z",
                "support_email": "suporte@exemplo.com.br",
                "has_co_production": false,
                "is_physical_product": false,
                "content": {
                    "has_physical_products": false,
                    "products": [
                        {"id": 3526906, "ucode": "fb056612-bcc6-4217-9e6d-2a5d1110ac2f",
                         "name": "Curso de Confeitaria Profissional", "is_physical_product": false}
                    ]
                }
            },
            "affiliates": [{"affiliate_code": "Q58388177J", "name": "Afiliado Teste"}],
            "buyer": {
                "email": "  Maria.Silva@Example.COM ",
                "name": "Maria Silva",
                "first_name": "Maria",
                "last_name": "Silva",
                "checkout_phone_code": "55",
                "checkout_phone": "11987654321",
                "document": "12345678909",
                "document_type": "cpf",
                "address": {"city": "São Paulo", "country": "Brasil", "country_iso": "BR",
                            "state": "SP", "zipcode": "01310100", "address": "Av. Paulista",
                            "number": "1000", "complement": ""}
            },
            "producer": {"name": "Escola Doce", "document": "12345678000199", "legal_nature": "Pessoa Jurídica"},
            "commissions": [
                {"value": 49.7, "source": "MARKETPLACE", "currency_value": "BRL"},
                {"value": 447.3, "source": "PRODUCER", "currency_value": "BRL"}
            ],
            "purchase": {
                "approved_date": 1717171700000,
                "full_price": {"value": 497.0, "currency_value": "BRL"},
                "price": {"value": 497.0, "currency_value": "BRL"},
                "original_offer_price": {"value": 597.0, "currency_value": "BRL"},
                "checkout_country": {"name": "Brasil", "iso": "BR"},
                "order_bump": {"is_order_bump": false},
                "origin": {"src": "wpp", "sck": "campanha_maio", "xcod": "x-42"},
                "order_date": 1717171600000,
                "status": "APPROVED",
                "transaction": "HP16015479281022",
                "payment": {"installments_number": 12, "type": "CREDIT_CARD"},
                "offer": {"code": "k2pasun0", "coupon_code": "MAIO10"},
                "recurrence_number": 1,
                "business_model": "I",
                "is_funnel": false,
                "sckPaymentLink": "sckPaymentLinkTest",
                "buyer_ip": "200.100.50.25"
            },
            "subscription": {
                "status": "ACTIVE",
                "plan": {"id": 712345, "name": "Plano Anual"},
                "subscriber": {"code": "I9OT62C3"}
            }
        }
    }"#;

    fn approved() -> Value {
        serde_json::from_str(APPROVED).unwrap()
    }

    #[test]
    fn purchase_approved_decodes_everything_the_domain_needs() {
        let env = parse_envelope(APPROVED.as_bytes()).unwrap();
        assert_eq!(env.id, "5f1c2e1a-8b7d-4c3e-9a1f-0e2d3c4b5a69");
        assert_eq!(env.event, "PURCHASE_APPROVED");
        assert_eq!(env.creation_date, Some(utc_ms(1_717_171_717_000)));
        assert_eq!(env.version.as_deref(), Some("2.0.0"));
        assert_eq!(env.hottok.as_deref(), Some("tok-123"));

        let event = decode(&env).unwrap();
        assert_eq!(event.kind(), EventKind::PurchaseApproved);
        assert_eq!(event.customer_email(), Some("maria.silva@example.com"));
        assert_eq!(event.occurred_at(), Some(utc_ms(1_717_171_717_000)));
        let HotmartEvent::Purchase(p) = event else {
            panic!("not a purchase")
        };
        assert_eq!(p.kind, EventKind::PurchaseApproved);
        assert_eq!(p.product.hotmart_id.as_deref(), Some("3526906"));
        assert_eq!(
            p.product.ucode.as_deref(),
            Some("fb056612-bcc6-4217-9e6d-2a5d1110ac2f")
        );
        assert_eq!(
            p.product.name.as_deref(),
            Some("Curso de Confeitaria Profissional")
        );
        assert_eq!(
            p.product.warranty_ends_at,
            Some(Utc.with_ymd_and_hms(2024, 6, 7, 0, 0, 0).unwrap())
        );
        assert_eq!(p.buyer.email, "maria.silva@example.com");
        assert_eq!(p.buyer.name.as_deref(), Some("Maria Silva"));
        assert_eq!(p.buyer.phone.as_deref(), Some("55 11987654321"));
        assert_eq!(p.buyer.document.as_deref(), Some("12345678909"));
        assert_eq!(p.buyer.document_type.as_deref(), Some("CPF"));
        assert_eq!(p.transaction, "HP16015479281022");
        assert_eq!(p.status, PurchaseStatus::Approved);
        assert_eq!(p.order_date, Some(utc_ms(1_717_171_600_000)));
        assert_eq!(p.approved_date, Some(utc_ms(1_717_171_700_000)));
        assert_eq!(p.amount, Some(dec("497.00")));
        assert_eq!(p.currency.as_deref(), Some("BRL"));
        assert_eq!(p.payment_type.as_deref(), Some("CREDIT_CARD"));
        assert_eq!(p.payment_method, None);
        assert_eq!(p.installments, Some(12));
        assert_eq!(p.billet_url, None);
        assert_eq!(p.pix_code, None);
        assert_eq!(p.offer_code.as_deref(), Some("k2pasun0"));
        assert_eq!(p.coupon.as_deref(), Some("MAIO10"));
        assert_eq!(p.recurrence_number, Some(1));
        assert_eq!(
            p.origin,
            Origin {
                src: Some("wpp".into()),
                sck: Some("campanha_maio".into()),
                xcod: Some("x-42".into()),
            }
        );
        assert_eq!(p.order_bump_parent_transaction, None);
        assert_eq!(
            p.subscription,
            Some(PurchaseSubscription {
                subscriber_code: Some("I9OT62C3".into()),
                status: Some(SubscriptionStatus::Active),
                plan_id: Some("712345".into()),
                plan_name: Some("Plano Anual".into()),
            })
        );
        assert_eq!(p.commission_type.as_deref(), Some("PRODUCER"));
    }

    #[test]
    fn purchase_variants_with_string_ids_camel_case_date_and_iso_dates() {
        let mut v = approved();
        v["id"] = json!(987654321);
        v.as_object_mut().unwrap().remove("creation_date");
        v["creationDate"] = json!("1717171717000");
        v["event"] = json!("purchase_approved");
        v["data"]["product"]["id"] = json!("3526906");
        v["data"]["purchase"]["order_date"] = json!("2024-05-31T13:00:00-03:00");
        v["data"]["purchase"]["approved_date"] = json!("2024-05-31T16:05:00Z");
        v["data"]["purchase"]["price"] = json!({"value": "1234.56", "currency_value": "brl"});
        v["data"]["purchase"]["payment"]["installments_number"] = json!("3");
        v["data"]["purchase"]["recurrence_number"] = json!(2.0);
        v["data"]["subscription"]["plan"]["id"] = json!("712345");
        let env = envelope(v.clone());
        assert_eq!(env.id, "987654321");
        assert_eq!(env.event, "PURCHASE_APPROVED");
        assert_eq!(env.creation_date, Some(utc_ms(1_717_171_717_000)));
        let p = purchase(v);
        assert_eq!(p.occurred_at, Some(utc_ms(1_717_171_717_000)));
        assert_eq!(p.product.hotmart_id.as_deref(), Some("3526906"));
        assert_eq!(
            p.order_date,
            Some(Utc.with_ymd_and_hms(2024, 5, 31, 16, 0, 0).unwrap())
        );
        assert_eq!(
            p.approved_date,
            Some(Utc.with_ymd_and_hms(2024, 5, 31, 16, 5, 0).unwrap())
        );
        assert_eq!(p.amount, Some(dec("1234.56")));
        assert_eq!(p.currency.as_deref(), Some("BRL"));
        assert_eq!(p.installments, Some(3));
        assert_eq!(p.recurrence_number, Some(2));
        assert_eq!(p.subscription.unwrap().plan_id.as_deref(), Some("712345"));
    }

    #[test]
    fn cancelled_is_accepted_with_one_l_or_two() {
        for (event, status) in [
            ("PURCHASE_CANCELED", "CANCELED"),
            ("PURCHASE_CANCELLED", "CANCELLED"),
            ("PURCHASE_CANCELED", "cancelled"),
        ] {
            let mut v = approved();
            v["event"] = json!(event);
            v["data"]["purchase"]["status"] = json!(status);
            let p = purchase(v);
            assert_eq!(p.kind, EventKind::PurchaseCanceled);
            assert_eq!(p.kind.as_str(), "PURCHASE_CANCELED");
            assert_eq!(p.status, PurchaseStatus::Cancelled);
            assert_eq!(p.status.as_str(), "CANCELLED");
        }
    }

    #[test]
    fn purchase_status_falls_back_to_the_event() {
        for (event, status) in [
            ("PURCHASE_REFUNDED", PurchaseStatus::Refunded),
            ("PURCHASE_CHARGEBACK", PurchaseStatus::Chargeback),
            ("PURCHASE_PROTEST", PurchaseStatus::Protested),
            ("PURCHASE_COMPLETE", PurchaseStatus::Complete),
            ("PURCHASE_EXPIRED", PurchaseStatus::Expired),
            ("PURCHASE_DELAYED", PurchaseStatus::Overdue),
            ("PURCHASE_BILLET_PRINTED", PurchaseStatus::PrintedBillet),
        ] {
            let mut v = approved();
            v["event"] = json!(event);
            v["data"]["purchase"]
                .as_object_mut()
                .unwrap()
                .remove("status");
            assert_eq!(purchase(v).status, status, "{event}");
        }
    }

    #[test]
    fn billet_printed_extracts_links_leniently() {
        let mut v = approved();
        v["event"] = json!("PURCHASE_BILLET_PRINTED");
        v["data"]["purchase"]["status"] = json!("PRINTED_BILLET");
        v["data"]["purchase"]["payment"] = json!({
            "type": "BILLET",
            "installments_number": 1,
            "billet_url": "https://billet.hotmart.com/b/HP16015479281022",
            "billet_barcode": "34191.79001 01043.510047 91020.150008 5 97150026000"
        });
        let p = purchase(v);
        assert_eq!(p.status, PurchaseStatus::PrintedBillet);
        assert_eq!(p.payment_type.as_deref(), Some("BILLET"));
        assert_eq!(
            p.billet_url.as_deref(),
            Some("https://billet.hotmart.com/b/HP16015479281022")
        );
        assert_eq!(
            p.billet_barcode.as_deref(),
            Some("34191.79001 01043.510047 91020.150008 5 97150026000")
        );

        let mut v = approved();
        v["event"] = json!("PURCHASE_BILLET_PRINTED");
        v["data"]["purchase"]["payment"] = json!({
            "type": "PIX",
            "pix": {"qrcode": "https://pix.hotmart.com/qr/abc.png"},
            "pix_code": "00020101021226860014br.gov.bcb.pix2564pix.example.com/qr/v2/abc5204000053039865802BR6304ABCD",
            "pixExpirationDate": 1717200000000_i64
        });
        let p = purchase(v);
        assert_eq!(
            p.pix_code.as_deref(),
            Some(
                "00020101021226860014br.gov.bcb.pix2564pix.example.com/qr/v2/abc5204000053039865802BR6304ABCD"
            )
        );
        assert_eq!(
            p.pix_url.as_deref(),
            Some("https://pix.hotmart.com/qr/abc.png")
        );
        assert_eq!(p.billet_url, None);
    }

    #[test]
    fn purchase_fallbacks_full_price_names_bumps_and_commission_roles() {
        let mut v = approved();
        let purchase_data = v["data"]["purchase"].as_object_mut().unwrap();
        purchase_data.remove("price");
        purchase_data.insert(
            "full_price".into(),
            json!({"value": 1234.56, "currency_value": "USD"}),
        );
        purchase_data.insert(
            "order_bump".into(),
            json!({"is_order_bump": true, "parent_purchase_transaction": "HP000111"}),
        );
        let buyer = v["data"]["buyer"].as_object_mut().unwrap();
        buyer.remove("name");
        buyer.remove("checkout_phone_code");
        v["data"]["commissions"] = json!([
            {"value": 10, "source": "MARKETPLACE"},
            {"value": 90, "source": "coproducer"}
        ]);
        v["data"].as_object_mut().unwrap().remove("subscription");
        let p = purchase(v);
        assert_eq!(p.amount, Some(dec("1234.56")));
        assert_eq!(p.currency.as_deref(), Some("USD"));
        assert_eq!(p.order_bump_parent_transaction.as_deref(), Some("HP000111"));
        assert_eq!(p.buyer.name.as_deref(), Some("Maria Silva"));
        assert_eq!(p.buyer.phone.as_deref(), Some("11987654321"));
        assert_eq!(p.commission_type.as_deref(), Some("COPRODUCER"));
        assert_eq!(p.subscription, None);
    }

    #[test]
    fn purchase_without_email_or_transaction_is_an_error_that_names_the_field() {
        let mut v = approved();
        v["data"]["buyer"].as_object_mut().unwrap().remove("email");
        let err = decode(&envelope(v)).unwrap_err();
        assert_eq!(err, DecodeError::Missing("buyer.email"));
        assert_eq!(err.code(), "missing_field");
        assert_eq!(err.to_string(), "missing field `data.buyer.email`");

        let mut v = approved();
        v["data"]["buyer"]["email"] = json!("maria at example");
        let err = decode(&envelope(v)).unwrap_err();
        assert_eq!(err.code(), "invalid_field");
        assert_eq!(err.field(), "buyer.email");
        assert!(!err.to_string().contains("maria"));

        let mut v = approved();
        v["data"]["purchase"]["transaction"] = json!("  ");
        let err = decode(&envelope(v)).unwrap_err();
        assert_eq!(err, DecodeError::Missing("purchase.transaction"));
    }

    #[test]
    fn cart_abandoned() {
        let event = decoded(json!({
            "id": "c1", "creation_date": 1717171717000_i64, "event": "PURCHASE_OUT_OF_SHOPPING_CART",
            "version": "2.0.0",
            "data": {
                "affiliate": false,
                "product": {"id": 3526906, "name": "Curso de Confeitaria"},
                "buyer_ip": "200.100.50.25",
                "buyer": {"name": "João Souza", "email": "JOAO@exemplo.com.br", "phone": "11 98765-4321"},
                "offer": {"code": "k2pasun0"},
                "checkout_country": {"name": "Brasil", "iso": "BR"}
            }
        }));
        assert_eq!(event.customer_email(), Some("joao@exemplo.com.br"));
        let HotmartEvent::CartAbandoned(cart) = event else {
            panic!("not a cart")
        };
        assert_eq!(cart.occurred_at, Some(utc_ms(1_717_171_717_000)));
        assert_eq!(cart.product.hotmart_id.as_deref(), Some("3526906"));
        assert_eq!(cart.buyer.name.as_deref(), Some("João Souza"));
        assert_eq!(cart.buyer.phone.as_deref(), Some("11 98765-4321"));
        assert_eq!(cart.offer_code.as_deref(), Some("k2pasun0"));
    }

    #[test]
    fn subscription_cancellation() {
        let event = decoded(json!({
            "id": "s1", "creation_date": 1717171717000_i64, "event": "SUBSCRIPTION_CANCELLATION",
            "version": "2.0.0",
            "data": {
                "date_next_charge": 1719763200000_i64,
                "product": {"name": "Clube do Bolo", "id": 788921},
                "actual_recurrence_value": 64.9,
                "subscriber": {
                    "code": "0000aaaa", "name": "Ana Lima", "email": "ana@exemplo.com",
                    "phone": {"dddPhone": "", "phone": "", "dddCell": "21", "cell": "999887766"}
                },
                "subscription": {"id": 4148584, "plan": {"id": 114680, "name": "Plano Mensal"}},
                "cancellation_date": 1717171000000_i64
            }
        }));
        assert_eq!(event.customer_email(), Some("ana@exemplo.com"));
        let HotmartEvent::SubscriptionCancelled(c) = event else {
            panic!("not a cancellation")
        };
        assert_eq!(c.subscriber.code, "0000aaaa");
        assert_eq!(c.subscriber.name.as_deref(), Some("Ana Lima"));
        assert_eq!(c.subscriber.phone.as_deref(), Some("21 999887766"));
        assert_eq!(c.subscription_id.as_deref(), Some("4148584"));
        assert_eq!(c.product.hotmart_id.as_deref(), Some("788921"));
        assert_eq!(
            c.plan,
            Some(Plan {
                id: Some("114680".into()),
                name: Some("Plano Mensal".into()),
                offer_code: None
            })
        );
        assert_eq!(c.cancellation_date, Some(utc_ms(1_717_171_000_000)));
        assert_eq!(c.date_next_charge, Some(utc_ms(1_719_763_200_000)));
        assert_eq!(c.actual_recurrence_value, Some(dec("64.9")));
        assert_eq!(c.occurred_at, Some(utc_ms(1_717_171_717_000)));

        let err = decode(&envelope(json!({
            "id": "s2", "event": "SUBSCRIPTION_CANCELLATION", "data": {"subscriber": {"email": "a@b.co"}}
        })))
        .unwrap_err();
        assert_eq!(err, DecodeError::Missing("subscriber.code"));
    }

    #[test]
    fn switch_plan_picks_the_current_plan() {
        let event = decoded(json!({
            "id": "p1", "creation_date": 1717171717000_i64, "event": "SWITCH_PLAN",
            "version": "2.0.0",
            "data": {
                "switch_plan_date": 1717171500000_i64,
                "subscription": {
                    "subscriber_code": "ABC123XY",
                    "status": "ACTIVE",
                    "date_next_charge": 1719763200000_i64,
                    "product": {"id": 788921, "name": "Clube do Bolo"},
                    "user": {"email": "Ana@Exemplo.com"}
                },
                "plans": [
                    {"id": 114680, "name": "Plano Mensal", "offer": {"key": "m3nsal"}, "current": false},
                    {"id": 114681, "name": "Plano Anual", "offer": {"key": "4nual"}, "current": true}
                ]
            }
        }));
        assert_eq!(event.customer_email(), Some("ana@exemplo.com"));
        let HotmartEvent::PlanSwitched(s) = event else {
            panic!("not a plan switch")
        };
        assert_eq!(s.subscriber.code, "ABC123XY");
        assert_eq!(s.switched_at, Some(utc_ms(1_717_171_500_000)));
        assert_eq!(
            s.new_plan,
            Some(Plan {
                id: Some("114681".into()),
                name: Some("Plano Anual".into()),
                offer_code: Some("4nual".into())
            })
        );
        assert_eq!(s.status, Some(SubscriptionStatus::Active));
        assert_eq!(s.date_next_charge, Some(utc_ms(1_719_763_200_000)));
        assert_eq!(s.product.hotmart_id.as_deref(), Some("788921"));
    }

    #[test]
    fn update_subscription_charge_date_with_iso_next_charge() {
        let event = decoded(json!({
            "id": "u1", "creation_date": 1717171717000_i64, "event": "UPDATE_SUBSCRIPTION_CHARGE_DATE",
            "version": "2.0.0",
            "data": {
                "subscriber": {"code": "ABC123XY", "name": "Ana Lima", "email": "ana@exemplo.com"},
                "subscription": {
                    "product": {"id": 788921, "name": "Clube do Bolo"},
                    "old_charge_day": 5,
                    "new_charge_day": "20",
                    "date_next_charge": "2024-06-20T03:00:00.000Z",
                    "status": "canceled_by_customer"
                },
                "plan": {"offer": {"code": "m3nsal"}, "name": "Plano Mensal", "id": 114680}
            }
        }));
        assert_eq!(event.customer_email(), Some("ana@exemplo.com"));
        let HotmartEvent::ChargeDateChanged(c) = event else {
            panic!("not a charge date change")
        };
        assert_eq!(c.subscriber.code, "ABC123XY");
        assert_eq!(c.product.hotmart_id.as_deref(), Some("788921"));
        assert_eq!(c.old_charge_day, Some(5));
        assert_eq!(c.new_charge_day, Some(20));
        assert_eq!(
            c.date_next_charge,
            Some(Utc.with_ymd_and_hms(2024, 6, 20, 3, 0, 0).unwrap())
        );
        assert_eq!(c.status, Some(SubscriptionStatus::CancelledByCustomer));
        assert_eq!(
            c.plan,
            Some(Plan {
                id: Some("114680".into()),
                name: Some("Plano Mensal".into()),
                offer_code: Some("m3nsal".into())
            })
        );
    }

    #[test]
    fn club_first_access() {
        let event = decoded(json!({
            "id": "f1", "creation_date": 1717171717000_i64, "event": "CLUB_FIRST_ACCESS",
            "version": "2.0.0",
            "data": {
                "product": {"id": 3526906, "name": "Curso de Confeitaria"},
                "user": {"name": "Maria Silva", "email": "maria@exemplo.com"}
            }
        }));
        assert_eq!(event.customer_email(), Some("maria@exemplo.com"));
        assert_eq!(event.occurred_at(), Some(utc_ms(1_717_171_717_000)));
        let HotmartEvent::FirstAccess(f) = event else {
            panic!("not a first access")
        };
        assert_eq!(f.product.hotmart_id.as_deref(), Some("3526906"));
        assert_eq!(f.user.name.as_deref(), Some("Maria Silva"));
    }

    #[test]
    fn club_module_completed_keeps_string_product_ids() {
        let event = decoded(json!({
            "id": "m1", "creation_date": 1717171717000_i64, "event": "CLUB_MODULE_COMPLETED",
            "version": "2.0.0",
            "data": {
                "product": {"id": "00000", "name": "Produto Teste"},
                "user": {"name": "Maria Silva", "email": "maria@exemplo.com"},
                "module": {"id": "QOZmLb1E4W", "name": "Módulo 1 - Massas"}
            }
        }));
        let HotmartEvent::ModuleCompleted(m) = event else {
            panic!("not a module completion")
        };
        assert_eq!(m.product.hotmart_id.as_deref(), Some("00000"));
        assert_eq!(m.user.email, "maria@exemplo.com");
        assert_eq!(m.module.id.as_deref(), Some("QOZmLb1E4W"));
        assert_eq!(m.module.name.as_deref(), Some("Módulo 1 - Massas"));

        let err = decode(&envelope(json!({
            "id": "m2", "event": "CLUB_MODULE_COMPLETED",
            "data": {"user": {"email": "maria@exemplo.com"}, "module": {}}
        })))
        .unwrap_err();
        assert_eq!(err, DecodeError::Missing("module.id"));
    }

    #[test]
    fn order_fulfillment() {
        let event = decoded(json!({
            "id": "o1", "creation_date": 1717171717000_i64, "event": "ORDER_FULFILLMENT",
            "data": {
                "product": {"id": 555, "name": "Livro Físico"},
                "buyer": {"email": "leitor@exemplo.com"},
                "purchase": {"transaction": "HP999"}
            }
        }));
        assert_eq!(event.customer_email(), Some("leitor@exemplo.com"));
        let HotmartEvent::OrderFulfillment(o) = event else {
            panic!("not a fulfillment")
        };
        assert_eq!(o.transaction.as_deref(), Some("HP999"));
        assert_eq!(o.product.hotmart_id.as_deref(), Some("555"));

        let bare = decoded(json!({"id": "o2", "event": "ORDER_FULFILLMENT"}));
        assert_eq!(bare.customer_email(), None);
    }

    #[test]
    fn unknown_events_are_not_errors() {
        let env = envelope(json!({"id": 42, "event": "purchase_something_new", "data": {"x": 1}}));
        assert_eq!(env.event, "PURCHASE_SOMETHING_NEW");
        let event = decode(&env).unwrap();
        assert_eq!(
            event,
            HotmartEvent::Unknown("PURCHASE_SOMETHING_NEW".into())
        );
        assert_eq!(event.customer_email(), None);
        assert_eq!(event.occurred_at(), None);
    }

    #[test]
    fn envelope_errors_have_stable_codes() {
        let code = |body: &[u8]| parse_envelope(body).unwrap_err().code();
        assert_eq!(code(b"{\"id\": \"a\", "), "malformed_json");
        assert_eq!(code(b""), "malformed_json");
        assert_eq!(code(b"[1, 2]"), "not_an_object");
        assert_eq!(code(br#"{"event": "PURCHASE_APPROVED"}"#), "missing_id");
        assert_eq!(
            code(br#"{"id": " ", "event": "PURCHASE_APPROVED"}"#),
            "missing_id"
        );
        assert_eq!(code(br#"{"id": "a", "event": ""}"#), "missing_event");
        assert_eq!(code(br#"{"id": "a"}"#), "missing_event");
        assert_eq!(code(br#"{"id": {"x": 1}, "event": "E"}"#), "invalid_id");
        assert_eq!(code(br#"{"id": 1.5, "event": "E"}"#), "invalid_id");
        assert_eq!(code(br#"{"id": "a", "event": 7}"#), "invalid_event");
        assert_eq!(
            code(br#"{"id": "a", "event": "E", "data": [1]}"#),
            "invalid_data"
        );
        let long_id = format!(r#"{{"id": "{}", "event": "E"}}"#, "x".repeat(129));
        assert_eq!(code(long_id.as_bytes()), "invalid_id");
        let long_event = format!(r#"{{"id": "a", "event": "{}"}}"#, "E".repeat(65));
        assert_eq!(code(long_event.as_bytes()), "invalid_event");

        let deep = format!(
            r#"{{"id": "a", "event": "E", "data": {}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let err = parse_envelope(deep.as_bytes()).unwrap_err();
        assert_eq!(err.code(), "too_deep");
        assert!(err.to_string().contains("64"));

        // Brackets inside strings do not count, and 64 levels are fine.
        let ok = format!(
            r#"{{"id": "a", "event": "E", "data": {{"s": "{}", "n": {}{}}}}}"#,
            "[".repeat(200),
            "[".repeat(62),
            "]".repeat(62)
        );
        assert!(parse_envelope(ok.as_bytes()).is_ok());

        let err = parse_envelope(br#"{"id": "secret-value", "event": {"a": 1}}"#).unwrap_err();
        assert!(!err.to_string().contains("secret"));
    }

    #[test]
    fn envelope_defaults_and_leniency() {
        let env = parse_envelope(b"\xEF\xBB\xBF{\"id\": \" abc \", \"event\": \" switch_plan \", \"data\": null, \"version\": 2}").unwrap();
        assert_eq!(env.id, "abc");
        assert_eq!(env.event, "SWITCH_PLAN");
        assert_eq!(env.data, json!({}));
        assert_eq!(env.version.as_deref(), Some("2"));
        assert_eq!(env.creation_date, None);
        assert_eq!(env.hottok, None);

        let env =
            envelope(json!({"id": "a", "event": "E", "creation_date": "2024-05-31T13:00:00Z"}));
        assert_eq!(
            env.creation_date,
            Some(Utc.with_ymd_and_hms(2024, 5, 31, 13, 0, 0).unwrap())
        );
    }

    #[test]
    fn scalar_helpers() {
        assert_eq!(id_text(&json!(" HP1 ")), Some("HP1".into()));
        assert_eq!(id_text(&json!(123)), Some("123".into()));
        assert_eq!(id_text(&json!(123.0)), Some("123".into()));
        assert_eq!(id_text(&json!(-7)), Some("-7".into()));
        assert_eq!(
            id_text(&json!(18446744073709551615_u64)),
            Some("18446744073709551615".into())
        );
        assert_eq!(id_text(&json!(1.5)), None);
        assert_eq!(id_text(&json!("")), None);
        assert_eq!(id_text(&json!(true)), None);
        assert_eq!(id_text(&json!(null)), None);

        let noon = Utc.with_ymd_and_hms(2024, 5, 31, 12, 0, 0).unwrap();
        assert_eq!(timestamp(&json!(1_717_156_800_000_i64)), Some(noon));
        assert_eq!(timestamp(&json!("1717156800000")), Some(noon));
        assert_eq!(timestamp(&json!(1_717_156_800_i64)), Some(noon));
        assert_eq!(timestamp(&json!("1717156800")), Some(noon));
        assert_eq!(timestamp(&json!(1_717_156_800_000.0)), Some(noon));
        assert_eq!(timestamp(&json!("2024-05-31T12:00:00Z")), Some(noon));
        assert_eq!(timestamp(&json!("2024-05-31T09:00:00-03:00")), Some(noon));
        assert_eq!(
            timestamp(&json!("2024-05-31T09:00:00.000-0300")),
            Some(noon)
        );
        assert_eq!(timestamp(&json!("2024-05-31 12:00:00")), Some(noon));
        assert_eq!(timestamp(&json!("2024-05-31T12:00:00")), Some(noon));
        assert_eq!(
            timestamp(&json!("2024-05-31T12:00:00.123")),
            Some(noon + chrono::Duration::milliseconds(123))
        );
        assert_eq!(
            timestamp(&json!("2024-05-31")),
            Some(Utc.with_ymd_and_hms(2024, 5, 31, 0, 0, 0).unwrap())
        );
        assert_eq!(timestamp(&json!(0)), None);
        assert_eq!(timestamp(&json!(-5)), None);
        assert_eq!(timestamp(&json!("soon")), None);
        assert_eq!(timestamp(&json!("")), None);
        assert_eq!(timestamp(&json!("2024-02-30")), None);
        assert_eq!(timestamp(&json!(9.9e300)), None);
        assert_eq!(timestamp(&json!({"ms": 1})), None);

        assert_eq!(decimal(&json!(497.00)), Some(dec("497.00")));
        assert_eq!(decimal(&json!(1234.56)), Some(dec("1234.56")));
        assert_eq!(decimal(&json!(1234.56)).unwrap().to_string(), "1234.56");
        assert_eq!(decimal(&json!(0.1)).unwrap().to_string(), "0.1");
        assert_eq!(decimal(&json!("497.00")), Some(dec("497.00")));
        assert_eq!(decimal(&json!(" 1234.56 ")), Some(dec("1234.56")));
        assert_eq!(decimal(&json!(497)), Some(dec("497")));
        assert_eq!(decimal(&json!("-12.5")), Some(dec("-12.5")));
        assert_eq!(decimal(&json!(1e3)), Some(dec("1000")));
        assert_eq!(decimal(&json!("1,234.56")), None);
        assert_eq!(decimal(&json!("497,00")), None);
        assert_eq!(decimal(&json!("NaN")), None);
        assert_eq!(decimal(&json!("")), None);
        assert_eq!(decimal(&json!(null)), None);

        // Parsed from the body's text, the JSON number keeps its exact value.
        let env =
            parse_envelope(br#"{"id": "a", "event": "E", "data": {"v": 1234.56, "w": 497.00}}"#)
                .unwrap();
        assert_eq!(decimal(&env.data["v"]), Some(dec("1234.56")));
        assert_eq!(decimal(&env.data["w"]), Some(dec("497")));

        assert_eq!(text(&json!("  Maria ")), Some("Maria".into()));
        assert_eq!(text(&json!("   ")), None);
        assert_eq!(text(&json!(5)), None);
    }

    #[test]
    fn vocabularies_parse_case_insensitively_and_round_trip() {
        assert_eq!(PurchaseStatus::parse("dispute"), PurchaseStatus::Protested);
        assert_eq!(
            PurchaseStatus::parse("Under_Analisys"),
            PurchaseStatus::UnderAnalisys
        );
        assert_eq!(PurchaseStatus::parse(" no_funds "), PurchaseStatus::NoFunds);
        assert_eq!(
            PurchaseStatus::parse("weird"),
            PurchaseStatus::Other("WEIRD".into())
        );
        for status in [
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
        ] {
            let parsed = PurchaseStatus::parse(status);
            assert!(!matches!(parsed, PurchaseStatus::Other(_)), "{status}");
            assert_eq!(parsed.as_str(), status);
        }
        for (status, expected) in [
            ("CANCELED_BY_SELLER", SubscriptionStatus::CancelledBySeller),
            ("cancelled_by_admin", SubscriptionStatus::CancelledByAdmin),
            (
                "Canceled_By_Customer",
                SubscriptionStatus::CancelledByCustomer,
            ),
            ("delayed", SubscriptionStatus::Delayed),
        ] {
            assert_eq!(SubscriptionStatus::parse(status), expected);
        }
        assert!(SubscriptionStatus::CancelledBySeller.is_cancelled());
        assert_eq!(
            SubscriptionStatus::CancelledBySeller.as_str(),
            "CANCELLED_BY_SELLER"
        );
        for name in [
            "PURCHASE_APPROVED",
            "PURCHASE_COMPLETE",
            "PURCHASE_CANCELED",
            "PURCHASE_BILLET_PRINTED",
            "PURCHASE_PROTEST",
            "PURCHASE_REFUNDED",
            "PURCHASE_CHARGEBACK",
            "PURCHASE_EXPIRED",
            "PURCHASE_DELAYED",
            "PURCHASE_OUT_OF_SHOPPING_CART",
            "SUBSCRIPTION_CANCELLATION",
            "SWITCH_PLAN",
            "UPDATE_SUBSCRIPTION_CHARGE_DATE",
            "CLUB_FIRST_ACCESS",
            "CLUB_MODULE_COMPLETED",
            "ORDER_FULFILLMENT",
        ] {
            let kind = EventKind::parse(&name.to_lowercase());
            assert!(!matches!(kind, EventKind::Unknown(_)), "{name}");
            assert_eq!(kind.as_str(), name);
        }
        assert_eq!(
            EventKind::parse("PURCHASE_CANCELLED"),
            EventKind::PurchaseCanceled
        );
    }

    #[test]
    fn precedence_makes_application_order_tolerant() {
        use PurchaseStatus::*;
        let pending = [
            WaitingPayment,
            PrintedBillet,
            Started,
            ProcessingTransaction,
            UnderAnalisys,
            PreOrder,
        ];
        let unpaid = [Cancelled, Expired, NoFunds, Blocked];
        let money_back = [Refunded, Chargeback, PartiallyRefunded, Protested];
        for back in &money_back {
            assert!(back.precedence() > Complete.precedence(), "{back}");
        }
        assert!(Complete.precedence() > Approved.precedence());
        for p in &pending {
            assert!(Approved.precedence() > p.precedence(), "{p}");
            for u in &unpaid {
                assert!(u.precedence() > p.precedence(), "{u} over {p}");
            }
        }
        for u in &unpaid {
            assert!(u.precedence() < Approved.precedence(), "{u}");
        }
        assert!(Other("X".into()).precedence() < WaitingPayment.precedence());
        assert!(Approved.is_revenue() && Complete.is_revenue() && !Refunded.is_revenue());
        assert!(
            Refunded.is_reversal() && Chargeback.is_reversal() && PartiallyRefunded.is_reversal()
        );
        assert!(!Protested.is_reversal() && !Approved.is_reversal());
    }
}
