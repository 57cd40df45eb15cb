//! The members area (Hotmart Club): first accesses and completed modules.

use chrono::{DateTime, Utc};
use entity::entities::{customer, lesson, message, product, tracked_link};
use entity::{SecretKey, Tenant};
use entity::{
    attribution, catalog,
    customers::{self, PersonFacts},
    enrollments,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;
use uuid::Uuid;
use workflow::DomainEventType;

use entity::hotmart::{Contact, FirstAccess, ModuleCompleted, Product};

use super::*;

/// What brought a first access: a click on one of our tracked links within
/// the workspace's attribution window before it (`whatsapp_link`, or
/// `email_link` for a link of an e-mail), or else Hotmart's own access
/// e-mail (`hotmart_email`).
async fn first_access_origin<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    secrets: &SecretKey,
    customer_id: Uuid,
    at: DateTime<Utc>,
) -> Result<&'static str, entity::Error> {
    let window = attribution::first_access_window(db, tenant, secrets).await?;
    let clicked = tenant
        .select::<tracked_link::Entity>()
        .filter(tracked_link::Column::CustomerId.eq(customer_id))
        .filter(tracked_link::Column::LastClickedAt.gte(at - window))
        .filter(tracked_link::Column::FirstClickedAt.lte(at))
        .order_by_desc(tracked_link::Column::LastClickedAt)
        .one(db)
        .await?;
    let Some(link) = clicked else {
        return Ok(attribution::HOTMART_EMAIL);
    };
    let channel = match link.message_id {
        Some(message_id) => message::Entity::find_by_id(message_id)
            .one(db)
            .await?
            .map(|m| m.channel),
        None => None,
    };
    Ok(attribution::link_origin(channel))
}

/// The member a members-area event is about, the product it names, and
/// when it happened (`now` when the event does not say).
async fn member_and_product<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    user: &Contact,
    product: &Product,
    occurred_at: Option<DateTime<Utc>>,
    what: &str,
    now: DateTime<Utc>,
) -> Result<(customer::Model, product::Model, DateTime<Utc>), entity::Error> {
    let at = occurred_at.unwrap_or(now);
    let person = PersonFacts {
        email: user.email.clone(),
        name: user.name.clone(),
        phone: user.phone.clone(),
        ..PersonFacts::default()
    };
    let customer = customers::upsert_customer(db, tenant, &person, Some(at), now).await?;
    let Some(product) = product_of(db, tenant, product, now).await? else {
        return Err(entity::Error::Invalid(format!("{what} without a product")));
    };
    Ok((customer, product, at))
}

/// Records an access to the product's members area at `at`; the first one
/// also records `first_access`, with where it came from.
#[allow(clippy::too_many_arguments)]
async fn record_access<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    secrets: &SecretKey,
    source: Source,
    customer_id: Uuid,
    product_id: Uuid,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    let origin = first_access_origin(db, tenant, secrets, customer_id, at).await?;
    if enrollments::record_access(db, tenant, customer_id, product_id, at, origin, now).await? {
        emit(
            db,
            tenant,
            source,
            Happened {
                customer_id: Some(customer_id),
                event_type: DomainEventType::FirstAccess,
                dedupe_key: format!("access:{customer_id}:{product_id}:first_access"),
                occurred_at: Some(at),
                data: json!({"productId": product_id, "origin": origin}),
            },
            now,
        )
        .await?;
    }
    Ok(())
}

pub async fn apply_first_access<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    secrets: &SecretKey,
    event: &FirstAccess,
    source: Source,
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    let (customer, product, at) = member_and_product(
        db,
        tenant,
        &event.user,
        &event.product,
        event.occurred_at,
        "a first access",
        now,
    )
    .await?;
    record_access(
        db,
        tenant,
        secrets,
        source,
        customer.id,
        product.id,
        at,
        now,
    )
    .await
}

pub async fn apply_module_completed<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    secrets: &SecretKey,
    event: &ModuleCompleted,
    source: Source,
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    let (customer, product, at) = member_and_product(
        db,
        tenant,
        &event.user,
        &event.product,
        event.occurred_at,
        "a module completion",
        now,
    )
    .await?;
    let module_key = event
        .module
        .id
        .clone()
        .or_else(|| event.module.name.clone())
        .unwrap_or_default();
    let facts = catalog::ModuleFacts {
        hotmart_module_id: &module_key,
        name: event.module.name.as_deref(),
        position: None,
        is_extra: None,
    };
    let module = catalog::upsert_module(db, tenant, product.id, facts, now).await?;
    // Completing a module proves an access, even if CLUB_FIRST_ACCESS comes later.
    record_access(
        db,
        tenant,
        secrets,
        source,
        customer.id,
        product.id,
        at,
        now,
    )
    .await?;
    let lessons = tenant
        .select::<lesson::Entity>()
        .filter(lesson::Column::ModuleId.eq(module.id))
        .all(db)
        .await?;
    for lesson in &lessons {
        enrollments::record_lesson_progress(
            db,
            tenant,
            customer.id,
            lesson.id,
            true,
            Some(at),
            now,
        )
        .await?;
    }
    let progress = enrollments::refresh_progress(db, tenant, customer.id, product.id, now).await?;
    if progress.is_some_and(|p| p >= rust_decimal::Decimal::from(100)) {
        // Once per course, whichever module completed it.
        emit(
            db,
            tenant,
            source,
            Happened {
                customer_id: Some(customer.id),
                event_type: DomainEventType::CourseCompleted,
                dedupe_key: format!("progress:{}:{}:course_completed", customer.id, product.id),
                occurred_at: Some(at),
                data: json!({"productId": product.id}),
            },
            now,
        )
        .await?;
    }
    let data = json!({"productId": product.id, "moduleId": module.id, "moduleName": module.name, "hotmartModuleId": event.module.id});
    let key = format!("progress:{}:{}:module_completed", customer.id, module.id);
    emit(
        db,
        tenant,
        source,
        Happened {
            customer_id: Some(customer.id),
            event_type: DomainEventType::ModuleCompleted,
            dedupe_key: key,
            occurred_at: Some(at),
            data,
        },
        now,
    )
    .await
}
