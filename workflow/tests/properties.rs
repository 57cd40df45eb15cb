//! Property tests of the workflow crate:
//! (a) validation and stepping never panic, whatever the document;
//! (b) random valid graphs validate clean and every path through them ends
//!     at an exit within as many steps as there are nodes;
//! (c) the split is deterministic and follows its weights.

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use uuid::Uuid;
use workflow::decimal::Decimal;
use workflow::nodes::SplitBranch;
use workflow::split::choose_branch;
use workflow::time::IsoDuration;
use workflow::{
    Channel, CompiledGraph, Graph, RecipientContext, StepInput, TemplateCatalog, TemplateEntry,
    TemplateStatus, Transition, ValidationContext, step, template, validate,
};

fn catalog() -> TemplateCatalog {
    TemplateCatalog::new(vec![
        TemplateEntry {
            id: "t-welcome".into(),
            provider_id: None,
            channel: Channel::Whatsapp,
            name: "boas_vindas".into(),
            language: "pt_BR".into(),
            status: TemplateStatus::Approved,
            dynamic_url_buttons: Vec::new(),
            body_parameters: None,
        },
        TemplateEntry {
            id: "t-pending".into(),
            provider_id: None,
            channel: Channel::Whatsapp,
            name: "resgate".into(),
            language: "pt_BR".into(),
            status: TemplateStatus::Pending,
            dynamic_url_buttons: Vec::new(),
            body_parameters: None,
        },
    ])
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 10, 13, 0, 0).unwrap()
}

// ---------------------------------------------------------------- (a)

const WORDS: &[&str] = &[
    "",
    "a",
    "b",
    "t",
    "x",
    "default",
    "true",
    "false",
    "event",
    "timeout",
    "approved",
    "rejected",
    "expired",
    "trigger",
    "delay",
    "waitForEvent",
    "condition",
    "split",
    "sendMessage",
    "approval",
    "updateCustomer",
    "webhook",
    "exit",
    "manual",
    "segment",
    "schedule",
    "whatsapp",
    "email",
    "log",
    "PT2H",
    "P3D",
    "P30D",
    "PT15M",
    "PT0S",
    "P1M",
    "09:00",
    "0 0 9 * * *",
    "24:00",
    "never",
    "always",
    "and",
    "or",
    "eq",
    "gt",
    "in",
    "contains",
    "exists",
    "not_exists",
    "customer.tags",
    "customer.ltvTotal",
    "customer.createdAt",
    "enrollment.progress",
    "customer.nope",
    "vip",
    "1234.50",
    "2025-01-01T00:00:00Z",
    "{{customer.first_name}}",
    "{{link:https://a.example}}",
    "{{link:enrollment.access_url}}",
    "{{",
    "}}",
    "{{nope}}",
    "https://h.example/{{customer.email}}",
    "boas_vindas",
    "resgate",
    "pt_BR",
    "first_access",
    "purchase_approved",
    "metadata.plan",
    "segment",
    "POST",
    "TRACE",
];

const KEYS: &[&str] = &[
    "source",
    "event",
    "cron",
    "buttonVariables",
    "reentry",
    "targetGroupId",
    "duration",
    "until",
    "timeout",
    "combinator",
    "rules",
    "field",
    "op",
    "value",
    "branches",
    "id",
    "weight",
    "channel",
    "templateId",
    "templateName",
    "language",
    "subject",
    "body",
    "variables",
    "requireApproval",
    "expiresAfter",
    "addTags",
    "removeTags",
    "set",
    "chatwootLabels",
    "url",
    "method",
    "goal",
    "1",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(WORDS).prop_map(str::to_owned),
        1 => "\\PC{0,12}",
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => "[a-zA-Z]{0,6}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        prop::sample::select(&[0.0, -1.0, 1e308, 50.0][..]).prop_map(|f| json!(f)),
        word().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn node_value() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(&["a", "b", "c", "d", "t", "x"][..]),
        word(),
        json_value(),
        prop::option::of(json_value()),
    )
        .prop_map(|(id, node_type, data, extra)| {
            let mut node = json!({"id": id, "type": node_type, "data": data});
            if let Some(extra) = extra {
                node["position"] = extra;
            }
            node
        })
}

fn edge_value() -> impl Strategy<Value = Value> {
    (
        word(),
        prop::sample::select(&["a", "b", "c", "d", "t", "x", "ghost"][..]),
        prop::sample::select(&["a", "b", "c", "d", "t", "x", "ghost"][..]),
        prop::option::of(word()),
    )
        .prop_map(|(id, source, target, handle)| {
            let mut edge = json!({"id": id, "source": source, "target": target});
            if let Some(handle) = handle {
                edge["sourceHandle"] = Value::String(handle);
            }
            edge
        })
}

fn recipient(seed: u64) -> RecipientContext {
    let mut ctx = RecipientContext::new(
        Uuid::from_u64_pair(seed, !seed),
        chrono_tz::America::Sao_Paulo,
    );
    ctx.customer.name = Some(format!("Pessoa {seed}"));
    ctx.customer.email = Some(format!("p{seed}@example.com"));
    if seed.is_multiple_of(2) {
        ctx.customer.tags = vec!["vip".into()];
    }
    ctx.customer.ltv_total = Some(format!("{}.{:02}", seed % 3000, seed % 100));
    ctx.customer.created_at = Some(now() - chrono::Duration::days((seed % 400) as i64));
    if !seed.is_multiple_of(3) {
        ctx.enrollment.progress = Some(format!("{}", seed % 101));
        ctx.enrollment.access_url = Some("https://club.example/p".into());
        ctx.enrollment.access_status = Some("ACTIVE".into());
    }
    ctx
}

/// Validation, compilation and every kind of step on every node: none may panic.
fn exercise(graph: &Graph) {
    let catalog = catalog();
    let errors = validate(graph, &ValidationContext::new(&catalog));
    for error in &errors {
        assert!(workflow::validate::code::ALL.contains(&error.code));
        serde_json::to_value(error).unwrap();
    }
    let compiled = CompiledGraph::new(graph);
    let ctx = recipient(7);
    let inputs = [
        StepInput::Enter,
        StepInput::TimerElapsed,
        StepInput::Event {
            event: "first_access".into(),
        },
        StepInput::Timeout,
        StepInput::Approved,
        StepInput::Rejected,
        StepInput::Expired,
    ];
    for node in &graph.nodes {
        for input in &inputs {
            let fresh = step(graph, &node.id, &ctx, input.clone(), now());
            let cached = compiled.step(&node.id, &ctx, input.clone(), now());
            assert_eq!(fresh, cached);
            if let Ok(Transition::Send { message, .. }) = fresh {
                message.render(&ctx, &mut |url| format!("https://t.example/?u={url}"));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn validation_never_panics_on_graph_shaped_documents(
        nodes in prop::collection::vec(node_value(), 0..8),
        edges in prop::collection::vec(edge_value(), 0..10),
        extra in json_value(),
    ) {
        let document = json!({"nodes": nodes, "edges": edges, "viewport": extra});
        let graph = Graph::from_value(&document).expect("nodes and edges of the right shape");
        exercise(&graph);
        // Whatever validation thinks, the document round-trips.
        prop_assert_eq!(serde_json::to_value(&graph).unwrap()["viewport"].clone(), document["viewport"].clone());
    }

    #[test]
    fn validation_never_panics_on_any_json(document in json_value()) {
        if let Ok(graph) = Graph::from_value(&document) {
            exercise(&graph);
        }
    }

    #[test]
    fn templates_never_panic(text in "(\\PC|\\{\\{|\\}\\}|link:|customer\\.name){0,40}", seed in any::<u64>()) {
        let ctx = recipient(seed);
        let _ = template::check(&text);
        let rendered = template::render(&text, &ctx, &mut |url| url.to_uppercase());
        prop_assert!(rendered.links.iter().all(|l| l.tracked_url == l.url.to_uppercase()));
        let _ = template::render_url(&text, &ctx);
    }

    #[test]
    fn decimals_order_like_integers(a in -1_000_000_000i64..1_000_000_000, b in -1_000_000_000i64..1_000_000_000, scale in 0u32..6) {
        let show = |n: i64| {
            let divisor = 10i64.pow(scale);
            let sign = if n < 0 { "-" } else { "" };
            if scale == 0 {
                format!("{n}")
            } else {
                format!("{sign}{}.{:0width$}", n.abs() / divisor, n.abs() % divisor, width = scale as usize)
            }
        };
        let (x, y) = (Decimal::parse(&show(a)).unwrap(), Decimal::parse(&show(b)).unwrap());
        prop_assert_eq!(x.cmp(&y), a.cmp(&b), "{} vs {}", show(a), show(b));
    }

    #[test]
    fn durations_print_and_parse_back(parts in prop::array::uniform7(0u32..1000)) {
        let duration = IsoDuration {
            years: parts[0], months: parts[1], weeks: parts[2], days: parts[3],
            hours: parts[4], minutes: parts[5], seconds: parts[6],
        };
        prop_assert_eq!(duration.to_string().parse::<IsoDuration>().unwrap(), duration);
    }
}

// ---------------------------------------------------------------- (b)

/// Builds a valid graph from a stream of choices. Nodes are numbered in
/// creation order and every edge goes from a lower number to a higher one,
/// so there is no cycle; every node but the trigger is created as the
/// target of an open handle of an earlier node, so all are reachable; every
/// handle gets exactly one edge.
struct Builder {
    choices: Vec<u32>,
    cursor: usize,
    nodes: Vec<Value>,
    edges: Vec<Value>,
}

impl Builder {
    fn pick(&mut self, n: usize) -> usize {
        let choice = self.choices[self.cursor % self.choices.len()];
        self.cursor += 1;
        choice as usize % n
    }

    fn one<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.pick(items.len())].clone()
    }

    fn node(&mut self, node_type: &str) -> (usize, Vec<String>) {
        let index = self.nodes.len();
        let (data, handles): (Value, Vec<String>) = match node_type {
            "trigger" => (
                json!({"source": self.one(&["manual", "segment"])}),
                vec!["default".into()],
            ),
            "delay" => {
                let data = if self.pick(2) == 0 {
                    json!({"duration": self.one(&["PT2H", "P3D", "PT15M", "P1D", "P1M"])})
                } else {
                    json!({"until": self.one(&["09:00", "00:30", "23:59"])})
                };
                (data, vec!["default".into()])
            }
            "waitForEvent" => (
                json!({"event": self.one(&["first_access", "purchase_approved"]), "timeout": "P3D"}),
                vec!["event".into(), "timeout".into()],
            ),
            "condition" => {
                let rules = [
                    json!({"field": "customer.tags", "op": "contains", "value": "vip"}),
                    json!({"field": "customer.ltvTotal", "op": "gte", "value": 1000}),
                    json!({"field": "enrollment.progress", "op": "lt", "value": "50"}),
                    json!({"field": "enrollment.firstAccessAt", "op": "not_exists"}),
                    json!({"field": "customer.createdAt", "op": "gt", "value": "2025-03-01T00:00:00-03:00"}),
                    json!({"field": "customer.segment", "op": "in", "value": ["active", "trial"]}),
                    json!({"field": "customer.email", "op": "contains", "value": "1"}),
                ];
                let count = 1 + self.pick(3);
                let chosen: Vec<Value> = (0..count).map(|_| self.one(&rules)).collect();
                (
                    json!({"combinator": self.one(&["and", "or"]), "rules": chosen}),
                    vec!["true".into(), "false".into()],
                )
            }
            "split" => {
                let count = 2 + self.pick(3);
                let branches: Vec<Value> = (0..count)
                    .map(|i| json!({"id": format!("b{i}"), "weight": 1 + self.pick(100)}))
                    .collect();
                let handles = (0..count).map(|i| format!("b{i}")).collect();
                (json!({"branches": branches}), handles)
            }
            "sendMessage" => {
                let data = match self.pick(4) {
                    0 => {
                        json!({"channel": "whatsapp", "templateName": "boas_vindas", "language": "pt_BR",
                                "variables": {"1": "{{customer.first_name}}", "2": "{{link:enrollment.access_url}}"}})
                    }
                    1 => json!({"channel": "email", "subject": "Oi {{customer.name}}",
                                "body": "Acesse {{link:https://club.example/x}}", "requireApproval": true}),
                    2 => {
                        json!({"channel": self.one(&["sms", "push", "webhook"]), "body": "{{customer.first_name}}, {{enrollment.progress}}%"})
                    }
                    _ => json!({"channel": "log", "body": "log {{customer.tags}}"}),
                };
                (data, vec!["default".into()])
            }
            "approval" => (
                json!({"expiresAfter": "P2D"}),
                vec!["approved".into(), "rejected".into(), "expired".into()],
            ),
            "updateCustomer" => (
                json!({"addTags": ["engajado"], "removeTags": ["lead"], "set": {"segment": "active", "metadata.step": 2}}),
                vec!["default".into()],
            ),
            "webhook" => (
                json!({"url": "https://hooks.example/c?e={{customer.email}}", "body": {"name": "{{customer.name}}"}}),
                vec!["default".into()],
            ),
            "exit" => (
                if self.pick(2) == 0 {
                    json!({"goal": "purchase_approved"})
                } else {
                    json!({})
                },
                vec![],
            ),
            other => unreachable!("{other}"),
        };
        self.nodes.push(json!({
            "id": format!("n{index}"),
            "type": node_type,
            "position": {"x": index * 10, "y": 0},
            "data": data,
        }));
        (index, handles)
    }

    fn build(choices: Vec<u32>, budget: usize) -> Value {
        let mut b = Builder {
            choices,
            cursor: 0,
            nodes: Vec::new(),
            edges: Vec::new(),
        };
        const TYPES: [&str; 9] = [
            "delay",
            "waitForEvent",
            "condition",
            "split",
            "sendMessage",
            "approval",
            "updateCustomer",
            "webhook",
            "exit",
        ];
        let (trigger, handles) = b.node("trigger");
        let mut open: VecDeque<(usize, String)> =
            handles.into_iter().map(|h| (trigger, h)).collect();
        while let Some((source, handle)) = open.pop_front() {
            let later: Vec<usize> = (source + 1..b.nodes.len()).collect();
            let target = if b.nodes.len() < budget && b.pick(4) != 0 {
                let node_type = b.one(&TYPES);
                let (index, handles) = b.node(node_type);
                open.extend(handles.into_iter().map(|h| (index, h)));
                index
            } else if !later.is_empty() && b.pick(2) == 0 {
                b.one(&later)
            } else {
                b.node("exit").0
            };
            let id = format!("e{}", b.edges.len());
            let mut edge =
                json!({"id": id, "source": format!("n{source}"), "target": format!("n{target}")});
            if handle != "default" || b.pick(2) == 0 {
                edge["sourceHandle"] = Value::String(handle);
            }
            b.edges.push(edge);
        }
        json!({"nodes": b.nodes, "edges": b.edges, "viewport": {"x": 0, "y": 0, "zoom": 1}})
    }
}

/// Where a transition can lead; empty for an exit. Checks on the way that a
/// waiting node, stepped with each input that ends its wait, advances to the
/// node the wait named.
fn successors(
    graph: &Graph,
    node: &str,
    ctx: &RecipientContext,
    transition: &Transition,
) -> Vec<String> {
    let resumed = |input: StepInput, expected: &str| {
        assert_eq!(
            step(graph, node, ctx, input, now()).unwrap(),
            Transition::Advance {
                next: expected.to_owned()
            }
        );
    };
    match transition {
        Transition::Advance { next }
        | Transition::Send { next, .. }
        | Transition::UpdateCustomer { next, .. }
        | Transition::CallWebhook { next, .. } => vec![next.clone()],
        Transition::WaitUntil { until, next } => {
            assert!(*until > now(), "a wait ends in the future");
            resumed(StepInput::TimerElapsed, next);
            vec![next.clone()]
        }
        Transition::AwaitEvent {
            event,
            timeout_at,
            on_event,
            on_timeout,
            ..
        } => {
            assert!(*timeout_at > now());
            resumed(
                StepInput::Event {
                    event: event.clone(),
                },
                on_event,
            );
            resumed(StepInput::Timeout, on_timeout);
            vec![on_event.clone(), on_timeout.clone()]
        }
        Transition::AwaitApproval {
            expires_at,
            on_approved,
            on_rejected,
            on_expired,
        } => {
            assert!(*expires_at > now());
            resumed(StepInput::Approved, on_approved);
            resumed(StepInput::Rejected, on_rejected);
            resumed(StepInput::Expired, on_expired);
            vec![on_approved.clone(), on_rejected.clone(), on_expired.clone()]
        }
        Transition::Exit { .. } => vec![],
    }
}

/// The most steps any path from `node` takes to reach an exit, every
/// outcome of every wait considered; panics on a cycle or a step error.
fn longest_path_to_exit(
    graph: &Graph,
    compiled: &CompiledGraph,
    node: &str,
    ctx: &RecipientContext,
    memo: &mut HashMap<String, usize>,
    on_path: &mut HashSet<String>,
) -> usize {
    if let Some(known) = memo.get(node) {
        return *known;
    }
    assert!(
        on_path.insert(node.to_owned()),
        "{node} is reached again on one path"
    );
    let transition = step(graph, node, ctx, StepInput::Enter, now())
        .unwrap_or_else(|e| panic!("stepping {node}: {e}"));
    assert_eq!(
        compiled.step(node, ctx, StepInput::Enter, now()).unwrap(),
        transition
    );
    if let Transition::Send { message, .. } = &transition {
        let rendered = message.render(ctx, &mut |url| format!("https://t.example/r?{url}"));
        assert!(
            rendered
                .body
                .iter()
                .chain(rendered.subject.iter())
                .all(|t| !t.contains("{{"))
        );
    }
    let longest = successors(graph, node, ctx, &transition)
        .iter()
        .map(|next| 1 + longest_path_to_exit(graph, compiled, next, ctx, memo, on_path))
        .max()
        .unwrap_or(0);
    on_path.remove(node);
    memo.insert(node.to_owned(), longest);
    longest
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn valid_graphs_validate_clean_and_every_path_reaches_an_exit(
        choices in prop::collection::vec(any::<u32>(), 1..300),
        budget in 1usize..24,
        seeds in prop::collection::vec(any::<u64>(), 1..6),
    ) {
        let document = Builder::build(choices, budget);
        let graph = Graph::from_value(&document).unwrap();
        let catalog = catalog();
        let errors = validate(&graph, &ValidationContext::new(&catalog));
        prop_assert!(errors.is_empty(), "{errors:#?}\n{document:#}");
        prop_assert_eq!(serde_json::to_value(&graph).unwrap(), document);

        let compiled = CompiledGraph::new(&graph);
        let entry = compiled.entry().expect("a trigger").to_owned();
        for seed in seeds {
            let ctx = recipient(seed);
            let steps = longest_path_to_exit(
                &graph, &compiled, &entry, &ctx, &mut HashMap::new(), &mut HashSet::new(),
            );
            prop_assert!(steps < graph.nodes.len(), "{steps} steps through {} nodes", graph.nodes.len());
        }
    }
}

// ---------------------------------------------------------------- (c)

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn split_is_deterministic_and_follows_the_weights(
        weights in prop::collection::vec(1u32..=100, 2..5),
        seed in any::<u64>(),
        node_id in "[a-z0-9-]{1,12}",
        time_ordered in any::<bool>(),
    ) {
        let branches: Vec<SplitBranch> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| SplitBranch { id: format!("b{i}"), weight: f64::from(*w) })
            .collect();
        let total: u32 = weights.iter().sum();
        const RECIPIENTS: usize = 20_000;
        let mut counts = vec![0usize; branches.len()];
        for i in 0..RECIPIENTS {
            // Either scattered ids or UUIDv7-like ids that share a prefix and
            // differ in a counter: the hash must spread both.
            let id = if time_ordered {
                Uuid::from_u128((u128::from(seed >> 16) << 80) | 0x7000_8000_0000_0000_0000 | i as u128)
            } else {
                Uuid::from_u64_pair(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15), i as u64)
            };
            let chosen = choose_branch(&branches, id, &node_id).unwrap();
            prop_assert_eq!(choose_branch(&branches, id, &node_id).unwrap(), chosen);
            counts[chosen.id[1..].parse::<usize>().unwrap()] += 1;
        }
        for (count, weight) in counts.iter().zip(&weights) {
            let share = *count as f64 / RECIPIENTS as f64;
            let expected = f64::from(*weight) / f64::from(total);
            prop_assert!((share - expected).abs() < 0.02, "{counts:?} for weights {weights:?}");
        }
    }
}
