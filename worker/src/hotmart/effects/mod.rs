//! Applies Hotmart's facts to the domain. One function per effect, used by
//! both sources: webhooks (through `applier`) and the API sync.
//!
//! Every function is idempotent and order-tolerant: applying the same facts
//! twice changes nothing, and a stale fact arriving late never undoes a newer
//! state (a status moves only when `PurchaseStatus::supersedes` says so). Each
//! state change records a domain event whose dedupe key names the change, so
//! a webhook and a sync reporting the same change record it once.
//!
//! One module per part of the domain: [`purchases`], [`subscriptions`] and
//! the [`members_area`]; what they share (provenance, the catalogue,
//! recording what happened) is here.

mod members_area;
mod purchases;
mod subscriptions;

pub use self::members_area::*;
pub use self::purchases::*;
pub use self::subscriptions::*;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use entity::Tenant;
use entity::catalog::{self, ProductFacts};
use entity::domain_events::{self, NewDomainEvent};
use entity::entities::product;
use sea_orm::ConnectionTrait;
use serde_json::Value;
use uuid::Uuid;
use workflow::DomainEventType;

use entity::hotmart::{Product, Purchase};

/// Where a fact came from, for domain events' provenance.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    Webhook(Uuid),
    Sync,
}

impl Source {
    fn event_id(self) -> Option<Uuid> {
        match self {
            Source::Webhook(id) => Some(id),
            Source::Sync => None,
        }
    }

    /// A key unique to this delivery (for facts that have no natural identity).
    fn delivery_key(self, fallback: &str) -> String {
        match self {
            Source::Webhook(id) => format!("webhook:{id}"),
            Source::Sync => format!("sync:{fallback}"),
        }
    }
}

/// A state change to record as a domain event.
struct Happened {
    customer_id: Option<Uuid>,
    event_type: DomainEventType,
    /// Names the change itself, so every source reporting it records it once.
    dedupe_key: String,
    occurred_at: Option<DateTime<Utc>>,
    data: Value,
}

impl Happened {
    /// The event to record; one that does not say when it happened
    /// happened `now`.
    fn into_event(self, source: Source, now: DateTime<Utc>) -> NewDomainEvent {
        NewDomainEvent {
            customer_id: self.customer_id,
            event_type: self.event_type.as_str(),
            data: self.data,
            occurred_at: self.occurred_at.unwrap_or(now),
            source_event_id: source.event_id(),
            dedupe_key: self.dedupe_key,
        }
    }
}

async fn emit<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    source: Source,
    happened: Happened,
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    domain_events::record(db, tenant, happened.into_event(source, now), now).await?;
    Ok(())
}

async fn product_of<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    product: &Product,
    now: DateTime<Utc>,
) -> Result<Option<product::Model>, entity::Error> {
    let Some(hotmart_id) = &product.hotmart_id else {
        return Ok(None);
    };
    let facts = ProductFacts {
        hotmart_id: hotmart_id.clone(),
        ucode: product.ucode.clone(),
        name: product.name.clone(),
    };
    Ok(Some(
        catalog::record_product(db, tenant, &facts, now).await?,
    ))
}

/// Records the products and offers `purchases` name (listed in arrival
/// order), each product and then each offer in one fixed order, so that
/// transactions applying different customers' purchases side by side find
/// them in place instead of creating them each in its own order — which
/// would leave each waiting for a row the other has just inserted. What the
/// catalogue ends with is what applying the purchases one by one leaves.
pub async fn prepare_catalog<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    purchases: &[&Purchase],
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    let mut products: BTreeMap<&str, ProductFacts> = BTreeMap::new();
    for purchase in purchases {
        let Some(hotmart_id) = &purchase.product.hotmart_id else {
            continue;
        };
        let facts = products
            .entry(hotmart_id.as_str())
            .or_insert_with(|| ProductFacts {
                hotmart_id: hotmart_id.clone(),
                ucode: None,
                name: None,
            });
        // The first sale to tell a name or a ucode is the one that records it.
        facts.name = facts.name.take().or_else(|| purchase.product.name.clone());
        facts.ucode = facts
            .ucode
            .take()
            .or_else(|| purchase.product.ucode.clone());
    }
    let mut recorded: HashMap<&str, product::Model> = HashMap::new();
    for (hotmart_id, facts) in &products {
        recorded.insert(
            hotmart_id,
            catalog::record_product(db, tenant, facts, now).await?,
        );
    }
    let mut offers: BTreeMap<(Uuid, &str), &Purchase> = BTreeMap::new();
    for purchase in purchases {
        let (Some(hotmart_id), Some(code)) = (&purchase.product.hotmart_id, &purchase.offer_code)
        else {
            continue;
        };
        if let Some(product) = recorded.get(hotmart_id.as_str()) {
            offers
                .entry((product.id, code.as_str()))
                .or_insert(purchase);
        }
    }
    for ((product_id, code), purchase) in offers {
        catalog::upsert_offer(
            db,
            tenant,
            product_id,
            code,
            purchase.amount,
            purchase.currency.as_deref(),
            now,
        )
        .await?;
    }
    Ok(())
}
