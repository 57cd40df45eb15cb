//! Scan triggers: on its schedule (in the workspace's time zone) a rule looks
//! over the workspace's enrolments for buyers who never opened the course
//! (`ACCESS_MISSING`), students who stopped (`PROGRESS_STALLED`) and buyers
//! near the end of their warranty with little progress (`REFUND_RISK`), and
//! queues an item for each, a page of enrolments at a time.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use apalis::prelude::{BoxDynError, Data};
use chrono::{DateTime, Duration, Utc};
use entity::Tenant;
use entity::entities::enums::AccessStatus;
use entity::entities::{
    automation_rule, customer, enrollment, lesson, lesson_progress, module, product, transaction,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult,
    IdenStatic, Iterable, QueryFilter, QueryOrder, QueryResult, QuerySelect, Select,
};
use serde::Serialize;
use tokio::task::{JoinHandle, JoinSet};
use uuid::Uuid;
use workflow::automation::{RuleSpec, Trigger};
use workflow::schedule::CronSchedule;

use super::firing::{Consideration, Firing, Purchase, Subject, spec_of};
use crate::Worker;

/// Every minute: scan rules whose schedule fell due.
pub const SCHEDULE: &str = "30 * * * * *";

/// Enrolments read (and items queued) at a time.
const PAGE: u64 = 1_000;

const SCANS: [&str; 3] = [
    Trigger::AccessMissing.as_str(),
    Trigger::ProgressStalled.as_str(),
    Trigger::RefundRisk.as_str(),
];

/// Someone a scan would queue an item for, and why (a dry run's answer).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub customer_id: Uuid,
    pub product_id: Option<Uuid>,
    pub module_id: Option<Uuid>,
    pub reason_code: String,
    pub reason: String,
}

/// What a scan did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanReport {
    /// Enrolments the trigger's query found.
    pub considered: u64,
    /// Items queued (none in a dry run).
    pub queued: u64,
    /// In a dry run: who would get an item, and why.
    pub candidates: Vec<Candidate>,
}

/// The cron job: runs each scan rule whose schedule fired since its last run.
pub async fn tick(_: apalis_cron::Tick, worker: Data<Worker>) -> Result<(), BoxDynError> {
    run_due_scans(&worker).await?;
    Ok(())
}

/// Runs every scan rule whose schedule fired since it last ran (of several
/// fires missed, once); returns how many scans ran.
pub async fn run_due_scans(worker: &Worker) -> Result<usize, entity::Error> {
    let now = worker.clock.now();
    let mut ran = 0;
    for rule in entity::automation::scan_rules(&worker.db, &SCANS).await? {
        let Some(cron) = rule
            .schedule
            .as_deref()
            .and_then(|s| s.parse::<CronSchedule>().ok())
        else {
            continue;
        };
        let time_zone = entity::workspaces::clock_of(&worker.db, rule.workspace_id).await?;
        let since = rule.scanned_until.unwrap_or(rule.created_at);
        let Some(fire) = cron.latest_fire(time_zone, since, now) else {
            continue;
        };
        match scan(worker, &rule, false, now).await {
            Ok(report) => {
                tracing::info!(rule_id = %rule.id, considered = report.considered, queued = report.queued, "automation scan ran");
                entity::automation::scanned(&worker.db, rule.id, fire).await?;
                if report.queued > 0 {
                    worker.signals.workspace_changed(rule.workspace_id);
                }
                ran += 1;
            }
            Err(err) => {
                tracing::warn!(rule_id = %rule.id, error = %err, "automation scan failed; it runs again next minute")
            }
        }
    }
    if ran > 0 {
        worker.signals.campaign_work_stored();
    }
    Ok(ran)
}

/// Runs one scan rule now; a dry run writes nothing and lists who would get
/// an item and why.
pub async fn scan(
    worker: &Worker,
    rule: &automation_rule::Model,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<ScanReport, entity::Error> {
    let Some(spec) = spec_of(rule) else {
        return Err(entity::Error::Invalid(
            "this rule does not pass its checks; fix it before running it".into(),
        ));
    };
    if !spec.trigger.is_scan() {
        return Err(entity::Error::Invalid(format!(
            "{} runs on its event; only scan triggers run on demand",
            spec.trigger.as_str()
        )));
    }
    let db = &worker.db;
    let tenant = Tenant::new(rule.workspace_id);
    let firing = Arc::new(Firing::prepare(db, &worker.secrets, rule, &spec, now).await?);
    let spec = Arc::new(spec);
    let mut report = ScanReport::default();
    // Pages are read while earlier ones are written, each written in its
    // own transaction. PostgreSQL reads two pages at once and takes two
    // writers; SQLite reads and writes one at a time.
    let (readers, writers) = match db.get_database_backend() {
        DbBackend::Postgres => (2, 2),
        _ => (1, 1),
    };
    let mut reads: VecDeque<JoinHandle<Result<Vec<Subject>, entity::Error>>> = VecDeque::new();
    let mut writes: JoinSet<Result<u64, entity::Error>> = JoinSet::new();
    // Where the next page to read starts (after which enrolment, `None`
    // from the first); `None` once the last page is under way.
    let mut next: Option<Option<Uuid>> = Some(None);
    loop {
        while reads.len() < readers
            && let Some(after) = next
        {
            let last = page_end(db, tenant, after).await?;
            next = last.map(Some);
            let range = PageRange { after, last };
            let (db, spec) = (db.clone(), spec.clone());
            reads.push_back(tokio::spawn(async move {
                let txn = entity::db::begin_lookups(&db).await?;
                let page = candidates_page(&txn, tenant, &spec, range, now).await?;
                let subjects = subjects_of(&txn, tenant, &spec, page, now).await?;
                txn.commit().await?;
                Ok(subjects)
            }));
        }
        let Some(read) = reads.pop_front() else {
            break;
        };
        let subjects = read.await.map_err(|err| {
            entity::Error::Database(DbErr::Custom(format!(
                "a scan's page reader stopped: {err}"
            )))
        })??;
        report.considered += subjects.len() as u64;
        if dry_run {
            for subject in &subjects {
                if let Consideration::Item(item) = firing.consider(subject) {
                    report.candidates.push(Candidate {
                        customer_id: item.customer_id,
                        product_id: item.product_id,
                        module_id: item.module_id,
                        reason_code: item.reason_code,
                        reason: item.reason,
                    });
                }
            }
            continue;
        }
        if subjects.is_empty() {
            continue;
        }
        while writes.len() >= writers {
            report.queued += written(writes.join_next().await)?;
        }
        let (db, firing) = (db.clone(), firing.clone());
        writes.spawn(async move {
            // Reads (who is held back) then writes: on SQLite the write lock
            // is taken at BEGIN, or another writer in between fails the page.
            let txn = entity::db::begin_write(&db).await?;
            let queued = firing.meet(&txn, &subjects).await?.len() as u64;
            txn.commit().await?;
            Ok(queued)
        });
    }
    while !writes.is_empty() {
        report.queued += written(writes.join_next().await)?;
    }
    if dry_run {
        // Who already has a pending item, or is inside the cooldown, would get none.
        let subjects: Vec<(Uuid, String)> = report
            .candidates
            .iter()
            .map(|c| {
                let key =
                    entity::dispatch::rules::subject_key(rule.id, c.customer_id, c.product_id);
                (c.customer_id, key)
            })
            .collect();
        let held = entity::dispatch::rules::held_back(db, rule, &subjects, now).await?;
        let mut subjects = subjects.into_iter();
        report
            .candidates
            .retain(|_| subjects.next().is_none_or(|(_, key)| !held.contains(&key)));
    }
    Ok(report)
}

/// How many items a page's writer queued; a page that failed fails the scan
/// (the pages written before it stay: each is whole).
fn written(
    joined: Option<Result<Result<u64, entity::Error>, tokio::task::JoinError>>,
) -> Result<u64, entity::Error> {
    match joined {
        Some(Ok(queued)) => queued,
        Some(Err(err)) => Err(entity::Error::Database(sea_orm::DbErr::Custom(format!(
            "a scan's page writer stopped: {err}"
        )))),
        None => Ok(0),
    }
}

/// An enrolment a scan found, with its customer and what the rule needs of
/// its origin purchase.
struct Enrolled {
    enrollment: enrollment::Model,
    customer: customer::Model,
    purchase: Option<Purchase>,
}

/// The customer's columns come as `customer_<column>`, the purchase's as
/// `purchase_<column>`, beside the enrolment's.
const CUSTOMER: &str = "customer_";
const PURCHASE: &str = "purchase_";

impl FromQueryResult for Enrolled {
    fn from_query_result(row: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Enrolled {
            enrollment: enrollment::Model::from_query_result(row, pre)?,
            customer: customer::Model::from_query_result(row, &format!("{pre}{CUSTOMER}"))?,
            purchase: Purchase::from_query_result_optional(row, &format!("{pre}{PURCHASE}"))?,
        })
    }
}

/// A page of the workspace's active enrolments: those after `after` (from
/// the first when `None`) up to and including `last` (to the end when
/// `None`).
#[derive(Debug, Clone, Copy)]
struct PageRange {
    after: Option<Uuid>,
    last: Option<Uuid>,
}

/// The active enrolments of the workspace in id order, from `after`.
fn active_enrolments(tenant: Tenant, after: Option<Uuid>) -> Select<enrollment::Entity> {
    use enrollment::Column as E;
    let select = tenant
        .select::<enrollment::Entity>()
        .filter(E::AccessStatus.eq(AccessStatus::Active))
        .order_by_asc(E::Id);
    match after {
        Some(after) => select.filter(E::Id.gt(after)),
        None => select,
    }
}

/// Where the page starting after `after` ends: the id of the `PAGE`th
/// active enrolment after it, or `None` when fewer remain. Read from the
/// (workspace, status, id) index alone, so the next page can be read
/// before this one is.
async fn page_end<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    after: Option<Uuid>,
) -> Result<Option<Uuid>, entity::Error> {
    Ok(active_enrolments(tenant, after)
        .select_only()
        .column(enrollment::Column::Id)
        .offset(PAGE - 1)
        .limit(1)
        .into_tuple::<Uuid>()
        .one(db)
        .await?)
}

/// The enrolments of a page the trigger finds, with their customers and
/// origin purchases, in one statement.
async fn candidates_page<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    spec: &RuleSpec,
    range: PageRange,
    now: DateTime<Utc>,
) -> Result<Vec<Enrolled>, entity::Error> {
    use enrollment::Column as E;
    use transaction::Column as T;
    let mut select = active_enrolments(tenant, range.after)
        .inner_join(customer::Entity)
        .left_join(transaction::Entity);
    for column in customer::Column::iter() {
        select = select.column_as(column, format!("{CUSTOMER}{}", column.as_str()));
    }
    for column in Purchase::COLUMNS {
        select = select.column_as(column, format!("{PURCHASE}{}", column.as_str()));
    }
    if let Some(last) = range.last {
        select = select.filter(E::Id.lte(last));
    }
    let select = match spec.trigger {
        Trigger::AccessMissing => select
            .filter(E::FirstAccessAt.is_null())
            .filter(T::ApprovedAt.lte(now - Duration::hours(spec.param("hours")))),
        Trigger::ProgressStalled => select
            .filter(E::FirstAccessAt.is_not_null())
            .filter(E::ProgressPercent.lt(rust_decimal::Decimal::from(100)))
            .filter(E::FirstAccessAt.lte(now - Duration::days(spec.param("days")))),
        Trigger::RefundRisk => select
            .filter(T::WarrantyEndsAt.gt(now))
            .filter(T::WarrantyEndsAt.lte(now + Duration::days(spec.param("days"))))
            .filter(E::ProgressPercent.lt(rust_decimal::Decimal::from(spec.param("maxProgress")))),
        _ => return Ok(Vec::new()),
    };
    Ok(select.into_model::<Enrolled>().all(db).await?)
}

/// The page's enrolments as subjects, their products and modules loaded a
/// page at a time. A stalled student whose last lesson is
/// recent is dropped here, and placed in the module they stopped in.
async fn subjects_of<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    spec: &RuleSpec,
    page: Vec<Enrolled>,
    now: DateTime<Utc>,
) -> Result<Vec<Subject>, entity::Error> {
    let customer_ids: Vec<Uuid> = page.iter().map(|e| e.enrollment.customer_id).collect();
    let product_ids: Vec<Uuid> = page.iter().map(|e| e.enrollment.product_id).collect();
    let products = tenant
        .by_ids::<product::Entity, _>(db, &product_ids)
        .await?;
    let stalled = spec.trigger == Trigger::ProgressStalled;
    let (last_lessons, modules, first_modules) = if stalled {
        let (last, modules) = last_lessons(db, tenant, &customer_ids, &product_ids).await?;
        (
            last,
            modules,
            first_modules(db, tenant, &product_ids).await?,
        )
    } else {
        Default::default()
    };
    let mut subjects = Vec::with_capacity(page.len());
    for Enrolled {
        enrollment,
        customer,
        purchase,
    } in page
    {
        let mut subject = Subject::of(customer);
        subject.product = products.get(&enrollment.product_id).cloned();
        if let Some(approved) = purchase.as_ref().and_then(|p| p.approved_at) {
            subject.hours_since_purchase = Some((now - approved).num_hours());
        }
        if let Some(ends) = purchase.as_ref().and_then(|p| p.warranty_ends_at) {
            subject.days_to_warranty_end = Some((ends - now).num_days());
        }
        if stalled {
            let last = last_lessons.get(&(enrollment.customer_id, enrollment.product_id));
            let since = last
                .map(|(at, _)| *at)
                .or(enrollment.first_access_at)
                .unwrap_or(now);
            if since > now - Duration::days(spec.param("days")) {
                continue;
            }
            subject.days_stalled = Some((now - since).num_days());
            let module_id = last.and_then(|(_, module)| *module);
            subject.module = match module_id {
                Some(id) => modules.get(&id).cloned(),
                None => first_modules.get(&enrollment.product_id).cloned(),
            };
        }
        subject.purchase = purchase;
        subject.enrollment = Some(enrollment);
        subjects.push(subject);
    }
    Ok(subjects)
}

type LastLessons = HashMap<(Uuid, Uuid), (DateTime<Utc>, Option<Uuid>)>;

/// (customer, product, module, the module's last completion).
type LessonRow = (Uuid, Uuid, Option<Uuid>, Option<DateTime<Utc>>);

/// Per (customer, product): when their last lesson was completed and in
/// which module; and those modules.
async fn last_lessons<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customers: &[Uuid],
    products: &[Uuid],
) -> Result<(LastLessons, HashMap<Uuid, module::Model>), entity::Error> {
    let rows: Vec<LessonRow> = tenant
        .select::<lesson_progress::Entity>()
        .select_only()
        .column(lesson_progress::Column::CustomerId)
        .column_as(
            Expr::col((lesson::Entity, lesson::Column::ProductId)),
            "product_id",
        )
        .column_as(
            Expr::col((lesson::Entity, lesson::Column::ModuleId)),
            "module_id",
        )
        .column_as(lesson_progress::Column::CompletedAt.max(), "completed_at")
        .inner_join(lesson::Entity)
        .filter(lesson_progress::Column::CustomerId.is_in(customers.iter().copied()))
        .filter(lesson::Column::ProductId.is_in(products.iter().copied()))
        .filter(lesson_progress::Column::Completed.eq(true))
        .group_by(lesson_progress::Column::CustomerId)
        .group_by(lesson::Column::ProductId)
        .group_by(lesson::Column::ModuleId)
        .into_tuple()
        .all(db)
        .await?;
    let mut last: LastLessons = HashMap::new();
    for (customer, product, module, at) in rows {
        let Some(at) = at else { continue };
        let entry = last.entry((customer, product)).or_insert((at, module));
        if at > entry.0 {
            *entry = (at, module);
        }
    }
    let module_ids: Vec<Uuid> = last.values().filter_map(|(_, m)| *m).collect();
    Ok((
        last,
        tenant.by_ids::<module::Entity, _>(db, &module_ids).await?,
    ))
}

/// Each product's first module: where a student who completed no lesson stopped.
async fn first_modules<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    products: &[Uuid],
) -> Result<HashMap<Uuid, module::Model>, entity::Error> {
    let mut first: HashMap<Uuid, module::Model> = HashMap::new();
    let modules = tenant
        .select::<module::Entity>()
        .filter(module::Column::ProductId.is_in(products.iter().copied()))
        .order_by_asc(module::Column::Position)
        .all(db)
        .await?;
    for module in modules {
        first.entry(module.product_id).or_insert(module);
    }
    Ok(first)
}

/// A person asked to run a scan rule now (`runAutomationRule`).
pub async fn run_now(
    worker: &Worker,
    tenant: Tenant,
    rule_id: Uuid,
    dry_run: bool,
) -> Result<ScanReport, entity::Error> {
    let rule = tenant
        .get::<automation_rule::Entity, DatabaseConnection>(&worker.db, rule_id)
        .await?;
    let report = scan(worker, &rule, dry_run, worker.clock.now()).await?;
    if !dry_run && report.queued > 0 {
        worker.signals.campaign_work_stored();
        worker.signals.workspace_changed(rule.workspace_id);
    }
    Ok(report)
}
