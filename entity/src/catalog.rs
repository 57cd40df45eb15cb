//! Products, offers and lessons: what a workspace sells and teaches.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, IntoActiveModel,
    QueryFilter, Set,
};
use uuid::Uuid;

use crate::db::{LockForChange, begin_write, insert_ignoring_conflict, insert_new, new_id};
use crate::entities::{lesson, module, offer, product};
use crate::error::{Error, Result};
use crate::facts::{fit, fit_opt};
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
    now: DateTime<Utc>,
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
                monitored: Set(draft.monitored.unwrap_or(true)),
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
    now: DateTime<Utc>,
) -> Result<product::Model> {
    let txn = crate::db::begin_write(db).await?;
    let current = tenant.get::<product::Entity, _>(&txn, id).await?;
    let mut model: product::ActiveModel = current.into();
    model.monitored = Set(monitored);
    model.updated_at = Set(now);
    let product = model.update(&txn).await?;
    if !monitored {
        // Rules act only on buyers of monitored products: what they
        // suggested for this one is withdrawn.
        crate::dispatch::rules::cancel_for_product(&txn, tenant, id, now).await?;
    }
    txn.commit().await?;
    Ok(product)
}

// ---------------------------------------------------------------------------
// The catalogue as sources describe it
// ---------------------------------------------------------------------------

impl ProductFacts {
    fn fitted(&self) -> Self {
        ProductFacts {
            hotmart_id: fit(&self.hotmart_id, 64),
            ucode: fit_opt(&self.ucode, 64),
            name: fit_opt(&self.name, 255),
        }
    }
}

/// A product as Hotmart names it.
#[derive(Debug, Clone, Default)]
pub struct ProductFacts {
    pub hotmart_id: String,
    pub ucode: Option<String>,
    pub name: Option<String>,
}

pub async fn record_product<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    facts: &ProductFacts,
    now: DateTime<Utc>,
) -> Result<product::Model> {
    let facts = &facts.fitted();
    let fresh = product::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        hotmart_product_id: Set(Some(facts.hotmart_id.clone())),
        ucode: Set(facts.ucode.clone()),
        name: Set(facts
            .name
            .clone()
            .unwrap_or_else(|| format!("Hotmart product {}", facts.hotmart_id))),
        description: Set(None),
        cover_url: Set(None),
        monitored: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let find = || {
        tenant
            .select::<product::Entity>()
            .filter(product::Column::HotmartProductId.eq(&facts.hotmart_id))
            .one(db)
    };
    // Products are few and seen on every sale: look before inserting.
    let current = match find().await? {
        Some(current) => current,
        None => {
            let conflict = OnConflict::columns([
                product::Column::WorkspaceId,
                product::Column::HotmartProductId,
            ])
            .do_nothing()
            .to_owned();
            if let Some(created) = insert_new(db, fresh, conflict).await? {
                return Ok(created);
            }
            find().await?.ok_or(Error::NotFound("product"))?
        }
    };
    let placeholder = current.name.starts_with("Hotmart product ");
    let better_name = facts
        .name
        .as_ref()
        .filter(|n| placeholder && !n.trim().is_empty());
    if better_name.is_none() && (current.ucode.is_some() || facts.ucode.is_none()) {
        return Ok(current);
    }
    let mut model = current.clone().into_active_model();
    if let Some(name) = better_name {
        model.name = Set(name.trim().to_owned());
    }
    if current.ucode.is_none() && facts.ucode.is_some() {
        model.ucode = Set(facts.ucode.clone());
    }
    model.updated_at = Set(now);
    Ok(model.update(db).await?)
}

pub async fn upsert_offer<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    product_id: Uuid,
    code: &str,
    price: Option<Decimal>,
    currency: Option<&str>,
    now: DateTime<Utc>,
) -> Result<offer::Model> {
    let code = &fit(code, 64);
    let fresh = offer::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        product_id: Set(product_id),
        hotmart_offer_code: Set(code.to_owned()),
        name: Set(None),
        price: Set(price),
        currency: Set(currency.unwrap_or("BRL").chars().take(3).collect()),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let find = || {
        tenant
            .select::<offer::Entity>()
            .filter(offer::Column::ProductId.eq(product_id))
            .filter(offer::Column::HotmartOfferCode.eq(code))
            .one(db)
    };
    if let Some(current) = find().await? {
        return Ok(current);
    }
    let conflict = OnConflict::columns([offer::Column::ProductId, offer::Column::HotmartOfferCode])
        .do_nothing()
        .to_owned();
    if let Some(created) = insert_new(db, fresh, conflict).await? {
        return Ok(created);
    }
    find().await?.ok_or(Error::NotFound("offer"))
}

/// What Hotmart tells of a module of a course.
#[derive(Debug, Clone, Copy)]
pub struct ModuleFacts<'a> {
    pub hotmart_module_id: &'a str,
    pub name: Option<&'a str>,
    pub position: Option<i32>,
    pub is_extra: Option<bool>,
}

/// A module of a product's course, by Hotmart's module id.
pub async fn upsert_module<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    product_id: Uuid,
    facts: ModuleFacts<'_>,
    now: DateTime<Utc>,
) -> Result<module::Model> {
    let ModuleFacts {
        hotmart_module_id,
        name,
        position,
        is_extra,
    } = facts;
    let hotmart_module_id = &fit(hotmart_module_id, 64);
    let name = name.map(|n| fit(n, 255));
    let name = name.as_deref();
    let fresh = module::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        product_id: Set(product_id),
        hotmart_module_id: Set(Some(hotmart_module_id.to_owned())),
        name: Set(name.unwrap_or(hotmart_module_id).to_owned()),
        position: Set(position.unwrap_or(0)),
        is_extra: Set(is_extra.unwrap_or(false)),
        created_at: Set(now),
        updated_at: Set(now),
    };
    insert_ignoring_conflict(
        db,
        fresh,
        OnConflict::columns([module::Column::ProductId, module::Column::HotmartModuleId])
            .do_nothing()
            .to_owned(),
    )
    .await?;
    let current = tenant
        .select::<module::Entity>()
        .filter(module::Column::ProductId.eq(product_id))
        .filter(module::Column::HotmartModuleId.eq(hotmart_module_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("module"))?;
    let rename = name.is_some_and(|n| n != current.name);
    let reposition = position.is_some_and(|p| p != current.position);
    if !rename && !reposition && is_extra.is_none_or(|x| x == current.is_extra) {
        return Ok(current);
    }
    let mut model = current.into_active_model();
    if let Some(name) = name {
        model.name = Set(name.to_owned());
    }
    if let Some(position) = position {
        model.position = Set(position);
    }
    if let Some(is_extra) = is_extra {
        model.is_extra = Set(is_extra);
    }
    model.updated_at = Set(now);
    Ok(model.update(db).await?)
}

/// A lesson (Club page) as the catalogue sync describes it.
#[derive(Debug, Clone, Default)]
pub struct LessonFacts {
    pub hotmart_page_id: String,
    pub page_name: String,
    pub module_id: Option<Uuid>,
    pub module_name: Option<String>,
    pub is_extra: bool,
    pub position: i32,
}

pub async fn upsert_lesson<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    product_id: Uuid,
    facts: &LessonFacts,
    now: DateTime<Utc>,
) -> Result<lesson::Model> {
    let fresh = lesson::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        product_id: Set(product_id),
        module_id: Set(facts.module_id),
        hotmart_page_id: Set(facts.hotmart_page_id.clone()),
        page_name: Set(facts.page_name.clone()),
        module_name: Set(facts.module_name.clone()),
        is_extra: Set(facts.is_extra),
        position: Set(facts.position),
        release_after_days: Set(None),
        release_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    insert_ignoring_conflict(
        db,
        fresh,
        OnConflict::columns([lesson::Column::ProductId, lesson::Column::HotmartPageId])
            .do_nothing()
            .to_owned(),
    )
    .await?;
    let current = tenant
        .select::<lesson::Entity>()
        .filter(lesson::Column::ProductId.eq(product_id))
        .filter(lesson::Column::HotmartPageId.eq(&facts.hotmart_page_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("lesson"))?;
    let same = current.page_name == facts.page_name
        && current.module_name == facts.module_name
        && current.is_extra == facts.is_extra
        && current.position == facts.position
        && (facts.module_id.is_none() || current.module_id == facts.module_id);
    if same {
        return Ok(current);
    }
    let mut model = current.into_active_model();
    model.page_name = Set(facts.page_name.clone());
    model.module_name = Set(facts.module_name.clone());
    model.is_extra = Set(facts.is_extra);
    model.position = Set(facts.position);
    if facts.module_id.is_some() {
        model.module_id = Set(facts.module_id);
    }
    model.updated_at = Set(now);
    Ok(model.update(db).await?)
}

/// The names of the workspace's products among `ids`, by id; an id the
/// workspace has no product for is absent. One query.
pub async fn product_names<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, String>> {
    if ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    Ok(tenant
        .select::<product::Entity>()
        .filter(product::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect())
}
