//! A generic HTTP provider for SMS and push gateways: `POST <url>` with
//! `Authorization: Bearer <token>` and the JSON body
//! `{"to", "body", "idempotencyKey"}`; a 2xx answer `{"id"}` is the receipt.
//!
//! The gateway deduplicates by idempotency key (also sent as the
//! `Idempotency-Key` header), so a timed-out call is safe to retry.

use std::fmt;
use std::time::Duration;

use entity::enums::Channel;
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};
use tracing::Instrument;

use super::{
    ChannelMessage, ChannelProvider, Content, HttpOptions, Recipient, SendError, SendReceipt,
    channel_name, http_url, idempotent_transport_error, retry_after_header, scrub,
};

/// Where one channel's gateway is.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpProviderConfig {
    /// `Sms` or `Push`.
    pub channel: Channel,
    pub url: String,
    pub token: Option<String>,
}

impl fmt::Debug for HttpProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpProviderConfig")
            .field("channel", &self.channel)
            .field("url", &"[redacted]")
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Sends SMS or push messages through an HTTP gateway.
pub struct HttpProvider {
    http: reqwest::Client,
    url: reqwest::Url,
    config: HttpProviderConfig,
}

impl fmt::Debug for HttpProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpProvider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HttpProvider {
    pub fn new(config: HttpProviderConfig) -> Result<Self, SendError> {
        Self::with_options(config, HttpOptions::default())
    }

    pub fn with_options(
        config: HttpProviderConfig,
        options: HttpOptions,
    ) -> Result<Self, SendError> {
        let name = channel_name(config.channel);
        let url = http_url(&config.url).ok_or_else(|| SendError::NotConfigured {
            reason: format!("{name}.url is not an http(s) URL"),
        })?;
        Ok(Self {
            http: options.client()?,
            url,
            config,
        })
    }

    /// A line for [`super::Channels::describe`]: the gateway's host only (a
    /// gateway URL may carry a key in its path or query).
    pub fn describe(&self) -> String {
        format!(
            "HTTP gateway at {}://{}{}",
            self.url.scheme(),
            self.url.host_str().unwrap_or_default(),
            self.url.port().map(|p| format!(":{p}")).unwrap_or_default()
        )
    }

    fn payload(&self, message: &ChannelMessage) -> Result<Value, SendError> {
        if self.config.channel == Channel::Sms && !matches!(message.to, Recipient::Phone(_)) {
            return Err(SendError::wrong_recipient(self.config.channel, &message.to));
        }
        let to = message.to.address().trim();
        if to.is_empty() {
            return Err(SendError::permanent("the recipient is empty"));
        }
        match &message.content {
            Content::Text { body } if !body.trim().is_empty() => Ok(json!({
                "to": to,
                "body": body,
                "idempotencyKey": message.idempotency_key,
            })),
            Content::Text { .. } => Err(SendError::permanent("the message body is empty")),
            Content::Json(Value::Object(fields)) => {
                let mut payload = Map::new();
                payload.insert("to".into(), Value::String(to.to_owned()));
                for (key, value) in fields {
                    if key != "to" && key != "idempotencyKey" {
                        payload.insert(key.clone(), value.clone());
                    }
                }
                payload.insert(
                    "idempotencyKey".into(),
                    Value::String(message.idempotency_key.clone()),
                );
                Ok(Value::Object(payload))
            }
            content => Err(SendError::unsupported(self.config.channel, content)),
        }
    }

    async fn post(&self, message: &ChannelMessage) -> Result<SendReceipt, SendError> {
        let payload = self.payload(message)?;
        let mut request = self
            .http
            .post(self.url.clone())
            .header("Idempotency-Key", &message.idempotency_key)
            .json(&payload);
        if let Some(token) = &self.config.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(idempotent_transport_error)?;
        let status = response.status();
        let retry_after = retry_after_header(response.headers());
        let body = response.bytes().await.unwrap_or_default();
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if status.is_success() {
            let provider_message_id = match &value["id"] {
                Value::String(id) if !id.is_empty() => id.clone(),
                Value::Number(id) => id.to_string(),
                // Accepted without an id: the key is what both sides know.
                _ => message.idempotency_key.clone(),
            };
            return Ok(SendReceipt {
                provider_message_id,
            });
        }
        let described = ["error", "message", "detail"]
            .iter()
            .find_map(|key| match &value[key] {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o.get("message").and_then(Value::as_str).map(str::to_owned),
                _ => None,
            })
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        let secrets = [self.config.token.as_deref().unwrap_or_default()];
        let reason = scrub(&described, &secrets, Some(&message.to));
        Err(classify_status(status.as_u16(), reason, retry_after))
    }
}

/// How a gateway's HTTP status is handled.
pub fn classify_status(status: u16, reason: String, retry_after: Option<Duration>) -> SendError {
    let code = Some(i64::from(status));
    let retry = |seconds| SendError::Retry {
        after: retry_after.unwrap_or(Duration::from_secs(seconds)),
        code,
        reason: reason.clone(),
    };
    match status {
        401 | 403 => SendError::Unauthorized { code, reason },
        408 | 425 => retry(30),
        429 => retry(60),
        500..=599 => retry(30),
        _ => SendError::Permanent { code, reason },
    }
}

impl ChannelProvider for HttpProvider {
    fn channel(&self) -> Channel {
        self.config.channel
    }

    fn send<'a>(
        &'a self,
        message: &'a ChannelMessage,
    ) -> BoxFuture<'a, Result<SendReceipt, SendError>> {
        let span = tracing::info_span!(
            "http_channel.send",
            channel = channel_name(self.config.channel),
            idempotency_key = %message.idempotency_key,
        );
        Box::pin(
            async move {
                let result = self.post(message).await;
                if let Err(error) = &result {
                    tracing::info!(
                        class = error.class(),
                        code = error.code(),
                        "gateway did not accept the message"
                    );
                }
                result
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let class = |status| classify_status(status, "r".into(), None).class();
        assert_eq!(class(401), "unauthorized");
        assert_eq!(class(429), "retry");
        assert_eq!(class(503), "retry");
        assert_eq!(class(400), "permanent");
        assert_eq!(
            classify_status(429, "r".into(), Some(Duration::from_secs(7))).retry_after(),
            Some(Duration::from_secs(7))
        );
    }
}
