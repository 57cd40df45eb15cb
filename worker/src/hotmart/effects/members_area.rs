//! The members area (Hotmart Club): first accesses and completed modules.

use chrono::{DateTime, Utc};
use entity::Tenant;
use entity::entities::{lesson, tracked_link};
use entity::{
    catalog,
    customers::{self, PersonFacts},
    enrollments,
};
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder};
use serde_json::json;
use uuid::Uuid;
use workflow::DomainEventType;

use entity::hotmart::{FirstAccess, ModuleCompleted};

use super::*;

/// What brought a first access: a click on one of our tracked links shortly
/// before it, or else Hotmart's own access e-mail.
async fn first_access_origin<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customer_id: Uuid,
    at: DateTime<Utc>,
) -> Result<&'static str, entity::Error> {
    let clicked = tenant
        .select::<tracked_link::Entity>()
        .filter(tracked_link::Column::CustomerId.eq(customer_id))
        .filter(tracked_link::Column::LastClickedAt.gte(at - ATTRIBUTION_WINDOW))
        .filter(tracked_link::Column::FirstClickedAt.lte(at))
        .order_by_desc(tracked_link::Column::LastClickedAt)
        .one(db)
        .await?;
    Ok(if clicked.is_some() {
        "whatsapp_link"
    } else {
        "hotmart_email"
    })
}

pub async fn apply_first_access<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    event: &FirstAccess,
    source: Source,
) -> Result<(), entity::Error> {
    let at = event.occurred_at.unwrap_or_else(Utc::now);
    let person = PersonFacts {
        email: event.user.email.clone(),
        name: event.user.name.clone(),
        phone: event.user.phone.clone(),
        ..PersonFacts::default()
    };
    let customer = customers::upsert_customer(db, tenant, &person, Some(at)).await?;
    let Some(product) = product_of(db, tenant, &event.product).await? else {
        return Err(entity::Error::Invalid(
            "a first access without a product".into(),
        ));
    };
    let origin = first_access_origin(db, tenant, customer.id, at).await?;
    if enrollments::record_access(db, tenant, customer.id, product.id, at, origin).await? {
        let data = json!({"productId": product.id, "origin": origin});
        let key = format!("access:{}:{}:first_access", customer.id, product.id);
        emit(
            db,
            tenant,
            source,
            Happened {
                customer_id: Some(customer.id),
                event_type: DomainEventType::FirstAccess,
                dedupe_key: key,
                occurred_at: Some(at),
                data,
            },
        )
        .await?;
    }
    Ok(())
}

pub async fn apply_module_completed<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    event: &ModuleCompleted,
    source: Source,
) -> Result<(), entity::Error> {
    let at = event.occurred_at.unwrap_or_else(Utc::now);
    let person = PersonFacts {
        email: event.user.email.clone(),
        name: event.user.name.clone(),
        phone: event.user.phone.clone(),
        ..PersonFacts::default()
    };
    let customer = customers::upsert_customer(db, tenant, &person, Some(at)).await?;
    let Some(product) = product_of(db, tenant, &event.product).await? else {
        return Err(entity::Error::Invalid(
            "a module completion without a product".into(),
        ));
    };
    let module_key = event
        .module
        .id
        .clone()
        .or_else(|| event.module.name.clone())
        .unwrap_or_default();
    let module = catalog::upsert_module(
        db,
        tenant,
        product.id,
        &module_key,
        event.module.name.as_deref(),
        None,
        None,
    )
    .await?;
    let origin = first_access_origin(db, tenant, customer.id, at).await?;
    // Completing a module proves an access, even if CLUB_FIRST_ACCESS comes later.
    if enrollments::record_access(db, tenant, customer.id, product.id, at, origin).await? {
        let key = format!("access:{}:{}:first_access", customer.id, product.id);
        let data = json!({"productId": product.id, "origin": origin});
        emit(
            db,
            tenant,
            source,
            Happened {
                customer_id: Some(customer.id),
                event_type: DomainEventType::FirstAccess,
                dedupe_key: key,
                occurred_at: Some(at),
                data,
            },
        )
        .await?;
    }
    let lessons = tenant
        .select::<lesson::Entity>()
        .filter(lesson::Column::ModuleId.eq(module.id))
        .all(db)
        .await?;
    for lesson in &lessons {
        enrollments::record_lesson_progress(db, tenant, customer.id, lesson.id, true, Some(at))
            .await?;
    }
    enrollments::refresh_progress(db, tenant, customer.id, product.id).await?;
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
    )
    .await
}
