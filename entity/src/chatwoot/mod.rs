//! Chatwoot, where a CS team talks with the workspace's customers: the
//! labels put on a conversation become `conversation_tags` (for the tag
//! report's word cloud), the conversation a customer talks in is kept on
//! the customer, and labels jornada puts on it are queued as background
//! jobs ([`request_labels`]) that the worker writes through Chatwoot's API.
//!
//! Settings: `chatwoot.base_url`, `chatwoot.api_access_token`,
//! `chatwoot.account_id` (the labels client), `chatwoot.webhook_secret`
//! (optional; when set, deliveries must be signed).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use crate::background_jobs::{self, JobRequest};
use crate::customers::{normalize_email, normalize_phone};
use crate::db::new_id;
use crate::entities::{conversation_tag, customer};
use crate::error::{Error, Result};
use crate::tenant::Tenant;

mod report;
pub mod webhook;

pub use report::{TagCount, tag_report};
pub use webhook::{ChatwootEvent, Conversation};

pub const BASE_URL_SETTING: &str = "chatwoot.base_url";
pub const API_ACCESS_TOKEN_SETTING: &str = "chatwoot.api_access_token";
pub const ACCOUNT_ID_SETTING: &str = "chatwoot.account_id";
pub const WEBHOOK_SECRET_SETTING: &str = "chatwoot.webhook_secret";
/// The settings the labels client needs.
pub const API_SETTINGS: &[&str] = &[
    BASE_URL_SETTING,
    API_ACCESS_TOKEN_SETTING,
    ACCOUNT_ID_SETTING,
];

/// Most labels one request puts on a conversation.
pub const MAX_LABELS: usize = 50;
/// Longest label kept (the column width).
pub const MAX_LABEL_CHARS: usize = 128;

/// A label as Chatwoot keeps it (lower case, trimmed), or `None` when it is
/// empty, too long or holds control characters.
pub fn normalize_label(raw: &str) -> Option<String> {
    let label = raw.trim().to_lowercase();
    let usable = !label.is_empty()
        && label.chars().count() <= MAX_LABEL_CHARS
        && !label.chars().any(char::is_control);
    usable.then_some(label)
}

/// Normalises labels to put on a conversation ([`normalize_label`]),
/// dropping repeats; at least one and at most [`MAX_LABELS`].
pub fn normalize_labels(labels: impl IntoIterator<Item = String>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for raw in labels {
        let label = normalize_label(&raw).ok_or_else(|| {
            Error::Invalid(format!(
                "labels must be 1 to {MAX_LABEL_CHARS} printable characters"
            ))
        })?;
        if !out.contains(&label) {
            out.push(label);
        }
    }
    if out.is_empty() || out.len() > MAX_LABELS {
        return Err(Error::Invalid(format!(
            "give 1 to {MAX_LABELS} Chatwoot labels"
        )));
    }
    Ok(out)
}

/// Queues a job putting `labels` on the customer's Chatwoot conversation
/// (keeping the labels it has), through `db`: inside the caller's
/// transaction, the job is there exactly when the caller's work commits.
/// The worker runs it (retrying while Chatwoot is busy); it fails with
/// NOT_FOUND when no conversation of the customer is known, and with
/// INVALID_INPUT when the workspace has not set up Chatwoot. Returns the
/// background job's id, for `backgroundJob(id)`; once the caller's
/// transaction has committed, `background_jobs::push(db, id)` hands it to
/// a worker at once (else the job recovery does within two minutes).
pub async fn request_labels<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customer_id: Uuid,
    labels: Vec<String>,
    now: DateTime<Utc>,
) -> Result<Uuid> {
    let labels = normalize_labels(labels)?;
    tenant.get::<customer::Entity, _>(db, customer_id).await?;
    let request = JobRequest::ChatwootLabels {
        customer_id,
        labels,
    };
    Ok(background_jobs::enqueue(db, tenant, request, now).await?.id)
}

/// Whether labels for the customer can reach Chatwoot: the workspace has
/// set up its API and a conversation of the customer is known. Rules that
/// label as a side effect ask first, rather than queue jobs bound to fail.
pub async fn reachable<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customer_id: Uuid,
) -> Result<bool> {
    if crate::settings::first_unset(db, tenant, API_SETTINGS)
        .await?
        .is_some()
    {
        return Ok(false);
    }
    let customer = tenant.get::<customer::Entity, _>(db, customer_id).await?;
    Ok(customer.chatwoot_conversation_id.is_some())
}

/// What a conversation event changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationRecorded {
    /// The customer the conversation is with, when one matched.
    pub customer_id: Option<Uuid>,
    /// Labels put on (new open tags).
    pub tagged: usize,
    /// Labels taken off (tags closed).
    pub untagged: usize,
}

/// Records what a Chatwoot event says of a conversation, as of `at` (when
/// Chatwoot told it): the customer it is with (matched by Chatwoot contact,
/// e-mail or phone) remembers the conversation and contact, and when the
/// event tells the labels, the conversation's open tags become exactly
/// those. Recording the same event again changes nothing.
pub async fn record_conversation<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    conversation: &Conversation,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<ConversationRecorded> {
    let customer = find_customer(db, tenant, conversation).await?;
    if let Some(customer) = &customer {
        remember_conversation(db, customer, conversation, now).await?;
    }
    let customer_id = customer.map(|c| c.id);
    let (tagged, untagged) = match &conversation.labels {
        Some(labels) => {
            retag(
                db,
                tenant,
                &conversation.id,
                customer_id,
                labels,
                Closing::Missing,
                at,
                now,
            )
            .await?
        }
        None => (0, 0),
    };
    Ok(ConversationRecorded {
        customer_id,
        tagged,
        untagged,
    })
}

/// Records labels jornada put on a conversation at `at`: each not already
/// on it becomes an open tag, so the change Chatwoot echoes back adds none.
/// Returns how many tags it opened.
pub async fn record_labels_put<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    conversation_id: &str,
    customer_id: Option<Uuid>,
    labels: &[String],
    at: DateTime<Utc>,
) -> Result<usize> {
    let (tagged, _) = retag(
        db,
        tenant,
        conversation_id,
        customer_id,
        labels,
        Closing::Nothing,
        at,
        at,
    )
    .await?;
    Ok(tagged)
}

/// The customer a conversation is with: by the Chatwoot contact already
/// known, else by e-mail (one customer per address), else by phone.
async fn find_customer<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    conversation: &Conversation,
) -> Result<Option<customer::Model>> {
    let customers = || tenant.select::<customer::Entity>();
    if let Some(contact) = &conversation.contact_id
        && let Some(found) = customers()
            .filter(customer::Column::ChatwootContactId.eq(contact.as_str()))
            .order_by_asc(customer::Column::Id)
            .one(db)
            .await?
    {
        return Ok(Some(found));
    }
    if let Some(email) = conversation
        .email
        .as_deref()
        .and_then(|e| normalize_email(e).ok())
        && let Some(found) = customers()
            .filter(customer::Column::Email.eq(email))
            .one(db)
            .await?
    {
        return Ok(Some(found));
    }
    let phones = conversation
        .phone
        .as_deref()
        .and_then(|p| normalize_phone(p).ok())
        .map(|p| crate::whatsapp::phone_candidates(&p))
        .unwrap_or_default();
    if phones.is_empty() {
        return Ok(None);
    }
    Ok(customers()
        .filter(customer::Column::Phone.is_in(phones))
        .order_by_asc(customer::Column::Id)
        .one(db)
        .await?)
}

/// The customer remembers the conversation (where labels go) and contact.
async fn remember_conversation<C: ConnectionTrait>(
    db: &C,
    customer: &customer::Model,
    conversation: &Conversation,
    now: DateTime<Utc>,
) -> Result<()> {
    let contact = conversation
        .contact_id
        .clone()
        .or_else(|| customer.chatwoot_contact_id.clone());
    let unchanged = customer.chatwoot_conversation_id.as_deref() == Some(conversation.id.as_str())
        && customer.chatwoot_contact_id == contact;
    if unchanged {
        return Ok(());
    }
    customer::Entity::update_many()
        .col_expr(
            customer::Column::ChatwootConversationId,
            Expr::value(Some(conversation.id.clone())),
        )
        .col_expr(customer::Column::ChatwootContactId, Expr::value(contact))
        .col_expr(customer::Column::UpdatedAt, Expr::value(now))
        .filter(customer::Column::Id.eq(customer.id))
        .exec(db)
        .await?;
    Ok(())
}

/// Which open tags a relabelling closes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Closing {
    /// Those whose label is not in the set (the set is the whole truth).
    Missing,
    /// None (labels were added, nothing was said of the others).
    Nothing,
}

/// Makes `labels` open tags of the conversation as of `at` and, with
/// [`Closing::Missing`], closes the other open tags. A tag put on after
/// `at` is not closed, and a label taken off after `at` is not put back:
/// an event stored before a change jornada made knows nothing of it.
/// Returns (opened, closed).
#[allow(clippy::too_many_arguments)]
async fn retag<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    conversation_id: &str,
    customer_id: Option<Uuid>,
    labels: &[String],
    closing: Closing,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(usize, usize)> {
    let tags = tenant
        .select::<conversation_tag::Entity>()
        .filter(conversation_tag::Column::ChatwootConversationId.eq(conversation_id))
        .filter(
            Condition::any()
                .add(conversation_tag::Column::RemovedAt.is_null())
                .add(conversation_tag::Column::RemovedAt.gt(at)),
        )
        .all(db)
        .await?;
    let known: HashSet<&str> = tags.iter().map(|t| t.label.as_str()).collect();
    let opened: Vec<conversation_tag::ActiveModel> = labels
        .iter()
        .filter(|label| !known.contains(label.as_str()))
        .map(|label| conversation_tag::ActiveModel {
            id: Set(new_id()),
            workspace_id: Set(tenant.workspace_id()),
            chatwoot_conversation_id: Set(conversation_id.to_owned()),
            customer_id: Set(customer_id),
            label: Set(label.clone()),
            tagged_at: Set(at),
            removed_at: Set(None),
            created_at: Set(now),
        })
        .collect();
    let opened_count = opened.len();
    if !opened.is_empty() {
        // A tag opened meanwhile by another writer (the labels job and the
        // echo of its write) stays the only open one.
        conversation_tag::Entity::insert_many(opened)
            .on_conflict(
                OnConflict::columns([
                    conversation_tag::Column::WorkspaceId,
                    conversation_tag::Column::ChatwootConversationId,
                    conversation_tag::Column::Label,
                ])
                .target_and_where(Expr::col(conversation_tag::Column::RemovedAt).is_null())
                .do_nothing()
                .to_owned(),
            )
            .try_insert()
            .exec(db)
            .await?;
    }
    let closed: Vec<Uuid> = match closing {
        Closing::Missing => tags
            .iter()
            .filter(|t| t.removed_at.is_none() && t.tagged_at <= at)
            .filter(|t| !labels.contains(&t.label))
            .map(|t| t.id)
            .collect(),
        Closing::Nothing => Vec::new(),
    };
    if !closed.is_empty() {
        conversation_tag::Entity::update_many()
            .col_expr(conversation_tag::Column::RemovedAt, Expr::value(Some(at)))
            .filter(conversation_tag::Column::Id.is_in(closed.iter().copied()))
            .exec(db)
            .await?;
    }
    // Tags recorded before the customer was known are theirs too.
    if let Some(customer_id) = customer_id
        && tags.iter().any(|t| t.customer_id.is_none())
    {
        conversation_tag::Entity::update_many()
            .col_expr(
                conversation_tag::Column::CustomerId,
                Expr::value(Some(customer_id)),
            )
            .filter(conversation_tag::Column::WorkspaceId.eq(tenant.workspace_id()))
            .filter(conversation_tag::Column::ChatwootConversationId.eq(conversation_id))
            .filter(conversation_tag::Column::CustomerId.is_null())
            .exec(db)
            .await?;
    }
    Ok((opened_count, closed.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_lower_case_names_without_repeats() {
        assert_eq!(
            normalize_labels(vec![
                " VIP ".into(),
                "vip".into(),
                "modulo-concluido".into()
            ])
            .unwrap(),
            vec!["vip".to_owned(), "modulo-concluido".to_owned()]
        );
        assert!(normalize_labels(Vec::<String>::new()).is_err());
        assert!(normalize_labels(vec!["  ".into()]).is_err());
        assert!(normalize_labels(vec!["a\u{0}b".into()]).is_err());
        assert!(normalize_labels(vec!["x".repeat(129)]).is_err());
        assert!(normalize_labels((0..51).map(|i| format!("l{i}"))).is_err());
    }
}
