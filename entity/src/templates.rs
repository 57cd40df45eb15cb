//! Message templates. WhatsApp templates are mirrored from Meta, never
//! created here: a sync upserts what Meta lists (status, category,
//! components) and leaves the local enrichment (`product_id`, `funnel`)
//! alone; only the enrichment is edited locally.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::Value;
use uuid::Uuid;

use crate::db::new_id;
use crate::entities::enums::Channel;
use crate::entities::{message_template, product};
use crate::error::{Error, Result};
use crate::tenant::Tenant;

/// The status a mirrored template gets when Meta no longer lists it (Meta's
/// own word for a deleted template).
pub const DELETED: &str = "DELETED";

/// A WhatsApp template as Meta lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct MirroredTemplate {
    pub provider_template_id: String,
    pub name: String,
    /// e.g. `pt_BR`.
    pub language: String,
    /// AUTHENTICATION, MARKETING or UTILITY.
    pub category: Option<String>,
    /// APPROVED, PENDING, REJECTED, PAUSED, DISABLED... kept as received.
    pub status: String,
    pub components: Value,
}

fn bounded(field: &str, value: &str, max: usize) -> Result<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "{field} must be 1 to {max} printable characters"
        )));
    }
    Ok(value.to_owned())
}

/// The text of the BODY component, shown as the template's preview.
fn body_text(components: &Value) -> Option<String> {
    components
        .as_array()?
        .iter()
        .find(|c| {
            c.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("body"))
        })?
        .get("text")?
        .as_str()
        .map(str::to_owned)
}

/// Creates or refreshes the mirror of one WhatsApp template, unique per
/// (workspace, channel, name, language). Meta's fields are overwritten and
/// `last_synced_at` set; `product_id` and `funnel` are kept.
pub async fn upsert_mirrored<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    template: MirroredTemplate,
    now: DateTime<Utc>,
) -> Result<message_template::Model> {
    let provider_template_id = bounded("provider template id", &template.provider_template_id, 64)?;
    let name = bounded("name", &template.name, 512)?;
    let language = bounded("language", &template.language, 16)?;
    let status = bounded("status", &template.status, 16)?.to_ascii_uppercase();
    let category = match template.category.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(category) => Some(bounded("category", category, 32)?.to_ascii_uppercase()),
    };
    let components = match template.components {
        Value::Null => Value::Array(Vec::new()),
        components => components,
    };
    let row = message_template::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        channel: Set(Channel::Whatsapp),
        provider_template_id: Set(Some(provider_template_id)),
        name: Set(name.clone()),
        language: Set(language.clone()),
        category: Set(category),
        body: Set(body_text(&components)),
        components: Set(components),
        subject: Set(None),
        product_id: Set(None),
        funnel: Set(None),
        status: Set(status),
        last_synced_at: Set(Some(now)),
        created_at: Set(now),
        updated_at: Set(now),
    };
    message_template::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                message_template::Column::WorkspaceId,
                message_template::Column::Channel,
                message_template::Column::Name,
                message_template::Column::Language,
            ])
            .update_columns([
                message_template::Column::ProviderTemplateId,
                message_template::Column::Category,
                message_template::Column::Components,
                message_template::Column::Body,
                message_template::Column::Status,
                message_template::Column::LastSyncedAt,
                message_template::Column::UpdatedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    find(db, tenant, Channel::Whatsapp, &name, &language)
        .await?
        .ok_or(Error::NotFound("message template"))
}

/// Marks the workspace's mirrored WhatsApp templates that Meta no longer
/// lists as [`DELETED`] (rows are kept: messages and enrichment refer to
/// them). `listed` holds the (name, language) pairs of a complete listing.
/// Returns how many were marked.
pub async fn mark_unlisted_deleted<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    listed: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<u64> {
    let stored = tenant
        .select::<message_template::Entity>()
        .filter(message_template::Column::Channel.eq(Channel::Whatsapp))
        .filter(message_template::Column::Status.ne(DELETED))
        .all(db)
        .await?;
    let mut marked = 0;
    for template in stored {
        let still_listed = listed
            .iter()
            .any(|(name, language)| *name == template.name && *language == template.language);
        if still_listed {
            continue;
        }
        let mut row: message_template::ActiveModel = template.into();
        row.status = Set(DELETED.to_owned());
        row.last_synced_at = Set(Some(now));
        row.updated_at = Set(now);
        row.update(db).await?;
        marked += 1;
    }
    Ok(marked)
}

/// Sets the local enrichment of a template: the product it belongs to and
/// its funnel stage. `None` clears a field. The product must be the
/// workspace's.
pub async fn set_enrichment<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    id: Uuid,
    product_id: Option<Uuid>,
    funnel: Option<String>,
    now: DateTime<Utc>,
) -> Result<message_template::Model> {
    let template = tenant.get::<message_template::Entity, _>(db, id).await?;
    if let Some(product_id) = product_id {
        tenant.get::<product::Entity, _>(db, product_id).await?;
    }
    let funnel = match funnel.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(funnel) => Some(bounded("funnel", funnel, 64)?),
    };
    let mut row: message_template::ActiveModel = template.into();
    row.product_id = Set(product_id);
    row.funnel = Set(funnel);
    row.updated_at = Set(now);
    Ok(row.update(db).await?)
}

/// One template by its unique key.
pub async fn find<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    channel: Channel,
    name: &str,
    language: &str,
) -> Result<Option<message_template::Model>> {
    Ok(tenant
        .select::<message_template::Entity>()
        .filter(message_template::Column::Channel.eq(channel))
        .filter(message_template::Column::Name.eq(name))
        .filter(message_template::Column::Language.eq(language))
        .one(db)
        .await?)
}

/// How a message or a rule names its template.
#[derive(Debug, Clone, Copy)]
pub enum TemplateReference<'a> {
    /// Our id, or Meta's template id.
    Id(&'a str),
    /// Its name and, when it matters, its language.
    Name {
        name: &'a str,
        language: Option<&'a str>,
    },
}

/// The workspace's template of `channel` that `reference` names.
pub async fn find_referenced<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    channel: Channel,
    reference: TemplateReference<'_>,
) -> Result<Option<message_template::Model>> {
    use message_template::Column;
    let select = tenant
        .select::<message_template::Entity>()
        .filter(Column::Channel.eq(channel));
    let select = match reference {
        TemplateReference::Id(id) => match Uuid::parse_str(id) {
            Ok(uuid) => select.filter(Column::Id.eq(uuid)),
            Err(_) => select.filter(Column::ProviderTemplateId.eq(id)),
        },
        TemplateReference::Name { name, language } => {
            let select = select.filter(Column::Name.eq(name));
            match language {
                Some(language) => select.filter(Column::Language.eq(language)),
                None => select,
            }
        }
    };
    Ok(select.one(db).await?)
}

/// The workspace's templates, optionally of one channel, by name and
/// language.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    channel: Option<Channel>,
) -> Result<Vec<message_template::Model>> {
    let mut query = tenant.select::<message_template::Entity>();
    if let Some(channel) = channel {
        query = query.filter(message_template::Column::Channel.eq(channel));
    }
    Ok(query
        .order_by_asc(message_template::Column::Name)
        .order_by_asc(message_template::Column::Language)
        .all(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_body_component_is_the_preview() {
        let components = json!([
            {"type": "HEADER", "format": "TEXT", "text": "Oi"},
            {"type": "BODY", "text": "Olá {{1}}, seu acesso: {{2}}"},
        ]);
        assert_eq!(
            body_text(&components).as_deref(),
            Some("Olá {{1}}, seu acesso: {{2}}")
        );
        assert_eq!(body_text(&json!({})), None);
    }

    #[test]
    fn fields_are_bounded() {
        assert!(bounded("name", " boas_vindas ", 512).is_ok());
        assert!(bounded("name", "", 512).is_err());
        assert!(bounded("language", "pt_BR_pt_BR_pt_BR", 16).is_err());
        assert!(bounded("name", "a\nb", 512).is_err());
    }
}
