//! Webhooks: `POST` a JSON document to the URL a message names, with the
//! `X-Jornada-Idempotency-Key` header so the receiver can drop a repeat.

use entity::enums::Channel;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tracing::Instrument;

use super::http::classify_status;
use super::{
    ChannelMessage, ChannelProvider, Content, HttpOptions, Recipient, SendError, SendReceipt,
    http_url, idempotent_transport_error, retry_after_header,
};

/// The header carrying the message's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "X-Jornada-Idempotency-Key";

/// Posts JSON to per-message URLs. Redirects are not followed (a 3xx is a
/// permanent failure): a redirected POST would silently become a GET.
#[derive(Debug)]
pub struct WebhookProvider {
    http: reqwest::Client,
}

impl WebhookProvider {
    pub fn new() -> Result<Self, SendError> {
        Self::with_options(HttpOptions::default())
    }

    pub fn with_options(options: HttpOptions) -> Result<Self, SendError> {
        Ok(Self {
            http: options.client()?,
        })
    }

    async fn post(&self, message: &ChannelMessage) -> Result<SendReceipt, SendError> {
        let Recipient::Url(url) = &message.to else {
            return Err(SendError::wrong_recipient(Channel::Webhook, &message.to));
        };
        let url = http_url(url)
            .ok_or_else(|| SendError::permanent("the webhook URL is not an http(s) URL"))?;
        let body = match &message.content {
            Content::Json(value) => value.clone(),
            Content::Text { body } => json!({ "text": body }),
            content => return Err(SendError::unsupported(Channel::Webhook, content)),
        };
        let response = self
            .http
            .post(url)
            .header(IDEMPOTENCY_HEADER, &message.idempotency_key)
            .json(&body)
            .send()
            .await
            .map_err(idempotent_transport_error)?;
        let status = response.status();
        let retry_after = retry_after_header(response.headers());
        let answer = response.bytes().await.unwrap_or_default();
        if status.is_success() {
            let value: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
            let provider_message_id = match &value["id"] {
                Value::String(id) if !id.is_empty() => id.clone(),
                Value::Number(id) => id.to_string(),
                _ => message.idempotency_key.clone(),
            };
            return Ok(SendReceipt {
                provider_message_id,
            });
        }
        // The receiver's body is not ours to log: only the status.
        Err(classify_status(
            status.as_u16(),
            format!("the webhook answered HTTP {}", status.as_u16()),
            retry_after,
        ))
    }
}

impl ChannelProvider for WebhookProvider {
    fn channel(&self) -> Channel {
        Channel::Webhook
    }

    fn send<'a>(
        &'a self,
        message: &'a ChannelMessage,
    ) -> BoxFuture<'a, Result<SendReceipt, SendError>> {
        let span = tracing::info_span!(
            "webhook.send",
            idempotency_key = %message.idempotency_key,
        );
        Box::pin(
            async move {
                let result = self.post(message).await;
                if let Err(error) = &result {
                    tracing::info!(
                        class = error.class(),
                        code = error.code(),
                        "webhook not accepted"
                    );
                }
                result
            }
            .instrument(span),
        )
    }
}
