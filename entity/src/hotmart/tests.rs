use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::*;

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

    let env = envelope(json!({"id": "a", "event": "E", "creation_date": "2024-05-31T13:00:00Z"}));
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
