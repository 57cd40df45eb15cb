//! Tracked links: `/r/{code}` redirects to the target and records the click
//! (the recipient's click metric, and later first-access attribution).

use chrono::{DateTime, Utc};
use rand::Rng;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::db::new_id;
use crate::entities::{campaign_recipient, message, tracked_link};
use crate::error::{Error, Result};
use crate::tenant::Tenant;

const CODE_ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const CODE_LEN: usize = 10;

/// A fresh random link code.
pub fn new_code() -> String {
    let mut rng = rand::thread_rng();
    (0..CODE_LEN)
        .map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// Whether `code` could be one of ours (checked before any query).
pub fn plausible_code(code: &str) -> bool {
    code.len() == CODE_LEN && code.bytes().all(|b| CODE_ALPHABET.contains(&b))
}

/// Creates a tracked link to `target_url` for a message to a customer.
pub async fn create<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    target_url: &str,
    message_id: Option<Uuid>,
    customer_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<tracked_link::Model> {
    create_with_code(
        db,
        tenant,
        &new_code(),
        target_url,
        message_id,
        customer_id,
        now,
    )
    .await
}

/// Whether a link can be tracked: an http(s) URL of at most 2 KiB.
pub fn trackable(target_url: &str) -> bool {
    (target_url.starts_with("https://") || target_url.starts_with("http://"))
        && target_url.len() <= 2048
}

/// Creates a tracked link under a code chosen beforehand (rendering picks
/// codes before the message row exists).
pub async fn create_with_code<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    code: &str,
    target_url: &str,
    message_id: Option<Uuid>,
    customer_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<tracked_link::Model> {
    if !trackable(target_url) {
        return Err(Error::Invalid("a tracked link needs an http(s) URL".into()));
    }
    Ok(tracked_link::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(tenant.workspace_id()),
        code: Set(code.to_owned()),
        message_id: Set(message_id),
        customer_id: Set(customer_id),
        target_url: Set(target_url.to_owned()),
        click_count: Set(0),
        first_clicked_at: Set(None),
        last_clicked_at: Set(None),
        created_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// Records a click and returns where to send the visitor.
pub async fn click<C: ConnectionTrait>(
    db: &C,
    code: &str,
    at: DateTime<Utc>,
) -> Result<Option<tracked_link::Model>> {
    if !plausible_code(code) {
        return Ok(None);
    }
    let Some(link) = tracked_link::Entity::find()
        .filter(tracked_link::Column::Code.eq(code))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    tracked_link::Entity::update_many()
        .col_expr(
            tracked_link::Column::ClickCount,
            Expr::col(tracked_link::Column::ClickCount).add(1),
        )
        .col_expr(
            tracked_link::Column::FirstClickedAt,
            Expr::value(Some(link.first_clicked_at.unwrap_or(at))),
        )
        .col_expr(tracked_link::Column::LastClickedAt, Expr::value(Some(at)))
        .filter(tracked_link::Column::Id.eq(link.id))
        .exec(db)
        .await?;
    if let Some(message_id) = link.message_id
        && let Some(message) = message::Entity::find_by_id(message_id).one(db).await?
        && let Some(recipient_id) = message.campaign_recipient_id
    {
        crate::executions::mark_recipient(
            db,
            recipient_id,
            campaign_recipient::Column::ClickedAt,
            at,
        )
        .await?;
    }
    Ok(Some(link))
}
