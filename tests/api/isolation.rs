//! Cross-workspace isolation: two producers on one platform, each seeing
//! exactly its own rows, neither able to read, change or even detect the other's.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Answer, TestApp};
use crate::on_both_backends;

/// Picks one of a seeded workspace's object ids.
type IdOf = fn(&Tenant) -> &String;

/// One workspace and what was made in it.
struct Tenant {
    ws: Uuid,
    agent: String,
    customers: Vec<String>,
    products: Vec<String>,
    campaigns: Vec<String>,
    groups: Vec<String>,
    settings: Vec<String>,
    transactions: Vec<String>,
}

fn id(answer: &Answer, field: &str) -> String {
    answer.data(field)["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{field} has no id: {}", answer.body))
        .to_owned()
}

async fn create_customer(app: &TestApp, token: &str, email: &str, tags: &[&str]) -> String {
    let answer = app
        .graphql(
            Some(token),
            "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }",
            json!({"input": {"email": email, "name": email.split('@').next(), "tags": tags}}),
        )
        .await;
    id(&answer, "createCustomer")
}

async fn create_product(app: &TestApp, token: &str, name: &str, hotmart_id: &str) -> String {
    let answer = app
        .graphql(
            Some(token),
            "mutation($input: UpsertProductInput!) { upsertProduct(input: $input) { id } }",
            json!({"input": {"name": name, "hotmartProductId": hotmart_id}}),
        )
        .await;
    id(&answer, "upsertProduct")
}

async fn create_campaign(app: &TestApp, token: &str, name: &str) -> String {
    let answer = app
        .graphql(
            Some(token),
            "mutation($name: String!) { createCampaign(input: {name: $name}) { id } }",
            json!({"name": name}),
        )
        .await;
    id(&answer, "createCampaign")
}

async fn create_group(app: &TestApp, token: &str, crm_name: &str) -> String {
    let answer = app
        .graphql(
            Some(token),
            "mutation($name: String!) { createTargetGroupMapping(input: {crmName: $name, source: \"customers\", filter: {rules: [{field: \"tags\", op: \"contains\", value: \"aluna\"}]}}) { id } }",
            json!({"name": crm_name}),
        )
        .await;
    id(&answer, "createTargetGroupMapping")
}

async fn set_setting(app: &TestApp, token: &str, key: &str, value: &str) {
    app.graphql(
        Some(token),
        "mutation($key: String!, $value: String!) { setSetting(key: $key, value: $value, description: \"original\") { key } }",
        json!({"key": key, "value": value}),
    )
    .await
    .data("setSetting");
}

/// Two workspaces with overlapping data: the same e-mail, Hotmart product id,
/// target group name and setting key in both.
async fn two_workspaces(app: &TestApp) -> (Tenant, Tenant) {
    let mut tenants = Vec::new();
    for (slug, own_email, own_group, own_setting) in [
        ("escola-a", "joao@example.com", "compradores-a", "smtp.url"),
        (
            "escola-b",
            "carla@example.com",
            "compradores-b",
            "chatwoot.token",
        ),
    ] {
        let ws = app.create_workspace(slug).await;
        let agent = app.agent_token(ws);
        let maria = create_customer(app, &agent, "maria@example.com", &["aluna"]).await;
        let other = create_customer(app, &agent, own_email, &["lead"]).await;
        let product = create_product(app, &agent, &format!("Curso {slug}"), "HP-SHARED").await;
        let campaigns = vec![
            create_campaign(app, &agent, &format!("Boas-vindas {slug}")).await,
            create_campaign(app, &agent, &format!("Recuperação {slug}")).await,
        ];
        let groups = vec![
            create_group(app, &agent, "alunos-ativos").await,
            create_group(app, &agent, own_group).await,
        ];
        set_setting(app, &agent, "hotmart.hottok", &format!("hottok-{slug}")).await;
        set_setting(app, &agent, own_setting, "secret").await;
        let transaction = app
            .insert_transaction(
                ws,
                Uuid::parse_str(&maria).expect("uuid"),
                Some(Uuid::parse_str(&product).expect("uuid")),
                &format!("HP-{slug}-1"),
            )
            .await;
        tenants.push(Tenant {
            ws,
            agent,
            customers: vec![maria, other],
            products: vec![product],
            campaigns,
            groups,
            settings: vec!["hotmart.hottok".to_owned(), own_setting.to_owned()],
            transactions: vec![transaction.to_string()],
        });
    }
    let b = tenants.pop().expect("b");
    let a = tenants.pop().expect("a");
    (a, b)
}

/// The set of `key` values of a connection's nodes, and its totalCount.
async fn listed(
    app: &TestApp,
    token: &str,
    workspace_id: Option<Uuid>,
    field: &str,
    key: &str,
    filter: Option<Value>,
) -> (u64, BTreeSet<String>) {
    let filter_arg = if filter.is_some() {
        ", filter: $filter"
    } else {
        ""
    };
    let filter_type = match field {
        "customers" => "CustomerFilter",
        "products" => "ProductFilter",
        "transactions" => "TransactionFilter",
        "campaigns" => "CampaignFilter",
        _ => "String",
    };
    let filter_var = if filter.is_some() {
        format!(", $filter: {filter_type}")
    } else {
        String::new()
    };
    let query = format!(
        "query($ws: ID{filter_var}) {{ {field}(workspaceId: $ws, first: 100{filter_arg}) {{ totalCount edges {{ node {{ {key} }} }} }} }}"
    );
    let answer = app
        .graphql(
            Some(token),
            &query,
            json!({"ws": workspace_id, "filter": filter}),
        )
        .await;
    let data = answer.data(field);
    let keys = data["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{field}: {}", answer.body))
        .iter()
        .map(|e| e["node"][key].as_str().expect("a string key").to_owned())
        .collect();
    (data["totalCount"].as_u64().expect("totalCount"), keys)
}

fn set(items: &[String]) -> BTreeSet<String> {
    items.iter().cloned().collect()
}

async fn each_workspace_sees_exactly_its_own_rows(app: TestApp) {
    let (a, b) = two_workspaces(&app).await;
    let service = app.service_token();
    let mut mismatches = Vec::new();
    for (name, tenant) in [("A", &a), ("B", &b)] {
        let reader = app.reader_token(tenant.ws);
        // The agent, a read-only token of the same workspace, and service_role naming it.
        let views = [
            ("agent", tenant.agent.as_str(), None),
            ("reader", reader.as_str(), None),
            ("service_role", service.as_str(), Some(tenant.ws)),
        ];
        for (who, token, ws) in views {
            for (field, key, expected) in [
                ("customers", "id", set(&tenant.customers)),
                ("products", "id", set(&tenant.products)),
                ("campaigns", "id", set(&tenant.campaigns)),
                ("targetGroupMappings", "id", set(&tenant.groups)),
                ("settings", "key", set(&tenant.settings)),
                ("transactions", "id", set(&tenant.transactions)),
            ] {
                let (total, seen) = listed(&app, token, ws, field, key, None).await;
                if seen != expected || total != expected.len() as u64 {
                    mismatches.push(format!(
                        "{who} of {name} lists {field} {seen:?} (totalCount {total}), expected {expected:?}"
                    ));
                }
            }
            let own = app
                .graphql(
                    Some(token),
                    "query($ws: ID) { workspace(id: $ws) { id } }",
                    json!({"ws": ws}),
                )
                .await;
            if own.data("workspace")["id"] != tenant.ws.to_string() {
                mismatches.push(format!("{who} of {name} sees workspace {}", own.body));
            }
        }
    }
    // The same e-mail in both workspaces is two different customers.
    for tenant in [&a, &b] {
        let (total, emails) = listed(
            &app,
            &tenant.agent,
            None,
            "customers",
            "email",
            Some(json!({"search": "maria"})),
        )
        .await;
        assert_eq!((total, emails.len()), (1, 1));
    }
    assert_ne!(a.customers[0], b.customers[0]);
    assert_eq!(app.count_rows("customers").await, 4);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
on_both_backends!(
    each_workspace_sees_exactly_its_own_rows,
    each_workspace_sees_exactly_its_own_rows
);

/// Everything of A a client can observe, as A sees it.
async fn snapshot_of(app: &TestApp, a: &Tenant) -> Value {
    let answer = app
        .graphql(
            Some(&a.agent),
            "query($customer: ID!, $product: ID!, $campaign: ID!, $group: ID!) {
                customer(id: $customer) { email name phone tags updatedAt notes { id body } activities { id activityType } }
                product(id: $product) { name monitored hotmartProductId updatedAt }
                campaign(id: $campaign) { name description status workflowData updatedAt }
                targetGroupMapping(id: $group) { crmName source filter description updatedAt }
                customers { totalCount }
                products { totalCount }
                campaigns { totalCount }
                targetGroupMappings { totalCount }
                transactions { totalCount }
                settings { totalCount edges { node { key description active updatedAt } } }
            }",
            json!({
                "customer": a.customers[0],
                "product": a.products[0],
                "campaign": a.campaigns[0],
                "group": a.groups[0],
            }),
        )
        .await;
    assert!(
        answer.body.get("errors").is_none(),
        "snapshot: {}",
        answer.body
    );
    answer.body["data"].clone()
}

async fn b_cannot_read_change_or_detect_a_objects(app: TestApp) {
    let (a, b) = two_workspaces(&app).await;
    app.graphql(
        Some(&a.agent),
        "mutation($id: ID!) { addCustomerNote(id: $id, body: \"Prefere WhatsApp\") { id } }",
        json!({"id": a.customers[0]}),
    )
    .await
    .data("addCustomerNote");
    let before = snapshot_of(&app, &a).await;
    let rows_before = (
        app.count_rows("customer_notes").await,
        app.count_rows("customer_activities").await,
    );

    let by_id: &[(&str, &str, IdOf)] = &[
        (
            "customer",
            "query($id: ID!) { customer(id: $id) { id email } }",
            |t| &t.customers[0],
        ),
        (
            "updateCustomer",
            "mutation($id: ID!) { updateCustomer(id: $id, input: {name: \"Invasora\", email: \"x@example.com\"}) { id } }",
            |t| &t.customers[0],
        ),
        (
            "addCustomerNote",
            "mutation($id: ID!) { addCustomerNote(id: $id, body: \"invasão\") { id } }",
            |t| &t.customers[0],
        ),
        (
            "addCustomerTags",
            "mutation($id: ID!) { addCustomerTags(id: $id, tags: [\"invadida\"]) { id } }",
            |t| &t.customers[0],
        ),
        (
            "removeCustomerTags",
            "mutation($id: ID!) { removeCustomerTags(id: $id, tags: [\"aluna\"]) { id } }",
            |t| &t.customers[0],
        ),
        (
            "product",
            "query($id: ID!) { product(id: $id) { id } }",
            |t| &t.products[0],
        ),
        (
            "upsertProduct",
            "mutation($id: ID!) { upsertProduct(input: {id: $id, name: \"Invadido\"}) { id } }",
            |t| &t.products[0],
        ),
        (
            "setProductMonitored",
            "mutation($id: ID!) { setProductMonitored(id: $id, monitored: true) { id } }",
            |t| &t.products[0],
        ),
        (
            "campaign",
            "query($id: ID!) { campaign(id: $id) { id } }",
            |t| &t.campaigns[0],
        ),
        (
            "updateCampaign",
            "mutation($id: ID!) { updateCampaign(id: $id, input: {name: \"Invadida\", workflowData: {nodes: [], edges: []}}) { id } }",
            |t| &t.campaigns[0],
        ),
        (
            "deleteCampaign",
            "mutation($id: ID!) { deleteCampaign(id: $id) { id } }",
            |t| &t.campaigns[0],
        ),
        (
            "targetGroupMapping",
            "query($id: ID!) { targetGroupMapping(id: $id) { id } }",
            |t| &t.groups[0],
        ),
        (
            "updateTargetGroupMapping",
            "mutation($id: ID!) { updateTargetGroupMapping(id: $id, input: {crmName: \"invadido\", filter: null}) { id } }",
            |t| &t.groups[0],
        ),
        (
            "deleteTargetGroupMapping",
            "mutation($id: ID!) { deleteTargetGroupMapping(id: $id) { id } }",
            |t| &t.groups[0],
        ),
    ];
    let mut mismatches = Vec::new();
    for (field, query, object) in by_id {
        let foreign = app
            .graphql(Some(&b.agent), query, json!({"id": object(&a)}))
            .await;
        let missing = app
            .graphql(Some(&b.agent), query, json!({"id": Uuid::now_v7()}))
            .await;
        if foreign.status != reqwest::StatusCode::OK
            || foreign.error_code() != Some("NOT_FOUND")
            || !(foreign.body["data"].is_null() || foreign.body["data"][field].is_null())
        {
            mismatches.push(format!("{field} on A's object as B: {}", foreign.body));
        }
        // A's object and one that never existed answer alike: nothing leaks.
        let message = |answer: &Answer| {
            (
                answer.body["errors"][0]["message"].clone(),
                answer.error_codes(),
            )
        };
        if message(&foreign) != message(&missing) {
            mismatches.push(format!(
                "{field}: A's object answers {} but a missing one {}",
                foreign.body, missing.body
            ));
        }
    }
    // Deleting A's setting by key finds nothing in B.
    let delete_setting = app
        .graphql(
            Some(&b.agent),
            "mutation { deleteSetting(key: \"smtp.url\") { key } }",
            json!({}),
        )
        .await;
    if delete_setting.error_code() != Some("NOT_FOUND") {
        mismatches.push(format!(
            "deleteSetting of A's key as B: {}",
            delete_setting.body
        ));
    }
    // Naming A's workspace is the same as naming one that does not exist.
    for query in [
        "query($ws: ID) { workspace(id: $ws) { id } }",
        "query($ws: ID) { customers(workspaceId: $ws) { totalCount } }",
        "query($ws: ID) { settings(workspaceId: $ws) { totalCount } }",
        "mutation($ws: ID) { createCustomer(workspaceId: $ws, input: {email: \"plantada@example.com\"}) { id } }",
        "mutation($ws: ID) { setSetting(workspaceId: $ws, key: \"hotmart.hottok\", value: \"plantado\") { key } }",
    ] {
        let foreign = app
            .graphql(Some(&b.agent), query, json!({"ws": a.ws}))
            .await;
        let missing = app
            .graphql(Some(&b.agent), query, json!({"ws": Uuid::now_v7()}))
            .await;
        if foreign.error_code() != Some("NOT_FOUND")
            || foreign.body["errors"][0]["message"] != missing.body["errors"][0]["message"]
        {
            mismatches.push(format!(
                "{query} naming A as B: {} (missing workspace: {})",
                foreign.body, missing.body
            ));
        }
    }

    // What B does with the same names as A's stays in B.
    app.graphql(
        Some(&b.agent),
        "mutation { setSetting(key: \"smtp.url\", value: \"smtp://b\", description: \"B's\") { key } }",
        json!({}),
    )
    .await
    .data("setSetting");
    app.graphql(
        Some(&b.agent),
        "mutation { setSetting(key: \"hotmart.hottok\", value: \"new-b\", description: \"B's\") { key } }",
        json!({}),
    )
    .await
    .data("setSetting");
    let upserted = app
        .graphql(
            Some(&b.agent),
            "mutation { upsertProduct(input: {hotmartProductId: \"HP-SHARED\", name: \"Renomeado por B\", monitored: true}) { id } }",
            json!({}),
        )
        .await;
    if id(&upserted, "upsertProduct") != b.products[0] {
        mismatches.push(format!(
            "B's upsert by Hotmart id touched {} instead of B's product",
            upserted.body
        ));
    }
    let tagged = app
        .graphql(
            Some(&b.agent),
            "mutation($id: ID!) { addCustomerTags(id: $id, tags: [\"vip\"]) { tags } }",
            json!({"id": b.customers[0]}),
        )
        .await;
    assert_eq!(
        tagged.data("addCustomerTags")["tags"],
        json!(["aluna", "vip"])
    );
    create_group(&app, &b.agent, "compradores-a").await;

    let after = snapshot_of(&app, &a).await;
    if before != after {
        mismatches.push(format!("A changed:\nbefore {before}\nafter  {after}"));
    }
    let rows_after = (
        app.count_rows("customer_notes").await,
        app.count_rows("customer_activities").await,
    );
    if rows_before != rows_after {
        mismatches.push(format!(
            "(notes, activities) went from {rows_before:?} to {rows_after:?}"
        ));
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
on_both_backends!(
    b_cannot_read_change_or_detect_a_objects,
    b_cannot_read_change_or_detect_a_objects
);

async fn foreign_ids_in_filters_and_cursors_find_nothing(app: TestApp) {
    let (a, b) = two_workspaces(&app).await;
    let count = |token: &str, filter: Value| {
        let token = token.to_owned();
        let app = &app;
        async move { listed(app, &token, None, "transactions", "id", Some(filter)).await }
    };
    // A's own filters find A's transaction...
    assert_eq!(
        count(&a.agent, json!({"customerId": a.customers[0]})).await,
        (1, set(&a.transactions))
    );
    assert_eq!(
        count(&a.agent, json!({"productId": a.products[0]})).await,
        (1, set(&a.transactions))
    );
    // ...and B using A's ids finds nothing, not A's rows.
    for filter in [
        json!({"customerId": a.customers[0]}),
        json!({"productId": a.products[0]}),
        json!({"customerId": a.customers[0], "productId": a.products[0], "status": "approved"}),
    ] {
        assert_eq!(
            count(&b.agent, filter.clone()).await,
            (0, BTreeSet::new()),
            "B filtering by {filter}"
        );
    }
    assert_eq!(
        count(&b.agent, json!({"customerId": b.customers[0]})).await,
        (1, set(&b.transactions))
    );

    // Filters on shared values only ever match the caller's rows.
    let (total, products) = listed(
        &app,
        &b.agent,
        None,
        "products",
        "id",
        Some(json!({"hotmartProductId": "HP-SHARED"})),
    )
    .await;
    assert_eq!((total, products), (1, set(&b.products)));
    let (total, customers) = listed(
        &app,
        &b.agent,
        None,
        "customers",
        "id",
        Some(json!({"tag": "aluna"})),
    )
    .await;
    assert_eq!((total, customers), (1, set(&b.customers[..1])));

    // A cursor taken from A's list pages through B's rows only.
    let page = app
        .graphql(
            Some(&a.agent),
            "{ customers(first: 1) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await;
    let cursor = page.data("customers")["pageInfo"]["endCursor"].clone();
    let after = app
        .graphql(
            Some(&b.agent),
            "query($after: String) { customers(after: $after) { edges { node { id } } } }",
            json!({"after": cursor}),
        )
        .await;
    for edge in after.data("customers")["edges"].as_array().expect("edges") {
        let id = edge["node"]["id"].as_str().expect("id").to_owned();
        assert!(b.customers.contains(&id), "B paged onto {id}, not B's");
    }

    // Nested relations follow the parent's workspace.
    let nested = app
        .graphql(
            Some(&b.agent),
            "query($id: ID!) { customer(id: $id) { transactions { id customer { id } product { id } } } }",
            json!({"id": b.customers[0]}),
        )
        .await;
    assert_eq!(
        nested.data("customer")["transactions"],
        json!([{"id": b.transactions[0], "customer": {"id": b.customers[0]}, "product": {"id": b.products[0]}}])
    );
    let listed_nested = app
        .graphql(
            Some(&b.agent),
            "{ transactions { edges { node { customer { id } product { id } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed_nested.data("transactions")["edges"],
        json!([{"node": {"customer": {"id": b.customers[0]}, "product": {"id": b.products[0]}}}])
    );
}
on_both_backends!(
    foreign_ids_in_filters_and_cursors_find_nothing,
    foreign_ids_in_filters_and_cursors_find_nothing
);

async fn service_role_acts_only_in_the_workspace_it_names(app: TestApp) {
    let (a, b) = two_workspaces(&app).await;
    let service = app.service_token();

    // Created in B by name: B sees it, A does not.
    let created = app
        .graphql(
            Some(&service),
            "mutation($ws: ID!) { createCustomer(workspaceId: $ws, input: {email: \"nova@example.com\"}) { id } }",
            json!({"ws": b.ws}),
        )
        .await;
    let new = id(&created, "createCustomer");
    let (_, in_b) = listed(&app, &b.agent, None, "customers", "id", None).await;
    let (_, in_a) = listed(&app, &a.agent, None, "customers", "id", None).await;
    assert!(in_b.contains(&new));
    assert!(!in_a.contains(&new));

    // A's objects named with B's workspace are not found, and stay as they were.
    let before = snapshot_of(&app, &a).await;
    for (field, query, object) in [
        (
            "customer",
            "query($ws: ID!, $id: ID!) { customer(workspaceId: $ws, id: $id) { id } }",
            &a.customers[0],
        ),
        (
            "updateCustomer",
            "mutation($ws: ID!, $id: ID!) { updateCustomer(workspaceId: $ws, id: $id, input: {name: \"X\"}) { id } }",
            &a.customers[0],
        ),
        (
            "setProductMonitored",
            "mutation($ws: ID!, $id: ID!) { setProductMonitored(workspaceId: $ws, id: $id, monitored: true) { id } }",
            &a.products[0],
        ),
        (
            "deleteCampaign",
            "mutation($ws: ID!, $id: ID!) { deleteCampaign(workspaceId: $ws, id: $id) { id } }",
            &a.campaigns[0],
        ),
        (
            "deleteTargetGroupMapping",
            "mutation($ws: ID!, $id: ID!) { deleteTargetGroupMapping(workspaceId: $ws, id: $id) { id } }",
            &a.groups[0],
        ),
    ] {
        let answer = app
            .graphql(Some(&service), query, json!({"ws": b.ws, "id": object}))
            .await;
        assert_eq!(
            answer.error_code(),
            Some("NOT_FOUND"),
            "{field}: {}",
            answer.body
        );
    }
    assert_eq!(snapshot_of(&app, &a).await, before);

    // Without a workspace, or naming one that does not exist.
    let missing = app
        .graphql(Some(&service), "{ customers { totalCount } }", json!({}))
        .await;
    assert_eq!(
        missing.error_code(),
        Some("INVALID_INPUT"),
        "{}",
        missing.body
    );
    let unknown = app
        .graphql(
            Some(&service),
            "query($ws: ID!) { customers(workspaceId: $ws) { totalCount } }",
            json!({"ws": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(unknown.error_code(), Some("NOT_FOUND"), "{}", unknown.body);
    let malformed = app
        .graphql(
            Some(&service),
            "{ customers(workspaceId: \"escola-a\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        malformed.error_code(),
        Some("INVALID_INPUT"),
        "{}",
        malformed.body
    );
}
on_both_backends!(
    service_role_acts_only_in_the_workspace_it_names,
    service_role_acts_only_in_the_workspace_it_names
);
