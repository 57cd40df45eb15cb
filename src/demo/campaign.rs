//! The school's campaign: a WhatsApp invitation to a live class for the
//! active students of its baking course, drawn, published and run as a
//! producer does it through GraphQL.

use anyhow::Context;
use chrono::Duration;
use serde_json::{Value, json};

use super::catalog::PRODUCTS;
use super::front_door::FrontDoor;
use super::templates::CAMPAIGN_TEMPLATE;

/// How long before the end of the fill the campaign ran.
pub const LAUNCHED_AGO: Duration = Duration::days(12);
pub const NAME: &str = "Aula ao vivo: bolos de festa";

fn node(id: &str, kind: &str, x: i64, data: Value) -> Value {
    json!({"id": id, "type": kind, "position": {"x": x, "y": 0}, "data": data})
}

/// trigger (manual) → WhatsApp invitation → exit.
fn journey() -> Value {
    json!({
        "nodes": [
            node("inicio", "trigger", 0, json!({"source": "manual"})),
            node("convite", "sendMessage", 260, json!({
                "channel": "whatsapp",
                "templateName": CAMPAIGN_TEMPLATE,
                "language": "pt_BR",
                "variables": {"1": "{{customer.first_name}}"}
            })),
            node("fim", "exit", 520, json!({}))
        ],
        "edges": [
            {"id": "e1", "source": "inicio", "target": "convite"},
            {"id": "e2", "source": "convite", "target": "fim"}
        ]
    })
}

/// Creates the audience and the campaign, publishes and runs it.
pub async fn launch(door: &FrontDoor) -> anyhow::Result<()> {
    let baking = &PRODUCTS[0];
    let hotmart_id = baking.hotmart_id.to_string();
    let products = door
        .graphql(
            "{ products(first: 10) { nodes { id hotmartProductId } } }",
            json!({}),
        )
        .await?;
    let product_id = products["products"]["nodes"]
        .as_array()
        .and_then(|nodes| {
            nodes
                .iter()
                .find(|n| n["hotmartProductId"] == hotmart_id.as_str())
        })
        .map(|n| n["id"].clone())
        .context("the baking course is not in the catalogue yet")?;
    let group = door
        .graphql(
            "mutation($input: CreateTargetGroupMappingInput!) { createTargetGroupMapping(input: $input) { id } }",
            json!({"input": {
                "crmName": format!("Alunos ativos — {}", baking.name),
                "source": "enrollments",
                "description": "Matrículas ativas do curso de confeitaria",
                "filter": {"rules": [
                    {"field": "productId", "op": "eq", "value": product_id},
                    {"field": "accessStatus", "op": "eq", "value": "ACTIVE"}
                ]}
            }}),
        )
        .await?;
    let campaign = door
        .graphql(
            "mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }",
            json!({"input": {
                "name": NAME,
                "description": "Convite por WhatsApp para a aula ao vivo dos alunos de Confeitaria Lucrativa",
                "workflowData": journey()
            }}),
        )
        .await?;
    let id = campaign["createCampaign"]["id"].clone();
    door.graphql(
        "mutation($id: ID!) { publishCampaign(id: $id) { status } }",
        json!({"id": id}),
    )
    .await?;
    door.graphql(
        "mutation($id: ID!, $g: ID!) { runCampaign(id: $id, targetGroupId: $g) { id } }",
        json!({"id": id, "g": group["createTargetGroupMapping"]["id"]}),
    )
    .await?;
    tracing::info!("demo: campaign launched");
    Ok(())
}
