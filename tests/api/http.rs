//! The HTTP front door: probes, GraphiQL, request ids, metrics, unknown
//! routes and caching headers.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderMap};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::on_both_backends;

const REQUEST_ID: &str = "x-request-id";

/// Sends a request and returns its status, headers and body text.
async fn send(request: reqwest::RequestBuilder) -> (StatusCode, HeaderMap, String) {
    let response = request.send().await.expect("request reaches the app");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    (status, headers, text)
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

/// Asserts `{"errors": [{"message": .., "extensions": {"code": code}}]}`.
fn assert_error_body(text: &str, code: &str) {
    let body = json_of(text);
    let errors = body["errors"].as_array().expect("an errors list");
    assert!(!errors.is_empty(), "{body}");
    for error in errors {
        assert!(error["message"].is_string(), "{body}");
        assert_eq!(error["extensions"]["code"], code, "{body}");
    }
}

async fn health_and_readiness_probes_answer(app: TestApp) {
    let (status, headers, text) = send(app.client.get(app.url("/healthz"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(json_of(&text), json!({"status": "ok"}));

    let (status, _, text) = send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(json_of(&text), json!({"status": "ready"}));

    // A migration the build expects but the database lacks: not ready.
    let backend = app.db.get_database_backend();
    app.db
        .execute_raw(Statement::from_string(
            backend,
            "DELETE FROM seaql_migrations WHERE version = (SELECT MAX(version) FROM seaql_migrations)",
        ))
        .await
        .expect("forget the newest migration");
    let (status, _, text) = send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert_eq!(json_of(&text)["status"], "not ready");
    // Liveness does not depend on the database.
    let (status, _, _) = send(app.client.get(app.url("/healthz"))).await;
    assert_eq!(status, StatusCode::OK);
}
on_both_backends!(
    health_and_readiness_probes_answer,
    health_and_readiness_probes_answer
);

async fn graphiql_is_served_on_get(app: TestApp) {
    let (status, headers, text) = send(app.client.get(app.url("/graphql"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{headers:?}"
    );
    assert!(text.to_lowercase().contains("graphiql"), "{text}");
}
on_both_backends!(graphiql_is_served_on_get, graphiql_is_served_on_get);

async fn every_response_carries_a_request_id(app: TestApp) {
    let token = app.service_token();
    let requests = vec![
        ("GET /healthz", app.client.get(app.url("/healthz"))),
        ("GET /readyz", app.client.get(app.url("/readyz"))),
        ("GET /metrics", app.client.get(app.url("/metrics"))),
        ("GET /graphql", app.client.get(app.url("/graphql"))),
        (
            "POST /graphql",
            app.client
                .post(app.url("/graphql"))
                .bearer_auth(&token)
                .json(&json!({"query": "{ workspaces { totalCount } }"})),
        ),
        (
            "POST /graphql with a GraphQL error",
            app.client
                .post(app.url("/graphql"))
                .bearer_auth(&token)
                .json(&json!({"query": "{ nope }"})),
        ),
        (
            "POST /graphql with a malformed body",
            app.client
                .post(app.url("/graphql"))
                .bearer_auth(&token)
                .header(CONTENT_TYPE, "application/json")
                .body("{"),
        ),
        (
            "POST /graphql with a bad token",
            app.client
                .post(app.url("/graphql"))
                .bearer_auth("not-a-token")
                .json(&json!({"query": "{ workspaces { totalCount } }"})),
        ),
        (
            "POST /graphql with an oversized body",
            app.client
                .post(app.url("/graphql"))
                .bearer_auth(&token)
                .header(CONTENT_TYPE, "application/json")
                .body(format!(
                    "{{\"query\": \"{}\"}}",
                    "x".repeat(1024 * 1024 + 1)
                )),
        ),
        ("GET an unknown route", app.client.get(app.url("/nope"))),
        ("DELETE /healthz", app.client.delete(app.url("/healthz"))),
    ];
    let mut seen = Vec::new();
    for (what, request) in requests {
        let (status, headers, _) = send(request).await;
        assert!(!status.is_server_error(), "{what}: {status}");
        let id = headers
            .get(REQUEST_ID)
            .unwrap_or_else(|| panic!("{what}: no {REQUEST_ID} header"))
            .to_str()
            .expect("ASCII")
            .to_owned();
        uuid::Uuid::parse_str(&id).unwrap_or_else(|_| panic!("{what}: {id} is not a UUID"));
        assert!(!seen.contains(&id), "{what}: request id {id} reused");
        seen.push(id);
    }

    // A request id the client sends (e.g. from a proxy) is kept and echoed.
    for path in ["/healthz", "/graphql", "/nope"] {
        let (_, headers, _) = send(
            app.client
                .get(app.url(path))
                .header(REQUEST_ID, "client-chosen-id-123"),
        )
        .await;
        assert_eq!(
            headers.get(REQUEST_ID).map(|v| v.to_str().unwrap()),
            Some("client-chosen-id-123"),
            "{path}"
        );
    }
    let (_, headers, _) = send(
        app.client
            .post(app.url("/graphql"))
            .header(REQUEST_ID, "0195f3c2-8a1e-7c3b-9d4e-5f6a7b8c9d0e")
            .bearer_auth(&token)
            .json(&json!({"query": "{ workspaces { totalCount } }"})),
    )
    .await;
    assert_eq!(
        headers.get(REQUEST_ID).map(|v| v.to_str().unwrap()),
        Some("0195f3c2-8a1e-7c3b-9d4e-5f6a7b8c9d0e")
    );
}
on_both_backends!(
    every_response_carries_a_request_id,
    every_response_carries_a_request_id
);

async fn metrics_count_requests_by_route_template(app: TestApp) {
    let token = app.service_token();
    let (status, _, text) = send(
        app.client
            .post(app.url("/graphql"))
            .bearer_auth(&token)
            .json(&json!({"query": "{ workspaces { totalCount } }"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let secret_path = "/admin/0195f3c2-8a1e-7c3b-9d4e-5f6a7b8c9d0e/maria@example.com";
    let (status, _, _) = send(app.client.get(app.url(secret_path))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, headers, metrics) = send(app.client.get(app.url("/metrics"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "{headers:?}"
    );
    for expected in [
        "jornada_http_requests_total{route=\"/graphql\",method=\"POST\",status=\"200\"} 1",
        "jornada_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1",
        "jornada_http_request_duration_seconds_bucket{route=\"/graphql\",le=\"+Inf\"} 1",
        "jornada_http_request_duration_seconds_bucket{route=\"/graphql\",le=\"10\"} 1",
        "jornada_http_request_duration_seconds_count{route=\"/graphql\"} 1",
        "jornada_http_request_duration_seconds_sum{route=\"/graphql\"} ",
        "jornada_db_pool_connections{state=\"idle\"} ",
        "jornada_db_pool_connections{state=\"in_use\"} ",
        "# TYPE jornada_http_requests_total counter",
        "# TYPE jornada_http_request_duration_seconds histogram",
        "# TYPE jornada_db_pool_connections gauge",
    ] {
        assert!(
            metrics.contains(expected),
            "missing `{expected}` in:\n{metrics}"
        );
    }
    // Raw paths never become labels: they may carry ids and e-mails.
    assert!(!metrics.contains("0195f3c2"), "{metrics}");
    assert!(!metrics.contains("/admin"), "{metrics}");
    assert!(!metrics.contains("maria"), "{metrics}");
    // Every sample line is `name{labels} number`.
    for line in metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("a sample");
        assert!(
            series.starts_with(|c: char| c.is_ascii_alphabetic()),
            "{line}"
        );
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }

    // Counters grow with traffic; the metrics scrape counts itself.
    send(
        app.client
            .post(app.url("/graphql"))
            .bearer_auth(&token)
            .json(&json!({"query": "{ workspaces { totalCount } }"})),
    )
    .await;
    let (_, _, metrics) = send(app.client.get(app.url("/metrics"))).await;
    assert!(
        metrics.contains(
            "jornada_http_requests_total{route=\"/graphql\",method=\"POST\",status=\"200\"} 2"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "jornada_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
}
on_both_backends!(
    metrics_count_requests_by_route_template,
    metrics_count_requests_by_route_template
);

async fn unknown_routes_are_404_not_found(app: TestApp) {
    for path in [
        "/nope",
        "/graphql/extra",
        "/GRAPHQL",
        "/api/v1/customers",
        "/../etc/passwd",
        "/%00",
    ] {
        let (status, _, text) = send(app.client.get(app.url(path))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {text}");
        assert_error_body(&text, "NOT_FOUND");
    }
    let (status, _, text) = send(app.client.post(app.url("/nope")).body("{}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_body(&text, "NOT_FOUND");
}
on_both_backends!(
    unknown_routes_are_404_not_found,
    unknown_routes_are_404_not_found
);

async fn a_wrong_method_gets_an_error_body(app: TestApp) {
    let mut wrong = Vec::new();
    for (what, request) in [
        ("DELETE /healthz", app.client.delete(app.url("/healthz"))),
        ("POST /metrics", app.client.post(app.url("/metrics"))),
        (
            "PUT /graphql",
            app.client.put(app.url("/graphql")).body("{}"),
        ),
    ] {
        let (status, _, text) = send(request).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{what}");
        let code = serde_json::from_str::<Value>(&text).ok().and_then(|body| {
            body["errors"][0]["extensions"]["code"]
                .as_str()
                .map(str::to_owned)
        });
        if !code.is_some_and(|c| ["NOT_FOUND", "INVALID_INPUT"].contains(&c.as_str())) {
            wrong.push(format!("{what} -> {status} {text:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "405 answers without a GraphQL-shaped error body:\n{}",
        wrong.join("\n")
    );
}
on_both_backends!(
    a_wrong_method_gets_an_error_body,
    a_wrong_method_gets_an_error_body
);

async fn graphql_responses_are_not_cached(app: TestApp) {
    let token = app.service_token();
    for (what, body) in [
        ("a query", json!({"query": "{ workspaces { totalCount } }"})),
        ("a GraphQL error", json!({"query": "{ nope }"})),
        (
            "a resolver error",
            json!({"query": "{ workspaces(first: -1) { totalCount } }"}),
        ),
        (
            "a batch",
            json!([{"query": "{ workspaces { totalCount } }"}, {"query": "{ workspaces { totalCount } }"}]),
        ),
    ] {
        let (status, headers, text) = send(
            app.client
                .post(app.url("/graphql"))
                .bearer_auth(&token)
                .json(&body),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{what}: {text}");
        assert_eq!(
            headers.get(CACHE_CONTROL).map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{what}"
        );
        assert!(
            headers[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{what}: {headers:?}"
        );
    }
}
on_both_backends!(
    graphql_responses_are_not_cached,
    graphql_responses_are_not_cached
);
