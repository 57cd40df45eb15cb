//! Repairs what a missed webhook left behind: sales, subscriptions, Club
//! progress and the lesson catalogue, read from Hotmart's API and applied
//! through the same effect functions as webhooks (`apply`).

use chrono::{DateTime, Duration, Utc};
use entity::Tenant;
use entity::entities::{lesson, subscription};
use entity::{
    catalog::{self, LessonFacts, ProductFacts},
    customers::{self, PersonFacts},
    enrollments,
    subscriptions::{self, SubscriptionFacts},
};
use sea_orm::{ColumnTrait, DatabaseConnection, QueryFilter};
use serde::Serialize;

use super::client::{
    HotmartClient, HotmartCredentials, HotmartError, PageLimits, SALE_STATUSES,
    SUBSCRIPTION_STATUSES, Sale, SalesHistoryFilter, SubscriptionFilter,
};
use super::effects::{self, Source};
use crate::background_jobs::JobProgress;
use entity::hotmart::{
    Buyer, Contact, EventKind, FirstAccess, Origin, Product, Purchase, PurchaseStatus,
};

/// How far back the daily job looks, so a day it missed is caught the next day.
pub const DAILY_LOOKBACK: Duration = Duration::days(3);
/// Every day at 04:00 UTC (01:00 in São Paulo), when launches are quiet.
pub const DAILY_SCHEDULE: &str = "0 0 4 * * *";

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("Hotmart is not configured for this workspace: set {0}")]
    NotConfigured(&'static str),
    #[error(transparent)]
    Hotmart(#[from] HotmartError),
    #[error(transparent)]
    Entity(#[from] entity::Error),
}

/// What a sync looked at and applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Pages read from Hotmart's API.
    pub pages: usize,
    pub sales: usize,
    pub subscriptions: usize,
    pub members: usize,
    pub lessons: usize,
    /// Items that could not be applied (logged with the reason).
    pub failed: usize,
    /// Parts skipped, and why (e.g. no Club subdomain configured).
    pub skipped: Vec<String>,
}

/// The workspace's Hotmart API credentials from its settings.
pub async fn credentials(
    db: &DatabaseConnection,
    secrets: &entity::SecretKey,
    tenant: Tenant,
) -> Result<HotmartCredentials, SyncError> {
    let setting = |key| entity::settings::reveal(db, tenant, secrets, key);
    let client_id = setting("hotmart.client_id")
        .await?
        .ok_or(SyncError::NotConfigured("hotmart.client_id"))?;
    let client_secret = setting("hotmart.client_secret")
        .await?
        .ok_or(SyncError::NotConfigured("hotmart.client_secret"))?;
    let mut credentials = HotmartCredentials::new(client_id, client_secret);
    if let Some(base_url) = setting("hotmart.base_url").await? {
        credentials.base_url = base_url;
    }
    if let Some(auth_url) = setting("hotmart.auth_url").await? {
        credentials.auth_url = auth_url;
    }
    credentials.club_subdomain = setting("hotmart.club_subdomain").await?;
    Ok(credentials)
}

/// A sale from the sales history, as the purchase event it stands for.
fn purchase_from_sale(sale: &Sale) -> Option<Purchase> {
    let details = sale.purchase.as_ref()?;
    let email = entity::customers::normalize_email(sale.buyer.as_ref()?.email.as_deref()?).ok()?;
    let status = PurchaseStatus::parse(details.status.as_deref().unwrap_or("APPROVED"));
    let kind = match status {
        PurchaseStatus::Complete => EventKind::PurchaseComplete,
        PurchaseStatus::Refunded | PurchaseStatus::PartiallyRefunded => EventKind::PurchaseRefunded,
        PurchaseStatus::Chargeback => EventKind::PurchaseChargeback,
        PurchaseStatus::Cancelled => EventKind::PurchaseCanceled,
        PurchaseStatus::Expired => EventKind::PurchaseExpired,
        PurchaseStatus::Protested => EventKind::PurchaseProtest,
        PurchaseStatus::PrintedBillet | PurchaseStatus::WaitingPayment => {
            EventKind::PurchaseBilletPrinted
        }
        _ => EventKind::PurchaseApproved,
    };
    let product = sale.product.as_ref();
    let payment = details.payment.as_ref();
    let tracking = details.tracking.as_ref();
    Some(Purchase {
        kind,
        occurred_at: details.approved_date.or(details.order_date),
        product: Product {
            hotmart_id: product.and_then(|p| p.id.clone()),
            ucode: product.and_then(|p| p.ucode.clone()),
            name: product.and_then(|p| p.name.clone()),
            warranty_ends_at: details.warranty_expire_date,
        },
        buyer: Buyer {
            email,
            name: sale.buyer.as_ref().and_then(|b| b.name.clone()),
            phone: None,
            document: None,
            document_type: None,
        },
        transaction: details.transaction.clone()?,
        status,
        order_date: details.order_date,
        approved_date: details.approved_date,
        amount: details.price.as_ref().and_then(|p| p.value),
        currency: details.price.as_ref().and_then(|p| p.currency_code.clone()),
        payment_type: payment.and_then(|p| p.payment_type.clone()),
        payment_method: payment.and_then(|p| p.method.clone()),
        installments: payment.and_then(|p| p.installments_number),
        billet_url: None,
        billet_barcode: None,
        pix_code: None,
        pix_url: None,
        offer_code: details.offer.as_ref().and_then(|o| o.code.clone()),
        coupon: None,
        recurrence_number: details.recurrency_number,
        origin: Origin {
            src: tracking.and_then(|t| t.source.clone()),
            sck: tracking.and_then(|t| t.source_sck.clone()),
            xcod: tracking.and_then(|t| t.external_code.clone()),
        },
        order_bump_parent_transaction: None,
        subscription: None,
        commission_type: details.commission_as.clone(),
    })
}

/// Syncs one workspace: sales since `since`, every subscription, and Club
/// progress when a Club subdomain and product are configured.
/// Reports how far it got to `progress` after each part and every
/// [`PROGRESS_EVERY`] records.
pub async fn sync_workspace(
    db: &DatabaseConnection,
    secrets: &entity::SecretKey,
    tenant: Tenant,
    clock: &entity::Clock,
    since: DateTime<Utc>,
    progress: Option<&JobProgress<'_>>,
) -> Result<SyncReport, SyncError> {
    let client = HotmartClient::new(credentials(db, secrets, tenant).await?)?;
    let mut report = SyncReport::default();

    let sales = client
        .sales_history(
            &SalesHistoryFilter {
                transaction_status: SALE_STATUSES.iter().map(|s| (*s).to_owned()).collect(),
                start_date: Some(since),
                end_date: Some(clock.now()),
                ..SalesHistoryFilter::default()
            },
            PageLimits::default(),
        )
        .await?;
    report.pages += sales.pages;
    report_progress(progress, &report).await;
    for (done, sale) in sales.items.iter().enumerate() {
        if done > 0 && done % PROGRESS_EVERY == 0 {
            report_progress(progress, &report).await;
        }
        let Some(purchase) = purchase_from_sale(sale) else {
            report.failed += 1;
            continue;
        };
        let txn = entity::db::begin_write(db)
            .await
            .map_err(entity::Error::from)?;
        match effects::apply_purchase(&txn, tenant, &purchase, Source::Sync, clock.now()).await {
            Ok(()) => {
                txn.commit().await.map_err(entity::Error::from)?;
                report.sales += 1;
            }
            Err(err) => {
                tracing::warn!(error = %err, "a synced sale could not be applied");
                report.failed += 1;
            }
        }
    }

    let subscriptions = client
        .subscriptions(
            &SubscriptionFilter {
                status: SUBSCRIPTION_STATUSES
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect(),
                ..SubscriptionFilter::default()
            },
            PageLimits::default(),
        )
        .await?;
    report.pages += subscriptions.pages;
    report_progress(progress, &report).await;
    for (done, item) in subscriptions.items.iter().enumerate() {
        if done > 0 && done % PROGRESS_EVERY == 0 {
            report_progress(progress, &report).await;
        }
        let (Some(code), Some(email)) = (
            item.subscriber_code.clone(),
            item.subscriber.as_ref().and_then(|s| s.email.clone()),
        ) else {
            report.failed += 1;
            continue;
        };
        let now = clock.now();
        let txn = entity::db::begin_write(db)
            .await
            .map_err(entity::Error::from)?;
        let applied: Result<(), entity::Error> = async {
            let person = PersonFacts {
                email,
                name: item.subscriber.as_ref().and_then(|s| s.name.clone()),
                hotmart_ucode: item.subscriber.as_ref().and_then(|s| s.ucode.clone()),
                ..PersonFacts::default()
            };
            let customer =
                customers::upsert_customer(&txn, tenant, &person, item.accession_date, now).await?;
            let product = match item.product.as_ref().and_then(|p| p.id.clone()) {
                Some(hotmart_id) => Some(
                    catalog::record_product(
                        &txn,
                        tenant,
                        &ProductFacts {
                            hotmart_id,
                            ucode: item.product.as_ref().and_then(|p| p.ucode.clone()),
                            name: item.product.as_ref().and_then(|p| p.name.clone()),
                        },
                        now,
                    )
                    .await?,
                ),
                None => None,
            };
            let facts = SubscriptionFacts {
                subscriber_code: code,
                status: item.status.clone(),
                // What the API says is the state as of now.
                status_at: Some(clock.now()),
                product_id: product.as_ref().map(|p| p.id),
                hotmart_subscription_id: item.subscription_id.clone(),
                plan_id: item.plan.as_ref().and_then(|p| p.id.clone()),
                plan_name: item.plan.as_ref().and_then(|p| p.name.clone()),
                started_at: item.accession_date,
                next_charge_at: item.date_next_charge,
                cancelled_at: item.end_accession_date,
                recurring_amount: item.price.as_ref().and_then(|p| p.value),
                currency: item.price.as_ref().and_then(|p| p.currency_code.clone()),
                recurrence_period_days: item
                    .plan
                    .as_ref()
                    .and_then(|p| p.recurrency_period)
                    .and_then(|d| i32::try_from(d).ok()),
            };
            subscriptions::record_subscription(&txn, tenant, customer.id, &facts, now).await?;
            Ok(())
        }
        .await;
        match applied {
            Ok(()) => {
                txn.commit().await.map_err(entity::Error::from)?;
                report.subscriptions += 1;
            }
            Err(err) => {
                tracing::warn!(error = %err, "a synced subscription could not be applied");
                report.failed += 1;
            }
        }
    }

    report_progress(progress, &report).await;
    sync_club(db, secrets, tenant, &client, &mut report, clock).await?;
    Ok(report)
}

/// Records passed between two progress reports of a sync.
pub const PROGRESS_EVERY: usize = 100;

async fn report_progress(progress: Option<&JobProgress<'_>>, report: &SyncReport) {
    if let Some(progress) = progress {
        progress.report(report).await;
    }
}

/// The lesson catalogue and every member's first access and completed lessons.
async fn sync_club(
    db: &DatabaseConnection,
    secrets: &entity::SecretKey,
    tenant: Tenant,
    client: &HotmartClient,
    report: &mut SyncReport,
    clock: &entity::Clock,
) -> Result<(), SyncError> {
    if client.club_subdomain().is_none() {
        report
            .skipped
            .push("club: set hotmart.club_subdomain".into());
        return Ok(());
    }
    let Some(club_product) =
        entity::settings::reveal(db, tenant, secrets, "hotmart.club_product_id").await?
    else {
        report.skipped.push(
            "club: set hotmart.club_product_id (the Hotmart product the members area belongs to)"
                .into(),
        );
        return Ok(());
    };
    let now = clock.now();
    let product = catalog::record_product(
        db,
        tenant,
        &ProductFacts {
            hotmart_id: club_product.clone(),
            ..ProductFacts::default()
        },
        now,
    )
    .await?;
    for module in client.club_modules().await? {
        let Some(module_id) = module.module_id.clone() else {
            continue;
        };
        let position = module.sequence.and_then(|s| i32::try_from(s).ok());
        let facts = catalog::ModuleFacts {
            hotmart_module_id: &module_id,
            name: module.name.as_deref(),
            position,
            is_extra: module.is_extra,
        };
        let stored = catalog::upsert_module(db, tenant, product.id, facts, now).await?;
        for page in client.club_module_pages(&module_id).await? {
            let Some(page_id) = page.page_id.clone() else {
                continue;
            };
            let facts = LessonFacts {
                hotmart_page_id: page_id,
                page_name: page.name.clone().unwrap_or_default(),
                module_id: Some(stored.id),
                module_name: Some(stored.name.clone()),
                is_extra: stored.is_extra,
                position: page
                    .sequence
                    .and_then(|s| i32::try_from(s).ok())
                    .unwrap_or(0),
            };
            catalog::upsert_lesson(db, tenant, product.id, &facts, now).await?;
            report.lessons += 1;
        }
    }
    let members = client.club_users(PageLimits::default()).await?;
    report.pages += members.pages;
    for member in &members.items {
        let (Some(user_id), Some(email)) = (member.user_id.clone(), member.email.clone()) else {
            continue;
        };
        let Ok(email) = entity::customers::normalize_email(&email) else {
            report.failed += 1;
            continue;
        };
        let lessons = client.club_user_lessons(&user_id).await?;
        let now = clock.now();
        let txn = entity::db::begin_write(db)
            .await
            .map_err(entity::Error::from)?;
        let applied: Result<(), entity::Error> = async {
            let customer = customers::upsert_customer(
                &txn,
                tenant,
                &PersonFacts {
                    email: email.clone(),
                    name: member.name.clone(),
                    ..PersonFacts::default()
                },
                member.last_access_date,
                now,
            )
            .await?;
            if let Some(first) = member.first_access_date {
                let access = FirstAccess {
                    occurred_at: Some(first),
                    product: Product {
                        hotmart_id: Some(club_product.clone()),
                        ..Product::default()
                    },
                    user: Contact {
                        email,
                        name: member.name.clone(),
                        phone: None,
                    },
                };
                effects::apply_first_access(&txn, tenant, secrets, &access, Source::Sync, now)
                    .await?;
            }
            for lesson in lessons.iter().filter(|l| l.is_completed == Some(true)) {
                let Some(page_id) = lesson.page_id.clone() else {
                    continue;
                };
                let facts = LessonFacts {
                    hotmart_page_id: page_id,
                    page_name: lesson.page_name.clone().unwrap_or_default(),
                    module_id: None,
                    module_name: lesson.module_name.clone(),
                    is_extra: lesson.is_module_extra.unwrap_or(false),
                    position: 0,
                };
                let known = tenant
                    .select::<lesson::Entity>()
                    .filter(lesson::Column::ProductId.eq(product.id))
                    .filter(lesson::Column::HotmartPageId.eq(facts.hotmart_page_id.as_str()))
                    .one(&txn)
                    .await?;
                // The catalogue sync owns names and order; a member's list only fills gaps.
                let stored = match known {
                    Some(existing) => existing,
                    None => catalog::upsert_lesson(&txn, tenant, product.id, &facts, now).await?,
                };
                enrollments::record_lesson_progress(
                    &txn,
                    tenant,
                    customer.id,
                    stored.id,
                    true,
                    lesson.completed_date,
                    now,
                )
                .await?;
            }
            enrollments::refresh_progress(&txn, tenant, customer.id, product.id, now).await?;
            Ok(())
        }
        .await;
        match applied {
            Ok(()) => {
                txn.commit().await.map_err(entity::Error::from)?;
                report.members += 1;
            }
            Err(err) => {
                tracing::warn!(error = %err, "a synced Club member could not be applied");
                report.failed += 1;
            }
        }
    }
    Ok(())
}

/// The local subscription with that code, or `NotFound`.
async fn local_subscription(
    db: &DatabaseConnection,
    tenant: Tenant,
    code: &str,
) -> Result<subscription::Model, SyncError> {
    tenant
        .select::<subscription::Entity>()
        .filter(subscription::Column::SubscriberCode.eq(code))
        .one(db)
        .await
        .map_err(entity::Error::from)?
        .ok_or(SyncError::Entity(entity::Error::NotFound("subscription")))
}

async fn record_status(
    db: &DatabaseConnection,
    tenant: Tenant,
    current: &subscription::Model,
    status: &str,
    cancelled_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<subscription::Model, SyncError> {
    let facts = SubscriptionFacts {
        subscriber_code: current.subscriber_code.clone(),
        status: Some(status.to_owned()),
        status_at: Some(now),
        cancelled_at,
        ..SubscriptionFacts::default()
    };
    let txn = entity::db::begin_write(db)
        .await
        .map_err(entity::Error::from)?;
    let change =
        subscriptions::record_subscription(&txn, tenant, current.customer_id, &facts, now).await?;
    txn.commit().await.map_err(entity::Error::from)?;
    Ok(change.subscription)
}

/// Cancels a subscription at Hotmart, then locally.
pub async fn cancel_subscription(
    db: &DatabaseConnection,
    secrets: &entity::SecretKey,
    clock: &entity::Clock,
    tenant: Tenant,
    code: &str,
    send_mail: bool,
) -> Result<subscription::Model, SyncError> {
    let current = local_subscription(db, tenant, code).await?;
    HotmartClient::new(credentials(db, secrets, tenant).await?)?
        .cancel_subscription(code, send_mail)
        .await?;
    record_status(
        db,
        tenant,
        &current,
        "CANCELLED_BY_SELLER",
        Some(clock.now()),
        clock.now(),
    )
    .await
}

/// Reactivates a subscription at Hotmart, then locally.
pub async fn reactivate_subscription(
    db: &DatabaseConnection,
    secrets: &entity::SecretKey,
    clock: &entity::Clock,
    tenant: Tenant,
    code: &str,
    charge: bool,
) -> Result<subscription::Model, SyncError> {
    let current = local_subscription(db, tenant, code).await?;
    HotmartClient::new(credentials(db, secrets, tenant).await?)?
        .reactivate_subscription(code, charge)
        .await?;
    record_status(db, tenant, &current, "ACTIVE", None, clock.now()).await
}

/// The cron tick's job.
pub async fn daily_sync(
    _tick: apalis_cron::Tick,
    worker: apalis::prelude::Data<crate::Worker>,
) -> Result<(), apalis::prelude::BoxDynError> {
    sync_all(&worker.db, &worker.secrets, &worker.clock).await?;
    Ok(())
}

/// The daily job: every workspace with Hotmart credentials, the last few days.
pub async fn sync_all(
    db: &DatabaseConnection,
    secrets: &entity::SecretKey,
    clock: &entity::Clock,
) -> Result<(), entity::Error> {
    use sea_orm::EntityTrait;
    for workspace in entity::workspace::Entity::find().all(db).await? {
        let tenant = Tenant::new(workspace.id);
        match sync_workspace(
            db,
            secrets,
            tenant,
            clock,
            clock.now() - DAILY_LOOKBACK,
            None,
        )
        .await
        {
            Ok(report) => {
                tracing::info!(workspace_id = %workspace.id, ?report, "hotmart sync done")
            }
            Err(SyncError::NotConfigured(_)) => {}
            Err(err) => {
                tracing::warn!(workspace_id = %workspace.id, error = %err, "hotmart sync failed")
            }
        }
    }
    Ok(())
}
