//! Unit tests of Hotmart postback decoding, by subject; the fixtures and
//! helpers they share are here.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use super::*;

mod envelope;
mod other_events;
mod purchases;
mod vocabulary;

pub(super) fn envelope(value: Value) -> Envelope {
    parse_envelope(value.to_string().as_bytes()).expect("valid envelope")
}

pub(super) fn decoded(value: Value) -> HotmartEvent {
    decode(&envelope(value)).expect("decodes")
}

pub(super) fn purchase(value: Value) -> Purchase {
    match decoded(value) {
        HotmartEvent::Purchase(p) => *p,
        other => panic!("expected a purchase, got {other:?}"),
    }
}

pub(super) fn utc_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap()
}

pub(super) fn dec(text: &str) -> Decimal {
    Decimal::from_str_exact(text).unwrap()
}

/// Shaped like CONTRACTS.md section 1 and Hotmart's published samples.
pub(super) const APPROVED: &str = r#"{
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

pub(super) fn approved() -> Value {
    serde_json::from_str(APPROVED).unwrap()
}
