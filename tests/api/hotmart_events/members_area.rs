//! Members-area postbacks (first access, module completed) land as enrollments, progress and
//! attribution.

use super::*;

/// Inserts a tracked link of `customer`, clicked from `first` to `last`.
pub async fn clicked_link(app: &TestApp, workspace: Uuid, customer: &str, first: i64, last: i64) {
    entity::tracked_link::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(workspace),
        code: Set(Uuid::new_v4().simple().to_string()),
        message_id: Set(None),
        customer_id: Set(Some(Uuid::parse_str(customer).expect("uuid"))),
        target_url: Set("https://club.hotmart.com/curso-de-confeitaria".into()),
        click_count: Set(2),
        first_clicked_at: Set(Some(utc(first))),
        last_clicked_at: Set(Some(utc(last))),
        created_at: Set(utc(first - DAY_MS)),
    }
    .insert(&app.db)
    .await
    .expect("insert a tracked link");
}

async fn members_area_events_land_in_the_domain(app: TestApp) {
    let shop = Shop::open(&app, "membros").await;
    let base = now_ms() - 30 * DAY_MS;
    let at = |day: i64| base + day * DAY_MS;
    let curso = || product_ref(json!(3526906), "Curso de Confeitaria");
    let (maria, joao, pedro) = ("maria@exemplo.com", "joao@exemplo.com", "pedro@exemplo.com");
    for (n, (email, name)) in [
        (maria, "Maria Silva"),
        (joao, "João Souza"),
        (pedro, "Pedro Alves"),
    ]
    .iter()
    .enumerate()
    {
        shop.post(
            &Sale::new(&format!("HP500000000{n}"), email, at(1))
                .buyer(name, None)
                .event("PURCHASE_APPROVED", "APPROVED", at(1)),
        )
        .await;
    }
    app.drain().await;

    // João clicked our WhatsApp link a day (the 24 h window) before his first
    // access; Pedro clicked his nine days before; Maria clicked hers only after hers.
    let joao_id = shop.customer_id(joao).await.expect("joão");
    let pedro_id = shop.customer_id(pedro).await.expect("pedro");
    let maria_id = shop.customer_id(maria).await.expect("maria");
    clicked_link(&app, shop.workspace, &joao_id, at(2), at(3)).await;
    clicked_link(&app, shop.workspace, &pedro_id, at(1), at(1)).await;
    clicked_link(&app, shop.workspace, &maria_id, at(3), at(3)).await;

    // The course has two modules of two lessons each.
    let tenant = Tenant::new(shop.workspace);
    let product = Uuid::parse_str(&shop.products().await["3526906"]).expect("uuid");
    for (position, (module_id, name)) in [
        ("QOZmLb1E4W", "Módulo 1 - Massas"),
        ("Xy7Pq2", "Módulo 2 - Coberturas"),
    ]
    .iter()
    .enumerate()
    {
        let facts = entity::catalog::ModuleFacts {
            hotmart_module_id: module_id,
            name: Some(name),
            position: Some(position as i32 + 1),
            is_extra: Some(false),
        };
        let module =
            entity::catalog::upsert_module(&app.db, tenant, product, facts, app.clock.now())
                .await
                .expect("module");
        for lesson in 1..=2 {
            entity::catalog::upsert_lesson(
                &app.db,
                tenant,
                product,
                &entity::catalog::LessonFacts {
                    hotmart_page_id: format!("{module_id}-{lesson}"),
                    page_name: format!("Aula {lesson}"),
                    module_id: Some(module.id),
                    module_name: Some((*name).to_owned()),
                    is_extra: false,
                    position: lesson,
                },
                app.clock.now(),
            )
            .await
            .expect("lesson");
        }
    }

    shop.post_all(&[
        first_access(maria, "Maria Silva", curso(), at(2)),
        first_access(joao, "João Souza", curso(), at(4)),
        first_access(pedro, "Pedro Alves", curso(), at(10)),
        module_completed(
            maria,
            "Maria Silva",
            curso(),
            "QOZmLb1E4W",
            "Módulo 1 - Massas",
            at(5),
        ),
        // A second access notice: not a first access any more.
        first_access(maria, "Maria Silva", curso(), at(6)),
        // Hotmart's test postback names its product "00000".
        module_completed(
            maria,
            "Maria Silva",
            product_ref(json!("00000"), "Produto test postback2"),
            "hash123",
            "Mudule test name",
            at(7),
        ),
    ])
    .await;
    app.drain().await;
    let processed = shop.webhook_events(json!({"status": "PROCESSED"})).await;
    assert_eq!(processed["totalCount"], 9, "{processed}");

    let m = shop.customer(maria).await;
    let e = shop.enrollment(&m, "3526906").await.expect("enrolled");
    assert_eq!(ms(&e["firstAccessAt"]), Some(at(2)));
    assert_eq!(
        e["firstAccessOrigin"], "hotmart_email",
        "her click came after the access"
    );
    assert_eq!(ms(&e["lastAccessAt"]), Some(at(6)));
    assert_eq!(e["progress"], "50.00", "one module of two completed");
    assert_eq!(e["accessStatus"], "ACTIVE");
    let completed = entity::lesson_progress::Entity::find()
        .filter(entity::lesson_progress::Column::Completed.eq(true))
        .all(&app.db)
        .await
        .expect("progress");
    assert_eq!(completed.len(), 2, "both lessons of the completed module");
    assert!(
        shop.products().await.contains_key("00000"),
        "the string product id is kept as sent"
    );
    assert_eq!(
        activity_types(&m),
        // Completing a module of the "00000" product proves an access to it too.
        sorted(&[
            "purchase_approved",
            "first_access",
            "first_access",
            "module_completed",
            "module_completed"
        ])
    );

    let j = shop.customer(joao).await;
    let e = shop.enrollment(&j, "3526906").await.expect("enrolled");
    assert_eq!(ms(&e["firstAccessAt"]), Some(at(4)));
    assert_eq!(
        e["firstAccessOrigin"], "whatsapp_link",
        "a click on our link within the 24 h window before"
    );
    let p = shop.customer(pedro).await;
    let e = shop.enrollment(&p, "3526906").await.expect("enrolled");
    assert_eq!(ms(&e["firstAccessAt"]), Some(at(10)));
    assert_eq!(
        e["firstAccessOrigin"], "hotmart_email",
        "a click 9 days before is outside the window"
    );

    for (event_type, count) in [
        ("purchase_approved", 3),
        // Three first accesses to the course, and Maria's to the "00000" product.
        ("first_access", 4),
        ("module_completed", 2),
    ] {
        assert_eq!(domain_events(&app, event_type).await, count, "{event_type}");
    }
    assert_eq!(app.count_rows("domain_events").await, 9);
    assert_timeline_mirrors_domain_events(&app).await;
}
on_both_backends!(
    members_area_events_land_in_the_domain,
    members_area_events_land_in_the_domain
);
