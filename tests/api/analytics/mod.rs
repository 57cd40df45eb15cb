//! The business figures (`docs/metrics.md`) as a producer reads them, from
//! Hotmart postbacks applied by the worker: each expected figure was
//! worked out by hand from the story the fixture tells.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::hotmart_events::Shop;
use crate::hotmart_webhooks::{
    PlanOption, Sale, Subscriber, product_ref, subscription_cancellation, switch_plan,
};
use crate::on_both_backends;

mod cohorts;
mod dashboard;
mod engagement;
mod ltv;
mod snapshots;

/// Epoch milliseconds of an RFC 3339 instant.
pub fn ms(at: &str) -> i64 {
    DateTime::parse_from_rfc3339(at)
        .unwrap()
        .with_timezone(&Utc)
        .timestamp_millis()
}

/// The dashboard's figures the tests read, for totals and points alike.
pub const FIGURES: &str = "start end grossRevenue refunds chargebacks netRevenue sales
    refundedSales chargedBackSales averageTicket refundRate mrr mrrAtStart arr
    activeSubscribers activeSubscribersAtStart newSubscribers churnedSubscribers
    reactivatedSubscribers churnRate revenueChurnRate
    mrrMovements { new { amount subscriptions } expansion { amount subscriptions }
        contraction { amount subscriptions } churned { amount subscriptions }
        reactivated { amount subscriptions } net }";

/// `dashboard(...)` as the workspace's agent sees it.
pub async fn dashboard(shop: &Shop<'_>, arguments: Value) -> Value {
    let query = format!(
        "query($productId: ID, $currency: String, $from: DateTime!, $to: DateTime!, $granularity: Granularity) {{
            dashboard(productId: $productId, currency: $currency, from: $from, to: $to, granularity: $granularity) {{
                currency timeZone
                totals {{ {FIGURES} salesMix {{ paymentMethod installments sales grossRevenue share }} }}
                series {{ {FIGURES} }}
                mrrMovements {{ net }}
            }}
        }}"
    );
    shop.query(&query, arguments, "dashboard").await
}

fn curso() -> Sale {
    Sale::new("", "", 0).product(json!(3526906), "Curso de Confeitaria")
}

fn clube(code: &str, email: &str, order: &str, subscriber: &str) -> Sale {
    Sale::new(code, email, ms(order))
        .product(json!(788921), "Clube do Bolo")
        .price(json!(49.9))
        .payment("CREDIT_CARD", 1)
        .offer("m3nsal")
        .subscription(json!(subscriber), json!(114680), "Plano Mensal")
}

/// One-off sales of the course and the Clube do Bolo's subscriptions, from
/// January to March 2026, in São Paulo (UTC−3). January's postbacks are
/// the first part; the rest arrive after January closed.
pub struct Story {
    pub january: Vec<Value>,
    pub later: Vec<Value>,
}

pub fn story() -> Story {
    let sale = |code: &str, email: &str, approved: &str, price: f64, payment: (&str, u32)| {
        let mut sale = curso();
        sale.transaction = code.to_owned();
        sale.email = email.to_owned();
        sale.order_ms = ms(approved) - 60_000;
        sale.approved_ms = Some(ms(approved));
        sale.price(json!(price)).payment(payment.0, payment.1)
    };
    // Ana buys on 10 January and is refunded on 5 February, after the month closed.
    let ana = sale(
        "HP1000000001",
        "ana@exemplo.com",
        "2026-01-10T15:00:00Z",
        497.0,
        ("CREDIT_CARD", 12),
    );
    // Bia pays by Pix at 22:30 on 31 January in São Paulo: 1 February in UTC.
    let bia = sale(
        "HP1000000002",
        "bia@exemplo.com",
        "2026-02-01T01:30:00Z",
        297.0,
        ("PIX", 1),
    );
    // Caio buys on 10 February and charges it back on 3 March.
    let caio = sale(
        "HP1000000003",
        "caio@exemplo.com",
        "2026-02-10T12:00:00Z",
        497.0,
        ("CREDIT_CARD", 12),
    );
    // Dan pays in dollars.
    let mut dan = sale(
        "HP1000000004",
        "dan@exemplo.com",
        "2026-02-15T12:00:00Z",
        100.0,
        ("CREDIT_CARD", 1),
    );
    dan.currency = "USD".to_owned();

    // Eva subscribes on 5 January, renews on 5 February, switches to the
    // premium plan on 20 February and pays its price from 5 March.
    let eva = "eva@exemplo.com";
    let eva1 = clube("HP2000000001", eva, "2026-01-05T12:00:00Z", "SUB-EVA");
    let eva2 = clube("HP2000000002", eva, "2026-02-05T12:00:00Z", "SUB-EVA").recurrence(2);
    let eva3 = clube("HP2000000003", eva, "2026-03-05T12:00:00Z", "SUB-EVA")
        .recurrence(3)
        .price(json!(99.9));
    let eva_switch = switch_plan(
        "SUB-EVA",
        eva,
        product_ref(json!(788921), "Clube do Bolo"),
        &[
            PlanOption {
                id: json!(114680),
                name: "Plano Mensal".into(),
                offer_key: "m3nsal".into(),
                current: false,
            },
            PlanOption {
                id: json!(114690),
                name: "Plano Premium".into(),
                offer_key: "pr3mium".into(),
                current: true,
            },
        ],
        "ACTIVE",
        ms("2026-03-05T12:00:00Z"),
        ms("2026-02-20T12:00:00Z"),
    );
    // Fabio subscribes on 15 January, renews on 15 February, cancels on 10 March.
    let fabio = "fabio@exemplo.com";
    let fabio1 = clube("HP2000000011", fabio, "2026-01-15T12:00:00Z", "SUB-FABIO");
    let fabio2 = clube("HP2000000012", fabio, "2026-02-15T12:00:00Z", "SUB-FABIO").recurrence(2);
    let fabio_cancels = subscription_cancellation(
        &Subscriber::new("SUB-FABIO", "Fabio Souza", Some(fabio)),
        product_ref(json!(788921), "Clube do Bolo"),
        (json!(114680), "Plano Mensal"),
        json!(49.9),
        ms("2026-03-10T12:00:00Z"),
        ms("2026-03-15T12:00:00Z"),
        ms("2026-03-10T12:00:00Z"),
    );
    // Gil subscribes on 20 January; his February charge is late from 20
    // February, past the 7 days' grace, and paid on 2 March.
    let gil = "gil@exemplo.com";
    let gil1 = clube("HP2000000021", gil, "2026-01-20T12:00:00Z", "SUB-GIL");
    let gil2 = clube("HP2000000022", gil, "2026-02-20T12:00:00Z", "SUB-GIL")
        .recurrence(2)
        .approved_at(None);
    let gil2_paid = clube("HP2000000022", gil, "2026-02-20T12:00:00Z", "SUB-GIL")
        .recurrence(2)
        .approved_at(Some(ms("2026-03-02T12:00:00Z")));

    let approved =
        |sale: &Sale| sale.event("PURCHASE_APPROVED", "APPROVED", sale.approved_ms.unwrap());
    Story {
        january: vec![
            approved(&eva1),
            approved(&ana),
            approved(&fabio1),
            approved(&gil1),
            approved(&bia),
        ],
        later: vec![
            approved(&eva2),
            ana.event("PURCHASE_REFUNDED", "REFUNDED", ms("2026-02-05T18:00:00Z")),
            approved(&caio),
            approved(&dan),
            approved(&fabio2),
            eva_switch,
            gil2.event("PURCHASE_DELAYED", "OVERDUE", ms("2026-02-20T12:00:00Z")),
            approved(&gil2_paid),
            caio.event(
                "PURCHASE_CHARGEBACK",
                "CHARGEBACK",
                ms("2026-03-03T12:00:00Z"),
            ),
            approved(&eva3),
            fabio_cancels,
        ],
    }
}

/// A workspace that has received the whole story, its figures caught up.
pub async fn told(app: &TestApp) -> Shop<'_> {
    let shop = Shop::open(app, "painel").await;
    let story = story();
    shop.post_all(&story.january).await;
    shop.post_all(&story.later).await;
    shop
}

on_both_backends!(dashboard_tells_the_quarter, dashboard::tells_the_quarter);
on_both_backends!(dashboard_follows_late_news, dashboard::follows_late_news);
on_both_backends!(ltv_report_groups_customers, ltv::groups_lifetime_value);
on_both_backends!(cohorts_follow_each_month, cohorts::follow_each_month);
on_both_backends!(
    engagement_tells_who_uses_what_they_bought,
    engagement::tells_who_uses_what_they_bought
);
