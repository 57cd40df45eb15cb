//! `GET /exports/{name}.csv`: every list as a CSV a spreadsheet opens,
//! with the GraphQL list's filters, the same roles and workspaces, and
//! nothing a spreadsheet would run.

use serde_json::{Value, json};

use crate::analytics::told;
use crate::helpers::TestApp;
use crate::on_both_backends;

const EXPORTS: [&str; 9] = [
    "customers",
    "transactions",
    "subscriptions",
    "enrollments",
    "dispatch-items",
    "messages",
    "conversation-tags",
    "webhook-events",
    "campaign-recipients",
];

/// What an export answered: status, content type and body.
struct Download {
    status: u16,
    content_type: String,
    body: String,
}

async fn download(app: &TestApp, token: Option<&str>, path: &str) -> Download {
    let mut request = app.client.get(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the export answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.expect("a body");
    Download {
        status,
        content_type,
        body,
    }
}

/// Reads RFC 4180 CSV: records of fields, quotes doubled inside quoted fields.
fn parse(text: &str, delimiter: char) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) if c == delimiter => record.push(std::mem::take(&mut field)),
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && record.is_empty(),
        "the last record ends with CRLF"
    );
    records
}

/// The records as maps from the header's names.
fn rows(text: &str) -> Vec<serde_json::Map<String, Value>> {
    let mut records = parse(text, ',').into_iter();
    let header = records.next().expect("a header row");
    records
        .map(|record| {
            assert_eq!(record.len(), header.len(), "{record:?}");
            header
                .iter()
                .cloned()
                .zip(record.into_iter().map(Value::String))
                .collect()
        })
        .collect()
}

#[track_caller]
fn refused(download: &Download, status: u16, code: &str) {
    assert_eq!(download.status, status, "{}", download.body);
    let body: Value = serde_json::from_str(&download.body).expect("a JSON error body");
    assert_eq!(body["errors"][0]["extensions"]["code"], code, "{body}");
}

async fn exports_stream_every_list(app: TestApp) {
    let shop = told(&app).await;
    let token = shop.token.clone();
    app.graphql(
        Some(&token),
        "mutation { a: createCustomer(input: {email: \"hostil@exemplo.com\", name: \"=HYPERLINK(\\\"http://evil\\\")\"}) { id }
                    b: createCustomer(input: {email: \"ze@exemplo.com\", name: \"Silva, \\\"Zé\\\"\"}) { id } }",
        json!({}),
    )
    .await
    .data("a");

    // Every export answers with its header row, as CSV.
    for name in EXPORTS {
        let got = download(&app, Some(&token), &format!("/exports/{name}.csv")).await;
        assert_eq!(got.status, 200, "{name}: {}", got.body);
        assert_eq!(got.content_type, "text/csv; charset=utf-8", "{name}");
        let header = &parse(&got.body, ',')[0];
        assert_eq!(header[0], "id", "{name}: {header:?}");
        assert!(!header.contains(&"workspace_id".to_owned()), "{name}");
    }

    // Transactions: the eleven sales of the story, oldest first, amounts at two places.
    let all = rows(
        &download(&app, Some(&token), "/exports/transactions.csv")
            .await
            .body,
    );
    assert_eq!(all.len(), 11);
    let ana = all
        .iter()
        .find(|r| r["code"] == "HP1000000001")
        .expect("Ana's sale");
    assert_eq!(ana["amount"], "497.00");
    assert_eq!(ana["status"], "REFUNDED");
    assert_eq!(ana["installments"], "12");
    assert_eq!(ana["approved_at"], "2026-01-10T15:00:00Z");
    let ids: Vec<&Value> = all.iter().map(|r| &r["id"]).collect();
    let mut sorted = ids.clone();
    sorted.sort_by_key(|id| id.as_str().unwrap_or_default().to_owned());
    assert_eq!(ids, sorted, "oldest first");

    // The GraphQL list's filters, as query parameters.
    let refunded = rows(
        &download(
            &app,
            Some(&token),
            "/exports/transactions.csv?status=refunded",
        )
        .await
        .body,
    );
    assert_eq!(refunded.len(), 1);
    assert_eq!(refunded[0]["code"], "HP1000000001");
    let products = shop.products().await;
    let course = &products["3526906"];
    let of_course = rows(
        &download(
            &app,
            Some(&token),
            &format!("/exports/transactions.csv?productId={course}"),
        )
        .await
        .body,
    );
    assert_eq!(
        of_course.len(),
        4,
        "Ana, Bia, Caio and Dan bought the course"
    );
    let february = rows(
        &download(
            &app,
            Some(&token),
            "/exports/transactions.csv?from=2026-02-01T00%3A00%3A00Z&to=2026-03-01T00%3A00%3A00Z",
        )
        .await
        .body,
    );
    let mut codes: Vec<&str> = february
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            "HP1000000002",
            "HP1000000003",
            "HP1000000004",
            "HP2000000002",
            "HP2000000012",
            "HP2000000022"
        ]
    );
    let cancelled = rows(
        &download(
            &app,
            Some(&token),
            "/exports/subscriptions.csv?status=CANCELLED_BY_CUSTOMER",
        )
        .await
        .body,
    );
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0]["subscriber_code"], "SUB-FABIO");
    assert_eq!(cancelled[0]["recurring_amount"], "49.90");

    // Customers: quoting, and a name a spreadsheet would run comes out inert.
    let customers = rows(
        &download(
            &app,
            Some(&token),
            "/exports/customers.csv?search=exemplo.com",
        )
        .await
        .body,
    );
    let hostile = customers
        .iter()
        .find(|r| r["email"] == "hostil@exemplo.com")
        .expect("the hostile name");
    assert_eq!(hostile["name"], "'=HYPERLINK(\"http://evil\")");
    let ze = customers
        .iter()
        .find(|r| r["email"] == "ze@exemplo.com")
        .expect("Zé");
    assert_eq!(ze["name"], "Silva, \"Zé\"");

    // Excel in Portuguese: semicolons and a byte-order mark.
    let excel = download(
        &app,
        Some(&token),
        "/exports/transactions.csv?delimiter=%3B&bom=true&status=REFUNDED",
    )
    .await;
    let text = excel
        .body
        .strip_prefix('\u{feff}')
        .expect("a byte-order mark first");
    let records = parse(text, ';');
    assert_eq!(records.len(), 2);
    assert_eq!(records[0][1], "code");
    assert_eq!(records[1][1], "HP1000000001");

    // Read-only tokens export; other workspaces see none of it; a service
    // token names its workspace.
    let reader = app.reader_token(shop.workspace);
    assert_eq!(
        rows(
            &download(&app, Some(&reader), "/exports/transactions.csv")
                .await
                .body
        )
        .len(),
        11
    );
    let other = app.create_workspace("outra-loja").await;
    let theirs = download(
        &app,
        Some(&app.agent_token(other)),
        "/exports/transactions.csv",
    )
    .await;
    assert_eq!(rows(&theirs.body).len(), 0);
    let service = app.service_token();
    refused(
        &download(&app, Some(&service), "/exports/transactions.csv").await,
        400,
        "INVALID_INPUT",
    );
    let named = download(
        &app,
        Some(&service),
        &format!("/exports/transactions.csv?workspaceId={}", shop.workspace),
    )
    .await;
    assert_eq!(rows(&named.body).len(), 11);
    refused(
        &download(
            &app,
            Some(&app.agent_token(other)),
            &format!("/exports/transactions.csv?workspaceId={}", shop.workspace),
        )
        .await,
        404,
        "NOT_FOUND",
    );

    // Bad requests get a stable error body, never a half-written file.
    refused(
        &download(&app, None, "/exports/transactions.csv").await,
        401,
        "UNAUTHENTICATED",
    );
    refused(
        &download(&app, Some("not-a-token"), "/exports/transactions.csv").await,
        401,
        "UNAUTHENTICATED",
    );
    refused(
        &download(&app, Some(&token), "/exports/invoices.csv").await,
        404,
        "NOT_FOUND",
    );
    refused(
        &download(&app, Some(&token), "/exports/transactions.json").await,
        404,
        "NOT_FOUND",
    );
    for bad in [
        "colour=red",
        "from=yesterday",
        "productId=not-an-id",
        "delimiter=%7C",
        "bom=yes",
        "status=REFUNDED&status=APPROVED",
    ] {
        let got = download(
            &app,
            Some(&token),
            &format!("/exports/transactions.csv?{bad}"),
        )
        .await;
        refused(&got, 400, "INVALID_INPUT");
    }
    refused(
        &download(
            &app,
            Some(&token),
            "/exports/enrollments.csv?accessStatus=ALIVE",
        )
        .await,
        400,
        "INVALID_INPUT",
    );
    refused(
        &download(&app, Some(&token), "/exports/messages.csv?channel=pigeon").await,
        400,
        "INVALID_INPUT",
    );
    refused(
        &download(
            &app,
            Some(&token),
            "/exports/dispatch-items.csv?status=MAYBE",
        )
        .await,
        400,
        "INVALID_INPUT",
    );
}

on_both_backends!(exports_stream_every_list, exports_stream_every_list);
