//! Loaders for every relation: a page of customers with their transactions
//! costs two statements, whatever the page size and whatever the load.
//!
//! A connection knows its page before any node resolves, so it loads each
//! relation the query selects for the whole page at once ([`prefetch`]) and
//! stashes the rows; each node's resolver then takes its own ([`load`]).
//! Relations reached any other way (one `customer(id)`, a mutation's
//! answer) go through the DataLoader, which batches what arrives within its
//! window.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};
use entity::{
    automation_rule, campaign, campaign_recipient, customer, customer_activity, customer_note,
    dispatch_item, enrollment, lesson, message, message_template, offer, product, subscription,
    transaction,
};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, Order, QueryFilter, QueryOrder, Select,
};

use super::columns::Reads;
use super::connection::Selected;
use super::scope::db;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// Loads related rows in batches. A new one is made per request, so nothing
/// is kept across requests (or callers).
pub struct RelationLoader {
    db: DatabaseConnection,
    /// Rows a connection loaded for its page, by key type, each taken once
    /// by the node it belongs to.
    prefetched: Mutex<HashMap<TypeId, Box<dyn Any + Send>>>,
}

impl RelationLoader {
    pub fn for_request(db: DatabaseConnection) -> DataLoader<RelationLoader> {
        DataLoader::new(
            RelationLoader {
                db,
                prefetched: Mutex::default(),
            },
            tokio::spawn,
        )
    }

    fn stash<K, V>(&self, rows: HashMap<K, V>)
    where
        K: Eq + Hash + Send + 'static,
        V: Send + 'static,
    {
        let mut prefetched = self.prefetched.lock().unwrap_or_else(|p| p.into_inner());
        let slot = prefetched
            .entry(TypeId::of::<K>())
            .or_insert_with(|| Box::new(HashMap::<K, V>::new()));
        if let Some(stashed) = slot.downcast_mut::<HashMap<K, V>>() {
            stashed.extend(rows);
        }
    }

    /// The prefetched value of `key`: taken out when it belongs to one node
    /// (a customer's transactions), copied when nodes share it (the product
    /// many transactions point at).
    fn take<K, V>(&self, key: &K) -> Option<V>
    where
        K: Relation,
        V: Clone + 'static,
    {
        let mut prefetched = self.prefetched.lock().unwrap_or_else(|p| p.into_inner());
        let stashed = prefetched
            .get_mut(&TypeId::of::<K>())?
            .downcast_mut::<HashMap<K, V>>()?;
        if K::SHARED {
            stashed.get(key).cloned()
        } else {
            stashed.remove(key)
        }
    }
}

fn loader<'a>(ctx: &'a Context<'_>) -> ApiResult<&'a DataLoader<RelationLoader>> {
    ctx.data::<DataLoader<RelationLoader>>().map_err(|_| {
        ApiError::Internal(std::sync::Arc::new(DbErr::Custom(
            "the request carries no relation loader".into(),
        )))
    })
}

/// The value for `key`: the one its page prefetched, or else loaded in a
/// batch with every other key asked for within the loader's window.
pub async fn load<K: Relation>(ctx: &Context<'_>, key: K) -> ApiResult<Option<K::Value>> {
    let loader = loader(ctx)?;
    if let Some(value) = loader.loader().take(&key) {
        return Ok(Some(value));
    }
    // Boxed: a node's field future stays small on the prefetched path.
    Box::pin(loader.load_one(key))
        .await
        .map_err(|e| ApiError::Internal(e))
}

/// Loads the rows of every key of a page in one statement, now, with the
/// columns `node` (the relation's field) selects, and keeps them for the
/// nodes' [`load`]; `inspect` sees them first (to gather the keys of the
/// relations' own relations). Loads nothing, and answers `R::default()`,
/// when the query does not select the relation.
pub async fn prefetch<K: Relation, R: Default>(
    ctx: &Context<'_>,
    node: Selected<'_>,
    keys: impl IntoIterator<Item = K>,
    inspect: impl FnOnce(&HashMap<K, K::Value>) -> R,
) -> ApiResult<R> {
    if !node.exists() {
        return Ok(R::default());
    }
    let mut keys: Vec<K> = keys.into_iter().collect();
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    keys.retain(|k| seen.insert(*k));
    if keys.is_empty() {
        return Ok(R::default());
    }
    let rows = Box::pin(K::Entity::read(
        db(ctx),
        K::select(&keys),
        &node,
        &K::key_columns(),
    ))
    .await?;
    let rows = K::group(&keys, rows);
    let inspected = inspect(&rows);
    loader(ctx)?.loader().stash(rows);
    Ok(inspected)
}

/// A relation nodes resolve: which rows its keys select, and how the rows
/// group back under the keys.
pub trait Relation: Copy + Eq + Hash + Send + Sync + 'static {
    type Entity: Reads<Model: Send + Sync>;
    type Value: Clone + Send + Sync + 'static;
    /// Whether several nodes may ask for the same key (a row by id), or
    /// each key is one node's (its children).
    const SHARED: bool;
    /// The columns [`Relation::group`] reads, whatever the query selects.
    fn key_columns() -> Vec<<Self::Entity as EntityTrait>::Column>;
    fn select(keys: &[Self]) -> Select<Self::Entity>;
    fn group(keys: &[Self], rows: Vec<Row<Self>>) -> HashMap<Self, Self::Value>;
}

type Row<K> = <<K as Relation>::Entity as EntityTrait>::Model;

impl<K: Relation> Loader<K> for RelationLoader {
    type Value = K::Value;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[K]) -> Result<HashMap<K, K::Value>, Self::Error> {
        let rows = K::select(keys).all(&self.db).await.map_err(Arc::new)?;
        Ok(K::group(keys, rows))
    }
}

/// Rows of `$module` whose `$parent_field` is one of the keys, in the given order.
macro_rules! children_of {
    ($key:ident, $module:ident, $parent_column:ident, $parent_field:ident, $order_column:ident $direction:ident) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $key(pub Uuid);

        impl Relation for $key {
            type Entity = $module::Entity;
            type Value = Vec<$module::Model>;
            const SHARED: bool = false;

            fn key_columns() -> Vec<$module::Column> {
                vec![$module::Column::$parent_column]
            }

            fn select(keys: &[Self]) -> Select<$module::Entity> {
                $module::Entity::find()
                    .filter($module::Column::$parent_column.is_in(keys.iter().map(|k| k.0)))
                    .order_by($module::Column::$order_column, Order::$direction)
                    .order_by($module::Column::Id, Order::$direction)
            }

            fn group(keys: &[Self], rows: Vec<$module::Model>) -> HashMap<Self, Self::Value> {
                let mut grouped: HashMap<Self, Self::Value> =
                    keys.iter().map(|k| (*k, Vec::new())).collect();
                for row in rows {
                    grouped
                        .entry($key(row.$parent_field))
                        .or_default()
                        .push(row);
                }
                grouped
            }
        }
    };
}

/// Single rows of `$module` by primary key.
macro_rules! by_id {
    ($key:ident, $module:ident) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $key(pub Uuid);

        impl Relation for $key {
            type Entity = $module::Entity;
            type Value = $module::Model;
            const SHARED: bool = true;

            fn key_columns() -> Vec<$module::Column> {
                Vec::new()
            }

            fn select(keys: &[Self]) -> Select<$module::Entity> {
                $module::Entity::find().filter($module::Column::Id.is_in(keys.iter().map(|k| k.0)))
            }

            fn group(_keys: &[Self], rows: Vec<$module::Model>) -> HashMap<Self, Self::Value> {
                rows.into_iter().map(|row| ($key(row.id), row)).collect()
            }
        }
    };
}

children_of!(TransactionsOf, transaction, CustomerId, customer_id, CreatedAt Desc);
children_of!(SubscriptionsOf, subscription, CustomerId, customer_id, CreatedAt Desc);
children_of!(EnrollmentsOf, enrollment, CustomerId, customer_id, CreatedAt Desc);
children_of!(ActivitiesOf, customer_activity, CustomerId, customer_id, OccurredAt Desc);
children_of!(NotesOf, customer_note, CustomerId, customer_id, CreatedAt Desc);
children_of!(OffersOf, offer, ProductId, product_id, CreatedAt Desc);
children_of!(LessonsOf, lesson, ProductId, product_id, Position Asc);
by_id!(CustomerById, customer);
by_id!(ProductById, product);
by_id!(MessageTemplateById, message_template);
by_id!(DispatchItemById, dispatch_item);
by_id!(AutomationRuleById, automation_rule);
by_id!(CampaignRecipientById, campaign_recipient);
by_id!(CampaignById, campaign);

/// The message a dispatch item's send made (at most one per item).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageOfItem(pub Uuid);

impl Relation for MessageOfItem {
    type Entity = message::Entity;
    type Value = message::Model;
    const SHARED: bool = false;

    fn key_columns() -> Vec<message::Column> {
        vec![message::Column::DispatchItemId]
    }

    fn select(keys: &[Self]) -> Select<message::Entity> {
        message::Entity::find()
            .filter(message::Column::DispatchItemId.is_in(keys.iter().map(|k| k.0)))
    }

    fn group(_keys: &[Self], rows: Vec<message::Model>) -> HashMap<Self, Self::Value> {
        rows.into_iter()
            .filter_map(|row| Some((MessageOfItem(row.dispatch_item_id?), row)))
            .collect()
    }
}

/// A customer's latest message, whatever sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LastMessageOf(pub Uuid);

impl Relation for LastMessageOf {
    type Entity = message::Entity;
    type Value = message::Model;
    const SHARED: bool = true;

    fn key_columns() -> Vec<message::Column> {
        vec![message::Column::CustomerId, message::Column::UpdatedAt]
    }

    fn select(keys: &[Self]) -> Select<message::Entity> {
        message::Entity::find()
            .filter(message::Column::CustomerId.is_in(keys.iter().map(|k| k.0)))
            .order_by(message::Column::UpdatedAt, Order::Desc)
            .order_by(message::Column::Id, Order::Desc)
    }

    fn group(_keys: &[Self], rows: Vec<message::Model>) -> HashMap<Self, Self::Value> {
        let mut latest = HashMap::new();
        for row in rows {
            latest.entry(LastMessageOf(row.customer_id)).or_insert(row);
        }
        latest
    }
}
