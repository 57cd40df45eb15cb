//! Products, offers and lessons: what a workspace sells and teaches.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, QueryFilter, Set};
use uuid::Uuid;

use crate::db::LockForChange;
use crate::db::{begin_write, new_id};
use crate::entities::product;
use crate::error::{Error, Result};
use crate::tenant::Tenant;

/// A product as the API or the Hotmart sync describes it. `None` fields are
/// left as they are on an existing product.
#[derive(Debug, Clone, Default)]
pub struct ProductDraft {
    pub id: Option<Uuid>,
    pub hotmart_product_id: Option<String>,
    pub ucode: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub cover_url: Option<String>,
    pub monitored: Option<bool>,
}

fn check(draft: &ProductDraft) -> Result<()> {
    let name = draft.name.trim();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "name must be 1 to 255 printable characters".into(),
        ));
    }
    if let Some(id) = &draft.hotmart_product_id
        && (id.is_empty()
            || id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        return Err(Error::Invalid(
            "hotmartProductId must be 1 to 64 letters, digits, - or _".into(),
        ));
    }
    if draft.ucode.as_ref().is_some_and(|u| u.len() > 64) {
        return Err(Error::Invalid("ucode must be at most 64 characters".into()));
    }
    if let Some(url) = &draft.cover_url
        && (url.len() > 2048 || !(url.starts_with("https://") || url.starts_with("http://")))
    {
        return Err(Error::Invalid("coverUrl must be an http(s) URL".into()));
    }
    Ok(())
}

/// Updates the product named by `id`, else the one with the same Hotmart id,
/// else creates one.
pub async fn upsert_product(
    db: &DatabaseConnection,
    tenant: Tenant,
    draft: ProductDraft,
) -> Result<product::Model> {
    check(&draft)?;
    let txn = begin_write(db).await?;
    let existing = match (draft.id, &draft.hotmart_product_id) {
        (Some(id), _) => Some(tenant.get::<product::Entity, _>(&txn, id).await?),
        (None, Some(hotmart_id)) => {
            tenant
                .select::<product::Entity>()
                .filter(product::Column::HotmartProductId.eq(hotmart_id.as_str()))
                .lock_for_change()
                .one(&txn)
                .await?
        }
        (None, None) => None,
    };
    let now = Utc::now();
    let saved = match existing {
        Some(current) => {
            let mut model: product::ActiveModel = current.into();
            model.name = Set(draft.name.trim().to_owned());
            if draft.hotmart_product_id.is_some() {
                model.hotmart_product_id = Set(draft.hotmart_product_id);
            }
            if draft.ucode.is_some() {
                model.ucode = Set(draft.ucode);
            }
            if draft.description.is_some() {
                model.description = Set(draft.description);
            }
            if draft.cover_url.is_some() {
                model.cover_url = Set(draft.cover_url);
            }
            if let Some(monitored) = draft.monitored {
                model.monitored = Set(monitored);
            }
            model.updated_at = Set(now);
            model.update(&txn).await?
        }
        None => {
            product::ActiveModel {
                id: Set(new_id()),
                workspace_id: Set(tenant.workspace_id()),
                hotmart_product_id: Set(draft.hotmart_product_id),
                ucode: Set(draft.ucode),
                name: Set(draft.name.trim().to_owned()),
                description: Set(draft.description),
                cover_url: Set(draft.cover_url),
                monitored: Set(draft.monitored.unwrap_or(false)),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?
        }
    };
    txn.commit().await?;
    Ok(saved)
}

pub async fn set_monitored(
    db: &DatabaseConnection,
    tenant: Tenant,
    id: Uuid,
    monitored: bool,
) -> Result<product::Model> {
    let current = tenant.get::<product::Entity, _>(db, id).await?;
    let mut model: product::ActiveModel = current.into();
    model.monitored = Set(monitored);
    model.updated_at = Set(Utc::now());
    Ok(model.update(db).await?)
}
