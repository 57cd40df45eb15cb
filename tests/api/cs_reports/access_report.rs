//! `accessReport`: buyers of a period, who accessed, what brought them
//! (a click on our link within the attribution window, or Hotmart's
//! e-mail), and how fast, against a fixture computed by hand.

use super::*;

pub(crate) const REPORT: &str = "query($p: ID, $from: DateTime!, $to: DateTime!) {
    accessReport(productId: $p, from: $from, to: $to) {
        buyers accessed neverAccessed medianHoursToFirstAccess accessesAfterRescue
        byOrigin { origin count share } } }";

/// Clicks a tracked link as a buyer would, from the message they got.
pub(crate) async fn click(app: &TestApp, code: &str) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let answer = client
        .get(app.url(&format!("/r/{code}")))
        .send()
        .await
        .expect("click");
    assert_eq!(answer.status(), 302);
}

/// The code of the tracked link our latest message gave the customer.
pub(crate) async fn link_of(app: &TestApp, customer: &str) -> String {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let customer = Uuid::parse_str(customer).expect("uuid");
    entity::tracked_link::Entity::find()
        .filter(entity::tracked_link::Column::CustomerId.eq(customer))
        .order_by_desc(entity::tracked_link::Column::CreatedAt)
        .one(&app.db)
        .await
        .expect("query")
        .expect("the message carried a tracked link")
        .code
}

fn origins(report: &Value) -> Vec<(String, i64, f64)> {
    report["byOrigin"]
        .as_array()
        .expect("byOrigin")
        .iter()
        .map(|o| {
            (
                o["origin"].as_str().expect("origin").to_owned(),
                o["count"].as_i64().expect("count"),
                o["share"].as_f64().expect("share"),
            )
        })
        .collect()
}

async fn access_report_counts_what_we_brought(app: TestApp) {
    let shop = Shop::open(&app, "relatorio-acesso").await;
    let t0 = clock_ms(&app);
    let buyers = [
        ("b1@exemplo.com", "Bruna Um", CURSO),
        ("b2@exemplo.com", "Bento Dois", CURSO),
        ("b3@exemplo.com", "Bia Tres", CURSO),
        ("b4@exemplo.com", "Beto Quatro", CURSO),
        ("b5@exemplo.com", "Bela Cinco", CURSO),
        ("b6@exemplo.com", "Breno Seis", MENTORIA),
        ("b8@exemplo.com", "Bianca Oito", MENTORIA),
    ];
    for (n, (email, name, product)) in buyers.iter().enumerate() {
        shop.post(&approved_sale(
            &format!("HP7000000{n}"),
            email,
            name,
            *product,
            t0,
        ))
        .await;
    }
    // Bought five days before the period: not one of its buyers.
    shop.post(&approved_sale(
        "HP70000099",
        "b7@exemplo.com",
        "Bruno Sete",
        CURSO,
        t0 - 120 * HOUR_MS,
    ))
    .await;
    shop.post(&first_access(
        "b7@exemplo.com",
        "Bruno Sete",
        curso(),
        t0 - 100 * HOUR_MS,
    ))
    .await;
    app.drain().await;

    // Our WhatsApp reminder, with a tracked link, reaches b1, b2 and b8.
    let group = target_group(
        &shop,
        "Lembrete",
        "customers",
        json!({"rules": [{"field": "email", "op": "in", "value": ["b1@exemplo.com", "b2@exemplo.com", "b8@exemplo.com"]}]}),
    )
    .await;
    run_campaign(
        &shop,
        "Lembrete de acesso",
        message_journey("Seu curso te espera: {{link:https://club.hotmart.com/confeitaria}}"),
        None,
        &group,
    )
    .await;
    app.drain().await;
    let id = |email: &str| {
        let shop = &shop;
        let email = email.to_owned();
        async move { shop.customer_id(&email).await.expect("customer") }
    };
    let (b1, b2, b8) = (
        id("b1@exemplo.com").await,
        id("b2@exemplo.com").await,
        id("b8@exemplo.com").await,
    );

    // b2 clicks 1 h after buying, b1 2 h after, b8 3 h after.
    app.advance_to(at(t0 + HOUR_MS)).await;
    click(&app, &link_of(&app, &b2).await).await;
    app.advance_to(at(t0 + 2 * HOUR_MS)).await;
    click(&app, &link_of(&app, &b1).await).await;
    app.advance_to(at(t0 + 3 * HOUR_MS)).await;
    click(&app, &link_of(&app, &b8).await).await;

    // b1 accesses 2 h after the click (ours); b3 without any click; b2 30 h
    // after the click, outside the default 24 h window (Hotmart's e-mail).
    for (email, name, hours) in [
        ("b1@exemplo.com", "Bruna Um", 4),
        ("b3@exemplo.com", "Bia Tres", 10),
        ("b2@exemplo.com", "Bento Dois", 31),
    ] {
        app.advance_to(at(t0 + hours * HOUR_MS)).await;
        shop.post(&first_access(email, name, curso(), t0 + hours * HOUR_MS))
            .await;
        app.drain().await;
    }
    // The producer widens the window to 48 h: b8's access 30 h after the
    // click is ours.
    for bad in ["0", "abc", "721", "-5"] {
        let refused = app
            .graphql(
                Some(&shop.token),
                "mutation($v: String!) { setSetting(key: \"attribution.first_access_window_hours\", value: $v) { key } }",
                json!({"v": bad}),
            )
            .await;
        assert_eq!(
            refused.error_code(),
            Some("INVALID_INPUT"),
            "{bad}: {:?}",
            refused.body
        );
    }
    crate::templates::set_setting(
        &app,
        shop.workspace,
        "attribution.first_access_window_hours",
        "48",
    )
    .await;
    app.advance_to(at(t0 + 33 * HOUR_MS)).await;
    shop.post(&first_access(
        "b8@exemplo.com",
        "Bianca Oito",
        product_ref(json!(MENTORIA), "Mentoria de Confeitaria"),
        t0 + 33 * HOUR_MS,
    ))
    .await;
    app.drain().await;

    for (email, product, origin) in [
        ("b1@exemplo.com", CURSO, "whatsapp_link"),
        ("b2@exemplo.com", CURSO, "hotmart_email"),
        ("b3@exemplo.com", CURSO, "hotmart_email"),
        ("b8@exemplo.com", MENTORIA, "whatsapp_link"),
    ] {
        let customer = shop.customer(email).await;
        let enrollment = shop
            .enrollment(&customer, &product.to_string())
            .await
            .expect("enrolled");
        assert_eq!(enrollment["firstAccessOrigin"], origin, "{email}");
    }

    let products = shop.products().await;
    let period = |product: Option<&String>| json!({"p": product, "from": rfc3339(t0 - 24 * HOUR_MS), "to": rfc3339(t0 + 24 * HOUR_MS)});
    // The course's five buyers: three accessed, after 4, 10 and 31 hours.
    let report = shop
        .query(
            REPORT,
            period(Some(&products[&CURSO.to_string()])),
            "accessReport",
        )
        .await;
    assert_eq!(report["buyers"], 5, "{report}");
    assert_eq!(report["accessed"], 3);
    assert_eq!(report["neverAccessed"], 2);
    assert_eq!(report["medianHoursToFirstAccess"], 10.0);
    // No access_rescue rule has sent anything in this workspace.
    assert_eq!(report["accessesAfterRescue"], 0);
    let third = 1.0 / 3.0;
    assert_eq!(
        origins(&report),
        vec![
            ("whatsapp_link".to_owned(), 1, third),
            ("email_link".to_owned(), 0, 0.0),
            ("hotmart_email".to_owned(), 2, 2.0 * third),
        ]
    );
    // Every product: the mentoria's two buyers too, b8 brought by us.
    let everyone = shop.query(REPORT, period(None), "accessReport").await;
    assert_eq!(everyone["buyers"], 7, "{everyone}");
    assert_eq!(everyone["accessed"], 4);
    assert_eq!(everyone["neverAccessed"], 3);
    assert_eq!(
        everyone["medianHoursToFirstAccess"], 20.5,
        "median of 4, 10, 31 and 33"
    );
    assert_eq!(
        origins(&everyone),
        vec![
            ("whatsapp_link".to_owned(), 2, 0.5),
            ("email_link".to_owned(), 0, 0.0),
            ("hotmart_email".to_owned(), 2, 0.5),
        ]
    );
    // A period with no buyers.
    let empty = shop
        .query(
            REPORT,
            json!({"from": rfc3339(t0 + 48 * HOUR_MS), "to": rfc3339(t0 + 72 * HOUR_MS)}),
            "accessReport",
        )
        .await;
    assert_eq!(empty["buyers"], 0);
    assert_eq!(empty["medianHoursToFirstAccess"], Value::Null);

    // A read-only dashboard token reads it; another workspace sees nothing.
    let reader = app.reader_token(shop.workspace);
    let read = app.graphql(Some(&reader), REPORT, period(None)).await;
    assert_eq!(read.data("accessReport")["buyers"], 7);
    let other = app.create_workspace("outra-produtora").await;
    let theirs = app
        .graphql(Some(&app.agent_token(other)), REPORT, period(None))
        .await;
    assert_eq!(theirs.data("accessReport")["buyers"], 0);
    let service = app
        .graphql(
            Some(&app.service_token()),
            "query($w: ID!, $from: DateTime!, $to: DateTime!) { accessReport(workspaceId: $w, from: $from, to: $to) { buyers } }",
            json!({"w": shop.workspace, "from": rfc3339(t0 - 24 * HOUR_MS), "to": rfc3339(t0 + 24 * HOUR_MS)}),
        )
        .await;
    assert_eq!(service.data("accessReport")["buyers"], 7);
    let anonymous = app.graphql(None, REPORT, period(None)).await;
    assert_eq!(anonymous.error_code(), Some("UNAUTHENTICATED"));

    // Bad input gets a stable code.
    for variables in [
        json!({"from": rfc3339(t0), "to": rfc3339(t0)}),
        json!({"p": "not-an-id", "from": rfc3339(t0), "to": rfc3339(t0 + HOUR_MS)}),
    ] {
        let refused = shop.app.graphql(Some(&shop.token), REPORT, variables).await;
        assert_eq!(
            refused.error_code(),
            Some("INVALID_INPUT"),
            "{:?}",
            refused.body
        );
    }
}
on_both_backends!(
    access_report_counts_what_we_brought,
    access_report_counts_what_we_brought
);
