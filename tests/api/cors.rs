//! Browser front ends on other origins (the React builder, the queue
//! screen): allowed origins get CORS answers, others none.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, TestApp, spawn_app_with_cors};

const BUILDER: &str = "https://builder.example.com";

async fn cors_app(backend: Backend) -> TestApp {
    spawn_app_with_cors(
        backend,
        "https://builder.example.com, http://localhost:5173",
    )
    .await
}

async fn allowed_origins_are_answered_and_others_are_not(app: TestApp) {
    // The preflight a browser sends before a GraphQL POST with a token.
    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("/graphql"))
        .header("origin", BUILDER)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("answered");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let headers = preflight.headers();
    assert_eq!(headers["access-control-allow-origin"], BUILDER);
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{methods}"
    );
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert!(
        headers.get("access-control-allow-credentials").is_none(),
        "bearer tokens, no cookies"
    );

    // The request itself carries the origin back.
    let ws = app.create_workspace("cors").await;
    let answer = app
        .client
        .post(app.url("/graphql"))
        .header("origin", "http://localhost:5173")
        .bearer_auth(app.agent_token(ws))
        .json(&json!({"query": "{ workflowNodeTypes { type } }"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(
        answer.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    let exposed = answer.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(exposed.contains("x-request-id"), "{exposed}");

    // Another origin gets no allowance, preflight or not.
    for method in [Method::OPTIONS, Method::POST] {
        let mut request = app
            .client
            .request(method.clone(), app.url("/graphql"))
            .header("origin", "https://evil.example.com")
            .header("access-control-request-method", "POST");
        if method == Method::POST {
            request = request.json(&json!({"query": "{ __typename }"}));
        }
        let response = request.send().await.expect("answered");
        assert!(
            response
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "{method}: {:?}",
            response.headers()
        );
    }
}
crate::on_both_backends!(
    cors_allowlist,
    allowed_origins_are_answered_and_others_are_not,
    cors_app
);

async fn without_origins_there_are_no_cors_headers(app: TestApp) {
    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("/graphql"))
        .header("origin", BUILDER)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("answered");
    assert_eq!(preflight.status(), StatusCode::METHOD_NOT_ALLOWED);
    let answer = app
        .client
        .post(app.url("/graphql"))
        .header("origin", BUILDER)
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(
        answer
            .headers()
            .keys()
            .all(|name| !name.as_str().starts_with("access-control-")),
        "{:?}",
        answer.headers()
    );
}
crate::on_both_backends!(
    cors_off_by_default,
    without_origins_there_are_no_cors_headers
);
