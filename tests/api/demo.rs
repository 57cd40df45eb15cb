//! `jornada demo`: the demo workspace as a user of its GraphQL API sees it
//! after the fill, a second run that changes nothing, and `--reset`.

use chrono::{DateTime, Duration, Utc};
use jornada::demo::{Demo, Outcome};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::on_both_backends;

/// Fewer buyers than the command's 800, over two months rather than six,
/// so both backends fill in seconds.
const CUSTOMERS: usize = 60;
const DAYS: i64 = 60;

fn demo(app: &TestApp, until: DateTime<Utc>) -> Demo {
    Demo {
        db: app.db.clone(),
        secrets: app.secrets.clone(),
        jwt: app.jwt.clone(),
        public_url: "http://jornada.test".into(),
        customers: CUSTOMERS,
        until,
        days: DAYS,
    }
}

/// Everything the test compares between runs, as GraphQL answers it.
async fn counts(app: &TestApp, token: &str) -> Value {
    let answer = app
        .graphql(
            Some(token),
            "{ customers(first: 1) { totalCount }
               transactions(first: 1) { totalCount }
               webhookEvents(first: 1) { totalCount }
               dispatchQueue(first: 1) { totalCount }
               pending: dispatchQueue(first: 1, filter: {status: PENDING}) { totalCount }
               campaigns(first: 5) { totalCount }
               messageTemplates(first: 1) { totalCount } }",
            json!({}),
        )
        .await;
    answer.body["data"].clone()
}

async fn the_demo_fills_a_believable_school_once(app: TestApp) {
    let until = Utc::now();
    let (workspace, outcome) = jornada::demo::run(&demo(&app, until), false)
        .await
        .expect("the demo fills");
    assert_eq!(outcome, Outcome::Filled);
    let token = app.agent_token(workspace);
    let ask = |query: &'static str, variables: Value| {
        let token = token.clone();
        let app = &app;
        async move { app.graphql(Some(&token), query, variables).await }
    };

    let products = ask(
        "{ products(first: 10) { totalCount nodes { name hotmartProductId lessons { moduleName pageName } } } }",
        json!({}),
    )
    .await;
    let products = products.data("products");
    assert_eq!(products["totalCount"], 3);
    for product in products["nodes"].as_array().unwrap() {
        let lessons = product["lessons"].as_array().unwrap();
        let mut modules: Vec<&str> = lessons
            .iter()
            .filter_map(|l| l["moduleName"].as_str())
            .collect();
        modules.dedup();
        assert!(modules.len() >= 4, "{product}");
        assert!(lessons.len() >= 10, "{product}");
        assert!(
            !product["name"]
                .as_str()
                .unwrap()
                .starts_with("Hotmart product")
        );
    }

    let people = ask(
        "{ customers(first: 100) { totalCount nodes { email phone } } }",
        json!({}),
    )
    .await;
    let people = people.data("customers");
    assert_eq!(people["totalCount"], CUSTOMERS);
    for person in people["nodes"].as_array().unwrap() {
        assert!(
            person["email"].as_str().unwrap().contains("@exemplo")
                || person["email"]
                    .as_str()
                    .unwrap()
                    .ends_with("email.exemplo.com")
        );
        let phone = person["phone"].as_str().unwrap_or("+55");
        assert!(phone.starts_with("+55"), "{phone}");
    }

    // The history's purchases: refunds, unpaid billets and Pix, the oldest
    // weeks ago, the newest days ago.
    let sales = ask(
        "query($old: DateTime!, $recent: DateTime!) {
            all: transactions(first: 1) { totalCount }
            refunded: transactions(first: 1, filter: {status: \"REFUNDED\"}) { totalCount }
            expired: transactions(first: 1, filter: {status: \"EXPIRED\"}) { totalCount }
            old: transactions(first: 1, filter: {to: $old}) { totalCount }
            recent: transactions(first: 1, filter: {from: $recent}) { totalCount } }",
        json!({"old": until - Duration::days(DAYS * 2 / 3), "recent": until - Duration::days(DAYS / 6)}),
    )
    .await;
    let total = |field: &str| {
        sales.body["data"][field]["totalCount"]
            .as_i64()
            .unwrap_or(0)
    };
    assert!(total("all") >= (CUSTOMERS as i64) / 2, "{}", sales.body);
    for field in ["refunded", "old", "recent"] {
        assert!(total(field) > 0, "no {field} purchases: {}", sales.body);
    }
    let printed = ask(
        "{ webhookEvents(first: 1, filter: {eventType: \"PURCHASE_BILLET_PRINTED\"}) { totalCount }
           failed: webhookEvents(first: 1, filter: {status: FAILED}) { totalCount } }",
        json!({}),
    )
    .await;
    assert!(
        printed.data("webhookEvents")["totalCount"]
            .as_i64()
            .unwrap()
            > 0
    );
    assert_eq!(
        printed.body["data"]["failed"]["totalCount"], 0,
        "every postback applied"
    );

    // The templates mirrored as APPROVED, and the queue with work in it.
    let templates = ask(
        "{ messageTemplates(first: 20, filter: {status: \"APPROVED\"}) { totalCount } }",
        json!({}),
    )
    .await;
    assert_eq!(templates.data("messageTemplates")["totalCount"], 9);
    let queue = ask(
        "{ dispatchQueue(first: 100, filter: {status: PENDING}) { totalCount nodes { reason trigger } }
           decided: dispatchQueue(first: 100, filter: {status: SENT}) { totalCount nodes { decidedBy } } }",
        json!({}),
    )
    .await;
    let pending = queue.data("dispatchQueue");
    assert!(pending["totalCount"].as_i64().unwrap() > 0, "{pending}");
    for item in pending["nodes"].as_array().unwrap() {
        let reason = item["reason"].as_str().unwrap();
        assert!(reason.len() > 10 && reason.is_char_boundary(1), "{item}");
    }
    assert!(
        queue.body["data"]["decided"]["totalCount"]
            .as_i64()
            .unwrap()
            > 0
    );

    // A finished campaign, with what Meta reported.
    let campaigns = ask("{ campaigns(first: 5) { nodes { id name } } }", json!({})).await;
    let campaign = campaigns.data("campaigns")["nodes"][0].clone();
    assert_eq!(campaign["name"], "Aula ao vivo: bolos de festa");
    let runs = ask(
        "query($id: ID!) { campaignExecutions(campaignId: $id) { nodes { status } } campaignMetrics(campaignId: $id) }",
        json!({"id": campaign["id"]}),
    )
    .await;
    assert_eq!(
        runs.data("campaignExecutions")["nodes"][0]["status"],
        "COMPLETED"
    );
    let metrics = &runs.body["data"]["campaignMetrics"];
    for field in ["sent", "delivered", "read"] {
        assert!(
            metrics[field].as_i64().unwrap_or(0) > 0,
            "{field}: {metrics}"
        );
    }

    // The sandbox is gone: WhatsApp reads as not configured.
    let rules = ask(
        "{ automationRules(first: 20) { nodes { key problems { code } } } }",
        json!({}),
    )
    .await;
    let welcome = rules.data("automationRules")["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "welcome")
        .cloned()
        .unwrap();
    assert!(
        welcome["problems"]
            .to_string()
            .contains("CHANNEL_NOT_CONFIGURED"),
        "{welcome}"
    );

    // Twice changes nothing; --reset fills the same school again.
    let before = counts(&app, &token).await;
    let (again, outcome) = jornada::demo::run(&demo(&app, until), false)
        .await
        .expect("second run");
    assert_eq!((again, outcome), (workspace, Outcome::AlreadyFilled));
    assert_eq!(counts(&app, &token).await, before);
    let (fresh, outcome) = jornada::demo::run(&demo(&app, until), true)
        .await
        .expect("reset");
    assert_eq!(outcome, Outcome::Filled);
    assert_ne!(fresh, workspace, "a new workspace");
    assert_eq!(counts(&app, &app.agent_token(fresh)).await, before);
    let gone = app
        .graphql(
            Some(&token),
            "{ customers(first: 1) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        gone.body["data"]["customers"]["totalCount"]
            .as_i64()
            .unwrap_or(0),
        0
    );
}
on_both_backends!(demo_fill, the_demo_fills_a_believable_school_once);
