//! The runner's stepping, as a campaign's user sees it: where a recipient
//! claimed at a node stops within one claim, and the move stored for it.

use chrono::TimeZone;
use entity::entities::enums::{ExecutionStatus, ExecutionType};
use entity::executions::recipient_status::{ACTIVE, COMPLETED, FAILED, WAITING};
use workflow::Graph;

use super::*;
use crate::campaigns::policy::SendPolicy;
use crate::channels::Channels;

const WORKSPACE: Uuid = Uuid::from_u128(1);
const CAMPAIGN: Uuid = Uuid::from_u128(2);
const EXECUTION: Uuid = Uuid::from_u128(3);
const CUSTOMER: Uuid = Uuid::from_u128(4);

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 15, 0, 0).unwrap()
}

/// Until when the runner holds a recipient stopped at a node with work.
fn held() -> DateTime<Utc> {
    now() + Duration::minutes(5)
}

type NodeSpec<'a> = (&'a str, &'a str, Value);

/// A campaign's graph from its nodes `(id, type, data)` and edges
/// `(source, handle, target)`, saved as the builder saves it.
fn graph(nodes: &[NodeSpec], edges: &[(&str, &str, &str)]) -> Arc<CompiledGraph> {
    let nodes: Vec<Value> = nodes
        .iter()
        .map(|(id, kind, data)| json!({"id": id, "type": kind, "data": data}))
        .collect();
    let edges: Vec<Value> = edges
        .iter()
        .enumerate()
        .map(|(i, (source, handle, target))| json!({"id": format!("e{i}"), "source": source, "sourceHandle": handle, "target": target}))
        .collect();
    let document = json!({"nodes": nodes, "edges": edges});
    let graph = Graph::from_value(&document).expect("a React Flow document");
    Arc::new(CompiledGraph::new(&graph))
}

fn trigger() -> NodeSpec<'static> {
    ("t", "trigger", json!({"source": "manual"}))
}

fn exit(id: &str) -> NodeSpec<'_> {
    (id, "exit", Value::Null)
}

/// A condition: is the customer tagged `vip`?
fn vip() -> NodeSpec<'static> {
    let rule = json!({"field": "customer.tags", "op": "contains", "value": "vip"});
    ("vip", "condition", json!({ "rules": [rule] }))
}

/// A claimed recipient, `status` at `node` with `state` stored.
fn recipient(status: &str, node: &str, state: Value) -> campaign_recipient::Model {
    campaign_recipient::Model {
        id: Uuid::from_u128(5),
        workspace_id: WORKSPACE,
        campaign_id: CAMPAIGN,
        execution_id: EXECUTION,
        customer_id: CUSTOMER,
        channel: None,
        status: status.to_owned(),
        current_node_id: Some(node.to_owned()),
        wake_at: Some(now()),
        state,
        sent_at: None,
        delivered_at: None,
        opened_at: None,
        clicked_at: None,
        converted_at: None,
        revenue: None,
        error: None,
        entry_key: None,
        reentry_key: String::new(),
        created_at: now(),
        updated_at: now(),
    }
}

fn execution() -> campaign_execution::Model {
    campaign_execution::Model {
        id: EXECUTION,
        workspace_id: WORKSPACE,
        campaign_id: CAMPAIGN,
        version_id: Uuid::from_u128(6),
        target_group_id: None,
        execution_type: ExecutionType::Manual,
        status: ExecutionStatus::Running,
        execution_data: json!({}),
        metrics: json!({}),
        started_at: now(),
        completed_at: None,
        scheduled_for: None,
        created_at: now(),
        updated_at: now(),
    }
}

fn customer(tags: &[&str]) -> customer::Model {
    customer::Model {
        id: CUSTOMER,
        workspace_id: WORKSPACE,
        email: "maria@example.com".into(),
        name: Some("Maria Souza".into()),
        phone: Some("+5511987654321".into()),
        tags: json!(tags),
        consent: json!({}),
        metadata: json!({}),
        ..Default::default()
    }
}

fn setup() -> Arc<WorkspaceSetup> {
    let time_zone = chrono_tz::America::Sao_Paulo;
    Arc::new(WorkspaceSetup {
        time_zone,
        channels: Arc::new(Channels::unconfigured()),
        policy: SendPolicy {
            time_zone,
            quiet_hours: None,
            frequency_cap: None,
            whatsapp_per_second: 80,
        },
        access_url: None,
    })
}

/// Where a claimed recipient's walk stopped, and the move the runner
/// would store for it.
struct Stop {
    at: String,
    leg: Leg,
    next: Option<Move>,
}

fn walk(
    graph: &Arc<CompiledGraph>,
    recipient: &campaign_recipient::Model,
    customer: &customer::Model,
) -> Stop {
    let execution = execution();
    let mut walk = Walk::start(
        recipient,
        &execution,
        graph.clone(),
        customer,
        setup(),
        None,
        now(),
    )
    .expect("the recipient is at a node");
    walk.walk(now());
    Stop {
        at: walk.at.clone(),
        next: walk.next_move(held()),
        leg: walk.leg,
    }
}

/// A recipient just enrolled, at the trigger, for a customer tagged `tags`.
fn enter(graph: &Arc<CompiledGraph>, tags: &[&str]) -> Stop {
    walk(graph, &recipient(ACTIVE, "t", json!({})), &customer(tags))
}

/// A recipient claimed mid-journey, `status` at `node` with `state`.
fn claimed(graph: &Arc<CompiledGraph>, status: &str, node: &str, state: Value) -> Stop {
    walk(graph, &recipient(status, node, state), &customer(&[]))
}

type Parts = (
    &'static str,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<Value>,
    Option<String>,
);

/// A move to store, field by field: status, node, wake_at, state, error.
fn parts(to: Option<Move>) -> Parts {
    let to = to.expect("a move to store");
    (to.status, to.node, to.wake_at, to.state, to.error)
}

/// Completed at an exit without a goal, the state of an earlier wait or
/// decision cleared.
fn completed_clearing_state() -> Parts {
    (COMPLETED, None, None, Some(json!({})), None)
}

/// trigger → vip? → A/B split → welcome e-mail → exit; not vip → exit.
fn welcome() -> Arc<CompiledGraph> {
    graph(
        &[
            trigger(),
            vip(),
            (
                "ab",
                "split",
                json!({"branches": [{"id": "a", "weight": 1}, {"id": "b", "weight": 1}]}),
            ),
            (
                "hello",
                "sendMessage",
                json!({"channel": "email", "subject": "Oi", "body": "Olá {{customer.first_name}}"}),
            ),
            exit("end"),
        ],
        &[
            ("t", "default", "vip"),
            ("vip", "true", "ab"),
            ("vip", "false", "end"),
            ("ab", "a", "hello"),
            ("ab", "b", "hello"),
            ("hello", "default", "end"),
        ],
    )
}

#[test]
fn the_walk_passes_pure_steps_and_holds_the_recipient_at_its_message() {
    let stop = enter(&welcome(), &["vip"]);
    let Leg::Act(Act::Message { message, next }) = &stop.leg else {
        panic!("the walk did not stop at the message");
    };
    assert_eq!(stop.at, "hello");
    assert_eq!(message.channel, workflow::Channel::Email);
    assert_eq!(message.body.as_deref(), Some("Olá {{customer.first_name}}"));
    assert_eq!(next, "end");
    let held_at_message = (ACTIVE, Some("hello".into()), Some(held()), None, None);
    assert_eq!(parts(stop.next), held_at_message);
}

#[test]
fn a_customer_the_condition_leaves_out_completes_without_a_message() {
    let stop = enter(&welcome(), &[]);
    assert!(matches!(stop.leg, Leg::Settled(_)));
    assert_eq!(parts(stop.next), (COMPLETED, None, None, None, None));
}

#[test]
fn a_recipient_claimed_at_its_message_is_not_moved_before_the_send() {
    let stop = claimed(&welcome(), ACTIVE, "hello", json!({}));
    assert!(matches!(stop.leg, Leg::Act(Act::Message { .. })));
    assert!(stop.next.is_none());
}

#[test]
fn a_delay_waits_at_the_next_node_until_it_is_over() {
    let delay = ("later", "delay", json!({"duration": "PT2H"}));
    let graph = graph(
        &[trigger(), delay, exit("end")],
        &[("t", "default", "later"), ("later", "default", "end")],
    );
    let stop = enter(&graph, &[]);
    let until = Some(now() + Duration::hours(2));
    assert_eq!(
        parts(stop.next),
        (WAITING, Some("end".into()), until, None, None)
    );
}

#[test]
fn an_exit_completes_the_journey_with_its_goal() {
    let bought = ("bought", "exit", json!({"goal": "purchase_approved"}));
    let graph = graph(&[trigger(), bought], &[("t", "default", "bought")]);
    let stop = enter(&graph, &[]);
    let goal = Some(json!({"goal": "purchase_approved"}));
    assert_eq!(parts(stop.next), (COMPLETED, None, None, goal, None));
}

/// trigger → wait 3 days for the first access → exit; on timeout, a nudge.
fn first_access() -> Arc<CompiledGraph> {
    graph(
        &[
            trigger(),
            (
                "access",
                "waitForEvent",
                json!({"event": "first_access", "timeout": "P3D"}),
            ),
            exit("in"),
            (
                "nudge",
                "sendMessage",
                json!({"channel": "sms", "body": "Ainda não acessou?"}),
            ),
            exit("out"),
        ],
        &[
            ("t", "default", "access"),
            ("access", "event", "in"),
            ("access", "timeout", "nudge"),
            ("nudge", "default", "out"),
        ],
    )
}

fn awaiting_access() -> Value {
    json!({"await": "event", "event": "first_access", "onEvent": "in", "onTimeout": "nudge"})
}

#[test]
fn a_wait_for_an_event_parks_the_recipient_until_its_timeout() {
    let stop = enter(&first_access(), &[]);
    let timeout = Some(now() + Duration::days(3));
    let parked = (
        WAITING,
        Some("access".into()),
        timeout,
        Some(awaiting_access()),
        None,
    );
    assert_eq!(parts(stop.next), parked);
}

#[test]
fn a_wait_that_ran_out_leaves_along_its_timeout_branch() {
    let timed_out = recipient(WAITING, "access", awaiting_access());
    assert_eq!(timed_out_branch(&timed_out).as_deref(), Some("nudge"));
    let stop = walk(&first_access(), &timed_out, &customer(&[]));
    assert!(matches!(stop.leg, Leg::Act(Act::Message { .. })));
    // The wait's state is cleared with the move to the nudge.
    let at_nudge = (
        ACTIVE,
        Some("nudge".into()),
        Some(held()),
        Some(json!({})),
        None,
    );
    assert_eq!(parts(stop.next), at_nudge);
}

#[test]
fn a_wait_matching_the_starting_purchase_keeps_what_it_matches() {
    let graph = graph(
        &[
            trigger(),
            (
                "paid",
                "waitForEvent",
                json!({"event": "purchase_approved", "timeout": "P2D", "match": "transaction"}),
            ),
            exit("in"),
            exit("out"),
        ],
        &[
            ("t", "default", "paid"),
            ("paid", "event", "in"),
            ("paid", "timeout", "out"),
        ],
    );
    let stop = enter(&graph, &[]);
    let state = json!({"await": "event", "event": "purchase_approved", "onEvent": "in",
        "onTimeout": "out", "match": "transaction"});
    assert_eq!(parts(stop.next).3, Some(state));
}

#[test]
fn the_starting_event_is_in_the_recipient_s_context() {
    let product = Uuid::from_u128(77);
    let mut entered = recipient(ACTIVE, "hello", json!({}));
    entered.entry_key = Some(json!({"event": "billet_printed", "transaction": "HP1",
        "productId": product.to_string(), "productName": "Curso A", "offerCode": "n82b"}));
    let event = started_by(entered.entry_key.as_ref().unwrap());
    assert_eq!(event.transaction.as_deref(), Some("HP1"));
    assert_eq!(event.product_id, Some(product.to_string()));
    assert_eq!(event.product_name.as_deref(), Some("Curso A"));
    assert_eq!(event.offer_code.as_deref(), Some("n82b"));
    assert_eq!(event.subscriber_code, None);
    let plain = context_for(entered.id, &customer(&[]), None, chrono_tz::UTC, None);
    assert_eq!(plain.event, workflow::EventFields::default());
}

/// trigger → a WhatsApp offer a person approves first → exit.
fn offer() -> Arc<CompiledGraph> {
    let data = json!({"channel": "whatsapp", "templateName": "oferta", "requireApproval": true});
    graph(
        &[trigger(), ("offer", "sendMessage", data), exit("end")],
        &[("t", "default", "offer"), ("offer", "default", "end")],
    )
}

#[test]
fn a_message_needing_approval_is_suggested_not_sent() {
    let stop = enter(&offer(), &[]);
    let Leg::Act(Act::Suggest {
        channel,
        expires_at,
        on_approved,
        on_rejected,
        on_expired,
        ..
    }) = &stop.leg
    else {
        panic!("the message was not suggested");
    };
    assert_eq!(*channel, Channel::Whatsapp);
    assert_eq!(*expires_at, now() + APPROVAL_WINDOW);
    assert_eq!(
        [on_approved, on_rejected, on_expired],
        ["offer", "end", "end"]
    );
    let held_at_offer = (ACTIVE, Some("offer".into()), Some(held()), None, None);
    assert_eq!(parts(stop.next), held_at_offer);
}

#[test]
fn a_suggestion_is_sent_when_approved_and_passed_when_rejected() {
    let decided = |decision| {
        let state = json!({"node": "offer", "decision": decision});
        claimed(&offer(), ACTIVE, "offer", state)
    };
    let approved = decided("approved");
    assert!(matches!(approved.leg, Leg::Act(Act::Message { .. })));
    assert!(approved.next.is_none());
    let rejected = decided("rejected");
    assert!(matches!(rejected.leg, Leg::Settled(_)));
    assert_eq!(parts(rejected.next), completed_clearing_state());
}

#[test]
fn an_expired_suggestion_leaves_along_its_expiry_branch() {
    let state = json!({"await": "approval", "onApproved": "offer", "onRejected": "end", "onExpired": "end"});
    let stop = claimed(&offer(), WAITING, "offer", state);
    assert_eq!(parts(stop.next), completed_clearing_state());
}

#[test]
fn a_send_settled_while_parked_unknown_is_not_sent_again() {
    let state = json!({ executions::RECONCILED_KEY: Uuid::from_u128(7) });
    let stop = claimed(&welcome(), ACTIVE, "hello", state);
    assert!(matches!(stop.leg, Leg::Settled(_)));
    assert_eq!(parts(stop.next), completed_clearing_state());
}

#[test]
fn a_long_chain_of_pure_steps_yields_after_the_claims_steps() {
    let ids: Vec<String> = (0..MAX_STEPS_PER_CLAIM + 8)
        .map(|i| format!("c{i}"))
        .collect();
    let always = json!({"rules": [{"field": "customer.email", "op": "exists"}]});
    let mut nodes = vec![trigger(), exit("end")];
    nodes.extend(
        ids.iter()
            .map(|id| (id.as_str(), "condition", always.clone())),
    );
    let mut edges = vec![("t", "default", ids[0].as_str())];
    for (i, from) in ids.iter().enumerate() {
        let to = ids.get(i + 1).map_or("end", String::as_str);
        edges.extend([(from.as_str(), "true", to), (from.as_str(), "false", to)]);
    }
    let stop = enter(&graph(&nodes, &edges), &[]);
    // The trigger and 31 conditions passed; the next claim goes on at once.
    let retry = (
        ACTIVE,
        Some(ids[MAX_STEPS_PER_CLAIM - 1].clone()),
        Some(now()),
        None,
        None,
    );
    assert_eq!(parts(stop.next), retry);
}

#[test]
fn a_step_that_cannot_be_taken_fails_the_recipient_with_why() {
    let stop = claimed(&welcome(), ACTIVE, "gone", json!({}));
    let error = Some("there is no node \"gone\"".into());
    assert_eq!(
        parts(stop.next),
        (FAILED, Some("gone".into()), None, None, error)
    );
    let cut = graph(
        &[trigger(), vip(), exit("end")],
        &[("t", "default", "vip"), ("vip", "true", "end")],
    );
    let stop = enter(&cut, &[]);
    let error = Some("node \"vip\": handle \"false\" is not connected".into());
    assert_eq!(
        parts(stop.next),
        (FAILED, Some("vip".into()), None, None, error)
    );
}

#[test]
fn updates_webhooks_and_approval_gates_stop_the_walk_as_work() {
    let mut edges = vec![
        ("t", "default", "tag"),
        ("tag", "default", "hook"),
        ("hook", "default", "gate"),
    ];
    // Every decision on the gate ends the journey.
    edges.extend(["approved", "rejected", "expired"].map(|decision| ("gate", decision, "end")));
    let graph = graph(
        &[
            trigger(),
            ("tag", "updateCustomer", json!({"addTags": ["vip"]})),
            (
                "hook",
                "webhook",
                json!({"url": "https://hooks.example/crm"}),
            ),
            ("gate", "approval", json!({"expiresAfter": "PT12H"})),
            exit("end"),
        ],
        &edges,
    );
    let Leg::Act(Act::Update { changes, next }) = enter(&graph, &[]).leg else {
        panic!("the customer update was not reached");
    };
    assert_eq!(
        (changes.add_tags, next.as_str()),
        (vec!["vip".into()], "hook")
    );
    let at_hook = recipient(ACTIVE, "hook", json!({}));
    let Leg::Act(Act::Send {
        outgoing,
        next,
        message_id: None,
    }) = walk(&graph, &at_hook, &customer(&[])).leg
    else {
        panic!("the webhook was not reached unreserved");
    };
    // Keyed by (execution, recipient, node), so a retry never calls it twice.
    let key = outbox::campaign_key(EXECUTION, at_hook.id, "hook");
    assert_eq!(outgoing.message.idempotency_key, key);
    assert_eq!(
        (outgoing.channel, next.as_str()),
        (Channel::Webhook, "gate")
    );
    let at_gate = claimed(&graph, ACTIVE, "gate", json!({}));
    let Leg::Act(Act::Suggest {
        channel,
        expires_at,
        ..
    }) = at_gate.leg
    else {
        panic!("the approval gate was not reached");
    };
    assert_eq!(
        (channel, expires_at),
        (Channel::Log, now() + Duration::hours(12))
    );
}
