//! Each subscription's MRR movements, kept derived from its history.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::movements::movements_of;
use super::periods::local_day;
use crate::db::new_id;
use crate::entities::{mrr_movement, subscription, subscription_change};
use crate::error::Result;
use crate::money;
use crate::tenant::Tenant;

/// Subscriptions derived again per statement.
const CHUNK: usize = 500;

/// What tells two movements apart.
type Seen = (
    chrono::NaiveDate,
    DateTime<Utc>,
    String,
    String,
    rust_decimal::Decimal,
    i32,
);

fn seen(m: &mrr_movement::Model) -> Seen {
    (
        m.day,
        m.occurred_at,
        m.kind.clone(),
        m.currency.clone(),
        money::amount(m.mrr_delta),
        m.subscribers_delta,
    )
}

/// The subscriptions whose history was recorded after `since` (every one
/// of the workspace's when `None`).
pub(super) async fn changed_since<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<Uuid>> {
    Ok(match since {
        None => {
            tenant
                .select::<subscription::Entity>()
                .select_only()
                .column(subscription::Column::Id)
                .into_tuple()
                .all(db)
                .await?
        }
        Some(since) => {
            tenant
                .select::<subscription_change::Entity>()
                .select_only()
                .column(subscription_change::Column::SubscriptionId)
                .distinct()
                .filter(subscription_change::Column::RecordedAt.gt(since))
                .into_tuple()
                .all(db)
                .await?
        }
    })
}

/// Derives the movements of `subscriptions` again and rewrites those that
/// moved; answers how many subscriptions' did.
pub(super) async fn refresh_movements<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    tz: Tz,
    grace: Duration,
    subscriptions: &[Uuid],
) -> Result<usize> {
    let mut moved = 0;
    for chunk in subscriptions.chunks(CHUNK) {
        let products: HashMap<Uuid, Option<Uuid>> = tenant
            .select::<subscription::Entity>()
            .select_only()
            .column(subscription::Column::Id)
            .column(subscription::Column::ProductId)
            .filter(subscription::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple::<(Uuid, Option<Uuid>)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        let mut histories: HashMap<Uuid, Vec<subscription_change::Model>> = HashMap::new();
        for change in tenant
            .select::<subscription_change::Entity>()
            .filter(subscription_change::Column::SubscriptionId.is_in(chunk.iter().copied()))
            .order_by_asc(subscription_change::Column::EffectiveAt)
            .all(db)
            .await?
        {
            histories
                .entry(change.subscription_id)
                .or_default()
                .push(change);
        }
        let mut stored: HashMap<Uuid, Vec<Seen>> = HashMap::new();
        for movement in tenant
            .select::<mrr_movement::Entity>()
            .filter(mrr_movement::Column::SubscriptionId.is_in(chunk.iter().copied()))
            .order_by_asc(mrr_movement::Column::OccurredAt)
            .order_by_asc(mrr_movement::Column::Id)
            .all(db)
            .await?
        {
            stored
                .entry(movement.subscription_id)
                .or_default()
                .push(seen(&movement));
        }
        let mut rewritten = Vec::new();
        let mut rows = Vec::new();
        for id in chunk {
            // A subscription gone since (its customer erased) has nothing to derive.
            let Some(product_id) = products.get(id) else {
                continue;
            };
            let derived: Vec<mrr_movement::Model> = histories
                .get(id)
                .map(|history| movements_of(history, grace))
                .unwrap_or_default()
                .into_iter()
                .map(|m| mrr_movement::Model {
                    id: new_id(),
                    workspace_id: tenant.workspace_id(),
                    subscription_id: *id,
                    product_id: *product_id,
                    day: local_day(m.occurred_at, tz),
                    occurred_at: m.occurred_at,
                    kind: m.kind.as_str().to_owned(),
                    currency: m.currency,
                    mrr_delta: m.mrr_delta,
                    subscribers_delta: m.subscribers_delta,
                })
                .collect();
            let was = stored.remove(id).unwrap_or_default();
            let now: Vec<Seen> = derived.iter().map(seen).collect();
            if was == now {
                continue;
            }
            rewritten.push(*id);
            rows.extend(derived.into_iter().map(mrr_movement::ActiveModel::from));
        }
        if rewritten.is_empty() {
            continue;
        }
        moved += rewritten.len();
        mrr_movement::Entity::delete_many()
            .filter(mrr_movement::Column::SubscriptionId.is_in(rewritten))
            .exec(db)
            .await?;
        for rows in rows.chunks(CHUNK) {
            mrr_movement::Entity::insert_many(rows.to_vec())
                .exec(db)
                .await?;
        }
    }
    Ok(moved)
}
