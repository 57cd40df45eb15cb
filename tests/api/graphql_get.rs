//! `GET /graphql` and automatic persisted queries: what a BI tool or a
//! dashboard sends so that its queries can be cached, and what it may not.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::TestApp;
use crate::on_both_backends;

/// A GET of `/graphql` with these URL parameters: status, headers, body.
async fn get(
    app: &TestApp,
    token: Option<&str>,
    parameters: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = app.client.get(app.url("/graphql")).query(parameters);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("a body"))
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON: {body}"))
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

async fn queries_come_by_get_and_by_hash(app: TestApp) {
    let workspace = app.create_workspace("painel").await;
    let token = app.agent_token(workspace);

    // Without a query, GET still opens GraphiQL.
    let (status, headers, body) = get(&app, None, &[]).await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(body.to_lowercase().contains("graphiql"));

    // A query with its variables in the URL, cacheable by the caller only.
    let query = "query($from: DateTime!, $to: DateTime!) { dashboard(from: $from, to: $to) { currency totals { grossRevenue } } }";
    let variables =
        json!({"from": "2026-01-01T03:00:00Z", "to": "2026-02-01T03:00:00Z"}).to_string();
    let (status, headers, body) = get(
        &app,
        Some(&token),
        &[("query", query), ("variables", &variables)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json_of(&body)["data"]["dashboard"],
        json!({"currency": "BRL", "totals": {"grossRevenue": "0.00"}})
    );
    assert_eq!(headers["cache-control"], "private, max-age=15");
    assert_eq!(headers["vary"], "authorization");

    // The same rules as POST: a token is needed for workspace data, depth
    // bombs are refused, and GET never changes anything.
    let (_, headers, body) = get(&app, None, &[("query", query), ("variables", &variables)]).await;
    assert_eq!(code(&json_of(&body)), "UNAUTHENTICATED", "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    let deep = format!(
        "{{ {}__typename{} }}",
        "a: workspaces { ".repeat(12),
        " }".repeat(12)
    );
    let (_, _, body) = get(&app, Some(&token), &[("query", &deep)]).await;
    assert_eq!(code(&json_of(&body)), "INVALID_INPUT", "{body}");
    let mutation =
        "mutation { setSetting(key: \"analytics.past_due_grace_days\", value: \"3\") { key } }";
    let (status, _, body) = get(&app, Some(&token), &[("query", mutation)]).await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(code(&json_of(&body)), "INVALID_INPUT");
    let set: i64 = app
        .count_where("settings", "key = 'analytics.past_due_grace_days'")
        .await;
    assert_eq!(set, 0, "nothing was written");
    // Parsed once and remembered, a text keeps its rules: the mutation run
    // by POST is still refused by GET, and the depth bomb every time.
    let posted = app.graphql(Some(&token), mutation, json!({})).await;
    assert_eq!(
        posted.data("setSetting")["key"],
        "analytics.past_due_grace_days"
    );
    let (status, _, body) = get(&app, Some(&token), &[("query", mutation)]).await;
    assert_eq!(status, 405, "{body}");
    for _ in 0..2 {
        let (_, _, body) = get(&app, Some(&token), &[("query", &deep)]).await;
        assert_eq!(code(&json_of(&body)), "INVALID_INPUT", "{body}");
    }
    for (parameters, why) in [
        (
            vec![("query", "{ __typename }"), ("variables", "{not json")],
            "variables",
        ),
        (
            vec![("query", "{ __typename }"), ("colour", "red")],
            "unknown parameter",
        ),
        (
            vec![("query", "{ __typename }"), ("query", "{ __typename }")],
            "repeated",
        ),
    ] {
        let (status, _, body) = get(&app, Some(&token), &parameters).await;
        assert_eq!(status, 400, "{why}: {body}");
        assert_eq!(code(&json_of(&body)), "INVALID_INPUT", "{why}");
    }

    // Automatic persisted queries: the hash alone, unknown; then the text
    // with its hash, once; then the hash alone, by GET.
    let hash = hex::encode(Sha256::digest(query.as_bytes()));
    let extensions = json!({"persistedQuery": {"version": 1, "sha256Hash": hash}});
    let (status, _, body) = get(
        &app,
        Some(&token),
        &[
            ("extensions", &extensions.to_string()),
            ("variables", &variables),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let body = json_of(&body);
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    assert_eq!(code(&body), "PERSISTED_QUERY_NOT_FOUND");
    let sent = app
        .post_graphql(
            Some(&token),
            json!({"query": query, "variables": json_of(&variables), "extensions": extensions}),
        )
        .await;
    assert_eq!(sent.data("dashboard")["currency"], "BRL");
    let (status, headers, body) = get(
        &app,
        Some(&token),
        &[
            ("extensions", &extensions.to_string()),
            ("variables", &variables),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json_of(&body)["data"]["dashboard"]["totals"]["grossRevenue"],
        "0.00"
    );
    assert_eq!(headers["cache-control"], "private, max-age=15");
    // A text that is not the hash's is refused, and not remembered.
    let forged = app
        .post_graphql(
            Some(&token),
            json!({"query": "{ workspaces { id } }", "extensions": extensions}),
        )
        .await;
    assert_eq!(
        forged.error_code(),
        Some("INVALID_INPUT"),
        "{:?}",
        forged.body
    );
}

on_both_backends!(
    queries_come_by_get_and_by_hash,
    queries_come_by_get_and_by_hash
);
