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
    app.settle().await;

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
    app.settle().await;
    assert_eq!(
        app.post_hotmart("confeitaria", Some(HOTTOK), &late_approval)
            .await
            .0,
        200
    );
    app.settle().await;
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
