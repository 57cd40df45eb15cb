//! Tokens the API must refuse: each answers HTTP 401 with a GraphQL-shaped
//! UNAUTHENTICATED error, and runs nothing.

use api::auth::Claims;
use api::{JwtKeys, Role};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Answer, TestApp};
use crate::on_both_backends;

const CREATE_WORKSPACE: &str =
    "mutation($slug: String!) { createWorkspace(input: {name: \"Auth\", slug: $slug}) { id } }";

fn in_an_hour() -> i64 {
    chrono::Utc::now().timestamp() + 3600
}

fn claims(role: &str, workspace_id: Option<String>, scope: Option<&str>, exp: i64) -> Claims {
    Claims {
        sub: Some("auth-test".into()),
        role: role.into(),
        workspace_id,
        exp,
        iat: Some(chrono::Utc::now().timestamp()),
        scope: scope.map(str::to_owned),
    }
}

fn service_claims() -> Claims {
    claims("service_role", None, None, in_an_hour())
}

/// Signs any JSON claims with `algorithm` and `secret`.
fn sign(algorithm: Algorithm, secret: &[u8], claims: &impl serde::Serialize) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("encode a token")
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("json"))
}

/// Whether `answer` is the 401 UNAUTHENTICATED a refused credential gets.
fn refusal_mismatch(answer: &Answer) -> Option<String> {
    let errors = answer.body["errors"].as_array();
    let well_formed = answer.status == StatusCode::UNAUTHORIZED
        && errors.is_some_and(|e| e.len() == 1)
        && answer.error_code() == Some("UNAUTHENTICATED")
        && answer.body["errors"][0]["message"].is_string()
        && answer.body.get("data").is_none_or(Value::is_null);
    (!well_formed).then(|| format!("HTTP {} {}", answer.status, answer.body))
}

async fn refused_credentials_answer_401_and_run_nothing(app: TestApp) {
    let secret = app.jwt_secret();
    let a = Uuid::now_v7();
    let valid_agent = app.agent_token(a);

    // A valid token's header and signature around a payload that claims more.
    let tampered = {
        let parts: Vec<&str> = valid_agent.split('.').collect();
        let payload = b64(&json!({"sub": "x", "role": "service_role", "exp": in_an_hour()}));
        format!("{}.{payload}.{}", parts[0], parts[2])
    };
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&serde_json::to_value(service_claims()).expect("claims"))
    );
    let alg_none_signed = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&serde_json::to_value(service_claims()).expect("claims")),
        valid_agent.split('.').nth(2).expect("signature")
    );
    let expired = app.jwt.sign(&claims(
        "service_role",
        None,
        None,
        chrono::Utc::now().timestamp() - 3600,
    ));
    let missing_exp = sign(
        Algorithm::HS256,
        secret,
        &json!({"sub": "auth-test", "role": "service_role"}),
    );
    let string_exp = sign(
        Algorithm::HS256,
        secret,
        &json!({"sub": "auth-test", "role": "service_role", "exp": in_an_hour().to_string()}),
    );
    let missing_role = sign(
        Algorithm::HS256,
        secret,
        &json!({"sub": "auth-test", "exp": in_an_hour()}),
    );

    let now = chrono::Utc::now().timestamp();
    let not_yet_valid = sign(
        Algorithm::HS256,
        secret,
        &json!({"role": "service_role", "exp": in_an_hour(), "nbf": now + 600}),
    );
    let issued_in_the_future = sign(
        Algorithm::HS256,
        secret,
        &json!({"role": "service_role", "exp": in_an_hour(), "iat": now + 600}),
    );
    let critical = {
        let message = format!(
            "{}.{}",
            b64(&json!({"alg": "HS256", "typ": "JWT", "crit": ["exp"]})),
            b64(&serde_json::to_value(service_claims()).expect("claims"))
        );
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(secret),
            Algorithm::HS256,
        )
        .expect("sign");
        format!("{message}.{signature}")
    };
    let agent_for_a_year = sign(
        Algorithm::HS256,
        secret,
        &json!({"role": "authenticated", "workspace_id": a.to_string(), "iat": now, "exp": now + 365 * 86_400}),
    );
    let agent_for_a_year_without_iat = sign(
        Algorithm::HS256,
        secret,
        &json!({"role": "authenticated", "workspace_id": a.to_string(), "exp": now + 365 * 86_400}),
    );
    let long_subject = sign(
        Algorithm::HS256,
        secret,
        &json!({"sub": "x".repeat(api::auth::MAX_SUBJECT_CHARS + 1), "role": "service_role", "exp": in_an_hour()}),
    );

    let cases: Vec<(&str, String)> = vec![
        ("nbf ten minutes ahead", format!("Bearer {not_yet_valid}")),
        (
            "iat ten minutes ahead",
            format!("Bearer {issued_in_the_future}"),
        ),
        ("a crit header", format!("Bearer {critical}")),
        (
            "authenticated for a year",
            format!("Bearer {agent_for_a_year}"),
        ),
        (
            "authenticated for a year, no iat",
            format!("Bearer {agent_for_a_year_without_iat}"),
        ),
        ("a 257-character sub", format!("Bearer {long_subject}")),
        (
            "signed with another secret",
            format!(
                "Bearer {}",
                JwtKeys::new(b"another-secret-that-is-long-enough-too").mint(
                    Role::ServiceRole,
                    None,
                    None,
                    false,
                    chrono::Duration::hours(1),
                )
            ),
        ),
        ("tampered payload", format!("Bearer {tampered}")),
        ("alg none, empty signature", format!("Bearer {alg_none}")),
        (
            "alg none with a signature",
            format!("Bearer {alg_none_signed}"),
        ),
        (
            "HS512 with the right secret",
            format!(
                "Bearer {}",
                sign(Algorithm::HS512, secret, &service_claims())
            ),
        ),
        (
            "HS384 with the right secret",
            format!(
                "Bearer {}",
                sign(Algorithm::HS384, secret, &service_claims())
            ),
        ),
        ("expired", format!("Bearer {expired}")),
        ("no exp", format!("Bearer {missing_exp}")),
        ("exp as a string", format!("Bearer {string_exp}")),
        ("no role", format!("Bearer {missing_role}")),
        (
            "unknown role admin",
            format!(
                "Bearer {}",
                app.jwt.sign(&claims("admin", None, None, in_an_hour()))
            ),
        ),
        (
            "role in upper case",
            format!(
                "Bearer {}",
                app.jwt
                    .sign(&claims("SERVICE_ROLE", None, None, in_an_hour()))
            ),
        ),
        (
            "authenticated without workspace_id",
            format!(
                "Bearer {}",
                app.jwt
                    .sign(&claims("authenticated", None, None, in_an_hour()))
            ),
        ),
        (
            "authenticated with workspace_id not a UUID",
            format!(
                "Bearer {}",
                app.jwt.sign(&claims(
                    "authenticated",
                    Some("curso-da-ana".into()),
                    None,
                    in_an_hour()
                ))
            ),
        ),
        (
            "service_role with workspace_id not a UUID",
            format!(
                "Bearer {}",
                app.jwt.sign(&claims(
                    "service_role",
                    Some("not-a-uuid".into()),
                    None,
                    in_an_hour()
                ))
            ),
        ),
        (
            "unknown scope",
            format!(
                "Bearer {}",
                app.jwt
                    .sign(&claims("service_role", None, Some("write"), in_an_hour()))
            ),
        ),
        (
            "unknown scope on an authenticated token",
            format!(
                "Bearer {}",
                app.jwt.sign(&claims(
                    "authenticated",
                    Some(a.to_string()),
                    Some("admin"),
                    in_an_hour()
                ))
            ),
        ),
        ("garbage token", "Bearer not-a-jwt".to_owned()),
        ("three garbage segments", "Bearer aaa.bbb.ccc".to_owned()),
        (
            "Basic credentials",
            format!("Basic {}", URL_SAFE_NO_PAD.encode("service_role:secret")),
        ),
        ("token without a scheme", valid_agent.clone()),
        ("empty Bearer", "Bearer ".to_owned()),
        ("Bearer with spaces only", "Bearer    ".to_owned()),
        ("empty header", String::new()),
    ];

    let mut mismatches = Vec::new();
    for (index, (case, authorization)) in cases.iter().enumerate() {
        let answer = app
            .graphql_with_authorization(
                authorization,
                CREATE_WORKSPACE,
                json!({"slug": format!("refused-{index}")}),
            )
            .await;
        if let Some(why) = refusal_mismatch(&answer) {
            mismatches.push(format!("{case}: {why}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} credential(s) not refused with 401 UNAUTHENTICATED:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert_eq!(
        app.count_rows("workspaces").await,
        0,
        "a refused request created a workspace"
    );
}
on_both_backends!(
    refused_credentials_answer_401_and_run_nothing,
    refused_credentials_answer_401_and_run_nothing
);

async fn valid_tokens_answer_200(app: TestApp) {
    // service_role, minted by the app's own keys and signed by hand with HS256.
    let minted = app
        .graphql(
            Some(&app.service_token()),
            CREATE_WORKSPACE,
            json!({"slug": "valido"}),
        )
        .await;
    assert_eq!(minted.status, StatusCode::OK);
    let ws = minted.data("createWorkspace")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let by_hand = sign(Algorithm::HS256, app.jwt_secret(), &service_claims());
    let answer = app
        .graphql_with_authorization(
            &format!("Bearer {by_hand}"),
            "{ workspaces { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.data("workspaces")["totalCount"], 1);

    // authenticated, with and without the read scope.
    let agent = app.jwt.sign(&claims(
        "authenticated",
        Some(ws.clone()),
        None,
        in_an_hour(),
    ));
    let reader = app.jwt.sign(&claims(
        "authenticated",
        Some(ws.clone()),
        Some("read"),
        in_an_hour(),
    ));
    for token in [&agent, &reader] {
        let answer = app
            .graphql(Some(token), "{ workspace { id } }", json!({}))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.data("workspace")["id"], ws.as_str());
    }

    // Within the bounds: a person's token for 29 days, valid since a minute
    // ago, issued a second ahead (clock skew); a service's for ten years; a
    // workspace id in upper case, the same workspace.
    let now = chrono::Utc::now().timestamp();
    let bounded = [
        json!({"role": "authenticated", "workspace_id": ws.clone(), "iat": now + 1, "nbf": now - 60, "exp": now + 29 * 86_400}),
        json!({"role": "authenticated", "workspace_id": ws.to_uppercase(), "sub": "s".repeat(api::auth::MAX_SUBJECT_CHARS), "exp": in_an_hour()}),
    ];
    for claims in bounded {
        let token = sign(Algorithm::HS256, app.jwt_secret(), &claims);
        let answer = app
            .graphql(Some(&token), "{ workspace { id } }", json!({}))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{claims}: {}", answer.body);
        assert_eq!(answer.data("workspace")["id"], ws.as_str(), "{claims}");
    }
    let service_for_ten_years = sign(
        Algorithm::HS256,
        app.jwt_secret(),
        &json!({"role": "service_role", "iat": now, "exp": now + 3650 * 86_400}),
    );
    let answer = app
        .graphql(
            Some(&service_for_ten_years),
            "{ workspaces { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);

    // No header at all is anon: 200 with an UNAUTHENTICATED GraphQL error.
    let anon = app.graphql(None, "{ workspace { id } }", json!({})).await;
    assert_eq!(anon.status, StatusCode::OK);
    assert_eq!(anon.error_code(), Some("UNAUTHENTICATED"));
    assert!(anon.body["data"].is_null() || anon.body["data"]["workspace"].is_null());

    // An anon token is also anon: 200, and the operation is refused inside GraphQL.
    let anon_token = app.jwt.sign(&claims("anon", None, None, in_an_hour()));
    let answer = app
        .graphql(Some(&anon_token), "{ customers { totalCount } }", json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.error_code(), Some("UNAUTHENTICATED"));
}
on_both_backends!(valid_tokens_answer_200, valid_tokens_answer_200);
