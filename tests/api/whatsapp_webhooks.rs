//! `GET|POST /webhooks/whatsapp/{workspace}` against the fake Meta: the
//! handshake, signed status callbacks moving campaign messages forward
//! (out of order, repeated), opt-outs by error 131050 and by STOP replies,
//! the 24 h window opened by inbound messages, template status changes.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use uuid::Uuid;
use worker::channels::whatsapp::signature_header;

use crate::fakes::meta::{self as meta, FakeMeta};
use crate::helpers::TestApp;
use crate::journeys::{edge, node};
use crate::on_both_backends;
use crate::templates::{VERIFY_TOKEN, configure_whatsapp, sync_templates};

/// The fake's `status_callback` timestamp.
const CALLBACK_AT: i64 = 1_749_416_400;

/// trigger → WhatsApp template → exit.
fn whatsapp_journey() -> Value {
    json!({
        "nodes": [
            node("start", "trigger", json!({"source": "manual"})),
            node("send", "sendMessage", json!({"channel": "whatsapp", "templateName": "boas_vindas", "language": "pt_BR", "variables": {"1": "{{customer.first_name}}"}, "buttonVariables": {"0": "minha-area"}})),
            node("end", "exit", json!({}))
        ],
        "edges": [edge("start", "send"), edge("send", "end")]
    })
}

/// A customer of the journey: id and the number WhatsApp knows (digits).
#[derive(Debug, Clone)]
struct Person {
    id: Uuid,
    wa_id: String,
}

/// A workspace whose WhatsApp points at the fake, with an APPROVED template
/// mirrored through `syncTemplates`, a target group of everyone and some
/// customers.
struct Setup {
    meta: FakeMeta,
    ws: Uuid,
    slug: String,
    group: String,
    people: Vec<Person>,
}

async fn setup(app: &TestApp, slug: &str, phones: &[&str]) -> Setup {
    let meta = FakeMeta::spawn().await;
    meta.seed_templates([meta::welcome_template()]);
    let ws = app.create_workspace(slug).await;
    configure_whatsapp(app, ws, &meta).await;
    assert_eq!(sync_templates(app, ws).await[0]["status"], "APPROVED");
    let agent = app.agent_token(ws);
    let mut people = Vec::new();
    for (i, phone) in phones.iter().enumerate() {
        let created = app
            .graphql(
                Some(&agent),
                "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id phone } }",
                json!({"input": {"email": format!("aluna{i}@example.com"), "name": format!("Aluna{i} Silva"), "phone": phone}}),
            )
            .await;
        let customer = created.data("createCustomer");
        people.push(Person {
            id: Uuid::parse_str(customer["id"].as_str().unwrap()).unwrap(),
            wa_id: customer["phone"]
                .as_str()
                .unwrap()
                .trim_start_matches('+')
                .to_owned(),
        });
    }
    let group = app
        .graphql(
            Some(&agent),
            "mutation { createTargetGroupMapping(input: {crmName: \"Todos\", source: \"customers\"}) { id } }",
            json!({}),
        )
        .await
        .data("createTargetGroupMapping")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Setup {
        meta,
        ws,
        slug: slug.to_owned(),
        group,
        people,
    }
}

impl Setup {
    /// Creates, publishes and runs the WhatsApp journey over everyone and
    /// waits for it to complete; returns the execution id.
    async fn run(&self, app: &TestApp, name: &str) -> String {
        self.run_document(app, name, whatsapp_journey()).await
    }

    /// Like [`Setup::run`], for any journey.
    async fn run_document(&self, app: &TestApp, name: &str, document: Value) -> String {
        let agent = app.agent_token(self.ws);
        let campaign = app
            .graphql(
                Some(&agent),
                "mutation($name: String!, $doc: JSON!) { createCampaign(input: {name: $name, workflowData: $doc}) { id } }",
                json!({"name": name, "doc": document}),
            )
            .await
            .data("createCampaign")["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let published = app
            .graphql(
                Some(&agent),
                "mutation($id: ID!) { publishCampaign(id: $id) { status } }",
                json!({"id": campaign}),
            )
            .await;
        assert_eq!(published.data("publishCampaign")["status"], "ACTIVE");
        let execution = app
            .graphql(
                Some(&agent),
                "mutation($id: ID!, $g: ID!) { runCampaign(id: $id, targetGroupId: $g) { id } }",
                json!({"id": campaign, "g": self.group}),
            )
            .await
            .data("runCampaign")["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.completed_execution(self.ws, &execution).await;
        execution
    }

    async fn metrics(&self, app: &TestApp, execution: &str) -> Value {
        app.graphql(
            Some(&app.agent_token(self.ws)),
            "query($id: ID!) { campaignExecution(id: $id) { metrics } }",
            json!({"id": execution}),
        )
        .await
        .data("campaignExecution")["metrics"]
            .clone()
    }

    async fn consent(&self, app: &TestApp, customer: Uuid) -> Value {
        app.graphql(
            Some(&app.agent_token(self.ws)),
            "query($id: ID!) { customer(id: $id) { consent metadata } }",
            json!({"id": customer}),
        )
        .await
        .data("customer")
        .clone()
    }
}

/// POSTs `body` to the workspace's WhatsApp webhook with a signature header
/// (none when `None`).
async fn post_raw(
    app: &TestApp,
    workspace: &str,
    body: Vec<u8>,
    signature: Option<String>,
) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(app.url(&format!("/webhooks/whatsapp/{workspace}")))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(signature) = signature {
        request = request.header("X-Hub-Signature-256", signature);
    }
    let response = request.send().await.expect("the app answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// POSTs `body` signed with the fake's app secret, as Meta would.
pub async fn deliver(app: &TestApp, workspace: &str, body: &Value) -> StatusCode {
    let bytes = serde_json::to_vec(body).unwrap();
    let signature = signature_header(meta::APP_SECRET, &bytes);
    post_raw(app, workspace, bytes, Some(signature)).await.0
}

async fn message_of(app: &TestApp, customer: Uuid) -> entity::message::Model {
    entity::message::Entity::find()
        .filter(entity::message::Column::CustomerId.eq(customer))
        .order_by_desc(entity::message::Column::CreatedAt)
        .one(&app.db)
        .await
        .unwrap()
        .expect("a message to the customer")
}

async fn recipient_of(app: &TestApp, customer: Uuid) -> entity::campaign_recipient::Model {
    entity::campaign_recipient::Entity::find()
        .filter(entity::campaign_recipient::Column::CustomerId.eq(customer))
        .order_by_desc(entity::campaign_recipient::Column::CreatedAt)
        .one(&app.db)
        .await
        .unwrap()
        .expect("a recipient")
}

fn wamid(message: &entity::message::Model) -> String {
    message
        .provider_message_id
        .clone()
        .expect("a sent message has Meta's id")
}

fn callback_at() -> DateTime<Utc> {
    DateTime::from_timestamp(CALLBACK_AT, 0).unwrap()
}

async fn the_handshake_echoes_the_challenge_only_for_the_right_token(app: TestApp) {
    let meta = FakeMeta::spawn().await;
    let ws = app.create_workspace("aperto-de-mao").await;
    let bare = app.create_workspace("sem-token").await;
    configure_whatsapp(&app, ws, &meta).await;
    let handshake = |workspace: String, query: &'static [(&'static str, &'static str)]| {
        let request = app
            .client
            .get(app.url(&format!("/webhooks/whatsapp/{workspace}")))
            .query(query);
        async move { request.send().await.expect("the app answers") }
    };
    const RIGHT: &[(&str, &str)] = &[
        ("hub.mode", "subscribe"),
        ("hub.verify_token", VERIFY_TOKEN),
        ("hub.challenge", "1158201444"),
    ];

    for key in ["aperto-de-mao".to_owned(), ws.to_string()] {
        let ok = handshake(key, RIGHT).await;
        assert_eq!(ok.status(), 200);
        assert!(
            ok.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        assert_eq!(ok.text().await.unwrap(), "1158201444", "the raw challenge");
    }
    let refused: [&'static [(&str, &str)]; 4] = [
        &[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", "jornada-verify-tokem"),
            ("hub.challenge", "1158201444"),
        ],
        &[
            ("hub.mode", "unsubscribe"),
            ("hub.verify_token", VERIFY_TOKEN),
            ("hub.challenge", "1158201444"),
        ],
        &[("hub.mode", "subscribe"), ("hub.challenge", "1158201444")],
        &[],
    ];
    for query in refused {
        let answer = handshake("aperto-de-mao".into(), query).await;
        assert_eq!(answer.status(), 403, "{query:?}");
        assert!(!answer.text().await.unwrap().contains("1158201444"));
    }
    // A workspace without a verify token verifies nothing.
    assert_eq!(handshake("sem-token".into(), RIGHT).await.status(), 403);
    assert_eq!(handshake(bare.to_string(), RIGHT).await.status(), 403);
    assert_eq!(handshake("nao-existe".into(), RIGHT).await.status(), 404);
}
on_both_backends!(
    whatsapp_handshake,
    the_handshake_echoes_the_challenge_only_for_the_right_token
);

async fn status_callbacks_move_campaign_messages_forward_in_any_order(app: TestApp) {
    let s = setup(
        &app,
        "entregas",
        &["+55 11 98765-4321", "+55 21 99876-5432"],
    )
    .await;
    let execution = s.run(&app, "Boas-vindas").await;
    let (ana, bia) = (&s.people[0], &s.people[1]);
    assert_eq!(s.meta.accepted(), 2);
    let sent = s.metrics(&app, &execution).await;
    assert_eq!(
        (sent["sent"].clone(), sent["delivered"].clone()),
        (json!(2), json!(0))
    );
    let ana_wamid = wamid(&message_of(&app, ana.id).await);
    let bia_wamid = wamid(&message_of(&app, bia.id).await);

    // Ana: sent (a repeat), delivered, read.
    for status in ["sent", "delivered"] {
        let body = meta::status_callback(&ana_wamid, status, &ana.wa_id, None);
        assert_eq!(deliver(&app, &s.slug, &body).await, 200);
    }
    let delivered = message_of(&app, ana.id).await;
    assert_eq!(delivered.status, entity::enums::MessageStatus::Delivered);
    assert_eq!(delivered.delivered_at, Some(callback_at()));
    let metrics = s.metrics(&app, &execution).await;
    assert_eq!(
        (metrics["delivered"].clone(), metrics["read"].clone()),
        (json!(1), json!(0))
    );
    assert_eq!(metrics["nodes"]["send"]["delivered"], 1);
    assert_eq!(
        recipient_of(&app, ana.id).await.delivered_at,
        Some(callback_at())
    );
    let read = meta::status_callback(&ana_wamid, "read", &ana.wa_id, None);
    assert_eq!(deliver(&app, &s.slug, &read).await, 200);
    let ana_read = message_of(&app, ana.id).await;
    assert_eq!(ana_read.status, entity::enums::MessageStatus::Read);
    assert_eq!(
        recipient_of(&app, ana.id).await.opened_at,
        Some(callback_at())
    );

    // The same callback again, and late lower ones, change nothing.
    for body in [
        read.clone(),
        meta::status_callback(&ana_wamid, "delivered", &ana.wa_id, None),
        meta::status_callback(&ana_wamid, "sent", &ana.wa_id, None),
        meta::status_callback(&ana_wamid, "failed", &ana.wa_id, Some(131026)),
    ] {
        assert_eq!(deliver(&app, &s.slug, &body).await, 200);
    }
    assert_eq!(message_of(&app, ana.id).await, ana_read, "nothing moved");

    // Bia: read arrives before delivered; read stays.
    for status in ["read", "delivered"] {
        let body = meta::status_callback(&bia_wamid, status, &bia.wa_id, None);
        assert_eq!(deliver(&app, &s.slug, &body).await, 200);
    }
    let bia_message = message_of(&app, bia.id).await;
    assert_eq!(bia_message.status, entity::enums::MessageStatus::Read);
    assert_eq!(
        bia_message.delivered_at,
        Some(callback_at()),
        "read implies delivered"
    );
    let bia_recipient = recipient_of(&app, bia.id).await;
    assert_eq!(bia_recipient.delivered_at, Some(callback_at()));
    assert_eq!(bia_recipient.opened_at, Some(callback_at()));

    let metrics = s.metrics(&app, &execution).await;
    assert_eq!(metrics["sent"], 2);
    assert_eq!(metrics["delivered"], 2);
    assert_eq!(metrics["read"], 2);
    assert_eq!(metrics["failed"], 0);
    assert_eq!(metrics["nodes"]["send"]["read"], 2);
    assert_eq!(s.meta.accepted(), 2, "callbacks never send anything");

    // A callback about a message jornada never sent is accepted and ignored.
    let stranger = meta::status_callback("wamid.SOMEONE-ELSE", "read", "5511900000000", None);
    assert_eq!(deliver(&app, &s.slug, &stranger).await, 200);
    assert_eq!(s.metrics(&app, &execution).await, metrics);

    // What the execution stored when its last recipient was done catches up
    // at the next recount (the `campaign-metrics` cron), and only then.
    let stored = stored_metrics(&app, &execution).await;
    assert_eq!(
        (stored["sent"].clone(), stored["read"].clone()),
        (json!(2), json!(0))
    );
    let now = Utc::now();
    let recounted = entity::executions::recount_settling(&app.db, now)
        .await
        .expect("recount");
    assert_eq!(recounted, 1);
    assert_eq!(stored_metrics(&app, &execution).await, metrics);
    let again = entity::executions::recount_settling(&app.db, now)
        .await
        .expect("recount");
    assert_eq!(again, 0, "nothing changed since");
}

/// The metrics stored on the execution's row, as a BI tool reading the
/// database sees them.
async fn stored_metrics(app: &TestApp, execution: &str) -> Value {
    entity::campaign_execution::Entity::find_by_id(Uuid::parse_str(execution).expect("uuid"))
        .one(&app.db)
        .await
        .expect("executions")
        .expect("the execution")
        .metrics
}
on_both_backends!(
    whatsapp_status_callbacks,
    status_callbacks_move_campaign_messages_forward_in_any_order
);

async fn unsigned_or_altered_deliveries_are_refused_and_change_nothing(app: TestApp) {
    let s = setup(&app, "assinatura", &["+55 11 98765-4321"]).await;
    let execution = s.run(&app, "Boas-vindas").await;
    let ana = &s.people[0];
    let before = message_of(&app, ana.id).await;
    let body = serde_json::to_vec(&meta::status_callback(
        &wamid(&before),
        "read",
        &ana.wa_id,
        None,
    ))
    .unwrap();
    let good = signature_header(meta::APP_SECRET, &body);

    let wrong_secret = signature_header("not-the-app-secret", &body);
    assert_eq!(
        post_raw(&app, &s.slug, body.clone(), Some(wrong_secret))
            .await
            .0,
        401
    );
    assert_eq!(post_raw(&app, &s.slug, body.clone(), None).await.0, 401);
    assert_eq!(
        post_raw(&app, &s.slug, body.clone(), Some("sha256=".into()))
            .await
            .0,
        401
    );
    // One byte changed after signing.
    let mut altered = body.clone();
    let at = altered.iter().position(|b| *b == b'r').unwrap();
    altered[at] = b's';
    let (status, answer) = post_raw(&app, &s.slug, altered, Some(good.clone())).await;
    assert_eq!(status, 401);
    assert_eq!(answer["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert_eq!(message_of(&app, ana.id).await, before, "nothing changed");
    assert_eq!(s.metrics(&app, &execution).await["read"], 0);
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
        metrics.contains(r#"jornada_whatsapp_webhooks_rejected_total{reason="bad_signature"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"jornada_whatsapp_webhooks_rejected_total{reason="missing_signature"} 1"#),
        "{metrics}"
    );

    // Signed but not JSON; too large; unknown workspace; no app secret.
    let garbage = b"{not json".to_vec();
    let signed = signature_header(meta::APP_SECRET, &garbage);
    assert_eq!(post_raw(&app, &s.slug, garbage, Some(signed)).await.0, 400);
    let huge = vec![b' '; 1024 * 1024 + 1];
    let signed = signature_header(meta::APP_SECRET, &huge);
    assert_eq!(post_raw(&app, &s.slug, huge, Some(signed)).await.0, 413);
    assert_eq!(
        post_raw(&app, "nao-existe", body.clone(), Some(good.clone()))
            .await
            .0,
        404
    );
    app.create_workspace("sem-segredo").await;
    assert_eq!(
        post_raw(&app, "sem-segredo", body.clone(), Some(good.clone()))
            .await
            .0,
        401
    );
    assert_eq!(message_of(&app, ana.id).await, before);

    // The genuine delivery goes through.
    assert_eq!(post_raw(&app, &s.slug, body, Some(good)).await.0, 200);
    assert_eq!(
        message_of(&app, ana.id).await.status,
        entity::enums::MessageStatus::Read
    );
    assert_eq!(s.metrics(&app, &execution).await["read"], 1);
}
on_both_backends!(
    whatsapp_signatures,
    unsigned_or_altered_deliveries_are_refused_and_change_nothing
);

async fn error_131050_opts_the_customer_out_and_later_campaigns_skip_them(app: TestApp) {
    let s = setup(
        &app,
        "descadastro",
        &["+55 11 98765-4321", "+55 21 99876-5432"],
    )
    .await;
    let first = s.run(&app, "Primeira").await;
    let (ana, bia) = (&s.people[0], &s.people[1]);
    let ana_wamid = wamid(&message_of(&app, ana.id).await);
    let failed = meta::status_callback(&ana_wamid, "failed", &ana.wa_id, Some(131050));
    for _ in 0..2 {
        assert_eq!(deliver(&app, &s.slug, &failed).await, 200);
    }
    let message = message_of(&app, ana.id).await;
    assert_eq!(message.status, entity::enums::MessageStatus::Failed);
    assert!(message.error.unwrap().contains("131050"));
    let consent = s.consent(&app, ana.id).await["consent"]["whatsapp"].clone();
    assert_eq!(consent["optedOut"], true);
    assert_eq!(consent["source"], "provider_131050");
    assert_eq!(
        app.count_where("customer_activities", "activity_type = 'opted_out'")
            .await,
        1,
        "recorded once although delivered twice"
    );
    assert_eq!(
        s.consent(&app, bia.id).await["consent"]["whatsapp"],
        Value::Null
    );
    let metrics = s.metrics(&app, &first).await;
    assert_eq!(
        (metrics["failed"].clone(), metrics["sent"].clone()),
        (json!(1), json!(1))
    );

    // A later campaign, an hour later, sends nothing to Ana.
    app.advance(chrono::Duration::hours(1)).await;
    let accepted = s.meta.accepted();
    let second = s.run(&app, "Segunda").await;
    let to_ana: Vec<String> = s
        .meta
        .message_requests()
        .iter()
        .filter_map(|r| {
            r.body
                .as_ref()
                .and_then(|b| b["to"].as_str().map(str::to_owned))
        })
        .filter(|to| *to == ana.wa_id)
        .collect();
    assert_eq!(
        to_ana.len(),
        1,
        "only the first campaign's message reached Meta"
    );
    assert_eq!(s.meta.accepted(), accepted + 1, "Bia got the second one");
    let skipped = recipient_of(&app, ana.id).await;
    assert_eq!(skipped.status, "completed");
    assert!(skipped.error.unwrap_or_default().contains("opted out"));
    assert_eq!(s.metrics(&app, &second).await["sent"], 1);
}
on_both_backends!(
    whatsapp_provider_opt_out,
    error_131050_opts_the_customer_out_and_later_campaigns_skip_them
);

async fn inbound_messages_open_the_window_and_stop_replies_opt_out(app: TestApp) {
    let s = setup(
        &app,
        "entrada",
        &[
            "+55 11 98765-4321",
            "+55 21 99876-5432",
            "+55 31 97654-3210",
        ],
    )
    .await;
    let (ana, bia, caio) = (&s.people[0], &s.people[1], &s.people[2]);
    let inbound_at =
        |body: &Value| body["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"].clone();

    // A question opens the 24 h window, and opts out of nothing.
    let hello = meta::inbound_text(&ana.wa_id, "wamid.IN-1", "Olá, não consigo acessar o curso");
    assert_eq!(inbound_at(&hello), "1749416500");
    assert_eq!(deliver(&app, &s.slug, &hello).await, 200);
    let ana_now = s.consent(&app, ana.id).await;
    assert_eq!(
        ana_now["metadata"]["whatsappWindowUntil"],
        "2025-06-09T21:01:40Z"
    );
    assert_eq!(ana_now["consent"]["whatsapp"], Value::Null);

    // An older message delivered late does not shorten it; the same one
    // twice changes nothing.
    let mut older = meta::inbound_text(&ana.wa_id, "wamid.IN-0", "oi");
    older["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = json!("1749410000");
    assert_eq!(deliver(&app, &s.slug, &older).await, 200);
    assert_eq!(deliver(&app, &s.slug, &hello).await, 200);
    assert_eq!(s.consent(&app, ana.id).await, ana_now);

    // STOP and PARAR (any case, punctuation) opt out, once.
    let stop = meta::inbound_text(&bia.wa_id, "wamid.IN-2", "STOP");
    for _ in 0..2 {
        assert_eq!(deliver(&app, &s.slug, &stop).await, 200);
    }
    let bia_now = s.consent(&app, bia.id).await;
    assert_eq!(bia_now["consent"]["whatsapp"]["optedOut"], true);
    assert_eq!(bia_now["consent"]["whatsapp"]["source"], "stop_reply");
    assert_eq!(
        bia_now["metadata"]["whatsappWindowUntil"],
        "2025-06-09T21:01:40Z"
    );
    assert_eq!(
        app.count_where("customer_activities", "activity_type = 'opted_out'")
            .await,
        1,
        "recorded once although delivered twice"
    );
    // Caio's WhatsApp id lacks the ninth digit, as older Brazilian ids do.
    let without_ninth = format!("{}{}", &caio.wa_id[..4], &caio.wa_id[5..]);
    assert_eq!(without_ninth, "553176543210");
    let parar = meta::inbound_text(&without_ninth, "wamid.IN-3", " Parar! ");
    assert_eq!(deliver(&app, &s.slug, &parar).await, 200);
    assert_eq!(
        s.consent(&app, caio.id).await["consent"]["whatsapp"]["source"],
        "stop_reply"
    );
    assert_eq!(
        s.consent(&app, ana.id).await["consent"]["whatsapp"],
        Value::Null
    );

    // Unknown numbers and other phone numbers of the app are ignored.
    let stranger = meta::inbound_text("5511900000000", "wamid.IN-4", "STOP");
    assert_eq!(deliver(&app, &s.slug, &stranger).await, 200);
    let mut elsewhere = meta::inbound_text(&ana.wa_id, "wamid.IN-5", "STOP");
    elsewhere["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = json!("999");
    assert_eq!(deliver(&app, &s.slug, &elsewhere).await, 200);
    assert_eq!(
        s.consent(&app, ana.id).await["consent"]["whatsapp"],
        Value::Null
    );
    assert_eq!(
        app.count_where("customer_activities", "activity_type = 'opted_out'")
            .await,
        2
    );

    // A campaign now skips the two who opted out.
    let execution = s.run(&app, "Depois do STOP").await;
    assert_eq!(s.meta.accepted(), 1);
    let sent_to: Vec<String> = s
        .meta
        .message_requests()
        .iter()
        .filter_map(|r| {
            r.body
                .as_ref()
                .and_then(|b| b["to"].as_str().map(str::to_owned))
        })
        .collect();
    assert_eq!(sent_to, vec![ana.wa_id.as_str()]);
    assert_eq!(s.metrics(&app, &execution).await["entered"], 3);
}
on_both_backends!(
    whatsapp_inbound,
    inbound_messages_open_the_window_and_stop_replies_opt_out
);

async fn callbacks_settle_messages_of_unknown_outcome(app: TestApp) {
    use sea_orm::{ActiveModelTrait, Set};
    let s = setup(
        &app,
        "desconhecido",
        &["+55 11 98765-4321", "+55 21 99876-5432"],
    )
    .await;
    let (ana, bia) = (&s.people[0], &s.people[1]);
    // Sends whose worker died mid-call: no Meta id, outcome unknown.
    let unknown = |customer: Uuid, key: &str| {
        let now = Utc::now() - chrono::Duration::minutes(2);
        entity::message::ActiveModel {
            id: Set(Uuid::now_v7()),
            workspace_id: Set(s.ws),
            customer_id: Set(customer),
            channel: Set(entity::enums::Channel::Whatsapp),
            template_id: Set(None),
            content: Set(json!({})),
            idempotency_key: Set(key.to_owned()),
            status: Set(entity::enums::MessageStatus::Unknown),
            provider_message_id: Set(None),
            error: Set(Some("the worker stopped mid-call".into())),
            campaign_recipient_id: Set(None),
            dispatch_item_id: Set(None),
            node_id: Set(Some("send".into())),
            lease_until: Set(None),
            sent_at: Set(None),
            delivered_at: Set(None),
            read_at: Set(None),
            failed_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
    };
    unknown(ana.id, "k-ana").insert(&app.db).await.unwrap();
    unknown(bia.id, "k-bia-1").insert(&app.db).await.unwrap();
    unknown(bia.id, "k-bia-2").insert(&app.db).await.unwrap();
    let now = Utc::now().timestamp().to_string();
    let at_now = |mut body: Value| {
        body["entry"][0]["changes"][0]["value"]["statuses"][0]["timestamp"] = json!(now);
        body
    };

    // Ana's only unknown message takes the callback's id and state.
    let delivered = at_now(meta::status_callback(
        "wamid.LOST-1",
        "delivered",
        &ana.wa_id,
        None,
    ));
    assert_eq!(deliver(&app, &s.slug, &delivered).await, 200);
    let settled = message_of(&app, ana.id).await;
    assert_eq!(settled.provider_message_id.as_deref(), Some("wamid.LOST-1"));
    assert_eq!(settled.status, entity::enums::MessageStatus::Delivered);
    assert!(settled.sent_at.is_some() && settled.delivered_at.is_some());
    let read = at_now(meta::status_callback(
        "wamid.LOST-1",
        "read",
        &ana.wa_id,
        None,
    ));
    assert_eq!(deliver(&app, &s.slug, &read).await, 200);
    assert_eq!(
        message_of(&app, ana.id).await.status,
        entity::enums::MessageStatus::Read
    );
    // Another id to the same number has nothing left to match.
    let other = at_now(meta::status_callback(
        "wamid.OTHER",
        "delivered",
        &ana.wa_id,
        None,
    ));
    assert_eq!(deliver(&app, &s.slug, &other).await, 200);
    assert_eq!(
        app.count_where("messages", "provider_message_id = 'wamid.OTHER'")
            .await,
        0
    );

    // Bia has two: which one Meta means is unknowable, so neither is touched.
    let ambiguous = at_now(meta::status_callback(
        "wamid.LOST-2",
        "delivered",
        &bia.wa_id,
        None,
    ));
    assert_eq!(deliver(&app, &s.slug, &ambiguous).await, 200);
    assert_eq!(
        app.count_where(
            "messages",
            "status = 'unknown' AND provider_message_id IS NULL"
        )
        .await,
        2
    );
}
on_both_backends!(
    whatsapp_unknown_outcomes,
    callbacks_settle_messages_of_unknown_outcome
);

async fn template_status_changes_reach_the_mirror(app: TestApp) {
    let s = setup(&app, "modelos-status", &[]).await;
    let change = |event: &str| {
        json!({"object": "whatsapp_business_account", "entry": [{"id": meta::WABA_ID, "time": 1749416400, "changes": [{
            "field": "message_template_status_update",
            "value": {"event": event, "message_template_id": 1001, "message_template_name": "boas_vindas",
                      "message_template_language": "pt_BR", "reason": "NONE"}
        }]}]})
    };
    let status = || async {
        app.graphql(
            Some(&app.agent_token(s.ws)),
            "{ messageTemplates { nodes { name status } } }",
            json!({}),
        )
        .await
        .data("messageTemplates")["nodes"][0]["status"]
            .clone()
    };
    assert_eq!(deliver(&app, &s.slug, &change("PAUSED")).await, 200);
    assert_eq!(status().await, "PAUSED");
    assert_eq!(deliver(&app, &s.slug, &change("FLAGGED")).await, 200);
    assert_eq!(status().await, "PAUSED", "a quality flag is no status");
    assert_eq!(deliver(&app, &s.slug, &change("REINSTATED")).await, 200);
    assert_eq!(status().await, "APPROVED");
    let bad = serde_json::to_vec(&change("DISABLED")).unwrap();
    let wrong = signature_header("forged", &bad);
    assert_eq!(post_raw(&app, &s.slug, bad, Some(wrong)).await.0, 401);
    assert_eq!(status().await, "APPROVED");
}
on_both_backends!(
    whatsapp_template_status,
    template_status_changes_reach_the_mirror
);

/// The mirrored template's URL button ends in `{{1}}`: a send carries the
/// button component Meta requires, and a journey without the value is
/// refused before it can reach Meta (which would answer 132000).
async fn dynamic_url_buttons_are_sent_with_their_parameter(app: TestApp) {
    let setup = setup(&app, "botao-url", &["+55 11 98765-4321"]).await;
    let agent = app.agent_token(setup.ws);
    let mut without_button = whatsapp_journey();
    without_button["nodes"][1]["data"]
        .as_object_mut()
        .unwrap()
        .remove("buttonVariables");
    let problems = app
        .graphql(
            Some(&agent),
            "query($doc: JSON!) { validateWorkflow(workflowData: $doc) { nodeId code } }",
            json!({"doc": without_button}),
        )
        .await;
    assert_eq!(
        problems.data("validateWorkflow"),
        &json!([{"nodeId": "send", "code": "missing_button_variable"}])
    );
    let created = app
        .graphql(
            Some(&agent),
            "mutation($doc: JSON!) { createCampaign(input: {name: \"Sem botão\", workflowData: $doc}) { id } }",
            json!({"doc": without_button}),
        )
        .await;
    let refused = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!) { publishCampaign(id: $id) { status } }",
            json!({"id": created.data("createCampaign")["id"]}),
        )
        .await;
    assert!(
        refused.body.to_string().contains("missing_button_variable"),
        "publishing names the problem: {}",
        refused.body
    );

    let mut with_button = whatsapp_journey();
    with_button["nodes"][1]["data"]["buttonVariables"] = json!({"0": "{{customer.first_name}}"});
    let execution = setup.run_document(&app, "Com botão", with_button).await;
    assert_eq!(setup.metrics(&app, &execution).await["sent"], 1);
    let sends = setup.meta.message_requests();
    assert_eq!(sends.len(), 1, "refused journeys sent nothing");
    let body = sends[0].body.clone().expect("a JSON body");
    assert_eq!(
        body["template"],
        json!({
            "name": "boas_vindas",
            "language": {"code": "pt_BR"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Aluna0"}]},
                {"type": "button", "sub_type": "url", "index": "0",
                 "parameters": [{"type": "text", "text": "Aluna0"}]}
            ]
        })
    );
}
on_both_backends!(
    dynamic_url_buttons_are_sent_with_their_parameter,
    dynamic_url_buttons_are_sent_with_their_parameter
);
