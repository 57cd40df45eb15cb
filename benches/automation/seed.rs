//! Buyers who never opened their course, written straight into the database
//! (set-up, not the code under measurement), and the raw-SQL baseline
//! beside the scan that finds them.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entity::entities::enums::AccessStatus;
use entity::entities::{customer, enrollment, product, transaction};
use rust_decimal::Decimal;
use sea_orm::{ActiveModelBehavior, ConnectionTrait, DbBackend, Statement};
use serde_json::json;
use uuid::Uuid;

use crate::support::{insert_chunked, seeding_connection};

/// Where buyers open their courses (`hotmart.club_url`): the rules' access link.
pub const CLUB_URL: &str = "https://escola.club.hotmart.com";

/// How long before the scan the buyers' purchases were approved.
const BOUGHT_DAYS_AGO: i64 = 3;

/// Buyer `i`'s phone, E.164.
pub fn phone_of(i: u64) -> String {
    format!("+55119{i:08}")
}

/// Writes buyers `first..first + count` of one monitored course into
/// `workspace`: each a customer with a phone, an approved purchase
/// `BOUGHT_DAYS_AGO` before `now` and an active enrolment never accessed.
pub async fn buyers_without_access(
    database_url: &str,
    workspace: Uuid,
    first: u64,
    count: u64,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let db = seeding_connection(database_url).await?;
    let bought = now - chrono::Duration::days(BOUGHT_DAYS_AGO);
    let course = Uuid::now_v7();
    insert_chunked(
        &db,
        [product::ActiveModel::from(product::Model {
            id: course,
            workspace_id: workspace,
            hotmart_product_id: Some(format!("35{first:08}")),
            name: "Curso de Confeitaria".to_owned(),
            monitored: true,
            created_at: bought,
            updated_at: bought,
            ..Default::default()
        })],
    )
    .await?;
    // (customer, purchase, enrolment) ids, in the order the scan pages them.
    let buyers: Vec<(u64, Uuid, Uuid, Uuid)> = (first..first + count)
        .map(|i| (i, Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()))
        .collect();
    let customers = buyers.iter().map(|&(i, id, _, _)| {
        customer::ActiveModel::from(customer::Model {
            id,
            workspace_id: workspace,
            email: format!("aluna{i}@bench.example.com"),
            name: Some(format!("Aluna{i} Silva")),
            phone: Some(phone_of(i)),
            tags: json!([]),
            ltv_total: Decimal::from(497),
            consent: json!({}),
            metadata: json!({}),
            created_at: bought,
            updated_at: bought,
            ..Default::default()
        })
    });
    insert_chunked(&db, customers).await?;
    let purchases = buyers.iter().map(|&(i, customer_id, id, _)| {
        transaction::ActiveModel::from(transaction::Model {
            id,
            workspace_id: workspace,
            code: format!("HPR{i:012}"),
            customer_id,
            product_id: Some(course),
            status: "APPROVED".to_owned(),
            amount: Decimal::from(497),
            currency: "BRL".to_owned(),
            payment_method: Some("CREDIT_CARD".to_owned()),
            installments: Some(1),
            purchased_at: Some(bought),
            approved_at: Some(bought),
            warranty_ends_at: Some(bought + chrono::Duration::days(7)),
            recurrence_number: Some(1),
            last_event_at: Some(bought),
            created_at: bought,
            updated_at: bought,
            ..Default::default()
        })
    });
    insert_chunked(&db, purchases).await?;
    let enrolments =
        buyers.iter().map(
            |&(_, customer_id, transaction_id, id)| enrollment::ActiveModel {
                id: sea_orm::Set(id),
                workspace_id: sea_orm::Set(workspace),
                customer_id: sea_orm::Set(customer_id),
                product_id: sea_orm::Set(course),
                transaction_id: sea_orm::Set(Some(transaction_id)),
                access_status: sea_orm::Set(AccessStatus::Active),
                starts_at: sea_orm::Set(Some(bought)),
                progress_percent: sea_orm::Set(Decimal::ZERO),
                created_at: sea_orm::Set(bought),
                updated_at: sea_orm::Set(bought),
                ..enrollment::ActiveModel::new()
            },
        );
    insert_chunked(&db, enrolments).await?;
    if db.get_database_backend() == DbBackend::Postgres {
        // What autovacuum does after a bulk load, and the checkpoint that
        // follows it, done now rather than somewhere inside a measurement.
        db.execute_unprepared("VACUUM ANALYZE").await?;
        db.execute_unprepared("CHECKPOINT").await?;
    }
    db.close().await.ok();
    Ok(())
}

/// The scan's finding and queueing done by hand: the same candidates
/// (active enrolments of the workspace never accessed, bought at least
/// `hours` before `now`) copied by one `INSERT … SELECT` into a table shaped
/// like the queue's. Returns the rows copied and how long it took; the
/// table is dropped after.
pub async fn insert_select_baseline(
    database_url: &str,
    workspace: Uuid,
    hours: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<(u64, Duration)> {
    let db = seeding_connection(database_url).await?;
    let backend = db.get_database_backend();
    db.execute_unprepared(
        "CREATE TABLE bench_rescue_items (id uuid PRIMARY KEY, workspace_id uuid NOT NULL, \
         customer_id uuid NOT NULL, product_id uuid, transaction_code varchar(64), \
         reason_code varchar(32) NOT NULL, reason text NOT NULL, status varchar(16) NOT NULL, \
         suggested_at timestamptz NOT NULL, expires_at timestamptz)",
    )
    .await?;
    let copy = Statement::from_sql_and_values(
        backend,
        "INSERT INTO bench_rescue_items (id, workspace_id, customer_id, product_id, \
           transaction_code, reason_code, reason, status, suggested_at, expires_at) \
         SELECT e.id, e.workspace_id, e.customer_id, e.product_id, t.code, 'ACCESS_MISSING', \
           'Comprou e ainda não acessou o curso', 'PENDING', $2, $3 \
         FROM enrollments e JOIN transactions t ON t.id = e.transaction_id \
         WHERE e.workspace_id = $1 AND e.access_status = 'ACTIVE' \
           AND e.first_access_at IS NULL AND t.approved_at <= $4",
        [
            workspace.into(),
            now.into(),
            (now + chrono::Duration::hours(72)).into(),
            (now - chrono::Duration::hours(hours)).into(),
        ],
    );
    let started = Instant::now();
    let copied = db.execute_raw(copy).await?.rows_affected();
    let took = started.elapsed();
    db.execute_unprepared("DROP TABLE bench_rescue_items")
        .await?;
    db.close().await.ok();
    Ok((copied, took))
}
