//! Hostile bodies: malformed, unauthenticated and oversized postbacks are
//! refused, and oversized values never leave an event stuck.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::hotmart_events::Shop;
use crate::hotmart_webhooks::{DAY_MS, HOTTOK, Sale, module_completed, now_ms, product_ref};
use crate::on_both_backends;

/// POSTs raw bytes to the receiver of `slug`.
async fn post_raw(app: &TestApp, slug: &str, hottok: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url(&format!("/webhooks/hotmart/{slug}")))
        .header("content-type", "application/json")
        .body(body);
    if let Some(hottok) = hottok {
        request = request.header("X-HOTMART-HOTTOK", hottok);
    }
    let response = request.send().await.expect("the receiver answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn bytes(value: &Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

/// Wrong types, deep nesting, oversized and unauthenticated bodies are
/// refused with a 4xx and leave nothing behind.
async fn hostile_bodies_are_refused_and_store_nothing(app: TestApp) {
    let shop = Shop::open(&app, "hostil").await;
    let at = now_ms() - DAY_MS;
    let valid = Sale::new("HP6600000001", "alvo@exemplo.com", at).event(
        "PURCHASE_APPROVED",
        "APPROVED",
        at,
    );
    let with = |key: &str, value: Value| {
        let mut body = valid.clone();
        body[key] = value;
        bytes(&body)
    };
    let without = |key: &str| {
        let mut body = valid.clone();
        body.as_object_mut().expect("object").remove(key);
        bytes(&body)
    };
    let deep = format!(
        r#"{{"id": "deep-1", "event": "PURCHASE_APPROVED", "data": {{"x": {}1{}}}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    let deep_objects = format!(
        r#"{{"id": "deep-2", "event": "PURCHASE_APPROVED", "data": {}{}}}"#,
        r#"{"a": "#.repeat(100) + "1",
        "}".repeat(100)
    );
    let mut too_large = valid.clone();
    too_large["data"]["buyer"]["name"] = json!("x".repeat(300 * 1024));
    let mut not_utf8 = bytes(&valid);
    let name_at = not_utf8
        .windows(11)
        .position(|w| w == b"Maria Silva")
        .expect("the buyer's name");
    not_utf8[name_at] = 0xFF;
    let suffixed = format!("{HOTTOK}x");
    let malformed: Vec<(&str, Vec<u8>)> = vec![
        ("`id` as an object", with("id", json!({"x": 1}))),
        ("`id` as an array", with("id", json!(["a"]))),
        ("`id` as a fraction", with("id", json!(1.5))),
        ("`id` as a boolean", with("id", json!(true))),
        ("`id` blank", with("id", json!("  "))),
        ("`id` of 129 characters", with("id", json!("a".repeat(129)))),
        (
            "`id` with a control character",
            with("id", json!("a\u{0}b")),
        ),
        ("no `id`", without("id")),
        ("`event` as a number", with("event", json!(7))),
        ("`event` as an object", with("event", json!({"name": "X"}))),
        (
            "`event` of 65 characters",
            with("event", json!("E".repeat(65))),
        ),
        ("no `event`", without("event")),
        ("`data` as a string", with("data", json!("{\"buyer\": {}}"))),
        ("`data` as an array", with("data", json!([1, 2]))),
        ("`data` as a number", with("data", json!(42))),
        ("100 nested arrays", deep.into_bytes()),
        ("100 nested objects", deep_objects.into_bytes()),
        ("an array body", b"[1, 2, 3]".to_vec()),
        ("a string body", b"\"PURCHASE_APPROVED\"".to_vec()),
        ("an empty body", Vec::new()),
        ("truncated JSON", bytes(&valid)[..40].to_vec()),
        ("invalid UTF-8", not_utf8),
    ];
    let unauthenticated: Vec<(&str, Option<&str>, Vec<u8>)> = vec![
        ("a wrong hottok", Some("not-the-hottok"), bytes(&valid)),
        ("an empty hottok", Some(""), bytes(&valid)),
        ("the hottok with a suffix", Some(&suffixed), bytes(&valid)),
        ("no hottok", None, bytes(&valid)),
        ("a wrong body hottok", None, with("hottok", json!("nope"))),
        (
            "a wrong header, a right body hottok",
            Some("nope"),
            with("hottok", json!(HOTTOK)),
        ),
    ];
    let mut cases: Vec<(&str, Option<&str>, Vec<u8>, u16)> = Vec::new();
    cases.extend(
        malformed
            .into_iter()
            .map(|(what, body)| (what, Some(HOTTOK), body, 400)),
    );
    cases.extend(
        unauthenticated
            .into_iter()
            .map(|(what, hottok, body)| (what, hottok, body, 401)),
    );
    cases.push(("a body over 256 KiB", Some(HOTTOK), bytes(&too_large), 413));
    let mut wrong = Vec::new();
    for (what, hottok, body, expected) in cases {
        let (status, answer) = post_raw(&app, &shop.slug, hottok, body).await;
        if status != expected {
            wrong.push(format!("{what}: {status} (expected {expected}) {answer}"));
        } else {
            assert!(
                answer["errors"][0]["extensions"]["code"].is_string(),
                "{what}: {answer}"
            );
        }
    }
    let (status, _) = post_raw(&app, "nao-existe", Some(HOTTOK), bytes(&valid)).await;
    if status != 404 {
        wrong.push(format!("an unknown workspace: {status} (expected 404)"));
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(app.count_rows("webhook_events").await, 0, "nothing stored");

    // The body's hottok alone is accepted (Hotmart sends both).
    let (status, answer) = post_raw(&app, &shop.slug, None, with("hottok", json!(HOTTOK))).await;
    assert_eq!(
        (status, &answer["status"]),
        (200, &json!("accepted")),
        "{answer}"
    );
    app.drain().await;
    assert_eq!(app.count_rows("webhook_events").await, 1);
    assert_eq!(app.count_rows("transactions").await, 1);
    assert_eq!(app.count_rows("customers").await, 1);
}
on_both_backends!(
    hostile_bodies_are_refused_and_store_nothing,
    hostile_bodies_are_refused_and_store_nothing
);

/// Accepted bodies carrying huge or overlong values: whatever the applier
/// makes of them, each event ends PROCESSED, or DEAD with its reason — never
/// retried for an hour as if the database might change its mind — and the
/// applier keeps working.
async fn oversized_values_never_leave_an_event_stuck(app: TestApp) {
    let shop = Shop::open(&app, "gigante").await;
    let at = now_ms() - DAY_MS;
    let huge = |c: char| c.to_string().repeat(200 * 1024);
    let long = |c: char| c.to_string().repeat(1024);
    let sale = |n: u32| {
        Sale::new(
            &format!("HP55{n:08}"),
            &format!("gigante{n}@exemplo.com"),
            at,
        )
        .subscription(json!(format!("SUB-G-{n}")), json!(114680), "Plano Mensal")
    };
    let mut cases: Vec<(&str, Value)> = Vec::new();
    let mut purchase = |what: &'static str, n: u32, edit: &dyn Fn(&mut Value)| {
        let mut body = sale(n).event("PURCHASE_APPROVED", "APPROVED", at);
        edit(&mut body["data"]);
        cases.push((what, body));
    };
    purchase("a 200 KiB buyer name", 1, &|d| {
        d["buyer"]["name"] = json!(huge('x'))
    });
    purchase("a 200 KiB buyer name of accented letters", 2, &|d| {
        d["buyer"]["name"] = json!("é".repeat(100 * 1024))
    });
    purchase("a 200 KiB product name", 3, &|d| {
        d["product"]["name"] = json!(huge('p'))
    });
    purchase("a 200 KiB tracking source", 4, &|d| {
        d["purchase"]["origin"]["src"] = json!(huge('s'))
    });
    purchase("a 200 KiB plan name", 5, &|d| {
        d["subscription"]["plan"]["name"] = json!(huge('n'))
    });
    purchase("a 1 KiB buyer document", 6, &|d| {
        d["buyer"]["document"] = json!(long('9'))
    });
    purchase("a 1 KiB document type", 7, &|d| {
        d["buyer"]["document_type"] = json!(long('c'))
    });
    purchase("a 1 KiB offer code", 8, &|d| {
        d["purchase"]["offer"]["code"] = json!(long('o'))
    });
    purchase("a 1 KiB product id", 9, &|d| {
        d["product"]["id"] = json!(long('7'))
    });
    purchase("a 1 KiB product ucode", 10, &|d| {
        d["product"]["ucode"] = json!(long('u'))
    });
    purchase("a 1 KiB payment type", 11, &|d| {
        d["purchase"]["payment"]["type"] = json!(long('t'))
    });
    purchase("a 1 KiB purchase status", 12, &|d| {
        d["purchase"]["status"] = json!(long('S'))
    });
    purchase("a 1 KiB plan id", 13, &|d| {
        d["subscription"]["plan"]["id"] = json!(long('i'))
    });
    purchase("a 1 KiB subscription status", 14, &|d| {
        d["subscription"]["status"] = json!(long('A'))
    });
    purchase("a 1 KiB currency", 15, &|d| {
        d["purchase"]["price"]["currency_value"] = json!(long('R'))
    });
    purchase(
        "a 1 KiB commission source",
        16,
        &|d| d["commissions"] = json!([{"value": 1, "source": long('C'), "currency_value": "BRL"}]),
    );
    purchase("a price of 10^15", 17, &|d| {
        d["purchase"]["price"]["value"] = json!(1e15)
    });
    purchase("a 1 KiB e-mail", 18, &|d| {
        d["buyer"]["email"] = json!(format!("{}@exemplo.com", long('e')))
    });
    purchase("a 1 KiB transaction code", 19, &|d| {
        d["purchase"]["transaction"] = json!(long('H'))
    });
    cases.push((
        "a 1 KiB module id",
        module_completed(
            "gigante20@exemplo.com",
            "Gigante",
            product_ref(json!(3526906), "Curso"),
            &long('m'),
            "Módulo",
            at,
        ),
    ));
    cases.push((
        "a 200 KiB module name",
        module_completed(
            "gigante21@exemplo.com",
            "Gigante",
            product_ref(json!(3526906), "Curso"),
            "QOZmLb1E4W",
            &huge('m'),
            at,
        ),
    ));
    let mut ids = Vec::new();
    for (what, body) in &cases {
        let (status, answer) = app.post_hotmart(&shop.slug, Some(HOTTOK), body).await;
        assert_eq!(status, 200, "{what}: {answer}");
        ids.push((*what, body["id"].as_str().expect("id").to_owned()));
        app.drain().await;
    }
    let events = shop.webhook_events(json!({})).await;
    let by_external: HashMap<&str, &Value> = events["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|e| (e["externalId"].as_str().expect("id"), e))
        .collect();
    let mut stuck = Vec::new();
    for (what, id) in &ids {
        let event = by_external[id.as_str()];
        let ok = match event["status"].as_str() {
            Some("PROCESSED") => true,
            Some("DEAD") => event["lastError"].is_string(),
            _ => false,
        };
        if !ok {
            stuck.push(format!(
                "{what}: {} after {} attempt(s), next at {}, error {}",
                event["status"], event["attempts"], event["nextAttemptAt"], event["lastError"]
            ));
        }
    }
    // The applier still works.
    shop.post(&Sale::new("HP5599999999", "depois@exemplo.com", at).event(
        "PURCHASE_APPROVED",
        "APPROVED",
        at,
    ))
    .await;
    app.drain().await;
    assert!(shop.customer_id("depois@exemplo.com").await.is_some());
    assert!(
        stuck.is_empty(),
        "{} of {} events are left to retry a permanent failure:\n{}",
        stuck.len(),
        cases.len(),
        stuck.join("\n")
    );
    let name = shop.customer("gigante1@exemplo.com").await["name"].clone();
    assert!(
        name.as_str().is_some_and(|n| n.chars().count() <= 200),
        "names are bounded"
    );
}
on_both_backends!(
    oversized_values_never_leave_an_event_stuck,
    oversized_values_never_leave_an_event_stuck
);
