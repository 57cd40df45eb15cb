//! Scan rules: buyers who never accessed, students who stopped, refunds at risk.

use super::*;
use crate::cs_reports::access_report::{REPORT as ACCESS_REPORT, click, link_of};
use crate::cs_reports::{MENTORIA, course_with_modules, curso};
use crate::hotmart_webhooks::product_ref;
use crate::hotmart_webhooks::{first_access, module_completed};
use chrono::{DateTime, Datelike, TimeZone, Utc, Weekday};

async fn a_buyer_without_access_is_rescued_after_a_day_and_not_before(app: TestApp) {
    let meta = fake_meta("APPROVED").await;
    let shop = Producer::open(&app, "escola", Some(&meta)).await;
    // Bought at noon: the daily 09:00 scan comes 21 hours later, before
    // the 23rd and 25th hours looked at here, whatever the hour the test runs.
    app.advance_to(sao_paulo_after(app.clock.now(), 12, |_| true))
        .await;
    let now = app.clock.now();
    let sale = Sale::new("HP1000000003", "maria@example.com", ms(now) - 60_000);
    shop.post(&sale.event("PURCHASE_APPROVED", "APPROVED", ms(now)))
        .await;
    let welcome = shop.queue(json!({"trigger": "PURCHASE_APPROVED"})).await;
    assert_eq!(welcome[0]["status"], "SENT", "{welcome:?}");
    app.advance(Duration::hours(23)).await;
    let early = run_rule(&shop, "access_rescue", true).await;
    assert_eq!(early["candidates"], json!([]), "23 hours is not yet a day");
    assert!(
        shop.queue(json!({"trigger": "ACCESS_MISSING"}))
            .await
            .is_empty()
    );

    app.advance(Duration::hours(2)).await;
    let dry = run_rule(&shop, "access_rescue", true).await;
    let candidates = dry["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 1, "{dry}");
    assert_eq!(candidates[0]["reasonCode"], "ACCESS_MISSING");
    assert_eq!(
        candidates[0]["reason"],
        "Comprou Curso de Confeitaria há 25 horas e ainda não acessou o curso"
    );
    assert!(
        shop.queue(json!({"trigger": "ACCESS_MISSING"}))
            .await
            .is_empty(),
        "a dry run writes nothing"
    );
    let run = run_rule(&shop, "access_rescue", false).await;
    assert_eq!(run["queued"], 1);
    let again = run_rule(&shop, "access_rescue", false).await;
    assert_eq!(again["queued"], 0, "a second scan makes no second item");
    // The daily 09:00 scan finds the same buyer pending: still one item.
    app.advance(Duration::days(1)).await;
    let items = shop.queue(json!({"trigger": "ACCESS_MISSING"})).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["status"], "PENDING");
    assert_eq!(items[0]["rule"]["key"], "access_rescue");
    assert_eq!(meta.accepted(), 1, "only the welcome was sent");

    // The CS person sends it; Maria follows its link into the course.
    let decided = shop
        .query(
            DECIDE,
            json!({"ids": [items[0]["id"]]}),
            "approveDispatches",
        )
        .await;
    assert_eq!(decided["decided"], 1);
    app.drain().await;
    assert_eq!(meta.accepted(), 2, "the rescue went");
    let rescue = &meta.message_requests()[1];
    assert_eq!(
        rescue.body.as_ref().unwrap()["template"]["name"],
        "resgate_acesso"
    );
    let maria = shop.customer_id("maria@example.com").await.expect("Maria");
    app.advance(Duration::hours(2)).await;
    click(&app, &link_of(&app, &maria).await).await;
    shop.post(&first_access(
        "maria@example.com",
        "Maria Silva",
        curso(),
        ms(app.clock.now()),
    ))
    .await;
    let report = shop
        .query(
            ACCESS_REPORT,
            json!({"from": (now - Duration::hours(1)).to_rfc3339(), "to": app.clock.now().to_rfc3339()}),
            "accessReport",
        )
        .await;
    assert_eq!(report["buyers"], 1);
    assert_eq!(report["accessed"], 1);
    assert_eq!(
        report["accessesAfterRescue"], 1,
        "the first access followed our rescue: {report}"
    );
    let by_link = report["byOrigin"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["origin"] == "whatsapp_link")
        .expect("whatsapp_link");
    assert_eq!(by_link["count"], 1, "{report}");
}
on_both_backends!(
    a_buyer_without_access_is_rescued_after_a_day_and_not_before,
    a_buyer_without_access_is_rescued_after_a_day_and_not_before
);

/// The first Monday 09:00 in São Paulo (the workspace's time zone) after `after`.
fn monday_nine_after(after: DateTime<Utc>) -> DateTime<Utc> {
    sao_paulo_after(after, 9, |day| day == Weekday::Mon)
}

/// The first `hour`:00 in São Paulo (the workspace's time zone) after
/// `after` on a day `on` accepts.
fn sao_paulo_after(after: DateTime<Utc>, hour: u32, on: impl Fn(Weekday) -> bool) -> DateTime<Utc> {
    let zone = chrono_tz::America::Sao_Paulo;
    let mut day = after.with_timezone(&zone).date_naive();
    loop {
        if on(day.weekday()) {
            let at = zone
                .from_local_datetime(&day.and_hms_opt(hour, 0, 0).expect("a whole hour"))
                .single()
                .expect("the hour exists in São Paulo")
                .with_timezone(&Utc);
            if at > after {
                return at;
            }
        }
        day = day.succ_opt().expect("a next day");
    }
}

async fn stalled_students_appear_on_monday_grouped_by_module(app: TestApp) {
    let meta = fake_meta("APPROVED").await;
    let shop = Producer::open(&app, "escola", Some(&meta)).await;
    shop.turn_off("welcome").await;
    shop.turn_off("achievement").await;
    // The story starts three hours before a Monday's 09:00 in São Paulo,
    // whatever the day the test runs: that Monday's scan finds nobody
    // stalled yet, and the next one finds them stalled for a week.
    let first_monday = monday_nine_after(app.clock.now() + Duration::hours(3));
    app.advance_to(first_monday - Duration::hours(3)).await;
    let t0 = app.clock.now();
    let students = [
        (
            "HP4000000001",
            "ana@example.com",
            "Ana Souza",
            "11944440001",
        ),
        ("HP4000000002", "bia@example.com", "Bia Lima", "11944440002"),
        (
            "HP4000000003",
            "carla@example.com",
            "Carla Reis",
            "11944440003",
        ),
        (
            "HP4000000004",
            "duda@example.com",
            "Duda Alves",
            "11944440004",
        ),
        (
            "HP4000000005",
            "eva@example.com",
            "Eva Rocha",
            "11944440005",
        ),
    ];
    for (code, email, name, phone) in students {
        let sale = Sale::new(code, email, ms(t0) - 60_000).buyer(name, Some(("55", phone)));
        shop.post(&sale.event("PURCHASE_APPROVED", "APPROVED", ms(t0)))
            .await;
    }
    // Fabi bought the mentoring, which has no modules: she stalls in no
    // module, beside the others' items of the same scan.
    let mentoria = product_ref(json!(MENTORIA), "Mentoria de Confeitaria");
    let fabi = Sale::new("HP4000000006", "fabi@example.com", ms(t0) - 60_000)
        .buyer("Fabi Costa", Some(("55", "11944440006")))
        .product(json!(MENTORIA), "Mentoria de Confeitaria");
    shop.post(&fabi.event("PURCHASE_APPROVED", "APPROVED", ms(t0)))
        .await;
    course_with_modules(&shop).await;
    // Everyone but Eva enters their course; Ana finishes "Massas" and Bia
    // "Coberturas" that same day, then nobody completes anything.
    let entered = ms(t0) + 3_600_000;
    for (_, email, name, _) in &students[..4] {
        shop.post(&first_access(email, name, curso(), entered))
            .await;
    }
    shop.post(&first_access(
        "fabi@example.com",
        "Fabi Costa",
        mentoria,
        entered,
    ))
    .await;
    let massas =
        |email, name, at| module_completed(email, name, curso(), "mod-massas", "Massas", at);
    shop.post(&massas("ana@example.com", "Ana Souza", entered + 60_000))
        .await;
    shop.post(&module_completed(
        "bia@example.com",
        "Bia Lima",
        curso(),
        "mod-coberturas",
        "Coberturas",
        entered + 60_000,
    ))
    .await;

    // Duda completes "Massas" two days before the Monday: not stalled.
    let monday = monday_nine_after(t0 + Duration::days(7) + Duration::hours(2));
    app.advance_to(monday - Duration::days(2)).await;
    shop.post(&massas(
        "duda@example.com",
        "Duda Alves",
        ms(app.clock.now()),
    ))
    .await;
    app.advance_to(monday - Duration::minutes(1)).await;
    let stalled = json!({"trigger": "PROGRESS_STALLED"});
    assert!(
        shop.queue(stalled.clone()).await.is_empty(),
        "the stagnation scan runs on Mondays at 09:00"
    );

    app.advance_to(monday + Duration::minutes(1)).await;
    let items = shop.queue(stalled.clone()).await;
    let mut found: Vec<(String, String, String)> = items
        .iter()
        .map(|i| {
            (
                i["customer"]["email"].as_str().unwrap().to_owned(),
                i["context"]["moduleName"]
                    .as_str()
                    .unwrap_or("?")
                    .to_owned(),
                i["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    let row =
        |email: &str, module: &str| (email.to_owned(), module.to_owned(), "PENDING".to_owned());
    assert_eq!(
        found,
        [
            row("ana@example.com", "Massas"),
            row("bia@example.com", "Coberturas"),
            row("carla@example.com", "Massas"),
            row("fabi@example.com", "?"),
        ],
        "stopped for a week, each in the module they stopped in"
    );
    let fabi = items
        .iter()
        .find(|i| i["customer"]["email"] == "fabi@example.com")
        .unwrap();
    assert_eq!(fabi["moduleId"], Value::Null, "a course without modules");
    let ana = items
        .iter()
        .find(|i| i["customer"]["email"] == "ana@example.com")
        .unwrap();
    let days = (ms(monday) - (entered + 60_000)) / 86_400_000;
    assert_eq!(
        ana["reason"],
        format!(
            "Sem concluir aulas há {days} dias, parado no módulo Massas (50 % de Curso de Confeitaria)"
        )
    );

    // The CS person works one module at a time: "all stalled in Coberturas".
    let bia = items
        .iter()
        .find(|i| i["customer"]["email"] == "bia@example.com")
        .unwrap();
    let coberturas = json!({"trigger": "PROGRESS_STALLED", "moduleId": bia["moduleId"]});
    let in_module = shop.queue(coberturas.clone()).await;
    assert_eq!(in_module.len(), 1);
    let decided = shop
        .query(DECIDE, json!({"f": coberturas}), "approveDispatches")
        .await;
    assert_eq!(decided, json!({"matched": 1, "decided": 1, "skipped": 0}));
    app.drain().await;
    let sent = meta.message_requests();
    assert_eq!(sent.len(), 1);
    let body = sent[0].body.as_ref().unwrap();
    assert_eq!(body["to"], "5511944440002");
    assert_eq!(body["template"]["name"], "retomada_estudos");
    assert_eq!(
        shop.queue(json!({"trigger": "PROGRESS_STALLED", "status": "PENDING"}))
            .await
            .len(),
        3
    );

    // The next Monday: Ana and Carla are still pending (no second item),
    // Duda has now stopped for a week too, and Bia, a week after her
    // message (the rule's 7-day cooldown), is suggested again.
    app.advance(Duration::days(7)).await;
    let mut per_student: Vec<(String, usize)> = Vec::new();
    for item in shop.queue(stalled).await {
        let email = item["customer"]["email"].as_str().unwrap().to_owned();
        match per_student.iter_mut().find(|(e, _)| *e == email) {
            Some((_, n)) => *n += 1,
            None => per_student.push((email, 1)),
        }
    }
    per_student.sort();
    let count = |email: &str, n: usize| (email.to_owned(), n);
    assert_eq!(
        per_student,
        [
            count("ana@example.com", 1),
            count("bia@example.com", 2),
            count("carla@example.com", 1),
            count("duda@example.com", 1),
            count("fabi@example.com", 1),
        ]
    );
}
on_both_backends!(
    stalled_students_appear_on_monday_grouped_by_module,
    stalled_students_appear_on_monday_grouped_by_module
);

async fn buyers_who_barely_started_are_flagged_before_the_warranty_ends(app: TestApp) {
    let meta = fake_meta("APPROVED").await;
    let shop = Producer::open(&app, "escola", Some(&meta)).await;
    shop.turn_off("welcome").await;
    shop.turn_off("achievement").await;
    let t0 = app.clock.now();
    // Hotmart's 7-day warranty runs from the order.
    let buyers = [
        (
            "HP5000000001",
            "ana@example.com",
            "Ana Souza",
            "11955550001",
        ),
        ("HP5000000002", "bia@example.com", "Bia Lima", "11955550002"),
    ];
    for (code, email, name, phone) in buyers {
        let sale = Sale::new(code, email, ms(t0)).buyer(name, Some(("55", phone)));
        shop.post(&sale.event("PURCHASE_APPROVED", "APPROVED", ms(t0) + 1_000))
            .await;
        shop.post(&first_access(email, name, curso(), ms(t0) + 3_600_000))
            .await;
    }
    course_with_modules(&shop).await;
    // Bia is half-way through; Ana never got past the first lessons' page.
    shop.post(&module_completed(
        "bia@example.com",
        "Bia Lima",
        curso(),
        "mod-massas",
        "Massas",
        ms(t0) + 7_200_000,
    ))
    .await;
    let at_risk = json!({"trigger": "REFUND_RISK"});
    app.advance(Duration::days(4)).await;
    assert!(
        shop.queue(at_risk.clone()).await.is_empty(),
        "three days of warranty left is not yet a risk"
    );
    app.advance(Duration::days(1) + Duration::hours(1)).await;
    let items = shop.queue(at_risk.clone()).await;
    assert_eq!(items.len(), 1, "{items:?}");
    let item = &items[0];
    assert_eq!(item["customer"]["email"], "ana@example.com");
    assert_eq!(item["rule"]["key"], "refund_risk");
    assert_eq!(item["status"], "PENDING");
    assert_eq!(
        item["reason"],
        "A garantia de Curso de Confeitaria termina em 1 dia e o progresso é de 0 %"
    );
    assert_eq!(
        item["preview"].as_str().map(|p| p.contains("Ana")),
        Some(true),
        "{item}"
    );
    // The daily scan the next morning: still one item.
    app.advance(Duration::days(1)).await;
    assert_eq!(shop.queue(at_risk).await.len(), 1);
    assert_eq!(meta.accepted(), 0, "suggested, never sent on its own");
}
on_both_backends!(
    buyers_who_barely_started_are_flagged_before_the_warranty_ends,
    buyers_who_barely_started_are_flagged_before_the_warranty_ends
);
