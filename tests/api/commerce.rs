//! Products, purchases and access as the API shows them. Purchases are
//! written the way the Hotmart appliers write them: through the entities.

use chrono::{Duration, TimeZone, Utc};
use entity::enums::AccessStatus;
use entity::{enrollment, lesson, offer, subscription, transaction};
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, IntoActiveModel};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::on_both_backends;

struct Seeded {
    workspace: Uuid,
    customer: Uuid,
    other_customer: Uuid,
    product: Uuid,
}

async fn seed_purchases(app: &TestApp) -> Seeded {
    let workspace = app.create_workspace("loja").await;
    let agent = app.agent_token(workspace);
    let customer = app.create_customer(workspace, "maria@example.com").await;
    let other_customer = app.create_customer(workspace, "joao@example.com").await;
    let product = app
        .graphql(
            Some(&agent),
            "mutation { upsertProduct(input: {hotmartProductId: \"3526906\", name: \"Curso de Confeitaria\", ucode: \"a1b2\"}) { id } }",
            json!({}),
        )
        .await;
    let product = Uuid::parse_str(product.data("upsertProduct")["id"].as_str().unwrap()).unwrap();
    let now = Utc::now();
    let offer = offer::Model {
        id: Uuid::now_v7(),
        workspace_id: workspace,
        product_id: product,
        hotmart_offer_code: "n82b9jqz".into(),
        name: Some("Plano Anual".into()),
        price: Some(Decimal::new(49700, 2)),
        currency: "BRL".into(),
        active: true,
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(&app.db)
    .await
    .unwrap();
    for (position, page) in [(2, "Aula 2"), (1, "Aula 1")] {
        lesson::Model {
            id: Uuid::now_v7(),
            workspace_id: workspace,
            product_id: product,
            module_id: None,
            hotmart_page_id: format!("page-{position}"),
            page_name: page.into(),
            module_name: Some("Módulo 1".into()),
            is_extra: false,
            position,
            release_after_days: None,
            release_at: None,
            created_at: now,
            updated_at: now,
        }
        .into_active_model()
        .insert(&app.db)
        .await
        .unwrap();
    }
    let subscription = subscription::Model {
        id: Uuid::now_v7(),
        workspace_id: workspace,
        customer_id: customer,
        product_id: Some(product),
        subscriber_code: "SUB123".into(),
        hotmart_subscription_id: None,
        plan_id: Some("plan-1".into()),
        plan_name: Some("Anual".into()),
        status: "ACTIVE".into(),
        started_at: Some(now),
        next_charge_at: Some(now + Duration::days(365)),
        cancelled_at: None,
        recurring_amount: Some(Decimal::new(49700, 2)),
        currency: Some("BRL".into()),
        recurrence_period_days: Some(365),
        last_event_at: Some(now),
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(&app.db)
    .await
    .unwrap();
    let purchases = [
        (
            "HP0001",
            customer,
            "APPROVED",
            Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap(),
        ),
        (
            "HP0002",
            customer,
            "REFUNDED",
            Utc.with_ymd_and_hms(2026, 2, 10, 12, 0, 0).unwrap(),
        ),
        (
            "HP0003",
            other_customer,
            "APPROVED",
            Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap(),
        ),
    ];
    for (code, buyer, status, purchased_at) in purchases {
        let txn = transaction::Model {
            id: Uuid::now_v7(),
            workspace_id: workspace,
            code: code.into(),
            customer_id: buyer,
            product_id: Some(product),
            offer_id: Some(offer.id),
            subscription_id: (buyer == customer).then_some(subscription.id),
            status: status.into(),
            amount: Decimal::new(49700, 2),
            currency: "BRL".into(),
            payment_method: Some("CREDIT_CARD".into()),
            installments: Some(12),
            purchased_at: Some(purchased_at),
            approved_at: Some(purchased_at),
            refunded_at: None,
            warranty_ends_at: None,
            billet_url: None,
            pix_code: None,
            src: Some("instagram".into()),
            sck: None,
            xcod: None,
            commission_type: None,
            recurrence_number: Some(1),
            last_event_at: Some(purchased_at),
            created_at: now,
            updated_at: now,
        }
        .into_active_model()
        .insert(&app.db)
        .await
        .unwrap();
        if code == "HP0001" || code == "HP0003" {
            enrollment::Model {
                id: Uuid::now_v7(),
                workspace_id: workspace,
                customer_id: buyer,
                product_id: product,
                transaction_id: Some(txn.id),
                access_status: AccessStatus::Active,
                starts_at: Some(now - Duration::days(40)),
                ends_at: None,
                renews_at: None,
                first_access_at: None,
                first_access_origin: None,
                last_access_at: None,
                last_lesson_completed_at: None,
                progress_percent: Decimal::new(2550, 2),
                created_at: now,
                updated_at: now,
            }
            .into_active_model()
            .insert(&app.db)
            .await
            .unwrap();
        }
    }
    Seeded {
        workspace,
        customer,
        other_customer,
        product,
    }
}

async fn transactions_filter_and_customers_show_their_purchases(app: TestApp) {
    let seeded = seed_purchases(&app).await;
    let agent = app.agent_token(seeded.workspace);
    let codes = |filter: serde_json::Value| {
        let (app, agent) = (&app, agent.clone());
        async move {
            let answer = app
                .graphql(
                    Some(&agent),
                    "query($f: TransactionFilter) { transactions(filter: $f) { totalCount edges { node { code } } } }",
                    json!({"f": filter}),
                )
                .await;
            let list = answer.data("transactions");
            list["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["code"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(codes(json!({})).await, ["HP0003", "HP0002", "HP0001"]);
    assert_eq!(
        codes(json!({"status": "approved"})).await,
        ["HP0003", "HP0001"]
    );
    assert_eq!(
        codes(json!({"customerId": seeded.customer})).await,
        ["HP0002", "HP0001"]
    );
    assert_eq!(codes(json!({"productId": seeded.product, "from": "2026-02-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"})).await, ["HP0002"]);
    assert_eq!(
        codes(json!({"customerId": Uuid::new_v4()})).await,
        Vec::<String>::new()
    );

    let detail = app
        .graphql(
            Some(&agent),
            "query($id: ID!) { customer(id: $id) {
                transactions { code status amount currency installments src customer { email } product { name } }
                subscriptions { subscriberCode status recurringAmount recurrencePeriodDays }
                enrollments { accessStatus progress } } }",
            json!({"id": seeded.customer}),
        )
        .await;
    let customer = detail.data("customer");
    assert_eq!(
        customer["transactions"][0]["customer"]["email"],
        "maria@example.com"
    );
    assert_eq!(
        customer["transactions"][0]["product"]["name"],
        "Curso de Confeitaria"
    );
    assert_eq!(customer["transactions"][1]["amount"], "497.00");
    assert_eq!(
        customer["subscriptions"],
        json!([{"subscriberCode": "SUB123", "status": "ACTIVE", "recurringAmount": "497.00", "recurrencePeriodDays": 365}])
    );
    assert_eq!(
        customer["enrollments"],
        json!([{"accessStatus": "ACTIVE", "progress": "25.50"}])
    );

    // A page of customers with all their relations: one answer, each with its own rows.
    let page = app
        .graphql(Some(&agent), "{ customers { edges { node { email transactions { code } enrollments { accessStatus } } } } }", json!({}))
        .await;
    assert_eq!(
        page.data("customers")["edges"],
        json!([
            {"node": {"email": "joao@example.com", "transactions": [{"code": "HP0003"}], "enrollments": [{"accessStatus": "ACTIVE"}]}},
            {"node": {"email": "maria@example.com", "transactions": [{"code": "HP0002"}, {"code": "HP0001"}], "enrollments": [{"accessStatus": "ACTIVE"}]}}
        ])
    );
    let _ = seeded.other_customer;
}
on_both_backends!(
    transactions_filter_and_customers_show_their_purchases,
    transactions_filter_and_customers_show_their_purchases
);

async fn products_upsert_by_hotmart_id_and_show_offers_and_lessons(app: TestApp) {
    let seeded = seed_purchases(&app).await;
    let agent = app.agent_token(seeded.workspace);
    let again = app
        .graphql(
            Some(&agent),
            "mutation { upsertProduct(input: {hotmartProductId: \"3526906\", name: \"Confeitaria Pro\", monitored: true}) { id name ucode monitored } }",
            json!({}),
        )
        .await;
    let product = again.data("upsertProduct");
    assert_eq!(
        product["id"],
        seeded.product.to_string(),
        "same Hotmart id updates the same product"
    );
    assert_eq!(product["name"], "Confeitaria Pro");
    assert_eq!(product["ucode"], "a1b2", "omitted fields are kept");
    assert_eq!(product["monitored"], true);
    assert_eq!(app.count_rows("products").await, 1);

    let off = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!) { setProductMonitored(id: $id, monitored: false) { monitored } }",
            json!({"id": seeded.product}),
        )
        .await;
    assert_eq!(off.data("setProductMonitored")["monitored"], false);

    let created = app
        .graphql(
            Some(&agent),
            "mutation { upsertProduct(input: {name: \"Mentoria\"}) { id monitored } }",
            json!({}),
        )
        .await;
    assert_eq!(
        created.data("upsertProduct")["monitored"],
        true,
        "products arrive monitored"
    );
    let missing = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!) { upsertProduct(input: {id: $id, name: \"x\"}) { id } }",
            json!({"id": Uuid::new_v4()}),
        )
        .await;
    assert_eq!(missing.error_code(), Some("NOT_FOUND"));

    let detail = app
        .graphql(
            Some(&agent),
            "query($id: ID!) { product(id: $id) { offers { hotmartOfferCode price currency } lessons { pageName position moduleName } } }",
            json!({"id": seeded.product}),
        )
        .await;
    let product = detail.data("product");
    assert_eq!(
        product["offers"],
        json!([{"hotmartOfferCode": "n82b9jqz", "price": "497.00", "currency": "BRL"}])
    );
    assert_eq!(
        product["lessons"],
        json!([{"pageName": "Aula 1", "position": 1, "moduleName": "Módulo 1"}, {"pageName": "Aula 2", "position": 2, "moduleName": "Módulo 1"}])
    );
    let monitored = app
        .graphql(
            Some(&agent),
            "{ products(filter: {monitored: false}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        monitored.data("products")["totalCount"],
        1,
        "products arrive monitored; one was turned off"
    );
}
on_both_backends!(
    products_upsert_by_hotmart_id_and_show_offers_and_lessons,
    products_upsert_by_hotmart_id_and_show_offers_and_lessons
);

async fn the_segment_job_classifies_customers(app: TestApp) {
    let seeded = seed_purchases(&app).await;
    let lead = app
        .create_customer(seeded.workspace, "lead@example.com")
        .await;
    let changed = entity::segments::refresh_all(&app.db, &app.secrets, Utc::now())
        .await
        .expect("refresh runs");
    assert_eq!(
        changed, 2,
        "two buyers leave the lead segment; the lead stays"
    );
    let agent = app.agent_token(seeded.workspace);
    let answer = app
        .graphql(
            Some(&agent),
            "{ customers(filter: {segment: \"at_risk\"}) { edges { node { email churnRisk } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer.data("customers")["edges"],
        json!([{"node": {"email": "joao@example.com", "churnRisk": "high"}}, {"node": {"email": "maria@example.com", "churnRisk": "high"}}]),
        "enrolled 40 days ago with no activity since"
    );
    let lead_row = app
        .graphql(
            Some(&agent),
            "query($id: ID!) { customer(id: $id) { segment churnRisk } }",
            json!({"id": lead}),
        )
        .await;
    assert_eq!(
        lead_row.data("customer"),
        &json!({"segment": "lead", "churnRisk": null})
    );
    assert_eq!(
        entity::segments::refresh_all(&app.db, &app.secrets, Utc::now())
            .await
            .unwrap(),
        0,
        "a second run changes nothing"
    );
}
on_both_backends!(
    the_segment_job_classifies_customers,
    the_segment_job_classifies_customers
);

async fn access_past_its_end_is_cancelled(app: TestApp) {
    let seeded = seed_purchases(&app).await;
    let now = Utc::now();
    let tenant = entity::Tenant::new(seeded.workspace);
    entity::enrollments::set_access_end(
        &app.db,
        tenant,
        seeded.customer,
        seeded.product,
        Some(now - Duration::hours(1)),
        None,
        app.clock.now(),
    )
    .await
    .expect("the enrollment exists");
    entity::enrollments::set_access_end(
        &app.db,
        tenant,
        seeded.other_customer,
        seeded.product,
        Some(now + Duration::days(10)),
        None,
        app.clock.now(),
    )
    .await
    .expect("the enrollment exists");
    assert_eq!(
        entity::enrollments::expire_ended_access(&app.db, now)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        entity::enrollments::expire_ended_access(&app.db, now)
            .await
            .unwrap(),
        0,
        "already cancelled"
    );
    let agent = app.agent_token(seeded.workspace);
    let access = |id: Uuid| {
        let (app, agent) = (&app, agent.clone());
        async move {
            let answer = app
                .graphql(
                    Some(&agent),
                    "query($id: ID!) { customer(id: $id) { enrollments { accessStatus endsAt } } }",
                    json!({"id": id}),
                )
                .await;
            answer.data("customer")["enrollments"][0]["accessStatus"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    assert_eq!(access(seeded.customer).await, "CANCELLED");
    assert_eq!(
        access(seeded.other_customer).await,
        "ACTIVE",
        "access runs until the paid period ends"
    );
}
on_both_backends!(
    access_past_its_end_is_cancelled,
    access_past_its_end_is_cancelled
);
