//! GraphQL subscriptions over WebSocket: a queue screen and a builder's
//! counters follow what the worker and other agents do, with a real
//! `graphql-transport-ws` client.

mod client;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{ApiOnlyApp, ChildWorker, TestApp};
use crate::journeys::{branch, edge, node};
use crate::on_both_backends;
pub use client::LiveClient;

const QUEUE: &str = "subscription($f: DispatchFilter) { dispatchQueueChanged(filter: $f) { items { id status nodeId customerId } truncated totalCount pendingCount } }";
const METRICS: &str = "subscription($c: ID!) { campaignMetricsChanged(campaignId: $c) }";

/// trigger → approval gate → approved: a logged message → exit;
/// rejected or expired: exit.
fn gated_journey() -> Value {
    json!({
        "nodes": [
            node("start", "trigger", json!({"source": "manual"})),
            node("gate", "approval", json!({"expiresAfter": "P2D"})),
            node("offer", "sendMessage", json!({"channel": "log", "body": "Oferta especial"})),
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

/// The queue's next messages until one counts `total`; the items of all of
/// them, by id.
async fn queue_until(
    live: &mut LiveClient,
    id: &str,
    total: u64,
) -> (Value, std::collections::BTreeMap<String, Value>) {
    let mut items = std::collections::BTreeMap::new();
    loop {
        let change = live.next_data(id, "dispatchQueueChanged").await;
        for item in change["items"].as_array().expect("items") {
            items.insert(item["id"].as_str().expect("id").to_owned(), item.clone());
        }
        if change["totalCount"] == total {
            return (change, items);
        }
    }
}

async fn a_queue_screen_follows_suggestions_and_decisions(app: TestApp) {
    let ws = app.create_workspace("fila-ao-vivo").await;
    let agent = app.agent_token(ws);
    for i in 0..2 {
        app.create_customer(ws, &format!("aluna{i}@example.com"))
            .await;
    }
    let mut screen = LiveClient::with_token(&app, &agent).await;
    screen
        .subscribe("pending", QUEUE, json!({"f": {"status": "PENDING"}}))
        .await;
    // A read-only token may watch too, its token given as `token`.
    let mut reader = LiveClient::connect(&app, json!({"token": app.reader_token(ws)}))
        .await
        .expect("a read-only token is accepted");
    reader.subscribe("all", QUEUE, json!({})).await;
    let mut rejections = LiveClient::with_token(&app, &agent).await;
    rejections
        .subscribe("rejected", QUEUE, json!({"f": {"status": "REJECTED"}}))
        .await;
    for (live, id) in [
        (&mut screen, "pending"),
        (&mut reader, "all"),
        (&mut rejections, "rejected"),
    ] {
        let first = live.next_data(id, "dispatchQueueChanged").await;
        assert_eq!(
            first,
            json!({"items": [], "truncated": false, "totalCount": 0, "pendingCount": 0})
        );
    }

    // The worker suggests one item per customer at the approval gate.
    app.run_journey(ws, gated_journey()).await;
    app.drain().await;
    let (change, items) = queue_until(&mut screen, "pending", 2).await;
    assert_eq!(change["pendingCount"], 2);
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(
        items
            .values()
            .all(|i| i["status"] == "PENDING" && i["nodeId"] == "gate")
    );
    let (_, seen_by_reader) = queue_until(&mut reader, "all", 2).await;
    assert_eq!(seen_by_reader.len(), 2);

    // An agent approves one: it leaves the pending queue, with its status.
    let mut ids = items.keys().cloned();
    let (approved, rejected) = (ids.next().expect("one"), ids.next().expect("two"));
    app.graphql(
        Some(&agent),
        "mutation($ids: [ID!]!) { approveDispatches(ids: $ids) { decided } }",
        json!({"ids": [approved]}),
    )
    .await
    .data("approveDispatches");
    let (change, items) = queue_until(&mut screen, "pending", 1).await;
    assert_eq!(change["pendingCount"], 1);
    assert_eq!(items[&approved]["status"], "APPROVED", "{items:?}");
    let all = reader.next_data("all", "dispatchQueueChanged").await;
    assert_eq!(
        (&all["totalCount"], &all["pendingCount"]),
        (&json!(2), &json!(1))
    );
    assert_eq!(all["items"][0]["id"], approved.as_str());
    assert_eq!(all["items"][0]["status"], "APPROVED");

    // The other is rejected. The screen of rejections, whose result did not
    // change with the suggestions or the approval, hears of this first.
    app.graphql(
        Some(&agent),
        "mutation($ids: [ID!]!) { rejectDispatches(ids: $ids) { decided } }",
        json!({"ids": [rejected]}),
    )
    .await
    .data("rejectDispatches");
    let change = rejections
        .next_data("rejected", "dispatchQueueChanged")
        .await;
    assert_eq!(change["totalCount"], 1, "{change}");
    assert_eq!(change["items"][0]["id"], rejected.as_str());
    assert_eq!(change["items"][0]["status"], "REJECTED");
    let change = screen.next_data("pending", "dispatchQueueChanged").await;
    assert_eq!(
        (&change["totalCount"], &change["pendingCount"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(change["items"][0]["id"], rejected.as_str());
}
on_both_backends!(
    queue_screen_live,
    a_queue_screen_follows_suggestions_and_decisions
);

async fn a_builder_follows_its_campaign_metrics(app: TestApp) {
    let ws = app.create_workspace("metricas-ao-vivo").await;
    let agent = app.agent_token(ws);
    for i in 0..3 {
        app.create_customer(ws, &format!("aluna{i}@example.com"))
            .await;
    }
    let journey = json!({
        "nodes": [
            node("start", "trigger", json!({"source": "manual"})),
            node("hello", "sendMessage", json!({"channel": "log", "body": "Olá {{customer.first_name}}"})),
            node("end", "exit", json!({}))
        ],
        "edges": [edge("start", "hello"), edge("hello", "end")]
    });
    let campaign = app.publish_journey(ws, journey).await;
    let mut builder = LiveClient::with_token(&app, &agent).await;
    builder
        .subscribe("metrics", METRICS, json!({"c": campaign}))
        .await;
    let first = builder.next_data("metrics", "campaignMetricsChanged").await;
    assert_eq!(first, json!({}), "no run yet");

    let group = app.graphql(Some(&agent), "mutation { createTargetGroupMapping(input: {crmName: \"Todos\", source: \"customers\"}) { id } }", json!({})).await;
    let group = group.data("createTargetGroupMapping")["id"].clone();
    app.graphql(
        Some(&agent),
        "mutation($id: ID!, $g: ID!) { runCampaign(id: $id, targetGroupId: $g) { id } }",
        json!({"id": campaign, "g": group}),
    )
    .await
    .data("runCampaign");
    app.drain().await;
    let expected = app
        .graphql(
            Some(&agent),
            "query($c: ID!) { campaignMetrics(campaignId: $c) }",
            json!({"c": campaign}),
        )
        .await
        .data("campaignMetrics")
        .clone();
    assert_eq!(expected["sent"], 3, "{expected}");
    assert_eq!(expected["completed"], 3, "{expected}");
    // Messages may show the run part way; the last is what the query reads.
    loop {
        let metrics = builder.next_data("metrics", "campaignMetricsChanged").await;
        if metrics == expected {
            break;
        }
        assert!(
            metrics["sent"].as_u64() < Some(3) || metrics["completed"].as_u64() < Some(3),
            "{metrics}"
        );
    }
}
on_both_backends!(
    campaign_metrics_live,
    a_builder_follows_its_campaign_metrics
);

async fn one_workspace_hears_nothing_of_another(app: TestApp) {
    let a = app.create_workspace("ana").await;
    let b = app.create_workspace("bia").await;
    app.create_customer(a, "aluna@ana.example.com").await;
    let campaign_of_a = app.publish_journey(a, gated_journey()).await;
    let mut screen_of_b = LiveClient::with_token(&app, &app.agent_token(b)).await;
    screen_of_b.subscribe("queue", QUEUE, json!({})).await;
    let first = screen_of_b.next_data("queue", "dispatchQueueChanged").await;
    assert_eq!(first["totalCount"], 0);

    // A's ids behave as not found, as in queries.
    screen_of_b
        .subscribe("metrics", METRICS, json!({"c": campaign_of_a}))
        .await;
    let refused = screen_of_b.next_of("metrics").await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{refused}"
    );
    screen_of_b
        .subscribe(
            "other",
            "subscription($w: ID) { dispatchQueueChanged(workspaceId: $w) { totalCount } }",
            json!({"w": a}),
        )
        .await;
    let refused = screen_of_b.next_of("other").await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{refused}"
    );

    // A's queue fills; then B's gets one item. B's next message is B's.
    app.run_journey(a, gated_journey()).await;
    app.drain().await;
    let customer_of_b = app.create_customer(b, "aluna@bia.example.com").await;
    app.run_journey(b, gated_journey()).await;
    app.drain().await;
    let change = screen_of_b.next_data("queue", "dispatchQueueChanged").await;
    assert_eq!(change["totalCount"], 1, "{change}");
    assert_eq!(change["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(change["items"][0]["customerId"], customer_of_b.to_string());
}
on_both_backends!(
    subscriptions_are_isolated,
    one_workspace_hears_nothing_of_another
);

async fn a_missing_or_bad_token_is_refused(app: TestApp) {
    let ws = app.create_workspace("recusas").await;
    let foreign = api::JwtKeys::new(b"another-secret-that-is-long-enough!!").mint(
        api::Role::Authenticated,
        Some(ws),
        None,
        false,
        chrono::Duration::hours(1),
    );
    let expired = app.jwt.mint(
        api::Role::Authenticated,
        Some(ws),
        None,
        false,
        chrono::Duration::hours(-1),
    );
    for payload in [
        json!({}),
        json!({"Authorization": "Bearer "}),
        json!({"Authorization": format!("Bearer {foreign}")}),
        json!({"token": expired}),
        json!({"token": 42}),
    ] {
        let Err(closed) = LiveClient::connect(&app, payload.clone()).await else {
            panic!("{payload} was accepted");
        };
        assert_eq!(closed.code, 4403, "{payload}: {closed:?}");
        assert!(closed.reason.starts_with("Forbidden"), "{closed:?}");
    }

    // Over the socket, operations pass the same checks as over POST.
    let mut live = LiveClient::with_token(&app, &app.reader_token(ws)).await;
    live.subscribe(
        "write",
        "mutation { createCustomer(input: {email: \"x@example.com\"}) { id } }",
        json!({}),
    )
    .await;
    let refused = live.next_of("write").await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{refused}"
    );
    let deep = format!("subscription {}", "{".repeat(100));
    live.subscribe("deep", &deep, json!({})).await;
    let refused = live.next_of("deep").await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "INVALID_INPUT");
    live.subscribe("nul", QUEUE, json!({"f": {"status": "PENDING\u{0}"}}))
        .await;
    let refused = live.next_of("nul").await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "INVALID_INPUT");
    live.subscribe("read", "{ workflowNodeTypes { type } }", json!({}))
        .await;
    let answer = live.next_of("read").await;
    assert_eq!(answer["data"]["workflowNodeTypes"][0]["type"], "trigger");

    // A plain GET is not a WebSocket.
    let response = app
        .client
        .get(app.url("/graphql/ws"))
        .send()
        .await
        .expect("answered");
    assert!(response.status().is_client_error(), "{}", response.status());
    let body: Value = response.json().await.expect("a JSON error");
    assert_eq!(body["errors"][0]["extensions"]["code"], "INVALID_INPUT");
}
on_both_backends!(live_refusals, a_missing_or_bad_token_is_refused);

/// A queue screen left open past its token's life is told so and closed:
/// it reconnects with a fresh token rather than keep reading on an old one.
async fn a_socket_closes_when_its_token_expires(app: TestApp) {
    let ws = app.create_workspace("expira").await;
    let brief = app.jwt.mint(
        api::Role::Authenticated,
        Some(ws),
        Some("cs@example.com".into()),
        false,
        chrono::Duration::seconds(2),
    );
    let mut live = LiveClient::with_token(&app, &brief).await;
    live.subscribe("queue", QUEUE, json!({"f": {}})).await;
    let first = live.next_data("queue", "dispatchQueueChanged").await;
    assert_eq!(first["totalCount"], 0);
    let closed = loop {
        match live.next_message().await {
            Ok(_) => continue,
            Err(closed) => break closed,
        }
    };
    assert_eq!(closed.code, 4403, "{closed:?}");
    assert_eq!(closed.reason, "Forbidden: the token has expired");
}
on_both_backends!(live_token_expiry, a_socket_closes_when_its_token_expires);

/// Open sockets count against the server's connections like any other.
async fn open_sockets_hold_their_connections(app: TestApp) {
    let ws = app.create_workspace("lotado").await;
    let token = app.agent_token(ws);
    let mut screens = Vec::new();
    for _ in 0..2 {
        screens.push(LiveClient::with_token(&app, &token).await);
    }
    let third = tokio::spawn({
        let client = reqwest::Client::new();
        let url = app.url("/healthz");
        async move { client.get(url).send().await.map(|r| r.status()) }
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !third.is_finished(),
        "served past the cap while two sockets are open"
    );
    drop(screens.pop());
    let status = tokio::time::timeout(client::PATIENCE, third)
        .await
        .expect("served once a socket closed")
        .expect("task")
        .expect("answered");
    assert_eq!(status, 200);
}
on_both_backends!(
    live_sockets_hold_connections,
    open_sockets_hold_their_connections,
    crate::slow_clients::spawn_two_connections
);

/// `jornada api` and `jornada worker` apart: the queue screen at the API
/// hears of the items the other process suggests.
async fn a_queue_screen_hears_of_a_worker_elsewhere(api: ApiOnlyApp) {
    let app = &api.app;
    let dir = std::env::temp_dir().join(format!("jornada-live-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let ws = app.create_workspace("fila-separada").await;
    app.create_customer(ws, "aluna@example.com").await;
    let mut screen = LiveClient::with_token(app, &app.agent_token(ws)).await;
    screen.subscribe("queue", QUEUE, json!({})).await;
    let first = screen.next_data("queue", "dispatchQueueChanged").await;
    assert_eq!(first["totalCount"], 0);
    let worker = ChildWorker::spawn(&api, &dir, 0);
    app.run_journey(ws, gated_journey()).await;
    let change = screen.next_data("queue", "dispatchQueueChanged").await;
    assert_eq!(
        change["totalCount"],
        1,
        "{change}; worker log:\n{}",
        worker.log()
    );
    assert_eq!(change["items"][0]["nodeId"], "gate");
    assert!(worker.terminate().await, "the worker exits cleanly");
    let _ = std::fs::remove_dir_all(&dir);
}
on_both_backends!(
    queue_screen_across_processes,
    a_queue_screen_hears_of_a_worker_elsewhere,
    crate::helpers::spawn_api_only
);
