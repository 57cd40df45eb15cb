use async_graphql::connection::Connection;
use async_graphql::{ComplexObject, Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::catalog::{self, ProductDraft};
use entity::{lesson, offer, product};
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, QueryFilter};
use uuid::Uuid;

use super::connection::{Prefetch, Selected, Totals, cost, paginate};
use super::loaders::{LessonsOf, OffersOf, load, prefetch};
use super::scope::{Access, db, now, parse_id, tenant};
use crate::error::ApiResult;

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Product {
    pub id: ID,
    #[graphql(skip)]
    pub uuid: Uuid,
    pub hotmart_product_id: Option<String>,
    pub ucode: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub cover_url: Option<String>,
    /// Whether jornada's automations look after this product's buyers.
    pub monitored: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<product::Model> for Product {
    fn from(m: product::Model) -> Self {
        Product {
            id: m.id.into(),
            uuid: m.id,
            hotmart_product_id: m.hotmart_product_id,
            ucode: m.ucode,
            name: m.name,
            description: m.description,
            cover_url: m.cover_url,
            monitored: m.monitored,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl Prefetch for Product {
    async fn prefetch(ctx: &Context<'_>, node: &Selected<'_>, page: &[Self]) -> ApiResult<()> {
        let ids = || page.iter().map(|p| p.uuid);
        futures::try_join!(
            prefetch(ctx, node.field("offers"), ids().map(OffersOf), |_| ()),
            prefetch(ctx, node.field("lessons"), ids().map(LessonsOf), |_| ()),
        )?;
        Ok(())
    }
}

#[ComplexObject]
impl Product {
    async fn offers(&self, ctx: &Context<'_>) -> ApiResult<Vec<Offer>> {
        Ok(load(ctx, OffersOf(self.uuid))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Lessons in course order.
    async fn lessons(&self, ctx: &Context<'_>) -> ApiResult<Vec<Lesson>> {
        Ok(load(ctx, LessonsOf(self.uuid))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

#[derive(SimpleObject)]
pub struct Offer {
    pub id: ID,
    pub product_id: ID,
    pub hotmart_offer_code: String,
    pub name: Option<String>,
    pub price: Option<Decimal>,
    pub currency: String,
    pub active: bool,
}

impl From<offer::Model> for Offer {
    fn from(m: offer::Model) -> Self {
        Offer {
            id: m.id.into(),
            product_id: m.product_id.into(),
            hotmart_offer_code: m.hotmart_offer_code,
            name: m.name,
            price: m.price.map(entity::money::amount),
            currency: m.currency,
            active: m.active,
        }
    }
}

#[derive(SimpleObject)]
pub struct Lesson {
    pub id: ID,
    pub product_id: ID,
    pub module_id: Option<ID>,
    pub hotmart_page_id: String,
    pub page_name: String,
    pub module_name: Option<String>,
    pub is_extra: bool,
    pub position: i32,
    pub release_after_days: Option<i32>,
    pub release_at: Option<DateTime<Utc>>,
}

impl From<lesson::Model> for Lesson {
    fn from(m: lesson::Model) -> Self {
        Lesson {
            id: m.id.into(),
            product_id: m.product_id.into(),
            module_id: m.module_id.map(Into::into),
            hotmart_page_id: m.hotmart_page_id,
            page_name: m.page_name,
            module_name: m.module_name,
            is_extra: m.is_extra,
            position: m.position,
            release_after_days: m.release_after_days,
            release_at: m.release_at,
        }
    }
}

#[derive(InputObject, Default)]
pub struct ProductFilter {
    pub monitored: Option<bool>,
    pub hotmart_product_id: Option<String>,
}

/// With `id`, updates that product; else with `hotmartProductId`, updates the
/// product with that Hotmart id or creates it; else creates a product.
#[derive(InputObject)]
pub struct UpsertProductInput {
    pub id: Option<ID>,
    pub hotmart_product_id: Option<String>,
    pub ucode: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub cover_url: Option<String>,
    pub monitored: Option<bool>,
}

#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    #[graphql(guard = "Access::Read", complexity = "cost(first, child_complexity)")]
    async fn products(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        filter: Option<ProductFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, Product, Totals>> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        let filter = filter.unwrap_or_default();
        let mut select = tenant.select::<product::Entity>();
        if let Some(monitored) = filter.monitored {
            select = select.filter(product::Column::Monitored.eq(monitored));
        }
        if let Some(hotmart_id) = filter.hotmart_product_id {
            select = select.filter(product::Column::HotmartProductId.eq(hotmart_id));
        }
        paginate(ctx, select, product::Column::Id, first, after, |m| {
            Ok((m.id, m.into()))
        })
        .await
    }

    #[graphql(guard = "Access::Read")]
    async fn product(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
    ) -> ApiResult<Product> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Read).await?;
        Ok(tenant
            .get::<product::Entity, _>(db(ctx), parse_id(&id, "id")?)
            .await?
            .into())
    }
}

#[derive(Default)]
pub struct CatalogMutation;

#[Object]
impl CatalogMutation {
    #[graphql(guard = "Access::Write")]
    async fn upsert_product(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        input: UpsertProductInput,
    ) -> ApiResult<Product> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        let draft = ProductDraft {
            id: input.id.as_ref().map(|id| parse_id(id, "id")).transpose()?,
            hotmart_product_id: input.hotmart_product_id,
            ucode: input.ucode,
            name: input.name,
            description: input.description,
            cover_url: input.cover_url,
            monitored: input.monitored,
        };
        Ok(catalog::upsert_product(db(ctx), tenant, draft, now(ctx))
            .await?
            .into())
    }

    /// Turns jornada's automations on or off for a product's buyers.
    #[graphql(guard = "Access::Write")]
    async fn set_product_monitored(
        &self,
        ctx: &Context<'_>,
        workspace_id: Option<ID>,
        id: ID,
        monitored: bool,
    ) -> ApiResult<Product> {
        let tenant = tenant(ctx, workspace_id.as_ref(), Access::Write).await?;
        Ok(
            catalog::set_monitored(db(ctx), tenant, parse_id(&id, "id")?, monitored, now(ctx))
                .await?
                .into(),
        )
    }
}
