use serde_json::json;

use crate::helpers::TestApp;
use crate::on_both_backends;

const CUSTOMER_FIELDS: &str = "id email name phone tags segment churnRisk ltvTotal createdAt";

async fn create_read_update_and_tag_a_customer(app: TestApp) {
    let ws = app.create_workspace("curso-da-ana").await;
    let agent = app.agent_token(ws);
    let created = app
        .graphql(
            Some(&agent),
            &format!("mutation($input: CreateCustomerInput!) {{ createCustomer(input: $input) {{ {CUSTOMER_FIELDS} }} }}"),
            json!({"input": {"email": " Maria@Example.com ", "name": "Maria Silva", "phone": "(11) 98765-4321", "tags": ["aluna", "vip", "vip"]}}),
        )
        .await;
    let customer = created.data("createCustomer").clone();
    assert_eq!(customer["email"], "maria@example.com");
    assert_eq!(customer["phone"], "+5511987654321");
    assert_eq!(customer["tags"], json!(["aluna", "vip"]));
    assert_eq!(customer["segment"], "lead");
    assert_eq!(customer["ltvTotal"], "0.00");
    let id = customer["id"].as_str().unwrap().to_owned();

    let updated = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!) { updateCustomer(id: $id, input: {name: \"Maria S.\", phone: null}) { name phone email } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        updated.data("updateCustomer"),
        &json!({"name": "Maria S.", "phone": null, "email": "maria@example.com"})
    );

    let tagged = app
        .graphql(Some(&agent), "mutation($id: ID!) { addCustomerTags(id: $id, tags: [\"mentoria\", \"vip\"]) { tags } }", json!({"id": id}))
        .await;
    assert_eq!(
        tagged.data("addCustomerTags")["tags"],
        json!(["aluna", "vip", "mentoria"])
    );
    let untagged = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!) { removeCustomerTags(id: $id, tags: [\"aluna\"]) { tags } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        untagged.data("removeCustomerTags")["tags"],
        json!(["vip", "mentoria"])
    );

    let note = app
        .graphql(Some(&agent), "mutation($id: ID!) { addCustomerNote(id: $id, body: \"Pediu boleto\") { body author customerId } }", json!({"id": id}))
        .await;
    assert_eq!(
        note.data("addCustomerNote"),
        &json!({"body": "Pediu boleto", "author": "test", "customerId": id})
    );

    let read = app
        .graphql(
            Some(&agent),
            "query($id: ID!) { customer(id: $id) { email notes { body } activities { activityType } transactions { code } subscriptions { subscriberCode } enrollments { accessStatus } } }",
            json!({"id": id}),
        )
        .await;
    let customer = read.data("customer");
    assert_eq!(customer["notes"], json!([{"body": "Pediu boleto"}]));
    assert_eq!(
        customer["activities"],
        json!([{"activityType": "note_added"}, {"activityType": "customer_created"}])
    );
    assert_eq!(customer["transactions"], json!([]));

    let duplicate = app
        .graphql(
            Some(&agent),
            "mutation { createCustomer(input: {email: \"MARIA@example.com\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(duplicate.error_code(), Some("CONFLICT"));
    assert_eq!(app.count_rows("customers").await, 1);
}
on_both_backends!(
    create_read_update_and_tag_a_customer,
    create_read_update_and_tag_a_customer
);

async fn customers_filter_by_search_tag_and_segment_and_paginate(app: TestApp) {
    let ws = app.create_workspace("filtros").await;
    let agent = app.agent_token(ws);
    for (email, name, tags) in [
        ("joao@example.com", "João Souza", vec!["vip"]),
        ("ana@example.com", "Ana Lima", vec!["aluna"]),
        ("carla_100%@example.com", "Carla", vec!["vip", "aluna"]),
    ] {
        app.graphql(
            Some(&agent),
            "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }",
            json!({"input": {"email": email, "name": name, "tags": tags}}),
        )
        .await
        .data("createCustomer");
    }
    let list = |filter: serde_json::Value| {
        let agent = agent.clone();
        let app = &app;
        async move {
            let answer = app
                .graphql(
                    Some(&agent),
                    "query($filter: CustomerFilter) { customers(filter: $filter) { totalCount edges { node { email } } } }",
                    json!({"filter": filter}),
                )
                .await;
            let data = answer.data("customers").clone();
            let emails: Vec<String> = data["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["email"].as_str().unwrap().to_owned())
                .collect();
            (data["totalCount"].as_u64().unwrap(), emails)
        }
    };
    assert_eq!(
        list(json!({"search": "LIMA"})).await,
        (1, vec!["ana@example.com".to_owned()])
    );
    assert_eq!(
        list(json!({"search": "100%"})).await,
        (1, vec!["carla_100%@example.com".to_owned()])
    );
    assert_eq!(
        list(json!({"search": "%"})).await.0,
        1,
        "% matches itself, not everything"
    );
    assert_eq!(
        list(json!({"tag": "vip"})).await,
        (
            2,
            vec![
                "carla_100%@example.com".to_owned(),
                "joao@example.com".to_owned()
            ]
        )
    );
    assert_eq!(list(json!({"tag": "vip", "search": "joão"})).await.0, 1);
    assert_eq!(list(json!({"segment": "lead"})).await.0, 3);
    assert_eq!(list(json!({"segment": "active"})).await.0, 0);

    let first_page = app
        .graphql(Some(&agent), "{ customers(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { node { email } } } }", json!({}))
        .await;
    let page = first_page.data("customers");
    assert_eq!(page["totalCount"], 3);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    assert_eq!(page["edges"].as_array().unwrap().len(), 2);
    let second_page = app
        .graphql(
            Some(&agent),
            "query($after: String) { customers(first: 2, after: $after) { pageInfo { hasNextPage } edges { node { email } } } }",
            json!({"after": page["pageInfo"]["endCursor"]}),
        )
        .await;
    let page2 = second_page.data("customers");
    assert_eq!(page2["pageInfo"]["hasNextPage"], false);
    assert_eq!(
        page2["edges"],
        json!([{"node": {"email": "joao@example.com"}}])
    );
}
on_both_backends!(
    customers_filter_by_search_tag_and_segment_and_paginate,
    customers_filter_by_search_tag_and_segment_and_paginate
);
