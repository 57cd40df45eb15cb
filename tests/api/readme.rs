//! The README's five-minute tour, pasted as a reader would: every `gql`
//! call of its shell block, in order, against a fresh app, with the tokens
//! the tour mints (`$SERVICE`, then `$AGENT` for the workspace it creates).

use serde_json::Value;

use crate::helpers::TestApp;
use crate::on_both_backends;

const README: &str = include_str!("../../README.md");

/// The tour's `gql "$TOKEN" '<body>'` calls, in order: token variable and body.
fn tour_calls() -> Vec<(String, String)> {
    let tour = README
        .split("## A five-minute tour")
        .nth(1)
        .expect("the README has a tour");
    let block = tour
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the tour has a shell block");
    let mut calls = Vec::new();
    let mut lines = block.lines();
    while let Some(line) = lines.next() {
        let Some(call) = line.trim_start().strip_prefix("gql \"$") else {
            continue;
        };
        let (token, rest) = call.split_once("\" '").expect("gql \"$TOKEN\" '<body>'");
        let mut body = rest.to_owned();
        while !body.trim_end().ends_with('\'') {
            body.push('\n');
            body.push_str(lines.next().expect("the body's closing quote"));
        }
        let body = body.trim_end().trim_end_matches('\'').to_owned();
        calls.push((token.to_owned(), body));
    }
    calls
}

async fn the_readme_tour_works_as_pasted(app: TestApp) {
    let calls = tour_calls();
    assert!(calls.len() >= 5, "the tour makes its calls: {calls:?}");
    let service = app.service_token();
    let mut agent = None;
    for (token, body) in calls {
        let token = match token.as_str() {
            "SERVICE" => service.clone(),
            "AGENT" => agent
                .clone()
                .expect("the tour mints $AGENT before using it"),
            other => panic!("the tour uses an unknown token ${other}"),
        };
        let request: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("the tour's body is not JSON ({e}): {body}"));
        let answer = app.post_graphql(Some(&token), request).await;
        assert!(
            answer.body.get("errors").is_none(),
            "the tour's call failed: {body}\n{}",
            answer.body
        );
        if let Some(workspace) = answer.body["data"]["createWorkspace"]["id"].as_str() {
            agent = Some(app.agent_token(workspace.parse().expect("a workspace id")));
        }
    }
}
on_both_backends!(readme_tour, the_readme_tour_works_as_pasted);
