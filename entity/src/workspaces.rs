//! Workspaces: one per producer served by the platform.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use crate::db::new_id;
use crate::entities::{customer, domain_event, tracked_link, webhook_event, workspace};
use crate::error::{Error, Result};
use crate::tenant::Tenant;

pub const DEFAULT_TIME_ZONE: &str = "America/Sao_Paulo";

/// A slug is what webhook URLs use (`/webhooks/hotmart/{slug}`): lower-case
/// letters, digits and hyphens, and never shaped like a UUID so a path segment
/// is never ambiguous.
pub fn validate_slug(slug: &str) -> Result<()> {
    let well_formed = (2..=64).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if !well_formed || uuid::Uuid::parse_str(slug).is_ok() {
        return Err(Error::Invalid(
            "slug must be 2 to 64 lower-case letters, digits or hyphens, not starting or ending with a hyphen".into(),
        ));
    }
    Ok(())
}

/// The workspace's clock: delays, quiet hours and schedule triggers read it.
/// Time zones are validated when written, so the default only covers rows
/// written before that check existed.
pub fn clock(workspace: &workspace::Model) -> chrono_tz::Tz {
    workspace
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::America::Sao_Paulo)
}

/// The time zone of workspace `id` (UTC for a workspace gone).
pub async fn clock_of<C: sea_orm::ConnectionTrait>(
    db: &C,
    id: uuid::Uuid,
) -> Result<chrono_tz::Tz> {
    Ok(workspace::Entity::find_by_id(id)
        .one(db)
        .await?
        .as_ref()
        .map_or(chrono_tz::UTC, clock))
}

pub fn validate_time_zone(time_zone: &str) -> Result<()> {
    time_zone.parse::<chrono_tz::Tz>().map(|_| ()).map_err(|_| {
        Error::Invalid("timeZone must be an IANA time zone such as America/Sao_Paulo".into())
    })
}

pub async fn create(
    db: &DatabaseConnection,
    name: &str,
    slug: &str,
    time_zone: Option<&str>,
    now: DateTime<Utc>,
) -> Result<workspace::Model> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "name must be 1 to 200 printable characters".into(),
        ));
    }
    validate_slug(slug)?;
    let time_zone = time_zone.unwrap_or(DEFAULT_TIME_ZONE);
    validate_time_zone(time_zone)?;
    let txn = crate::db::begin_write(db).await?;
    let created = workspace::ActiveModel {
        id: Set(new_id()),
        name: Set(name.to_owned()),
        slug: Set(slug.to_owned()),
        time_zone: Set(time_zone.to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(|e| match Error::from(e) {
        Error::Conflict(_) => {
            Error::Conflict(format!("a workspace with slug `{slug}` already exists"))
        }
        other => other,
    })?;
    // Every workspace starts with the built-in CS flows.
    crate::automation::seed_builtins(&txn, Tenant::new(created.id), now).await?;
    crate::analytics::rollups::start(&txn, &created, now).await?;
    txn.commit().await?;
    Ok(created)
}

/// A workspace named in a URL by its slug or its id.
pub async fn find_by_slug_or_id(
    db: &DatabaseConnection,
    key: &str,
) -> Result<Option<workspace::Model>> {
    let by = match uuid::Uuid::parse_str(key) {
        Ok(id) => workspace::Column::Id.eq(id),
        Err(_) => workspace::Column::Slug.eq(key),
    };
    Ok(workspace::Entity::find().filter(by).one(db).await?)
}

/// Deletes workspace `id` and everything of it, in one transaction, so a
/// failure leaves the workspace whole. Returns whether there was one.
///
/// Its customers go first, taking what they own; then the rows that name
/// the workspace without a foreign key to it on PostgreSQL
/// (`m20261207_000027`); last the workspace, whose `workspace_id`
/// references take every other tenant table's rows.
pub async fn delete(db: &DatabaseConnection, id: uuid::Uuid) -> Result<bool> {
    let txn = crate::db::begin_write(db).await?;
    let tenant = Tenant::new(id);
    tenant.delete_all::<customer::Entity, _>(&txn).await?;
    tenant.delete_all::<domain_event::Entity, _>(&txn).await?;
    tenant.delete_all::<tracked_link::Entity, _>(&txn).await?;
    tenant.delete_all::<webhook_event::Entity, _>(&txn).await?;
    let deleted = workspace::Entity::delete_by_id(id).exec(&txn).await?;
    txn.commit().await?;
    Ok(deleted.rows_affected > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_url_safe_and_never_uuids() {
        assert!(validate_slug("curso-do-joao").is_ok());
        for bad in [
            "",
            "a",
            "Curso",
            "-x",
            "x-",
            "a b",
            "a/b",
            "0195f3c2-8a1e-7c3b-9d4e-5f6a7b8c9d0e",
        ] {
            assert!(validate_slug(bad).is_err(), "{bad} accepted");
        }
        assert!(validate_time_zone("America/Sao_Paulo").is_ok());
        assert!(validate_time_zone("Mars/Olympus").is_err());
    }
}
