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
