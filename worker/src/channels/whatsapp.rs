//! WhatsApp Cloud API (CONTRACTS.md section 3): template and free-form text
//! messages, error classification by the Graph `error.code` (throttling
//! arrives as HTTP 400), and the template listing mirrored into
//! `message_templates`.
//!
//! The token never reaches a log or an error: spans name the endpoint, not
//! the URL (Graph paging links may carry an access token), and Graph error
//! texts are scrubbed of the token and the recipient's number.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::entities::message_template;
use entity::enums::Channel;
use entity::templates::MirroredTemplate;
use entity::{SecretKey, Tenant};
use futures::future::BoxFuture;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::{Value, json};
use tracing::Instrument;

use super::{
    ChannelMessage, ChannelProvider, Content, HttpOptions, Recipient, SendError, SendReceipt,
    http_url, retry_after_header, scrub,
};

pub use entity::whatsapp::webhook::{
    DeliveryStatus, InboundMessage, MAX_CALLBACK_DATA_CHARS, StatusUpdate, WebhookBatch,
    WebhookParseError, is_opt_out, parse_webhook, signature_header, verify_signature,
};

/// Graph API version used when `whatsapp.base_url` is not set.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com/v21.0";
/// The fields the template listing asks for.
pub const TEMPLATE_FIELDS: &str = "id,name,status,category,language,components,parameter_format";
/// Templates per listing page (Graph's `limit`).
pub const TEMPLATE_PAGE_LIMIT: u32 = 100;
/// Pages followed at most: a loop in `paging.next` cannot run forever.
pub const MAX_TEMPLATE_PAGES: usize = 200;
/// WhatsApp's limit on a text message body.
pub const MAX_TEXT_CHARS: usize = 4096;

/// Graph error codes, as CONTRACTS.md classifies them.
pub mod codes {
    /// Application-level API rate limit.
    pub const APP_RATE_LIMIT: i64 = 4;
    pub const INVALID_PARAMETER: i64 = 100;
    pub const ACCESS_TOKEN_EXPIRED: i64 = 190;
    /// WhatsApp Business Account rate limit.
    pub const WABA_RATE_LIMIT: i64 = 80007;
    /// Cloud API throughput reached (~80 msg/s per number by default).
    pub const THROUGHPUT: i64 = 130429;
    pub const UNDELIVERABLE: i64 = 131026;
    /// More than 24 h since the customer last replied.
    pub const RE_ENGAGEMENT: i64 = 131047;
    pub const SPAM_RATE_LIMIT: i64 = 131048;
    /// Meta chose not to deliver (marketing ecosystem health).
    pub const NOT_DELIVERED_FOR_ECOSYSTEM: i64 = 131049;
    /// The user stopped marketing messages.
    pub const USER_OPTED_OUT: i64 = 131050;
    /// Pair rate: same sender to the same user too fast (~1 msg per 6 s).
    pub const PAIR_RATE_LIMIT: i64 = 131056;
    pub const TEMPLATE_PARAMETER_COUNT: i64 = 132000;
    pub const TEMPLATE_MISSING: i64 = 132001;
    pub const TEMPLATE_PAUSED: i64 = 132015;
    pub const TEMPLATE_DISABLED: i64 = 132016;
    /// Register/deregister rate limit.
    pub const ACCOUNT_RATE_LIMIT: i64 = 133016;
}

/// How one Graph error code is handled.
pub fn classify(http_status: u16, code: Option<i64>, reason: String) -> SendError {
    classify_with(http_status, code, reason, None)
}

fn classify_with(
    http_status: u16,
    code: Option<i64>,
    reason: String,
    retry_after: Option<Duration>,
) -> SendError {
    use codes::*;
    let retry = |seconds: u64| SendError::Retry {
        after: retry_after.unwrap_or(Duration::from_secs(seconds)),
        code,
        reason: reason.clone(),
    };
    match code {
        Some(ACCESS_TOKEN_EXPIRED) => SendError::Unauthorized { code, reason },
        Some(THROUGHPUT) => retry(1),
        Some(PAIR_RATE_LIMIT) => retry(6),
        Some(APP_RATE_LIMIT | WABA_RATE_LIMIT | ACCOUNT_RATE_LIMIT) => retry(60),
        Some(NOT_DELIVERED_FOR_ECOSYSTEM) => SendError::RetryMuchLater {
            after: Duration::from_secs(24 * 3600),
            code,
            reason,
        },
        Some(USER_OPTED_OUT) => SendError::OptedOut { code, reason },
        Some(RE_ENGAGEMENT) => SendError::WindowClosed { code, reason },
        Some(
            SPAM_RATE_LIMIT
            | UNDELIVERABLE
            | TEMPLATE_PARAMETER_COUNT
            | TEMPLATE_MISSING
            | TEMPLATE_PAUSED
            | TEMPLATE_DISABLED
            | INVALID_PARAMETER,
        ) => SendError::Permanent { code, reason },
        // Graph's "unknown"/"service" errors and WhatsApp's generic
        // "something went wrong" / "service unavailable" are temporary.
        Some(1 | 2 | 131000 | 131016) => retry(30),
        _ => match http_status {
            401 => SendError::Unauthorized { code, reason },
            408 => retry(30),
            429 => retry(60),
            500..=599 => retry(30),
            _ => SendError::Permanent { code, reason },
        },
    }
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// One WhatsApp Business phone number's Cloud API credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct WhatsAppConfig {
    /// e.g. `https://graph.facebook.com/v21.0` (a fake's address in tests).
    pub base_url: String,
    pub token: String,
    /// Sends need it.
    pub phone_number_id: String,
    /// The template listing needs it.
    pub waba_id: Option<String>,
}

impl fmt::Debug for WhatsAppConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhatsAppConfig")
            .field("base_url", &self.base_url)
            .field("token", &"[redacted]")
            .field("phone_number_id", &self.phone_number_id)
            .field("waba_id", &self.waba_id)
            .finish()
    }
}

impl WhatsAppConfig {
    /// The workspace's WhatsApp settings: `whatsapp.token` (required),
    /// `whatsapp.base_url`, `whatsapp.phone_number_id`, `whatsapp.waba_id`.
    pub async fn from_settings(
        db: &DatabaseConnection,
        secrets: &SecretKey,
        tenant: Tenant,
    ) -> Result<Self, TemplateSyncError> {
        let setting = |key| entity::settings::reveal(db, tenant, secrets, key);
        let token = setting("whatsapp.token")
            .await?
            .filter(|t| !t.trim().is_empty())
            .ok_or(TemplateSyncError::NotConfigured("whatsapp.token"))?;
        Ok(Self {
            base_url: setting("whatsapp.base_url")
                .await?
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
            token: token.trim().to_owned(),
            phone_number_id: setting("whatsapp.phone_number_id")
                .await?
                .unwrap_or_default()
                .trim()
                .to_owned(),
            waba_id: setting("whatsapp.waba_id")
                .await?
                .map(|w| w.trim().to_owned())
                .filter(|w| !w.is_empty()),
        })
    }
}

// ---------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------

/// The `to` of a message: the E.164 number's digits, without `+`.
fn wa_number(recipient: &Recipient) -> Result<String, SendError> {
    let Recipient::Phone(phone) = recipient else {
        return Err(SendError::wrong_recipient(Channel::Whatsapp, recipient));
    };
    let digits = phone.trim().trim_start_matches('+');
    let valid = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if valid {
        Ok(digits.to_owned())
    } else {
        Err(SendError::permanent(
            "the recipient is not an E.164 phone number",
        ))
    }
}

/// The JSON body of `POST /{phone-number-id}/messages`, exactly as
/// CONTRACTS.md shows it (key order included).
pub fn message_payload(message: &ChannelMessage) -> Result<Value, SendError> {
    let to = wa_number(&message.to)?;
    match &message.content {
        Content::Template {
            name,
            language,
            body_parameters,
            button_url_parameters,
        } => {
            if name.trim().is_empty() || language.trim().is_empty() {
                return Err(SendError::permanent(
                    "a template needs a name and a language",
                ));
            }
            if let Some(position) = body_parameters.iter().position(|p| p.trim().is_empty()) {
                return Err(SendError::permanent(format!(
                    "body parameter {{{{{}}}}} is empty",
                    position + 1
                )));
            }
            let text = |value: &String| json!({"type": "text", "text": value});
            let mut components = Vec::new();
            if !body_parameters.is_empty() {
                components.push(json!({
                    "type": "body",
                    "parameters": body_parameters.iter().map(text).collect::<Vec<_>>(),
                }));
            }
            for (index, parameter) in button_url_parameters {
                if parameter.trim().is_empty() {
                    return Err(SendError::permanent(format!(
                        "the URL parameter of button {index} is empty"
                    )));
                }
                components.push(json!({
                    "type": "button",
                    "sub_type": "url",
                    "index": index.to_string(),
                    "parameters": [text(parameter)],
                }));
            }
            let mut template = json!({"name": name, "language": {"code": language}});
            if !components.is_empty() {
                template["components"] = Value::Array(components);
            }
            Ok(with_callback_data(
                json!({
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": to,
                    "type": "template",
                    "template": template,
                }),
                message,
            ))
        }
        Content::Text { body } => {
            if body.trim().is_empty() || body.chars().count() > MAX_TEXT_CHARS {
                return Err(SendError::permanent(format!(
                    "a text message must have 1 to {MAX_TEXT_CHARS} characters"
                )));
            }
            Ok(with_callback_data(
                json!({
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": to,
                    "type": "text",
                    "text": {"body": body},
                }),
                message,
            ))
        }
        content => Err(SendError::unsupported(Channel::Whatsapp, content)),
    }
}

/// Meta echoes `biz_opaque_callback_data` in every status callback of the
/// message, so a send whose answer was lost (and with it the wamid) is still
/// recognised by its idempotency key. A key too long for Meta is left out
/// rather than cut (a cut key would match nothing, or the wrong message).
fn with_callback_data(mut payload: Value, message: &ChannelMessage) -> Value {
    let key = message.idempotency_key.as_str();
    if !key.is_empty() && key.chars().count() <= MAX_CALLBACK_DATA_CHARS {
        payload["biz_opaque_callback_data"] = json!(key);
    }
    payload
}

/// A Graph error body: `{"error": {"message", "type", "code",
/// "error_data": {"details"}, "fbtrace_id"}}`.
fn graph_error(body: &[u8]) -> (Option<i64>, String) {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = &value["error"];
    let code = match &error["code"] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    let message = error["message"].as_str().unwrap_or("no description");
    let reason = match error["error_data"]["details"].as_str() {
        Some(details) if details != message => format!("{message}: {details}"),
        _ => message.to_owned(),
    };
    (code, reason)
}

/// Percent-encodes one path segment (ids come from settings, but a path
/// must never be steerable by data).
fn encode_segment(segment: &str) -> String {
    let mut encoded = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

// ---------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------

/// A template as the listing returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatsAppTemplate {
    pub id: String,
    pub name: String,
    pub language: String,
    pub status: String,
    pub category: Option<String>,
    /// POSITIONAL or NAMED.
    pub parameter_format: Option<String>,
    pub components: Value,
}

impl WhatsAppTemplate {
    /// Lenient: an item without id, name or language is `None` (skipped);
    /// ids may be numbers.
    fn from_value(item: &Value) -> Option<Self> {
        let text = |key: &str| match &item[key] {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        Some(Self {
            id: text("id")?,
            name: text("name")?,
            language: text("language")?,
            status: text("status").unwrap_or_else(|| "UNKNOWN".into()),
            category: text("category"),
            parameter_format: text("parameter_format"),
            components: match &item["components"] {
                components @ Value::Array(_) => components.clone(),
                _ => Value::Array(Vec::new()),
            },
        })
    }

    pub fn mirrored(&self) -> MirroredTemplate {
        MirroredTemplate {
            provider_template_id: self.id.clone(),
            name: self.name.clone(),
            language: self.language.clone(),
            category: self.category.clone(),
            status: self.status.clone(),
            components: self.components.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateSyncError {
    #[error("WhatsApp is not configured for this workspace: set {0}")]
    NotConfigured(&'static str),
    /// The Graph API refused or failed; classified like a send.
    #[error(transparent)]
    Graph(#[from] SendError),
    #[error(transparent)]
    Entity(#[from] entity::Error),
}

// ---------------------------------------------------------------------------
// The provider
// ---------------------------------------------------------------------------

/// Sends WhatsApp messages and lists templates for one phone number / WABA.
pub struct WhatsAppProvider {
    http: reqwest::Client,
    base: reqwest::Url,
    config: WhatsAppConfig,
}

impl fmt::Debug for WhatsAppProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhatsAppProvider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl WhatsAppProvider {
    pub fn new(config: WhatsAppConfig) -> Result<Self, SendError> {
        Self::with_options(config, HttpOptions::default())
    }

    pub fn with_options(config: WhatsAppConfig, options: HttpOptions) -> Result<Self, SendError> {
        if config.token.trim().is_empty() {
            return Err(SendError::NotConfigured {
                reason: "whatsapp.token is empty".into(),
            });
        }
        let base = http_url(&config.base_url).ok_or_else(|| SendError::NotConfigured {
            reason: "whatsapp.base_url is not an http(s) URL".into(),
        })?;
        Ok(Self {
            http: options.client()?,
            base,
            config,
        })
    }

    pub fn config(&self) -> &WhatsAppConfig {
        &self.config
    }

    /// A line for [`super::Channels::describe`] (no secret).
    pub fn describe(&self) -> String {
        format!(
            "WhatsApp Cloud API at {}, phone number id {}{}",
            self.base_url(),
            self.config.phone_number_id,
            match &self.config.waba_id {
                Some(waba) => format!(", WABA {waba}"),
                None => ", no whatsapp.waba_id (templates cannot be synced)".into(),
            }
        )
    }

    fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    fn scrub(&self, text: &str, recipient: Option<&Recipient>) -> String {
        scrub(text, &[self.config.token.as_str()], recipient)
    }

    /// Makes one attempt to send `message` (a template or, inside the 24 h
    /// window, text).
    pub async fn send_message(&self, message: &ChannelMessage) -> Result<SendReceipt, SendError> {
        let span = tracing::info_span!(
            "whatsapp.send",
            idempotency_key = %message.idempotency_key,
            content = message.content.kind(),
            template = tracing::field::Empty,
        );
        if let Content::Template { name, .. } = &message.content {
            span.record("template", name.as_str());
        }
        let result = self.post_message(message).instrument(span.clone()).await;
        span.in_scope(|| match &result {
            Ok(_) => tracing::debug!("accepted by WhatsApp"),
            Err(error) => tracing::info!(
                class = error.class(),
                code = error.code(),
                "WhatsApp did not accept the message"
            ),
        });
        result
    }

    async fn post_message(&self, message: &ChannelMessage) -> Result<SendReceipt, SendError> {
        if self.config.phone_number_id.trim().is_empty() {
            return Err(SendError::NotConfigured {
                reason: "whatsapp.phone_number_id is not set".into(),
            });
        }
        let payload = message_payload(message)?;
        let url = format!(
            "{}/{}/messages",
            self.base_url(),
            encode_segment(self.config.phone_number_id.trim())
        );
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.config.token)
            .json(&payload)
            .send()
            .await
            .map_err(|error| {
                if error.is_connect() {
                    // Nothing reached Meta.
                    SendError::Retry {
                        after: Duration::from_secs(5),
                        code: None,
                        reason: "could not connect to the Graph API".into(),
                    }
                } else {
                    // The request may have been delivered; WhatsApp has no
                    // idempotency key, so a resend could duplicate it.
                    SendError::Unknown {
                        reason: if error.is_timeout() {
                            "the Graph API did not answer in time".into()
                        } else {
                            format!("transport error: {}", error.without_url())
                        },
                    }
                }
            })?;
        let status = response.status();
        let retry_after = retry_after_header(response.headers());
        let body = response.bytes().await;
        if status.is_success() {
            let body = body.map_err(|_| SendError::Unknown {
                reason: "the Graph API accepted the message but its answer was cut".into(),
            })?;
            let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            return match value["messages"][0]["id"].as_str() {
                Some(id) if !id.is_empty() => Ok(SendReceipt {
                    provider_message_id: id.to_owned(),
                }),
                _ => Err(SendError::Unknown {
                    reason: "the Graph API answered 2xx without a message id".into(),
                }),
            };
        }
        let (code, reason) = body
            .map(|b| graph_error(&b))
            .unwrap_or((None, String::new()));
        let reason = if reason.is_empty() {
            format!("HTTP {}", status.as_u16())
        } else {
            self.scrub(&reason, Some(&message.to))
        };
        Err(classify_with(status.as_u16(), code, reason, retry_after))
    }

    /// Every template of the WABA, following `paging.next` until it is
    /// absent. Items without id, name or language are skipped.
    pub async fn list_templates(&self) -> Result<Vec<WhatsAppTemplate>, SendError> {
        let waba_id = self
            .config
            .waba_id
            .as_deref()
            .ok_or_else(|| SendError::NotConfigured {
                reason: "whatsapp.waba_id is not set".into(),
            })?;
        let span = tracing::info_span!("whatsapp.list_templates", pages = tracing::field::Empty);
        async move {
            let first = format!(
                "{}/{}/message_templates",
                self.base_url(),
                encode_segment(waba_id)
            );
            let mut url = reqwest::Url::parse_with_params(
                &first,
                &[
                    ("fields", TEMPLATE_FIELDS),
                    ("limit", &TEMPLATE_PAGE_LIMIT.to_string()),
                ],
            )
            .map_err(|_| SendError::NotConfigured {
                reason: "whatsapp.base_url or whatsapp.waba_id does not form a URL".into(),
            })?;
            let mut templates = Vec::new();
            let mut skipped = 0usize;
            let mut visited = Vec::new();
            for page in 1..=MAX_TEMPLATE_PAGES {
                let value = self.get_page(url.clone()).await?;
                visited.push(url);
                let items = value["data"].as_array().cloned().unwrap_or_default();
                for item in &items {
                    match WhatsAppTemplate::from_value(item) {
                        Some(template) => templates.push(template),
                        None => skipped += 1,
                    }
                }
                let next = value["paging"]["next"]
                    .as_str()
                    .filter(|n| !n.is_empty() && !items.is_empty());
                let Some(next) = next else {
                    tracing::Span::current().record("pages", page);
                    if skipped > 0 {
                        tracing::warn!(skipped, "template items without id, name or language");
                    }
                    return Ok(templates);
                };
                let next = reqwest::Url::parse(next)
                    .ok()
                    .filter(|n| n.origin() == self.base.origin())
                    .ok_or_else(|| {
                        SendError::permanent(
                            "paging.next does not point to the configured Graph API host; not followed",
                        )
                    })?;
                if visited.contains(&next) {
                    return Err(SendError::permanent("paging.next repeats a page"));
                }
                url = next;
            }
            Err(SendError::permanent(format!(
                "the template listing has more than {MAX_TEMPLATE_PAGES} pages"
            )))
        }
        .instrument(span)
        .await
    }

    async fn get_page(&self, url: reqwest::Url) -> Result<Value, SendError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.config.token)
            .send()
            .await
            // A read is safe to repeat.
            .map_err(super::idempotent_transport_error)?;
        let status = response.status();
        let retry_after = retry_after_header(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(super::idempotent_transport_error)?;
        if !status.is_success() {
            let (code, reason) = graph_error(&body);
            return Err(classify_with(
                status.as_u16(),
                code,
                self.scrub(&reason, None),
                retry_after,
            ));
        }
        serde_json::from_slice(&body)
            .map_err(|_| SendError::permanent("the template listing is not JSON"))
    }

    /// Lists the WABA's templates and mirrors them into `message_templates`
    /// (local enrichment kept); templates Meta no longer lists are marked
    /// `DELETED`. Returns the mirrored rows in listing order.
    pub async fn sync_templates(
        &self,
        db: &DatabaseConnection,
        tenant: Tenant,
        now: DateTime<Utc>,
    ) -> Result<Vec<message_template::Model>, TemplateSyncError> {
        let templates = self.list_templates().await?;
        let mut mirrored = Vec::with_capacity(templates.len());
        let mut listed = Vec::with_capacity(templates.len());
        for template in &templates {
            listed.push((template.name.clone(), template.language.clone()));
            match entity::templates::upsert_mirrored(db, tenant, template.mirrored(), now).await {
                Ok(model) => mirrored.push(model),
                Err(entity::Error::Invalid(reason)) => {
                    tracing::warn!(template = %template.name, %reason, "template not mirrored");
                }
                Err(error) => return Err(error.into()),
            }
        }
        let deleted = entity::templates::mark_unlisted_deleted(db, tenant, &listed, now).await?;
        crate::automation::firing::link_templates(db, tenant).await?;
        tracing::info!(
            workspace_id = %tenant.workspace_id(),
            mirrored = mirrored.len(),
            deleted,
            "WhatsApp templates synced"
        );
        Ok(mirrored)
    }
}

impl ChannelProvider for WhatsAppProvider {
    fn channel(&self) -> Channel {
        Channel::Whatsapp
    }

    fn send<'a>(
        &'a self,
        message: &'a ChannelMessage,
    ) -> BoxFuture<'a, Result<SendReceipt, SendError>> {
        Box::pin(self.send_message(message))
    }
}

/// Mirrors the workspace's WhatsApp templates from Meta (settings
/// `whatsapp.token`, `whatsapp.waba_id`, optional `whatsapp.base_url`).
pub async fn sync_templates(
    db: &DatabaseConnection,
    secrets: &SecretKey,
    tenant: Tenant,
    now: DateTime<Utc>,
) -> Result<Vec<message_template::Model>, TemplateSyncError> {
    let config = WhatsAppConfig::from_settings(db, secrets, tenant).await?;
    if config.waba_id.is_none() {
        return Err(TemplateSyncError::NotConfigured("whatsapp.waba_id"));
    }
    WhatsAppProvider::new(config)?
        .sync_templates(db, tenant, now)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(content: Content) -> ChannelMessage {
        ChannelMessage {
            idempotency_key: "k1".into(),
            to: Recipient::Phone("+5511987654321".into()),
            content,
        }
    }

    #[test]
    fn template_payload_is_the_contract_byte_for_byte() {
        let payload = message_payload(&message(Content::Template {
            name: "boas_vindas".into(),
            language: "pt_BR".into(),
            body_parameters: vec!["Maria".into()],
            button_url_parameters: vec![(0, "abc123".into())],
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_string(&payload).unwrap(),
            r#"{"messaging_product":"whatsapp","recipient_type":"individual","to":"5511987654321","type":"template","template":{"name":"boas_vindas","language":{"code":"pt_BR"},"components":[{"type":"body","parameters":[{"type":"text","text":"Maria"}]},{"type":"button","sub_type":"url","index":"0","parameters":[{"type":"text","text":"abc123"}]}]},"biz_opaque_callback_data":"k1"}"#
        );
    }

    #[test]
    fn a_key_longer_than_meta_allows_is_left_out_of_the_callback_data() {
        let mut long = message(Content::Text { body: "Oi".into() });
        long.idempotency_key = "k".repeat(MAX_CALLBACK_DATA_CHARS + 1);
        let payload = message_payload(&long).unwrap();
        assert!(payload.get("biz_opaque_callback_data").is_none());
        long.idempotency_key = "k".repeat(MAX_CALLBACK_DATA_CHARS);
        let payload = message_payload(&long).unwrap();
        assert_eq!(
            payload["biz_opaque_callback_data"],
            json!("k".repeat(MAX_CALLBACK_DATA_CHARS))
        );
    }

    #[test]
    fn a_template_without_parameters_has_no_components() {
        let payload = message_payload(&message(Content::Template {
            name: "ola".into(),
            language: "pt_BR".into(),
            body_parameters: vec![],
            button_url_parameters: vec![],
        }))
        .unwrap();
        assert!(payload["template"].get("components").is_none());
    }

    #[test]
    fn bad_recipients_and_content_are_permanent() {
        let mut bad = message(Content::Text { body: "oi".into() });
        bad.to = Recipient::Phone("11 98765-4321".into());
        assert_eq!(message_payload(&bad).unwrap_err().class(), "permanent");
        bad.to = Recipient::Email("maria@example.com".into());
        assert_eq!(message_payload(&bad).unwrap_err().class(), "permanent");
        let email = message(Content::Email {
            subject: "s".into(),
            text: "t".into(),
            html: None,
        });
        assert_eq!(message_payload(&email).unwrap_err().class(), "permanent");
        let empty = message(Content::Template {
            name: "t".into(),
            language: "pt_BR".into(),
            body_parameters: vec!["".into()],
            button_url_parameters: vec![],
        });
        assert_eq!(message_payload(&empty).unwrap_err().class(), "permanent");
    }

    #[test]
    fn codes_are_classified_per_the_contract() {
        let class = |status, code| classify(status, Some(code), "r".into()).class();
        for code in [4, 80007, 130429, 131056, 133016] {
            assert_eq!(class(400, code), "retry", "{code}");
        }
        assert_eq!(class(400, 131049), "retry_much_later");
        for code in [131048, 131026, 132000, 132001, 132015, 132016, 100] {
            assert_eq!(class(400, code), "permanent", "{code}");
        }
        assert_eq!(class(400, 131050), "opted_out");
        assert_eq!(class(400, 131047), "window_closed");
        assert_eq!(class(401, 190), "unauthorized");
        assert_eq!(classify(401, None, "r".into()).class(), "unauthorized");
        assert_eq!(classify(503, None, "r".into()).class(), "retry");
        assert_eq!(classify(429, None, "r".into()).class(), "retry");
        assert_eq!(classify(400, None, "r".into()).class(), "permanent");
        assert_eq!(
            classify(400, Some(131049), "r".into()).retry_after(),
            Some(Duration::from_secs(86_400))
        );
    }

    #[test]
    fn graph_errors_are_read_leniently() {
        let (code, reason) = graph_error(
            br#"{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,
            "error_data":{"messaging_product":"whatsapp","details":"Cloud API message throughput has been reached."},
            "fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}}"#,
        );
        assert_eq!(code, Some(130429));
        assert!(reason.contains("throughput"));
        assert_eq!(graph_error(b"<html>").0, None);
        assert_eq!(graph_error(br#"{"error":{"code":"190"}}"#).0, Some(190));
    }

    #[test]
    fn config_debug_hides_the_token() {
        let config = WhatsAppConfig {
            base_url: DEFAULT_BASE_URL.into(),
            token: "EAAG-very-secret".into(),
            phone_number_id: "1234".into(),
            waba_id: None,
        };
        assert!(!format!("{config:?}").contains("EAAG"));
    }
}
