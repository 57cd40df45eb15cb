//! Customer success out of the box: the built-in automation rules, rules of
//! a workspace's own, and the queue a CS team works from, driven by real
//! Hotmart postbacks and sent to a fake Meta.

use chrono::Duration;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fakes::meta::{FakeMeta, inbound_text, template};
use crate::helpers::TestApp;
use crate::hotmart_webhooks::{HOTTOK, Sale};
use crate::on_both_backends;
use crate::templates::{configure_whatsapp, set_setting, sync_templates};
use crate::whatsapp_webhooks::deliver;

const RULES: &str = "query($f: AutomationRuleFilter) { automationRules(filter: $f, first: 50) {
    totalCount nodes { id key name trigger mode active params schedule cooldownDays expiresAfterHours
      actions { type channel templateName labels } problems { code message } } } }";

const QUEUE: &str = "query($f: DispatchFilter) { dispatchQueue(filter: $f, first: 100) {
    totalCount nodes { id status reasonCode reason trigger channel decidedBy errorCode variables preview edited
      transactionCode rule { key } customer { email }
      context { ltvTotal progressPercent productName daysSincePurchase lastMessage { channel status } }
      message { status } } } }";

const DECIDE: &str = "mutation($ids: [ID!], $f: DispatchFilter) {
    approveDispatches(ids: $ids, filter: $f) { matched decided skipped } }";

/// A workspace that takes Hotmart postbacks and sends WhatsApp through the
/// fake Meta, with the CS templates mirrored as APPROVED.
struct Producer<'a> {
    app: &'a TestApp,
    workspace: Uuid,
    slug: String,
    token: String,
}

const CS_TEMPLATES: [&str; 8] = [
    "boas_vindas",
    "resgate_acesso",
    "retomada_estudos",
    "conquista_modulo",
    "recuperacao_pagamento",
    "carrinho_abandonado",
    "risco_reembolso",
    "reconquista",
];

impl<'a> Producer<'a> {
    async fn open(app: &'a TestApp, slug: &str, meta: Option<&FakeMeta>) -> Producer<'a> {
        let workspace = app.hotmart_workspace(slug).await;
        if let Some(meta) = meta {
            configure_whatsapp(app, workspace, meta).await;
            set_setting(
                app,
                workspace,
                "hotmart.club_url",
                "https://escola.club.hotmart.com",
            )
            .await;
            sync_templates(app, workspace).await;
        }
        Producer {
            app,
            workspace,
            slug: slug.to_owned(),
            token: app.agent_token(workspace),
        }
    }

    async fn post(&self, body: &Value) {
        let (status, answer) = self.app.post_hotmart(&self.slug, Some(HOTTOK), body).await;
        assert_eq!(status, 200, "{answer}");
        self.app.drain().await;
    }

    async fn rules(&self, filter: Value) -> Vec<Value> {
        let answer = self
            .app
            .graphql(Some(&self.token), RULES, json!({"f": filter}))
            .await;
        answer.data("automationRules")["nodes"]
            .as_array()
            .expect("nodes")
            .clone()
    }

    async fn rule(&self, key: &str) -> Value {
        self.rules(json!({}))
            .await
            .into_iter()
            .find(|r| r["key"] == key)
            .unwrap_or_else(|| panic!("no built-in {key}"))
    }

    async fn queue(&self, filter: Value) -> Vec<Value> {
        let answer = self
            .app
            .graphql(Some(&self.token), QUEUE, json!({"f": filter}))
            .await;
        answer.data("dispatchQueue")["nodes"]
            .as_array()
            .expect("nodes")
            .clone()
    }
}

fn meta_with_cs_templates(status: &str) -> Vec<Value> {
    CS_TEMPLATES
        .iter()
        .enumerate()
        .map(|(i, name)| template(&format!("20{i}"), name, "pt_BR", status, "UTILITY"))
        .collect()
}

/// The fake Meta with the CS templates, `status` at Meta.
async fn fake_meta(status: &str) -> FakeMeta {
    let meta = FakeMeta::spawn().await;
    meta.seed_templates(meta_with_cs_templates(status));
    meta
}

fn ms(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp_millis()
}

async fn built_in_rules_come_with_every_workspace(app: TestApp) {
    let shop = Producer::open(&app, "escola", None).await;
    let rules = shop.rules(json!({})).await;
    let mut keys: Vec<&str> = rules.iter().filter_map(|r| r["key"].as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access_rescue",
            "achievement",
            "cart_recovery",
            "refund_risk",
            "sale_recovery",
            "stagnation",
            "welcome",
            "winback"
        ]
    );
    let welcome = shop.rule("welcome").await;
    assert_eq!(welcome["mode"], "AUTOMATIC");
    assert_eq!(welcome["trigger"], "PURCHASE_APPROVED");
    assert_eq!(welcome["actions"][0]["templateName"], "boas_vindas");
    let problems: Vec<&str> = welcome["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["code"].as_str())
        .collect();
    assert_eq!(
        problems,
        [
            "CHANNEL_NOT_CONFIGURED",
            "ACCESS_URL_NOT_SET",
            "TEMPLATE_MISSING"
        ],
        "a new workspace is told what its welcome still needs"
    );
    let rescue = shop.rule("access_rescue").await;
    assert_eq!(rescue["params"], json!({"hours": 24}));
    assert_eq!(rescue["schedule"], "0 0 9 * * *");
    let achievement = shop.rule("achievement").await;
    assert_eq!(
        achievement["actions"][1]["labels"],
        json!(["modulo-concluido"])
    );
    let scans = shop.rules(json!({"mode": "SUGGEST_ONLY"})).await;
    assert_eq!(scans.len(), 6);

    // A built-in is turned off, not deleted.
    let id = welcome["id"].clone();
    let deleted = app
        .graphql(
            Some(&shop.token),
            "mutation($id: ID!) { deleteAutomationRule(id: $id) }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(deleted.error_code(), Some("CONFLICT"));
    let off = app
        .graphql(
            Some(&shop.token),
            "mutation($id: ID!) { updateAutomationRule(id: $id, input: {active: false}) { active key trigger } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        off.data("updateAutomationRule"),
        &json!({"active": false, "key": "welcome", "trigger": "PURCHASE_APPROVED"})
    );

    // Rules of the workspace's own.
    let create = "mutation($i: AutomationRuleInput!) { createAutomationRule(input: $i) { id key name mode trigger schedule } }";
    let refused = app
        .graphql(
            Some(&shop.token),
            create,
            json!({"i": {"name": "Resgate na hora", "trigger": "ACCESS_MISSING", "mode": "AUTOMATIC", "schedule": "0 0 8 * * *",
                "actions": [{"type": "SEND_MESSAGE", "channel": "whatsapp", "templateName": "resgate_acesso"}]}}),
        )
        .await;
    assert_eq!(refused.error_code(), Some("INVALID_INPUT"));
    assert!(
        refused.body.to_string().contains("ACCESS_MISSING"),
        "the refusal names the trigger: {}",
        refused.body
    );
    let created = app
        .graphql(
            Some(&shop.token),
            create,
            json!({"i": {"name": "Tag VIP", "trigger": "PURCHASE_APPROVED", "mode": "AUTOMATIC",
                "conditions": {"rules": [{"field": "customer.ltvTotal", "op": "gte", "value": 1000}]},
                "actions": [{"type": "ADD_TAGS", "tags": ["vip"]}]}}),
        )
        .await;
    let created = created.data("createAutomationRule").clone();
    assert_eq!(created["key"], Value::Null);
    assert_eq!(created["mode"], "AUTOMATIC");
    let gone = app
        .graphql(
            Some(&shop.token),
            "mutation($id: ID!) { deleteAutomationRule(id: $id) }",
            json!({"id": created["id"]}),
        )
        .await;
    assert_eq!(gone.data("deleteAutomationRule"), &created["id"]);

    // Read-only tokens read; other workspaces see nothing of these.
    let reader = app.reader_token(shop.workspace);
    let read = app.graphql(Some(&reader), RULES, json!({})).await;
    assert_eq!(read.data("automationRules")["totalCount"], 8);
    let write = app
        .graphql(
            Some(&reader),
            "mutation($id: ID!) { updateAutomationRule(id: $id, input: {active: true}) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(write.error_code(), Some("FORBIDDEN"));
    let other = app.create_workspace("outra").await;
    let theirs = app
        .graphql(
            Some(&app.agent_token(other)),
            "query($id: ID!) { automationRule(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(theirs.data("automationRule"), &Value::Null);
}
on_both_backends!(
    built_in_rules_come_with_every_workspace,
    built_in_rules_come_with_every_workspace
);

async fn a_purchase_gets_its_welcome_once(app: TestApp) {
    let meta = fake_meta("APPROVED").await;
    let shop = Producer::open(&app, "escola", Some(&meta)).await;
    let now = app.clock.now();
    let sale = Sale::new("HP1000000001", "maria@example.com", ms(now) - 60_000);
    let approved = sale.event("PURCHASE_APPROVED", "APPROVED", ms(now));
    shop.post(&approved).await;
    let sent = meta.accepted_messages();
    assert_eq!(sent.len(), 1, "one welcome");
    assert_eq!(sent[0].to, "5511987654321");
    let request = meta.message_requests();
    let body = request[0].body.as_ref().expect("a JSON body");
    assert_eq!(body["template"]["name"], "boas_vindas");
    let parameters: Vec<&str> = body["template"]["components"][0]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect();
    assert_eq!(parameters[0], "Maria");
    assert_eq!(parameters[1], "Curso de Confeitaria");
    assert!(
        parameters[2].starts_with("http://jornada.test/r/"),
        "the access link is tracked: {}",
        parameters[2]
    );

    // Hotmart delivering the approval again (a new delivery id) changes nothing.
    let again = sale.event("PURCHASE_APPROVED", "APPROVED", ms(now));
    shop.post(&again).await;
    assert_eq!(meta.accepted(), 1, "nothing twice");
    let items = shop.queue(json!({})).await;
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(item["status"], "SENT");
    assert_eq!(item["decidedBy"], "automatic");
    assert_eq!(item["reasonCode"], "PURCHASE_APPROVED");
    assert_eq!(item["rule"]["key"], "welcome");
    assert_eq!(item["message"]["status"], "SENT");
    assert_eq!(item["customer"]["email"], "maria@example.com");
    assert_eq!(item["context"]["productName"], "Curso de Confeitaria");
}
on_both_backends!(
    a_purchase_gets_its_welcome_once,
    a_purchase_gets_its_welcome_once
);

async fn an_unapproved_template_turns_the_welcome_into_an_item(app: TestApp) {
    let meta = fake_meta("PENDING").await;
    let shop = Producer::open(&app, "escola", Some(&meta)).await;
    let welcome = shop.rule("welcome").await;
    assert_eq!(
        welcome["problems"][0]["code"], "TEMPLATE_NOT_APPROVED",
        "{welcome}"
    );
    let now = app.clock.now();
    let sale = Sale::new("HP1000000002", "joana@example.com", ms(now) - 60_000);
    shop.post(&sale.event("PURCHASE_APPROVED", "APPROVED", ms(now)))
        .await;
    assert_eq!(
        meta.accepted(),
        0,
        "nothing goes with an unapproved template"
    );
    let items = shop.queue(json!({"status": "PENDING"})).await;
    assert_eq!(items.len(), 1, "nothing is dropped silently");
    assert_eq!(items[0]["reasonCode"], "TEMPLATE_NOT_APPROVED");
    assert!(
        items[0]["reason"]
            .as_str()
            .unwrap()
            .contains("não está aprovado na Meta"),
        "{}",
        items[0]["reason"]
    );
}
on_both_backends!(
    an_unapproved_template_turns_the_welcome_into_an_item,
    an_unapproved_template_turns_the_welcome_into_an_item
);

/// Runs a scan rule now, followed to its end; the job's result.
async fn run_rule(shop: &Producer<'_>, key: &str, dry_run: bool) -> Value {
    let rule = shop.rule(key).await;
    let job = shop
        .app
        .graphql(
            Some(&shop.token),
            "mutation($id: ID!, $dry: Boolean) { runAutomationRule(id: $id, dryRun: $dry) { id kind status } }",
            json!({"id": rule["id"], "dry": dry_run}),
        )
        .await
        .data("runAutomationRule")
        .clone();
    assert_eq!(job["kind"], "AUTOMATION_SCAN");
    let done = shop.app.finished_job(&shop.token, &job).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    done["result"].clone()
}

async fn a_buyer_without_access_is_rescued_after_a_day_and_not_before(app: TestApp) {
    let meta = fake_meta("APPROVED").await;
    let shop = Producer::open(&app, "escola", Some(&meta)).await;
    let now = app.clock.now();
    let sale = Sale::new("HP1000000003", "maria@example.com", ms(now) - 60_000);
    shop.post(&sale.event("PURCHASE_APPROVED", "APPROVED", ms(now)))
        .await;
    let welcome = shop.queue(json!({"trigger": "PURCHASE_APPROVED"})).await;
    assert_eq!(welcome[0]["status"], "SENT", "{welcome:?}");
    app.advance(Duration::hours(23)).await;
    let early = run_rule(&shop, "access_rescue", true).await;
    assert_eq!(early["candidates"], json!([]), "23 hours is not yet a day");
    assert!(
        shop.queue(json!({"trigger": "ACCESS_MISSING"}))
            .await
            .is_empty()
    );

    app.advance(Duration::hours(2)).await;
    let dry = run_rule(&shop, "access_rescue", true).await;
    let candidates = dry["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 1, "{dry}");
    assert_eq!(candidates[0]["reasonCode"], "ACCESS_MISSING");
    assert_eq!(
        candidates[0]["reason"],
        "Comprou Curso de Confeitaria há 25 horas e ainda não acessou o curso"
    );
    assert!(
        shop.queue(json!({"trigger": "ACCESS_MISSING"}))
            .await
            .is_empty(),
        "a dry run writes nothing"
    );
    let run = run_rule(&shop, "access_rescue", false).await;
    assert_eq!(run["queued"], 1);
    let again = run_rule(&shop, "access_rescue", false).await;
    assert_eq!(again["queued"], 0, "a second scan makes no second item");
    // The daily 09:00 scan finds the same buyer pending: still one item.
    app.advance(Duration::days(1)).await;
    let items = shop.queue(json!({"trigger": "ACCESS_MISSING"})).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["status"], "PENDING");
    assert_eq!(items[0]["rule"]["key"], "access_rescue");
    assert_eq!(meta.accepted(), 1, "only the welcome was sent");
}
on_both_backends!(
    a_buyer_without_access_is_rescued_after_a_day_and_not_before,
    a_buyer_without_access_is_rescued_after_a_day_and_not_before
);

async fn a_billet_paid_cancels_its_recovery_item(app: TestApp) {
    let meta = fake_meta("APPROVED").await;
    let shop = Producer::open(&app, "escola", Some(&meta)).await;
    let now = app.clock.now();
    let sale =
        Sale::new("HP1000000004", "maria@example.com", ms(now) - 60_000).payment("BILLET", 1);
    shop.post(&sale.billet_printed(ms(now))).await;
    shop.post(&sale.billet_printed(ms(now))).await;
    let items = shop.queue(json!({"trigger": "BILLET_PRINTED"})).await;
    assert_eq!(items.len(), 1, "a redelivered billet makes no second item");
    let item = &items[0];
    assert_eq!(item["status"], "PENDING");
    assert_eq!(item["transactionCode"], "HP1000000004");
    assert_eq!(
        item["variables"]["3"],
        "https://billet.hotmart.com/b/HP1000000004"
    );
    assert_eq!(
        item["reason"],
        "Gerou boleto ou Pix de Curso de Confeitaria e ainda não pagou"
    );
    app.advance(Duration::hours(3)).await;
    shop.post(&sale.event("PURCHASE_APPROVED", "APPROVED", ms(app.clock.now())))
        .await;
    let items = shop.queue(json!({"trigger": "BILLET_PRINTED"})).await;
    assert_eq!(items[0]["status"], "CANCELLED");
    assert_eq!(items[0]["errorCode"], "PAID");
    assert_eq!(
        meta.accepted(),
        1,
        "the welcome went; the recovery message never did"
    );
}
on_both_backends!(
    a_billet_paid_cancels_its_recovery_item,
    a_billet_paid_cancels_its_recovery_item
);

async fn a_cs_person_works_the_queue(app: TestApp) {
    let meta = fake_meta("APPROVED").await;
    let shop = Producer::open(&app, "escola", Some(&meta)).await;
    // Only the recovery flow here.
    let welcome = shop.rule("welcome").await;
    app.graphql(
        Some(&shop.token),
        "mutation($id: ID!) { updateAutomationRule(id: $id, input: {active: false}) { id } }",
        json!({"id": welcome["id"]}),
    )
    .await
    .data("updateAutomationRule");
    let now = app.clock.now();
    let buyers = [
        ("HP2000000001", "ana@example.com", "11911110001"),
        ("HP2000000002", "bia@example.com", "11911110002"),
        ("HP2000000003", "carla@example.com", "11911110003"),
    ];
    for (code, email, phone) in buyers {
        let sale = Sale::new(code, email, ms(now) - 60_000)
            .buyer("Cliente Teste", Some(("55", phone)))
            .payment("BILLET", 1);
        shop.post(&sale.billet_printed(ms(now))).await;
    }
    let pending = shop.queue(json!({"status": "PENDING"})).await;
    assert_eq!(pending.len(), 3);
    let found = shop.queue(json!({"search": "bia@"})).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["customer"]["email"], "bia@example.com");

    // Carla answers "PARAR" on WhatsApp: her send is refused with its code.
    let stop = inbound_text("5511911110003", "wamid.IN-CARLA", "PARAR");
    assert_eq!(deliver(&app, &shop.slug, &stop).await, 200);
    app.drain().await;

    // Free text outside the 24 h window is refused; the variables can change.
    let ana_item = shop.queue(json!({"search": "ana@"})).await[0]["id"].clone();
    let text = app
        .graphql(
            Some(&shop.token),
            "mutation($id: ID!) { editDispatch(id: $id, text: \"Oi Ana, tudo bem?\") { id } }",
            json!({"id": ana_item}),
        )
        .await;
    assert_eq!(text.error_code(), Some("INVALID_INPUT"));
    let edited = app
        .graphql(
            Some(&shop.token),
            "mutation($id: ID!, $v: JSON) { editDispatch(id: $id, variables: $v) { edited variables } }",
            json!({"id": ana_item, "v": {"1": "Aninha"}}),
        )
        .await;
    assert_eq!(edited.data("editDispatch")["edited"], true);
    assert_eq!(edited.data("editDispatch")["variables"]["1"], "Aninha");

    // Read-only tokens and other workspaces decide nothing.
    let reader = app.reader_token(shop.workspace);
    let refused = app
        .graphql(
            Some(&reader),
            DECIDE,
            json!({"f": {"trigger": "BILLET_PRINTED"}}),
        )
        .await;
    assert_eq!(refused.error_code(), Some("FORBIDDEN"));
    let other = app.create_workspace("outra").await;
    let theirs = app
        .graphql(
            Some(&app.agent_token(other)),
            DECIDE,
            json!({"f": {"trigger": "BILLET_PRINTED"}}),
        )
        .await;
    assert_eq!(
        theirs.data("approveDispatches"),
        &json!({"matched": 0, "decided": 0, "skipped": 0})
    );
    let by_id = app
        .graphql(
            Some(&app.agent_token(other)),
            DECIDE,
            json!({"ids": [ana_item]}),
        )
        .await;
    assert_eq!(by_id.error_code(), Some("NOT_FOUND"));

    // "Approve all billets": each once.
    let decided = app
        .graphql(
            Some(&shop.token),
            DECIDE,
            json!({"f": {"trigger": "BILLET_PRINTED"}}),
        )
        .await;
    assert_eq!(
        decided.data("approveDispatches"),
        &json!({"matched": 3, "decided": 3, "skipped": 0})
    );
    app.drain().await;
    assert_eq!(meta.accepted(), 2, "Ana and Bia; Carla opted out");
    let to_ana = meta
        .message_requests()
        .into_iter()
        .find(|r| r.body.as_ref().is_some_and(|b| b["to"] == "5511911110001"))
        .expect("Ana's message");
    assert_eq!(
        to_ana.body.as_ref().unwrap()["template"]["components"][0]["parameters"][0]["text"],
        "Aninha",
        "the edit is what went"
    );
    let again = app
        .graphql(
            Some(&shop.token),
            DECIDE,
            json!({"f": {"trigger": "BILLET_PRINTED"}}),
        )
        .await;
    assert_eq!(
        again.data("approveDispatches"),
        &json!({"matched": 0, "decided": 0, "skipped": 0})
    );
    app.drain().await;
    assert_eq!(meta.accepted(), 2, "nothing twice");
    let items = shop.queue(json!({})).await;
    let mut outcomes: Vec<(String, String)> = items
        .iter()
        .map(|i| {
            (
                i["customer"]["email"].as_str().unwrap().to_owned(),
                format!("{} {}", i["status"], i["errorCode"]),
            )
        })
        .collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            ("ana@example.com".to_owned(), "\"SENT\" null".to_owned()),
            ("bia@example.com".to_owned(), "\"SENT\" null".to_owned()),
            (
                "carla@example.com".to_owned(),
                "\"ERROR\" \"OPTED_OUT\"".to_owned()
            ),
        ]
    );
    let decided_by: Vec<&Value> = items.iter().map(|i| &i["decidedBy"]).collect();
    assert!(decided_by.iter().all(|d| **d == "test"), "{decided_by:?}");

    // Ana pays two days after the message: a recovered sale. Bia pays eight
    // days after hers: too late to count.
    let start = app.clock.now();
    app.advance(Duration::days(2)).await;
    let ana = Sale::new("HP2000000001", "ana@example.com", ms(now) - 60_000)
        .buyer("Cliente Teste", Some(("55", "11911110001")))
        .payment("BILLET", 1)
        .approved_at(Some(ms(app.clock.now())));
    shop.post(&ana.event("PURCHASE_APPROVED", "APPROVED", ms(app.clock.now())))
        .await;
    app.advance(Duration::days(6)).await;
    let bia = Sale::new("HP2000000002", "bia@example.com", ms(now) - 60_000)
        .buyer("Cliente Teste", Some(("55", "11911110002")))
        .payment("BILLET", 1)
        .approved_at(Some(ms(app.clock.now())));
    shop.post(&bia.event("PURCHASE_APPROVED", "APPROVED", ms(app.clock.now())))
        .await;
    let report = app
        .graphql(
            Some(&app.reader_token(shop.workspace)),
            "query($from: DateTime!, $to: DateTime!) { recoveredSales(from: $from, to: $to) {
                count revenue { currency amount } byRule { count revenue { amount } rule { key } } } }",
            json!({"from": start.to_rfc3339(), "to": app.clock.now().to_rfc3339()}),
        )
        .await;
    assert_eq!(
        report.data("recoveredSales"),
        &json!({"count": 1, "revenue": [{"currency": "BRL", "amount": "497.00"}],
            "byRule": [{"count": 1, "revenue": [{"amount": "497.00"}], "rule": {"key": "sale_recovery"}}]})
    );
}
on_both_backends!(a_cs_person_works_the_queue, a_cs_person_works_the_queue);

async fn pending_items_expire_and_unmonitored_products_stop_the_rules(app: TestApp) {
    let meta = fake_meta("APPROVED").await;
    let shop = Producer::open(&app, "escola", Some(&meta)).await;
    let now = app.clock.now();
    let first = Sale::new("HP3000000001", "ana@example.com", ms(now) - 60_000).payment("BILLET", 1);
    shop.post(&first.billet_printed(ms(now))).await;
    let items = shop.queue(json!({"status": "PENDING"})).await;
    assert_eq!(items.len(), 1);
    app.advance(Duration::hours(73)).await;
    let items = shop.queue(json!({})).await;
    assert_eq!(items[0]["status"], "EXPIRED", "72 hours without a decision");

    let second = Sale::new(
        "HP3000000002",
        "bia@example.com",
        ms(app.clock.now()) - 60_000,
    )
    .buyer("Bia", Some(("55", "11922220002")))
    .payment("BILLET", 1);
    shop.post(&second.billet_printed(ms(app.clock.now()))).await;
    assert_eq!(shop.queue(json!({"status": "PENDING"})).await.len(), 1);
    let product = shop.queue(json!({"status": "PENDING"})).await[0]["id"].clone();
    assert!(product.is_string());
    let products = app
        .graphql(
            Some(&shop.token),
            "{ products { nodes { id } } }",
            json!({}),
        )
        .await;
    let product_id = products.data("products")["nodes"][0]["id"].clone();
    app.graphql(
        Some(&shop.token),
        "mutation($id: ID!) { setProductMonitored(id: $id, monitored: false) { monitored } }",
        json!({"id": product_id}),
    )
    .await
    .data("setProductMonitored");
    let items = shop.queue(json!({"status": "CANCELLED"})).await;
    assert_eq!(items.len(), 1, "its pending items are withdrawn");
    assert_eq!(items[0]["errorCode"], "NOT_MONITORED");
    let third = Sale::new(
        "HP3000000003",
        "carla@example.com",
        ms(app.clock.now()) - 60_000,
    )
    .buyer("Carla", Some(("55", "11933330003")));
    shop.post(&third.event("PURCHASE_APPROVED", "APPROVED", ms(app.clock.now())))
        .await;
    assert_eq!(
        meta.accepted(),
        0,
        "no rule acts on buyers of a product not monitored"
    );
}
on_both_backends!(
    pending_items_expire_and_unmonitored_products_stop_the_rules,
    pending_items_expire_and_unmonitored_products_stop_the_rules
);
