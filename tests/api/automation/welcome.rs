//! The welcome on purchase: sent once, or held as an item when it cannot go.

use super::*;

async fn a_purchase_gets_its_welcome_once(app: TestApp) {
    let meta = fake_meta("APPROVED").await;
    let shop = Producer::open(&app, "escola", Some(&meta)).await;
    let now = app.clock.now();
    let sale = Sale::new("HP1000000001", "maria@example.com", ms(now) - 60_000);
    let approved = sale.event("PURCHASE_APPROVED", "APPROVED", ms(now));
    shop.post(&approved).await;
    let sent = meta.accepted_messages();
    assert_eq!(sent.len(), 1, "one welcome");
    assert_eq!(sent[0].to, "5511987654321");
    let request = meta.message_requests();
    let body = request[0].body.as_ref().expect("a JSON body");
    assert_eq!(body["template"]["name"], "boas_vindas");
    let parameters: Vec<&str> = body["template"]["components"][0]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect();
    assert_eq!(parameters[0], "Maria");
    assert_eq!(parameters[1], "Curso de Confeitaria");
    assert!(
        parameters[2].starts_with("http://jornada.test/r/"),
        "the access link is tracked: {}",
        parameters[2]
    );

    // Hotmart delivering the approval again (a new delivery id) changes nothing.
    let again = sale.event("PURCHASE_APPROVED", "APPROVED", ms(now));
    shop.post(&again).await;
    assert_eq!(meta.accepted(), 1, "nothing twice");
    let items = shop.queue(json!({})).await;
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(item["status"], "SENT");
    assert_eq!(item["decidedBy"], "automatic");
    assert_eq!(item["reasonCode"], "PURCHASE_APPROVED");
    assert_eq!(item["rule"]["key"], "welcome");
    assert_eq!(item["message"]["status"], "SENT");
    assert_eq!(item["customer"]["email"], "maria@example.com");
    assert_eq!(item["context"]["productName"], "Curso de Confeitaria");
}
on_both_backends!(
    a_purchase_gets_its_welcome_once,
    a_purchase_gets_its_welcome_once
);

/// The tables a welcomed purchase writes rows of its workspace into.
const WELCOME_TABLES: [&str; 14] = [
    "customers",
    "transactions",
    "enrollments",
    "products",
    "offers",
    "webhook_events",
    "domain_events",
    "customer_activities",
    "dispatch_queue",
    "messages",
    "tracked_links",
    "automation_rules",
    "message_templates",
    "settings",
];

/// A workspace deleted takes every row of it, those PostgreSQL no longer
/// ties to it by a foreign key included; its neighbour keeps all of its own.
async fn a_deleted_workspace_leaves_no_row_behind(app: TestApp) {
    let meta = fake_meta("APPROVED").await;
    let gone = Producer::open(&app, "escola-fechada", Some(&meta)).await;
    let kept = Producer::open(&app, "escola-aberta", Some(&meta)).await;
    let now = app.clock.now();
    for (shop, code) in [(&gone, "HP1000000011"), (&kept, "HP1000000012")] {
        let sale = Sale::new(code, "maria@example.com", ms(now) - 60_000);
        shop.post(&sale.event("PURCHASE_APPROVED", "APPROVED", ms(now)))
            .await;
    }
    assert_eq!(meta.accepted(), 2, "both welcomed");
    let of =
        |slug: &str| format!("workspace_id IN (SELECT id FROM workspaces WHERE slug = '{slug}')");
    let mut before = Vec::new();
    for table in WELCOME_TABLES {
        let rows = app.count_where(table, &of(&gone.slug)).await;
        assert!(rows > 0, "the purchase wrote no {table}");
        before.push(app.count_where(table, &of(&kept.slug)).await);
    }

    assert!(
        entity::workspaces::delete(&app.db, gone.workspace)
            .await
            .expect("delete the workspace")
    );
    for (table, kept_rows) in WELCOME_TABLES.into_iter().zip(before) {
        assert_eq!(
            app.count_where(table, "workspace_id NOT IN (SELECT id FROM workspaces)")
                .await,
            0,
            "{table} keeps rows of the deleted workspace"
        );
        assert_eq!(
            app.count_where(table, &of(&kept.slug)).await,
            kept_rows,
            "{table} of the other workspace"
        );
    }
}
on_both_backends!(
    a_deleted_workspace_leaves_no_row_behind,
    a_deleted_workspace_leaves_no_row_behind
);

async fn an_unapproved_template_turns_the_welcome_into_an_item(app: TestApp) {
    let meta = fake_meta("PENDING").await;
    let shop = Producer::open(&app, "escola", Some(&meta)).await;
    let welcome = shop.rule("welcome").await;
    assert_eq!(
        welcome["problems"][0]["code"], "TEMPLATE_NOT_APPROVED",
        "{welcome}"
    );
    assert_eq!(
        welcome["template"],
        json!({"name": "boas_vindas", "status": "PENDING"}),
        "the sync linked the built-in to its mirrored template"
    );
    let now = app.clock.now();
    let sale = Sale::new("HP1000000002", "joana@example.com", ms(now) - 60_000);
    shop.post(&sale.event("PURCHASE_APPROVED", "APPROVED", ms(now)))
        .await;
    assert_eq!(
        meta.accepted(),
        0,
        "nothing goes with an unapproved template"
    );
    let items = shop.queue(json!({"status": "PENDING"})).await;
    assert_eq!(items.len(), 1, "nothing is dropped silently");
    assert_eq!(items[0]["reasonCode"], "TEMPLATE_NOT_APPROVED");
    assert!(
        items[0]["reason"]
            .as_str()
            .unwrap()
            .contains("não está aprovado na Meta"),
        "{}",
        items[0]["reason"]
    );
}
on_both_backends!(
    an_unapproved_template_turns_the_welcome_into_an_item,
    an_unapproved_template_turns_the_welcome_into_an_item
);

/// The tables every sale makes longer: a statement that reads one of them
/// whole slows down with each sale, and on SQLite holds the one writer.
const GROWING: [&str; 8] = [
    "webhook_events",
    "domain_events",
    "customers",
    "transactions",
    "enrollments",
    "dispatch_queue",
    "messages",
    "customer_activities",
];

/// SQLite reads a partial index only for a condition that repeats the
/// index's predicate. Every statement on a welcome's way, from the
/// postback to the send and the sweeps after it (the sender's claim, the
/// expiry of pending items, sends whose worker vanished), finds its rows
/// through an index: none reads a growing table whole, nor all of a
/// workspace's rows of one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_welcome_reads_no_growing_table_whole_on_sqlite() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await;
    let meta = fake_meta("APPROVED").await;
    let shop = Producer::open(&app, "escola", Some(&meta)).await;
    let now = app.clock.now();
    let sale = Sale::new("HP1000000003", "rita@example.com", ms(now) - 60_000);
    app.statements.start();
    shop.post(&sale.event("PURCHASE_APPROVED", "APPROVED", ms(now)))
        .await;
    app.advance(Duration::hours(100)).await;
    let mut statements = app.statements.take();
    assert_eq!(meta.accepted(), 1, "the welcome went");
    statements.sort();
    statements.dedup();
    for claim in [
        r#""dispatch_queue"."status" = 'approved'"#,
        r#""dispatch_queue"."status" = 'pending'"#,
        r#""messages"."status" = 'sending'"#,
    ] {
        assert!(
            statements.iter().any(|sql| sql.contains(claim)),
            "no statement asked for {claim}: {statements:#?}"
        );
    }
    // Walking a partial index reads only the rows still to do.
    let partial: Vec<String> = app
        .db
        .query_all_raw(Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '%WHERE%'",
        ))
        .await
        .expect("the partial indexes")
        .iter()
        .map(|row| row.try_get::<String>("", "name").expect("a name"))
        .collect();
    let whole = |step: &str, table: &str| {
        let Some(how) = step.strip_prefix(&format!("SCAN {table}")) else {
            return false;
        };
        let index = how
            .trim_start()
            .trim_start_matches("USING ")
            .trim_start_matches("COVERING ")
            .strip_prefix("INDEX ")
            .and_then(|rest| rest.split(' ').next());
        (how.is_empty() || how.starts_with(' '))
            && !index.is_some_and(|name| partial.iter().any(|p| p == name))
    };
    // An index searched by nothing finer than the workspace (and a status)
    // reads every row of the workspace in that status.
    let workspace_wide = |step: &str, table: &str| {
        step.starts_with(&format!("SEARCH {table} "))
            && step
                .rsplit_once('(')
                .and_then(|(_, keys)| keys.strip_suffix(')'))
                .is_some_and(|keys| {
                    keys.split(" AND ")
                        .all(|key| key.starts_with("workspace_id") || key.starts_with("status"))
                })
    };
    for sql in statements.iter().filter(|sql| {
        ["SELECT", "UPDATE", "DELETE"]
            .iter()
            .any(|verb| sql.trim_start().starts_with(verb))
    }) {
        let plan: Vec<String> = app
            .db
            .query_all_raw(Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                format!("EXPLAIN QUERY PLAN {sql}"),
            ))
            .await
            .expect("a plan")
            .iter()
            .map(|row| row.try_get::<String>("", "detail").expect("a plan step"))
            .collect();
        for table in GROWING {
            assert!(
                !plan.iter().any(|step| whole(step, table)),
                "{sql}\nreads {table} whole: {plan:#?}"
            );
            assert!(
                !plan.iter().any(|step| workspace_wide(step, table)),
                "{sql}\nreads all of a workspace's {table}: {plan:#?}"
            );
        }
    }
}
