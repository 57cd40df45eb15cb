use serde_json::json;

use crate::helpers::TestApp;
use crate::on_both_backends;

/// What the React Flow builder saves, with the extra fields it keeps (viewport,
/// selection, styling) and values of every JSON kind, in a deliberate key order.
fn builder_document() -> serde_json::Value {
    json!({
        "viewport": {"x": -120.5, "y": 48, "zoom": 0.75},
        "nodes": [
            {"id": "trigger-1", "type": "trigger", "position": {"x": 0, "y": 0},
             "data": {"source": "event", "event": "purchase_approved", "reentry": "never"},
             "width": 220, "height": 64, "selected": false, "dragging": false},
            {"id": "wait", "type": "delay", "position": {"x": 0, "y": 120}, "data": {"duration": "PT2H"},
             "style": {"border": "1px solid #0a0"}, "zIndex": 3},
            {"id": "msg", "type": "sendMessage", "position": {"x": 0, "y": 240},
             "data": {"channel": "whatsapp", "templateName": "boas_vindas", "language": "pt_BR",
                      "variables": {"1": "{{customer.first_name}}"}, "note": "Olá, ação! 🎉 \"aspas\" \\ barra",
                      "weights": [0.1, 1e-7, 12345678901234_i64, -0.5], "flags": [true, null]}}
        ],
        "edges": [
            {"id": "e1", "source": "trigger-1", "target": "wait", "animated": true, "label": "start"},
            {"id": "e2", "source": "wait", "target": "msg", "sourceHandle": null, "markerEnd": {"type": "arrowclosed"}}
        ],
        "zMeta": {"builderVersion": "11.10.1", "savedBy": "ana@agencia.com"},
        "aFirstKeyLast": 1
    })
}

async fn workflow_data_round_trips_verbatim(app: TestApp) {
    let ws = app.create_workspace("jornadas").await;
    let agent = app.agent_token(ws);
    let document = builder_document();
    let created = app
        .graphql(
            Some(&agent),
            "mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id name status workflowData createdBy } }",
            json!({"input": {"name": "Boas-vindas", "description": "Compra aprovada", "workflowData": document}}),
        )
        .await;
    let campaign = created.data("createCampaign").clone();
    assert_eq!(campaign["status"], "DRAFT");
    assert_eq!(campaign["createdBy"], "test");
    assert_eq!(campaign["workflowData"], document);
    let id = campaign["id"].as_str().unwrap().to_owned();

    let read = app
        .graphql(
            Some(&agent),
            "query($id: ID!) { campaign(id: $id) { workflowData } }",
            json!({"id": id}),
        )
        .await;
    let stored = &read.data("campaign")["workflowData"];
    assert_eq!(stored, &document);
    assert_eq!(
        serde_json::to_string(stored).unwrap(),
        serde_json::to_string(&document).unwrap(),
        "key order and every value come back exactly"
    );

    let mut edited = document.clone();
    edited["nodes"][1]["data"]["duration"] = json!("P1D");
    let updated = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!, $doc: JSON!) { updateCampaign(id: $id, input: {workflowData: $doc, description: null}) { workflowData description name } }",
            json!({"id": id, "doc": edited}),
        )
        .await;
    let updated = updated.data("updateCampaign");
    assert_eq!(updated["workflowData"], edited);
    assert_eq!(updated["description"], serde_json::Value::Null);
    assert_eq!(updated["name"], "Boas-vindas");

    let empty = app
        .graphql(
            Some(&agent),
            "mutation { createCampaign(input: {name: \"Rascunho\"}) { workflowData } }",
            json!({}),
        )
        .await;
    assert_eq!(
        empty.data("createCampaign")["workflowData"],
        json!({"nodes": [], "edges": []})
    );

    let listed = app
        .graphql(Some(&agent), "{ campaigns(filter: {status: DRAFT}) { totalCount } active: campaigns(filter: {status: ACTIVE}) { totalCount } }", json!({}))
        .await;
    assert_eq!(listed.data("campaigns")["totalCount"], 2);
    assert_eq!(listed.body["data"]["active"]["totalCount"], 0);

    let deleted = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!) { deleteCampaign(id: $id) { id name } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(deleted.data("deleteCampaign")["id"], id.as_str());
    let gone = app
        .graphql(
            Some(&agent),
            "query($id: ID!) { campaign(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(gone.error_code(), Some("NOT_FOUND"));
    assert_eq!(app.count_rows("campaigns").await, 1);
}
on_both_backends!(
    workflow_data_round_trips_verbatim,
    workflow_data_round_trips_verbatim
);

async fn target_groups_take_allowlisted_sources_and_rule_filters(app: TestApp) {
    let ws = app.create_workspace("publicos").await;
    let agent = app.agent_token(ws);
    let filter = json!({"combinator": "and", "rules": [{"field": "tags", "op": "contains", "value": "vip"}, {"field": "segment", "op": "in", "value": ["active", "at_risk"]}]});
    let created = app
        .graphql(
            Some(&agent),
            "mutation($input: CreateTargetGroupMappingInput!) { createTargetGroupMapping(input: $input) { id crmName source filter description } }",
            json!({"input": {"crmName": "VIPs ativos", "source": "customers", "filter": filter, "description": "Para upsell"}}),
        )
        .await;
    let group = created.data("createTargetGroupMapping").clone();
    assert_eq!(group["filter"], filter);
    assert_eq!(group["source"], "customers");
    let id = group["id"].as_str().unwrap().to_owned();

    let everyone = app
        .graphql(Some(&agent), "mutation { createTargetGroupMapping(input: {crmName: \"Todos\", source: \"customers\"}) { filter } }", json!({}))
        .await;
    assert_eq!(
        everyone.data("createTargetGroupMapping")["filter"],
        serde_json::Value::Null
    );

    let duplicate = app
        .graphql(Some(&agent), "mutation { createTargetGroupMapping(input: {crmName: \"Todos\", source: \"customers\"}) { id } }", json!({}))
        .await;
    assert_eq!(duplicate.error_code(), Some("CONFLICT"));

    let moved = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!) { updateTargetGroupMapping(id: $id, input: {source: \"enrollments\", filter: {rules: [{field: \"accessStatus\", op: \"eq\", value: \"ACTIVE\"}]}}) { source filter crmName } }",
            json!({"id": id}),
        )
        .await;
    let moved = moved.data("updateTargetGroupMapping");
    assert_eq!(moved["source"], "enrollments");
    assert_eq!(moved["crmName"], "VIPs ativos");

    let wrong_field = app
        .graphql(Some(&agent), "mutation($id: ID!) { updateTargetGroupMapping(id: $id, input: {source: \"transactions\"}) { id } }", json!({"id": id}))
        .await;
    assert_eq!(
        wrong_field.error_code(),
        Some("INVALID_INPUT"),
        "accessStatus is not a field of transactions"
    );

    let listed = app
        .graphql(
            Some(&agent),
            "{ targetGroupMappings { totalCount edges { node { crmName } } } }",
            json!({}),
        )
        .await;
    assert_eq!(listed.data("targetGroupMappings")["totalCount"], 2);
    let deleted = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!) { deleteTargetGroupMapping(id: $id) { crmName } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        deleted.data("deleteTargetGroupMapping")["crmName"],
        "VIPs ativos"
    );
    assert_eq!(app.count_rows("target_group_mappings").await, 1);
}
on_both_backends!(
    target_groups_take_allowlisted_sources_and_rule_filters,
    target_groups_take_allowlisted_sources_and_rule_filters
);
