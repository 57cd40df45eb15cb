//! The built-in rules every workspace gets, and rules of its own.

use super::*;
use crate::chatwoot::post as chatwoot_post;
use crate::cs_reports::{course_with_modules, curso, message_journey};
use crate::fakes::chatwoot::{FakeChatwoot, label_change, sender};
use crate::hotmart_webhooks::{first_access, module_completed};

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
    assert_eq!(welcome["template"], Value::Null, "not mirrored yet");
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

async fn a_deleted_rule_leaves_its_items_in_the_queue(app: TestApp) {
    let meta = fake_meta("APPROVED").await;
    let shop = Producer::open(&app, "escola", Some(&meta)).await;
    shop.turn_off("sale_recovery").await;
    let own = shop
        .query(
            "mutation($i: AutomationRuleInput!) { createAutomationRule(input: $i) { id } }",
            json!({"i": {"name": "Boleto da escola", "trigger": "BILLET_PRINTED", "mode": "SUGGEST_ONLY",
                "actions": [{"type": "SEND_MESSAGE", "channel": "whatsapp", "templateName": "recuperacao_pagamento"}]}}),
            "createAutomationRule",
        )
        .await;
    let now = ms(app.clock.now());
    let sale = super::queue::billet("HP1000000021", "rita@example.com", "5511977770021", now);
    shop.post(&sale.billet_printed(now)).await;
    let items =
        "query { dispatchQueue(first: 10) { nodes { status transactionCode rule { id name } } } }";
    let before = shop.query(items, json!({}), "dispatchQueue").await;
    assert_eq!(
        before["nodes"],
        json!([{"status": "PENDING", "transactionCode": "HP1000000021",
            "rule": {"id": own["id"], "name": "Boleto da escola"}}])
    );
    shop.query(
        "mutation($id: ID!) { deleteAutomationRule(id: $id) }",
        json!({"id": own["id"]}),
        "deleteAutomationRule",
    )
    .await;
    let after = shop.query(items, json!({}), "dispatchQueue").await;
    assert_eq!(
        after["nodes"],
        json!([{"status": "PENDING", "transactionCode": "HP1000000021", "rule": null}]),
        "the item stays for the CS team, no longer linked to the rule"
    );
    // A BI tool reading the table finds no item naming the deleted rule.
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let rule_id: Uuid = own["id"].as_str().unwrap().parse().unwrap();
    let dangling = entity::entities::dispatch_item::Entity::find()
        .filter(entity::entities::dispatch_item::Column::RuleId.eq(rule_id))
        .count(&app.db)
        .await
        .expect("count the queue");
    assert_eq!(dangling, 0);
}
on_both_backends!(
    a_deleted_rule_leaves_its_items_in_the_queue,
    a_deleted_rule_leaves_its_items_in_the_queue
);

async fn a_rule_starts_a_journey_and_tags_on_first_access(app: TestApp) {
    let shop = Producer::open(&app, "escola", None).await;
    let campaign = shop
        .query(
            "mutation($doc: JSON!) { createCampaign(input: {name: \"Onboarding\", workflowData: $doc}) { id } }",
            json!({"doc": message_journey("Bem-vinda ao curso, {{customer.first_name}}!")}),
            "createCampaign",
        )
        .await["id"]
        .clone();
    let created = shop
        .query(
            "mutation($i: AutomationRuleInput!) { createAutomationRule(input: $i) { id campaign { id } problems { code } } }",
            json!({"i": {"name": "Onboarding no primeiro acesso", "trigger": "FIRST_ACCESS", "mode": "AUTOMATIC",
                "actions": [{"type": "START_CAMPAIGN", "campaignId": campaign}, {"type": "ADD_TAGS", "tags": ["onboarding"]}]}}),
            "createAutomationRule",
        )
        .await;
    assert_eq!(created["campaign"]["id"], campaign, "the rule names it");
    assert_eq!(
        created["problems"],
        json!([{"code": "CAMPAIGN_NOT_ACTIVE"}]),
        "a draft campaign starts nothing, and the rule says so"
    );
    shop.query(
        "mutation($id: ID!) { publishCampaign(id: $id) { status } }",
        json!({"id": campaign}),
        "publishCampaign",
    )
    .await;
    let rule = shop
        .query(
            "query($id: ID!) { automationRule(id: $id) { problems { code } } }",
            json!({"id": created["id"]}),
            "automationRule",
        )
        .await;
    assert_eq!(rule["problems"], json!([]));

    let now = app.clock.now();
    let sale =
        Sale::new("HP6000000001", "ana@example.com", ms(now) - 60_000).buyer("Ana Souza", None);
    shop.post(&sale.event("PURCHASE_APPROVED", "APPROVED", ms(now)))
        .await;
    let entered = json!({"id": campaign});
    let executions = "query($id: ID!) { campaignExecutions(campaignId: $id, first: 10) {
        nodes { executionType metrics } } }";
    assert_eq!(
        shop.query(executions, entered.clone(), "campaignExecutions")
            .await["nodes"],
        json!([]),
        "a purchase is not a first access"
    );
    let access = first_access("ana@example.com", "Ana Souza", curso(), ms(now) + 60_000);
    shop.post(&access).await;
    // Hotmart delivering the access again starts nothing more.
    shop.post(&access).await;
    let runs = shop.query(executions, entered, "campaignExecutions").await;
    let runs = runs["nodes"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["executionType"], "TRIGGERED");
    assert_eq!(runs[0]["metrics"]["entered"], 1, "{runs:?}");
    let ana = shop.customer_id("ana@example.com").await.expect("Ana");
    let said = shop
        .query(
            "query($id: ID!) { customer(id: $id) { tags messages(first: 10) { nodes { channel status origin { kind campaignName } } } } }",
            json!({"id": ana}),
            "customer",
        )
        .await;
    assert_eq!(said["tags"], json!(["onboarding"]));
    assert_eq!(
        said["messages"]["nodes"],
        json!([{"channel": "log", "status": "sent", "origin": {"kind": "CAMPAIGN", "campaignName": "Onboarding"}}])
    );
}
on_both_backends!(
    a_rule_starts_a_journey_and_tags_on_first_access,
    a_rule_starts_a_journey_and_tags_on_first_access
);

async fn a_module_completed_is_celebrated_and_labelled_in_chatwoot(app: TestApp) {
    let meta = fake_meta("APPROVED").await;
    let shop = Producer::open(&app, "escola", Some(&meta)).await;
    shop.turn_off("welcome").await;
    let chatwoot = FakeChatwoot::spawn().await;
    for (key, value) in chatwoot.settings() {
        set_setting(&app, shop.workspace, key, &value).await;
    }
    let now = app.clock.now();
    let sale = Sale::new("HP6000000002", "ana@example.com", ms(now) - 60_000)
        .buyer("Ana Souza", Some(("55", "11966660001")));
    shop.post(&sale.event("PURCHASE_APPROVED", "APPROVED", ms(now)))
        .await;
    course_with_modules(&shop).await;
    shop.post(&first_access(
        "ana@example.com",
        "Ana Souza",
        curso(),
        ms(now) + 60_000,
    ))
    .await;
    // Ana talks to the CS team in Chatwoot; her conversation is labelled "vip".
    chatwoot.seed_conversation("77", ["vip"]);
    let labelled = label_change(
        "77",
        sender(9, Some("ana@example.com"), None),
        &[],
        &["vip".to_owned()],
    );
    let body = serde_json::to_vec(&labelled).unwrap();
    let answer = chatwoot_post(&app, &shop.slug, &body, &[]).await;
    assert_eq!(answer.status, 200);
    app.drain().await;

    let completed = module_completed(
        "ana@example.com",
        "Ana Souza",
        curso(),
        "mod-massas",
        "Massas",
        ms(now) + 120_000,
    );
    shop.post(&completed).await;
    let sent = meta.message_requests();
    assert_eq!(sent.len(), 1, "the achievement goes on its own");
    let body = sent[0].body.as_ref().unwrap();
    assert_eq!(body["to"], "5511966660001");
    assert_eq!(body["template"]["name"], "conquista_modulo");
    let texts: Vec<&str> = body["template"]["components"][0]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect();
    assert_eq!(texts[..2], ["Ana", "Massas"]);
    assert_eq!(
        chatwoot.labels("77"),
        ["vip", "modulo-concluido"],
        "the label joins those the conversation had"
    );
    // Hotmart delivering it again: no second message, no second write.
    shop.post(&completed).await;
    assert_eq!(meta.message_requests().len(), 1);
    assert_eq!(chatwoot.writes().len(), 1);

    // A workspace without Chatwoot still celebrates, and is told what the
    // label needs instead of collecting failed jobs.
    let other_meta = fake_meta("APPROVED").await;
    let plain = Producer::open(&app, "sem-chatwoot", Some(&other_meta)).await;
    plain.turn_off("welcome").await;
    let achievement = plain.rule("achievement").await;
    let problems: Vec<&str> = achievement["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["code"].as_str())
        .collect();
    assert_eq!(problems, ["CHATWOOT_NOT_CONFIGURED"]);
    let sale = Sale::new("HP6000000003", "bia@example.com", ms(now) - 60_000)
        .buyer("Bia Lima", Some(("55", "11966660002")));
    plain
        .post(&sale.event("PURCHASE_APPROVED", "APPROVED", ms(now)))
        .await;
    course_with_modules(&plain).await;
    plain
        .post(&module_completed(
            "bia@example.com",
            "Bia Lima",
            curso(),
            "mod-massas",
            "Massas",
            ms(now) + 120_000,
        ))
        .await;
    assert_eq!(other_meta.accepted(), 1);
    let jobs = plain
        .query(
            "{ backgroundJobs(first: 20) { nodes { kind status } } }",
            json!({}),
            "backgroundJobs",
        )
        .await;
    let failed: Vec<&Value> = jobs["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["status"] == "FAILED")
        .collect();
    assert!(failed.is_empty(), "{jobs}");
}
on_both_backends!(
    a_module_completed_is_celebrated_and_labelled_in_chatwoot,
    a_module_completed_is_celebrated_and_labelled_in_chatwoot
);
