//! Message channels behind one trait: WhatsApp Cloud API, e-mail over SMTP,
//! SMS and push through a generic HTTP provider, webhooks, and a log channel
//! that records without sending (what a workspace without credentials uses).
//!
//! A provider makes exactly one attempt per `send` and classifies the outcome
//! per CONTRACTS.md ([`SendError`]); retrying, backoff, opt-outs and the
//! sending guarantee of DESIGN.md belong to the runner that calls it.
//!
//! Nothing here logs personal data: spans carry the channel, the idempotency
//! key and the kind of content, never addresses, names or message text, and
//! provider error texts are scrubbed of the recipient and the credentials.

pub mod email;
pub mod http;
pub mod log;
mod registry;
pub mod webhook;
pub mod whatsapp;

use std::fmt;
use std::time::Duration;

use entity::enums::Channel;
use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;

pub use self::email::{EmailProvider, SmtpConfig, SmtpTls};
pub use self::http::{HttpProvider, HttpProviderConfig};
pub use self::log::LogProvider;
pub use self::registry::{ChannelDescription, Channels, ChannelsCache, ProviderKind};
pub use self::webhook::WebhookProvider;
pub use self::whatsapp::{WhatsAppConfig, WhatsAppProvider};

// ---------------------------------------------------------------------------
// The message and the outcome
// ---------------------------------------------------------------------------

/// Where a message goes.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Recipient {
    /// E.164, e.g. `+5511987654321` (WhatsApp, SMS).
    Phone(String),
    /// An e-mail address.
    Email(String),
    /// An `http(s)` URL (webhooks).
    Url(String),
    /// An id the provider knows the person by (push: a device token or
    /// the customer's id at the push gateway).
    External(String),
}

impl Recipient {
    /// The address as the provider receives it.
    pub fn address(&self) -> &str {
        match self {
            Self::Phone(v) | Self::Email(v) | Self::Url(v) | Self::External(v) => v,
        }
    }

    /// What kind of address this is, for logs (never the address itself).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Phone(_) => "phone",
            Self::Email(_) => "email",
            Self::Url(_) => "url",
            Self::External(_) => "external",
        }
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient::{}([redacted])", self.kind())
    }
}

/// What a message says.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    /// A provider-approved template (WhatsApp): `body_parameters` fill
    /// `{{1}}`, `{{2}}`... of the body; `button_url_parameters` complete the
    /// dynamic URLs of the buttons at those indexes.
    Template {
        name: String,
        language: String,
        body_parameters: Vec<String>,
        button_url_parameters: Vec<(u32, String)>,
    },
    /// Free-form text (WhatsApp only inside the 24 h window; SMS; push).
    Text { body: String },
    /// An e-mail: a plain-text body and, optionally, an HTML alternative.
    Email {
        subject: String,
        text: String,
        html: Option<String>,
    },
    /// A JSON document (webhooks; extra fields for HTTP providers).
    Json(Value),
}

impl Content {
    /// What kind of content this is, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Template { .. } => "template",
            Self::Text { .. } => "text",
            Self::Email { .. } => "email",
            Self::Json(_) => "json",
        }
    }
}

/// One message to one recipient.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelMessage {
    /// Unique per (execution, recipient, node); providers that support it
    /// receive it so that a retried call cannot deliver twice.
    pub idempotency_key: String,
    pub to: Recipient,
    pub content: Content,
}

/// The provider accepted the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendReceipt {
    /// The provider's id (WhatsApp `wamid.…`, the e-mail's Message-ID,
    /// `log-<uuid>` for the log channel): status callbacks refer to it.
    pub provider_message_id: String,
}

/// Why a send did not succeed, classified for the runner (CONTRACTS.md
/// section 3 for WhatsApp; HTTP and SMTP semantics for the others).
///
/// `code` is the provider's own: the Graph API `error.code`, the SMTP reply
/// code, or the HTTP status. `reason` is for people and logs: scrubbed of
/// credentials and of the recipient's address, at most a few hundred
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Nothing was delivered; trying again later may succeed. `after` is the
    /// least the runner should wait (it may back off further).
    #[error("temporarily refused (code {code:?}), retry after {after:?}: {reason}")]
    Retry {
        after: Duration,
        code: Option<i64>,
        reason: String,
    },
    /// The provider chose not to deliver now (WhatsApp 131049); not before
    /// `after` (24 h).
    #[error("not delivered now (code {code:?}), not before {after:?}: {reason}")]
    RetryMuchLater {
        after: Duration,
        code: Option<i64>,
        reason: String,
    },
    /// Will never succeed as it is (bad recipient, bad template, bad
    /// parameters, unsupported content).
    #[error("permanently refused (code {code:?}): {reason}")]
    Permanent { code: Option<i64>, reason: String },
    /// The recipient opted out (WhatsApp 131050): the caller records the
    /// opt-out.
    #[error("the recipient opted out (code {code:?}): {reason}")]
    OptedOut { code: Option<i64>, reason: String },
    /// Free-form WhatsApp text outside the 24 h window (131047): send a
    /// template instead.
    #[error("the 24 h customer-service window is closed (code {code:?}): {reason}")]
    WindowClosed { code: Option<i64>, reason: String },
    /// The credentials were rejected (WhatsApp 190 / HTTP 401, SMTP 535):
    /// every message of this channel fails until they are replaced.
    #[error("the provider rejected the credentials (code {code:?}): {reason}")]
    Unauthorized { code: Option<i64>, reason: String },
    /// The channel is not (correctly) configured for this workspace.
    #[error("the channel is not configured: {reason}")]
    NotConfigured { reason: String },
    /// The request may have reached the provider but its answer was lost
    /// (timeout after sending, connection dropped mid-answer, an answer
    /// without an id). Per DESIGN.md's guarantee the runner records
    /// `unknown` and reconciles from status callbacks: never resend.
    #[error("outcome unknown: {reason}")]
    Unknown { reason: String },
}

impl SendError {
    /// The provider's code, if it gave one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Retry { code, .. }
            | Self::RetryMuchLater { code, .. }
            | Self::Permanent { code, .. }
            | Self::OptedOut { code, .. }
            | Self::WindowClosed { code, .. }
            | Self::Unauthorized { code, .. } => *code,
            Self::NotConfigured { .. } | Self::Unknown { .. } => None,
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Self::Retry { reason, .. }
            | Self::RetryMuchLater { reason, .. }
            | Self::Permanent { reason, .. }
            | Self::OptedOut { reason, .. }
            | Self::WindowClosed { reason, .. }
            | Self::Unauthorized { reason, .. }
            | Self::NotConfigured { reason }
            | Self::Unknown { reason } => reason,
        }
    }

    /// When a later attempt may succeed, the least time to wait first.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Retry { after, .. } | Self::RetryMuchLater { after, .. } => Some(*after),
            _ => None,
        }
    }

    /// A stable name of the class, for logs, metrics and stored errors.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Retry { .. } => "retry",
            Self::RetryMuchLater { .. } => "retry_much_later",
            Self::Permanent { .. } => "permanent",
            Self::OptedOut { .. } => "opted_out",
            Self::WindowClosed { .. } => "window_closed",
            Self::Unauthorized { .. } => "unauthorized",
            Self::NotConfigured { .. } => "not_configured",
            Self::Unknown { .. } => "unknown",
        }
    }

    pub(crate) fn permanent(reason: impl Into<String>) -> Self {
        Self::Permanent {
            code: None,
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(channel: Channel, content: &Content) -> Self {
        Self::permanent(format!(
            "the {} channel cannot send {} content",
            channel_name(channel),
            content.kind()
        ))
    }

    pub(crate) fn wrong_recipient(channel: Channel, recipient: &Recipient) -> Self {
        Self::permanent(format!(
            "the {} channel cannot send to a {} recipient",
            channel_name(channel),
            recipient.kind()
        ))
    }
}

/// One channel's sender.
pub trait ChannelProvider: Send + Sync {
    /// The channel this provider sends for.
    fn channel(&self) -> Channel;

    /// Makes one attempt to send `message`.
    fn send<'a>(
        &'a self,
        message: &'a ChannelMessage,
    ) -> BoxFuture<'a, Result<SendReceipt, SendError>>;
}

// ---------------------------------------------------------------------------
// Shared HTTP plumbing
// ---------------------------------------------------------------------------

/// Timeouts of the HTTP-based providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpOptions {
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl HttpOptions {
    /// A client that never follows redirects: a redirected POST turns into
    /// a GET, and a redirect must not carry the token to another host.
    pub(crate) fn client(&self) -> Result<reqwest::Client, SendError> {
        reqwest::Client::builder()
            .timeout(self.request_timeout)
            .connect_timeout(self.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("jornada/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SendError::NotConfigured {
                reason: format!("the HTTP client could not be built: {}", e.without_url()),
            })
    }
}

/// Longest provider text kept in a [`SendError`] reason.
pub(crate) const MAX_REASON_CHARS: usize = 300;

/// Keeps secrets and the recipient out of a provider's text, and bounds its
/// length.
pub(crate) fn scrub(text: &str, secrets: &[&str], recipient: Option<&Recipient>) -> String {
    let mut text = text.to_owned();
    for secret in secrets {
        if !secret.is_empty() {
            text = text.replace(secret, "[redacted]");
        }
    }
    if let Some(recipient) = recipient {
        let address = recipient.address();
        if !address.is_empty() {
            text = text.replace(address, "[recipient]");
        }
        if let Recipient::Phone(phone) = recipient {
            let digits = phone.trim_start_matches('+');
            if digits.len() >= 6 {
                text = text.replace(digits, "[recipient]");
            }
        }
    }
    if text.chars().count() > MAX_REASON_CHARS {
        text = text.chars().take(MAX_REASON_CHARS).collect::<String>() + "…";
    }
    text
}

/// `Retry-After` in seconds (the HTTP-date form is rare enough to ignore).
pub(crate) fn retry_after_header(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let seconds = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(Duration::from_secs(seconds.min(86_400)))
}

/// Parses an `http(s)` URL from configuration or a message.
pub(crate) fn http_url(text: &str) -> Option<reqwest::Url> {
    let url = reqwest::Url::parse(text.trim()).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host_str().is_some()).then_some(url)
}

/// A transport failure of an HTTP provider whose receiver deduplicates by
/// idempotency key, so any failure can be retried.
pub(crate) fn idempotent_transport_error(error: reqwest::Error) -> SendError {
    let connecting = error.is_connect();
    let reason = if error.is_timeout() {
        "the request timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        format!("transport error: {}", error.without_url())
    };
    SendError::Retry {
        after: Duration::from_secs(if connecting { 5 } else { 30 }),
        code: None,
        reason,
    }
}

pub(crate) fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Whatsapp => "whatsapp",
        Channel::Email => "email",
        Channel::Sms => "sms",
        Channel::Push => "push",
        Channel::Webhook => "webhook",
        Channel::Log => "log",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_never_print_their_address() {
        let printed = format!("{:?}", Recipient::Phone("+5511987654321".into()));
        assert!(!printed.contains("98765"));
        assert!(printed.contains("phone"));
    }

    #[test]
    fn scrub_removes_secrets_and_the_recipient() {
        let recipient = Recipient::Phone("+5511987654321".into());
        let text = scrub(
            "token EAAG-secret for 5511987654321 and +5511987654321",
            &["EAAG-secret"],
            Some(&recipient),
        );
        assert_eq!(text, "token [redacted] for [recipient] and [recipient]");
        let long = scrub(&"x".repeat(1000), &[], None);
        assert_eq!(long.chars().count(), MAX_REASON_CHARS + 1);
    }

    #[test]
    fn classes_are_stable_names() {
        let error = SendError::Retry {
            after: Duration::from_secs(1),
            code: Some(130429),
            reason: "throttled".into(),
        };
        assert_eq!(error.class(), "retry");
        assert_eq!(error.code(), Some(130429));
        assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
        assert_eq!(SendError::permanent("x").retry_after(), None);
    }
}
