//! Purchase events: every field the domain needs, in every shape Hotmart sends.

use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;

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
