//! The workflow contract as the React builder reads it, to generate its
//! palette and node forms.

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::on_both_backends;

const NODE_TYPES: &str = "{ workflowNodeTypes { type description handles handlesFromField example fields { name type required allowedValues default description fields { name type required allowedValues } } } }";

fn by_type<'a>(types: &'a Value, name: &str) -> &'a Value {
    types
        .as_array()
        .expect("a list")
        .iter()
        .find(|t| t["type"] == name)
        .unwrap_or_else(|| panic!("no {name} in {types}"))
}

fn field<'a>(node_type: &'a Value, name: &str) -> &'a Value {
    node_type["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {node_type}"))
}

async fn the_builder_reads_every_node_type_with_its_fields_and_handles(app: TestApp) {
    let ws = app.create_workspace("construtor").await;
    let answer = app
        .graphql(Some(&app.reader_token(ws)), NODE_TYPES, json!({}))
        .await;
    let types = answer.data("workflowNodeTypes").clone();
    let names: Vec<&str> = types
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "trigger",
            "delay",
            "waitForEvent",
            "condition",
            "split",
            "sendMessage",
            "approval",
            "updateCustomer",
            "webhook",
            "exit"
        ]
    );

    let trigger = by_type(&types, "trigger");
    let source = field(trigger, "source");
    assert_eq!(source["type"], "CHOICE");
    assert_eq!(source["required"], true);
    assert_eq!(
        source["allowedValues"],
        json!(["segment", "event", "manual", "schedule"])
    );
    let event = field(trigger, "event");
    assert_eq!(event["type"], "EVENT");
    assert!(
        event["allowedValues"]
            .as_array()
            .unwrap()
            .contains(&json!("purchase_approved"))
    );
    assert_eq!(field(trigger, "reentry")["default"], "never");
    assert_eq!(trigger["handles"], json!(["default"]));

    let wait = by_type(&types, "waitForEvent");
    assert_eq!(wait["handles"], json!(["event", "timeout"]));
    assert_eq!(field(wait, "timeout")["type"], "DURATION");
    assert_eq!(
        by_type(&types, "condition")["handles"],
        json!(["true", "false"])
    );
    let rules = field(by_type(&types, "condition"), "rules");
    assert_eq!(rules["type"], "OBJECT_LIST");
    let op = &rules["fields"][1];
    assert_eq!(op["name"], "op");
    assert!(
        op["allowedValues"]
            .as_array()
            .unwrap()
            .contains(&json!("not_contains"))
    );

    let split = by_type(&types, "split");
    assert_eq!(split["handles"], json!([]));
    assert_eq!(split["handlesFromField"], "branches.id");
    assert_eq!(
        by_type(&types, "approval")["handles"],
        json!(["approved", "rejected", "expired"])
    );
    let send = by_type(&types, "sendMessage");
    assert!(
        field(send, "channel")["allowedValues"]
            .as_array()
            .unwrap()
            .contains(&json!("whatsapp"))
    );
    assert_eq!(field(send, "requireApproval")["default"], false);
    assert_eq!(by_type(&types, "exit")["handles"], json!([]));

    // Each example is a node the validator takes as it is.
    let example = |name: &str| by_type(&types, name)["example"].clone();
    let document = json!({
        "nodes": [
            {"id": "t", "type": "trigger", "position": {"x": 0, "y": 0}, "data": example("trigger")},
            {"id": "d", "type": "delay", "position": {"x": 0, "y": 100}, "data": example("delay")},
            {"id": "x", "type": "exit", "position": {"x": 0, "y": 200}, "data": example("exit")}
        ],
        "edges": [{"id": "e1", "source": "t", "target": "d"}, {"id": "e2", "source": "d", "target": "x"}]
    });
    let problems = app
        .graphql(
            Some(&app.agent_token(ws)),
            "query($d: JSON!) { validateWorkflow(workflowData: $d) { nodeId code } }",
            json!({"d": document}),
        )
        .await;
    assert_eq!(problems.data("validateWorkflow"), &json!([]));

    // Every caller but anon reads it.
    for token in [app.agent_token(ws), app.service_token()] {
        let answer = app
            .graphql(Some(&token), "{ workflowNodeTypes { type } }", json!({}))
            .await;
        assert_eq!(
            answer.data("workflowNodeTypes").as_array().map(Vec::len),
            Some(10)
        );
    }
    let anon = app
        .graphql(None, "{ workflowNodeTypes { type } }", json!({}))
        .await;
    assert_eq!(anon.error_code(), Some("UNAUTHENTICATED"));
}
on_both_backends!(
    workflow_node_types,
    the_builder_reads_every_node_type_with_its_fields_and_handles
);
