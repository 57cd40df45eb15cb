//! Campaigns: React Flow documents kept verbatim, plus their lifecycle.
//! Callers check that a document is a graph (the `workflow` crate) first.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::db::LockForChange;
use crate::db::{begin_write, new_id};
use crate::entities::enums::CampaignStatus;
use crate::entities::{campaign, product};
use crate::error::{Error, Result};
use crate::tenant::Tenant;

#[derive(Debug, Clone, Default)]
pub struct NewCampaign {
    pub name: String,
    pub description: Option<String>,
    pub workflow_data: Option<Value>,
    pub created_by: Option<String>,
    pub goal: Option<CampaignGoal>,
}

/// `None` leaves a field alone; `description: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct CampaignChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub workflow_data: Option<Value>,
    /// `Some(None)` removes the goal.
    pub goal: Option<Option<CampaignGoal>>,
}

/// What a recipient must do to count as converted: the domain event
/// `event` (e.g. `purchase_approved`), of `product_id` when set, within
/// `within_days` after the campaign messaged them (or, never messaged,
/// after they entered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignGoal {
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<Uuid>,
    pub within_days: u32,
}

/// The longest a goal may wait for its event.
pub const MAX_GOAL_DAYS: u32 = 365;

impl CampaignGoal {
    /// The goal a campaign stored, if it has one.
    pub fn of(model: &campaign::Model) -> Option<Self> {
        serde_json::from_value(model.goal.clone()?).ok()
    }

    /// Whether an event of `event_type`, about `product_id`, at `at` reaches
    /// the goal of a recipient messaged (or entered) at `since`.
    pub fn reached_by(
        &self,
        event_type: &str,
        product_id: Option<Uuid>,
        at: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> bool {
        event_type == self.event
            && (self.product_id.is_none() || self.product_id == product_id)
            && at >= since
            && at <= since + chrono::Duration::days(i64::from(self.within_days))
    }
}

/// A goal ready to store: its days in range and its product one of the
/// workspace's. The caller checks the event against the catalogue.
async fn checked_goal<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    goal: Option<CampaignGoal>,
) -> Result<Option<Value>> {
    let Some(goal) = goal else {
        return Ok(None);
    };
    if goal.within_days == 0 || goal.within_days > MAX_GOAL_DAYS {
        return Err(Error::Invalid(format!(
            "goal.withinDays must be 1 to {MAX_GOAL_DAYS}"
        )));
    }
    if let Some(product_id) = goal.product_id {
        tenant
            .get::<product::Entity, _>(db, product_id)
            .await
            .map_err(|e| match e {
                Error::NotFound(_) => Error::Invalid("goal.productId: no such product".into()),
                other => other,
            })?;
    }
    Ok(Some(
        serde_json::to_value(goal).map_err(|e| Error::Invalid(format!("goal: {e}")))?,
    ))
}

fn checked_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "name must be 1 to 200 printable characters".into(),
        ));
    }
    Ok(name.to_owned())
}

fn checked_description(description: Option<String>) -> Result<Option<String>> {
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 5000)
    {
        return Err(Error::Invalid(
            "description must be at most 5000 characters".into(),
        ));
    }
    Ok(description)
}

/// The stored text of a React Flow document. Kept as text, not JSONB, so
/// key order and every unknown field come back exactly as the builder sent them.
fn workflow_text(document: &Value) -> Result<String> {
    serde_json::to_string(document).map_err(|e| Error::Invalid(format!("workflowData: {e}")))
}

/// The campaign's React Flow document as it was saved.
pub fn workflow_document(model: &campaign::Model) -> Result<Value> {
    serde_json::from_str(&model.workflow_data)
        .map_err(|e| Error::Database(sea_orm::DbErr::Json(e.to_string())))
}

pub async fn create(
    db: &DatabaseConnection,
    tenant: Tenant,
    new: NewCampaign,
    now: DateTime<Utc>,
) -> Result<campaign::Model> {
    let document = new
        .workflow_data
        .unwrap_or_else(|| serde_json::json!({"nodes": [], "edges": []}));
    let goal = checked_goal(db, tenant, new.goal).await?;
    Ok(campaign::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        name: Set(checked_name(&new.name)?),
        description: Set(checked_description(new.description)?),
        status: Set(CampaignStatus::Draft),
        workflow_data: Set(workflow_text(&document)?),
        created_by: Set(new.created_by),
        scheduled_at: Set(None),
        started_at: Set(None),
        completed_at: Set(None),
        schedule_checked_until: Set(None),
        goal: Set(goal),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

pub async fn update(
    db: &DatabaseConnection,
    tenant: Tenant,
    id: Uuid,
    changes: CampaignChanges,
    now: DateTime<Utc>,
) -> Result<campaign::Model> {
    let txn = begin_write(db).await?;
    let current = tenant
        .select::<campaign::Entity>()
        .filter(campaign::Column::Id.eq(id))
        .lock_for_change()
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("campaign"))?;
    let mut model: campaign::ActiveModel = current.into();
    if let Some(name) = changes.name {
        model.name = Set(checked_name(&name)?);
    }
    if let Some(description) = changes.description {
        model.description = Set(checked_description(description)?);
    }
    if let Some(document) = changes.workflow_data {
        model.workflow_data = Set(workflow_text(&document)?);
    }
    if let Some(goal) = changes.goal {
        model.goal = Set(checked_goal(&txn, tenant, goal).await?);
    }
    model.updated_at = Set(now);
    let updated = model.update(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Deletes a campaign that is not running; an active one must be paused first.
pub async fn delete(db: &DatabaseConnection, tenant: Tenant, id: Uuid) -> Result<campaign::Model> {
    let txn = begin_write(db).await?;
    let current = tenant.get::<campaign::Entity, _>(&txn, id).await?;
    if current.status == CampaignStatus::Active {
        return Err(Error::Conflict(
            "an active campaign cannot be deleted; pause it first".into(),
        ));
    }
    campaign::Entity::delete_by_id(id).exec(&txn).await?;
    txn.commit().await?;
    Ok(current)
}
