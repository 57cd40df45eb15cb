//! Order tolerance: any delivery order of one customer's events ends where the
//! dated order ends.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{XorShift, converged_state, differences, story};
use crate::helpers::TestApp;
use crate::hotmart_events::{Shop, assert_timeline_mirrors_domain_events, domain_events, ms};
use crate::hotmart_webhooks::{DAY_MS, Sale, first_access, module_completed, now_ms, product_ref};
use crate::on_both_backends;

const PERMUTATIONS: usize = 40;
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// For 40 seeded random delivery orders (and the reverse one) of one
/// customer's events, the final state equals the one the dated order gives.
async fn any_delivery_order_converges(app: TestApp) {
    let base = now_ms() - 25 * DAY_MS;
    let at = |day: i64| base + day * DAY_MS;
    let events = story(base);
    let email = "bia@exemplo.com";

    let mut orders: Vec<Vec<usize>> = vec![(0..events.len()).collect()];
    orders.push((0..events.len()).rev().collect());
    let mut rng = XorShift(SEED);
    let mut seen: BTreeSet<Vec<usize>> = orders.iter().cloned().collect();
    let mut draws = 0;
    while orders.len() < PERMUTATIONS + 2 && draws < 10 * PERMUTATIONS {
        draws += 1;
        let mut order: Vec<usize> = (0..events.len()).collect();
        rng.shuffle(&mut order);
        if seen.insert(order.clone()) {
            orders.push(order);
        }
    }

    let mut reference = Value::Null;
    let mut diverged: Vec<(String, Vec<String>)> = Vec::new();
    let mut paths: BTreeMap<String, usize> = BTreeMap::new();
    for (n, order) in orders.iter().enumerate() {
        let shop = Shop::open(&app, &format!("ordem-{n}")).await;
        for &i in order {
            shop.post(&events[i].1).await;
            app.drain().await;
        }
        let processed = shop.webhook_events(json!({"status": "PROCESSED"})).await;
        let names: Vec<&str> = order.iter().map(|&i| events[i].0).collect();
        assert_eq!(
            processed["totalCount"],
            events.len(),
            "order {names:?}: {processed}"
        );
        let state = converged_state(&shop, email).await;
        if n == 0 {
            reference = state;
            continue;
        }
        let mut found = Vec::new();
        differences("", &reference, &state, &mut found);
        if !found.is_empty() {
            for path in &found {
                let key = path.split(':').next().unwrap_or_default().to_owned();
                *paths.entry(key).or_default() += 1;
            }
            diverged.push((names.join(" → "), found));
        }
    }

    // The dated order itself ends where DESIGN.md says.
    let r = &reference;
    assert_eq!(r["ltvTotal"], "49.90", "only the subscription is kept: {r}");
    assert_eq!(r["transactions"][0]["status"], "REFUNDED", "{r}");
    assert_eq!(r["transactions"][1]["status"], "APPROVED", "{r}");
    assert_eq!(r["enrollments"][0]["product"], "3526906", "{r}");
    assert_eq!(r["enrollments"][0]["accessStatus"], "BLOCKED", "{r}");
    assert_eq!(r["enrollments"][0]["firstAccessAt"], at(3), "{r}");
    assert_eq!(
        r["enrollments"][0]["firstAccessOrigin"], "hotmart_email",
        "{r}"
    );
    assert_eq!(r["enrollments"][1]["product"], "788921", "{r}");
    assert_eq!(r["enrollments"][1]["accessStatus"], "ACTIVE", "{r}");
    assert_eq!(
        r["enrollments"][1]["endsAt"],
        at(32),
        "access ends with the paid period: {r}"
    );
    assert_eq!(
        r["subscriptions"][0]["status"], "CANCELLED_BY_CUSTOMER",
        "{r}"
    );

    assert!(
        diverged.is_empty(),
        "{} of {} delivery orders end elsewhere than the dated order.\nDiverging fields (orders): {paths:#?}\nFirst cases:\n{}",
        diverged.len(),
        orders.len() - 1,
        diverged
            .iter()
            .take(4)
            .map(|(order, found)| format!("  {order}\n    {}", found.join("\n    ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
    app.drain().await;
    assert_timeline_mirrors_domain_events(&app).await;
}
on_both_backends!(any_delivery_order_converges, any_delivery_order_converges);

/// A module completion delivered before the (earlier) first access: the
/// enrollment and the first_access domain event end as in the dated order.
async fn late_first_access_still_counts(app: TestApp) {
    let shop = Shop::open(&app, "acesso-tardio").await;
    let base = now_ms() - 10 * DAY_MS;
    let at = |day: i64| base + day * DAY_MS;
    let email = "davi@exemplo.com";
    let curso = || product_ref(json!(3526906), "Curso de Confeitaria");
    shop.post_all(&[
        Sale::new("HP9100000001", email, at(1)).event("PURCHASE_APPROVED", "APPROVED", at(1)),
        module_completed(email, "Davi", curso(), "QOZmLb1E4W", "Módulo 1", at(5)),
        first_access(email, "Davi", curso(), at(2)),
    ])
    .await;
    app.drain().await;
    let davi = shop.customer(email).await;
    let enrollment = shop.enrollment(&davi, "3526906").await.expect("enrolled");
    assert_eq!(ms(&enrollment["firstAccessAt"]), Some(at(2)));
    assert_eq!(enrollment["firstAccessOrigin"], "hotmart_email");
    assert_eq!(ms(&enrollment["lastAccessAt"]), Some(at(5)));
    assert_eq!(
        domain_events(&app, "first_access").await,
        1,
        "the first access happened; a module completion delivered earlier must not hide it"
    );
}
on_both_backends!(
    late_first_access_still_counts,
    late_first_access_still_counts
);
