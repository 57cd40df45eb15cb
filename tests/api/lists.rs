//! Lists as a screen reads them: a page costs what it shows (no count of the
//! whole workspace unless `totalCount` is asked for), and cursors hold while
//! rows arrive between pages.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::on_both_backends;

fn counts(statements: &[String]) -> usize {
    statements
        .iter()
        .filter(|sql| sql.to_uppercase().contains("COUNT("))
        .count()
}

async fn a_page_counts_only_when_total_count_is_asked_for(app: TestApp) {
    let ws = app.create_workspace("contagem").await;
    let agent = app.agent_token(ws);
    for i in 0..5 {
        app.create_customer(ws, &format!("aluna{i}@example.com"))
            .await;
    }
    let cases = [
        (
            "a page",
            "{ customers(first: 2) { edges { node { email } } pageInfo { hasNextPage } } }",
            0,
        ),
        (
            "with totalCount",
            "{ customers(first: 2) { totalCount edges { node { email } } } }",
            1,
        ),
        (
            "totalCount in a fragment",
            "{ customers(first: 2) { ...Total edges { node { email } } } } fragment Total on CustomerConnection { totalCount }",
            1,
        ),
    ];
    for (what, query, expected) in cases {
        app.statements.start();
        let answer = app.graphql(Some(&agent), query, json!({})).await;
        let statements = app.statements.take();
        assert_eq!(
            answer.data("customers")["edges"].as_array().map(Vec::len),
            Some(2),
            "{what}"
        );
        assert!(
            statements.iter().any(|sql| sql.contains("customers")),
            "{what}: the page was read: {statements:#?}"
        );
        assert_eq!(counts(&statements), expected, "{what}: {statements:#?}");
        if expected == 1 {
            assert_eq!(answer.data("customers")["totalCount"], 5, "{what}");
        }
    }
}
on_both_backends!(
    a_page_counts_only_when_total_count_is_asked_for,
    a_page_counts_only_when_total_count_is_asked_for
);

async fn cursors_hold_while_customers_arrive_between_pages(app: TestApp) {
    let ws = app.create_workspace("cursores").await;
    let agent = app.agent_token(ws);
    let mut before = BTreeSet::new();
    for i in 0..7 {
        let email = format!("antes{i}@example.com");
        app.create_customer(ws, &email).await;
        before.insert(email);
    }
    let page = |after: Option<String>| {
        let agent = agent.clone();
        let app = &app;
        async move {
            app.graphql(
                Some(&agent),
                "query($after: String) { customers(first: 3, after: $after) { edges { node { email } } pageInfo { endCursor hasNextPage } } }",
                json!({"after": after}),
            )
            .await
            .data("customers")
            .clone()
        }
    };
    let mut seen = Vec::new();
    let mut after = None;
    for round in 0.. {
        let answer: Value = page(after.clone()).await;
        seen.extend(
            answer["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .map(|edge| edge["node"]["email"].as_str().expect("email").to_owned()),
        );
        // Newcomers between pages sort before the cursor: they belong to
        // the first page of a later read, not to this walk.
        app.create_customer(ws, &format!("depois{round}@example.com"))
            .await;
        if answer["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = answer["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), before.len(), "no row twice: {seen:?}");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), before);
}
on_both_backends!(
    cursors_hold_while_customers_arrive_between_pages,
    cursors_hold_while_customers_arrive_between_pages
);

/// The statements of `statements` that read `table`.
fn reads_of<'a>(statements: &'a [String], table: &str) -> Vec<&'a String> {
    let from = format!("FROM \"{table}\"");
    statements
        .iter()
        .filter(|sql| sql.contains(&from))
        .collect()
}

async fn a_page_reads_each_relation_once(app: TestApp) {
    let ws = app.create_workspace("relacoes").await;
    let agent = app.agent_token(ws);
    let product = app
        .graphql(
            Some(&agent),
            "mutation { upsertProduct(input: {hotmartProductId: \"3526906\", name: \"Confeitaria\"}) { id } }",
            json!({}),
        )
        .await
        .data("upsertProduct")["id"]
        .as_str()
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .expect("a product id");
    let mut purchases = std::collections::BTreeMap::new();
    for i in 0..30 {
        let email = format!("aluna{i}@example.com");
        let customer = app.create_customer(ws, &email).await;
        let codes: Vec<String> = (0..i % 4).map(|k| format!("HP{i:04}{k}")).collect();
        for code in &codes {
            app.insert_transaction(ws, customer, Some(product), code)
                .await;
        }
        purchases.insert(email, codes.into_iter().rev().collect::<Vec<_>>());
    }
    let query = "{ customers(first: 30) { edges { node { email transactions { code product { name } customer { email } } notes { body } } } } }";
    app.statements.start();
    let answer = app.graphql(Some(&agent), query, json!({})).await;
    let statements = app.statements.take();
    let edges = answer.data("customers")["edges"]
        .as_array()
        .expect("edges")
        .clone();
    assert_eq!(edges.len(), 30);
    for edge in &edges {
        let node = &edge["node"];
        let email = node["email"].as_str().expect("email");
        let codes: Vec<&str> = node["transactions"]
            .as_array()
            .expect("transactions")
            .iter()
            .map(|t| {
                assert_eq!(t["product"]["name"], "Confeitaria");
                assert_eq!(t["customer"]["email"], email);
                t["code"].as_str().expect("code")
            })
            .collect();
        assert_eq!(
            codes, purchases[email],
            "{email}: its purchases, newest first"
        );
        assert_eq!(node["notes"], json!([]));
    }
    // The page, then one statement per relation of the page (the
    // transactions' customers are the page's own, read once more by id).
    assert_eq!(
        reads_of(&statements, "transactions").len(),
        1,
        "{statements:#?}"
    );
    assert_eq!(
        reads_of(&statements, "products").len(),
        1,
        "{statements:#?}"
    );
    assert_eq!(
        reads_of(&statements, "customer_notes").len(),
        1,
        "{statements:#?}"
    );
    assert_eq!(
        reads_of(&statements, "customers").len(),
        2,
        "{statements:#?}"
    );
    assert_eq!(counts(&statements), 0, "{statements:#?}");
    // Only the columns the query shows, the keys and what relations stand on.
    let page = reads_of(&statements, "customers")[0];
    assert!(page.contains("\"email\""), "{page}");
    for unasked in ["\"phone\"", "\"metadata\"", "\"consent\"", "\"ltv_total\""] {
        assert!(!page.contains(unasked), "{unasked} read: {page}");
    }
    let purchases = reads_of(&statements, "transactions")[0];
    for needed in ["\"code\"", "\"customer_id\"", "\"product_id\""] {
        assert!(purchases.contains(needed), "{needed} not read: {purchases}");
    }
    for unasked in ["\"billet_url\"", "\"pix_code\"", "\"amount\""] {
        assert!(!purchases.contains(unasked), "{unasked} read: {purchases}");
    }
}
on_both_backends!(
    a_page_reads_each_relation_once,
    a_page_reads_each_relation_once
);

/// Every field of `type_name` that is not an object, as a selection, with
/// `nested` appended: what a client asking for everything would send.
async fn every_field(app: &TestApp, token: &str, type_name: &str, nested: &str) -> String {
    let answer = app
        .graphql(
            Some(token),
            "query($t: String!) { __type(name: $t) { fields { name type { kind ofType { kind ofType { kind ofType { kind } } } } } } }",
            json!({"t": type_name}),
        )
        .await;
    let leaf = |t: &Value| matches!(t["kind"].as_str(), Some("SCALAR" | "ENUM"));
    let fields: Vec<String> = answer.data("__type")["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter(|f| {
            let t = &f["type"];
            leaf(t)
                || leaf(&t["ofType"])
                || leaf(&t["ofType"]["ofType"])
                || leaf(&t["ofType"]["ofType"]["ofType"])
        })
        .map(|f| f["name"].as_str().expect("name").to_owned())
        .collect();
    assert!(fields.len() > 3, "{type_name}: {fields:?}");
    format!("{} {nested}", fields.join(" "))
}

async fn a_page_answers_every_field_as_a_single_read_does(app: TestApp) {
    let ws = app.create_workspace("campos").await;
    let agent = app.agent_token(ws);
    let product = app
        .graphql(
            Some(&agent),
            "mutation { upsertProduct(input: {hotmartProductId: \"3526906\", name: \"Confeitaria\", ucode: \"c0f3\"}) { id } }",
            json!({}),
        )
        .await
        .data("upsertProduct")["id"]
        .as_str()
        .expect("product id")
        .to_owned();
    let product_uuid = uuid::Uuid::parse_str(&product).expect("uuid");
    for i in 0..3 {
        let customer = app
            .graphql(
                Some(&agent),
                "mutation($e: String!) { createCustomer(input: {email: $e, name: \"Maria Silva\", phone: \"11987654321\", document: \"12345678909\", tags: [\"aluna\", \"vip\"]}) { id } }",
                json!({"e": format!("maria{i}@example.com")}),
            )
            .await
            .data("createCustomer")["id"]
            .as_str()
            .and_then(|id| uuid::Uuid::parse_str(id).ok())
            .expect("customer id");
        app.insert_transaction(ws, customer, Some(product_uuid), &format!("HP{i}01"))
            .await;
        app.insert_transaction(ws, customer, None, &format!("HP{i}02"))
            .await;
        app.graphql(
            Some(&agent),
            "mutation($id: ID!) { addCustomerNote(id: $id, body: \"Pediu o certificado\") { id } }",
            json!({"id": customer}),
        )
        .await
        .data("addCustomerNote");
    }
    let transaction = every_field(&app, &agent, "Transaction", "").await;
    let customer = every_field(
        &app,
        &agent,
        "Customer",
        &format!(
            "transactions {{ {transaction} product {{ id name }} customer {{ id email }} }} subscriptions {{ {} }} enrollments {{ id }} activities {{ {} }} notes {{ {} }}",
            every_field(&app, &agent, "Subscription", "").await,
            every_field(&app, &agent, "CustomerActivity", "").await,
            every_field(&app, &agent, "CustomerNote", "").await,
        ),
    )
    .await;
    let listed = app
        .graphql(
            Some(&agent),
            &format!("{{ customers(first: 10) {{ nodes {{ {customer} }} }} }}"),
            json!({}),
        )
        .await;
    let nodes = listed.data("customers")["nodes"]
        .as_array()
        .expect("nodes")
        .clone();
    assert_eq!(nodes.len(), 3);
    for node in &nodes {
        assert_eq!(node["tags"], json!(["aluna", "vip"]));
        assert_eq!(node["transactions"].as_array().map(Vec::len), Some(2));
        let alone = app
            .graphql(
                Some(&agent),
                &format!("query($id: ID!) {{ customer(id: $id) {{ {customer} }} }}"),
                json!({"id": node["id"]}),
            )
            .await;
        assert_eq!(
            node,
            alone.data("customer"),
            "the page and the single read differ"
        );
    }

    let product_fields = every_field(
        &app,
        &agent,
        "Product",
        &format!(
            "offers {{ {} }} lessons {{ {} }}",
            every_field(&app, &agent, "Offer", "").await,
            every_field(&app, &agent, "Lesson", "").await,
        ),
    )
    .await;
    let listed = app
        .graphql(
            Some(&agent),
            &format!("{{ products {{ nodes {{ {product_fields} }} }} }}"),
            json!({}),
        )
        .await;
    let alone = app
        .graphql(
            Some(&agent),
            &format!("query($id: ID!) {{ product(id: $id) {{ {product_fields} }} }}"),
            json!({"id": product}),
        )
        .await;
    assert_eq!(listed.data("products")["nodes"][0]["ucode"], "c0f3");
    assert_eq!(&listed.data("products")["nodes"][0], alone.data("product"));
}
on_both_backends!(
    a_page_answers_every_field_as_a_single_read_does,
    a_page_answers_every_field_as_a_single_read_does
);
