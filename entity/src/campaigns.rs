//! Campaigns: React Flow documents kept verbatim, plus their lifecycle.
//! Callers check that a document is a graph (the `workflow` crate) first.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde_json::Value;
use uuid::Uuid;

use crate::db::LockForChange;
use crate::db::{begin_write, new_id};
use crate::entities::campaign;
use crate::entities::enums::CampaignStatus;
use crate::error::{Error, Result};
use crate::tenant::Tenant;

#[derive(Debug, Clone, Default)]
pub struct NewCampaign {
    pub name: String,
    pub description: Option<String>,
    pub workflow_data: Option<Value>,
    pub created_by: Option<String>,
}

/// `None` leaves a field alone; `description: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct CampaignChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub workflow_data: Option<Value>,
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
