//! Tracked links: `/r/{code}` redirects to the target and records the click
//! (the recipient's click metric, and later first-access attribution).

use chrono::{DateTime, Utc};
use rand::Rng;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
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

/// Whether a link can be tracked: an http(s) URL of at most 2 KiB.
pub fn trackable(target_url: &str) -> bool {
    (target_url.starts_with("https://") || target_url.starts_with("http://"))
        && target_url.len() <= 2048
}

/// A link to track: its code, where it leads, and the message and
/// customer it was sent to.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub tenant: Tenant,
    pub code: String,
    pub target_url: String,
    pub message_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
}

/// Stores the tracked links of a batch of sends, a few statements for the
/// lot. Links that cannot be tracked are refused before anything is written.
pub async fn create_many<C: ConnectionTrait>(
    db: &C,
    links: Vec<NewLink>,
    now: DateTime<Utc>,
) -> Result<()> {
    if links.iter().any(|l| !trackable(&l.target_url)) {
        return Err(Error::Invalid("a tracked link needs an http(s) URL".into()));
    }
    let rows = links.into_iter().map(|link| tracked_link::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(link.tenant.workspace_id()),
        code: Set(link.code),
        message_id: Set(link.message_id),
        customer_id: Set(link.customer_id),
        target_url: Set(link.target_url),
        click_count: Set(0),
        first_clicked_at: Set(None),
        last_clicked_at: Set(None),
        created_at: Set(now),
    });
    for chunk in crate::db::chunked(rows, 500) {
        tracked_link::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
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
