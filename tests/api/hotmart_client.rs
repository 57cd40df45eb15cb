//! The Hotmart REST client against the fake Hotmart: token caching and
//! renewal, retries, rate limiting, pagination, and the endpoints' wire
//! format. No database involved.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::json;
use worker::hotmart::client::{
    HotmartClient, HotmartClientOptions, HotmartCredentials, HotmartError, PageLimits, PageRequest,
    SalesHistoryFilter, SubscriptionFilter,
};

use crate::fakes::hotmart::{
    self as fake, CLUB_USERS_PATH, FakeHotmart, FakeHotmartConfig, SALES_HISTORY_PATH,
    SUBSCRIPTIONS_PATH,
};

/// Production behaviour with short backoffs, so retries do not slow tests.
fn fast_options() -> HotmartClientOptions {
    HotmartClientOptions {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_secs(2),
        ..HotmartClientOptions::default()
    }
}

fn client_for(hotmart: &FakeHotmart) -> HotmartClient {
    HotmartClient::with_options(hotmart.credentials(), fast_options()).expect("client")
}

fn approved(n: usize) -> serde_json::Value {
    fake::sale(
        &format!("HP{:014}", n),
        &format!("cliente{n}@example.com"),
        "APPROVED",
    )
}

fn all_statuses() -> SalesHistoryFilter {
    SalesHistoryFilter {
        transaction_status: worker::hotmart::client::SALE_STATUSES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ..SalesHistoryFilter::default()
    }
}

#[tokio::test]
async fn the_token_is_fetched_once_and_cached_across_calls() {
    let hotmart = FakeHotmart::spawn().await;
    hotmart.seed_sales([approved(1)]);
    hotmart.seed_subscriptions([fake::subscription("SUB1", "a@example.com", "ACTIVE")]);
    let client = client_for(&hotmart);

    for _ in 0..3 {
        let page = client
            .sales_history_page(&SalesHistoryFilter::default(), &PageRequest::default())
            .await
            .expect("sales");
        assert_eq!(page.items.len(), 1);
    }
    // A clone shares the cache.
    client
        .clone()
        .subscriptions_page(&SubscriptionFilter::default(), &PageRequest::default())
        .await
        .expect("subscriptions");

    assert_eq!(hotmart.token_requests(), 1);
    assert_eq!(hotmart.calls(SALES_HISTORY_PATH), 3);
    assert_eq!(hotmart.calls(SUBSCRIPTIONS_PATH), 1);
}

#[tokio::test]
async fn concurrent_callers_share_one_token_request() {
    let hotmart = FakeHotmart::spawn().await;
    hotmart.seed_sales([approved(1)]);
    let client = client_for(&hotmart);

    let calls = (0..8).map(|_| {
        let client = client.clone();
        async move {
            client
                .sales_history_page(&SalesHistoryFilter::default(), &PageRequest::default())
                .await
        }
    });
    for result in futures::future::join_all(calls).await {
        result.expect("sales");
    }

    assert_eq!(hotmart.token_requests(), 1);
    assert_eq!(hotmart.calls(SALES_HISTORY_PATH), 8);
}

#[tokio::test]
async fn a_token_past_expires_in_is_renewed_before_use() {
    let hotmart = FakeHotmart::spawn_with(FakeHotmartConfig {
        expires_in: 2,
        ..FakeHotmartConfig::default()
    })
    .await;
    let client = client_for(&hotmart);

    client.club_modules().await.expect("modules");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client.club_modules().await.expect("modules");

    // Renewed ahead of expiry (the margin is at most half the lifetime), so
    // Hotmart never had to reject it.
    assert_eq!(hotmart.token_requests(), 2);
    assert_eq!(hotmart.calls(fake::CLUB_MODULES_PATH), 2);
}

#[tokio::test]
async fn an_expired_token_is_replaced_once_and_the_call_succeeds() {
    let hotmart = FakeHotmart::spawn().await;
    hotmart.seed_sales([approved(1)]);
    let client = client_for(&hotmart);
    client.authenticate().await.expect("token");

    hotmart.inject_token_expired();
    let page = client
        .sales_history_page(&SalesHistoryFilter::default(), &PageRequest::default())
        .await
        .expect("sales after re-authentication");

    assert_eq!(page.items.len(), 1);
    assert_eq!(hotmart.token_requests(), 2);
    assert_eq!(hotmart.calls(SALES_HISTORY_PATH), 2);
}

#[tokio::test]
async fn re_authentication_happens_only_once_per_call() {
    let hotmart = FakeHotmart::spawn().await;
    let client = client_for(&hotmart);
    hotmart.inject_token_expired();
    hotmart.inject_token_expired();

    let error = client
        .sales_history_page(&SalesHistoryFilter::default(), &PageRequest::default())
        .await
        .unwrap_err();

    assert_eq!(error, HotmartError::Unauthorized);
    assert_eq!(hotmart.token_requests(), 2);
    assert_eq!(hotmart.calls(SALES_HISTORY_PATH), 2);
}

#[tokio::test]
async fn a_429_is_retried_after_rate_limit_reset() {
    let hotmart = FakeHotmart::spawn().await;
    hotmart.seed_sales([approved(1)]);
    let client = client_for(&hotmart);
    client.authenticate().await.expect("token");

    hotmart.inject_rate_limit(1);
    let started = Instant::now();
    let page = client
        .sales_history_page(&SalesHistoryFilter::default(), &PageRequest::default())
        .await
        .expect("sales after 429");

    assert_eq!(page.items.len(), 1);
    assert_eq!(hotmart.calls(SALES_HISTORY_PATH), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "RateLimit-Reset: 1 was not honoured ({:?})",
        started.elapsed()
    );
}

#[tokio::test]
async fn persistent_429s_end_in_rate_limited() {
    let hotmart = FakeHotmart::spawn().await;
    let client = HotmartClient::with_options(
        hotmart.credentials(),
        HotmartClientOptions {
            rate_limit_attempts: 3,
            ..fast_options()
        },
    )
    .unwrap();
    for _ in 0..3 {
        hotmart.inject_rate_limit(0);
    }

    let error = client.club_modules().await.unwrap_err();

    assert_eq!(error, HotmartError::RateLimited);
    assert!(error.is_transient());
    assert_eq!(hotmart.calls(fake::CLUB_MODULES_PATH), 3);
}

#[tokio::test]
async fn a_502_is_retried() {
    let hotmart = FakeHotmart::spawn().await;
    hotmart.seed_modules([fake::module("m1", "Boas-vindas", 1)]);
    let client = client_for(&hotmart);

    hotmart.inject_server_error(502);
    let modules = client.club_modules().await.expect("modules after 502");

    assert_eq!(modules.len(), 1);
    assert_eq!(hotmart.calls(fake::CLUB_MODULES_PATH), 2);
}

#[tokio::test]
async fn the_client_side_limiter_spaces_calls() {
    let hotmart = FakeHotmart::spawn().await;
    // 20 calls a second, no burst beyond one: 6 calls need ≥ 250 ms.
    let client = HotmartClient::with_options(
        hotmart.credentials(),
        HotmartClientOptions {
            calls_per_minute: 1200,
            burst: 1,
            ..fast_options()
        },
    )
    .unwrap();

    let started = Instant::now();
    for _ in 0..6 {
        client.club_modules().await.expect("modules");
    }

    assert!(started.elapsed() >= Duration::from_millis(240));
}

#[tokio::test]
async fn pagination_collects_every_item_in_order() {
    let hotmart = FakeHotmart::spawn().await;
    hotmart.seed_sales((1..=7).map(approved));
    let client = client_for(&hotmart);

    let collected = client
        .sales_history(
            &SalesHistoryFilter::default(),
            PageLimits {
                max_results: 3,
                max_pages: 10,
            },
        )
        .await
        .expect("sales");

    assert!(collected.complete);
    assert_eq!(collected.pages, 3);
    let transactions: Vec<String> = collected
        .items
        .iter()
        .map(|sale| sale.purchase.as_ref().unwrap().transaction.clone().unwrap())
        .collect();
    let expected: Vec<String> = (1..=7).map(|n| format!("HP{:014}", n)).collect();
    assert_eq!(transactions, expected);

    let requests = hotmart.requests_to(SALES_HISTORY_PATH);
    assert_eq!(requests.len(), 3);
    assert!(requests[0].query_values("page_token").is_empty());
    assert!(
        requests
            .iter()
            .all(|r| r.query_values("max_results") == ["3"])
    );
    assert_eq!(requests[1].query_values("page_token").len(), 1);
}

#[tokio::test]
async fn the_page_cap_stops_pagination_and_says_so() {
    let hotmart = FakeHotmart::spawn().await;
    hotmart.seed_subscriptions(
        (1..=5).map(|n| fake::subscription(&format!("SUB{n}"), "a@example.com", "ACTIVE")),
    );
    let client = client_for(&hotmart);

    let collected = client
        .subscriptions(
            &SubscriptionFilter::default(),
            PageLimits {
                max_results: 2,
                max_pages: 2,
            },
        )
        .await
        .expect("subscriptions");

    assert!(!collected.complete);
    assert_eq!(collected.pages, 2);
    assert_eq!(collected.items.len(), 4);
}

#[tokio::test]
async fn sales_filters_use_repeated_keys_and_epoch_milliseconds() {
    let hotmart = FakeHotmart::spawn().await;
    let mut refunded = approved(2);
    refunded["purchase"]["status"] = json!("REFUNDED");
    hotmart.seed_sales([
        approved(1),
        refunded,
        fake::sale("HP3", "x@example.com", "EXPIRED"),
    ]);
    let client = client_for(&hotmart);
    let start = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    let end = Utc.with_ymd_and_hms(2024, 5, 31, 0, 0, 0).unwrap();

    let filter = SalesHistoryFilter {
        transaction_status: vec!["APPROVED".into(), "REFUNDED".into()],
        start_date: Some(start),
        end_date: Some(end),
        ..SalesHistoryFilter::default()
    };
    let page = client
        .sales_history_page(&filter, &PageRequest::default())
        .await
        .expect("sales");

    assert_eq!(page.items.len(), 2);
    let request = &hotmart.requests_to(SALES_HISTORY_PATH)[0];
    assert_eq!(
        request.query_values("transaction_status"),
        ["APPROVED", "REFUNDED"]
    );
    assert_eq!(
        request.query_values("start_date"),
        [start.timestamp_millis().to_string()]
    );

    // Without statuses, Hotmart's default leaves refunds out.
    let defaults = client
        .sales_history(&SalesHistoryFilter::default(), PageLimits::default())
        .await
        .expect("sales");
    assert_eq!(defaults.items.len(), 1);
    let everything = client
        .sales_history(&all_statuses(), PageLimits::default())
        .await
        .expect("sales");
    assert_eq!(everything.items.len(), 3);
}

#[tokio::test]
async fn sales_decode_in_rest_spelling() {
    let hotmart = FakeHotmart::spawn().await;
    hotmart.seed_sales([fake::sale(
        "HP17153500001234",
        "maria@example.com",
        "APPROVED",
    )]);
    let client = client_for(&hotmart);

    let page = client
        .sales_history_page(
            &SalesHistoryFilter {
                buyer_email: Some("MARIA@example.com".into()),
                ..SalesHistoryFilter::default()
            },
            &PageRequest::default(),
        )
        .await
        .expect("sales");

    let sale = &page.items[0];
    assert_eq!(
        sale.product.as_ref().unwrap().id.as_deref(),
        Some("3526906")
    );
    let purchase = sale.purchase.as_ref().unwrap();
    assert_eq!(purchase.recurrency_number, Some(1));
    let price = purchase.price.as_ref().unwrap();
    assert_eq!(price.currency_code.as_deref(), Some("BRL"));
    assert_eq!(price.value, Some(rust_decimal::Decimal::new(497, 0)));
    assert_eq!(
        purchase.order_date.unwrap().timestamp_millis(),
        1_715_350_000_000
    );
    assert_eq!(
        purchase.tracking.as_ref().unwrap().source_sck.as_deref(),
        Some("whatsapp_grupo_vip")
    );
    assert_eq!(
        purchase.offer.as_ref().unwrap().code.as_deref(),
        Some("n82b9jqz")
    );
}

#[tokio::test]
async fn lessons_answered_with_204_are_an_empty_list() {
    let hotmart = FakeHotmart::spawn().await;
    hotmart.seed_lessons(
        "u-2",
        [
            fake::lesson("p1", "Massa básica", "Módulo 1", true),
            fake::lesson("p2", "Recheios", "Módulo 1", false),
        ],
    );
    let client = client_for(&hotmart);

    let none = client.club_user_lessons("u-1").await.expect("lessons");
    assert!(none.is_empty());

    let lessons = client.club_user_lessons("u-2").await.expect("lessons");
    assert_eq!(lessons.len(), 2);
    assert_eq!(lessons[0].is_completed, Some(true));
    assert!(lessons[0].completed_date.is_some());
    assert_eq!(lessons[1].page_name.as_deref(), Some("Recheios"));
    let request = &hotmart.requests_to(&fake::lessons_path("u-1"))[0];
    assert_eq!(request.query_values("subdomain"), [fake::CLUB_SUBDOMAIN]);
}

#[tokio::test]
async fn club_users_modules_and_pages() {
    let hotmart = FakeHotmart::spawn().await;
    hotmart.seed_club_users([
        fake::club_user("u-1", "maria@example.com"),
        fake::club_user("u-2", "joao@example.com"),
    ]);
    hotmart.seed_modules([fake::module("m1", "Boas-vindas", 1)]);
    hotmart.seed_pages("m1", [fake::page("p1", "Apresentação", 1)]);
    let client = client_for(&hotmart);

    let joao = client
        .club_user_by_email("joao@example.com")
        .await
        .expect("user")
        .expect("joao is a member");
    assert_eq!(joao.user_id.as_deref(), Some("u-2"));
    assert_eq!(joao.progress.unwrap().completed_percentage, Some(50.0));
    assert_eq!(
        client
            .club_users(PageLimits::default())
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    let modules = client.club_modules().await.expect("modules");
    assert_eq!(modules[0].module_id.as_deref(), Some("m1"));
    let pages = client.club_module_pages("m1").await.expect("pages");
    assert_eq!(pages[0].name.as_deref(), Some("Apresentação"));
    assert_eq!(
        client.club_module_pages("nope").await.unwrap_err(),
        HotmartError::NotFound
    );
    assert_eq!(hotmart.calls(CLUB_USERS_PATH), 2);

    let no_club = HotmartClient::with_options(
        HotmartCredentials {
            club_subdomain: None,
            ..hotmart.credentials()
        },
        fast_options(),
    )
    .unwrap();
    assert_eq!(
        no_club.club_modules().await.unwrap_err(),
        HotmartError::MissingClubSubdomain
    );
    let other_club = client.for_club_subdomain("outro");
    assert!(matches!(
        other_club.club_modules().await.unwrap_err(),
        HotmartError::InvalidParameter(_)
    ));
}

#[tokio::test]
async fn cancel_and_reactivate_change_the_subscription() {
    let hotmart = FakeHotmart::spawn().await;
    hotmart.seed_subscriptions([fake::subscription(
        "ABC123XY",
        "maria@example.com",
        "ACTIVE",
    )]);
    let client = client_for(&hotmart);

    client
        .cancel_subscription("ABC123XY", true)
        .await
        .expect("cancel");
    assert_eq!(
        hotmart.subscription_status("ABC123XY").as_deref(),
        Some("CANCELLED_BY_SELLER")
    );
    let cancel = &hotmart.requests_to(&fake::cancel_path("ABC123XY"))[0];
    assert_eq!(cancel.method, "POST");
    assert_eq!(cancel.body, Some(json!({"send_mail": true})));

    client
        .reactivate_subscription("ABC123XY", false)
        .await
        .expect("reactivate");
    assert_eq!(
        hotmart.subscription_status("ABC123XY").as_deref(),
        Some("ACTIVE")
    );
    let reactivate = &hotmart.requests_to(&fake::reactivate_path("ABC123XY"))[0];
    assert_eq!(reactivate.body, Some(json!({"charge": false})));

    assert_eq!(
        client
            .cancel_subscription("MISSING", false)
            .await
            .unwrap_err(),
        HotmartError::NotFound
    );
}

#[tokio::test]
async fn a_wrong_secret_is_unauthorized_and_never_printed() {
    let hotmart = FakeHotmart::spawn().await;
    let secret = "wrong-secret-do-not-print-7f3a9";
    let client = HotmartClient::with_options(
        HotmartCredentials {
            client_secret: secret.into(),
            ..hotmart.credentials()
        },
        fast_options(),
    )
    .unwrap();

    let error = client
        .sales_history_page(&SalesHistoryFilter::default(), &PageRequest::default())
        .await
        .unwrap_err();

    assert_eq!(error, HotmartError::Unauthorized);
    assert!(!error.is_transient());
    assert!(!error.to_string().contains(secret));
    assert!(!format!("{error:?}").contains(secret));
    assert!(!format!("{client:?}").contains(secret));
    assert_eq!(hotmart.token_requests(), 1);
    assert_eq!(hotmart.calls(SALES_HISTORY_PATH), 0);
}

#[tokio::test]
async fn an_unreachable_hotmart_is_a_transport_error_without_the_secret() {
    let hotmart = FakeHotmart::spawn().await;
    let credentials = hotmart.credentials();
    let secret = credentials.client_secret.clone();
    drop(hotmart);
    // Nothing listens on a port just released... most likely; bind one and
    // drop it to be sure.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = HotmartClient::with_options(
        HotmartCredentials {
            base_url: dead.clone(),
            auth_url: dead,
            ..credentials
        },
        fast_options(),
    )
    .unwrap();

    let error = client.club_modules().await.unwrap_err();

    assert!(matches!(error, HotmartError::Transport(_)), "{error:?}");
    assert!(!error.to_string().contains(&secret));
}
