use super::*;
use serde_json::json;

fn catalog() -> TemplateCatalog {
    let entry = |id: &str, channel, name: &str, language: &str, status| TemplateEntry {
        id: id.into(),
        provider_id: Some(format!("meta-{id}")),
        channel,
        name: name.into(),
        language: language.into(),
        status,
        dynamic_url_buttons: Vec::new(),
        body_parameters: None,
    };
    TemplateCatalog::new(vec![
        entry(
            "t1",
            Channel::Whatsapp,
            "boas_vindas",
            "pt_BR",
            TemplateStatus::Approved,
        ),
        entry(
            "t2",
            Channel::Whatsapp,
            "boas_vindas",
            "en_US",
            TemplateStatus::Pending,
        ),
        entry(
            "t3",
            Channel::Whatsapp,
            "resgate",
            "pt_BR",
            TemplateStatus::Paused,
        ),
        entry(
            "t4",
            Channel::Email,
            "newsletter",
            "pt_BR",
            TemplateStatus::Pending,
        ),
    ])
}

fn run(doc: Value) -> Vec<ValidationError> {
    let graph = Graph::from_value(&doc).expect("a graph");
    let catalog = catalog();
    validate(&graph, &ValidationContext::new(&catalog))
}

fn codes(doc: Value) -> Vec<(Option<String>, Option<String>, &'static str)> {
    run(doc)
        .into_iter()
        .map(|e| (e.node_id, e.edge_id, e.code))
        .collect()
}

fn n(id: &str) -> Option<String> {
    Some(id.into())
}

/// trigger → condition → (true: send whatsapp → exit) / (false: delay → exit)
fn welcome() -> Value {
    json!({
        "nodes": [
            {"id": "t", "type": "trigger", "position": {"x": 0, "y": 0},
             "data": {"source": "event", "event": "purchase_approved"}},
            {"id": "c", "type": "condition", "data": {"combinator": "and",
              "rules": [{"field": "customer.phone", "op": "exists"}]}},
            {"id": "w", "type": "sendMessage", "data": {"channel": "whatsapp",
              "templateName": "boas_vindas", "language": "pt_BR",
              "variables": {"1": "{{customer.first_name}}", "2": "{{link:enrollment.access_url}}"}}},
            {"id": "d", "type": "delay", "data": {"until": "09:00"}},
            {"id": "x", "type": "exit", "data": {"goal": "first_access"}},
            {"id": "y", "type": "exit"}
        ],
        "edges": [
            {"id": "e1", "source": "t", "target": "c"},
            {"id": "e2", "source": "c", "sourceHandle": "true", "target": "w"},
            {"id": "e3", "source": "c", "sourceHandle": "false", "target": "d"},
            {"id": "e4", "source": "w", "sourceHandle": "default", "target": "x"},
            {"id": "e5", "source": "d", "target": "y"}
        ]
    })
}

#[test]
fn a_sound_campaign_has_no_errors() {
    assert_eq!(run(welcome()), vec![]);
}

#[test]
fn events_must_be_ones_jornada_records() {
    let mut doc = welcome();
    doc["nodes"][0]["data"]["event"] = json!("purchase_aproved");
    doc["nodes"][4]["data"]["goal"] = json!("first-access");
    assert_eq!(
        codes(doc.clone()),
        vec![
            (n("t"), None, code::UNKNOWN_EVENT),
            (n("x"), None, code::UNKNOWN_EVENT),
        ]
    );
    let errors = run(doc);
    assert!(errors[0].message.contains("`purchase_aproved`"));
    assert!(errors[0].message.contains("purchase_approved"));

    let mut doc = welcome();
    doc["nodes"][3] = json!({"id": "d", "type": "waitForEvent",
        "data": {"event": "module_complete", "timeout": "P3D"}});
    doc["edges"][4] = json!({"id": "e5", "source": "d", "sourceHandle": "event", "target": "y"});
    doc["edges"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "e6", "source": "d", "sourceHandle": "timeout", "target": "y"}));
    assert_eq!(codes(doc), vec![(n("d"), None, code::UNKNOWN_EVENT)]);
}

#[test]
fn errors_serialise_with_camel_case_keys() {
    let mut doc = welcome();
    doc["edges"][1]["sourceHandle"] = json!("maybe");
    let errors = run(doc);
    let value = serde_json::to_value(&errors[0]).unwrap();
    assert_eq!(value["nodeId"], json!("c"));
    assert_eq!(value["edgeId"], json!("e2"));
    assert_eq!(value["code"], json!("invalid_handle"));
    assert!(value["message"].as_str().unwrap().contains("maybe"));
    let missing = serde_json::to_value(ValidationError {
        node_id: None,
        edge_id: None,
        code: code::MISSING_TRIGGER,
        message: "m".into(),
    })
    .unwrap();
    assert_eq!(
        missing,
        json!({"nodeId": null, "code": "missing_trigger", "message": "m"})
    );
}

#[test]
fn triggers() {
    let mut doc = welcome();
    doc["nodes"][0]["type"] = json!("exit");
    doc["nodes"][0]["data"] = json!({});
    assert_eq!(
        codes(doc),
        vec![
            (None, None, code::MISSING_TRIGGER),
            (n("t"), n("e1"), code::INVALID_HANDLE),
        ]
    );

    let mut doc = welcome();
    doc["nodes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "t2", "type": "trigger", "data": {"source": "manual"}}));
    doc["edges"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "e9", "source": "t2", "target": "c"}));
    assert_eq!(codes(doc), vec![(n("t2"), None, code::MULTIPLE_TRIGGERS)]);
}

#[test]
fn ids_types_and_data() {
    let mut doc = welcome();
    let nodes = doc["nodes"].as_array_mut().unwrap();
    nodes.push(json!({"id": "x", "type": "exit"}));
    nodes.push(json!({"id": "s", "type": "sendSms", "data": {}}));
    nodes[3]["data"] = json!({"until": "nine"});
    nodes[1]["data"]["rules"][0]["op"] = json!("like");
    doc["edges"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "e1", "source": "s", "target": "y"}));
    assert_eq!(
        codes(doc),
        vec![
            (n("x"), None, code::DUPLICATE_ID),
            (None, n("e1"), code::DUPLICATE_ID),
            (n("c"), None, code::UNKNOWN_OPERATOR),
            (n("d"), None, code::INVALID_DATA),
            (n("s"), None, code::UNKNOWN_NODE_TYPE),
            (n("s"), None, code::UNREACHABLE_NODE),
        ]
    );
}

#[test]
fn edges_and_handles() {
    let mut doc = welcome();
    let edges = doc["edges"].as_array_mut().unwrap();
    edges[2]["sourceHandle"] = json!("no"); // condition false → invalid
    edges.push(json!({"id": "e6", "source": "ghost", "target": "x"}));
    edges.push(json!({"id": "e7", "source": "x", "target": "y"}));
    edges.push(json!({"id": "e8", "source": "w", "target": "y"}));
    edges.push(json!({"id": "e9", "source": "d", "target": "t"}));
    edges.push(json!({"id": "e10", "source": "w", "target": "nowhere"}));
    assert_eq!(
        codes(doc),
        vec![
            (n("c"), n("e3"), code::INVALID_HANDLE),
            (None, n("e6"), code::DANGLING_EDGE),
            (n("x"), n("e7"), code::INVALID_HANDLE),
            (n("w"), n("e8"), code::AMBIGUOUS_HANDLE),
            (n("d"), n("e9"), code::INVALID_EDGE),
            (n("d"), n("e9"), code::AMBIGUOUS_HANDLE),
            (n("w"), n("e10"), code::DANGLING_EDGE),
            (n("c"), None, code::UNCONNECTED_HANDLE),
        ]
    );
}

#[test]
fn every_required_handle_of_every_type() {
    let doc = json!({
        "nodes": [
            {"id": "t", "type": "trigger", "data": {"source": "manual"}},
            {"id": "w", "type": "waitForEvent", "data": {"event": "first_access", "timeout": "P3D"}},
            {"id": "a", "type": "approval", "data": {"expiresAfter": "P2D"}},
            {"id": "s", "type": "split", "data": {"branches": [{"id": "a", "weight": 50}, {"id": "b", "weight": 50}]}},
            {"id": "u", "type": "updateCustomer", "data": {"addTags": ["x"]}},
            {"id": "h", "type": "webhook", "data": {"url": "https://h.example"}},
            {"id": "x", "type": "exit"}
        ],
        "edges": [
            {"id": "1", "source": "t", "target": "w"},
            {"id": "2", "source": "w", "sourceHandle": "event", "target": "a"},
            {"id": "3", "source": "a", "sourceHandle": "approved", "target": "s"},
            {"id": "4", "source": "s", "sourceHandle": "a", "target": "u"},
            {"id": "5", "source": "u", "target": "h"}
        ]
    });
    assert_eq!(
        run(doc)
            .into_iter()
            .map(|e| (e.node_id.unwrap(), e.message))
            .collect::<Vec<_>>(),
        vec![
            ("w".into(), "handle \"timeout\" is not connected".into()),
            ("a".into(), "handle \"rejected\" is not connected".into()),
            ("a".into(), "handle \"expired\" is not connected".into()),
            ("s".into(), "handle \"b\" is not connected".into()),
            ("h".into(), "handle \"default\" is not connected".into()),
            (
                "x".into(),
                "no path from the trigger reaches this node".into()
            ),
        ]
    );
}

#[test]
fn cycles_need_a_wait() {
    // c → w → c with no wait: both on the loop; d → c → d has a delay.
    let doc = json!({
        "nodes": [
            {"id": "t", "type": "trigger", "data": {"source": "manual"}},
            {"id": "c", "type": "condition", "data": {"rules": [{"field": "customer.tags", "op": "contains", "value": "vip"}]}},
            {"id": "w", "type": "sendMessage", "data": {"channel": "log", "body": "hi"}},
            {"id": "d", "type": "delay", "data": {"duration": "P1D"}},
            {"id": "x", "type": "exit"}
        ],
        "edges": [
            {"id": "1", "source": "t", "target": "c"},
            {"id": "2", "source": "c", "sourceHandle": "true", "target": "w"},
            {"id": "3", "source": "w", "target": "c"},
            {"id": "4", "source": "c", "sourceHandle": "false", "target": "x"}
        ]
    });
    assert_eq!(
        codes(doc),
        vec![
            (n("d"), None, code::UNCONNECTED_HANDLE),
            (n("d"), None, code::UNREACHABLE_NODE),
            (n("c"), None, code::CYCLE_WITHOUT_WAIT),
            (n("w"), None, code::CYCLE_WITHOUT_WAIT),
        ]
    );
    let through_delay = json!({
        "nodes": [
            {"id": "t", "type": "trigger", "data": {"source": "manual"}},
            {"id": "c", "type": "condition", "data": {"rules": [{"field": "customer.tags", "op": "contains", "value": "vip"}]}},
            {"id": "d", "type": "delay", "data": {"duration": "P1D"}},
            {"id": "x", "type": "exit"}
        ],
        "edges": [
            {"id": "1", "source": "t", "target": "c"},
            {"id": "2", "source": "c", "sourceHandle": "true", "target": "d"},
            {"id": "3", "source": "d", "target": "c"},
            {"id": "4", "source": "c", "sourceHandle": "false", "target": "x"}
        ]
    });
    assert_eq!(run(through_delay), vec![]);
    let self_loop = json!({
        "nodes": [
            {"id": "t", "type": "trigger", "data": {"source": "manual"}},
            {"id": "c", "type": "condition", "data": {"rules": [{"field": "customer.tags", "op": "exists"}]}},
            {"id": "x", "type": "exit"}
        ],
        "edges": [
            {"id": "1", "source": "t", "target": "c"},
            {"id": "2", "source": "c", "sourceHandle": "true", "target": "c"},
            {"id": "4", "source": "c", "sourceHandle": "false", "target": "x"}
        ]
    });
    assert_eq!(
        codes(self_loop),
        vec![(n("c"), None, code::CYCLE_WITHOUT_WAIT)]
    );
}

#[test]
fn dynamic_url_buttons_need_a_value() {
    let components = json!([
        {"type": "BODY", "text": "Olá {{1}}"},
        {"type": "BUTTONS", "buttons": [
            {"type": "QUICK_REPLY", "text": "Parar"},
            {"type": "URL", "text": "Site", "url": "https://escola.example"},
            {"type": "URL", "text": "Acessar", "url": "https://hotmart.com/club/{{1}}"}
        ]}
    ]);
    assert_eq!(TemplateEntry::dynamic_url_buttons_of(&components), vec![2]);
    let catalog = TemplateCatalog::new(vec![TemplateEntry {
        id: "t1".into(),
        provider_id: None,
        channel: Channel::Whatsapp,
        name: "acesso".into(),
        language: "pt_BR".into(),
        status: TemplateStatus::Approved,
        dynamic_url_buttons: vec![2],
        body_parameters: None,
    }]);
    let doc = |data: Value| {
        json!({
            "nodes": [
                {"id": "t", "type": "trigger", "data": {"source": "manual"}},
                {"id": "w", "type": "sendMessage", "data": data},
                {"id": "x", "type": "exit"}
            ],
            "edges": [
                {"id": "1", "source": "t", "target": "w"},
                {"id": "2", "source": "w", "target": "x"}
            ]
        })
    };
    let codes = |data: Value| {
        let graph = Graph::from_value(&doc(data)).unwrap();
        validate(&graph, &ValidationContext::new(&catalog))
            .into_iter()
            .map(|e| (e.node_id, e.code))
            .collect::<Vec<_>>()
    };
    let base = json!({"channel": "whatsapp", "templateName": "acesso"});
    assert_eq!(
        codes(base.clone()),
        vec![(Some("w".into()), code::MISSING_BUTTON_VARIABLE)]
    );
    let mut wrong_index = base.clone();
    wrong_index["buttonVariables"] = json!({"0": "{{enrollment.access_url}}"});
    assert_eq!(
        codes(wrong_index),
        vec![(Some("w".into()), code::MISSING_BUTTON_VARIABLE)]
    );
    let mut given = base.clone();
    given["buttonVariables"] = json!({"2": "{{enrollment.access_url}}"});
    assert_eq!(codes(given), vec![]);
    let mut bad_key = base;
    bad_key["buttonVariables"] = json!({"first": "x"});
    assert_eq!(codes(bad_key), vec![(Some("w".into()), code::INVALID_DATA)]);
}

#[test]
fn variables_must_match_the_template_body_parameters() {
    let components = json!([
        {"type": "HEADER", "format": "TEXT", "text": "Oi {{1}}"},
        {"type": "BODY", "text": "Olá {{1}}, seu acesso a {{2}} chegou. {{1}}!"}
    ]);
    assert_eq!(TemplateEntry::body_parameters_of(&components), Some(2));
    assert_eq!(
        TemplateEntry::body_parameters_of(&json!([{"type": "BODY", "text": "Bem-vinda!"}])),
        Some(0)
    );
    assert_eq!(TemplateEntry::body_parameters_of(&json!([])), None);
    let catalog = TemplateCatalog::new(vec![TemplateEntry {
        id: "t1".into(),
        provider_id: None,
        channel: Channel::Whatsapp,
        name: "acesso".into(),
        language: "pt_BR".into(),
        status: TemplateStatus::Approved,
        dynamic_url_buttons: Vec::new(),
        body_parameters: TemplateEntry::body_parameters_of(&components),
    }]);
    let codes = |variables: Value| {
        let graph = Graph::from_value(&json!({
            "nodes": [
                {"id": "t", "type": "trigger", "data": {"source": "manual"}},
                {"id": "w", "type": "sendMessage", "data": {"channel": "whatsapp", "templateName": "acesso", "variables": variables}},
                {"id": "x", "type": "exit"}
            ],
            "edges": [
                {"id": "1", "source": "t", "target": "w"},
                {"id": "2", "source": "w", "target": "x"}
            ]
        }))
        .unwrap();
        validate(&graph, &ValidationContext::new(&catalog))
            .into_iter()
            .map(|e| (e.node_id, e.code))
            .collect::<Vec<_>>()
    };
    let mismatch = vec![(Some("w".into()), code::TEMPLATE_PARAMETERS)];
    assert_eq!(codes(json!({})), mismatch, "none given");
    assert_eq!(
        codes(json!({"1": "{{customer.first_name}}"})),
        mismatch,
        "one missing"
    );
    assert_eq!(
        codes(json!({"1": "{{customer.first_name}}", "2": "Confeitaria", "3": "x"})),
        mismatch,
        "one too many"
    );
    assert_eq!(
        codes(json!({"1": "{{customer.first_name}}", "2": "Confeitaria"})),
        vec![]
    );
}

#[test]
fn templates_and_variables() {
    let with_message = |data: Value| {
        let mut doc = welcome();
        doc["nodes"][2]["data"] = data;
        codes(doc)
    };
    let w = || (n("w"), None);
    let only = |code| {
        let (node, edge) = w();
        vec![(node, edge, code)]
    };
    assert_eq!(
        with_message(json!({"channel": "whatsapp", "templateName": "boas_vindas"})),
        vec![]
    );
    assert_eq!(
        with_message(json!({"channel": "whatsapp", "templateId": "t1"})),
        vec![]
    );
    assert_eq!(
        with_message(json!({"channel": "whatsapp", "templateId": "meta-t1"})),
        vec![]
    );
    assert_eq!(
        with_message(
            json!({"channel": "whatsapp", "templateName": "boas_vindas", "language": "en_US"})
        ),
        only(code::TEMPLATE_NOT_APPROVED)
    );
    assert_eq!(
        with_message(json!({"channel": "whatsapp", "templateName": "resgate"})),
        only(code::TEMPLATE_NOT_APPROVED)
    );
    assert_eq!(
        with_message(json!({"channel": "whatsapp", "templateName": "nope"})),
        only(code::TEMPLATE_MISSING)
    );
    assert_eq!(
        with_message(json!({"channel": "whatsapp", "body": "free text"})),
        only(code::TEMPLATE_MISSING)
    );
    assert_eq!(
        with_message(json!({"channel": "whatsapp", "templateId": "t4"})),
        only(code::TEMPLATE_MISSING)
    );
    // Other channels: the template must exist, whatever its status.
    assert_eq!(
        with_message(json!({"channel": "email", "templateName": "newsletter"})),
        vec![]
    );
    assert_eq!(
        with_message(json!({"channel": "email", "templateName": "boas_vindas"})),
        only(code::TEMPLATE_MISSING)
    );
    assert_eq!(
        with_message(
            json!({"channel": "email", "subject": "Oi {{customer.nome}}",
                            "body": "{{customer.name}} {{link:ftp://x}} {{customer.email"})
        ),
        vec![
            (n("w"), None, code::UNKNOWN_VARIABLE),
            (n("w"), None, code::INVALID_TEMPLATE),
            (n("w"), None, code::INVALID_TEMPLATE),
        ]
    );
    assert_eq!(
        with_message(json!({"channel": "whatsapp", "templateName": "boas_vindas",
                            "variables": {"1": "{{cliente.nome}}"}})),
        only(code::UNKNOWN_VARIABLE)
    );
    let mut doc = welcome();
    doc["nodes"][2] = json!({"id": "w", "type": "webhook", "data": {
        "url": "https://h.example/{{customer.mail}}",
        "body": {"list": ["{{customer.tags}}", {"x": "{{enrollment.x}}"}]}}});
    let errors = run(doc);
    assert_eq!(
        errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>(),
        vec![
            "url: unknown variable {{customer.mail}}",
            "body.list[1].x: unknown variable {{enrollment.x}}"
        ]
    );
}

#[test]
fn catalog_lookup_by_closure() {
    let graph = Graph::from_value(&welcome()).unwrap();
    let nothing = |_: Channel, _: &TemplateRef| -> Option<TemplateStatus> { None };
    let errors = validate(&graph, &ValidationContext::new(&nothing));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, code::TEMPLATE_MISSING);
    let everything = |_: Channel, _: &TemplateRef| Some(TemplateStatus::parse("approved"));
    assert!(validate(&graph, &ValidationContext::new(&everything)).is_empty());
}

#[test]
fn an_empty_graph_only_lacks_a_trigger() {
    assert_eq!(
        codes(json!({"nodes": [], "edges": []})),
        vec![(None, None, code::MISSING_TRIGGER)]
    );
}

#[test]
fn codes_are_distinct() {
    let unique: HashSet<_> = code::ALL.iter().collect();
    assert_eq!(unique.len(), code::ALL.len());
}

// ---- journeys keyed on the event that started them ----

const COURSE: &str = "7b0c2a52-4a39-4c55-8a8e-3f1f0f0e9a01";

/// billet printed (course, per key) → wait for its payment (same
/// transaction) → paid: exit / not paid: e-mail → exit.
fn billet_journey() -> Value {
    json!({
        "nodes": [
            {"id": "t", "type": "trigger", "data": {"source": "event", "event": "billet_printed",
              "productIds": [COURSE], "offerCodes": ["n82b9jqz"], "reentry": "perKey"}},
            {"id": "w", "type": "waitForEvent", "data": {"event": "purchase_approved",
              "timeout": "P2D", "match": "transaction"}},
            {"id": "m", "type": "sendMessage", "data": {"channel": "email",
              "subject": "Seu boleto de {{event.productName}}", "body": "Pedido {{event.transaction}}"}},
            {"id": "paid", "type": "exit", "data": {"goal": "purchase_approved"}},
            {"id": "x", "type": "exit"}
        ],
        "edges": [
            {"id": "e1", "source": "t", "target": "w"},
            {"id": "e2", "source": "w", "sourceHandle": "event", "target": "paid"},
            {"id": "e3", "source": "w", "sourceHandle": "timeout", "target": "m"},
            {"id": "e4", "source": "m", "target": "x"}
        ]
    })
}

fn run_with_products(doc: Value, products: &[&str]) -> Vec<ValidationError> {
    let graph = Graph::from_value(&doc).expect("a graph");
    let catalog = catalog();
    let products: HashSet<Uuid> = products.iter().map(|p| p.parse().unwrap()).collect();
    validate(
        &graph,
        &ValidationContext::new(&catalog).with_products(&products),
    )
}

#[test]
fn a_journey_keyed_on_its_purchase_is_sound() {
    assert_eq!(run(billet_journey()), vec![]);
    assert_eq!(run_with_products(billet_journey(), &[COURSE]), vec![]);
}

#[test]
fn a_product_filter_names_the_workspace_s_products() {
    let other = "0d6f7c4e-1111-4f4f-9c9c-2b2b2b2b2b2b";
    let errors = run_with_products(billet_journey(), &[other]);
    assert_eq!(
        errors
            .iter()
            .map(|e| (e.node_id.clone(), e.code))
            .collect::<Vec<_>>(),
        vec![(n("t"), code::UNKNOWN_PRODUCT)]
    );
    assert!(errors[0].message.contains(COURSE), "{}", errors[0].message);
}

#[test]
fn filters_and_matches_of_the_wrong_shape_are_invalid_data() {
    for (field, value) in [
        ("productIds", json!(["curso-a"])),
        ("productIds", json!(COURSE)),
        ("productIds", json!([42])),
        ("offerCodes", json!([" "])),
        ("offerCodes", json!("n82b9jqz")),
        ("reentry", json!("perkey")),
    ] {
        let mut doc = billet_journey();
        doc["nodes"][0]["data"][field] = value.clone();
        assert_eq!(
            codes(doc),
            vec![(n("t"), None, code::INVALID_DATA)],
            "{field}: {value}"
        );
    }
    for value in [json!("offer"), json!("Transaction"), json!(1)] {
        let mut doc = billet_journey();
        doc["nodes"][1]["data"]["match"] = value.clone();
        let errors = run(doc);
        assert_eq!(errors.len(), 1, "{value}: {errors:?}");
        assert_eq!(
            (errors[0].node_id.as_deref(), errors[0].code),
            (Some("w"), code::INVALID_DATA)
        );
    }
    let mut doc = billet_journey();
    doc["nodes"][1]["data"]["match"] = json!("offer");
    assert!(
        run(doc)[0]
            .message
            .contains("transaction, product or subscription")
    );
}

#[test]
fn keys_need_an_event_trigger() {
    let mut doc = billet_journey();
    doc["nodes"][0]["data"] =
        json!({"source": "manual", "productIds": [COURSE], "reentry": "perKey"});
    assert_eq!(
        codes(doc),
        vec![
            (n("t"), None, code::NEEDS_EVENT_TRIGGER),
            (n("t"), None, code::NEEDS_EVENT_TRIGGER),
            (n("w"), None, code::NEEDS_EVENT_TRIGGER),
        ]
    );
    // Without a match, waiting for any event of that name needs no key.
    let mut doc = billet_journey();
    doc["nodes"][0]["data"] = json!({"source": "schedule", "cron": "0 0 9 * * *"});
    doc["nodes"][1]["data"]
        .as_object_mut()
        .unwrap()
        .remove("match");
    assert_eq!(run(doc), vec![]);
}

#[test]
fn keys_must_be_carried_by_the_events_named() {
    // The first access names a product, not a purchase.
    let mut doc = billet_journey();
    doc["nodes"][1]["data"]["event"] = json!("first_access");
    let errors = run(doc);
    assert_eq!(
        errors
            .iter()
            .map(|e| (e.node_id.clone(), e.code))
            .collect::<Vec<_>>(),
        vec![(n("w"), code::EVENT_KEY_MISSING)]
    );
    assert!(
        errors[0].message.contains("first_access"),
        "{}",
        errors[0].message
    );
    // ...and matching on the product is fine.
    let mut doc = billet_journey();
    doc["nodes"][1]["data"]["event"] = json!("first_access");
    doc["nodes"][1]["data"]["match"] = json!("product");
    assert_eq!(run(doc), vec![]);
    // A plan switch says which subscription, not which product or offer.
    let mut doc = billet_journey();
    doc["nodes"][0]["data"]["event"] = json!("plan_switched");
    doc["nodes"][1]["data"]["match"] = json!("subscription");
    assert_eq!(
        codes(doc),
        vec![
            (n("t"), None, code::EVENT_KEY_MISSING),
            (n("t"), None, code::EVENT_KEY_MISSING),
        ]
    );
    let mut doc = billet_journey();
    doc["nodes"][0]["data"]["event"] = json!("first_access");
    doc["nodes"][0]["data"]["offerCodes"] = json!([]);
    assert_eq!(
        codes(doc),
        vec![(n("w"), None, code::EVENT_KEY_MISSING)],
        "a first access carries no transaction to match"
    );
}
