//! DataLoaders for every relation: a page of customers with their
//! transactions costs two queries, whatever the page size.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};
use entity::{
    customer, customer_activity, customer_note, enrollment, lesson, offer, product, subscription,
    transaction,
};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, Order, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// Loads related rows in batches. A new one is made per request, so nothing
/// is cached across requests (or callers).
pub struct RelationLoader {
    db: DatabaseConnection,
}

impl RelationLoader {
    pub fn for_request(db: DatabaseConnection) -> DataLoader<RelationLoader> {
        DataLoader::new(RelationLoader { db }, tokio::spawn)
    }
}

fn loader<'a>(ctx: &'a Context<'_>) -> ApiResult<&'a DataLoader<RelationLoader>> {
    ctx.data::<DataLoader<RelationLoader>>().map_err(|_| {
        ApiError::Internal(std::sync::Arc::new(DbErr::Custom(
            "the request carries no relation loader".into(),
        )))
    })
}

/// Loads the value for `key`, batched with every other key asked for in the same tick.
pub async fn load<K>(
    ctx: &Context<'_>,
    key: K,
) -> ApiResult<Option<<RelationLoader as Loader<K>>::Value>>
where
    K: Send + Sync + Clone + Eq + std::hash::Hash + 'static,
    RelationLoader: Loader<K, Error = Arc<DbErr>>,
{
    loader(ctx)?
        .load_one(key)
        .await
        .map_err(|e| ApiError::Internal(e))
}

/// Rows of `$module` whose `$parent_field` is one of the keys, in the given order.
macro_rules! children_of {
    ($key:ident, $module:ident, $parent_column:ident, $parent_field:ident, $order_column:ident $direction:ident) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $key(pub Uuid);

        impl Loader<$key> for RelationLoader {
            type Value = Vec<$module::Model>;
            type Error = Arc<DbErr>;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, Self::Error> {
                let rows = $module::Entity::find()
                    .filter($module::Column::$parent_column.is_in(keys.iter().map(|k| k.0)))
                    .order_by($module::Column::$order_column, Order::$direction)
                    .order_by($module::Column::Id, Order::$direction)
                    .all(&self.db)
                    .await
                    .map_err(Arc::new)?;
                let mut grouped: HashMap<$key, Self::Value> =
                    keys.iter().map(|k| (*k, Vec::new())).collect();
                for row in rows {
                    grouped
                        .entry($key(row.$parent_field))
                        .or_default()
                        .push(row);
                }
                Ok(grouped)
            }
        }
    };
}

/// Single rows of `$module` by primary key.
macro_rules! by_id {
    ($key:ident, $module:ident) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $key(pub Uuid);

        impl Loader<$key> for RelationLoader {
            type Value = $module::Model;
            type Error = Arc<DbErr>;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, Self::Error> {
                let rows = $module::Entity::find()
                    .filter($module::Column::Id.is_in(keys.iter().map(|k| k.0)))
                    .all(&self.db)
                    .await
                    .map_err(Arc::new)?;
                Ok(rows.into_iter().map(|row| ($key(row.id), row)).collect())
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
