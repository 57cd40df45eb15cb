//! The workspace-scoped handle. Every tenant-owned table implements
//! [`TenantOwned`]; reads and writes made through a [`Tenant`] are confined to
//! its workspace, and another workspace's rows behave as if they did not exist.

use std::collections::HashMap;

use sea_orm::sea_query::ValueType;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, Iterable, ModelTrait, PrimaryKeyToColumn,
    PrimaryKeyTrait, QueryFilter, Select,
};
use uuid::Uuid;

use crate::entities::*;
use crate::error::{Error, Result};

/// A table whose rows belong to one workspace.
pub trait TenantOwned: EntityTrait {
    /// The name used in "not found" errors.
    const NAME: &'static str;
    fn workspace_column() -> Self::Column;
}

macro_rules! tenant_owned {
    ($($module:ident => $name:literal),* $(,)?) => {
        $(impl TenantOwned for $module::Entity {
            const NAME: &'static str = $name;
            fn workspace_column() -> Self::Column {
                $module::Column::WorkspaceId
            }
        })*
    };
}

tenant_owned! {
    setting => "setting",
    product => "product",
    offer => "offer",
    module => "module",
    lesson => "lesson",
    customer => "customer",
    customer_note => "customer note",
    customer_activity => "customer activity",
    subscription => "subscription",
    transaction => "transaction",
    enrollment => "enrollment",
    lesson_progress => "lesson progress",
    webhook_event => "webhook event",
    message_template => "message template",
    campaign => "campaign",
    campaign_version => "campaign version",
    target_group_mapping => "target group",
    campaign_execution => "campaign execution",
    campaign_recipient => "campaign recipient",
    automation_rule => "automation rule",
    dispatch_item => "dispatch item",
    domain_event => "domain event",
    message => "message",
    tracked_link => "tracked link",
    conversation_tag => "conversation tag",
    analytics_snapshot => "analytics snapshot",
    subscription_change => "subscription change",
    mrr_movement => "MRR movement",
    revenue_day => "revenue day",
    cohort_member => "cohort member",
    cohort_day => "cohort day",
    background_job => "background job",
}

/// The capability to act inside one workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tenant {
    workspace_id: Uuid,
}

impl Tenant {
    pub fn new(workspace_id: Uuid) -> Self {
        Tenant { workspace_id }
    }

    pub fn workspace_id(&self) -> Uuid {
        self.workspace_id
    }

    /// All of this workspace's rows of `E`.
    pub fn select<E: TenantOwned>(&self) -> Select<E> {
        E::find().filter(E::workspace_column().eq(self.workspace_id))
    }

    /// Deletes all of this workspace's rows of `E` (and what cascades from them).
    pub async fn delete_all<E: TenantOwned, C: ConnectionTrait>(&self, db: &C) -> Result<u64> {
        Ok(E::delete_many()
            .filter(E::workspace_column().eq(self.workspace_id))
            .exec(db)
            .await?
            .rows_affected)
    }

    /// One row of `E` by id, or `NotFound` if it is missing or another workspace's.
    pub async fn get<E, C>(&self, db: &C, id: Uuid) -> Result<E::Model>
    where
        E: TenantOwned,
        E::PrimaryKey: PrimaryKeyTrait<ValueType = Uuid>,
        C: ConnectionTrait,
    {
        E::find_by_id(id)
            .filter(E::workspace_column().eq(self.workspace_id))
            .one(db)
            .await?
            .ok_or(Error::NotFound(E::NAME))
    }

    /// This workspace's rows of `E` with these ids, by id, in one statement
    /// asking for each id once (a page of a thousand buyers names a course
    /// or two); ids missing or another workspace's are left out.
    pub async fn by_ids<E, C>(&self, db: &C, ids: &[Uuid]) -> Result<HashMap<Uuid, E::Model>>
    where
        E: TenantOwned,
        E::PrimaryKey: PrimaryKeyTrait<ValueType = Uuid>,
        C: ConnectionTrait,
    {
        let Some(key) = E::PrimaryKey::iter()
            .next()
            .map(PrimaryKeyToColumn::into_column)
        else {
            return Ok(HashMap::new());
        };
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(self
            .select::<E>()
            .filter(key.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .filter_map(|row| Some((<Uuid as ValueType>::try_from(row.get(key)).ok()?, row)))
            .collect())
    }
}
