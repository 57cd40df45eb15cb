//! Workspace settings: integration credentials and options, encrypted at rest
//! and write-only through the API.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use crate::db::new_id;
use crate::entities::setting;
use crate::error::{Error, Result};
use crate::secrets::SecretKey;
use crate::tenant::Tenant;

pub const MAX_VALUE_LEN: usize = 16 * 1024;

/// What the API shows instead of a stored value.
pub const MASK: &str = "********";

/// Keys are dotted lower-case names such as `hotmart.client_secret`.
pub fn validate_key(key: &str) -> Result<()> {
    let mut parts = key.split('.');
    let namespaced = key.len() <= 100
        && key.contains('.')
        && parts.all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        && key.as_bytes()[0].is_ascii_lowercase();
    if namespaced {
        Ok(())
    } else {
        Err(Error::Invalid(
            "key must be a dotted lower-case name such as `hotmart.client_secret` (at most 100 characters)".into(),
        ))
    }
}

/// Creates or replaces a setting, encrypting its value.
pub async fn set(
    db: &DatabaseConnection,
    tenant: Tenant,
    secrets: &SecretKey,
    key: &str,
    value: &str,
    description: Option<String>,
    now: DateTime<Utc>,
) -> Result<setting::Model> {
    validate_key(key)?;
    if value.is_empty() || value.len() > MAX_VALUE_LEN {
        return Err(Error::Invalid(format!(
            "value must be 1 to {MAX_VALUE_LEN} bytes"
        )));
    }
    if key == crate::attribution::FIRST_ACCESS_WINDOW_KEY {
        crate::attribution::parse_window_hours(value)?;
    }
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 1000)
    {
        return Err(Error::Invalid(
            "description must be at most 1000 characters".into(),
        ));
    }
    let row = setting::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        key: Set(key.to_owned()),
        value_encrypted: Set(secrets.encrypt(tenant.workspace_id(), key, value)?),
        description: Set(description),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    };
    setting::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([setting::Column::WorkspaceId, setting::Column::Key])
                .update_columns([
                    setting::Column::ValueEncrypted,
                    setting::Column::Description,
                    setting::Column::Active,
                    setting::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;
    find(db, tenant, key)
        .await?
        .ok_or(Error::NotFound("setting"))
}

pub async fn find<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    key: &str,
) -> Result<Option<setting::Model>> {
    Ok(tenant
        .select::<setting::Entity>()
        .filter(setting::Column::Key.eq(key))
        .one(db)
        .await?)
}

/// Removes a setting, returning it as it was.
pub async fn delete(db: &DatabaseConnection, tenant: Tenant, key: &str) -> Result<setting::Model> {
    let existing = find(db, tenant, key)
        .await?
        .ok_or(Error::NotFound("setting"))?;
    setting::Entity::delete_by_id(existing.id).exec(db).await?;
    Ok(existing)
}

/// The settings every call to Hotmart's API needs.
pub const HOTMART_API_KEYS: &[&str] = &["hotmart.client_id", "hotmart.client_secret"];
/// Where buyers open their courses (Hotmart's members area), for
/// `{{enrollment.access_url}}`.
pub const CLUB_URL_SETTING: &str = "hotmart.club_url";
/// The settings sending WhatsApp messages needs.
pub const WHATSAPP_SEND_KEYS: &[&str] = &["whatsapp.token", "whatsapp.phone_number_id"];
/// The settings sending e-mail needs.
pub const EMAIL_SEND_KEYS: &[&str] = &["smtp.url", "smtp.from"];
/// The settings mirroring the WhatsApp templates from Meta needs.
pub const WHATSAPP_TEMPLATE_KEYS: &[&str] = &["whatsapp.token", "whatsapp.waba_id"];

/// The first of `keys` the workspace has not set (or has turned off), if any:
/// what a job that needs them would fail on, said before it is queued.
pub async fn first_unset<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    keys: &[&'static str],
) -> Result<Option<&'static str>> {
    for key in keys {
        if !find(db, tenant, key).await?.is_some_and(|row| row.active) {
            return Ok(Some(key));
        }
    }
    Ok(None)
}

/// The plaintext of an active setting, for the integrations that use it.
pub async fn reveal<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    secrets: &SecretKey,
    key: &str,
) -> Result<Option<String>> {
    match find(db, tenant, key).await? {
        Some(row) if row.active => Ok(Some(secrets.decrypt(
            tenant.workspace_id(),
            key,
            &row.value_encrypted,
        )?)),
        _ => Ok(None),
    }
}

/// The plaintext of each of `keys` the workspace has set and turned on, read
/// in one query: for a caller that needs several settings at once.
pub async fn reveal_all<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    secrets: &SecretKey,
    keys: &[&str],
) -> Result<std::collections::HashMap<String, String>> {
    let rows = tenant
        .select::<setting::Entity>()
        .filter(setting::Column::Key.is_in(keys.iter().copied()))
        .filter(setting::Column::Active.eq(true))
        .all(db)
        .await?;
    rows.into_iter()
        .map(|row| {
            let plain = secrets.decrypt(tenant.workspace_id(), &row.key, &row.value_encrypted)?;
            Ok((row.key, plain))
        })
        .collect()
}

/// A setting holding a whole number within `range` (days, a percentage):
/// `default` when it is not set, and also, with a warning, when what is set
/// is not such a number.
pub async fn whole_number<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    secrets: &SecretKey,
    key: &str,
    default: i32,
    range: std::ops::RangeInclusive<i32>,
) -> Result<i32> {
    let set = reveal(db, tenant, secrets, key).await?;
    Ok(whole_number_in(set.as_deref(), tenant, key, default, range))
}

/// [`whole_number`] of a value already revealed (`None`: not set).
pub fn whole_number_in(
    set: Option<&str>,
    tenant: Tenant,
    key: &str,
    default: i32,
    range: std::ops::RangeInclusive<i32>,
) -> i32 {
    match set.map(str::trim).map(str::parse::<i32>) {
        Some(Ok(number)) if range.contains(&number) => number,
        Some(_) => {
            tracing::warn!(workspace = %tenant.workspace_id(), "{key} is not a whole number from {} to {}; using {default}", range.start(), range.end());
            default
        }
        None => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_dotted_lower_case_names() {
        for good in [
            "hotmart.hottok",
            "smtp.url",
            "whatsapp.phone_number_id",
            "ads.google.developer_token",
        ] {
            assert!(validate_key(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "hottok",
            "Hotmart.hottok",
            ".x",
            "x.",
            "a..b",
            "a.b c",
            "1a.b",
            "a.b;drop",
        ] {
            assert!(validate_key(bad).is_err(), "{bad} accepted");
        }
    }
}
