//! Cart abandonment, subscriptions, the members area, fulfilment and unknown events.

use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;

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
