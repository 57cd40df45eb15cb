//! A workspace's channels: which provider sends each channel's messages,
//! read from the workspace's settings, and the cache of them a runner keeps.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use entity::enums::Channel;
use entity::{SecretKey, Tenant};
use futures::future::BoxFuture;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use uuid::Uuid;

use super::*;

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

#[cfg(test)]
impl Channels {
    /// A workspace with no channel set up: every send is only logged.
    pub(crate) fn unconfigured() -> Self {
        Channels {
            entries: HashMap::new(),
            whatsapp: None,
        }
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
