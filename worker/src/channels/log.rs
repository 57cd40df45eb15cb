//! The log channel: records a message through tracing without sending it.
//! A workspace without credentials for a channel gets this provider, so a
//! fresh install runs campaigns end to end.

use entity::enums::Channel;
use futures::future::BoxFuture;

use super::{ChannelMessage, ChannelProvider, Content, SendError, SendReceipt, channel_name};

/// Records without sending; answers a synthetic `log-<uuid>` id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogProvider {
    channel: Channel,
}

impl LogProvider {
    /// A log provider standing in for `channel`.
    pub fn new(channel: Channel) -> Self {
        Self { channel }
    }
}

impl ChannelProvider for LogProvider {
    fn channel(&self) -> Channel {
        self.channel
    }

    fn send<'a>(
        &'a self,
        message: &'a ChannelMessage,
    ) -> BoxFuture<'a, Result<SendReceipt, SendError>> {
        Box::pin(async move {
            let provider_message_id = format!("log-{}", uuid::Uuid::new_v4());
            // Only what identifies the send: never the address or the text.
            let template = match &message.content {
                Content::Template { name, .. } => Some(name.as_str()),
                _ => None,
            };
            tracing::info!(
                channel = channel_name(self.channel),
                idempotency_key = %message.idempotency_key,
                recipient = message.to.kind(),
                content = message.content.kind(),
                template,
                %provider_message_id,
                "message recorded by the log channel (not sent)"
            );
            Ok(SendReceipt {
                provider_message_id,
            })
        })
    }
}
