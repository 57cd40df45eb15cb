//! Input nested deep enough to recurse a parser off its stack: refused
//! before any parser sees it, and the app keeps serving.

use reqwest::StatusCode;
use serde_json::{Value, json};
use worker::channels::whatsapp::signature_header;

use crate::fakes::meta;
use crate::helpers::{Answer, TestApp};
use crate::hostile::{assert_rejected, row_counts};
use crate::hotmart_webhooks::HOTTOK;
use crate::on_both_backends;

/// The query that aborted the process: a list literal nested `depth` deep.
pub fn nested_list_query(depth: usize) -> Value {
    json!({"query": format!("{{ __typename(x: {}1{}) }}", "[".repeat(depth), "]".repeat(depth))})
}

fn assert_too_deep(answer: &Answer, what: &str) {
    assert_rejected(answer, StatusCode::BAD_REQUEST, "INVALID_INPUT", what);
    let message = answer.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("levels deep"), "{what}: {message}");
}

async fn query_text_nested_deep_is_refused_before_it_is_parsed(app: TestApp) {
    let ws = app.create_workspace("profundezas").await;
    let agent = app.agent_token(ws);
    let before = row_counts(&app).await;
    let deep = 2_000;
    let cases: Vec<(&str, Value)> = vec![
        (
            "the reported list literal, anonymous",
            nested_list_query(deep),
        ),
        ("a list literal 200,000 deep", nested_list_query(200_000)),
        (
            "an input object",
            json!({"query": format!("{{ customers(filter: {}1{}) {{ totalCount }} }}", "{search: ".repeat(deep), "}".repeat(deep))}),
        ),
        (
            "selections",
            json!({"query": format!("{}{}", "{ a ".repeat(deep), "}".repeat(deep))}),
        ),
        (
            "a variable's list type",
            json!({"query": format!("query($x: {}Int{}) {{ __typename }}", "[".repeat(deep), "]".repeat(deep))}),
        ),
        (
            "after an unclosed block string",
            json!({"query": format!("{{ a(x: [\"\"\"\", {}1{}]) }}", "[".repeat(deep), "]".repeat(deep))}),
        ),
        (
            "one operation of a batch",
            json!([{"query": "{ __typename }"}, nested_list_query(deep)]),
        ),
    ];
    for (what, body) in &cases {
        for token in [None, Some(agent.as_str())] {
            let answer = app.post_graphql(token, body.clone()).await;
            assert_too_deep(&answer, what);
        }
    }
    // Brackets inside strings and comments are text, however many.
    let (brackets, search) = ("[".repeat(deep), "[".repeat(150));
    let answer = app
        .graphql(
            Some(&agent),
            &format!(
                "# {brackets}\n{{ customers(filter: {{search: \"{search}\"}}) {{ totalCount }} }}"
            ),
            json!({}),
        )
        .await;
    assert_eq!(answer.data("customers")["totalCount"], 0, "{}", answer.body);
    // Within the limit the parser answers: here, that a search is no list.
    let query = format!(
        "{{ customers(filter: {{search: {}\"a\"{}}}) {{ totalCount }} }}",
        "[".repeat(40),
        "]".repeat(40)
    );
    let answer = app.graphql(Some(&agent), &query, json!({})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.error_code(), Some("INVALID_INPUT"));

    assert_eq!(row_counts(&app).await, before, "nothing was written");
    app.assert_serving().await;
}
on_both_backends!(
    query_text_nested_deep_is_refused_before_it_is_parsed,
    query_text_nested_deep_is_refused_before_it_is_parsed
);

/// Every receiver's JSON body, nested far past what its parser takes.
async fn json_bodies_nested_deep_are_refused_by_every_receiver(app: TestApp) {
    let ws = app.hotmart_workspace("corpo-fundo").await;
    crate::templates::configure_whatsapp(&app, ws, &meta::FakeMeta::spawn().await).await;
    let deep = 100_000;
    let body = format!(
        "{{\"id\": \"x\", \"event\": \"PURCHASE_APPROVED\", \"data\": {}1{}}}",
        "[".repeat(deep),
        "]".repeat(deep)
    );

    let graphql = app.post_graphql_raw(None, body.clone()).await;
    assert_rejected(
        &graphql,
        StatusCode::BAD_REQUEST,
        "INVALID_INPUT",
        "GraphQL body",
    );

    let hotmart = app
        .client
        .post(app.url("/webhooks/hotmart/corpo-fundo"))
        .header("x-hotmart-hottok", HOTTOK)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .expect("answered");
    assert_eq!(hotmart.status(), StatusCode::BAD_REQUEST);
    let answer: Value = hotmart.json().await.expect("json");
    assert_eq!(answer["errors"][0]["extensions"]["code"], "INVALID_INPUT");

    let signature = signature_header(meta::APP_SECRET, body.as_bytes());
    let whatsapp = app
        .client
        .post(app.url("/webhooks/whatsapp/corpo-fundo"))
        .header("x-hub-signature-256", signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("answered");
    assert_eq!(whatsapp.status(), StatusCode::BAD_REQUEST);

    assert_eq!(app.count_rows("webhook_events").await, 0);
    app.assert_serving().await;
}
on_both_backends!(
    json_bodies_nested_deep_are_refused_by_every_receiver,
    json_bodies_nested_deep_are_refused_by_every_receiver
);

/// A React Flow document and condition rules as deep as a request can carry
/// them are validated, stored and read back, not crashed on.
async fn workflow_documents_as_deep_as_allowed_are_handled(app: TestApp) {
    let ws = app.create_workspace("fluxo-fundo").await;
    let agent = app.agent_token(ws);
    // serde_json takes 128 levels in a body: the request, the document and a
    // node sit above these 110.
    let mut deep = json!("x");
    for _ in 0..55 {
        deep = json!({"rules": [deep]});
    }
    let document = json!({
        "nodes": [
            {"id": "t", "type": "trigger", "position": {"x": 0, "y": 0}, "data": {"source": "manual"}},
            {"id": "c", "type": "condition", "position": {"x": 0, "y": 100}, "data": {"combinator": "and", "rules": [deep.clone()]}},
        ],
        "edges": [{"id": "e", "source": "t", "target": "c"}],
        "extra": deep,
    });
    let problems = app
        .graphql(
            Some(&agent),
            "query($d: JSON!) { validateWorkflow(workflowData: $d) { nodeId code } }",
            json!({"d": document}),
        )
        .await;
    let problems = problems
        .data("validateWorkflow")
        .as_array()
        .expect("problems");
    assert!(
        problems.iter().any(|p| p["nodeId"] == "c"),
        "the nested rule is reported on its node: {problems:?}"
    );
    let created = app
        .graphql(
            Some(&agent),
            "mutation($d: JSON!) { createCampaign(input: {name: \"Fundo\", workflowData: $d}) { id workflowData } }",
            json!({"d": document}),
        )
        .await;
    assert_eq!(created.data("createCampaign")["workflowData"], document);

    // The same inline, nearly as deep as the query text may nest (64).
    let mut inline = "1".to_owned();
    for _ in 0..29 {
        inline = format!("{{rules: [{inline}]}}");
    }
    let answer = app
        .graphql(
            Some(&agent),
            &format!("{{ validateWorkflow(workflowData: {{nodes: [], edges: [], extra: {inline}}}) {{ code }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(
        answer.data("validateWorkflow").is_array(),
        "{}",
        answer.body
    );
}
on_both_backends!(
    workflow_documents_as_deep_as_allowed_are_handled,
    workflow_documents_as_deep_as_allowed_are_handled
);
