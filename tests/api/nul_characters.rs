//! U+0000, which PostgreSQL's text refuses and SQLite keeps: every way in
//! ends the same on both backends. GraphQL refuses it (INVALID_INPUT), paths
//! holding one name nothing (404), and providers' payloads are stored and
//! applied without it.

use reqwest::StatusCode;
use serde_json::{Value, json};
use worker::channels::whatsapp::signature_header;

use crate::fakes::meta::{self, FakeMeta};
use crate::helpers::TestApp;
use crate::hostile::{assert_rejected, row_counts};
use crate::hotmart_webhooks::{HOTTOK, purchase};
use crate::on_both_backends;

async fn a_nul_in_graphql_input_is_invalid_input(app: TestApp) {
    let ws = app.create_workspace("nulo").await;
    let agent = app.agent_token(ws);
    app.create_customer(ws, "maria@example.com").await;
    let before = row_counts(&app).await;
    let search = "query($s: String) { customers(filter: {search: $s}) { totalCount } }";
    let create = "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }";
    let cases: Vec<(&str, Value)> = vec![
        (
            "a search literal",
            json!({"query": "{ customers(filter: {search: \"\\u0000\"}) { totalCount } }"}),
        ),
        (
            "a search variable",
            json!({"query": search, "variables": {"s": "ma\u{0}ria"}}),
        ),
        (
            "a customer's name",
            json!({"query": create, "variables": {"input": {"email": "nul@example.com", "name": "Ana\u{0}"}}}),
        ),
        (
            "a tag literal",
            json!({"query": "mutation { createCustomer(input: {email: \"tag@example.com\", tags: [\"vip\\u0000\"]}) { id } }"}),
        ),
        (
            "deep in a JSON scalar",
            json!({"query": "mutation($d: JSON!) { createCampaign(input: {name: \"N\", workflowData: $d}) { id } }",
                   "variables": {"d": {"nodes": [{"id": "t", "data": {"body": "oi\u{0}"}}], "edges": []}}}),
        ),
        (
            "a variable's name",
            json!({"query": search, "variables": {"s\u{0}": "x"}}),
        ),
        (
            "the operation name",
            json!({"query": "query A { __typename }", "operationName": "A\u{0}"}),
        ),
    ];
    for (what, body) in cases {
        let answer = app.post_graphql(Some(&agent), body).await;
        assert_rejected(&answer, StatusCode::BAD_REQUEST, "INVALID_INPUT", what);
        let message = answer.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(message.contains("NUL"), "{what}: {message}");
    }
    assert_eq!(row_counts(&app).await, before, "nothing was written");
    // An escaped backslash before `u0000` is six characters of text.
    let answer = app
        .graphql(
            Some(&agent),
            "{ customers(filter: {search: \"\\\\u0000\"}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.data("customers")["totalCount"], 0);
}
on_both_backends!(
    a_nul_in_graphql_input_is_invalid_input,
    a_nul_in_graphql_input_is_invalid_input
);

async fn a_path_holding_a_nul_names_nothing(app: TestApp) {
    app.hotmart_workspace("curso").await;
    let client = &app.client;
    let requests = [
        (
            "POST hotmart",
            client.post(app.url("/webhooks/hotmart/%00")),
        ),
        (
            "POST hotmart, inside a slug",
            client.post(app.url("/webhooks/hotmart/cur%00so")),
        ),
        (
            "GET whatsapp",
            client.get(app.url("/webhooks/whatsapp/%00?hub.mode=subscribe")),
        ),
        (
            "POST whatsapp",
            client.post(app.url("/webhooks/whatsapp/%00")),
        ),
        ("GET a tracked link", client.get(app.url("/r/%00"))),
    ];
    for (what, request) in requests {
        let response = request
            .header("x-hotmart-hottok", HOTTOK)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{what}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "NOT_FOUND",
            "{what}"
        );
    }
    assert_eq!(app.count_rows("webhook_events").await, 0);
}
on_both_backends!(
    a_path_holding_a_nul_names_nothing,
    a_path_holding_a_nul_names_nothing
);

async fn a_postback_carrying_nuls_is_applied_without_them(app: TestApp) {
    app.hotmart_workspace("nulos").await;
    let mut body = purchase(
        "PURCHASE_APPROVED",
        "APPROVED",
        "HP-NUL-1",
        "maria@example.com",
        1_767_225_600_000,
    );
    body["data"]["buyer"]["name"] = json!("Maria\u{0} Silva");
    body["data"]["product"]["name"] = json!("Curso de\u{0} Confeitaria");
    body["data"]["purchase"]["origin"]["sck"] = json!("\u{0}bio");
    let (status, answer) = app.post_hotmart("nulos", Some(HOTTOK), &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "accepted");
    app.drain().await;
    assert_eq!(
        app.count_where("webhook_events", "status = 'processed' AND attempts = 1")
            .await,
        1,
        "applied at the first attempt, not retried"
    );
    assert_eq!(
        app.count_where("customers", "name = 'Maria Silva'").await,
        1
    );
    assert_eq!(
        app.count_where("products", "name = 'Curso de Confeitaria'")
            .await,
        1
    );

    // The id and event name are keys: a NUL there is refused at the door.
    let mut bad_id = body.clone();
    bad_id["id"] = json!("abc\u{0}");
    let (status, answer) = app.post_hotmart("nulos", Some(HOTTOK), &bad_id).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errors"][0]["extensions"]["code"], "INVALID_INPUT");
    assert_eq!(app.count_rows("webhook_events").await, 1);
}
on_both_backends!(
    a_postback_carrying_nuls_is_applied_without_them,
    a_postback_carrying_nuls_is_applied_without_them
);

async fn a_whatsapp_reply_carrying_a_nul_still_opts_out(app: TestApp) {
    let ws = app.create_workspace("parar").await;
    crate::templates::configure_whatsapp(&app, ws, &FakeMeta::spawn().await).await;
    let created = app
        .graphql(
            Some(&app.agent_token(ws)),
            "mutation { createCustomer(input: {email: \"bia@example.com\", phone: \"+55 21 99876-5432\"}) { id } }",
            json!({}),
        )
        .await;
    assert!(created.data("createCustomer")["id"].is_string());
    let reply = meta::inbound_text("5521998765432", "wamid.IN-\u{0}1", "PARAR\u{0}");
    let bytes = serde_json::to_vec(&reply).expect("json");
    let response = app
        .client
        .post(app.url("/webhooks/whatsapp/parar"))
        .header(
            "x-hub-signature-256",
            signature_header(meta::APP_SECRET, &bytes),
        )
        .header("content-type", "application/json")
        .body(bytes)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.count_where("customer_activities", "activity_type = 'opted_out'")
            .await,
        1
    );
}
on_both_backends!(
    a_whatsapp_reply_carrying_a_nul_still_opts_out,
    a_whatsapp_reply_carrying_a_nul_still_opts_out
);
