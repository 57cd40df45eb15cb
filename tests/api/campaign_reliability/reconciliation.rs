//! Sends of unknown outcome, settled by Meta's status callbacks.

use super::*;

/// trigger → WhatsApp template → a follow-up on the log channel → exit: the
/// follow-up shows whether (and how often) a recipient went past the send.
fn journey_with_follow_up() -> Value {
    json!({
        "nodes": [
            node("start", "trigger", json!({"source": "manual"})),
            node("send", "sendMessage", json!({"channel": "whatsapp", "templateName": TEMPLATE, "language": "pt_BR", "variables": {"1": "{{customer.first_name}}"}, "buttonVariables": {"0": "minha-area"}})),
            node("followUp", "sendMessage", json!({"channel": "log", "body": "Viu nossa mensagem?"})),
            node("end", "exit", json!({}))
        ],
        "edges": [edge("start", "send"), edge("send", "followUp"), edge("followUp", "end")]
    })
}

/// A campaign whose one WhatsApp send was cut short by a SIGKILL: Meta took
/// the message (the fake gave it a wamid) but jornada never heard back, so
/// the message is `unknown` without a wamid and its recipient is parked
/// `unknown` at the send node once the killed worker's lease has run out.
/// From then on the test drives the app's own worker.
struct CutShort {
    api: ApiOnlyApp,
    dir: PathBuf,
    meta: FakeMeta,
    ws: Uuid,
    slug: String,
    execution: String,
    /// The wamid Meta gave the message, which jornada never stored.
    wamid: String,
    /// The message's idempotency key.
    key: String,
    phone: String,
}

async fn a_send_cut_short(api: ApiOnlyApp, slug: &str) -> CutShort {
    let app = &api.app;
    let dir = std::env::temp_dir().join(format!("jornada-reconcile-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let meta = FakeMeta::spawn().await;
    let ws = whatsapp_workspace(app, slug, &meta).await;
    customers_with_phones(app, ws, 7, 1).await;
    // Far longer than the workers' 2 s lease: the worker is killed while it waits.
    meta.delay_next_send(Duration::from_secs(60));
    let (campaign, group) =
        published_campaign(app, ws, "Reconciliada", journey_with_follow_up()).await;
    let execution = run_over(app, ws, &campaign, &group).await;

    let first = ChildWorker::spawn(&api, &dir, 0);
    let started = Instant::now();
    while meta.accepted_messages().is_empty() {
        assert!(
            started.elapsed() < PATIENCE,
            "the worker never sent: {}",
            first.log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill();
    // Once the killed worker's lease on the send has run out, its outcome
    // is unknown, and once WhatsApp's pause between two messages to one
    // person has passed too, the recipient is parked: nothing is resent.
    let leased_until = entity::message::Entity::find()
        .one(&app.db)
        .await
        .expect("messages")
        .and_then(|m| m.lease_until)
        .expect("the send is leased");
    app.advance_to(leased_until + chrono::Duration::seconds(1))
        .await;
    app.clock.advance(worker::campaigns::policy::PAIR_RATE);
    let parked = app.completed_execution(ws, &execution).await;
    assert_eq!(
        app.count_where("campaign_recipients", "status = 'unknown'")
            .await,
        1
    );
    assert_eq!(parked["metrics"]["unknown"], 1, "{parked}");
    assert_eq!(parked["metrics"]["sent"], 0, "{parked}");

    let message = entity::message::Entity::find()
        .one(&app.db)
        .await
        .expect("messages")
        .expect("the send's message");
    assert_eq!(message.status, MessageStatus::Unknown);
    assert_eq!(
        message.provider_message_id, None,
        "the answer never arrived"
    );
    let accepted = meta.accepted_messages();
    assert_eq!(accepted.len(), 1);
    // The send told Meta which outbox message it is.
    let request = &meta.message_requests()[0];
    let body = request.body.as_ref().expect("a JSON send");
    assert_eq!(
        body["biz_opaque_callback_data"],
        json!(message.idempotency_key)
    );
    assert_eq!(
        accepted[0].callback_data.as_deref(),
        Some(message.idempotency_key.as_str())
    );
    CutShort {
        dir,
        ws,
        slug: slug.to_owned(),
        execution,
        wamid: accepted[0].wamid.clone(),
        key: message.idempotency_key,
        phone: accepted[0].to.clone(),
        meta,
        api,
    }
}

impl CutShort {
    /// Meta's callback for the message, with its `biz_opaque_callback_data`
    /// and the wamid jornada never stored, but no `recipient_id`: only the
    /// callback data can tell which message it is.
    fn callback(&self, status: &str, error_code: Option<i64>) -> Value {
        let mut body = self
            .meta
            .status_callback(&self.wamid, status, error_code)
            .expect("the fake sent it");
        let item = &mut body["entry"][0]["changes"][0]["value"]["statuses"][0];
        assert_eq!(item["biz_opaque_callback_data"], json!(self.key));
        item.as_object_mut()
            .expect("a status item")
            .remove("recipient_id");
        body
    }

    async fn post(&self, body: &Value) -> reqwest::StatusCode {
        post_callback(&self.api.app, &self.slug, body).await
    }

    async fn message(&self) -> entity::message::Model {
        entity::message::Entity::find()
            .filter(entity::message::Column::IdempotencyKey.eq(self.key.as_str()))
            .one(&self.api.app.db)
            .await
            .expect("messages")
            .expect("the message")
    }

    async fn recipient(&self) -> Value {
        self.api
            .app
            .graphql(
                Some(&self.api.app.agent_token(self.ws)),
                "query($id: ID!) { campaignExecution(id: $id) { recipients(first: 5) { nodes { status currentNodeId error sentAt deliveredAt } } } }",
                json!({"id": self.execution}),
            )
            .await
            .data("campaignExecution")["recipients"]["nodes"][0]
            .clone()
    }

    /// Follow-up messages: one per recipient that went past the send.
    async fn follow_ups(&self) -> i64 {
        self.api
            .app
            .count_where("messages", "node_id = 'followUp'")
            .await
    }

    /// Exactly one send ever reached Meta, to the customer's phone.
    fn assert_sent_once(&self) {
        let per_phone = requests_per_phone(&self.meta);
        assert_eq!(per_phone.len(), 1, "{per_phone:?}");
        assert_eq!(per_phone.get(&self.phone), Some(&1), "{per_phone:?}");
    }
}

impl Drop for CutShort {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// POSTs a callback signed with the fake's app secret, as Meta does.
async fn post_callback(app: &TestApp, slug: &str, body: &Value) -> reqwest::StatusCode {
    let raw = serde_json::to_vec(body).expect("JSON");
    app.client
        .post(app.url(&format!("/webhooks/whatsapp/{slug}")))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(
            "X-Hub-Signature-256",
            worker::channels::whatsapp::signature_header(meta::APP_SECRET, &raw),
        )
        .body(raw)
        .send()
        .await
        .expect("the app answers")
        .status()
}

/// Runs the app's worker until it is idle; the recipient is then `status`,
/// and is returned.
async fn drained_recipient(cut: &CutShort, status: &str) -> Value {
    cut.api.app.drain().await;
    let recipient = cut.recipient().await;
    assert_eq!(recipient["status"], status, "{recipient}");
    recipient
}

async fn a_delivered_callback_settles_an_unknown_send_and_its_recipient_goes_on(api: ApiOnlyApp) {
    let cut = a_send_cut_short(api, "reconcilia-entregue").await;

    // Callback data that names no message of ours, or is longer than Meta
    // allows, matches nothing and changes nothing.
    for data in ["campaign:not-ours".to_owned(), "x".repeat(600)] {
        let mut stray = cut.callback("delivered", None);
        let item = &mut stray["entry"][0]["changes"][0]["value"]["statuses"][0];
        item["biz_opaque_callback_data"] = json!(data);
        item["id"] = json!("wamid.STRAY");
        assert_eq!(cut.post(&stray).await, 200);
    }
    assert_eq!(cut.message().await.status, MessageStatus::Unknown);
    assert_eq!(cut.recipient().await["status"], "unknown");

    assert_eq!(cut.post(&cut.callback("delivered", None)).await, 200);
    let message = cut.message().await;
    assert_eq!(message.status, MessageStatus::Delivered);
    assert_eq!(
        message.provider_message_id.as_deref(),
        Some(cut.wamid.as_str())
    );

    // The recipient goes on past the send, through the follow-up, to the exit.
    let recipient = drained_recipient(&cut, "completed").await;
    assert_eq!(recipient["currentNodeId"], Value::Null, "{recipient}");
    assert_eq!(recipient["error"], Value::Null, "{recipient}");
    assert!(recipient["deliveredAt"].is_string(), "{recipient}");
    assert_eq!(cut.follow_ups().await, 1);
    let done = cut
        .api
        .app
        .completed_execution(cut.ws, &cut.execution)
        .await;
    let metrics = &done["metrics"];
    assert_eq!(metrics["entered"], 1, "{metrics}");
    assert_eq!(metrics["completed"], 1, "{metrics}");
    assert_eq!(metrics["inFlight"], 0, "{metrics}");
    assert_eq!(metrics["unknown"], 0, "{metrics}");
    assert_eq!(metrics["failed"], 0, "{metrics}");
    assert_eq!(metrics["delivered"], 1, "{metrics}");
    // The WhatsApp message and the follow-up.
    assert_eq!(metrics["sent"], 2, "{metrics}");
    let send = &metrics["nodes"]["send"];
    assert_eq!(
        (&send["sent"], &send["delivered"], &send["unknown"]),
        (&json!(1), &json!(1), &json!(0)),
        "{metrics}"
    );
    assert_eq!(metrics["nodes"]["followUp"]["sent"], 1, "{metrics}");
    cut.assert_sent_once();
}

on_both_backends!(
    a_delivered_callback_settles_an_unknown_send,
    a_delivered_callback_settles_an_unknown_send_and_its_recipient_goes_on,
    crate::helpers::spawn_api_only
);

async fn repeated_concurrent_callbacks_move_the_recipient_once(api: ApiOnlyApp) {
    let cut = a_send_cut_short(api, "reconcilia-repetido").await;
    // Meta retries and reorders: the same delivered callback several times,
    // with sent and read, all at once.
    let mut bodies = vec![cut.callback("delivered", None); 4];
    bodies.push(cut.callback("read", None));
    bodies.push(cut.callback("sent", None));
    let answers = futures::future::join_all(bodies.iter().map(|body| cut.post(body))).await;
    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
    // And once more after the recipient went on.
    drained_recipient(&cut, "completed").await;
    assert_eq!(cut.post(&cut.callback("delivered", None)).await, 200);

    let message = cut.message().await;
    assert_eq!(
        message.status,
        MessageStatus::Read,
        "read is the highest state"
    );
    assert_eq!(
        message.provider_message_id.as_deref(),
        Some(cut.wamid.as_str())
    );
    assert_eq!(
        cut.follow_ups().await,
        1,
        "the recipient went past the send once"
    );
    let done = cut
        .api
        .app
        .completed_execution(cut.ws, &cut.execution)
        .await;
    let metrics = &done["metrics"];
    assert_eq!(metrics["completed"], 1, "{metrics}");
    assert_eq!(metrics["unknown"], 0, "{metrics}");
    assert_eq!(metrics["read"], 1, "{metrics}");
    assert_eq!(metrics["nodes"]["send"]["sent"], 1, "{metrics}");
    assert_eq!(metrics["nodes"]["followUp"]["sent"], 1, "{metrics}");
    assert_eq!(cut.api.app.count_rows("messages").await, 2);
    cut.assert_sent_once();
}

on_both_backends!(
    repeated_concurrent_callbacks_move_the_recipient_once,
    repeated_concurrent_callbacks_move_the_recipient_once,
    crate::helpers::spawn_api_only
);

async fn a_failed_callback_ends_the_unknown_recipient_failed(api: ApiOnlyApp) {
    let cut = a_send_cut_short(api, "reconcilia-falha").await;
    assert_eq!(cut.post(&cut.callback("failed", Some(131026))).await, 200);

    let message = cut.message().await;
    assert_eq!(message.status, MessageStatus::Failed);
    assert_eq!(
        message.provider_message_id.as_deref(),
        Some(cut.wamid.as_str())
    );
    let recipient = cut.recipient().await;
    assert_eq!(recipient["status"], "failed", "{recipient}");
    assert_eq!(recipient["currentNodeId"], "send", "{recipient}");
    assert!(
        recipient["error"]
            .as_str()
            .is_some_and(|e| e.contains("131026")),
        "{recipient}"
    );
    // A later delivered callback (Meta reorders) changes nothing.
    assert_eq!(cut.post(&cut.callback("delivered", None)).await, 200);
    assert_eq!(cut.message().await.status, MessageStatus::Failed);
    assert_eq!(cut.recipient().await["status"], "failed");

    let done = cut
        .api
        .app
        .completed_execution(cut.ws, &cut.execution)
        .await;
    let metrics = &done["metrics"];
    assert_eq!(metrics["failed"], 1, "{metrics}");
    assert_eq!(metrics["unknown"], 0, "{metrics}");
    assert_eq!(metrics["sent"], 0, "{metrics}");
    assert_eq!(metrics["inFlight"], 0, "{metrics}");
    assert_eq!(metrics["nodes"]["send"]["failed"], 1, "{metrics}");
    assert_eq!(cut.follow_ups().await, 0, "a failed send ends the journey");
    cut.assert_sent_once();
}

on_both_backends!(
    a_failed_callback_ends_the_unknown_recipient_failed,
    a_failed_callback_ends_the_unknown_recipient_failed,
    crate::helpers::spawn_api_only
);
