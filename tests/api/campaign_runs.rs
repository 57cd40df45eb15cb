//! Campaigns from React Flow JSON to metrics, run by the worker.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::journeys::{branch, edge, node};
use crate::on_both_backends;

/// trigger → condition(vip) → true: log message with a tracked link → exit;
/// false: split a/b → a: tag grupo-a → exit; b: e-mail (logged) → exit.
pub fn branching_journey() -> Value {
    json!({
        "nodes": [
            node("start", "trigger", json!({"source": "manual"})),
            node("vip", "condition", json!({"combinator": "and", "rules": [{"field": "customer.tags", "op": "contains", "value": "vip"}]})),
            node("vip-msg", "sendMessage", json!({"channel": "log", "body": "Olá {{customer.first_name}}, sua aula: {{link:https://curso.example.com/aula-1}}"})),
            node("ab", "split", json!({"branches": [{"id": "a", "weight": 50}, {"id": "b", "weight": 50}]})),
            node("tag-a", "updateCustomer", json!({"addTags": ["grupo-a"], "set": {"metadata.grupo": "a"}})),
            node("mail-b", "sendMessage", json!({"channel": "email", "subject": "Oi {{customer.first_name}}", "body": "Volte ao curso"})),
            node("end-vip", "exit", json!({})),
            node("end-a", "exit", json!({})),
            node("end-b", "exit", json!({}))
        ],
        "edges": [
            edge("start", "vip"),
            branch("vip", "true", "vip-msg"),
            branch("vip", "false", "ab"),
            edge("vip-msg", "end-vip"),
            branch("ab", "a", "tag-a"),
            branch("ab", "b", "mail-b"),
            edge("tag-a", "end-a"),
            edge("mail-b", "end-b")
        ]
    })
}

impl TestApp {
    /// Creates and publishes a campaign; returns its id.
    pub async fn publish_journey(&self, workspace: Uuid, document: Value) -> String {
        let agent = self.agent_token(workspace);
        let created = self.graphql(Some(&agent), "mutation($doc: JSON!) { createCampaign(input: {name: \"Jornada\", workflowData: $doc}) { id } }", json!({"doc": document})).await;
        let campaign = created.data("createCampaign")["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let published = self
            .graphql(
                Some(&agent),
                "mutation($id: ID!) { publishCampaign(id: $id) { status } }",
                json!({"id": campaign}),
            )
            .await;
        assert_eq!(published.data("publishCampaign")["status"], "ACTIVE");
        campaign
    }

    /// Creates, publishes and runs a campaign over every customer; returns (campaign, execution).
    pub async fn run_journey(&self, workspace: Uuid, document: Value) -> (String, String) {
        let agent = self.agent_token(workspace);
        let campaign = self.publish_journey(workspace, document).await;
        let group = self.graphql(Some(&agent), "mutation { createTargetGroupMapping(input: {crmName: \"Todos\", source: \"customers\"}) { id } }", json!({})).await;
        let group = group.data("createTargetGroupMapping")["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let run = self.graphql(Some(&agent), "mutation($id: ID!, $g: ID!) { runCampaign(id: $id, targetGroupId: $g) { id status } }", json!({"id": campaign, "g": group})).await;
        let execution = run.data("runCampaign")["id"].as_str().unwrap().to_owned();
        (campaign, execution)
    }

    /// Runs the worker until it is idle; the execution is then COMPLETED,
    /// and is returned with its metrics.
    pub async fn completed_execution(&self, workspace: Uuid, execution: &str) -> Value {
        self.drain().await;
        let answer = self
            .graphql(
                Some(&self.agent_token(workspace)),
                "query($id: ID!) { campaignExecution(id: $id) { status executionData metrics } }",
                json!({"id": execution}),
            )
            .await;
        let current = answer.data("campaignExecution").clone();
        assert_eq!(current["status"], "COMPLETED", "{current}");
        current
    }
}

async fn a_branching_campaign_reaches_each_recipient_as_drawn(app: TestApp) {
    let ws = app.create_workspace("jornada-viva").await;
    let agent = app.agent_token(ws);
    let mut vips = 0;
    for i in 0..40 {
        let tags = if i % 4 == 0 {
            vips += 1;
            json!(["vip"])
        } else {
            json!(["aluna"])
        };
        app.graphql(
            Some(&agent),
            "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }",
            json!({"input": {"email": format!("aluna{i}@example.com"), "name": format!("Aluna {i} Silva"), "tags": tags}}),
        )
        .await
        .data("createCustomer");
    }
    let invalid = app
        .graphql(
            Some(&agent),
            "query($doc: JSON!) { validateWorkflow(workflowData: $doc) { nodeId code } }",
            json!({"doc": {"nodes": [node("x", "exit", json!({}))], "edges": []}}),
        )
        .await;
    assert!(
        invalid
            .data("validateWorkflow")
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["code"] == "missing_trigger")
    );
    let clean = app
        .graphql(
            Some(&agent),
            "query($doc: JSON!) { validateWorkflow(workflowData: $doc) { nodeId code } }",
            json!({"doc": branching_journey()}),
        )
        .await;
    assert_eq!(clean.data("validateWorkflow"), &json!([]));

    let (campaign, execution) = app.run_journey(ws, branching_journey()).await;
    let done = app.completed_execution(ws, &execution).await;
    let metrics = &done["metrics"];
    assert_eq!(metrics["entered"], 40);
    assert_eq!(metrics["completed"], 40);
    assert_eq!(metrics["unknown"], 0);
    assert_eq!(metrics["failed"], 0);

    // Exactly one message per recipient at each send node, never two.
    assert_eq!(
        app.count_where("messages", "node_id = 'vip-msg'").await,
        vips
    );
    let group_a = app
        .count_where("customers", "CAST(tags AS TEXT) LIKE '%grupo-a%'")
        .await;
    let group_b = app.count_where("messages", "node_id = 'mail-b'").await;
    assert_eq!(
        group_a + group_b,
        40 - vips,
        "every non-vip went down exactly one arm"
    );
    assert!(
        group_a > 0 && group_b > 0,
        "the split used both arms ({group_a}/{group_b})"
    );
    assert_eq!(
        app.count_where("customers", "CAST(metadata AS TEXT) LIKE '%grupo%'")
            .await,
        group_a,
        "updateCustomer.set reached metadata"
    );
    assert_eq!(metrics["sent"], vips + group_b);
    assert_eq!(metrics["nodes"]["vip-msg"]["sent"], vips);
    assert_eq!(
        app.count_rows("messages").await,
        app.count_where("messages", "status = 'sent'").await
    );
    assert_eq!(
        app.count_rows("tracked_links").await,
        vips,
        "one tracked link per vip message"
    );

    // A click on a tracked link redirects and counts.
    let code: String = {
        use sea_orm::EntityTrait;
        entity::tracked_link::Entity::find()
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .code
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = client
        .get(app.url(&format!("/r/{code}")))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302);
    assert_eq!(
        redirect.headers()["location"],
        "https://curso.example.com/aula-1"
    );
    assert_eq!(
        client
            .get(app.url("/r/naoexiste1"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let clicked = app
        .graphql(
            Some(&agent),
            "query($id: ID!) { campaignExecution(id: $id) { metrics } }",
            json!({"id": execution}),
        )
        .await;
    assert_eq!(clicked.data("campaignExecution")["metrics"]["clicked"], 1);

    let recipients = app
        .graphql(Some(&agent), "query($id: ID!) { campaignExecution(id: $id) { recipients(first: 100, filter: {status: \"completed\"}) { totalCount edges { node { status customer { email } } } } } }", json!({"id": execution}))
        .await;
    assert_eq!(
        recipients.data("campaignExecution")["recipients"]["totalCount"],
        40
    );
    let totals = app
        .graphql(
            Some(&agent),
            "query($id: ID!) { campaignMetrics(campaignId: $id) }",
            json!({"id": campaign}),
        )
        .await;
    assert_eq!(totals.data("campaignMetrics")["entered"], 40);
}
on_both_backends!(
    a_branching_campaign_reaches_each_recipient_as_drawn,
    a_branching_campaign_reaches_each_recipient_as_drawn
);

async fn invalid_graphs_are_not_published_and_paused_campaigns_do_not_run(app: TestApp) {
    let ws = app.create_workspace("jornada-invalida").await;
    let agent = app.agent_token(ws);
    let broken = json!({"nodes": [node("start", "trigger", json!({"source": "manual"})), node("c", "condition", json!({"rules": []}))], "edges": [edge("start", "c")]});
    let created = app.graphql(Some(&agent), "mutation($doc: JSON!) { createCampaign(input: {name: \"Quebrada\", workflowData: $doc}) { id } }", json!({"doc": broken})).await;
    let id = created.data("createCampaign")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!) { publishCampaign(id: $id) { status } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(refused.error_code(), Some("INVALID_INPUT"));
    assert!(
        refused.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unconnected_handle"),
        "{}",
        refused.body
    );
    let problems = app
        .graphql(
            Some(&agent),
            "query($doc: JSON!) { validateWorkflow(workflowData: $doc) { nodeId code } }",
            json!({"doc": broken}),
        )
        .await;
    assert!(
        problems
            .data("validateWorkflow")
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["nodeId"] == "c" && p["code"] == "unconnected_handle")
    );
    assert_eq!(app.count_rows("campaign_versions").await, 0);
    let group = app.graphql(Some(&agent), "mutation { createTargetGroupMapping(input: {crmName: \"Todos\", source: \"customers\"}) { id } }", json!({})).await;
    let group = group.data("createTargetGroupMapping")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let not_published = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!, $g: ID!) { runCampaign(id: $id, targetGroupId: $g) { id } }",
            json!({"id": id, "g": group}),
        )
        .await;
    assert_eq!(not_published.error_code(), Some("CONFLICT"));
    let pause_draft = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!) { pauseCampaign(id: $id) { status } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(pause_draft.error_code(), Some("CONFLICT"));
}
on_both_backends!(
    invalid_graphs_are_not_published_and_paused_campaigns_do_not_run,
    invalid_graphs_are_not_published_and_paused_campaigns_do_not_run
);

/// Welcome on purchase: a message, then wait for the first access.
fn welcome_journey() -> Value {
    json!({
        "nodes": [
            node("start", "trigger", json!({"source": "event", "event": "purchase_approved", "reentry": "never"})),
            node("welcome", "sendMessage", json!({"channel": "log", "body": "Bem-vinda, {{customer.first_name}}!"})),
            node("wait", "waitForEvent", json!({"event": "first_access", "timeout": "P3D"})),
            node("accessed", "exit", json!({"goal": "first_access"})),
            node("rescue", "exit", json!({}))
        ],
        "edges": [
            edge("start", "welcome"),
            edge("welcome", "wait"),
            branch("wait", "event", "accessed"),
            branch("wait", "timeout", "rescue")
        ]
    })
}

async fn an_event_triggered_campaign_starts_on_purchase_and_resumes_on_first_access(app: TestApp) {
    use crate::hotmart_webhooks::{HOTTOK, purchase};
    let ws = app.hotmart_workspace("boas-vindas").await;
    let agent = app.agent_token(ws);
    let created = app.graphql(Some(&agent), "mutation($doc: JSON!) { createCampaign(input: {name: \"Boas-vindas\", workflowData: $doc}) { id } }", json!({"doc": welcome_journey()})).await;
    let campaign = created.data("createCampaign")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.graphql(
        Some(&agent),
        "mutation($id: ID!) { publishCampaign(id: $id) { status } }",
        json!({"id": campaign}),
    )
    .await
    .data("publishCampaign");

    let approved = purchase(
        "PURCHASE_APPROVED",
        "APPROVED",
        "HP-BV-1",
        "nova@example.com",
        1_767_225_600_000,
    );
    assert_eq!(
        app.post_hotmart("boas-vindas", Some(HOTTOK), &approved)
            .await
            .0,
        200
    );
    app.drain().await;
    let one_recipient_once_idle = |status: &'static str| {
        let app = &app;
        async move {
            app.drain().await;
            assert_eq!(
                app.count_where("campaign_recipients", &format!("status = '{status}'"))
                    .await,
                1,
                "one recipient is {status} once the worker is idle"
            );
        }
    };
    one_recipient_once_idle("waiting").await;
    assert_eq!(
        app.count_where("messages", "node_id = 'welcome' AND status = 'sent'")
            .await,
        1
    );

    // The same purchase again, and a second purchase: re-entry is `never`.
    assert_eq!(
        app.post_hotmart("boas-vindas", Some(HOTTOK), &approved)
            .await
            .1["status"],
        "duplicate"
    );
    let second = purchase(
        "PURCHASE_APPROVED",
        "APPROVED",
        "HP-BV-2",
        "nova@example.com",
        1_767_312_000_000,
    );
    assert_eq!(
        app.post_hotmart("boas-vindas", Some(HOTTOK), &second)
            .await
            .0,
        200
    );
    app.drain().await;
    assert_eq!(app.count_rows("campaign_recipients").await, 1);

    let access = json!({"id": Uuid::new_v4().to_string(), "event": "CLUB_FIRST_ACCESS", "version": "2.0.0", "creation_date": 1_767_400_000_000_i64,
        "data": {"product": {"id": 3526906, "name": "Curso de Confeitaria"}, "user": {"name": "Nova", "email": "nova@example.com"}}});
    assert_eq!(
        app.post_hotmart("boas-vindas", Some(HOTTOK), &access)
            .await
            .0,
        200
    );
    app.drain().await;
    one_recipient_once_idle("completed").await;
    let recipient: (Option<String>, Value) = {
        use sea_orm::EntityTrait;
        let r = entity::campaign_recipient::Entity::find()
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        (r.current_node_id, r.state)
    };
    assert_eq!(
        recipient.1,
        json!({"goal": "first_access"}),
        "left through the event branch"
    );
    assert_eq!(
        app.count_rows("messages").await,
        1,
        "the welcome was sent once"
    );
}
on_both_backends!(
    an_event_triggered_campaign_starts_on_purchase_and_resumes_on_first_access,
    an_event_triggered_campaign_starts_on_purchase_and_resumes_on_first_access
);

/// Runs the worker until it is idle; the queue then holds `count` pending
/// items, and is returned.
async fn pending_dispatches(app: &TestApp, agent: &str, count: u64) -> Value {
    app.drain().await;
    let answer = app.graphql(Some(agent), "{ dispatchQueue(filter: {status: PENDING}) { totalCount edges { node { id reason nodeId context { ltvTotal } } } } }", json!({})).await;
    let queue = answer.data("dispatchQueue").clone();
    assert_eq!(queue["totalCount"], count, "{queue}");
    queue
}

/// trigger → approval gate → approved: message → exit; rejected/expired: exit.
fn gated_journey() -> Value {
    json!({
        "nodes": [
            node("start", "trigger", json!({"source": "manual"})),
            node("gate", "approval", json!({"expiresAfter": "P2D"})),
            node("offer", "sendMessage", json!({"channel": "log", "body": "Oferta especial", "requireApproval": true})),
            node("done", "exit", json!({})),
            node("no", "exit", json!({})),
            node("late", "exit", json!({}))
        ],
        "edges": [
            edge("start", "gate"),
            branch("gate", "approved", "offer"),
            branch("gate", "rejected", "no"),
            branch("gate", "expired", "late"),
            edge("offer", "done")
        ]
    })
}

async fn approvals_hold_recipients_until_a_person_decides(app: TestApp) {
    let ws = app.create_workspace("controle-hibrido").await;
    let agent = app.agent_token(ws);
    for i in 0..3 {
        app.create_customer(ws, &format!("aluna{i}@example.com"))
            .await;
    }
    let (_, execution) = app.run_journey(ws, gated_journey()).await;
    let gates = pending_dispatches(&app, &agent, 3).await;
    assert_eq!(gates["edges"][0]["node"]["nodeId"], "gate");
    assert_eq!(
        app.count_rows("messages").await,
        0,
        "nothing is sent while waiting for a person"
    );
    let ids: Vec<Value> = gates["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].clone())
        .collect();
    let reader = app.reader_token(ws);
    let refused = app
        .graphql(
            Some(&reader),
            "mutation($ids: [ID!]!) { approveDispatches(ids: $ids) { decided } }",
            json!({"ids": ids}),
        )
        .await;
    assert_eq!(refused.error_code(), Some("FORBIDDEN"));
    let rejected = app.graphql(Some(&agent), "mutation($ids: [ID!]!) { rejectDispatches(ids: $ids, reason: \"fora do perfil\") { matched decided skipped items { status rejectionReason decidedBy } } }", json!({"ids": [ids[0]]})).await;
    assert_eq!(
        rejected.data("rejectDispatches"),
        &json!({"matched": 1, "decided": 1, "skipped": 0, "items": [{"status": "REJECTED", "rejectionReason": "fora do perfil", "decidedBy": "test"}]})
    );
    let approved = app
        .graphql(
            Some(&agent),
            "mutation($ids: [ID!]!) { approveDispatches(ids: $ids) { decided } }",
            json!({"ids": [ids[1], ids[2]]}),
        )
        .await;
    assert_eq!(approved.data("approveDispatches")["decided"], 2);
    // Deciding again changes nothing: the item is no longer pending.
    let twice = app
        .graphql(
            Some(&agent),
            "mutation($ids: [ID!]!) { approveDispatches(ids: $ids) { matched decided skipped } }",
            json!({"ids": [ids[1]]}),
        )
        .await;
    assert_eq!(
        twice.data("approveDispatches"),
        &json!({"matched": 1, "decided": 0, "skipped": 1})
    );

    // The approved two reach the message, which itself asks for approval.
    let offers = pending_dispatches(&app, &agent, 2).await;
    let offer_nodes: Vec<&Value> = offers["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"]["nodeId"])
        .collect();
    assert_eq!(offer_nodes.iter().filter(|n| **n == "offer").count(), 2);
    let offer_ids: Vec<Value> = offers["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["nodeId"] == "offer")
        .map(|e| e["node"]["id"].clone())
        .collect();
    app.graphql(
        Some(&agent),
        "mutation($ids: [ID!]!) { approveDispatches(ids: $ids) { decided } }",
        json!({"ids": offer_ids}),
    )
    .await
    .data("approveDispatches");
    let done = app.completed_execution(ws, &execution).await;
    assert_eq!(done["metrics"]["sent"], 2);
    assert_eq!(done["metrics"]["completed"], 3);
    assert_eq!(app.count_where("messages", "node_id = 'offer'").await, 2);
}
on_both_backends!(
    approvals_hold_recipients_until_a_person_decides,
    approvals_hold_recipients_until_a_person_decides
);

async fn bi_views_report_campaigns(app: TestApp) {
    let ws = app.create_workspace("painel").await;
    for i in 0..5 {
        app.create_customer(ws, &format!("bi{i}@example.com")).await;
    }
    let (_, execution) = app.run_journey(ws, branching_journey()).await;
    app.completed_execution(ws, &execution).await;
    use sea_orm::ConnectionTrait;
    let backend = app.db.get_database_backend();
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            backend,
            "SELECT entered, sent, failed, unknown FROM campaign_metrics WHERE name = 'Jornada'"
                .to_owned(),
        ))
        .await
        .expect("the view answers")
        .expect("a row for the campaign");
    assert_eq!(row.try_get::<i64>("", "entered").unwrap(), 5);
    let sent = row.try_get::<i64>("", "sent").unwrap();
    assert_eq!(sent, app.count_where("messages", "status = 'sent'").await);
    assert_eq!(row.try_get::<i64>("", "unknown").unwrap(), 0);
    let active = app.count_rows("active_campaigns").await;
    assert_eq!(active, 1, "the published campaign is active");
}
on_both_backends!(bi_views_report_campaigns, bi_views_report_campaigns);

async fn a_trigger_on_an_event_jornada_never_records_is_not_published(app: TestApp) {
    let ws = app.create_workspace("evento-errado").await;
    let agent = app.agent_token(ws);
    let misspelt = json!({
        "nodes": [
            node("t", "trigger", json!({"source": "event", "event": "purchase_aproved"})),
            node("x", "exit", json!({})),
        ],
        "edges": [edge("t", "x")],
    });
    let problems = app
        .graphql(
            Some(&agent),
            "query($doc: JSON!) { validateWorkflow(workflowData: $doc) { nodeId code message } }",
            json!({"doc": misspelt}),
        )
        .await;
    let problems = problems
        .data("validateWorkflow")
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["nodeId"], "t");
    assert_eq!(problems[0]["code"], "unknown_event");
    assert!(
        problems[0]["message"]
            .as_str()
            .unwrap()
            .contains("purchase_approved")
    );
    let created = app
        .graphql(
            Some(&agent),
            "mutation($doc: JSON!) { createCampaign(input: {name: \"Boas-vindas\", workflowData: $doc}) { id } }",
            json!({"doc": misspelt}),
        )
        .await;
    let refused = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!) { publishCampaign(id: $id) { status } }",
            json!({"id": created.data("createCampaign")["id"]}),
        )
        .await;
    assert_eq!(refused.error_code(), Some("INVALID_INPUT"));
    assert!(
        refused.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown_event"),
        "{}",
        refused.body
    );
    assert_eq!(app.count_rows("campaign_versions").await, 0);
}
on_both_backends!(
    a_trigger_on_an_event_jornada_never_records_is_not_published,
    a_trigger_on_an_event_jornada_never_records_is_not_published
);
