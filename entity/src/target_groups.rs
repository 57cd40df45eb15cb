//! Target groups name the customers a campaign runs over. Their `source` is a
//! relation from a fixed allowlist and their `filter` uses the same rule
//! format as a campaign's condition node; neither is ever spliced into SQL.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};
use serde_json::Value;
use uuid::Uuid;

use crate::db::{begin_write, new_id};
use crate::entities::target_group_mapping;
use crate::error::{Error, Result};
use crate::tenant::Tenant;

/// A relation a target group may draw customers from, with the fields its
/// filter may test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetSource {
    pub name: &'static str,
    pub fields: &'static [&'static str],
}

pub const TARGET_SOURCES: &[TargetSource] = &[
    TargetSource {
        name: "customers",
        fields: &[
            "email",
            "name",
            "phone",
            "tags",
            "segment",
            "churnRisk",
            "ltvTotal",
            "createdAt",
            "lastActivityAt",
        ],
    },
    TargetSource {
        name: "enrollments",
        fields: &[
            "productId",
            "accessStatus",
            "firstAccessAt",
            "lastAccessAt",
            "lastLessonCompletedAt",
            "progress",
            "startsAt",
            "endsAt",
        ],
    },
    TargetSource {
        name: "transactions",
        fields: &[
            "productId",
            "offerId",
            "status",
            "amount",
            "paymentMethod",
            "purchasedAt",
            "approvedAt",
            "warrantyEndsAt",
        ],
    },
    TargetSource {
        name: "subscriptions",
        fields: &[
            "productId",
            "status",
            "planName",
            "nextChargeAt",
            "cancelledAt",
        ],
    },
];

pub const FILTER_OPS: &[&str] = &[
    "eq",
    "neq",
    "gt",
    "gte",
    "lt",
    "lte",
    "contains",
    "not_contains",
    "in",
    "exists",
    "not_exists",
    "olderThanDays",
    "withinDays",
];

/// Operators on dates relative to now, each taking whole days: `olderThanDays`
/// (at least that many days ago) and `withinDays` (in the last that many
/// days; for a moment that lies ahead, such as `warrantyEndsAt`, in the
/// next). A campaign's condition node gives them the same meaning.
pub const RELATIVE_DATE_OPS: &[&str] = &["olderThanDays", "withinDays"];

/// The most days a relative date may count (about a hundred years).
pub const MAX_RELATIVE_DAYS: u32 = 36_500;

/// Fields whose moments usually lie ahead, so `withinDays` looks forward.
pub const UPCOMING_FIELDS: &[&str] = &["warrantyEndsAt", "endsAt", "nextChargeAt"];

/// Whole days for a relative date: `7` or `"7"`, never negative or fractional.
pub fn relative_days(value: &Value) -> Option<u32> {
    let days = match value {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.trim().parse::<u64>().ok()?,
        _ => return None,
    };
    u32::try_from(days).ok().filter(|d| *d <= MAX_RELATIVE_DAYS)
}

/// Whether a source's field holds a moment (the fields relative dates apply to).
fn is_date_field(field: &str) -> bool {
    field.ends_with("At")
}
const MAX_RULES: usize = 50;

pub fn source(name: &str) -> Result<&'static TargetSource> {
    TARGET_SOURCES
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| {
            let names: Vec<_> = TARGET_SOURCES.iter().map(|s| s.name).collect();
            Error::Invalid(format!("source must be one of {}", names.join(", ")))
        })
}

/// Checks a filter `{"combinator": "and"|"or", "rules": [{"field", "op", "value"}]}`
/// against the fields its source allows. `null` (or absent) means no filter.
pub fn validate_filter(source: &TargetSource, filter: &Value) -> Result<()> {
    if filter.is_null() {
        return Ok(());
    }
    let invalid = |why: String| Error::Invalid(format!("filter: {why}"));
    let object = filter
        .as_object()
        .ok_or_else(|| invalid("must be an object with combinator and rules".into()))?;
    if let Some(unknown) = object
        .keys()
        .find(|k| !["combinator", "rules"].contains(&k.as_str()))
    {
        return Err(invalid(format!("unknown key `{unknown}`")));
    }
    match object.get("combinator").map(Value::as_str) {
        None | Some(Some("and" | "or")) => {}
        _ => return Err(invalid("combinator must be `and` or `or`".into())),
    }
    let rules = object
        .get("rules")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("rules must be a list".into()))?;
    if rules.len() > MAX_RULES {
        return Err(invalid(format!("at most {MAX_RULES} rules")));
    }
    for (index, rule) in rules.iter().enumerate() {
        let field = rule
            .get("field")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !source.fields.contains(&field) {
            return Err(invalid(format!(
                "rule {index}: field must be one of {}",
                source.fields.join(", ")
            )));
        }
        let op = rule.get("op").and_then(Value::as_str).unwrap_or_default();
        if !FILTER_OPS.contains(&op) {
            return Err(invalid(format!(
                "rule {index}: op must be one of {}",
                FILTER_OPS.join(", ")
            )));
        }
        if RELATIVE_DATE_OPS.contains(&op) {
            if !is_date_field(field) {
                return Err(invalid(format!(
                    "rule {index}: `{op}` applies only to dates, not `{field}`"
                )));
            }
            if rule.get("value").and_then(relative_days).is_none() {
                return Err(invalid(format!(
                    "rule {index}: `{op}` needs a whole number of days from 0 to {MAX_RELATIVE_DAYS}"
                )));
            }
            continue;
        }
        let needs_value = !matches!(op, "exists" | "not_exists");
        match rule.get("value") {
            Some(Value::Object(_)) => {
                return Err(invalid(format!(
                    "rule {index}: value must be a scalar or a list"
                )));
            }
            None | Some(Value::Null) if needs_value => {
                return Err(invalid(format!("rule {index}: `{op}` needs a value")));
            }
            Some(Value::Array(_)) if op != "in" => {
                return Err(invalid(format!("rule {index}: only `in` takes a list")));
            }
            _ => {}
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct TargetGroupDraft {
    pub crm_name: String,
    pub source: String,
    pub filter: Option<Value>,
    pub description: Option<String>,
}

/// `None` leaves a field alone; `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct TargetGroupChanges {
    pub crm_name: Option<String>,
    pub source: Option<String>,
    pub filter: Option<Option<Value>>,
    pub description: Option<Option<String>>,
}

fn checked_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "crmName must be 1 to 128 printable characters".into(),
        ));
    }
    Ok(name.to_owned())
}

fn checked_description(description: Option<String>) -> Result<Option<String>> {
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 2000)
    {
        return Err(Error::Invalid(
            "description must be at most 2000 characters".into(),
        ));
    }
    Ok(description)
}

fn conflict_on_name(err: sea_orm::DbErr) -> Error {
    match Error::from(err) {
        Error::Conflict(_) => {
            Error::Conflict("a target group with this crmName already exists".into())
        }
        other => other,
    }
}

pub async fn create(
    db: &DatabaseConnection,
    tenant: Tenant,
    draft: TargetGroupDraft,
    now: DateTime<Utc>,
) -> Result<target_group_mapping::Model> {
    let source = source(&draft.source)?;
    let filter = draft.filter.filter(|f| !f.is_null());
    if let Some(filter) = &filter {
        validate_filter(source, filter)?;
    }
    target_group_mapping::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        crm_name: Set(checked_name(&draft.crm_name)?),
        source: Set(source.name.to_owned()),
        filter: Set(filter),
        description: Set(checked_description(draft.description)?),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(conflict_on_name)
}

pub async fn update(
    db: &DatabaseConnection,
    tenant: Tenant,
    id: Uuid,
    changes: TargetGroupChanges,
    now: DateTime<Utc>,
) -> Result<target_group_mapping::Model> {
    let txn = begin_write(db).await?;
    let current = tenant
        .get::<target_group_mapping::Entity, _>(&txn, id)
        .await?;
    let source = source(changes.source.as_deref().unwrap_or(&current.source))?;
    let filter = match changes.filter {
        Some(new) => new.filter(|f| !f.is_null()),
        None => current.filter.clone(),
    };
    if let Some(filter) = &filter {
        validate_filter(source, filter)?;
    }
    let mut model: target_group_mapping::ActiveModel = current.into();
    if let Some(name) = changes.crm_name {
        model.crm_name = Set(checked_name(&name)?);
    }
    if let Some(description) = changes.description {
        model.description = Set(checked_description(description)?);
    }
    model.source = Set(source.name.to_owned());
    model.filter = Set(filter);
    model.updated_at = Set(now);
    let updated = model.update(&txn).await.map_err(conflict_on_name)?;
    txn.commit().await?;
    Ok(updated)
}

pub async fn delete(
    db: &DatabaseConnection,
    tenant: Tenant,
    id: Uuid,
) -> Result<target_group_mapping::Model> {
    let txn = begin_write(db).await?;
    let current = tenant
        .get::<target_group_mapping::Entity, _>(&txn, id)
        .await?;
    target_group_mapping::Entity::delete_by_id(id)
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_known_sources_and_fields_pass() {
        assert!(source("customers").is_ok());
        assert!(source("pg_catalog.pg_user").is_err());
        assert!(source("customers; DROP TABLE customers").is_err());
        let customers = source("customers").unwrap();
        assert!(validate_filter(customers, &json!(null)).is_ok());
        assert!(
            validate_filter(
                customers,
                &json!({"rules": [{"field": "createdAt", "op": "olderThanDays", "value": 7}]})
            )
            .is_ok()
        );
        assert!(validate_filter(customers, &json!({"combinator": "and", "rules": [{"field": "tags", "op": "contains", "value": "vip"}]})).is_ok());
        assert!(
            validate_filter(
                customers,
                &json!({"rules": [{"field": "segment", "op": "in", "value": ["active", "trial"]}]})
            )
            .is_ok()
        );
        for bad in [
            json!("segment = 'x'"),
            json!({"rules": [{"field": "password", "op": "eq", "value": 1}]}),
            json!({"rules": [{"field": "tags", "op": "LIKE", "value": "%"}]}),
            json!({"rules": [{"field": "tags", "op": "eq"}]}),
            json!({"rules": [{"field": "tags", "op": "eq", "value": {"$gt": 1}}]}),
            json!({"combinator": "xor", "rules": []}),
            json!({"rules": [], "sql": "1=1"}),
            json!({"rules": [{"field": "createdAt", "op": "olderThanDays", "value": -3}]}),
            json!({"rules": [{"field": "createdAt", "op": "withinDays", "value": 2.5}]}),
            json!({"rules": [{"field": "createdAt", "op": "withinDays", "value": "soon"}]}),
            json!({"rules": [{"field": "createdAt", "op": "withinDays"}]}),
            json!({"rules": [{"field": "ltvTotal", "op": "olderThanDays", "value": 3}]}),
        ] {
            assert!(validate_filter(customers, &bad).is_err(), "{bad} accepted");
        }
    }
}
