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
pub mod webhook;
pub mod whatsapp;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use entity::enums::Channel;
use entity::{SecretKey, Tenant};
use futures::future::BoxFuture;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

pub use self::email::{EmailProvider, SmtpConfig, SmtpTls};
pub use self::http::{HttpProvider, HttpProviderConfig};
pub use self::log::LogProvider;
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

// ---------------------------------------------------------------------------
// A workspace's channels
// ---------------------------------------------------------------------------

/// What sends a channel's messages in a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    WhatsappCloudApi,
    Smtp,
    Http,
    Webhook,
    /// Records without sending: the channel has no credentials.
    Log,
    /// Settings are present but incomplete or invalid: every send fails
    /// with [`SendError::NotConfigured`] (never silently logged instead).
    Misconfigured,
}

/// One line of [`Channels::describe`]. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelDescription {
    pub channel: Channel,
    pub provider: ProviderKind,
    pub detail: String,
}

/// A provider that refuses every message because its settings are
/// incomplete or invalid.
struct MisconfiguredProvider {
    channel: Channel,
    reason: String,
}

impl ChannelProvider for MisconfiguredProvider {
    fn channel(&self) -> Channel {
        self.channel
    }

    fn send<'a>(
        &'a self,
        _message: &'a ChannelMessage,
    ) -> BoxFuture<'a, Result<SendReceipt, SendError>> {
        Box::pin(async move {
            Err(SendError::NotConfigured {
                reason: self.reason.clone(),
            })
        })
    }
}

struct Entry {
    provider: Arc<dyn ChannelProvider>,
    description: ChannelDescription,
}

/// Every channel of one workspace, built from its settings.
pub struct Channels {
    entries: HashMap<Channel, Entry>,
    whatsapp: Option<Arc<WhatsAppProvider>>,
}

impl fmt::Debug for Channels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channels")
            .field("channels", &self.describe())
            .finish()
    }
}

/// The channels in a stable order.
const ALL_CHANNELS: [Channel; 6] = [
    Channel::Whatsapp,
    Channel::Email,
    Channel::Sms,
    Channel::Push,
    Channel::Webhook,
    Channel::Log,
];

/// The workspace's settings for one channel: `None` when not set.
struct SettingsReader<'a> {
    db: &'a DatabaseConnection,
    secrets: &'a SecretKey,
    tenant: Tenant,
}

enum Read {
    Missing,
    Value(String),
    Undecryptable,
}

impl SettingsReader<'_> {
    async fn read(&self, key: &str) -> Result<Read, entity::Error> {
        match entity::settings::reveal(self.db, self.tenant, self.secrets, key).await {
            Ok(Some(value)) if !value.trim().is_empty() => Ok(Read::Value(value.trim().into())),
            Ok(_) => Ok(Read::Missing),
            Err(entity::Error::Undecryptable) => Ok(Read::Undecryptable),
            Err(error) => Err(error),
        }
    }

    /// Reads `keys`; `Ok(None)` when none is set, `Err(reason)` when some
    /// required one is missing or a value cannot be decrypted.
    async fn group(
        &self,
        required: &[&'static str],
        optional: &[&'static str],
    ) -> Result<Option<Result<HashMap<&'static str, String>, String>>, entity::Error> {
        let mut values = HashMap::new();
        let mut missing = Vec::new();
        let mut undecryptable = Vec::new();
        for key in required.iter().chain(optional) {
            match self.read(key).await? {
                Read::Value(value) => {
                    values.insert(*key, value);
                }
                Read::Missing if required.contains(key) => missing.push(*key),
                Read::Missing => {}
                Read::Undecryptable => undecryptable.push(*key),
            }
        }
        if values.is_empty() && undecryptable.is_empty() {
            return Ok(None);
        }
        if !undecryptable.is_empty() {
            return Ok(Some(Err(format!(
                "{} cannot be decrypted with the configured key",
                undecryptable.join(", ")
            ))));
        }
        if !missing.is_empty() {
            return Ok(Some(Err(format!("{} not set", missing.join(", ")))));
        }
        Ok(Some(Ok(values)))
    }
}

impl Channels {
    /// Builds each channel from the workspace's settings:
    /// - `whatsapp.token` + `whatsapp.phone_number_id` (optional
    ///   `whatsapp.base_url`, `whatsapp.waba_id`) → WhatsApp Cloud API;
    /// - `smtp.url` + `smtp.from` → SMTP;
    /// - `sms.url` / `push.url` (optional `sms.token` / `push.token`) → HTTP;
    /// - webhooks need no settings (the URL is the recipient);
    /// - a channel with none of its settings → the log provider;
    /// - a channel with some but not all, or with invalid values → refuses
    ///   every send with [`SendError::NotConfigured`], so a typo never turns
    ///   real sending into silent logging.
    pub async fn for_workspace(
        db: &DatabaseConnection,
        secrets: &SecretKey,
        tenant: Tenant,
    ) -> Result<Channels, entity::Error> {
        Self::for_workspace_with(db, secrets, tenant, HttpOptions::default()).await
    }

    /// [`Channels::for_workspace`] with other HTTP timeouts.
    pub async fn for_workspace_with(
        db: &DatabaseConnection,
        secrets: &SecretKey,
        tenant: Tenant,
        options: HttpOptions,
    ) -> Result<Channels, entity::Error> {
        let settings = SettingsReader {
            db,
            secrets,
            tenant,
        };
        let mut channels = Channels {
            entries: HashMap::new(),
            whatsapp: None,
        };

        match settings
            .group(
                &["whatsapp.token", "whatsapp.phone_number_id"],
                &["whatsapp.base_url", "whatsapp.waba_id"],
            )
            .await?
        {
            None => channels.log(
                Channel::Whatsapp,
                "whatsapp.token and whatsapp.phone_number_id are not set",
            ),
            Some(Err(reason)) => channels.misconfigured(Channel::Whatsapp, reason),
            Some(Ok(mut values)) => {
                let config = WhatsAppConfig {
                    base_url: values
                        .remove("whatsapp.base_url")
                        .unwrap_or_else(|| whatsapp::DEFAULT_BASE_URL.to_owned()),
                    token: values.remove("whatsapp.token").unwrap_or_default(),
                    phone_number_id: values
                        .remove("whatsapp.phone_number_id")
                        .unwrap_or_default(),
                    waba_id: values.remove("whatsapp.waba_id"),
                };
                match WhatsAppProvider::with_options(config, options) {
                    Ok(provider) => {
                        let provider = Arc::new(provider);
                        let detail = provider.describe();
                        channels.whatsapp = Some(provider.clone());
                        channels.insert(
                            Channel::Whatsapp,
                            provider,
                            ProviderKind::WhatsappCloudApi,
                            detail,
                        );
                    }
                    Err(error) => channels.misconfigured(Channel::Whatsapp, error.reason().into()),
                }
            }
        }

        match settings.group(&["smtp.url", "smtp.from"], &[]).await? {
            None => channels.log(Channel::Email, "smtp.url and smtp.from are not set"),
            Some(Err(reason)) => channels.misconfigured(Channel::Email, reason),
            Some(Ok(values)) => {
                let built = SmtpConfig::parse(&values["smtp.url"], &values["smtp.from"])
                    .and_then(EmailProvider::new);
                match built {
                    Ok(provider) => {
                        let detail = provider.describe();
                        channels.insert(
                            Channel::Email,
                            Arc::new(provider),
                            ProviderKind::Smtp,
                            detail,
                        );
                    }
                    Err(error) => channels.misconfigured(Channel::Email, error.reason().into()),
                }
            }
        }

        for (channel, url_key, token_key) in [
            (Channel::Sms, "sms.url", "sms.token"),
            (Channel::Push, "push.url", "push.token"),
        ] {
            match settings.group(&[url_key], &[token_key]).await? {
                None => channels.log(channel, &format!("{url_key} is not set")),
                Some(Err(reason)) => channels.misconfigured(channel, reason),
                Some(Ok(mut values)) => {
                    let config = HttpProviderConfig {
                        channel,
                        url: values.remove(url_key).unwrap_or_default(),
                        token: values.remove(token_key),
                    };
                    match HttpProvider::with_options(config, options) {
                        Ok(provider) => {
                            let detail = provider.describe();
                            channels.insert(
                                channel,
                                Arc::new(provider),
                                ProviderKind::Http,
                                detail,
                            );
                        }
                        Err(error) => channels.misconfigured(channel, error.reason().into()),
                    }
                }
            }
        }

        match WebhookProvider::with_options(options) {
            Ok(provider) => channels.insert(
                Channel::Webhook,
                Arc::new(provider),
                ProviderKind::Webhook,
                "POST JSON to the URL each message names".into(),
            ),
            Err(error) => channels.misconfigured(Channel::Webhook, error.reason().into()),
        }

        channels.insert(
            Channel::Log,
            Arc::new(LogProvider::new(Channel::Log)),
            ProviderKind::Log,
            "records without sending".into(),
        );
        Ok(channels)
    }

    fn insert(
        &mut self,
        channel: Channel,
        provider: Arc<dyn ChannelProvider>,
        kind: ProviderKind,
        detail: String,
    ) {
        self.entries.insert(
            channel,
            Entry {
                provider,
                description: ChannelDescription {
                    channel,
                    provider: kind,
                    detail,
                },
            },
        );
    }

    fn log(&mut self, channel: Channel, why: &str) {
        self.insert(
            channel,
            Arc::new(LogProvider::new(channel)),
            ProviderKind::Log,
            format!("records without sending: {why}"),
        );
    }

    fn misconfigured(&mut self, channel: Channel, reason: String) {
        tracing::warn!(
            channel = channel_name(channel),
            %reason,
            "channel settings are incomplete or invalid"
        );
        self.insert(
            channel,
            Arc::new(MisconfiguredProvider {
                channel,
                reason: reason.clone(),
            }),
            ProviderKind::Misconfigured,
            reason,
        );
    }

    /// The provider of `channel` (every channel has one).
    pub fn provider(&self, channel: Channel) -> Arc<dyn ChannelProvider> {
        match self.entries.get(&channel) {
            Some(entry) => entry.provider.clone(),
            None => Arc::new(LogProvider::new(channel)),
        }
    }

    /// Which provider serves `channel`.
    pub fn provider_kind(&self, channel: Channel) -> ProviderKind {
        self.entries
            .get(&channel)
            .map_or(ProviderKind::Log, |entry| entry.description.provider)
    }

    /// Sends through the provider of `channel`.
    pub async fn send(
        &self,
        channel: Channel,
        message: &ChannelMessage,
    ) -> Result<SendReceipt, SendError> {
        self.provider(channel).send(message).await
    }

    /// The WhatsApp Cloud API provider, when configured (template sync).
    pub fn whatsapp(&self) -> Option<&WhatsAppProvider> {
        self.whatsapp.as_deref()
    }

    /// Which provider serves each channel and why, in a stable order.
    pub fn describe(&self) -> Vec<ChannelDescription> {
        ALL_CHANNELS
            .iter()
            .filter_map(|channel| self.entries.get(channel))
            .map(|entry| entry.description.clone())
            .collect()
    }
}

/// Built [`Channels`] per workspace, reused for `ttl`: building reads a
/// dozen settings and opens fresh connection pools, so a runner that keeps
/// one of these reuses Graph API and SMTP connections across batches, and
/// picks up changed settings within `ttl`. Keep it inside one runtime (its
/// pools belong to the runtime that opened them).
pub struct ChannelsCache {
    ttl: Duration,
    options: HttpOptions,
    entries: Mutex<HashMap<Uuid, (Instant, Arc<Channels>)>>,
}

impl ChannelsCache {
    /// How long built channels are reused by default.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

    pub fn new(ttl: Duration) -> Self {
        Self::with_options(ttl, HttpOptions::default())
    }

    pub fn with_options(ttl: Duration, options: HttpOptions) -> Self {
        Self {
            ttl,
            options,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The workspace's channels, built when missing or older than the TTL.
    pub async fn get(
        &self,
        db: &DatabaseConnection,
        secrets: &SecretKey,
        tenant: Tenant,
    ) -> Result<Arc<Channels>, entity::Error> {
        let workspace = tenant.workspace_id();
        let fresh = self
            .lock()
            .get(&workspace)
            .filter(|(built, _)| built.elapsed() < self.ttl)
            .map(|(_, channels)| channels.clone());
        if let Some(channels) = fresh {
            return Ok(channels);
        }
        let channels =
            Arc::new(Channels::for_workspace_with(db, secrets, tenant, self.options).await?);
        self.lock()
            .insert(workspace, (Instant::now(), channels.clone()));
        Ok(channels)
    }

    /// Forgets a workspace's channels (after its settings changed).
    pub fn invalidate(&self, tenant: Tenant) {
        self.lock().remove(&tenant.workspace_id());
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, (Instant, Arc<Channels>)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for ChannelsCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_TTL)
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
