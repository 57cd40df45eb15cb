//! What the interpreter knows about one recipient, and the variables that
//! templates and conditions may read from it.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use crate::time::local_reading;

/// One recipient of an execution, as the worker loads it before a step.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipientContext {
    /// Hashed with the node id for the deterministic split. The worker passes
    /// the campaign recipient's id.
    pub recipient_id: Uuid,
    /// The workspace time zone: `delay.until` and the calendar part of
    /// durations are read in it.
    pub time_zone: Tz,
    pub customer: CustomerFields,
    /// Empty when the campaign is not about a product.
    pub enrollment: EnrollmentFields,
    /// What the event that started the journey was about; empty unless an
    /// event trigger started it.
    pub event: EventFields,
}

impl RecipientContext {
    pub fn new(recipient_id: Uuid, time_zone: Tz) -> Self {
        Self {
            recipient_id,
            time_zone,
            customer: CustomerFields::default(),
            enrollment: EnrollmentFields::default(),
            event: EventFields::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomerFields {
    pub email: Option<String>,
    pub name: Option<String>,
    /// When absent, the first word of `name`.
    pub first_name: Option<String>,
    pub phone: Option<String>,
    pub tags: Vec<String>,
    /// A decimal string, e.g. `"1234.50"`.
    pub ltv_total: Option<String>,
    pub segment: Option<String>,
    pub churn_risk: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct EnrollmentFields {
    /// ACTIVE / CANCELLED / BLOCKED / EXPIRED.
    pub access_status: Option<String>,
    pub first_access_at: Option<DateTime<Utc>>,
    /// A decimal string, percent of lessons completed, e.g. `"42.5"`.
    pub progress: Option<String>,
    pub access_url: Option<String>,
    /// The latest access to the members area.
    pub last_access_at: Option<DateTime<Utc>>,
    pub last_lesson_completed_at: Option<DateTime<Utc>>,
    /// When the purchase that grants the access was approved.
    pub purchased_at: Option<DateTime<Utc>>,
    /// When that purchase's warranty (refund period) ends.
    pub warranty_ends_at: Option<DateTime<Utc>>,
}

/// The key of the event that started a recipient's journey
/// ([`crate::events::EventKey`]), with its product's name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventFields {
    /// Hotmart's transaction code, e.g. `HP16015479281022`.
    pub transaction: Option<String>,
    /// The jornada product id.
    pub product_id: Option<String>,
    pub product_name: Option<String>,
    pub offer_code: Option<String>,
    pub subscriber_code: Option<String>,
    /// The module an automation rule fired on (completed, or stalled in).
    pub module_name: Option<String>,
    /// The billet's URL or the Pix code of a purchase waiting for payment.
    pub payment_url: Option<String>,
    /// Whole days since the purchase was approved, as a decimal string.
    pub days_since_purchase: Option<String>,
}

/// What a variable holds, which decides the operators a condition may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Text,
    TextList,
    /// A decimal string.
    Number,
    Instant,
}

/// A value read from the recipient.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    Text(&'a str),
    TextList(&'a [String]),
    Number(&'a str),
    Instant(DateTime<Utc>),
}

/// A `customer.*` or `enrollment.*` name that templates and conditions read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variable {
    CustomerEmail,
    CustomerName,
    CustomerFirstName,
    CustomerPhone,
    CustomerTags,
    CustomerLtvTotal,
    CustomerSegment,
    CustomerChurnRisk,
    CustomerCreatedAt,
    EnrollmentAccessStatus,
    EnrollmentFirstAccessAt,
    EnrollmentProgress,
    EnrollmentAccessUrl,
    EventTransaction,
    EventProductId,
    EventProductName,
    EventOfferCode,
    EventSubscriberCode,
    EventModuleName,
    EventPaymentUrl,
    EventDaysSincePurchase,
    EnrollmentLastAccessAt,
    EnrollmentLastLessonCompletedAt,
    EnrollmentPurchasedAt,
    EnrollmentWarrantyEndsAt,
}

impl Variable {
    pub const ALL: [Variable; 25] = [
        Variable::CustomerEmail,
        Variable::CustomerName,
        Variable::CustomerFirstName,
        Variable::CustomerPhone,
        Variable::CustomerTags,
        Variable::CustomerLtvTotal,
        Variable::CustomerSegment,
        Variable::CustomerChurnRisk,
        Variable::CustomerCreatedAt,
        Variable::EnrollmentAccessStatus,
        Variable::EnrollmentFirstAccessAt,
        Variable::EnrollmentProgress,
        Variable::EnrollmentAccessUrl,
        Variable::EventTransaction,
        Variable::EventProductId,
        Variable::EventProductName,
        Variable::EventOfferCode,
        Variable::EventSubscriberCode,
        Variable::EventModuleName,
        Variable::EventPaymentUrl,
        Variable::EventDaysSincePurchase,
        Variable::EnrollmentLastAccessAt,
        Variable::EnrollmentLastLessonCompletedAt,
        Variable::EnrollmentPurchasedAt,
        Variable::EnrollmentWarrantyEndsAt,
    ];

    /// The name as the issue spells it (`customer.first_name`,
    /// `customer.ltvTotal`, `enrollment.access_url`).
    pub fn name(self) -> &'static str {
        self.spellings().0
    }

    /// The issue mixes snake_case and camelCase; each variable is accepted
    /// in both so a builder user typing either is not refused.
    fn spellings(self) -> (&'static str, &'static str) {
        match self {
            Self::CustomerEmail => ("customer.email", "customer.email"),
            Self::CustomerName => ("customer.name", "customer.name"),
            Self::CustomerFirstName => ("customer.first_name", "customer.firstName"),
            Self::CustomerPhone => ("customer.phone", "customer.phone"),
            Self::CustomerTags => ("customer.tags", "customer.tags"),
            Self::CustomerLtvTotal => ("customer.ltvTotal", "customer.ltv_total"),
            Self::CustomerSegment => ("customer.segment", "customer.segment"),
            Self::CustomerChurnRisk => ("customer.churnRisk", "customer.churn_risk"),
            Self::CustomerCreatedAt => ("customer.createdAt", "customer.created_at"),
            Self::EnrollmentAccessStatus => ("enrollment.accessStatus", "enrollment.access_status"),
            Self::EnrollmentFirstAccessAt => {
                ("enrollment.firstAccessAt", "enrollment.first_access_at")
            }
            Self::EnrollmentProgress => ("enrollment.progress", "enrollment.progress"),
            Self::EnrollmentAccessUrl => ("enrollment.access_url", "enrollment.accessUrl"),
            Self::EventTransaction => ("event.transaction", "event.transaction"),
            Self::EventProductId => ("event.productId", "event.product_id"),
            Self::EventProductName => ("event.productName", "event.product_name"),
            Self::EventOfferCode => ("event.offerCode", "event.offer_code"),
            Self::EventSubscriberCode => ("event.subscriberCode", "event.subscriber_code"),
            Self::EventModuleName => ("event.moduleName", "event.module_name"),
            Self::EventPaymentUrl => ("event.paymentUrl", "event.payment_url"),
            Self::EventDaysSincePurchase => {
                ("event.daysSincePurchase", "event.days_since_purchase")
            }
            Self::EnrollmentLastAccessAt => {
                ("enrollment.lastAccessAt", "enrollment.last_access_at")
            }
            Self::EnrollmentLastLessonCompletedAt => (
                "enrollment.lastLessonCompletedAt",
                "enrollment.last_lesson_completed_at",
            ),
            Self::EnrollmentPurchasedAt => ("enrollment.purchasedAt", "enrollment.purchased_at"),
            Self::EnrollmentWarrantyEndsAt => {
                ("enrollment.warrantyEndsAt", "enrollment.warranty_ends_at")
            }
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| {
            let (canonical, alternative) = v.spellings();
            name == canonical || name == alternative
        })
    }

    pub fn kind(self) -> ValueKind {
        match self {
            Self::CustomerTags => ValueKind::TextList,
            Self::CustomerLtvTotal | Self::EnrollmentProgress | Self::EventDaysSincePurchase => {
                ValueKind::Number
            }
            Self::CustomerCreatedAt
            | Self::EnrollmentFirstAccessAt
            | Self::EnrollmentLastAccessAt
            | Self::EnrollmentLastLessonCompletedAt
            | Self::EnrollmentPurchasedAt
            | Self::EnrollmentWarrantyEndsAt => ValueKind::Instant,
            _ => ValueKind::Text,
        }
    }

    /// Whether the moment usually lies ahead (a warranty's end), so that
    /// `withinDays` looks forward from now rather than back.
    pub fn is_upcoming(self) -> bool {
        self == Self::EnrollmentWarrantyEndsAt
    }

    /// The recipient's value, `None` when unknown.
    pub fn read(self, ctx: &RecipientContext) -> Option<FieldValue<'_>> {
        let c = &ctx.customer;
        let e = &ctx.enrollment;
        let started = &ctx.event;
        fn text(value: &Option<String>) -> Option<FieldValue<'_>> {
            value.as_deref().map(FieldValue::Text)
        }
        match self {
            Self::CustomerEmail => text(&c.email),
            Self::CustomerName => text(&c.name),
            Self::CustomerFirstName => c
                .first_name
                .as_deref()
                .or_else(|| c.name.as_deref().and_then(|n| n.split_whitespace().next()))
                .map(FieldValue::Text),
            Self::CustomerPhone => text(&c.phone),
            Self::CustomerTags => Some(FieldValue::TextList(&c.tags)),
            Self::CustomerLtvTotal => c.ltv_total.as_deref().map(FieldValue::Number),
            Self::CustomerSegment => text(&c.segment),
            Self::CustomerChurnRisk => text(&c.churn_risk),
            Self::CustomerCreatedAt => c.created_at.map(FieldValue::Instant),
            Self::EnrollmentAccessStatus => text(&e.access_status),
            Self::EnrollmentFirstAccessAt => e.first_access_at.map(FieldValue::Instant),
            Self::EnrollmentProgress => e.progress.as_deref().map(FieldValue::Number),
            Self::EnrollmentAccessUrl => text(&e.access_url),
            Self::EventTransaction => text(&started.transaction),
            Self::EventProductId => text(&started.product_id),
            Self::EventProductName => text(&started.product_name),
            Self::EventOfferCode => text(&started.offer_code),
            Self::EventSubscriberCode => text(&started.subscriber_code),
            Self::EventModuleName => text(&started.module_name),
            Self::EventPaymentUrl => text(&started.payment_url),
            Self::EventDaysSincePurchase => started
                .days_since_purchase
                .as_deref()
                .map(FieldValue::Number),
            Self::EnrollmentLastAccessAt => e.last_access_at.map(FieldValue::Instant),
            Self::EnrollmentLastLessonCompletedAt => {
                e.last_lesson_completed_at.map(FieldValue::Instant)
            }
            Self::EnrollmentPurchasedAt => e.purchased_at.map(FieldValue::Instant),
            Self::EnrollmentWarrantyEndsAt => e.warranty_ends_at.map(FieldValue::Instant),
        }
    }

    /// The value as text in a message: lists joined with `", "`, instants in
    /// the workspace time zone as RFC 3339, missing values empty.
    pub fn render(self, ctx: &RecipientContext) -> String {
        match self.read(ctx) {
            None => String::new(),
            Some(FieldValue::Text(t) | FieldValue::Number(t)) => t.to_owned(),
            Some(FieldValue::TextList(items)) => items.join(", "),
            Some(FieldValue::Instant(at)) => match local_reading(at, ctx.time_zone) {
                Some(_) => at
                    .with_timezone(&ctx.time_zone)
                    .to_rfc3339_opts(SecondsFormat::Secs, true),
                // Only at the very end of chrono's range: show it in UTC.
                None => at.to_rfc3339_opts(SecondsFormat::Secs, true),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_both_spellings() {
        for v in Variable::ALL {
            assert_eq!(Variable::parse(v.name()), Some(v));
            assert_eq!(Variable::parse(v.spellings().1), Some(v));
        }
        assert_eq!(Variable::parse("customer.password"), None);
        assert_eq!(Variable::parse("first_name"), None);
    }

    #[test]
    fn first_name_falls_back_to_the_first_word_of_the_name() {
        let mut ctx = RecipientContext::new(Uuid::nil(), chrono_tz::UTC);
        assert_eq!(Variable::CustomerFirstName.render(&ctx), "");
        ctx.customer.name = Some("  Maria da Silva".into());
        assert_eq!(Variable::CustomerFirstName.render(&ctx), "Maria");
        ctx.customer.first_name = Some("Mari".into());
        assert_eq!(Variable::CustomerFirstName.render(&ctx), "Mari");
    }

    #[test]
    fn the_starting_event_is_readable() {
        let mut ctx = RecipientContext::new(Uuid::nil(), chrono_tz::UTC);
        assert_eq!(Variable::EventTransaction.render(&ctx), "");
        ctx.event.transaction = Some("HP1".into());
        ctx.event.product_name = Some("Curso de Confeitaria".into());
        assert_eq!(
            Variable::parse("event.product_name"),
            Some(Variable::EventProductName)
        );
        assert_eq!(Variable::EventTransaction.render(&ctx), "HP1");
        assert_eq!(
            Variable::EventProductName.render(&ctx),
            "Curso de Confeitaria"
        );
    }

    #[test]
    fn renders_lists_and_instants() {
        let mut ctx = RecipientContext::new(Uuid::nil(), chrono_tz::America::Sao_Paulo);
        ctx.customer.tags = vec!["vip".into(), "turma-1".into()];
        ctx.customer.created_at = Some("2025-01-02T15:00:00Z".parse().unwrap());
        assert_eq!(Variable::CustomerTags.render(&ctx), "vip, turma-1");
        assert_eq!(
            Variable::CustomerCreatedAt.render(&ctx),
            "2025-01-02T12:00:00-03:00"
        );
        ctx.time_zone = chrono_tz::Asia::Tokyo;
        ctx.customer.created_at = Some(DateTime::<Utc>::MAX_UTC);
        assert!(Variable::CustomerCreatedAt.render(&ctx).ends_with('Z'));
    }
}
