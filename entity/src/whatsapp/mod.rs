//! What WhatsApp webhooks change: delivery states of the outbox, campaign
//! recipients' milestones, customers' opt-outs and 24 h customer-service
//! windows, and mirrored templates' statuses.
//!
//! Meta delivers webhooks at least once, in any order and concurrently, so
//! every change here is a conditional write: a callback seen twice, or a
//! lower state arriving after a higher one, changes nothing.

pub mod webhook;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::customers;
use crate::db::LockForChange;
use crate::db::begin_write;
use crate::entities::enums::{Channel, MessageStatus};
use crate::entities::{campaign_recipient, customer, message, message_template};
use crate::error::Result;
use crate::executions;
use crate::outbox::rank;
use crate::tenant::Tenant;

/// The key of `customers.metadata` holding the end of the customer-service
/// window (RFC 3339): free-form WhatsApp text may be sent until then.
pub const WINDOW_KEY: &str = "whatsappWindowUntil";
/// How long an inbound message keeps the window open.
pub const WINDOW: Duration = Duration::hours(24);
/// Graph error code of a user who stopped marketing messages.
pub const OPTED_OUT_CODE: i64 = 131050;
/// Opt-out source of a 131050 failure.
pub const SOURCE_PROVIDER: &str = "provider_131050";
/// Opt-out source of a STOP / PARAR / SAIR reply.
pub const SOURCE_REPLY: &str = "stop_reply";
/// How far a callback's timestamp may precede the creation of the message it
/// is matched to by phone (clocks differ).
const CLOCK_SKEW: Duration = Duration::minutes(5);
/// Customers sharing one number that one inbound message may touch.
const MAX_CUSTOMERS_PER_PHONE: u64 = 50;

/// The E.164 numbers a WhatsApp id (`from`, `recipient_id`: digits without
/// `+`) may be stored as. Brazilian mobiles registered before the ninth
/// digit often keep an id without it (55 DD 8765-4321 for +55 DD 98765-4321),
/// so both spellings are tried there.
pub fn phone_candidates(wa_id: &str) -> Vec<String> {
    let digits = wa_id.trim().trim_start_matches('+');
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Vec::new();
    }
    let mut candidates = vec![format!("+{digits}")];
    if let Some(rest) = digits.strip_prefix("55") {
        let (area, local) = rest.split_at(rest.len().min(2));
        match local.len() {
            // A mobile without its ninth digit (mobiles start with 6-9).
            8 if local.starts_with(['6', '7', '8', '9']) => {
                candidates.push(format!("+55{area}9{local}"));
            }
            9 if local.starts_with('9') => candidates.push(format!("+55{area}{}", &local[1..])),
            _ => {}
        }
    }
    candidates
}

/// One `statuses[]` item of a webhook, as the receiver understood it.
#[derive(Debug, Clone)]
pub struct StatusCallback {
    /// The `wamid.…` the send returned.
    pub provider_message_id: String,
    /// Sent, Delivered, Read or Failed.
    pub status: MessageStatus,
    pub at: DateTime<Utc>,
    /// `errors[0].code` of a failure.
    pub error_code: Option<i64>,
    /// The E.164 spellings of `recipient_id` ([`phone_candidates`]).
    pub recipient_phones: Vec<String>,
    /// `biz_opaque_callback_data`: the idempotency key the send carried.
    pub callback_data: Option<String>,
}

/// What a status callback did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusOutcome {
    /// The message moved forward.
    Applied,
    /// The message already had this state or a higher one.
    Unchanged,
    /// No message of this workspace has that id (nor could one be matched).
    UnknownMessage,
}

/// The states a message may leave for `status`: only ever upwards (sent <
/// delivered < read); `failed` is terminal and never replaces `read` (a read
/// message was delivered, whatever arrives later).
fn superseded_by(status: MessageStatus) -> Vec<MessageStatus> {
    use MessageStatus::*;
    let all = [Queued, Sending, Unknown, Sent, Delivered, Read];
    match status {
        Failed => all.into_iter().filter(|s| *s != Read).collect(),
        Queued | Sending | Unknown => Vec::new(),
        new => all.into_iter().filter(|s| rank(*s) < rank(new)).collect(),
    }
}

/// Applies one status callback, in one transaction: moves the message
/// forward, stamps its campaign recipient (sent, delivered, opened) and,
/// for a failure with 131050, records the customer's opt-out.
///
/// The message is found by the idempotency key the send put in
/// `biz_opaque_callback_data` (the one thing a send whose answer was lost
/// still shares with Meta; the message then takes the callback's wamid),
/// else by its wamid. A message whose send outcome is unknown and that
/// carried no key is matched by the recipient's phone when it is the only
/// such WhatsApp message to that number created before the callback, and
/// takes the callback's id.
///
/// A campaign recipient parked `unknown` at the message's node takes the
/// outcome ([`executions::settle_unknown_recipient`]); the execution's
/// stored metrics are then refreshed.
pub async fn apply_status_callback(
    db: &DatabaseConnection,
    tenant: Tenant,
    callback: &StatusCallback,
    now: DateTime<Utc>,
) -> Result<StatusOutcome> {
    let txn = begin_write(db).await?;
    let mut message = match &callback.callback_data {
        Some(key) => find_by_callback_data(&txn, tenant, key, callback).await?,
        None => None,
    };
    if message.is_none() {
        message = find_message(&txn, tenant, &callback.provider_message_id).await?;
    }
    if message.is_none() {
        message = match_unsettled(&txn, tenant, callback).await?;
    }
    let Some(current) = message else {
        txn.commit().await?;
        return Ok(StatusOutcome::UnknownMessage);
    };
    let changed = advance(&txn, &current, callback, now).await?;
    let message = message::Entity::find_by_id(current.id)
        .one(&txn)
        .await?
        .unwrap_or(current);
    if let Some(recipient_id) = message.campaign_recipient_id {
        stamp_recipient(&txn, recipient_id, &message, callback.at).await?;
    }
    let settled = executions::settle_unknown_recipient(&txn, &message, now).await?;
    if callback.status == MessageStatus::Failed && callback.error_code == Some(OPTED_OUT_CODE) {
        opt_out(
            &txn,
            tenant,
            message.customer_id,
            SOURCE_PROVIDER,
            callback.at,
            now,
        )
        .await?;
    }
    txn.commit().await?;
    if let Some(execution_id) = settled {
        // A recipient that failed here is terminal: no runner step follows
        // to refresh what the execution shows (and it may complete now).
        executions::refresh_execution(db, execution_id, now).await?;
    }
    Ok(if changed || settled.is_some() {
        StatusOutcome::Applied
    } else {
        StatusOutcome::Unchanged
    })
}

async fn find_message<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    provider_message_id: &str,
) -> Result<Option<message::Model>> {
    Ok(tenant
        .select::<message::Entity>()
        .filter(message::Column::Channel.eq(Channel::Whatsapp))
        .filter(message::Column::ProviderMessageId.eq(provider_message_id))
        .order_by_asc(message::Column::Id)
        .one(db)
        .await?)
}

/// The WhatsApp message of this workspace whose idempotency key the callback
/// echoes. It takes the callback's wamid when it has none yet (its send's
/// answer was lost), conditionally, so concurrent callbacks agree.
async fn find_by_callback_data<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    key: &str,
    callback: &StatusCallback,
) -> Result<Option<message::Model>> {
    let Some(found) = tenant
        .select::<message::Entity>()
        .filter(message::Column::Channel.eq(Channel::Whatsapp))
        .filter(message::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let wamid = callback.provider_message_id.trim();
    if found.provider_message_id.is_some() || wamid.is_empty() {
        return Ok(Some(found));
    }
    let stored = message::Entity::update_many()
        .col_expr(
            message::Column::ProviderMessageId,
            Expr::value(Some(wamid.to_owned())),
        )
        .filter(message::Column::Id.eq(found.id))
        .filter(message::Column::ProviderMessageId.is_null())
        .exec(db)
        .await?;
    if stored.rows_affected == 1 {
        tracing::info!(message_id = %found.id, "a WhatsApp message of unknown outcome was matched by its callback data");
    }
    Ok(message::Entity::find_by_id(found.id).one(db).await?)
}

/// The one `unknown` or `sending` WhatsApp message to the callback's number
/// that has no provider id, which then takes the callback's id. Several
/// candidates are ambiguous: none is matched.
async fn match_unsettled<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    callback: &StatusCallback,
) -> Result<Option<message::Model>> {
    if callback.recipient_phones.is_empty() {
        return Ok(None);
    }
    let customer_ids: Vec<Uuid> = tenant
        .select::<customer::Entity>()
        .filter(customer::Column::Phone.is_in(callback.recipient_phones.clone()))
        .select_only()
        .column(customer::Column::Id)
        .limit(MAX_CUSTOMERS_PER_PHONE)
        .into_tuple()
        .all(db)
        .await?;
    if customer_ids.is_empty() {
        return Ok(None);
    }
    let candidates = tenant
        .select::<message::Entity>()
        .filter(message::Column::Channel.eq(Channel::Whatsapp))
        .filter(message::Column::CustomerId.is_in(customer_ids))
        .filter(message::Column::ProviderMessageId.is_null())
        .filter(message::Column::Status.is_in([MessageStatus::Unknown, MessageStatus::Sending]))
        .filter(message::Column::CreatedAt.lte(callback.at + CLOCK_SKEW))
        .limit(2)
        .all(db)
        .await?;
    let [candidate] = candidates.as_slice() else {
        return Ok(None);
    };
    let claimed = message::Entity::update_many()
        .col_expr(
            message::Column::ProviderMessageId,
            Expr::value(Some(callback.provider_message_id.clone())),
        )
        .filter(message::Column::Id.eq(candidate.id))
        .filter(message::Column::ProviderMessageId.is_null())
        .exec(db)
        .await?;
    if claimed.rows_affected == 0 {
        // Matched meanwhile, by this very callback delivered twice or by
        // another: look again by id.
        return find_message(db, tenant, &callback.provider_message_id).await;
    }
    tracing::info!(message_id = %candidate.id, "a WhatsApp message of unknown outcome was matched by a status callback");
    Ok(message::Entity::find_by_id(candidate.id).one(db).await?)
}

/// Moves the message to the callback's state if that is higher; fills the
/// milestones a skipped callback left empty. Returns whether it moved.
async fn advance<C: ConnectionTrait>(
    db: &C,
    current: &message::Model,
    callback: &StatusCallback,
    now: DateTime<Utc>,
) -> Result<bool> {
    let from = superseded_by(callback.status);
    if from.is_empty() {
        return Ok(false);
    }
    let at = callback.at;
    let mut update = message::Entity::update_many()
        .col_expr(message::Column::Status, Expr::value(callback.status))
        .col_expr(
            message::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(message::Column::UpdatedAt, Expr::value(now));
    update = match callback.status {
        MessageStatus::Sent => update.col_expr(message::Column::SentAt, Expr::value(Some(at))),
        MessageStatus::Delivered => {
            update.col_expr(message::Column::DeliveredAt, Expr::value(Some(at)))
        }
        MessageStatus::Read => update.col_expr(message::Column::ReadAt, Expr::value(Some(at))),
        _ => update
            .col_expr(message::Column::FailedAt, Expr::value(Some(at)))
            .col_expr(
                message::Column::Error,
                Expr::value(Some(match callback.error_code {
                    Some(code) => format!("WhatsApp reported the message failed (code {code})"),
                    None => "WhatsApp reported the message failed".to_owned(),
                })),
            ),
    };
    let moved = update
        .filter(message::Column::Id.eq(current.id))
        .filter(message::Column::Status.is_in(from))
        .exec(db)
        .await?;
    if moved.rows_affected == 0 {
        return Ok(false);
    }
    // A read message was delivered and sent, even if those callbacks were
    // skipped or are still on their way.
    let implied: &[message::Column] = match callback.status {
        MessageStatus::Read => &[message::Column::SentAt, message::Column::DeliveredAt],
        MessageStatus::Delivered => &[message::Column::SentAt],
        _ => &[],
    };
    for column in implied {
        message::Entity::update_many()
            .col_expr(*column, Expr::value(Some(at)))
            .filter(message::Column::Id.eq(current.id))
            .filter(column.is_null())
            .exec(db)
            .await?;
    }
    Ok(true)
}

/// Stamps the campaign recipient's milestones the message's state implies
/// (each only the first time).
async fn stamp_recipient<C: ConnectionTrait>(
    db: &C,
    recipient_id: Uuid,
    message: &message::Model,
    at: DateTime<Utc>,
) -> Result<()> {
    let reached = rank(message.status);
    let stamps = [
        (
            MessageStatus::Sent,
            campaign_recipient::Column::SentAt,
            message.sent_at,
        ),
        (
            MessageStatus::Delivered,
            campaign_recipient::Column::DeliveredAt,
            message.delivered_at,
        ),
        (
            MessageStatus::Read,
            campaign_recipient::Column::OpenedAt,
            message.read_at,
        ),
    ];
    if message.status == MessageStatus::Failed {
        return Ok(());
    }
    for (status, column, when) in stamps {
        if reached >= rank(status) {
            executions::mark_recipient(db, recipient_id, column, when.unwrap_or(at)).await?;
        }
    }
    Ok(())
}

/// Whether the customer's consent already records an opt-out of WhatsApp.
fn opted_out_of_whatsapp(customer: &customer::Model) -> bool {
    customer
        .consent
        .get("whatsapp")
        .and_then(|c| c.get("optedOut"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Records a WhatsApp opt-out once; a customer already opted out keeps the
/// first record. Returns whether it was recorded now.
async fn opt_out<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    customer_id: Uuid,
    source: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let Some(current) = tenant
        .select::<customer::Entity>()
        .filter(customer::Column::Id.eq(customer_id))
        .lock_for_change()
        .one(db)
        .await?
    else {
        return Ok(false);
    };
    if opted_out_of_whatsapp(&current) {
        return Ok(false);
    }
    customers::record_opt_out(db, tenant, customer_id, Channel::Whatsapp, source, at, now).await?;
    Ok(true)
}

/// What one inbound message changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboundOutcome {
    /// Customers with the sender's number.
    pub customers: usize,
    /// Of those, whose window now ends later than before.
    pub windows_extended: usize,
    /// Of those, opted out by this message.
    pub opted_out: usize,
}

/// The end of the customer's customer-service window, if one was recorded.
pub fn window_until(customer: &customer::Model) -> Option<DateTime<Utc>> {
    customer
        .metadata
        .get(WINDOW_KEY)
        .and_then(Value::as_str)
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|at| at.with_timezone(&Utc))
}

/// A user wrote from one of `phones` at `at`: every customer of the
/// workspace with that number gets the 24 h window (kept if it already ends
/// later) and, for an opt-out reply, the opt-out (source `stop_reply`).
pub async fn record_inbound(
    db: &DatabaseConnection,
    tenant: Tenant,
    phones: &[String],
    at: DateTime<Utc>,
    opt_out_reply: bool,
    now: DateTime<Utc>,
) -> Result<InboundOutcome> {
    let mut outcome = InboundOutcome::default();
    if phones.is_empty() {
        return Ok(outcome);
    }
    let until = at + WINDOW;
    let txn = begin_write(db).await?;
    let matched = tenant
        .select::<customer::Entity>()
        .filter(customer::Column::Phone.is_in(phones.to_vec()))
        .order_by_asc(customer::Column::Id)
        .limit(MAX_CUSTOMERS_PER_PHONE)
        .lock_for_change()
        .all(&txn)
        .await?;
    outcome.customers = matched.len();
    for current in matched {
        let id = current.id;
        if window_until(&current).is_none_or(|known| known < until) {
            let mut metadata = match &current.metadata {
                Value::Object(_) => current.metadata.clone(),
                _ => json!({}),
            };
            metadata[WINDOW_KEY] = json!(until.to_rfc3339_opts(SecondsFormat::Secs, true));
            let mut model: customer::ActiveModel = current.into();
            model.metadata = Set(metadata);
            model.updated_at = Set(now);
            model.update(&txn).await?;
            outcome.windows_extended += 1;
        }
        if opt_out_reply && opt_out(&txn, tenant, id, SOURCE_REPLY, at, now).await? {
            outcome.opted_out += 1;
        }
    }
    txn.commit().await?;
    Ok(outcome)
}

/// Meta changed a template's status (`message_template_status_update`):
/// the mirrored template, found by Meta's id or else by name and language,
/// takes it. Returns the template if it changed.
pub async fn set_template_status(
    db: &DatabaseConnection,
    tenant: Tenant,
    provider_template_id: Option<&str>,
    name_and_language: Option<(&str, &str)>,
    status: &str,
    now: DateTime<Utc>,
) -> Result<Option<message_template::Model>> {
    let status = status.trim().to_ascii_uppercase();
    if status.is_empty()
        || status.len() > 16
        || !status.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
    {
        return Ok(None);
    }
    let whatsapp = || {
        tenant
            .select::<message_template::Entity>()
            .filter(message_template::Column::Channel.eq(Channel::Whatsapp))
    };
    let mut template = None;
    if let Some(id) = provider_template_id {
        template = whatsapp()
            .filter(message_template::Column::ProviderTemplateId.eq(id))
            .one(db)
            .await?;
    }
    if template.is_none()
        && let Some((name, language)) = name_and_language
    {
        template = whatsapp()
            .filter(message_template::Column::Name.eq(name))
            .filter(message_template::Column::Language.eq(language))
            .one(db)
            .await?;
    }
    let Some(template) = template else {
        return Ok(None);
    };
    let moved = message_template::Entity::update_many()
        .col_expr(
            message_template::Column::Status,
            Expr::value(status.clone()),
        )
        .col_expr(message_template::Column::UpdatedAt, Expr::value(now))
        .filter(message_template::Column::Id.eq(template.id))
        .filter(message_template::Column::Status.ne(status))
        .exec(db)
        .await?;
    if moved.rows_affected == 0 {
        return Ok(None);
    }
    Ok(message_template::Entity::find_by_id(template.id)
        .one(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brazilian_numbers_are_tried_with_and_without_the_ninth_digit() {
        assert_eq!(
            phone_candidates("5511987654321"),
            ["+5511987654321", "+551187654321"]
        );
        assert_eq!(
            phone_candidates("551187654321"),
            ["+551187654321", "+5511987654321"]
        );
        // A landline has no ninth digit to add.
        assert_eq!(phone_candidates("551132654321"), ["+551132654321"]);
        assert_eq!(phone_candidates("14155550123"), ["+14155550123"]);
        assert!(phone_candidates("").is_empty());
        assert!(phone_candidates("55 11 9").is_empty());
        assert!(phone_candidates("1234567890123456").is_empty());
    }

    #[test]
    fn states_only_move_up_and_failed_never_undoes_read() {
        use MessageStatus::*;
        assert!(superseded_by(Delivered).contains(&Sent));
        assert!(!superseded_by(Delivered).contains(&Read));
        assert!(superseded_by(Read).contains(&Unknown));
        assert!(!superseded_by(Read).contains(&Failed));
        assert!(superseded_by(Failed).contains(&Delivered));
        assert!(!superseded_by(Failed).contains(&Read));
        assert!(!superseded_by(Failed).contains(&Failed));
        assert!(!superseded_by(Sent).contains(&Sent));
        assert!(superseded_by(Unknown).is_empty());
    }
}
