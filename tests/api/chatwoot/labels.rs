//! The labels job against the fake Chatwoot: read, union, write (POST
//! replaces the set), queued by a journey's `updateCustomer` or by
//! `entity::chatwoot::request_labels` inside the caller's transaction,
//! retried while Chatwoot is busy, and its echo idempotent.

use chrono::Duration;
use entity::Tenant;
use sea_orm::TransactionTrait;
use serde_json::json;

use super::*;
use crate::fakes::chatwoot::{ACCOUNT_ID, API_ACCESS_TOKEN, label_change, sender};
use crate::journeys::{edge, node};
use crate::on_both_backends;

const JOB: &str = "query($id: ID!) { backgroundJob(id: $id) {
    kind status attempts progress result error { code message } } }";

/// A customer whose Chatwoot conversation `conversation` jornada has
/// learnt from a delivery (the conversation holds `labels` at the fake).
async fn customer_in_conversation<const N: usize>(
    app: &TestApp,
    ws: &Workspace,
    email: &str,
    conversation: &str,
    labels: [&str; N],
) -> Uuid {
    let id = customer(app, ws.id, email, None).await;
    ws.chatwoot.seed_conversation(conversation, labels);
    let current: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
    let created = label_change(conversation, sender(9, Some(email), None), &[], &current);
    deliver(app, ws, None, &created).await;
    app.drain().await;
    assert_eq!(
        stored_customer(app, id)
            .await
            .chatwoot_conversation_id
            .as_deref(),
        Some(conversation)
    );
    id
}

async fn job(app: &TestApp, workspace: Uuid, id: Uuid) -> Value {
    app.graphql(Some(&app.agent_token(workspace)), JOB, json!({"id": id}))
        .await
        .data("backgroundJob")
        .clone()
}

/// Queues labels for `customer` as another part of jornada does, in its
/// own transaction; returns the job's id.
async fn request(app: &TestApp, workspace: Uuid, customer: Uuid, labels: &[&str]) -> Uuid {
    let txn = app.db.begin().await.unwrap();
    let id = entity::chatwoot::request_labels(
        &txn,
        Tenant::new(workspace),
        customer,
        labels.iter().map(|l| l.to_string()).collect(),
        app.clock.now(),
    )
    .await
    .expect("labels requested");
    txn.commit().await.unwrap();
    id
}

async fn a_journey_adds_labels_keeping_those_on_the_conversation(app: TestApp) {
    let ws = workspace(&app, "conquistas", None).await;
    let ana = customer_in_conversation(&app, &ws, "ana@example.com", "42", ["vip"]).await;
    let document = json!({
        "nodes": [
            node("start", "trigger", json!({"source": "manual"})),
            node("label", "updateCustomer", json!({"chatwootLabels": ["Modulo-Concluido"]})),
            node("end", "exit", json!({}))
        ],
        "edges": [edge("start", "label"), edge("label", "end")]
    });
    let (_, execution) = app.run_journey(ws.id, document).await;
    app.completed_execution(ws.id, &execution).await;

    let calls = ws.chatwoot.calls();
    assert_eq!(
        calls.iter().map(|c| c.method.as_str()).collect::<Vec<_>>(),
        ["GET", "POST"],
        "read, then write the union"
    );
    for call in &calls {
        assert_eq!(call.api_access_token.as_deref(), Some(API_ACCESS_TOKEN));
        assert_eq!(
            (call.account_id.as_str(), call.conversation_id.as_str()),
            (ACCOUNT_ID, "42")
        );
    }
    assert_eq!(
        calls[1].body,
        Some(json!({"labels": ["vip", "modulo-concluido"]}))
    );
    assert_eq!(ws.chatwoot.labels("42"), ["vip", "modulo-concluido"]);
    let jobs = app
        .graphql(
            Some(&app.agent_token(ws.id)),
            "{ backgroundJobs(filter: {kind: CHATWOOT_LABELS}) { nodes { status result } } }",
            json!({}),
        )
        .await;
    let jobs = jobs.data("backgroundJobs")["nodes"].clone();
    assert_eq!(jobs.as_array().map(Vec::len), Some(1));
    assert_eq!(jobs[0]["status"], "SUCCEEDED");
    assert_eq!(jobs[0]["result"]["added"], json!(["modulo-concluido"]));
    let added = tags_of(&app, ws.id, "modulo-concluido").await;
    assert_eq!(added.len(), 1);
    assert_eq!(
        (added[0].customer_id, added[0].removed_at),
        (Some(ana), None)
    );

    // Chatwoot echoes the write back as a label change: nothing new.
    let echo = ws
        .chatwoot
        .echo_of_last_write("42", sender(9, Some("ana@example.com"), None));
    deliver(&app, &ws, None, &echo).await;
    app.drain().await;
    assert_eq!(tags_of(&app, ws.id, "modulo-concluido").await.len(), 1);
    assert_eq!(tags_of(&app, ws.id, "vip").await.len(), 1);

    // Asking for labels the conversation has writes nothing.
    let again = request(&app, ws.id, ana, &["modulo-concluido", "vip"]).await;
    app.drain().await;
    let again = job(&app, ws.id, again).await;
    assert_eq!(again["status"], "SUCCEEDED");
    assert_eq!(again["result"]["added"], json!([]));
    assert_eq!(ws.chatwoot.writes().len(), 1);
    assert_eq!(tags(&app, ws.id).await.len(), 2);
}
on_both_backends!(
    a_journey_adds_labels_keeping_those_on_the_conversation,
    a_journey_adds_labels_keeping_those_on_the_conversation
);

async fn a_busy_chatwoot_is_asked_again_later(app: TestApp) {
    let ws = workspace(&app, "ocupado", None).await;
    let bia = customer_in_conversation(&app, &ws, "bia@example.com", "77", ["vip"]).await;

    // Requested in a transaction that rolls back: no job.
    let txn = app.db.begin().await.unwrap();
    let dropped = entity::chatwoot::request_labels(
        &txn,
        Tenant::new(ws.id),
        bia,
        vec!["aluna-ativa".into()],
        app.clock.now(),
    )
    .await
    .unwrap();
    txn.rollback().await.unwrap();
    let gone = app
        .graphql(Some(&app.agent_token(ws.id)), JOB, json!({"id": dropped}))
        .await;
    assert_eq!(gone.error_code(), Some("NOT_FOUND"));

    ws.chatwoot.fail_next(500);
    ws.chatwoot.fail_next(429);
    let id = request(&app, ws.id, bia, &["aluna-ativa"]).await;
    // Queued without its caller pushing it, the job is found by the recovery.
    let later = app.clock.now() + Duration::minutes(2);
    let pushed = entity::background_jobs::recover(&app.db, later)
        .await
        .unwrap();
    assert_eq!(
        pushed, 1,
        "the recovery pushes the queued job onto the queue"
    );
    app.drain().await;
    let waiting = job(&app, ws.id, id).await;
    assert_eq!(
        (waiting["status"].as_str(), waiting["attempts"].as_i64()),
        (Some("QUEUED"), Some(1))
    );
    assert!(
        waiting["progress"]["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("500")),
        "{waiting}"
    );
    assert_eq!(ws.chatwoot.calls().len(), 1);
    // Not before its pause (30 s after the first failure) is over.
    app.advance(Duration::seconds(20)).await;
    assert_eq!(ws.chatwoot.calls().len(), 1);
    app.advance(Duration::seconds(15)).await;
    let waiting = job(&app, ws.id, id).await;
    assert_eq!(
        (waiting["status"].as_str(), waiting["attempts"].as_i64()),
        (Some("QUEUED"), Some(2))
    );
    assert!(
        waiting["progress"]["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("429"))
    );
    assert_eq!(ws.chatwoot.calls().len(), 2);
    // The second pause is longer (a minute).
    app.advance(Duration::seconds(40)).await;
    assert_eq!(ws.chatwoot.calls().len(), 2);
    app.advance(Duration::seconds(30)).await;
    let done = job(&app, ws.id, id).await;
    assert_eq!(
        (done["status"].as_str(), done["attempts"].as_i64()),
        (Some("SUCCEEDED"), Some(3))
    );
    assert_eq!(ws.chatwoot.labels("77"), ["vip", "aluna-ativa"]);
    assert_eq!(ws.chatwoot.writes().len(), 1, "written once");
    assert_eq!(tags_of(&app, ws.id, "aluna-ativa").await.len(), 1);
}
on_both_backends!(
    a_busy_chatwoot_is_asked_again_later,
    a_busy_chatwoot_is_asked_again_later
);

async fn labels_need_a_known_conversation_and_settings(app: TestApp) {
    let ws = workspace(&app, "sem-conversa", None).await;
    // No conversation of this customer has reached jornada.
    let stranger = customer(&app, ws.id, "caio@example.com", None).await;
    let no_conversation = request(&app, ws.id, stranger, &["vip"]).await;
    // Chatwoot no longer has the conversation jornada knows.
    let dani = customer_in_conversation(&app, &ws, "dani@example.com", "999", []).await;
    ws.chatwoot.forget_conversation("999");
    let missing = request(&app, ws.id, dani, &["vip"]).await;
    app.drain().await;
    let expect_failed = |job: &Value, code: &str| {
        assert_eq!(job["status"], "FAILED", "{job}");
        assert_eq!(job["error"]["code"], code, "{job}");
    };
    let failed = job(&app, ws.id, no_conversation).await;
    expect_failed(&failed, "NOT_FOUND");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("conversation")
    );
    expect_failed(&job(&app, ws.id, missing).await, "NOT_FOUND");
    let calls = ws.chatwoot.calls();
    assert_eq!(calls.len(), 1, "only the known conversation was asked for");
    assert_eq!(calls[0].conversation_id, "999");

    // A workspace that has not set Chatwoot up.
    let bare_id = app.create_workspace("sem-chatwoot").await;
    let bare = Workspace {
        id: bare_id,
        slug: "sem-chatwoot".into(),
        chatwoot: FakeChatwoot::spawn().await,
    };
    let eva = customer_in_conversation(&app, &bare, "eva@example.com", "55", ["vip"]).await;
    let unconfigured = request(&app, bare.id, eva, &["vip-2"]).await;
    app.drain().await;
    let failed = job(&app, bare.id, unconfigured).await;
    expect_failed(&failed, "INVALID_INPUT");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("chatwoot.")
    );
    assert!(bare.chatwoot.calls().is_empty());

    // Bad requests are refused before anything is queued.
    let tenant = Tenant::new(ws.id);
    let now = app.clock.now();
    for labels in [vec![], vec!["  ".to_owned()], vec!["x".repeat(200)]] {
        let refused =
            entity::chatwoot::request_labels(&app.db, tenant, stranger, labels, now).await;
        assert!(
            matches!(refused, Err(entity::Error::Invalid(_))),
            "{refused:?}"
        );
    }
    // Another workspace's customer does not exist here.
    let elsewhere =
        entity::chatwoot::request_labels(&app.db, tenant, eva, vec!["vip".into()], now).await;
    assert!(
        matches!(elsewhere, Err(entity::Error::NotFound(_))),
        "{elsewhere:?}"
    );
}
on_both_backends!(
    labels_need_a_known_conversation_and_settings,
    labels_need_a_known_conversation_and_settings
);
