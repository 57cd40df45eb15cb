//! Scalars in every shape, and the vocabularies with their precedence.

use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;

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
    let env = parse_envelope(br#"{"id": "a", "event": "E", "data": {"v": 1234.56, "w": 497.00}}"#)
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
    assert!(Refunded.is_reversal() && Chargeback.is_reversal() && PartiallyRefunded.is_reversal());
    assert!(!Protested.is_reversal() && !Approved.is_reversal());
}
