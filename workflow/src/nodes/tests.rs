use super::*;
use serde_json::json;

fn parse(node_type: &str, data: Value) -> Result<NodeData, NodeDataError> {
    NodeData::parse(NodeType::parse(node_type).expect("known type"), &data)
}

fn ok(node_type: &str, data: Value) -> NodeData {
    parse(node_type, data.clone()).unwrap_or_else(|e| panic!("{node_type} {data}: {e}"))
}

fn bad(node_type: &str, data: Value) -> NodeDataError {
    parse(node_type, data.clone()).expect_err(&format!("{node_type} {data} accepted"))
}

#[test]
fn node_type_names_round_trip() {
    for t in NodeType::ALL {
        assert_eq!(NodeType::parse(t.name()), Some(t));
    }
    assert_eq!(NodeType::parse("Trigger"), None);
}

#[test]
fn reads_every_example_of_the_contract() {
    let NodeData::Trigger(t) = ok(
        "trigger",
        json!({"source": "event", "event": "purchase_approved", "reentry": "P30D", "label": "x"}),
    ) else {
        panic!()
    };
    assert_eq!(t.source, TriggerSource::Event);
    assert_eq!(t.reentry, Reentry::After("P30D".parse().unwrap()));
    let NodeData::Trigger(t) = ok(
        "trigger",
        json!({"source": "segment", "targetGroupId": "g1", "reentry": "always"}),
    ) else {
        panic!()
    };
    assert_eq!(t.target_group_id.as_deref(), Some("g1"));
    assert_eq!(t.reentry, Reentry::Always);
    ok("trigger", json!({"source": "manual"}));
    ok(
        "trigger",
        json!({"source": "schedule", "cron": "0 0 9 * * *", "reentry": "never"}),
    );

    assert_eq!(
        ok("delay", json!({"duration": "PT2H"})),
        NodeData::Delay(DelayData::For("PT2H".parse().unwrap()))
    );
    assert_eq!(
        ok("delay", json!({"until": "09:00"})),
        NodeData::Delay(DelayData::Until(NaiveTime::from_hms_opt(9, 0, 0).unwrap()))
    );
    let NodeData::WaitForEvent(w) = ok(
        "waitForEvent",
        json!({"event": "first_access", "timeout": "P3D"}),
    ) else {
        panic!()
    };
    assert_eq!(w.event, "first_access");
    let NodeData::Condition(c) = ok(
        "condition",
        json!({"combinator": "or", "rules": [{"field": "customer.tags", "op": "contains", "value": "vip"}]}),
    ) else {
        panic!()
    };
    assert_eq!(c.combinator, Combinator::Or);
    let split = ok(
        "split",
        json!({"branches": [{"id": "a", "weight": 50}, {"id": "b", "weight": 50}]}),
    );
    assert_eq!(split.handles(), vec!["a", "b"]);
    let NodeData::SendMessage(m) = ok(
        "sendMessage",
        json!({"channel": "whatsapp", "templateName": "boas_vindas", "language": "pt_BR",
               "variables": {"1": "{{customer.first_name}}", "2": "{{enrollment.access_url}}"},
               "requireApproval": true}),
    ) else {
        panic!()
    };
    assert_eq!(
        m.template,
        Some(TemplateRef::Name {
            name: "boas_vindas".into(),
            language: Some("pt_BR".into())
        })
    );
    assert_eq!(
        m.variables[0],
        ("1".into(), "{{customer.first_name}}".into())
    );
    assert!(m.require_approval);
    ok(
        "sendMessage",
        json!({"channel": "email", "subject": "Oi", "body": "Olá"}),
    );
    ok(
        "sendMessage",
        json!({"channel": "sms", "templateId": "t-1"}),
    );
    ok("approval", json!({"expiresAfter": "P2D"}));
    let NodeData::UpdateCustomer(u) = ok(
        "updateCustomer",
        json!({"addTags": ["vip"], "removeTags": ["lead"], "set": {"segment": "active", "metadata.plan": {"x": 1}}}),
    ) else {
        panic!()
    };
    assert_eq!(u.add_tags, vec!["vip"]);
    ok("updateCustomer", json!({}));
    let NodeData::Webhook(w) = ok("webhook", json!({"url": "https://hooks.example/x"})) else {
        panic!()
    };
    assert_eq!(w.method, "POST");
    ok(
        "webhook",
        json!({"url": "https://h.example/{{customer.email}}", "method": "put", "body": {"a": "{{customer.name}}"}}),
    );
    assert_eq!(
        ok("exit", json!({"goal": "purchase_approved"})),
        NodeData::Exit(ExitData {
            goal: Some("purchase_approved".into())
        })
    );
    assert_eq!(ok("exit", Value::Null), NodeData::Exit(ExitData::default()));
}

#[test]
fn refuses_malformed_data() {
    for (node_type, data) in [
        ("trigger", json!({})),
        ("trigger", json!({"source": "webhook"})),
        ("trigger", json!({"source": "event"})),
        ("trigger", json!({"source": "schedule", "cron": " "})),
        (
            "trigger",
            json!({"source": "schedule", "cron": "every monday"}),
        ),
        (
            "trigger",
            json!({"source": "schedule", "cron": "0 0 24 * * *"}),
        ),
        (
            "trigger",
            json!({"source": "manual", "reentry": "sometimes"}),
        ),
        ("trigger", json!({"source": "manual", "reentry": "PT0S"})),
        ("delay", json!({})),
        ("delay", json!({"duration": "2h"})),
        ("delay", json!({"duration": "PT0M"})),
        ("delay", json!({"until": "9am"})),
        ("delay", json!({"duration": "PT1H", "until": "09:00"})),
        ("waitForEvent", json!({"event": "first_access"})),
        ("waitForEvent", json!({"event": "", "timeout": "P3D"})),
        ("condition", json!({"rules": []})),
        (
            "condition",
            json!({"combinator": "xor", "rules": [{"field": "customer.tags", "op": "exists"}]}),
        ),
        ("split", json!({"branches": [{"id": "a", "weight": 100}]})),
        (
            "split",
            json!({"branches": [{"id": "a", "weight": 50}, {"id": "a", "weight": 50}]}),
        ),
        (
            "split",
            json!({"branches": [{"id": "a", "weight": 0}, {"id": "b", "weight": 50}]}),
        ),
        (
            "split",
            json!({"branches": [{"id": "a", "weight": -1}, {"id": "b", "weight": 50}]}),
        ),
        (
            "split",
            json!({"branches": [{"id": "a", "weight": 1e308}, {"id": "b", "weight": 1e308}]}),
        ),
        (
            "split",
            json!({"branches": [{"id": "", "weight": 1}, {"id": "b", "weight": 1}]}),
        ),
        ("sendMessage", json!({"channel": "telegram", "body": "x"})),
        ("sendMessage", json!({"channel": "email"})),
        (
            "sendMessage",
            json!({"channel": "sms", "body": "x", "variables": {"1": 2}}),
        ),
        ("approval", json!({})),
        ("approval", json!({"expiresAfter": "P0D"})),
        ("updateCustomer", json!({"set": {"email": "x@y"}})),
        ("updateCustomer", json!({"set": {"segment": 3}})),
        ("updateCustomer", json!({"addTags": [""]})),
        ("updateCustomer", json!({"addTags": "vip"})),
        ("webhook", json!({"url": "hooks.example"})),
        (
            "webhook",
            json!({"url": "https://h.example", "method": "TRACE"}),
        ),
        ("exit", json!({"goal": ""})),
        ("exit", json!([1])),
        ("delay", json!("PT2H")),
    ] {
        let error = bad(node_type, data);
        assert_eq!(error.code, code::INVALID_DATA, "{}", error.message);
    }
}

#[test]
fn handles_per_type() {
    assert_eq!(NodeType::Exit.fixed_handles(), Some(&[][..]));
    assert_eq!(NodeType::Delay.fixed_handles(), Some(&["default"][..]));
    assert_eq!(NodeType::Split.fixed_handles(), None);
    assert!(NodeType::Approval.waits() && !NodeType::Condition.waits());
}

#[test]
fn event_triggers_filter_and_waits_match_on_the_starting_key() {
    let product = "7b0c2a52-4a39-4c55-8a8e-3f1f0f0e9a01";
    let NodeData::Trigger(t) = ok(
        "trigger",
        json!({"source": "event", "event": "billet_printed", "productIds": [product],
               "offerCodes": [" n82b9jqz "], "reentry": "perKey"}),
    ) else {
        panic!()
    };
    assert_eq!(t.product_ids, vec![product.parse::<uuid::Uuid>().unwrap()]);
    assert_eq!(t.offer_codes, vec!["n82b9jqz".to_owned()]);
    assert_eq!(t.reentry, Reentry::PerKey);
    let NodeData::Trigger(t) = ok(
        "trigger",
        json!({"source": "event", "event": "first_access"}),
    ) else {
        panic!()
    };
    assert!(t.product_ids.is_empty() && t.offer_codes.is_empty());
    assert_eq!(t.reentry, Reentry::Never);
    assert!(
        bad(
            "trigger",
            json!({"source": "event", "event": "x", "productIds": ["A"]})
        )
        .message
        .contains("productIds")
    );

    for (name, part) in [
        ("transaction", KeyPart::Transaction),
        ("product", KeyPart::Product),
        ("subscription", KeyPart::Subscription),
    ] {
        let NodeData::WaitForEvent(w) = ok(
            "waitForEvent",
            json!({"event": "purchase_approved", "timeout": "P2D", "match": name}),
        ) else {
            panic!()
        };
        assert_eq!(w.matching, Some(part));
    }
    let NodeData::WaitForEvent(w) = ok(
        "waitForEvent",
        json!({"event": "purchase_approved", "timeout": "P2D"}),
    ) else {
        panic!()
    };
    assert_eq!(w.matching, None, "absent: any event of that name");
    assert_eq!(
        bad(
            "waitForEvent",
            json!({"event": "purchase_approved", "timeout": "P2D", "match": "offer"})
        )
        .code,
        code::INVALID_DATA
    );
}
