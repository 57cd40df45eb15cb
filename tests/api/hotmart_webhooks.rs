//! Hotmart postbacks end to end: receiver → stored event → worker → domain.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::on_both_backends;

pub const HOTTOK: &str = "hottok-de-teste-123";

/// A PURCHASE_* postback shaped as Hotmart sends it.
pub fn purchase(
    event: &str,
    status: &str,
    transaction: &str,
    email: &str,
    creation_ms: i64,
) -> Value {
    json!({
        "id": Uuid::new_v4().to_string(),
        "creation_date": creation_ms,
        "event": event,
        "version": "2.0.0",
        "data": {
            "product": {"id": 3526906, "ucode": "f4b1c1b2-0000-4e2d-9f0a-1a2b3c4d5e6f", "name": "Curso de Confeitaria", "warranty_date": "2026-02-10T00:00:00Z"},
            "buyer": {"email": email, "name": "Maria Silva", "checkout_phone_code": "55", "checkout_phone": "11987654321", "document": "12345678909", "document_type": "CPF"},
            "purchase": {
                "transaction": transaction, "status": status, "order_date": creation_ms - 60_000, "approved_date": creation_ms,
                "price": {"value": 497.0, "currency_value": "BRL"},
                "payment": {"type": "CREDIT_CARD", "installments_number": 12},
                "offer": {"code": "n82b9jqz"}, "recurrence_number": 1,
                "origin": {"src": "instagram", "sck": "bio", "xcod": "abc"}
            },
            "producer": {"name": "Ana"}
        }
    })
}

impl TestApp {
    pub async fn hotmart_workspace(&self, slug: &str) -> Uuid {
        let ws = self.create_workspace(slug).await;
        self.graphql(
            Some(&self.agent_token(ws)),
            "mutation($v: String!) { setSetting(key: \"hotmart.hottok\", value: $v) { key } }",
            json!({"v": HOTTOK}),
        )
        .await
        .data("setSetting");
        ws
    }

    pub async fn post_hotmart(
        &self,
        workspace: &str,
        hottok: Option<&str>,
        body: &Value,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .post(self.url(&format!("/webhooks/hotmart/{workspace}")))
            .json(body);
        if let Some(hottok) = hottok {
            request = request.header("X-HOTMART-HOTTOK", hottok);
        }
        let response = request.send().await.expect("the receiver answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

async fn an_approved_purchase_lands_in_the_domain(app: TestApp) {
    let ws = app.hotmart_workspace("confeitaria").await;
    let body = purchase(
        "PURCHASE_APPROVED",
        "APPROVED",
        "HP16015479281022",
        "Maria@Example.com",
        1_767_225_600_000,
    );
    let (status, answer) = app.post_hotmart("confeitaria", Some(HOTTOK), &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "accepted");
    let (status, again) = app.post_hotmart(&ws.to_string(), Some(HOTTOK), &body).await;
    assert_eq!(
        (status, &again["status"]),
        (200, &json!("duplicate")),
        "the workspace id works as well as the slug"
    );
    app.drain().await;

    let agent = app.agent_token(ws);
    let answer = app
        .graphql(
            Some(&agent),
            "{ customers { edges { node { email name phone ltvTotal document
                transactions { code status amount currency installments src sck xcod product { name hotmartProductId } }
                enrollments { accessStatus }
                activities { activityType } } } }
               webhookEvents { totalCount edges { node { status attempts eventType externalId processedAt } } } }",
            json!({}),
        )
        .await;
    let customer = &answer.data("customers")["edges"][0]["node"];
    assert_eq!(customer["email"], "maria@example.com");
    assert_eq!(customer["phone"], "+5511987654321");
    assert_eq!(customer["ltvTotal"], "497.00");
    assert_eq!(
        customer["transactions"],
        json!([{"code": "HP16015479281022", "status": "APPROVED", "amount": "497.00", "currency": "BRL", "installments": 12, "src": "instagram", "sck": "bio", "xcod": "abc", "product": {"name": "Curso de Confeitaria", "hotmartProductId": "3526906"}}])
    );
    assert_eq!(customer["enrollments"], json!([{"accessStatus": "ACTIVE"}]));
    assert_eq!(
        customer["activities"],
        json!([{"activityType": "purchase_approved"}])
    );
    let events = &answer.body["data"]["webhookEvents"];
    assert_eq!(events["totalCount"], 1);
    assert_eq!(events["edges"][0]["node"]["status"], "PROCESSED");
    assert_eq!(events["edges"][0]["node"]["externalId"], body["id"]);

    let refund = purchase(
        "PURCHASE_REFUNDED",
        "REFUNDED",
        "HP16015479281022",
        "maria@example.com",
        1_767_312_000_000,
    );
    let late_approval = purchase(
        "PURCHASE_APPROVED",
        "APPROVED",
        "HP16015479281022",
        "maria@example.com",
        1_767_230_000_000,
    );
    assert_eq!(
        app.post_hotmart("confeitaria", Some(HOTTOK), &refund)
            .await
            .0,
        200
    );
    app.drain().await;
    assert_eq!(
        app.post_hotmart("confeitaria", Some(HOTTOK), &late_approval)
            .await
            .0,
        200
    );
    app.drain().await;
    let after = app.graphql(Some(&agent), "{ customers { edges { node { ltvTotal transactions { status } enrollments { accessStatus } } } } }", json!({})).await;
    let customer = &after.data("customers")["edges"][0]["node"];
    assert_eq!(
        customer["transactions"],
        json!([{"status": "REFUNDED"}]),
        "a late approval never undoes a refund"
    );
    assert_eq!(
        customer["enrollments"],
        json!([{"accessStatus": "BLOCKED"}])
    );
    assert_eq!(customer["ltvTotal"], "0.00");
}
on_both_backends!(
    an_approved_purchase_lands_in_the_domain,
    an_approved_purchase_lands_in_the_domain
);

async fn bad_hottoks_and_bodies_store_nothing(app: TestApp) {
    app.hotmart_workspace("seguro").await;
    let body = purchase(
        "PURCHASE_APPROVED",
        "APPROVED",
        "HP1",
        "a@example.com",
        1_767_225_600_000,
    );
    assert_eq!(
        app.post_hotmart("seguro", Some("wrong"), &body).await.0,
        401
    );
    assert_eq!(app.post_hotmart("seguro", None, &body).await.0, 401);
    let mut in_body = body.clone();
    in_body["hottok"] = json!(HOTTOK);
    assert_eq!(
        app.post_hotmart("seguro", None, &in_body).await.0,
        200,
        "the body's hottok is accepted when there is no header"
    );
    assert_eq!(
        app.post_hotmart("nao-existe", Some(HOTTOK), &body).await.0,
        404
    );
    assert_eq!(
        app.post_hotmart(
            "seguro",
            Some(HOTTOK),
            &json!({"event": "PURCHASE_APPROVED"})
        )
        .await
        .0,
        400
    );
    assert_eq!(
        app.post_hotmart("seguro", Some(HOTTOK), &json!([1, 2]))
            .await
            .0,
        400
    );
    let response = app
        .client
        .post(app.url("/webhooks/hotmart/seguro"))
        .header("X-HOTMART-HOTTOK", HOTTOK)
        .header("content-type", "application/json")
        .body(vec![b' '; 300 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(app.count_rows("webhook_events").await, 1);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("jornada_hotmart_webhooks_rejected_total{reason=\"bad_hottok\"} 2"),
        "{metrics}"
    );
}
on_both_backends!(
    bad_hottoks_and_bodies_store_nothing,
    bad_hottoks_and_bodies_store_nothing
);

// ---------------------------------------------------------------------------
// Payload builders for every postback shape of CONTRACTS.md section 1, shared
// by the event, resilience and order-tolerance suites.
// ---------------------------------------------------------------------------

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// Now, in epoch milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Epoch milliseconds as the RFC 3339 text some payloads use.
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("a representable time")
        .to_rfc3339()
}

/// A postback envelope around `data`, with a fresh UUID as its `id`.
pub fn envelope(event: &str, creation_ms: i64, data: Value) -> Value {
    json!({
        "id": Uuid::new_v4().to_string(),
        "creation_date": creation_ms,
        "event": event,
        "version": "2.0.0",
        "data": data,
    })
}

/// `product{id, name}` as the non-purchase events carry it; `id` may be a
/// number or a string.
pub fn product_ref(id: Value, name: &str) -> Value {
    json!({"id": id, "name": name})
}

/// One purchase (a Hotmart transaction) whose PURCHASE_* postbacks the tests
/// send; every postback of the same sale carries the same facts, as Hotmart's do.
#[derive(Debug, Clone)]
pub struct Sale {
    pub transaction: String,
    pub email: String,
    pub name: String,
    /// `checkout_phone_code` and `checkout_phone`, when the checkout asked.
    pub phone: Option<(String, String)>,
    pub product_id: Value,
    pub product_name: String,
    /// `purchase.price.value`, a JSON number.
    pub price: Value,
    pub currency: String,
    pub offer: String,
    /// `purchase.payment.type`: CREDIT_CARD, BILLET, PIX, ...
    pub payment_type: String,
    pub installments: u32,
    pub order_ms: i64,
    /// `purchase.approved_date`; `None` for a sale never paid.
    pub approved_ms: Option<i64>,
    pub recurrence: u32,
    /// `subscription{status, plan{id, name}, subscriber{code}}`.
    pub subscription: Option<SaleSubscription>,
    pub is_physical: bool,
}

#[derive(Debug, Clone)]
pub struct SaleSubscription {
    pub subscriber_code: Value,
    pub status: String,
    pub plan_id: Value,
    pub plan_name: String,
}

impl Sale {
    /// A credit-card sale of the "Curso de Confeitaria", approved a second after its order.
    pub fn new(transaction: &str, email: &str, order_ms: i64) -> Self {
        Sale {
            transaction: transaction.to_owned(),
            email: email.to_owned(),
            name: "Maria Silva".to_owned(),
            phone: Some(("55".to_owned(), "11987654321".to_owned())),
            product_id: json!(3526906),
            product_name: "Curso de Confeitaria".to_owned(),
            price: json!(497.0),
            currency: "BRL".to_owned(),
            offer: "n82b9jqz".to_owned(),
            payment_type: "CREDIT_CARD".to_owned(),
            installments: 12,
            order_ms,
            approved_ms: Some(order_ms + 1_000),
            recurrence: 1,
            subscription: None,
            is_physical: false,
        }
    }

    pub fn buyer(mut self, name: &str, phone: Option<(&str, &str)>) -> Self {
        self.name = name.to_owned();
        self.phone = phone.map(|(code, number)| (code.to_owned(), number.to_owned()));
        self
    }

    pub fn product(mut self, id: Value, name: &str) -> Self {
        self.product_id = id;
        self.product_name = name.to_owned();
        self
    }

    pub fn price(mut self, value: Value) -> Self {
        self.price = value;
        self
    }

    pub fn offer(mut self, code: &str) -> Self {
        self.offer = code.to_owned();
        self
    }

    pub fn payment(mut self, payment_type: &str, installments: u32) -> Self {
        self.payment_type = payment_type.to_owned();
        self.installments = installments;
        self
    }

    pub fn approved_at(mut self, approved_ms: Option<i64>) -> Self {
        self.approved_ms = approved_ms;
        self
    }

    pub fn recurrence(mut self, recurrence: u32) -> Self {
        self.recurrence = recurrence;
        self
    }

    pub fn physical(mut self) -> Self {
        self.is_physical = true;
        self
    }

    pub fn subscription(mut self, subscriber_code: Value, plan_id: Value, plan_name: &str) -> Self {
        self.subscription = Some(SaleSubscription {
            subscriber_code,
            status: "ACTIVE".to_owned(),
            plan_id,
            plan_name: plan_name.to_owned(),
        });
        self
    }

    /// The product as purchase postbacks describe it.
    pub fn product_json(&self) -> Value {
        json!({
            "id": self.product_id,
            "ucode": "fb056612-bcc6-4217-9e6d-2a5d1110ac2f",
            "name": self.product_name,
            "warranty_date": iso(self.order_ms + 7 * DAY_MS),
            "support_email": "suporte@exemplo.com",
            "has_co_production": false,
            "is_physical_product": self.is_physical,
            "content": {"has_physical_products": self.is_physical, "products": [
                {"id": self.product_id, "ucode": "559fef42-3406-4d82-b775-d09bd33936b1", "name": self.product_name, "is_physical_product": self.is_physical}
            ]}
        })
    }

    /// The `data` of a PURCHASE_* postback with `purchase.status = status`.
    pub fn data(&self, status: &str) -> Value {
        let (first_name, last_name) = self
            .name
            .split_once(' ')
            .unwrap_or((self.name.as_str(), ""));
        let mut buyer = json!({
            "email": self.email,
            "name": self.name,
            "first_name": first_name,
            "last_name": last_name,
            "document": "69526128664",
            "document_type": "CPF",
            "address": {"city": "São Paulo", "country": "Brasil", "country_iso": "BR", "state": "São Paulo", "zipcode": "01310100", "address": "Avenida Paulista", "number": "1000"}
        });
        if let Some((code, number)) = &self.phone {
            buyer["checkout_phone_code"] = json!(code);
            buyer["checkout_phone"] = json!(number);
        }
        let price = json!({"value": self.price, "currency_value": self.currency});
        let mut purchase = json!({
            "full_price": price,
            "price": price,
            "original_offer_price": price,
            "checkout_country": {"name": "Brasil", "iso": "BR"},
            "order_bump": {"is_order_bump": false},
            "order_date": self.order_ms,
            "status": status,
            "transaction": self.transaction,
            "payment": {"installments_number": self.installments, "type": self.payment_type},
            "offer": {"code": self.offer, "coupon_code": "BOLO10"},
            "recurrence_number": self.recurrence,
            "origin": {"src": "instagram", "sck": "bio", "xcod": "post-42"},
            "sckPaymentLink": "sckPaymentLinkTest",
            "is_funnel": false,
            "business_model": "I",
            "buyer_ip": "191.32.10.7"
        });
        if let Some(approved) = self.approved_ms {
            purchase["approved_date"] = json!(approved);
        }
        let mut data = json!({
            "product": self.product_json(),
            "affiliates": [{"affiliate_code": "Q58388177J", "name": "Afiliada Teste"}],
            "buyer": buyer,
            "producer": {"name": "Ana Confeiteira", "document": "12345678965", "legal_nature": "Pessoa Física"},
            "commissions": [
                {"value": 49.7, "source": "MARKETPLACE", "currency_value": self.currency},
                {"value": 447.3, "source": "PRODUCER", "currency_value": self.currency}
            ],
            "purchase": purchase
        });
        if let Some(subscription) = &self.subscription {
            data["subscription"] = json!({
                "status": subscription.status,
                "plan": {"id": subscription.plan_id, "name": subscription.plan_name},
                "subscriber": {"code": subscription.subscriber_code}
            });
        }
        data
    }

    /// A PURCHASE_* postback, created at `creation_ms`.
    pub fn event(&self, event: &str, status: &str, creation_ms: i64) -> Value {
        envelope(event, creation_ms, self.data(status))
    }

    /// PURCHASE_BILLET_PRINTED for a billet sale: the link and the barcode in
    /// `purchase.payment`, no approval date yet.
    pub fn billet_printed(&self, creation_ms: i64) -> Value {
        let mut data = self.data("PRINTED_BILLET");
        let purchase = &mut data["purchase"];
        purchase
            .as_object_mut()
            .expect("purchase")
            .remove("approved_date");
        purchase["payment"] = json!({
            "type": "BILLET",
            "installments_number": 1,
            "billet_url": format!("https://billet.hotmart.com/b/{}", self.transaction),
            "billet_barcode": "34191.79001 01043.510047 91020.150008 5 97150026000"
        });
        envelope("PURCHASE_BILLET_PRINTED", creation_ms, data)
    }

    /// PURCHASE_BILLET_PRINTED for a Pix sale: the "copia e cola" code and the
    /// QR-code link in `purchase.payment`.
    pub fn pix_printed(&self, creation_ms: i64) -> Value {
        let mut data = self.data("WAITING_PAYMENT");
        let purchase = &mut data["purchase"];
        purchase
            .as_object_mut()
            .expect("purchase")
            .remove("approved_date");
        purchase["payment"] = json!({
            "type": "PIX",
            "installments_number": 1,
            "pix_code": PIX_CODE,
            "pix_qrcode": format!("https://pix.hotmart.com/qr/{}", self.transaction),
            "pix_expiration_date": self.order_ms + DAY_MS
        });
        envelope("PURCHASE_BILLET_PRINTED", creation_ms, data)
    }
}

/// A Pix "copia e cola" (EMV) code.
pub const PIX_CODE: &str = "00020101021226830014br.gov.bcb.pix2561qrpix.hotmart.com/qr/v2/cobv/9d36b84f5204000053039865802BR5925HOTMART6009SAO PAULO62070503***6304ABCD";

/// PURCHASE_OUT_OF_SHOPPING_CART.
pub fn cart_abandoned(
    email: &str,
    name: &str,
    phone: &str,
    product: Value,
    offer: &str,
    creation_ms: i64,
) -> Value {
    envelope(
        "PURCHASE_OUT_OF_SHOPPING_CART",
        creation_ms,
        json!({
            "affiliate": false,
            "product": product,
            "buyer_ip": "191.32.10.8",
            "buyer": {"name": name, "email": email, "phone": phone},
            "offer": {"code": offer},
            "checkout_country": {"name": "Brasil", "iso": "BR"}
        }),
    )
}

/// A subscriber as SUBSCRIPTION_CANCELLATION describes them (no `buyer`).
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub code: Value,
    pub name: String,
    pub email: Option<String>,
    /// `phone.dddCell` and `phone.cell`.
    pub cell: Option<(String, String)>,
}

impl Subscriber {
    pub fn new(code: &str, name: &str, email: Option<&str>) -> Self {
        Subscriber {
            code: json!(code),
            name: name.to_owned(),
            email: email.map(str::to_owned),
            cell: None,
        }
    }

    pub fn cell(mut self, ddd: &str, number: &str) -> Self {
        self.cell = Some((ddd.to_owned(), number.to_owned()));
        self
    }
}

/// SUBSCRIPTION_CANCELLATION: access should end at `date_next_charge`.
pub fn subscription_cancellation(
    subscriber: &Subscriber,
    product: Value,
    plan: (Value, &str),
    recurrence_value: Value,
    cancellation_ms: i64,
    next_charge_ms: i64,
    creation_ms: i64,
) -> Value {
    let (ddd_cell, cell) = subscriber
        .cell
        .clone()
        .unwrap_or_else(|| (String::new(), String::new()));
    let mut person = json!({
        "code": subscriber.code,
        "name": subscriber.name,
        "phone": {"dddPhone": "", "phone": "", "dddCell": ddd_cell, "cell": cell}
    });
    if let Some(email) = &subscriber.email {
        person["email"] = json!(email);
    }
    envelope(
        "SUBSCRIPTION_CANCELLATION",
        creation_ms,
        json!({
            "date_next_charge": next_charge_ms,
            "product": product,
            "actual_recurrence_value": recurrence_value,
            "subscriber": person,
            "subscription": {"id": 4148584, "plan": {"id": plan.0, "name": plan.1}},
            "cancellation_date": cancellation_ms
        }),
    )
}

/// One entry of SWITCH_PLAN's `plans[]`.
#[derive(Debug, Clone)]
pub struct PlanOption {
    pub id: Value,
    pub name: String,
    pub offer_key: String,
    pub current: bool,
}

/// SWITCH_PLAN, created when the switch happened: `plans[]` lists the old and
/// the new plan (`current: true`).
pub fn switch_plan(
    subscriber_code: &str,
    email: &str,
    product: Value,
    plans: &[PlanOption],
    status: &str,
    next_charge_ms: i64,
    switch_ms: i64,
) -> Value {
    let plans: Vec<Value> = plans
        .iter()
        .map(|p| json!({"id": p.id, "name": p.name, "offer": {"key": p.offer_key}, "current": p.current}))
        .collect();
    envelope(
        "SWITCH_PLAN",
        switch_ms,
        json!({
            "switch_plan_date": switch_ms,
            "subscription": {
                "subscriber_code": subscriber_code,
                "status": status,
                "date_next_charge": next_charge_ms,
                "product": product,
                "user": {"email": email}
            },
            "plans": plans
        }),
    )
}

/// UPDATE_SUBSCRIPTION_CHARGE_DATE: `date_next_charge` is an ISO-8601 string here.
pub fn charge_date_change(
    subscriber: &Subscriber,
    product: Value,
    (old_day, new_day): (u32, u32),
    next_charge_iso: &str,
    status: &str,
    plan: (Value, &str, &str),
    creation_ms: i64,
) -> Value {
    let mut person = json!({"code": subscriber.code, "name": subscriber.name});
    if let Some(email) = &subscriber.email {
        person["email"] = json!(email);
    }
    envelope(
        "UPDATE_SUBSCRIPTION_CHARGE_DATE",
        creation_ms,
        json!({
            "subscriber": person,
            "subscription": {
                "product": product,
                "old_charge_day": old_day,
                "new_charge_day": new_day,
                "date_next_charge": next_charge_iso,
                "status": status
            },
            "plan": {"offer": {"code": plan.2}, "name": plan.1, "id": plan.0}
        }),
    )
}

/// CLUB_FIRST_ACCESS.
pub fn first_access(email: &str, name: &str, product: Value, creation_ms: i64) -> Value {
    envelope(
        "CLUB_FIRST_ACCESS",
        creation_ms,
        json!({"product": product, "user": {"name": name, "email": email}}),
    )
}

/// CLUB_MODULE_COMPLETED; `module_id` matches the Club API's module id.
pub fn module_completed(
    email: &str,
    name: &str,
    product: Value,
    module_id: &str,
    module_name: &str,
    creation_ms: i64,
) -> Value {
    envelope(
        "CLUB_MODULE_COMPLETED",
        creation_ms,
        json!({
            "product": product,
            "user": {"name": name, "email": email},
            "module": {"id": module_id, "name": module_name}
        }),
    )
}

/// ORDER_FULFILLMENT (its shape is not documented: product, buyer, purchase).
pub fn order_fulfillment(
    email: &str,
    transaction: &str,
    product: Value,
    creation_ms: i64,
) -> Value {
    envelope(
        "ORDER_FULFILLMENT",
        creation_ms,
        json!({
            "product": product,
            "buyer": {"email": email, "name": "Comprador"},
            "purchase": {"transaction": transaction}
        }),
    )
}
