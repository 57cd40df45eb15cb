//! Hostile input: query bombs, oversized and malformed bodies, wrong types,
//! SQL where data belongs, invalid domain values, duplicates and races. Every
//! answer must be a client error with a stable code, never a 5xx, never a
//! leak of database text or source paths, and nothing may be written.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Answer, TestApp};
use crate::on_both_backends;

const CODES: &[&str] = &[
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "INVALID_INPUT",
    "CONFLICT",
    "INTERNAL",
];

/// Text that must never reach a client (compared case-insensitively).
const LEAKS: &[&str] = &[
    "sql",
    "constraint",
    "duplicate key",
    "syntax error at",
    "no such table",
    "/src/",
    ".rs",
    "panicked",
];

const CREATE_CUSTOMER: &str =
    "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }";

/// Checks the error contract on any answer: no 5xx, and every error carries
/// a string message free of internals and a known `extensions.code`.
pub(crate) fn assert_well_formed(answer: &Answer, what: &str) {
    assert!(
        !answer.status.is_server_error(),
        "{what}: HTTP {} {}",
        answer.status,
        answer.body
    );
    let Some(errors) = answer.body.get("errors") else {
        return;
    };
    let errors = errors
        .as_array()
        .unwrap_or_else(|| panic!("{what}: `errors` is not a list: {}", answer.body));
    assert!(
        !errors.is_empty(),
        "{what}: empty `errors`: {}",
        answer.body
    );
    for error in errors {
        let message = error["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: an error without a message: {error}"));
        let code = error["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: an error without a code: {error}"));
        assert!(
            CODES.contains(&code),
            "{what}: unknown code {code}: {error}"
        );
        let lower = message.to_lowercase();
        for leak in LEAKS {
            assert!(
                !lower.contains(leak),
                "{what}: the message leaks `{leak}`: {message}"
            );
        }
    }
}

/// Asserts a rejection: the given HTTP status, every error coded `code`, and
/// no data.
pub(crate) fn assert_rejected(answer: &Answer, status: StatusCode, code: &str, what: &str) {
    assert_well_formed(answer, what);
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    let codes = answer.error_codes();
    assert!(
        !codes.is_empty() && codes.iter().all(|c| c == code),
        "{what}: expected {code}, got {}",
        answer.body
    );
    let data = answer.body.get("data").unwrap_or(&Value::Null);
    assert!(
        data.is_null()
            || data
                .as_object()
                .is_some_and(|d| d.values().all(Value::is_null)),
        "{what}: data came back with the error: {}",
        answer.body
    );
}

fn assert_invalid(answer: &Answer, what: &str) {
    assert_rejected(answer, StatusCode::OK, "INVALID_INPUT", what);
}

/// The first error's message, lower-cased.
fn first_message(answer: &Answer) -> String {
    answer.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase()
}

/// Rows of every table a hostile request could have written to.
pub(crate) async fn row_counts(app: &TestApp) -> Vec<(&'static str, i64)> {
    let mut counts = Vec::new();
    for table in [
        "workspaces",
        "customers",
        "customer_notes",
        "customer_activities",
        "campaigns",
        "target_group_mappings",
    ] {
        counts.push((table, app.count_rows(table).await));
    }
    counts
}

async fn a_query_nested_past_the_depth_limit_is_refused(app: TestApp) {
    let ws = app.create_workspace("profundo").await;
    let agent = app.agent_token(ws);
    app.create_customer(ws, "maria@example.com").await;

    // customers → edges → node, then transactions → customer alternately,
    // far past the depth limit of 10.
    let mut inner = "id".to_owned();
    for level in 0..12 {
        inner = if level % 2 == 0 {
            format!("customer {{ id {inner} }}")
        } else {
            format!("transactions {{ code {inner} }}")
        };
    }
    let query = format!("{{ customers(first: 1) {{ edges {{ node {{ id {inner} }} }} }} }}");
    let answer = app.graphql(Some(&agent), &query, json!({})).await;
    assert_invalid(&answer, "depth bomb");
    assert!(
        first_message(&answer).contains("deep") || first_message(&answer).contains("depth"),
        "the depth limit answered: {}",
        answer.body
    );

    // The same shape within the limit still runs.
    let shallow = app
        .graphql(
            Some(&agent),
            "{ customers(first: 1) { edges { node { transactions { customer { id } } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        shallow.data("customers")["edges"][0]["node"]["transactions"],
        json!([])
    );
}
on_both_backends!(
    a_query_nested_past_the_depth_limit_is_refused,
    a_query_nested_past_the_depth_limit_is_refused
);

async fn thousands_of_aliases_hit_the_complexity_limit(app: TestApp) {
    let ws = app.create_workspace("apelidos").await;
    let agent = app.agent_token(ws);
    let fields: String = (0..5_000)
        .map(|i| format!("a{i}: customers {{ totalCount }} "))
        .collect();
    let query = format!("{{ {fields} }}");
    let body = json!({ "query": query }).to_string();
    assert!(
        body.len() < 1024 * 1024,
        "the body stays under the size limit"
    );
    let answer = app.post_graphql_raw(Some(&agent), body).await;
    assert_invalid(&answer, "alias bomb");
    assert!(
        first_message(&answer).contains("complex"),
        "the complexity limit answered: {}",
        answer.body
    );

    // A handful of aliases is fine.
    let few = app
        .graphql(
            Some(&agent),
            "{ a: customers { totalCount } b: customers { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(few.data("a")["totalCount"], 0);
    assert_eq!(few.data("b")["totalCount"], 0);
}
on_both_backends!(
    thousands_of_aliases_hit_the_complexity_limit,
    thousands_of_aliases_hit_the_complexity_limit
);

async fn an_oversized_body_is_refused_with_413_and_writes_nothing(app: TestApp) {
    let ws = app.create_workspace("grande").await;
    let agent = app.agent_token(ws);
    let before = row_counts(&app).await;
    let body = json!({
        "query": CREATE_CUSTOMER,
        "variables": {"input": {"email": "grande@example.com", "name": "x".repeat(1024 * 1024 + 1)}},
    })
    .to_string();
    assert!(body.len() > 1024 * 1024);
    let answer = app.post_graphql_raw(Some(&agent), body).await;
    assert_rejected(
        &answer,
        StatusCode::PAYLOAD_TOO_LARGE,
        "INVALID_INPUT",
        "oversized body",
    );
    assert_eq!(row_counts(&app).await, before, "nothing was written");
}
on_both_backends!(
    an_oversized_body_is_refused_with_413_and_writes_nothing,
    an_oversized_body_is_refused_with_413_and_writes_nothing
);

async fn bodies_that_are_not_graphql_requests_are_400(app: TestApp) {
    let token = app.service_token();
    let mut wrong = Vec::new();
    for body in [
        "{\"query\": \"{ workspaces { totalCount } }\"",
        "{not json}",
        "[]",
        "{\"query\": 5}",
        "\"x\"",
        "",
        "null",
        "[1, 2]",
        "{\"query\": \"{ workspaces { totalCount } }\", \"variables\": 7}",
        "[\"x\"]",
        "[\"{ workspaces { totalCount } }\"]",
    ] {
        let answer = app.post_graphql_raw(Some(&token), body).await;
        assert_well_formed(&answer, &format!("body {body:?}"));
        let data = answer.body.get("data").unwrap_or(&Value::Null);
        if answer.status != StatusCode::BAD_REQUEST
            || answer.error_codes() != ["INVALID_INPUT"]
            || !data.is_null()
        {
            wrong.push(format!(
                "{body:?} -> HTTP {}: {}",
                answer.status, answer.body
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "not refused with HTTP 400 INVALID_INPUT:\n{}",
        wrong.join("\n")
    );
    // An object without a query holds no operation: refused either before
    // or by GraphQL itself, never run and never a 5xx.
    let answer = app.post_graphql_raw(Some(&token), "{}").await;
    assert_well_formed(&answer, "body {}");
    assert!(
        [StatusCode::OK, StatusCode::BAD_REQUEST].contains(&answer.status),
        "body {{}}: {}",
        answer.body
    );
    assert_eq!(
        answer.error_code(),
        Some("INVALID_INPUT"),
        "{}",
        answer.body
    );
}
on_both_backends!(
    bodies_that_are_not_graphql_requests_are_400,
    bodies_that_are_not_graphql_requests_are_400
);

async fn batches_are_capped_at_ten_operations(app: TestApp) {
    let ws = app.create_workspace("lotes").await;
    let agent = app.agent_token(ws);
    let before = row_counts(&app).await;
    let operation = json!({
        "query": CREATE_CUSTOMER,
        "variables": {"input": {"email": "lote@example.com"}},
    });
    let too_many = Value::Array(vec![operation; 11]);
    let answer = app.post_graphql(Some(&agent), too_many).await;
    assert_rejected(
        &answer,
        StatusCode::BAD_REQUEST,
        "INVALID_INPUT",
        "batch of 11",
    );
    assert_eq!(
        row_counts(&app).await,
        before,
        "no operation of the batch ran"
    );

    let pair = json!([
        {"query": "{ customers { totalCount } }"},
        {"query": "query($id: ID) { workspace(id: $id) { slug } }", "variables": {"id": ws}},
    ]);
    let answer = app.post_graphql(Some(&agent), pair).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!([
            {"data": {"customers": {"totalCount": 0}}},
            {"data": {"workspace": {"slug": "lotes"}}},
        ])
    );
}
on_both_backends!(
    batches_are_capped_at_ten_operations,
    batches_are_capped_at_ten_operations
);

async fn wrong_types_and_shapes_are_invalid_input(app: TestApp) {
    let ws = app.create_workspace("tipos").await;
    let agent = app.agent_token(ws);
    let customer = app.create_customer(ws, "maria@example.com").await;
    let before = row_counts(&app).await;
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "first as a string",
            "{ customers(first: \"ten\") { totalCount } }",
            json!({}),
        ),
        (
            "negative first",
            "{ customers(first: -1) { totalCount } }",
            json!({}),
        ),
        (
            "huge first",
            "{ customers(first: 1000) { totalCount } }",
            json!({}),
        ),
        (
            "first past i32",
            "{ customers(first: 99999999999) { totalCount } }",
            json!({}),
        ),
        (
            "an id that is not a UUID",
            "{ customer(id: \"42\") { id } }",
            json!({}),
        ),
        (
            "an id with SQL",
            "{ customer(id: \"' OR 1=1 --\") { id } }",
            json!({}),
        ),
        (
            "a forged cursor",
            "query($after: String) { customers(after: $after) { totalCount } }",
            json!({"after": "' OR 1=1 --"}),
        ),
        (
            "a cursor of another shape",
            "query($after: String) { customers(after: $after) { totalCount } }",
            json!({"after": "b3RoZXI6MTIz"}),
        ),
        (
            "an unknown field",
            "{ customers { totalCount password } }",
            json!({}),
        ),
        (
            "an unknown argument",
            "{ customers(orderBy: \"email\") { totalCount } }",
            json!({}),
        ),
        (
            "a missing required argument",
            "{ customer { id } }",
            json!({}),
        ),
        (
            "a variable of the wrong type",
            "query($first: Int) { customers(first: $first) { totalCount } }",
            json!({"first": "ten"}),
        ),
        (
            "a variable declared with the wrong type",
            "query($first: String) { customers(first: $first) { totalCount } }",
            json!({"first": "10"}),
        ),
        ("a syntax error", "{ customers { totalCount }", json!({})),
        (
            "a subscription",
            "subscription { customers { totalCount } }",
            json!({}),
        ),
        // Mutations: each would write if it got through.
        (
            "a mutation with a number as e-mail",
            "mutation { createCustomer(input: {email: 5}) { id } }",
            json!({}),
        ),
        (
            "a mutation with a missing e-mail",
            "mutation { createCustomer(input: {name: \"Sem Email\"}) { id } }",
            json!({}),
        ),
        (
            "a mutation with an unknown input field",
            "mutation { createCustomer(input: {email: \"x@example.com\", isAdmin: true}) { id } }",
            json!({}),
        ),
        (
            "a mutation variable of the wrong type",
            CREATE_CUSTOMER,
            json!({"input": {"email": ["novo@example.com"]}}),
        ),
        (
            "a mutation variable that is missing",
            CREATE_CUSTOMER,
            json!({}),
        ),
        (
            "a mutation on a malformed id",
            "mutation($id: ID!) { updateCustomer(id: $id, input: {name: \"X\"}) { id } }",
            json!({"id": "not-a-uuid"}),
        ),
        (
            "a mutation on a malformed workspaceId",
            "mutation { createCustomer(workspaceId: \"1; DROP TABLE customers\", input: {email: \"novo@example.com\"}) { id } }",
            json!({}),
        ),
        (
            "tags as a number",
            "mutation($id: ID!) { addCustomerTags(id: $id, tags: [1]) { id } }",
            json!({"id": customer}),
        ),
    ];
    for (what, query, variables) in cases {
        let answer = app.graphql(Some(&agent), query, variables).await;
        assert_invalid(&answer, what);
    }
    assert_eq!(row_counts(&app).await, before, "nothing was written");
}
on_both_backends!(
    wrong_types_and_shapes_are_invalid_input,
    wrong_types_and_shapes_are_invalid_input
);

async fn sql_in_filters_and_inputs_is_only_data(app: TestApp) {
    let ws = app.create_workspace("injecao").await;
    let agent = app.agent_token(ws);
    app.create_customer(ws, "maria@example.com").await;
    app.create_customer(ws, "joao@example.com").await;
    let other = app.create_workspace("vizinho").await;
    app.create_customer(other, "vizinha@example.com").await;

    let count = |filter: Value| {
        let (app, agent) = (&app, agent.clone());
        async move {
            let answer = app
                .graphql(
                    Some(&agent),
                    "query($filter: CustomerFilter) { customers(filter: $filter) { totalCount edges { node { email } } } }",
                    json!({"filter": filter}),
                )
                .await;
            assert_well_formed(&answer, &format!("filter {filter}"));
            let data = answer.data("customers").clone();
            assert_eq!(
                data["edges"].as_array().map(Vec::len),
                data["totalCount"].as_u64().map(|n| n as usize),
                "filter {filter}: {data}"
            );
            data["totalCount"].as_u64().expect("totalCount")
        }
    };
    assert_eq!(count(json!({})).await, 2, "the baseline sees the workspace");
    for search in [
        "' OR 1=1 --",
        "' OR '1'='1",
        "%",
        "_",
        "\\",
        "%%",
        "__%",
        "\\%",
        "maria' --",
        "\"; DROP TABLE customers; --",
    ] {
        assert_eq!(
            count(json!({"search": search})).await,
            0,
            "search {search:?}"
        );
    }
    for tag in [
        "vip' OR '1'='1",
        "aluna' OR '1'='1",
        "\"]' OR 1=1 --",
        "%",
        "aluna\" OR 1=1",
    ] {
        assert_eq!(count(json!({"tag": tag})).await, 0, "tag {tag:?}");
    }
    assert_eq!(count(json!({"segment": "lead' OR '1'='1"})).await, 0);
    // The filters still work on honest input.
    assert_eq!(count(json!({"search": "joao@"})).await, 1);
    assert_eq!(count(json!({"tag": "aluna"})).await, 2);

    let create_group = |source: &str, filter: Value| {
        let (app, agent) = (&app, agent.clone());
        let input = json!({"crmName": format!("grupo {}", uuid::Uuid::new_v4()), "source": source, "filter": filter});
        async move {
            app.graphql(
                Some(&agent),
                "mutation($input: CreateTargetGroupMappingInput!) { createTargetGroupMapping(input: $input) { id source } }",
                json!({"input": input}),
            )
            .await
        }
    };
    for source in [
        "customers; DROP TABLE customers",
        "pg_catalog.pg_user",
        "sqlite_master",
        "customers --",
        "CUSTOMERS",
        "",
    ] {
        let answer = create_group(source, Value::Null).await;
        assert_invalid(&answer, &format!("source {source:?}"));
    }
    for filter in [
        json!({"rules": [{"field": "password", "op": "eq", "value": "x"}]}),
        json!({"rules": [{"field": "email) OR 1=1 --", "op": "eq", "value": "x"}]}),
        json!({"rules": [{"field": "email", "op": "; DROP TABLE customers", "value": "x"}]}),
        json!({"rules": [{"field": "email", "op": "like", "value": "%"}]}),
        json!({"combinator": "and; DROP TABLE customers", "rules": []}),
        json!({"rules": [], "where": "1=1"}),
        json!({"rules": [{"field": "email", "op": "eq", "value": {"$ne": null}}]}),
        json!("email = 'x' OR 1=1"),
        json!([]),
    ] {
        let answer = create_group("customers", filter.clone()).await;
        assert_invalid(&answer, &format!("filter {filter}"));
    }
    assert_eq!(app.count_rows("target_group_mappings").await, 0);
    // An honest target group is accepted.
    let honest = create_group(
        "customers",
        json!({"combinator": "and", "rules": [{"field": "tags", "op": "contains", "value": "vip"}]}),
    )
    .await;
    assert_eq!(
        honest.data("createTargetGroupMapping")["source"],
        "customers"
    );

    assert_eq!(app.count_rows("customers").await, 3, "the table is intact");
    assert_eq!(count(json!({})).await, 2);
}
on_both_backends!(
    sql_in_filters_and_inputs_is_only_data,
    sql_in_filters_and_inputs_is_only_data
);

async fn invalid_domain_input_is_refused_and_writes_nothing(app: TestApp) {
    let ws = app.create_workspace("dominio").await;
    let agent = app.agent_token(ws);
    let service = app.service_token();
    let customer = app.create_customer(ws, "maria@example.com").await;
    let campaign = app
        .graphql(
            Some(&agent),
            "mutation { createCampaign(input: {name: \"Boas-vindas\"}) { id } }",
            json!({}),
        )
        .await
        .data("createCampaign")["id"]
        .clone();
    let before = row_counts(&app).await;

    let customer_input = |input: Value| (CREATE_CUSTOMER, json!({"input": input}));
    let mut cases: Vec<(String, &str, Value, &str)> = Vec::new();
    for email in [
        "",
        "maria",
        "maria@",
        "@example.com",
        "a b@example.com",
        "a@example",
        "a@@example.com",
        "'; DROP TABLE customers; --@x.com",
    ] {
        let (q, v) = customer_input(json!({"email": email}));
        cases.push((format!("e-mail {email:?}"), q, v, agent.as_str()));
    }
    for phone in [
        "123",
        "abc",
        "+55 11 9876",
        "'; drop table customers; --",
        "+0123456789",
    ] {
        let (q, v) = customer_input(json!({"email": "novo@example.com", "phone": phone}));
        cases.push((format!("phone {phone:?}"), q, v, agent.as_str()));
    }
    let many_tags: Vec<String> = (0..1000).map(|i| format!("tag{i}")).collect();
    let (q, v) = customer_input(json!({"email": "novo@example.com", "tags": many_tags}));
    cases.push(("1000 tags".into(), q, v, agent.as_str()));
    let (q, v) = customer_input(json!({"email": "novo@example.com", "tags": ["x".repeat(65)]}));
    cases.push(("a 65-char tag".into(), q, v, agent.as_str()));
    let (q, v) = customer_input(json!({"email": "novo@example.com", "name": "x".repeat(201)}));
    cases.push(("a 201-char name".into(), q, v, agent.as_str()));
    cases.push((
        "1000 tags added".into(),
        "mutation($id: ID!, $tags: [String!]!) { addCustomerTags(id: $id, tags: $tags) { id } }",
        json!({"id": customer, "tags": (0..1000).map(|i| format!("tag{i}")).collect::<Vec<_>>()}),
        agent.as_str(),
    ));
    cases.push((
        "a bad e-mail on update".into(),
        "mutation($id: ID!) { updateCustomer(id: $id, input: {email: \"not-an-email\"}) { id } }",
        json!({"id": customer}),
        agent.as_str(),
    ));
    for body in ["x".repeat(10_001), String::new(), "   ".into()] {
        cases.push((
            format!("a note of {} chars", body.len()),
            "mutation($id: ID!, $body: String!) { addCustomerNote(id: $id, body: $body) { id } }",
            json!({"id": customer, "body": body}),
            agent.as_str(),
        ));
    }
    let create_campaign =
        "mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }";
    for name in ["", "   "] {
        cases.push((
            format!("campaign name {name:?}"),
            create_campaign,
            json!({"input": {"name": name}}),
            agent.as_str(),
        ));
    }
    for document in [
        json!([]),
        json!({"nodes": {}}),
        json!({"nodes": {}, "edges": {}}),
        json!("nodes"),
        json!(42),
        json!({"nodes": [{"id": 1}], "edges": []}),
    ] {
        cases.push((
            format!("workflowData {document}"),
            create_campaign,
            json!({"input": {"name": "Jornada", "workflowData": document}}),
            agent.as_str(),
        ));
        cases.push((
            format!("workflowData {document} on update"),
            "mutation($id: ID!, $doc: JSON!) { updateCampaign(id: $id, input: {workflowData: $doc}) { id } }",
            json!({"id": campaign, "doc": document}),
            agent.as_str(),
        ));
    }
    let create_workspace =
        "mutation($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }";
    for slug in [
        "",
        "a",
        "Curso",
        "-curso",
        "curso-",
        "curso do joao",
        "curso/joao",
        "curso'; DROP TABLE workspaces; --",
        "0195f3c2-8a1e-7c3b-9d4e-5f6a7b8c9d0e",
    ] {
        cases.push((
            format!("slug {slug:?}"),
            create_workspace,
            json!({"input": {"name": "Curso", "slug": slug}}),
            service.as_str(),
        ));
    }
    for time_zone in [
        "Mars/Olympus",
        "",
        "UTC+3; DROP TABLE workspaces",
        "../../etc/passwd",
    ] {
        cases.push((
            format!("time zone {time_zone:?}"),
            create_workspace,
            json!({"input": {"name": "Curso", "slug": "novo-curso", "timeZone": time_zone}}),
            service.as_str(),
        ));
    }
    cases.push((
        "an empty workspace name".into(),
        create_workspace,
        json!({"input": {"name": " ", "slug": "novo-curso"}}),
        service.as_str(),
    ));

    for (what, query, variables, token) in &cases {
        let answer = app.graphql(Some(token), query, variables.clone()).await;
        assert_invalid(&answer, what);
    }
    assert_eq!(row_counts(&app).await, before, "nothing was written");
}
on_both_backends!(
    invalid_domain_input_is_refused_and_writes_nothing,
    invalid_domain_input_is_refused_and_writes_nothing
);

async fn duplicates_are_conflicts(app: TestApp) {
    let service = app.service_token();
    let ws = app.create_workspace("curso-da-ana").await;
    let answer = app
        .graphql(
            Some(&service),
            "mutation { createWorkspace(input: {name: \"Outra Ana\", slug: \"curso-da-ana\"}) { id } }",
            json!({}),
        )
        .await;
    assert_rejected(&answer, StatusCode::OK, "CONFLICT", "duplicate slug");
    assert_eq!(app.count_rows("workspaces").await, 1);

    let agent = app.agent_token(ws);
    app.create_customer(ws, "maria@example.com").await;
    for email in ["maria@example.com", " MARIA@Example.com "] {
        let answer = app
            .graphql(
                Some(&agent),
                CREATE_CUSTOMER,
                json!({"input": {"email": email}}),
            )
            .await;
        assert_rejected(
            &answer,
            StatusCode::OK,
            "CONFLICT",
            &format!("duplicate {email:?}"),
        );
    }
    // Changing another customer's e-mail to a taken one conflicts too.
    let joao = app.create_customer(ws, "joao@example.com").await;
    let answer = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!) { updateCustomer(id: $id, input: {email: \"maria@example.com\"}) { id } }",
            json!({"id": joao}),
        )
        .await;
    assert_rejected(
        &answer,
        StatusCode::OK,
        "CONFLICT",
        "update to a taken e-mail",
    );
    assert_eq!(app.count_rows("customers").await, 2);

    // The same e-mail in another workspace is a different customer.
    let other = app.create_workspace("curso-do-joao").await;
    app.create_customer(other, "maria@example.com").await;
    assert_eq!(app.count_rows("customers").await, 3);
}
on_both_backends!(duplicates_are_conflicts, duplicates_are_conflicts);

async fn concurrent_identical_creates_make_exactly_one_customer(app: TestApp) {
    let ws = app.create_workspace("corrida").await;
    let agent = app.agent_token(ws);
    let attempts = (0..20).map(|_| {
        app.graphql(
            Some(&agent),
            CREATE_CUSTOMER,
            json!({"input": {"email": "corrida@example.com", "name": "Corrida"}}),
        )
    });
    let answers = join_all(attempts).await;
    let mut created = 0;
    for (i, answer) in answers.iter().enumerate() {
        assert_well_formed(answer, &format!("attempt {i}"));
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "attempt {i}: {}",
            answer.body
        );
        if answer.body.get("errors").is_none() {
            created += 1;
        } else {
            assert_rejected(answer, StatusCode::OK, "CONFLICT", &format!("attempt {i}"));
        }
    }
    assert_eq!(created, 1, "exactly one create succeeds");
    assert_eq!(app.count_rows("customers").await, 1);
    assert_eq!(app.count_rows("customer_activities").await, 1);
}
on_both_backends!(
    concurrent_identical_creates_make_exactly_one_customer,
    concurrent_identical_creates_make_exactly_one_customer
);

async fn parser_and_validator_bombs_are_refused(app: TestApp) {
    let ws = app.create_workspace("bombas").await;
    let agent = app.agent_token(ws);
    let before = row_counts(&app).await;
    let mut cases: Vec<(&str, String, Value)> = Vec::new();
    // Text nested thousands deep never reaches the parser: 400, as a body
    // that is no GraphQL request (`deep_input` has the other shapes).
    let mut too_deep: Vec<(&str, String, Value)> = Vec::new();

    // Selections nested thousands deep.
    let deep = 5_000;
    too_deep.push((
        "a selection nested 5000 deep",
        format!("{}{}", "{ a ".repeat(deep), "}".repeat(deep)),
        json!({}),
    ));
    // A list argument nested thousands deep.
    too_deep.push((
        "a list value nested 5000 deep",
        format!(
            "mutation {{ addCustomerTags(id: \"x\", tags: {}\"a\"{}) {{ id }} }}",
            "[".repeat(deep),
            "]".repeat(deep)
        ),
        json!({}),
    ));
    // An input object nested thousands deep.
    too_deep.push((
        "an input object nested 5000 deep",
        format!(
            "{{ customers(filter: {}1{}) {{ totalCount }} }}",
            "{search: ".repeat(deep),
            "}".repeat(deep)
        ),
        json!({}),
    ));
    // Directives piled on one field.
    cases.push((
        "100 directives on a field",
        format!(
            "{{ customers {} {{ totalCount }} }}",
            "@include(if: true) ".repeat(100)
        ),
        json!({}),
    ));
    // Fragments that spread each other.
    cases.push((
        "a fragment cycle",
        "query { customers { edges { node { ...A } } } } \
         fragment A on Customer { id ...B } fragment B on Customer { email ...A }"
            .to_owned(),
        json!({}),
    ));
    cases.push((
        "a fragment spreading itself",
        "query { customers { edges { node { ...A } } } } fragment A on Customer { id ...A }"
            .to_owned(),
        json!({}),
    ));
    // Fragments that double at each level: 2^16 `id` selections from a 1 KiB query.
    let mut fan_out = String::from("query { customers(first: 1) { edges { node { ...F16 } } } }\n");
    fan_out.push_str("fragment F0 on Customer { id }\n");
    for i in 1..=16 {
        fan_out.push_str(&format!(
            "fragment F{i} on Customer {{ ...F{p} ...F{p} }}\n",
            p = i - 1
        ));
    }
    cases.push(("fragments doubling 16 times", fan_out, json!({})));
    // Several operations without an operationName.
    cases.push((
        "two operations and no operationName",
        "query A { customers { totalCount } } mutation B { createCustomer(input: {email: \"b@example.com\"}) { id } }".to_owned(),
        json!({}),
    ));

    for (what, query, variables) in cases {
        let answer = app.graphql(Some(&agent), &query, variables).await;
        assert_invalid(&answer, what);
    }
    for (what, query, variables) in too_deep {
        let answer = app.graphql(Some(&agent), &query, variables).await;
        assert_rejected(&answer, StatusCode::BAD_REQUEST, "INVALID_INPUT", what);
    }

    // JSON nested past the parser's recursion limit, in the variables.
    let body = format!(
        "{{\"query\": \"{{ customers {{ totalCount }} }}\", \"variables\": {{\"x\": {}1{}}}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let answer = app.post_graphql_raw(Some(&agent), body).await;
    assert_rejected(
        &answer,
        StatusCode::BAD_REQUEST,
        "INVALID_INPUT",
        "JSON nested 10000 deep",
    );

    assert_eq!(row_counts(&app).await, before, "nothing was written");
    // The app is still up and answering.
    let alive = app
        .graphql(Some(&agent), "{ customers { totalCount } }", json!({}))
        .await;
    assert_eq!(alive.data("customers")["totalCount"], 0);
}
on_both_backends!(
    parser_and_validator_bombs_are_refused,
    parser_and_validator_bombs_are_refused
);
