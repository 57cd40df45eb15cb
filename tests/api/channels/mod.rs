//! Message channels against local fakes: the WhatsApp Cloud API (a fake
//! Graph API), e-mail (a real SMTP listener), SMS / push / webhooks (an
//! HTTP sink); template mirroring on both backends; the webhook helpers.

use std::sync::Arc;
use std::time::Duration;

use entity::Tenant;
use entity::enums::Channel;
use serde_json::{Value, json};
use uuid::Uuid;
use worker::channels::email::{EmailProvider, SmtpConfig};
use worker::channels::http::{HttpProvider, HttpProviderConfig};
use worker::channels::webhook::{IDEMPOTENCY_HEADER, WebhookProvider};
use worker::channels::whatsapp::{
    self, DeliveryStatus, TemplateSyncError, WhatsAppProvider, is_opt_out, parse_webhook,
    signature_header, verify_signature,
};
use worker::channels::{
    ChannelMessage, ChannelProvider, Channels, ChannelsCache, Content, HttpOptions, ProviderKind,
    Recipient, SendError,
};

use crate::fakes::meta::{self as meta, FakeMeta, FakeMetaConfig, GraphError};
use crate::fakes::sink::{FakeSink, SinkAnswer};
use crate::fakes::smtp::FakeSmtp;
use crate::helpers::TestApp;
use crate::on_both_backends;

mod email;
mod http_gateways;
mod webhook_helpers;
mod whatsapp_cloud;

const PHONE: &str = "+5511987654321";
const FROM: &str = "Escola da Maria <no-reply@escola.com.br>";

fn template_message(key: &str, to: &str) -> ChannelMessage {
    ChannelMessage {
        idempotency_key: key.into(),
        to: Recipient::Phone(to.into()),
        content: Content::Template {
            name: "boas_vindas".into(),
            language: "pt_BR".into(),
            body_parameters: vec!["Maria".into()],
            button_url_parameters: vec![(0, "abc123".into())],
        },
    }
}

fn text_message(key: &str, to: Recipient, body: &str) -> ChannelMessage {
    ChannelMessage {
        idempotency_key: key.into(),
        to,
        content: Content::Text { body: body.into() },
    }
}

fn email_message(key: &str, to: &str, html: Option<&str>) -> ChannelMessage {
    ChannelMessage {
        idempotency_key: key.into(),
        to: Recipient::Email(to.into()),
        content: Content::Email {
            subject: "Seu acesso esta liberado".into(),
            text: "Oi Maria, seu acesso ao curso esta liberado.".into(),
            html: html.map(str::to_owned),
        },
    }
}

fn short_timeouts() -> HttpOptions {
    HttpOptions {
        request_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(500),
    }
}

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}
