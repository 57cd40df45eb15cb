//! Hotmart postbacks (v2.0.0, CONTRACTS.md section 1) as the demo school's
//! checkout and members area would have sent them.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::catalog::DemoProduct;
use super::customers::DemoPerson;

/// One postback and when Hotmart sent it.
#[derive(Debug, Clone)]
pub struct Postback {
    pub at: DateTime<Utc>,
    pub body: Value,
}

/// How a sale is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payment {
    CreditCard,
    Pix,
    Billet,
}

impl Payment {
    fn as_str(self) -> &'static str {
        match self {
            Payment::CreditCard => "CREDIT_CARD",
            Payment::Pix => "PIX",
            Payment::Billet => "BILLET",
        }
    }
}

/// One sale (a Hotmart transaction): every postback about it carries the
/// same facts, as Hotmart's do.
pub struct Sale<'a> {
    pub id: Uuid,
    pub transaction: String,
    pub person: &'a DemoPerson,
    pub product: &'a DemoProduct,
    pub payment: Payment,
    pub ordered_at: DateTime<Utc>,
    pub approved_at: Option<DateTime<Utc>>,
    /// 1 for a first charge, more for a subscription's renewals.
    pub recurrence: u32,
    pub subscriber_code: Option<String>,
    /// Where the buyer came from (`purchase.origin.src`).
    pub source: &'static str,
}

fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn envelope(id: Uuid, event: &str, at: DateTime<Utc>, data: Value) -> Postback {
    Postback {
        at,
        body: json!({
            "id": id.to_string(),
            "creation_date": ms(at),
            "event": event,
            "version": "2.0.0",
            "data": data,
        }),
    }
}

/// `product{id, name}` as the members-area and subscription events carry it.
fn product_ref(product: &DemoProduct) -> Value {
    json!({"id": product.hotmart_id, "name": product.name})
}

impl Sale<'_> {
    fn data(&self, status: &str) -> Value {
        let person = self.person;
        let (first_name, last_name) = person
            .name
            .split_once(' ')
            .unwrap_or((person.name.as_str(), ""));
        let price = json!({"value": self.product.price, "currency_value": "BRL"});
        let installments = match self.payment {
            Payment::CreditCard => self.product.installments,
            _ => 1,
        };
        let mut purchase = json!({
            "transaction": self.transaction,
            "status": status,
            "order_date": ms(self.ordered_at),
            "price": price,
            "full_price": price,
            "original_offer_price": price,
            "payment": {"type": self.payment.as_str(), "installments_number": installments},
            "offer": {"code": self.product.offer},
            "recurrence_number": self.recurrence,
            "checkout_country": {"name": "Brasil", "iso": "BR"},
            "order_bump": {"is_order_bump": false},
            "origin": {"src": self.source},
            "business_model": "I",
            "is_funnel": false
        });
        if let Some(approved) = self.approved_at {
            purchase["approved_date"] = json!(ms(approved));
        }
        let mut data = json!({
            "product": {
                "id": self.product.hotmart_id,
                "ucode": self.product.ucode,
                "name": self.product.name,
                "warranty_date": (self.approved_at.unwrap_or(self.ordered_at) + Duration::days(7)).to_rfc3339(),
                "has_co_production": false,
                "is_physical_product": false
            },
            "buyer": {
                "email": person.email,
                "name": person.name,
                "first_name": first_name,
                "last_name": last_name,
                "checkout_phone_code": person.phone.0,
                "checkout_phone": person.phone.1,
                "document": person.document,
                "document_type": "CPF"
            },
            "purchase": purchase,
            "producer": {"name": "Escola Demo"}
        });
        if let (Some(code), Some(plan)) = (&self.subscriber_code, self.product.subscription_plan) {
            data["subscription"] = json!({
                "status": "ACTIVE",
                "plan": {"id": self.product.hotmart_id + 1, "name": plan},
                "subscriber": {"code": code}
            });
        }
        data
    }

    /// A PURCHASE_* postback about this sale; `id` is the envelope's.
    pub fn event(&self, id: Uuid, event: &str, status: &str, at: DateTime<Utc>) -> Postback {
        envelope(id, event, at, self.data(status))
    }

    /// PURCHASE_BILLET_PRINTED: the billet link or the Pix code, not paid yet.
    pub fn printed(&self, id: Uuid) -> Postback {
        let mut data = self.data(match self.payment {
            Payment::Pix => "WAITING_PAYMENT",
            _ => "PRINTED_BILLET",
        });
        let purchase = &mut data["purchase"];
        if let Some(purchase) = purchase.as_object_mut() {
            purchase.remove("approved_date");
        }
        purchase["payment"] = match self.payment {
            Payment::Pix => json!({
                "type": "PIX",
                "installments_number": 1,
                "pix_code": format!("00020101021226830014br.gov.bcb.pix2561qrpix.hotmart.com/qr/v2/{}5204000053039865802BR5913ESCOLA DEMO6009SAO PAULO62070503***6304D3M0", self.transaction),
                "pix_qrcode": format!("https://pix.hotmart.com/qr/{}", self.transaction),
                "pix_expiration_date": ms(self.ordered_at + Duration::days(1))
            }),
            _ => json!({
                "type": "BILLET",
                "installments_number": 1,
                "billet_url": format!("https://billet.hotmart.com/b/{}", self.transaction),
                "billet_barcode": "34191.79001 01043.510047 91020.150008 5 97150026000"
            }),
        };
        envelope(id, "PURCHASE_BILLET_PRINTED", self.ordered_at, data)
    }
}

/// PURCHASE_OUT_OF_SHOPPING_CART: a checkout left before paying.
pub fn cart_abandoned(
    id: Uuid,
    person: &DemoPerson,
    product: &DemoProduct,
    at: DateTime<Utc>,
) -> Postback {
    envelope(
        id,
        "PURCHASE_OUT_OF_SHOPPING_CART",
        at,
        json!({
            "affiliate": false,
            "product": product_ref(product),
            "buyer": {"name": person.name, "email": person.email, "phone": format!("{}{}", person.phone.0, person.phone.1)},
            "offer": {"code": product.offer},
            "checkout_country": {"name": "Brasil", "iso": "BR"}
        }),
    )
}

/// CLUB_FIRST_ACCESS.
pub fn first_access(
    id: Uuid,
    person: &DemoPerson,
    product: &DemoProduct,
    at: DateTime<Utc>,
) -> Postback {
    envelope(
        id,
        "CLUB_FIRST_ACCESS",
        at,
        json!({"product": product_ref(product), "user": {"name": person.name, "email": person.email}}),
    )
}

/// CLUB_MODULE_COMPLETED for module `index` of the product.
pub fn module_completed(
    id: Uuid,
    person: &DemoPerson,
    product: &DemoProduct,
    index: usize,
    at: DateTime<Utc>,
) -> Postback {
    let name = product.modules.get(index).map_or("", |m| m.name);
    envelope(
        id,
        "CLUB_MODULE_COMPLETED",
        at,
        json!({
            "product": product_ref(product),
            "user": {"name": person.name, "email": person.email},
            "module": {"id": product.module_id(index), "name": name}
        }),
    )
}

/// SUBSCRIPTION_CANCELLATION: access ends at the next charge date.
pub fn subscription_cancelled(
    id: Uuid,
    person: &DemoPerson,
    product: &DemoProduct,
    subscriber_code: &str,
    at: DateTime<Utc>,
    next_charge: DateTime<Utc>,
) -> Postback {
    envelope(
        id,
        "SUBSCRIPTION_CANCELLATION",
        at,
        json!({
            "date_next_charge": ms(next_charge),
            "cancellation_date": ms(at),
            "actual_recurrence_value": product.price,
            "product": product_ref(product),
            "subscriber": {
                "code": subscriber_code,
                "name": person.name,
                "email": person.email,
                "phone": {"dddPhone": "", "phone": "", "dddCell": &person.phone.1[..2], "cell": &person.phone.1[2..]}
            },
            "subscription": {"id": product.hotmart_id + 7, "plan": {"id": product.hotmart_id + 1, "name": product.subscription_plan.unwrap_or("Plano")}}
        }),
    )
}
