//! First-access attribution: which first accesses jornada brought. A click
//! on one of our tracked links within the workspace's window before the
//! first access makes it ours (`whatsapp_link`, or `email_link` for a link
//! of an e-mail); any other first access came from Hotmart's own access
//! e-mail (`hotmart_email`).

use chrono::Duration;
use sea_orm::ConnectionTrait;

use crate::entities::enums::Channel;
use crate::error::{Error, Result};
use crate::secrets::SecretKey;
use crate::tenant::Tenant;

/// The setting holding the window, in whole hours.
pub const FIRST_ACCESS_WINDOW_KEY: &str = "attribution.first_access_window_hours";
/// The window when the workspace has not set one.
pub const DEFAULT_FIRST_ACCESS_WINDOW_HOURS: u32 = 24;
/// The longest window a workspace may set (30 days).
pub const MAX_FIRST_ACCESS_WINDOW_HOURS: u32 = 720;

pub const WHATSAPP_LINK: &str = "whatsapp_link";
pub const EMAIL_LINK: &str = "email_link";
pub const HOTMART_EMAIL: &str = "hotmart_email";

/// Every origin a first access may have, in the order reports list them.
pub const ORIGINS: [&str; 3] = [WHATSAPP_LINK, EMAIL_LINK, HOTMART_EMAIL];

/// The window's hours as a workspace writes them, or why they are refused.
pub fn parse_window_hours(value: &str) -> Result<u32> {
    match value.trim().parse::<u32>() {
        Ok(hours) if (1..=MAX_FIRST_ACCESS_WINDOW_HOURS).contains(&hours) => Ok(hours),
        _ => Err(Error::Invalid(format!(
            "{FIRST_ACCESS_WINDOW_KEY} must be a whole number of hours from 1 to {MAX_FIRST_ACCESS_WINDOW_HOURS}"
        ))),
    }
}

/// How long before a first access a click on our link counts.
pub async fn first_access_window<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    secrets: &SecretKey,
) -> Result<Duration> {
    let stored = crate::settings::reveal(db, tenant, secrets, FIRST_ACCESS_WINDOW_KEY).await?;
    // Values are checked when set; one stored before that check falls back.
    let hours = stored
        .and_then(|v| parse_window_hours(&v).ok())
        .unwrap_or(DEFAULT_FIRST_ACCESS_WINDOW_HOURS);
    Ok(Duration::hours(i64::from(hours)))
}

/// The origin of a first access brought by a link sent on `channel` (a
/// link of no message was one we shared on WhatsApp).
pub fn link_origin(channel: Option<Channel>) -> &'static str {
    match channel {
        Some(Channel::Email) => EMAIL_LINK,
        _ => WHATSAPP_LINK,
    }
}
