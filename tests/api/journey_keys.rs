//! Journeys keyed on what started them: one customer with two purchases in
//! flight is in two journeys, each ended by its own payment, each sent its
//! own messages; event triggers filtered on a product or an offer start only
//! for it. Real Hotmart postbacks, messages at a real SMTP listener.

use chrono::Duration;
use serde_json::{Value, json};

use crate::fakes::smtp::{FakeSmtp, ReceivedMail};
use crate::helpers::TestApp;
use crate::hotmart_events::Shop;
use crate::hotmart_webhooks::{DAY_MS, HOTTOK, Sale, first_access, now_ms, product_ref};
use crate::journeys::{branch, edge, node};
use crate::on_both_backends;
use crate::templates::set_setting;

const MARIA: &str = "maria@exemplo.com";

/// A shop selling two courses, its e-mails going to a fake SMTP server.
struct Courses<'a> {
    shop: Shop<'a>,
    smtp: FakeSmtp,
    /// jornada product ids of the courses (Hotmart ids 1111 and 2222).
    course_a: String,
    course_b: String,
}

impl<'a> Courses<'a> {
    async fn open(app: &'a TestApp, slug: &str) -> Courses<'a> {
        let shop = Shop::open(app, slug).await;
        let smtp = FakeSmtp::spawn().await;
        set_setting(app, shop.workspace, "smtp.url", &smtp.url()).await;
        set_setting(
            app,
            shop.workspace,
            "smtp.from",
            "Escola <escola@exemplo.com>",
        )
        .await;
        let product = |hotmart_id: &str, name: &str| {
            let (shop, hotmart_id, name) = (&shop, hotmart_id.to_owned(), name.to_owned());
            async move {
                shop.query(
                    "mutation($h: String, $n: String!) { upsertProduct(input: {hotmartProductId: $h, name: $n}) { id } }",
                    json!({"h": hotmart_id, "n": name}),
                    "upsertProduct",
                )
                .await["id"]
                    .as_str()
                    .expect("a product id")
                    .to_owned()
            }
        };
        let course_a = product("1111", "Curso A").await;
        let course_b = product("2222", "Curso B").await;
        Courses {
            shop,
            smtp,
            course_a,
            course_b,
        }
    }

    fn app(&self) -> &'a TestApp {
        self.shop.app
    }

    /// Creates and publishes a campaign; returns its id.
    async fn publish(&self, document: Value) -> String {
        self.app()
            .publish_journey(self.shop.workspace, document)
            .await
    }

    /// Posts a postback and applies it (and whatever it starts or wakes).
    async fn post(&self, body: &Value) {
        self.shop.post_all(std::slice::from_ref(body)).await;
    }

    /// Posts a postback again: Hotmart redelivering it, or sending the same
    /// change under a new envelope id.
    async fn post_again(&self, body: &Value) {
        let (status, answer) = self
            .app()
            .post_hotmart(&self.shop.slug, Some(HOTTOK), body)
            .await;
        assert_eq!(status, 200, "{answer}");
        self.app().drain().await;
    }

    /// Every recipient of the campaign's executions, as (execution, status,
    /// entry key), ordered by the transaction or product that started it.
    async fn recipients(&self, campaign: &str) -> Vec<(String, String, Value)> {
        let executions = self
            .shop
            .query(
                "query($c: ID!) { campaignExecutions(campaignId: $c, first: 10) { nodes { id
                    recipients(first: 10) { nodes { status entryKey customer { email } } } } } }",
                json!({"c": campaign}),
                "campaignExecutions",
            )
            .await;
        let mut recipients = Vec::new();
        for execution in executions["nodes"].as_array().expect("executions") {
            for recipient in execution["recipients"]["nodes"].as_array().expect("nodes") {
                assert_eq!(recipient["customer"]["email"], MARIA);
                recipients.push((
                    execution["id"].as_str().expect("id").to_owned(),
                    recipient["status"].as_str().expect("status").to_owned(),
                    recipient["entryKey"].clone(),
                ));
            }
        }
        recipients.sort_by_key(|(_, _, key)| {
            (key["transaction"].to_string(), key["productId"].to_string())
        });
        recipients
    }

    /// The e-mails Maria received, as (subject, body).
    fn mails(&self) -> Vec<(String, String)> {
        self.smtp
            .messages()
            .iter()
            .map(|mail: &ReceivedMail| {
                assert_eq!(mail.rcpt_to, [MARIA]);
                (
                    mail.header("Subject").unwrap_or_default(),
                    mail.body().to_owned(),
                )
            })
            .collect()
    }
}

/// A billet sale of the course with Hotmart id `hotmart_id`.
fn billet_sale(transaction: &str, hotmart_id: i64, name: &str, order_ms: i64) -> Sale {
    Sale::new(transaction, MARIA, order_ms)
        .product(json!(hotmart_id), name)
        .payment("BILLET", 1)
        .approved_at(None)
}

/// The same sale, paid at `paid_ms`: its PURCHASE_APPROVED.
fn paid(sale: &Sale, paid_ms: i64) -> Value {
    sale.clone()
        .approved_at(Some(paid_ms))
        .event("PURCHASE_APPROVED", "APPROVED", paid_ms)
}

/// Billet printed → wait two days for that same purchase's payment → paid:
/// exit / not paid: a reminder naming the course and the order.
fn billet_journey() -> Value {
    json!({
        "nodes": [
            node("start", "trigger", json!({"source": "event", "event": "billet_printed", "reentry": "perKey"})),
            node("wait", "waitForEvent", json!({"event": "purchase_approved", "timeout": "P2D", "match": "transaction"})),
            node("paid", "exit", json!({"goal": "purchase_approved"})),
            node("remind", "sendMessage", json!({"channel": "email",
                "subject": "Seu boleto de {{event.productName}}",
                "body": "Pedido {{event.transaction}}: o boleto vence amanha."})),
            node("end", "exit", json!({}))
        ],
        "edges": [
            edge("start", "wait"),
            branch("wait", "event", "paid"),
            branch("wait", "timeout", "remind"),
            edge("remind", "end")
        ]
    })
}

async fn each_billet_journey_ends_with_its_own_payment(app: TestApp) {
    let courses = Courses::open(&app, "boletos").await;
    let campaign = courses.publish(billet_journey()).await;
    let base = now_ms() - DAY_MS;
    let sale_a = billet_sale("HP-BOLETO-A", 1111, "Curso A", base);
    let sale_b = billet_sale("HP-BOLETO-B", 2222, "Curso B", base + 60_000);

    // Two billets printed: two journeys of one execution, each with its key.
    courses.post(&sale_a.billet_printed(base)).await;
    courses.post(&sale_b.billet_printed(base + 60_000)).await;
    let recipients = courses.recipients(&campaign).await;
    assert_eq!(recipients.len(), 2, "{recipients:?}");
    assert_eq!(recipients[0].0, recipients[1].0, "one execution");
    let key = |transaction: &str, product: &str, name: &str| {
        json!({"event": "billet_printed", "transaction": transaction, "productId": product,
            "productName": name, "offerCode": "n82b9jqz"})
    };
    assert_eq!(
        recipients
            .iter()
            .map(|(_, status, key)| (status.as_str(), key.clone()))
            .collect::<Vec<_>>(),
        vec![
            ("waiting", key("HP-BOLETO-A", &courses.course_a, "Curso A")),
            ("waiting", key("HP-BOLETO-B", &courses.course_b, "Curso B")),
        ]
    );

    // A is paid: A's journey ends; B's keeps waiting for B's payment.
    courses.post(&paid(&sale_a, base + 120_000)).await;
    let statuses = |recipients: Vec<(String, String, Value)>| {
        recipients
            .into_iter()
            .map(|(_, status, key)| {
                (
                    key["transaction"].as_str().unwrap_or_default().to_owned(),
                    status,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        statuses(courses.recipients(&campaign).await),
        vec![
            ("HP-BOLETO-A".to_owned(), "completed".to_owned()),
            ("HP-BOLETO-B".to_owned(), "waiting".to_owned()),
        ]
    );
    // Redelivered, and re-sent under a new envelope id: nothing new.
    let printed_b = sale_b.billet_printed(base + 60_000);
    courses.post_again(&printed_b).await;
    let mut resent = printed_b.clone();
    resent["id"] = json!(uuid::Uuid::new_v4().to_string());
    courses.post_again(&resent).await;
    assert_eq!(courses.recipients(&campaign).await.len(), 2);

    // A day later B is still waiting, and nobody was reminded.
    app.advance(Duration::days(1)).await;
    assert_eq!(
        statuses(courses.recipients(&campaign).await)[1].1,
        "waiting"
    );
    assert!(courses.mails().is_empty(), "{:?}", courses.mails());

    // Past the two days B's journey times out and reminds of B, once.
    app.advance(Duration::days(1) + Duration::hours(1)).await;
    assert_eq!(
        statuses(courses.recipients(&campaign).await),
        vec![
            ("HP-BOLETO-A".to_owned(), "completed".to_owned()),
            ("HP-BOLETO-B".to_owned(), "completed".to_owned()),
        ]
    );
    let mails = courses.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].0, "Seu boleto de Curso B");
    assert!(
        mails[0]
            .1
            .contains("Pedido HP-BOLETO-B: o boleto vence amanha."),
        "{}",
        mails[0].1
    );
    app.advance(Duration::days(3)).await;
    assert_eq!(courses.mails().len(), 1, "nothing is sent twice");
}
on_both_backends!(
    each_billet_journey_ends_with_its_own_payment,
    each_billet_journey_ends_with_its_own_payment
);

async fn per_key_reentry_welcomes_each_purchase_once(app: TestApp) {
    let courses = Courses::open(&app, "boas-vindas-por-curso").await;
    let campaign = courses
        .publish(json!({
            "nodes": [
                node("start", "trigger", json!({"source": "event", "event": "purchase_approved", "reentry": "perKey"})),
                node("welcome", "sendMessage", json!({"channel": "email",
                    "subject": "Bem-vinda ao {{event.productName}}",
                    "body": "Compra {{event.transaction}} confirmada."})),
                node("end", "exit", json!({}))
            ],
            "edges": [edge("start", "welcome"), edge("welcome", "end")]
        }))
        .await;
    let base = now_ms() - DAY_MS;
    let sale_a = Sale::new("HP-CARTAO-A", MARIA, base).product(json!(1111), "Curso A");
    let sale_b = Sale::new("HP-CARTAO-B", MARIA, base + 60_000).product(json!(2222), "Curso B");
    let approved_a = sale_a.event("PURCHASE_APPROVED", "APPROVED", base + 1_000);
    let approved_b = sale_b.event("PURCHASE_APPROVED", "APPROVED", base + 61_000);
    courses.post(&approved_a).await;
    courses.post(&approved_b).await;

    let recipients = courses.recipients(&campaign).await;
    assert_eq!(recipients.len(), 2, "{recipients:?}");
    assert_eq!(recipients[0].0, recipients[1].0, "one execution");
    assert_eq!(
        recipients
            .iter()
            .map(|(_, status, key)| (
                status.as_str(),
                key["transaction"].clone(),
                key["productId"].clone()
            ))
            .collect::<Vec<_>>(),
        vec![
            ("completed", json!("HP-CARTAO-A"), json!(courses.course_a)),
            ("completed", json!("HP-CARTAO-B"), json!(courses.course_b)),
        ]
    );
    let mut mails = courses.mails();
    mails.sort();
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert_eq!(mails[0].0, "Bem-vinda ao Curso A");
    assert!(
        mails[0].1.contains("Compra HP-CARTAO-A confirmada."),
        "{}",
        mails[0].1
    );
    assert_eq!(mails[1].0, "Bem-vinda ao Curso B");
    assert!(
        mails[1].1.contains("Compra HP-CARTAO-B confirmada."),
        "{}",
        mails[1].1
    );

    // The same postbacks again, as redeliveries and under new envelope ids.
    for body in [&approved_a, &approved_b] {
        courses.post_again(body).await;
        let mut resent = body.clone();
        resent["id"] = json!(uuid::Uuid::new_v4().to_string());
        courses.post_again(&resent).await;
    }
    app.advance(Duration::hours(1)).await;
    assert_eq!(courses.recipients(&campaign).await.len(), 2);
    assert_eq!(courses.mails().len(), 2, "each welcome exactly once");
    assert_eq!(
        app.count_where("messages", "status = 'sent'").await,
        2,
        "two sends recorded"
    );
}
on_both_backends!(
    per_key_reentry_welcomes_each_purchase_once,
    per_key_reentry_welcomes_each_purchase_once
);

async fn triggers_filtered_on_a_product_or_offer_ignore_the_others(app: TestApp) {
    let courses = Courses::open(&app, "filtros").await;
    let agent = &courses.shop.token;

    // A course the workspace does not sell is refused, named on the trigger.
    let unknown = uuid::Uuid::new_v4().to_string();
    let onboarding = |products: Vec<String>| {
        json!({
            "nodes": [
                node("start", "trigger", json!({"source": "event", "event": "purchase_approved", "productIds": products})),
                node("access", "waitForEvent", json!({"event": "first_access", "timeout": "P3D", "match": "product"})),
                node("in", "exit", json!({"goal": "first_access"})),
                node("nudge", "sendMessage", json!({"channel": "email",
                    "subject": "Acesse o {{event.productName}}", "body": "Seu acesso: {{event.productId}}"})),
                node("out", "exit", json!({}))
            ],
            "edges": [
                edge("start", "access"),
                branch("access", "event", "in"),
                branch("access", "timeout", "nudge"),
                edge("nudge", "out")
            ]
        })
    };
    let problems = app
        .graphql(
            Some(agent),
            "query($d: JSON!) { validateWorkflow(workflowData: $d) { nodeId code } }",
            json!({"d": onboarding(vec![unknown.clone()])}),
        )
        .await;
    assert_eq!(
        problems.data("validateWorkflow"),
        &json!([{"nodeId": "start", "code": "unknown_product"}])
    );
    let mut wrong = onboarding(vec![courses.course_a.clone()]);
    wrong["nodes"][1]["data"]["match"] = json!("transaction");
    wrong["nodes"][1]["data"]["event"] = json!("first_access");
    let problems = app
        .graphql(
            Some(agent),
            "query($d: JSON!) { validateWorkflow(workflowData: $d) { nodeId code } }",
            json!({"d": wrong}),
        )
        .await;
    assert_eq!(
        problems.data("validateWorkflow"),
        &json!([{"nodeId": "access", "code": "event_key_missing"}]),
        "a first access names no purchase"
    );
    let created = app
        .graphql(
            Some(agent),
            "mutation($doc: JSON!) { createCampaign(input: {name: \"Outro curso\", workflowData: $doc}) { id } }",
            json!({"doc": onboarding(vec![unknown])}),
        )
        .await;
    let refused = app
        .graphql(
            Some(agent),
            "mutation($id: ID!) { publishCampaign(id: $id) { status } }",
            json!({"id": created.data("createCampaign")["id"]}),
        )
        .await;
    assert_eq!(refused.error_code(), Some("INVALID_INPUT"));

    // Onboarding for course A only; a promotion for offer "promo" only.
    let course_a_only = courses
        .publish(onboarding(vec![courses.course_a.clone()]))
        .await;
    let promo_only = courses
        .publish(json!({
            "nodes": [
                node("start", "trigger", json!({"source": "event", "event": "purchase_approved", "offerCodes": ["promo"]})),
                node("end", "exit", json!({}))
            ],
            "edges": [edge("start", "end")]
        }))
        .await;

    // Maria buys course B through the promotion.
    let base = now_ms() - DAY_MS;
    let sale_b = Sale::new("HP-FILTRO-B", MARIA, base)
        .product(json!(2222), "Curso B")
        .offer("promo");
    courses
        .post(&sale_b.event("PURCHASE_APPROVED", "APPROVED", base + 1_000))
        .await;
    assert!(
        courses.recipients(&course_a_only).await.is_empty(),
        "B does not start A's onboarding"
    );
    let promo = courses.recipients(&promo_only).await;
    assert_eq!(promo.len(), 1);
    assert_eq!(promo[0].2["transaction"], "HP-FILTRO-B");
    assert_eq!(promo[0].2["offerCode"], "promo");

    // Then course A at its usual offer: A's onboarding starts, the promotion does not.
    let sale_a = Sale::new("HP-FILTRO-A", MARIA, base + 60_000).product(json!(1111), "Curso A");
    courses
        .post(&sale_a.event("PURCHASE_APPROVED", "APPROVED", base + 61_000))
        .await;
    let onboarded = courses.recipients(&course_a_only).await;
    assert_eq!(onboarded.len(), 1);
    assert_eq!(onboarded[0].1, "waiting");
    assert_eq!(onboarded[0].2["productId"], json!(courses.course_a));
    assert_eq!(courses.recipients(&promo_only).await.len(), 1);

    // Her first access to course B does not end A's onboarding; A's does.
    let at = now_ms();
    courses
        .post(&first_access(
            MARIA,
            "Maria Silva",
            product_ref(json!(2222), "Curso B"),
            at,
        ))
        .await;
    assert_eq!(courses.recipients(&course_a_only).await[0].1, "waiting");
    courses
        .post(&first_access(
            MARIA,
            "Maria Silva",
            product_ref(json!(1111), "Curso A"),
            at + 1_000,
        ))
        .await;
    assert_eq!(courses.recipients(&course_a_only).await[0].1, "completed");
    app.advance(Duration::days(4)).await;
    assert!(courses.mails().is_empty(), "she accessed: no nudge");
}
on_both_backends!(
    triggers_filtered_on_a_product_or_offer_ignore_the_others,
    triggers_filtered_on_a_product_or_offer_ignore_the_others
);
