//! The role matrix: every operation of the API against every kind of caller,
//! each cell the outcome a client must see. One run reports every wrong cell.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Answer, TestApp};
use crate::on_both_backends;

/// What a caller must see for one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// HTTP 200, no errors, the field is present.
    Ok,
    /// Like `Ok`, and the connection's totalCount is at least 1.
    Rows,
    /// Like `Ok`, and the connection's totalCount is 0.
    Empty,
    /// HTTP 200, the field is null and the error carries this code.
    Fails(&'static str),
}

const OK: Expect = Expect::Ok;
const ROWS: Expect = Expect::Rows;
const EMPTY: Expect = Expect::Empty;
const UNAUTH: Expect = Expect::Fails("UNAUTHENTICATED");
const FORBID: Expect = Expect::Fails("FORBIDDEN");
const NF: Expect = Expect::Fails("NOT_FOUND");
const INV: Expect = Expect::Fails("INVALID_INPUT");

/// The callers, in the column order of [`OPERATIONS`].
const CALLERS: [&str; 8] = [
    "anon",
    "agent-a",
    "agent-b",
    "reader-a",
    "service-in-a",
    "agent-a-naming-b",
    "service-without-workspace",
    "service-unknown-workspace",
];

/// Objects of workspace A made for one caller, so what it deletes or changes
/// is its own and can be checked afterwards.
struct Seeds {
    /// The caller's label, safe in slugs.
    slug: String,
    customer: Uuid,
    product: Uuid,
    campaign: Uuid,
    target_group: Uuid,
    setting_key: String,
}

impl Seeds {
    /// The label as it may appear in a setting key.
    fn key_part(&self) -> String {
        self.slug.replace('-', "_")
    }
}

struct Operation {
    field: &'static str,
    query: &'static str,
    variables: fn(&Seeds) -> Value,
    expect: [Expect; 8],
}

/// Queries first, then mutations, each delete after the edits of the same object.
const OPERATIONS: &[Operation] = &[
    // `expect` columns follow CALLERS: anon, agent-a, agent-b, reader-a, service-in-a,
    // agent-a-naming-b, service-without-workspace, service-unknown-workspace.
    Operation {
        field: "workspaces",
        query: "query { workspaces { totalCount } }",
        variables: |_| json!({}),
        expect: [UNAUTH, FORBID, FORBID, FORBID, OK, FORBID, OK, OK],
    },
    Operation {
        field: "workspace",
        query: "query($ws: ID) { workspace(id: $ws) { id slug } }",
        variables: |_| json!({}),
        expect: [UNAUTH, OK, OK, OK, OK, NF, INV, NF],
    },
    Operation {
        field: "customers",
        query: "query($ws: ID) { customers(workspaceId: $ws) { totalCount edges { node { id } } } }",
        variables: |_| json!({}),
        expect: [UNAUTH, ROWS, EMPTY, ROWS, ROWS, NF, INV, NF],
    },
    Operation {
        field: "customer",
        query: "query($ws: ID, $id: ID!) { customer(workspaceId: $ws, id: $id) { id email } }",
        variables: |s| json!({"id": s.customer}),
        expect: [UNAUTH, OK, NF, OK, OK, NF, INV, NF],
    },
    Operation {
        field: "products",
        query: "query($ws: ID) { products(workspaceId: $ws) { totalCount edges { node { id } } } }",
        variables: |_| json!({}),
        expect: [UNAUTH, ROWS, EMPTY, ROWS, ROWS, NF, INV, NF],
    },
    Operation {
        field: "product",
        query: "query($ws: ID, $id: ID!) { product(workspaceId: $ws, id: $id) { id name } }",
        variables: |s| json!({"id": s.product}),
        expect: [UNAUTH, OK, NF, OK, OK, NF, INV, NF],
    },
    Operation {
        field: "transactions",
        query: "query($ws: ID) { transactions(workspaceId: $ws) { totalCount edges { node { id } } } }",
        variables: |_| json!({}),
        expect: [UNAUTH, ROWS, EMPTY, ROWS, ROWS, NF, INV, NF],
    },
    Operation {
        field: "campaigns",
        query: "query($ws: ID) { campaigns(workspaceId: $ws) { totalCount edges { node { id } } } }",
        variables: |_| json!({}),
        expect: [UNAUTH, ROWS, EMPTY, ROWS, ROWS, NF, INV, NF],
    },
    Operation {
        field: "campaign",
        query: "query($ws: ID, $id: ID!) { campaign(workspaceId: $ws, id: $id) { id name status } }",
        variables: |s| json!({"id": s.campaign}),
        expect: [UNAUTH, OK, NF, OK, OK, NF, INV, NF],
    },
    Operation {
        field: "targetGroupMappings",
        query: "query($ws: ID) { targetGroupMappings(workspaceId: $ws) { totalCount edges { node { id } } } }",
        variables: |_| json!({}),
        expect: [UNAUTH, ROWS, EMPTY, ROWS, ROWS, NF, INV, NF],
    },
    Operation {
        field: "targetGroupMapping",
        query: "query($ws: ID, $id: ID!) { targetGroupMapping(workspaceId: $ws, id: $id) { id crmName } }",
        variables: |s| json!({"id": s.target_group}),
        expect: [UNAUTH, OK, NF, OK, OK, NF, INV, NF],
    },
    Operation {
        field: "settings",
        query: "query($ws: ID) { settings(workspaceId: $ws) { totalCount edges { node { key value } } } }",
        variables: |_| json!({}),
        expect: [UNAUTH, ROWS, EMPTY, ROWS, ROWS, NF, INV, NF],
    },
    // ---- mutations ----
    Operation {
        field: "createWorkspace",
        query: "mutation($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }",
        variables: |s| json!({"input": {"name": "Matrix", "slug": format!("matrix-{}", s.slug)}}),
        expect: [UNAUTH, FORBID, FORBID, FORBID, OK, FORBID, OK, OK],
    },
    Operation {
        field: "createCustomer",
        query: "mutation($ws: ID, $input: CreateCustomerInput!) { createCustomer(workspaceId: $ws, input: $input) { id } }",
        variables: |s| json!({"input": {"email": format!("new-{}@example.com", s.slug), "name": "Nova"}}),
        expect: [UNAUTH, OK, OK, FORBID, OK, NF, INV, NF],
    },
    Operation {
        field: "updateCustomer",
        query: "mutation($ws: ID, $id: ID!) { updateCustomer(workspaceId: $ws, id: $id, input: {name: \"Updated\"}) { id name } }",
        variables: |s| json!({"id": s.customer}),
        expect: [UNAUTH, OK, NF, FORBID, OK, NF, INV, NF],
    },
    Operation {
        field: "addCustomerNote",
        query: "mutation($ws: ID, $id: ID!) { addCustomerNote(workspaceId: $ws, id: $id, body: \"matrix note\") { id } }",
        variables: |s| json!({"id": s.customer}),
        expect: [UNAUTH, OK, NF, FORBID, OK, NF, INV, NF],
    },
    Operation {
        field: "addCustomerTags",
        query: "mutation($ws: ID, $id: ID!) { addCustomerTags(workspaceId: $ws, id: $id, tags: [\"matrix\"]) { id tags } }",
        variables: |s| json!({"id": s.customer}),
        expect: [UNAUTH, OK, NF, FORBID, OK, NF, INV, NF],
    },
    Operation {
        field: "removeCustomerTags",
        query: "mutation($ws: ID, $id: ID!) { removeCustomerTags(workspaceId: $ws, id: $id, tags: [\"seed\"]) { id tags } }",
        variables: |s| json!({"id": s.customer}),
        expect: [UNAUTH, OK, NF, FORBID, OK, NF, INV, NF],
    },
    Operation {
        field: "upsertProduct",
        query: "mutation($ws: ID, $input: UpsertProductInput!) { upsertProduct(workspaceId: $ws, input: $input) { id name } }",
        variables: |s| json!({"input": {"id": s.product, "name": "Renamed product"}}),
        expect: [UNAUTH, OK, NF, FORBID, OK, NF, INV, NF],
    },
    Operation {
        field: "setProductMonitored",
        query: "mutation($ws: ID, $id: ID!) { setProductMonitored(workspaceId: $ws, id: $id, monitored: false) { id monitored } }",
        variables: |s| json!({"id": s.product}),
        expect: [UNAUTH, OK, NF, FORBID, OK, NF, INV, NF],
    },
    Operation {
        field: "createCampaign",
        query: "mutation($ws: ID, $input: CreateCampaignInput!) { createCampaign(workspaceId: $ws, input: $input) { id } }",
        variables: |s| json!({"input": {"name": format!("Created by {}", s.slug)}}),
        expect: [UNAUTH, OK, OK, FORBID, OK, NF, INV, NF],
    },
    Operation {
        field: "updateCampaign",
        query: "mutation($ws: ID, $id: ID!) { updateCampaign(workspaceId: $ws, id: $id, input: {name: \"Renamed campaign\"}) { id name } }",
        variables: |s| json!({"id": s.campaign}),
        expect: [UNAUTH, OK, NF, FORBID, OK, NF, INV, NF],
    },
    Operation {
        field: "deleteCampaign",
        query: "mutation($ws: ID, $id: ID!) { deleteCampaign(workspaceId: $ws, id: $id) { id } }",
        variables: |s| json!({"id": s.campaign}),
        expect: [UNAUTH, OK, NF, FORBID, OK, NF, INV, NF],
    },
    Operation {
        field: "createTargetGroupMapping",
        query: "mutation($ws: ID, $input: CreateTargetGroupMappingInput!) { createTargetGroupMapping(workspaceId: $ws, input: $input) { id } }",
        variables: |s| json!({"input": {"crmName": format!("created-{}", s.slug), "source": "customers"}}),
        expect: [UNAUTH, OK, OK, FORBID, OK, NF, INV, NF],
    },
    Operation {
        field: "updateTargetGroupMapping",
        query: "mutation($ws: ID, $id: ID!, $input: UpdateTargetGroupMappingInput!) { updateTargetGroupMapping(workspaceId: $ws, id: $id, input: $input) { id crmName } }",
        variables: |s| json!({"id": s.target_group, "input": {"crmName": format!("renamed-{}", s.slug)}}),
        expect: [UNAUTH, OK, NF, FORBID, OK, NF, INV, NF],
    },
    Operation {
        field: "deleteTargetGroupMapping",
        query: "mutation($ws: ID, $id: ID!) { deleteTargetGroupMapping(workspaceId: $ws, id: $id) { id } }",
        variables: |s| json!({"id": s.target_group}),
        expect: [UNAUTH, OK, NF, FORBID, OK, NF, INV, NF],
    },
    Operation {
        field: "setSetting",
        query: "mutation($ws: ID, $key: String!) { setSetting(workspaceId: $ws, key: $key, value: \"s3cret\") { key value } }",
        variables: |s| json!({"key": format!("matrix.set_{}", s.key_part())}),
        expect: [UNAUTH, OK, OK, FORBID, OK, NF, INV, NF],
    },
    Operation {
        field: "deleteSetting",
        query: "mutation($ws: ID, $key: String!) { deleteSetting(workspaceId: $ws, key: $key) { key } }",
        variables: |s| json!({"key": s.setting_key}),
        expect: [UNAUTH, OK, NF, FORBID, OK, NF, INV, NF],
    },
];

fn expected(field: &str, column: usize) -> Expect {
    OPERATIONS
        .iter()
        .find(|op| op.field == field)
        .unwrap_or_else(|| panic!("{field} is not in the matrix"))
        .expect[column]
}

/// How many cells of `field`'s row expect success.
fn successes(field: &str) -> i64 {
    (0..CALLERS.len())
        .filter(|&column| expected(field, column) == OK)
        .count() as i64
}

/// Why `answer` does not match `expect`, if it does not.
fn mismatch(answer: &Answer, field: &str, expect: Expect) -> Option<String> {
    if answer.status != reqwest::StatusCode::OK {
        return Some(format!("HTTP {} {}", answer.status, answer.body));
    }
    let errors = answer.body.get("errors").filter(|e| !e.is_null());
    let value = &answer.body["data"][field];
    match expect {
        Expect::Fails(code) => {
            if answer.error_code() != Some(code) {
                Some(format!("expected {code}, got {}", answer.body))
            } else if !value.is_null() {
                Some(format!("expected data.{field} null, got {}", answer.body))
            } else {
                None
            }
        }
        _ if errors.is_some() || value.is_null() => {
            Some(format!("expected success, got {}", answer.body))
        }
        Expect::Ok => None,
        Expect::Rows => match value["totalCount"].as_u64() {
            Some(n) if n >= 1 => None,
            _ => Some(format!("expected workspace A's rows, got {value}")),
        },
        Expect::Empty => match (value["totalCount"].as_u64(), value["edges"].as_array()) {
            (Some(0), Some(edges)) if edges.is_empty() => None,
            _ => Some(format!("expected no rows, got {value}")),
        },
    }
}

/// Makes one caller's objects in workspace A.
async fn seed(app: &TestApp, workspace: Uuid, slug: &str) -> Seeds {
    let agent = app.agent_token(workspace);
    let id_of = |answer: Answer, field: &str| {
        Uuid::parse_str(answer.data(field)["id"].as_str().expect("id")).expect("uuid")
    };
    let customer = app
        .graphql(
            Some(&agent),
            "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }",
            json!({"input": {"email": format!("seed-{slug}@example.com"), "name": "Seed", "tags": ["seed"]}}),
        )
        .await;
    let product = app
        .graphql(
            Some(&agent),
            "mutation($input: UpsertProductInput!) { upsertProduct(input: $input) { id } }",
            json!({"input": {"name": "Seed product", "hotmartProductId": format!("seed-{slug}")}}),
        )
        .await;
    let campaign = app
        .graphql(
            Some(&agent),
            "mutation { createCampaign(input: {name: \"Seed campaign\"}) { id } }",
            json!({}),
        )
        .await;
    let target_group = app
        .graphql(
            Some(&agent),
            "mutation($input: CreateTargetGroupMappingInput!) { createTargetGroupMapping(input: $input) { id } }",
            json!({"input": {"crmName": format!("seed-{slug}"), "source": "customers"}}),
        )
        .await;
    let setting_key = format!("matrix.seed_{}", slug.replace('-', "_"));
    app.graphql(
        Some(&agent),
        "mutation($key: String!) { setSetting(key: $key, value: \"seed-value\") { key } }",
        json!({"key": setting_key}),
    )
    .await
    .data("setSetting");
    Seeds {
        slug: slug.to_owned(),
        customer: id_of(customer, "createCustomer"),
        product: id_of(product, "upsertProduct"),
        campaign: id_of(campaign, "createCampaign"),
        target_group: id_of(target_group, "createTargetGroupMapping"),
        setting_key,
    }
}

async fn every_role_gets_its_outcome_for_every_operation(app: TestApp) {
    let a = app.create_workspace("matrix-a").await;
    let b = app.create_workspace("matrix-b").await;
    let any_customer_of_a = app.create_customer(a, "buyer@example.com").await;
    app.insert_transaction(a, any_customer_of_a, None, "HP-MATRIX-1")
        .await;

    let service = app.service_token();
    // (token, workspaceId argument) per column of CALLERS.
    let callers: [(Option<String>, Value); 8] = [
        (None, Value::Null),
        (Some(app.agent_token(a)), Value::Null),
        (Some(app.agent_token(b)), Value::Null),
        (Some(app.reader_token(a)), Value::Null),
        (Some(service.clone()), json!(a)),
        (Some(app.agent_token(a)), json!(b)),
        (Some(service.clone()), Value::Null),
        (Some(service.clone()), json!(Uuid::now_v7())),
    ];
    let mut seeds = Vec::new();
    for label in CALLERS {
        seeds.push(seed(&app, a, label).await);
    }

    let tables = [
        ("workspaces", successes("createWorkspace")),
        ("customers", successes("createCustomer")),
        ("customer_notes", successes("addCustomerNote")),
        ("products", 0),
        (
            "campaigns",
            successes("createCampaign") - successes("deleteCampaign"),
        ),
        (
            "target_group_mappings",
            successes("createTargetGroupMapping") - successes("deleteTargetGroupMapping"),
        ),
        (
            "settings",
            successes("setSetting") - successes("deleteSetting"),
        ),
        ("transactions", 0),
    ];
    let mut before = Vec::new();
    for (table, _) in tables {
        before.push(app.count_rows(table).await);
    }

    let mut mismatches = Vec::new();
    for (column, ((token, workspace), seeds)) in callers.iter().zip(&seeds).enumerate() {
        for op in OPERATIONS {
            let mut variables = (op.variables)(seeds);
            if op.query.contains("$ws") {
                variables["ws"] = workspace.clone();
            }
            let answer = app.graphql(token.as_deref(), op.query, variables).await;
            if let Some(why) = mismatch(&answer, op.field, op.expect[column]) {
                mismatches.push(format!("{} × {}: {why}", op.field, CALLERS[column]));
            }
        }
    }

    // Whatever a caller was refused left workspace A as it was; what it was
    // allowed took effect.
    for (column, seeds) in seeds.iter().enumerate() {
        let label = CALLERS[column];
        let read = app
            .graphql(
                Some(&service),
                "query($ws: ID!, $customer: ID!, $product: ID!) {
                    customer(workspaceId: $ws, id: $customer) { name tags notes { body } }
                    product(workspaceId: $ws, id: $product) { name monitored }
                }",
                json!({"ws": a, "customer": seeds.customer, "product": seeds.product}),
            )
            .await;
        let customer = read.data("customer");
        let product = &read.body["data"]["product"];
        let customer_now = (
            customer["name"].clone(),
            customer["tags"].clone(),
            customer["notes"].as_array().map_or(0, Vec::len),
        );
        let customer_expected = if expected("updateCustomer", column) == OK {
            (json!("Updated"), json!(["matrix"]), 1)
        } else {
            (json!("Seed"), json!(["seed"]), 0)
        };
        if customer_now != customer_expected {
            mismatches.push(format!(
                "after {label}: customer is {customer_now:?}, expected {customer_expected:?}"
            ));
        }
        let product_expected = if expected("upsertProduct", column) == OK {
            json!({"name": "Renamed product", "monitored": false})
        } else {
            json!({"name": "Seed product", "monitored": true})
        };
        if *product != product_expected {
            mismatches.push(format!(
                "after {label}: product is {product}, expected {product_expected}"
            ));
        }

        let campaign = app
            .graphql(
                Some(&service),
                "query($ws: ID!, $id: ID!) { campaign(workspaceId: $ws, id: $id) { name } }",
                json!({"ws": a, "id": seeds.campaign}),
            )
            .await;
        let deleted = expected("deleteCampaign", column) == OK;
        let campaign_ok = if deleted {
            campaign.error_code() == Some("NOT_FOUND")
        } else {
            campaign.body["data"]["campaign"] == json!({"name": "Seed campaign"})
        };
        if !campaign_ok {
            mismatches.push(format!(
                "after {label}: campaign {} (deleted expected: {deleted})",
                campaign.body
            ));
        }

        let group = app
            .graphql(
                Some(&service),
                "query($ws: ID!, $id: ID!) { targetGroupMapping(workspaceId: $ws, id: $id) { crmName } }",
                json!({"ws": a, "id": seeds.target_group}),
            )
            .await;
        let deleted = expected("deleteTargetGroupMapping", column) == OK;
        let group_ok = if deleted {
            group.error_code() == Some("NOT_FOUND")
        } else {
            group.body["data"]["targetGroupMapping"]
                == json!({"crmName": format!("seed-{}", seeds.slug)})
        };
        if !group_ok {
            mismatches.push(format!(
                "after {label}: target group {} (deleted expected: {deleted})",
                group.body
            ));
        }
    }

    let settings = app
        .graphql(
            Some(&service),
            "query($ws: ID!) { settings(workspaceId: $ws, first: 100) { edges { node { key value } } } }",
            json!({"ws": a}),
        )
        .await;
    let keys: Vec<String> = settings.data("settings")["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["key"].as_str().expect("key").to_owned())
        .collect();
    for (column, seeds) in seeds.iter().enumerate() {
        let deleted = expected("deleteSetting", column) == OK;
        let present = keys.contains(&seeds.setting_key);
        if present == deleted {
            mismatches.push(format!(
                "after {}: setting {} present = {present}, expected {}",
                CALLERS[column], seeds.setting_key, !deleted
            ));
        }
    }

    for ((table, delta), before) in tables.iter().zip(before) {
        let after = app.count_rows(table).await;
        if after - before != *delta {
            mismatches.push(format!(
                "{table}: {before} rows before the matrix, {after} after; expected a change of {delta}"
            ));
        }
    }

    assert!(
        mismatches.is_empty(),
        "{} wrong cell(s):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
on_both_backends!(
    every_role_gets_its_outcome_for_every_operation,
    every_role_gets_its_outcome_for_every_operation
);

async fn a_read_only_token_changes_nothing(app: TestApp) {
    let a = app.create_workspace("somente-leitura").await;
    let customer = app.create_customer(a, "leitora@example.com").await;
    let service = app.service_token();
    let product = app
        .graphql(
            Some(&service),
            "mutation($ws: ID!) { upsertProduct(workspaceId: $ws, input: {name: \"Curso\"}) { id } }",
            json!({"ws": a}),
        )
        .await
        .data("upsertProduct")["id"]
        .clone();
    let campaign = app
        .graphql(
            Some(&service),
            "mutation($ws: ID!) { createCampaign(workspaceId: $ws, input: {name: \"Boas-vindas\"}) { id } }",
            json!({"ws": a}),
        )
        .await
        .data("createCampaign")["id"]
        .clone();
    let group = app
        .graphql(
            Some(&service),
            "mutation($ws: ID!) { createTargetGroupMapping(workspaceId: $ws, input: {crmName: \"alunos\", source: \"customers\"}) { id } }",
            json!({"ws": a}),
        )
        .await
        .data("createTargetGroupMapping")["id"]
        .clone();
    app.graphql(
        Some(&service),
        "mutation($ws: ID!) { setSetting(workspaceId: $ws, key: \"hotmart.hottok\", value: \"abc\") { key } }",
        json!({"ws": a}),
    )
    .await
    .data("setSetting");

    let tables = [
        "workspaces",
        "customers",
        "customer_notes",
        "customer_activities",
        "products",
        "campaigns",
        "target_group_mappings",
        "settings",
    ];
    let mut before = Vec::new();
    for table in tables {
        before.push(app.count_rows(table).await);
    }
    let reader = app.reader_token(a);
    let vars =
        json!({"customer": customer, "product": product, "campaign": campaign, "group": group});
    let mutations = [
        (
            "createWorkspace",
            "mutation { createWorkspace(input: {name: \"X\", slug: \"x-ro\"}) { id } }",
        ),
        (
            "createCustomer",
            "mutation { createCustomer(input: {email: \"ro@example.com\"}) { id } }",
        ),
        (
            "updateCustomer",
            "mutation($customer: ID!) { updateCustomer(id: $customer, input: {name: \"Nope\"}) { id } }",
        ),
        (
            "addCustomerNote",
            "mutation($customer: ID!) { addCustomerNote(id: $customer, body: \"nope\") { id } }",
        ),
        (
            "addCustomerTags",
            "mutation($customer: ID!) { addCustomerTags(id: $customer, tags: [\"nope\"]) { id } }",
        ),
        (
            "removeCustomerTags",
            "mutation($customer: ID!) { removeCustomerTags(id: $customer, tags: [\"aluna\"]) { id } }",
        ),
        (
            "upsertProduct",
            "mutation { upsertProduct(input: {name: \"Nope\"}) { id } }",
        ),
        (
            "upsertProduct",
            "mutation($product: ID!) { upsertProduct(input: {id: $product, name: \"Nope\"}) { id } }",
        ),
        (
            "setProductMonitored",
            "mutation($product: ID!) { setProductMonitored(id: $product, monitored: false) { id } }",
        ),
        (
            "createCampaign",
            "mutation { createCampaign(input: {name: \"Nope\"}) { id } }",
        ),
        (
            "updateCampaign",
            "mutation($campaign: ID!) { updateCampaign(id: $campaign, input: {name: \"Nope\"}) { id } }",
        ),
        (
            "deleteCampaign",
            "mutation($campaign: ID!) { deleteCampaign(id: $campaign) { id } }",
        ),
        (
            "createTargetGroupMapping",
            "mutation { createTargetGroupMapping(input: {crmName: \"nope\", source: \"customers\"}) { id } }",
        ),
        (
            "updateTargetGroupMapping",
            "mutation($group: ID!) { updateTargetGroupMapping(id: $group, input: {crmName: \"nope\"}) { id } }",
        ),
        (
            "deleteTargetGroupMapping",
            "mutation($group: ID!) { deleteTargetGroupMapping(id: $group) { id } }",
        ),
        (
            "setSetting",
            "mutation { setSetting(key: \"hotmart.hottok\", value: \"nope\") { key } }",
        ),
        (
            "deleteSetting",
            "mutation { deleteSetting(key: \"hotmart.hottok\") { key } }",
        ),
    ];
    let mut mismatches = Vec::new();
    for (field, query) in mutations {
        let answer = app.graphql(Some(&reader), query, vars.clone()).await;
        if let Some(why) = mismatch(&answer, field, FORBID) {
            mismatches.push(format!("{field}: {why}"));
        }
    }
    for (table, before) in tables.iter().zip(before) {
        let after = app.count_rows(table).await;
        if after != before {
            mismatches.push(format!("{table}: {before} rows before, {after} after"));
        }
    }
    let read = app
        .graphql(
            Some(&reader),
            "query($customer: ID!, $product: ID!, $campaign: ID!, $group: ID!) {
                customer(id: $customer) { name tags notes { id } }
                product(id: $product) { name monitored }
                campaign(id: $campaign) { name }
                targetGroupMapping(id: $group) { crmName }
                settings { totalCount edges { node { key value } } }
            }",
            vars,
        )
        .await;
    assert_eq!(
        read.body["data"],
        json!({
            "customer": {"name": "Maria Silva", "tags": ["aluna"], "notes": []},
            "product": {"name": "Curso", "monitored": true},
            "campaign": {"name": "Boas-vindas"},
            "targetGroupMapping": {"crmName": "alunos"},
            "settings": {"totalCount": 1, "edges": [{"node": {"key": "hotmart.hottok", "value": "********"}}]},
        }),
        "{}",
        read.body
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
on_both_backends!(
    a_read_only_token_changes_nothing,
    a_read_only_token_changes_nothing
);
