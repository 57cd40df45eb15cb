//! Customers: normalisation of contact data, creation, edits, tags, notes and
//! the activity timeline. Shared by the API and the Hotmart appliers.

use chrono::{DateTime, Utc};
use sea_orm::prelude::Decimal;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db::LockForChange;
use crate::db::{begin_write, new_id};
use crate::entities::{customer, customer_activity, customer_note};
use crate::error::{Error, Result};
use crate::tenant::Tenant;

mod from_sources;

pub use from_sources::{PersonFacts, Sighting, upsert_customer, upsert_customers};

pub const MAX_TAGS: usize = 100;
pub const MAX_TAG_LEN: usize = 64;
pub const MAX_NOTE_LEN: usize = 10_000;

/// Lower-cases and checks an e-mail address.
pub fn normalize_email(raw: &str) -> Result<String> {
    let email = raw.trim().to_lowercase();
    let invalid = || Error::Invalid("email is not a valid e-mail address".into());
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@')
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
    if local.is_empty() || local.len() > 64 || !domain_ok {
        return Err(invalid());
    }
    Ok(email)
}

/// The e-mail as a customer is keyed on it ([`normalize_email`]), or as
/// given when it does not normalise (such an event fails when applied).
pub fn email_key(email: &str) -> String {
    normalize_email(email).unwrap_or_else(|_| email.to_owned())
}

/// A stable, non-negative 31-bit hash of [`email_key`]. Stored with each
/// inbound event, it lets appliers split the queue by customer
/// ([`crate::db::Partition`]); it is FNV-1a, so every process
/// and every release computes the same value.
pub fn customer_hash(email: &str) -> i32 {
    let hash = email_key(email)
        .bytes()
        .fold(0x811c_9dc5_u32, |hash, byte| {
            (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
        });
    (hash >> 1) as i32
}

/// Normalises a phone number to E.164, Brazil (+55) when no country is given.
pub fn normalize_phone(raw: &str) -> Result<String> {
    let invalid = || Error::Invalid("phone is not a valid phone number".into());
    let trimmed = raw.trim();
    if trimmed.len() > 32 {
        return Err(invalid());
    }
    let international = trimmed.starts_with('+') || trimmed.starts_with("00");
    if trimmed
        .chars()
        .skip(usize::from(trimmed.starts_with('+')))
        .any(|c| !(c.is_ascii_digit() || " -().".contains(c)))
    {
        return Err(invalid());
    }
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    let e164 = if international {
        let digits = digits
            .strip_prefix("00")
            .filter(|_| !trimmed.starts_with('+'))
            .unwrap_or(&digits);
        digits.to_owned()
    } else {
        let national = digits.trim_start_matches('0');
        match national.len() {
            10 | 11 => format!("55{national}"),
            12 | 13 if national.starts_with("55") => national.to_owned(),
            _ => return Err(invalid()),
        }
    };
    let valid_length = if e164.starts_with("55") {
        (12..=13).contains(&e164.len())
    } else {
        (8..=15).contains(&e164.len())
    };
    if !valid_length || e164.starts_with('0') {
        return Err(invalid());
    }
    Ok(format!("+{e164}"))
}

/// Trims, de-duplicates (keeping first-seen order) and checks tags.
pub fn normalize_tags(tags: impl IntoIterator<Item = String>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim().to_owned();
        if tag.is_empty() || tag.chars().count() > MAX_TAG_LEN || tag.chars().any(char::is_control)
        {
            return Err(Error::Invalid(format!(
                "tags must be 1 to {MAX_TAG_LEN} printable characters"
            )));
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(Error::Invalid(format!(
            "a customer has at most {MAX_TAGS} tags"
        )));
    }
    Ok(out)
}

/// The tags stored on a customer row.
pub fn tags_of(model: &customer::Model) -> Vec<String> {
    model
        .tags
        .as_array()
        .map(|tags| {
            tags.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn optional_text(value: Option<String>, field: &str, max: usize) -> Result<Option<String>> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => {
            Err(Error::Invalid(format!(
                "{field} must be at most {max} printable characters"
            )))
        }
        other => Ok(other),
    }
}

/// A customer as the API or an integration creates one.
#[derive(Debug, Clone, Default)]
pub struct NewCustomer {
    pub email: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub document: Option<String>,
    pub tags: Vec<String>,
}

/// A change to a customer: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct CustomerChanges {
    pub email: Option<String>,
    pub name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub document: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
}

pub async fn create(
    db: &DatabaseConnection,
    tenant: Tenant,
    new: NewCustomer,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<customer::Model> {
    let model = customer::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        hotmart_ucode: Set(None),
        chatwoot_contact_id: Set(None),
        chatwoot_conversation_id: Set(None),
        email: Set(normalize_email(&new.email)?),
        name: Set(optional_text(new.name, "name", 200)?),
        phone: Set(new.phone.as_deref().map(normalize_phone).transpose()?),
        document: Set(optional_text(new.document, "document", 32)?),
        document_type: Set(None),
        tags: Set(json!(normalize_tags(new.tags)?)),
        // A new customer has bought nothing yet; the segment job reclassifies.
        segment: Set(Some(crate::segments::LEAD.to_owned())),
        churn_risk: Set(None),
        churn_risk_score: Set(None),
        churn_risk_reasons: Set(None),
        ltv_total: Set(Decimal::ZERO),
        first_activity_at: Set(None),
        last_activity_at: Set(None),
        consent: Set(json!({})),
        metadata: Set(json!({})),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let txn = begin_write(db).await?;
    let created = model.insert(&txn).await?;
    let activity = Activity {
        tenant,
        customer_id: created.id,
        activity_type: "customer_created".into(),
        description: Some(format!("created by {actor}")),
        data: json!({"source": "api"}),
        occurred_at: now,
    };
    record_activity(&txn, activity, now).await?;
    txn.commit().await?;
    Ok(created)
}

pub async fn update(
    db: &DatabaseConnection,
    tenant: Tenant,
    id: Uuid,
    changes: CustomerChanges,
    now: DateTime<Utc>,
) -> Result<customer::Model> {
    let txn = begin_write(db).await?;
    let current = locked_customer(&txn, tenant, id).await?;
    let mut model: customer::ActiveModel = current.into();
    if let Some(email) = changes.email {
        model.email = Set(normalize_email(&email)?);
    }
    if let Some(name) = changes.name {
        model.name = Set(optional_text(name, "name", 200)?);
    }
    if let Some(phone) = changes.phone {
        model.phone = Set(phone.as_deref().map(normalize_phone).transpose()?);
    }
    if let Some(document) = changes.document {
        model.document = Set(optional_text(document, "document", 32)?);
    }
    if let Some(tags) = changes.tags {
        model.tags = Set(json!(normalize_tags(tags)?));
    }
    model.updated_at = Set(now);
    let updated = model.update(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Adds or removes tags atomically (the row is locked for the read-modify-write).
pub async fn change_tags(
    db: &DatabaseConnection,
    tenant: Tenant,
    id: Uuid,
    add: Vec<String>,
    remove: Vec<String>,
    now: DateTime<Utc>,
) -> Result<customer::Model> {
    let txn = begin_write(db).await?;
    let updated = change_tags_in(&txn, tenant, id, add, remove, now).await?;
    txn.commit().await?;
    Ok(updated)
}

/// [`change_tags`] inside the caller's transaction.
pub async fn change_tags_in<C: ConnectionTrait>(
    txn: &C,
    tenant: Tenant,
    id: Uuid,
    add: Vec<String>,
    remove: Vec<String>,
    now: DateTime<Utc>,
) -> Result<customer::Model> {
    let add = normalize_tags(add)?;
    let remove = normalize_tags(remove)?;
    let current = locked_customer(txn, tenant, id).await?;
    let mut tags = tags_of(&current);
    tags.retain(|t| !remove.contains(t));
    tags = normalize_tags(tags.into_iter().chain(add))?;
    let mut model: customer::ActiveModel = current.into();
    model.tags = Set(json!(tags));
    model.updated_at = Set(now);
    Ok(model.update(txn).await?)
}

pub async fn add_note(
    db: &DatabaseConnection,
    tenant: Tenant,
    customer_id: Uuid,
    author: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<customer_note::Model> {
    let body = body.trim();
    if body.is_empty() || body.chars().count() > MAX_NOTE_LEN {
        return Err(Error::Invalid(format!(
            "a note has 1 to {MAX_NOTE_LEN} characters"
        )));
    }
    let txn = begin_write(db).await?;
    tenant.get::<customer::Entity, _>(&txn, customer_id).await?;
    let note = customer_note::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        customer_id: Set(customer_id),
        author: Set(author.chars().take(128).collect()),
        body: Set(body.to_owned()),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let activity = Activity {
        tenant,
        customer_id,
        activity_type: "note_added".into(),
        description: None,
        data: json!({"noteId": note.id}),
        occurred_at: now,
    };
    record_activity(&txn, activity, now).await?;
    txn.commit().await?;
    Ok(note)
}

/// Sets fields from a campaign's `updateCustomer` node: `name`, `phone`,
/// `segment`, `churnRisk` (text or null) and `metadata.<key>` (any JSON).
/// A value that does not fit its field (a malformed phone) is refused.
pub async fn set_fields(
    db: &DatabaseConnection,
    tenant: Tenant,
    id: Uuid,
    set: &serde_json::Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<customer::Model> {
    let txn = begin_write(db).await?;
    let current = locked_customer(&txn, tenant, id).await?;
    let mut metadata = current.metadata.clone();
    if !metadata.is_object() {
        metadata = json!({});
    }
    let mut model: customer::ActiveModel = current.into();
    for (field, value) in set {
        let text = || value.as_str().map(str::to_owned);
        match field.as_str() {
            "name" => model.name = Set(optional_text(text(), "name", 200)?),
            "phone" => model.phone = Set(text().as_deref().map(normalize_phone).transpose()?),
            "segment" => model.segment = Set(optional_text(text(), "segment", 32)?),
            "churnRisk" => model.churn_risk = Set(optional_text(text(), "churnRisk", 16)?),
            other => match other.strip_prefix("metadata.") {
                Some(key) if !key.is_empty() => metadata[key] = value.clone(),
                _ => {
                    return Err(Error::Invalid(format!(
                        "`{other}` cannot be set on a customer"
                    )));
                }
            },
        }
    }
    model.metadata = Set(metadata);
    model.updated_at = Set(now);
    let updated = model.update(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Records that a customer opted out of a channel (STOP reply, provider
/// error 131050, unsubscribe link), with when and why.
pub async fn record_opt_out<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customer_id: Uuid,
    channel: crate::entities::enums::Channel,
    source: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<customer::Model> {
    let current = tenant.get::<customer::Entity, _>(db, customer_id).await?;
    let mut consent = current.consent.clone();
    if !consent.is_object() {
        consent = json!({});
    }
    let name = sea_orm::ActiveEnum::to_value(&channel);
    consent[name.as_str()] = json!({"optedOut": true, "at": at, "source": source});
    let mut model: customer::ActiveModel = current.into();
    model.consent = Set(consent);
    model.updated_at = Set(now);
    let updated = model.update(db).await?;
    let activity = Activity {
        tenant,
        customer_id,
        activity_type: "opted_out".into(),
        description: None,
        data: json!({"channel": name, "source": source}),
        occurred_at: at,
    };
    record_activity(db, activity, now).await?;
    Ok(updated)
}

/// An entry for a customer's timeline.
#[derive(Debug, Clone)]
pub struct Activity {
    pub tenant: Tenant,
    pub customer_id: Uuid,
    pub activity_type: String,
    pub description: Option<String>,
    pub data: Value,
    pub occurred_at: DateTime<Utc>,
}

/// Appends an entry to a customer's timeline.
pub async fn record_activity<C: ConnectionTrait>(
    db: &C,
    activity: Activity,
    now: DateTime<Utc>,
) -> Result<()> {
    record_activities(db, vec![activity], now).await
}

/// Appends several timeline entries in one statement.
pub async fn record_activities<C: ConnectionTrait>(
    db: &C,
    activities: Vec<Activity>,
    now: DateTime<Utc>,
) -> Result<()> {
    if activities.is_empty() {
        return Ok(());
    }
    let rows = activities
        .into_iter()
        .map(|activity| customer_activity::ActiveModel {
            id: Set(new_id()),
            workspace_id: Set(activity.tenant.workspace_id()),
            customer_id: Set(activity.customer_id),
            activity_type: Set(activity.activity_type),
            description: Set(activity.description),
            data: Set(activity.data),
            occurred_at: Set(activity.occurred_at),
            created_at: Set(now),
        });
    customer_activity::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_hash_follows_the_stored_email_and_never_changes() {
        // FNV-1a of "ana@exemplo.com", shifted to 31 bits: stored values
        // must keep meaning the same customer in every release.
        assert_eq!(customer_hash("ana@exemplo.com"), 0x198f_c90f);
        assert_eq!(
            customer_hash(" Ana@Exemplo.COM "),
            customer_hash("ana@exemplo.com")
        );
        assert_ne!(
            customer_hash("ana@exemplo.com"),
            customer_hash("ana2@exemplo.com")
        );
        assert!(customer_hash("not an address") >= 0);
    }

    #[test]
    fn phones_become_e164_with_brazil_as_default() {
        for (raw, want) in [
            ("(11) 98765-4321", "+5511987654321"),
            ("11987654321", "+5511987654321"),
            ("011 98765-4321", "+5511987654321"),
            ("5511987654321", "+5511987654321"),
            ("+55 11 98765-4321", "+5511987654321"),
            ("1133334444", "+551133334444"),
            ("+1 415 555 2671", "+14155552671"),
            ("00351 912 345 678", "+351912345678"),
        ] {
            assert_eq!(normalize_phone(raw).ok().as_deref(), Some(want), "{raw}");
        }
        for raw in [
            "",
            "123",
            "abc",
            "+55 11 9876",
            "98765-4321",
            "'; drop table customers; --",
            "+0123456789",
        ] {
            assert!(normalize_phone(raw).is_err(), "{raw} accepted");
        }
    }

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(
            normalize_email("  Maria@Example.COM ").ok().as_deref(),
            Some("maria@example.com")
        );
        for raw in [
            "",
            "maria",
            "maria@",
            "@x.com",
            "a b@x.com",
            "a@x",
            "a@@x.com",
            "a@x..com",
        ] {
            assert!(normalize_email(raw).is_err(), "{raw} accepted");
        }
    }

    #[test]
    fn tags_are_trimmed_and_deduplicated() {
        let tags = normalize_tags(["vip ".to_owned(), "vip".to_owned(), "aluno".to_owned()])
            .expect("valid");
        assert_eq!(tags, ["vip", "aluno"]);
        assert!(normalize_tags(["  ".to_owned()]).is_err());
        assert!(normalize_tags(["x".repeat(65)]).is_err());
        assert!(normalize_tags((0..=MAX_TAGS).map(|i| i.to_string())).is_err());
    }
}

/// Conditions used by customer lists and target groups.
pub mod filters {
    use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
    use sea_orm::{ColumnTrait, DbBackend};
    use serde_json::json;

    use crate::entities::customer;

    /// Case-insensitive substring match on e-mail or name; `%` and `_` in the
    /// search text match themselves.
    pub fn search(text: &str) -> Expr {
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = || LikeExpr::new(format!("%{escaped}%")).escape('\\');
        Expr::expr(Func::lower(Expr::col((
            customer::Entity,
            customer::Column::Email,
        ))))
        .like(pattern())
        .or(Expr::expr(Func::lower(Expr::col((
            customer::Entity,
            customer::Column::Name,
        ))))
        .like(pattern()))
    }

    /// The customer's JSON tag list contains `tag`.
    pub fn has_tag(backend: DbBackend, tag: &str) -> Expr {
        match backend {
            DbBackend::Postgres => Expr::cust_with_values(
                r#""customers"."tags" @> $1::jsonb"#,
                [json!([tag]).to_string()],
            ),
            _ => Expr::cust_with_values(
                r#"EXISTS (SELECT 1 FROM json_each("customers"."tags") WHERE json_each.value = ?)"#,
                [tag.to_owned()],
            ),
        }
    }

    pub fn in_segment(segment: &str) -> Expr {
        customer::Column::Segment.eq(segment)
    }
}

/// The workspace's customer `id`, locked for a change inside `txn`.
async fn locked_customer(
    txn: &impl ConnectionTrait,
    tenant: Tenant,
    id: Uuid,
) -> Result<customer::Model> {
    tenant
        .select::<customer::Entity>()
        .lock_for_change()
        .filter(customer::Column::Id.eq(id))
        .one(txn)
        .await?
        .ok_or(Error::NotFound("customer"))
}
