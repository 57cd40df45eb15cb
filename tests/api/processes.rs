//! `jornada api` and `jornada worker` apart, as a deployment scales them: this
//! test process serves only the API, a child `jornada worker` does every
//! piece of background work, and they meet only in the database.

use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

use crate::fakes::meta::{self, FakeMeta};
use crate::helpers::{ApiOnlyApp, ChildWorker};
use crate::hotmart_webhooks::{HOTTOK, purchase};
use crate::journeys::{edge, node};
use crate::on_both_backends;
use crate::templates::{configure_whatsapp, sync_templates};

async fn a_purchase_at_the_api_is_welcomed_by_a_worker_elsewhere(api: ApiOnlyApp) {
    let app = &api.app;
    let dir = std::env::temp_dir().join(format!("jornada-apart-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let meta = FakeMeta::spawn().await;
    meta.seed_templates([meta::welcome_template()]);
    let ws = app.hotmart_workspace("separados").await;
    configure_whatsapp(app, ws, &meta).await;
    let worker = ChildWorker::spawn(&api, &dir, 0);

    // The template sync is a job the API queues and the other process runs.
    let mirrored = sync_templates(app, ws).await;
    assert_eq!(mirrored[0]["status"], "APPROVED");

    let welcome = json!({
        "nodes": [
            node("start", "trigger", json!({"source": "event", "event": "purchase_approved"})),
            node("welcome", "sendMessage", json!({"channel": "whatsapp", "templateName": "boas_vindas", "language": "pt_BR", "variables": {"1": "{{customer.first_name}}"}, "buttonVariables": {"0": "minha-area"}})),
            node("end", "exit", json!({}))
        ],
        "edges": [edge("start", "welcome"), edge("welcome", "end")]
    });
    app.published_campaign(ws, "Boas-vindas", welcome).await;

    let approved = purchase(
        "PURCHASE_APPROVED",
        "APPROVED",
        "HP-APART-1",
        "maria@example.com",
        1_767_225_600_000,
    );
    assert_eq!(
        app.post_hotmart("separados", Some(HOTTOK), &approved)
            .await
            .0,
        200
    );

    // Applied, dispatched, enrolled and sent by the other process.
    let started = Instant::now();
    while meta.message_requests().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no welcome reached Meta; worker log:\n{}",
            worker.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = meta.message_requests()[0]
        .body
        .clone()
        .expect("a JSON body");
    assert_eq!(sent["to"], "5511987654321");
    assert_eq!(sent["template"]["name"], "boas_vindas");
    assert_eq!(
        sent["template"]["components"][0]["parameters"][0]["text"],
        "Maria"
    );

    // A SIGTERM lets the worker finish and exit cleanly.
    assert!(
        worker.terminate().await,
        "the worker exits with 0 on SIGTERM"
    );
    assert_eq!(meta.message_requests().len(), 1, "one welcome, sent once");
    let _ = std::fs::remove_dir_all(&dir);
}
on_both_backends!(
    api_and_worker_apart,
    a_purchase_at_the_api_is_welcomed_by_a_worker_elsewhere,
    crate::helpers::spawn_api_only
);
