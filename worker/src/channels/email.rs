//! E-mail over SMTP with lettre.
//!
//! `smtp.url`:
//! - `smtp://user:pass@host:port` — STARTTLS when the server offers it
//!   (default port 587); `?tls=required` insists on it, `?tls=none` never
//!   tries (a local relay or a test listener);
//! - `smtps://user:pass@host:port` — TLS from the first byte (default 465).
//!
//! User and password are percent-decoded; a path segment names the EHLO
//! host (`smtp://host:587/mail.example.com`). `smtp.from` is `address` or
//! `Name <address>`.
//!
//! Classification follows SMTP: a 4xx reply is temporary (retry), a 5xx
//! reply permanent (535/534/530: the credentials); a failure to connect
//! retries; a network failure or timeout in the middle of a session may
//! come after the message was accepted, so its outcome is unknown.

use std::fmt;
use std::time::Duration;

use entity::enums::Channel;
use futures::future::BoxFuture;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tracing::Instrument;

use super::{ChannelMessage, ChannelProvider, Content, Recipient, SendError, SendReceipt, scrub};

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text throughout (`?tls=none`).
    None,
    /// STARTTLS when offered (`smtp://`).
    Opportunistic,
    /// STARTTLS or fail (`?tls=required`).
    Required,
    /// Implicit TLS (`smtps://`).
    Wrapper,
}

/// A parsed `smtp.url` and `smtp.from`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<String>,
    pub hello_name: Option<String>,
    pub from: Mailbox,
    /// Per SMTP command.
    pub timeout: Duration,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username.as_ref().map(|_| "[redacted]"))
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("hello_name", &self.hello_name)
            .field("from", &self.from.email.domain())
            .finish()
    }
}

fn not_configured(reason: impl Into<String>) -> SendError {
    SendError::NotConfigured {
        reason: reason.into(),
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

impl SmtpConfig {
    /// Reads `smtp.url` and `smtp.from` (see the module docs).
    pub fn parse(url: &str, from: &str) -> Result<Self, SendError> {
        // The URL's text never goes into an error: it holds the password.
        let parsed = reqwest::Url::parse(url.trim())
            .map_err(|_| not_configured("smtp.url is not a URL like smtp://user:pass@host:587"))?;
        let tls_param = parsed
            .query_pairs()
            .find(|(key, _)| key == "tls")
            .map(|(_, value)| value.to_ascii_lowercase());
        let (tls, default_port) = match (parsed.scheme(), tls_param.as_deref()) {
            ("smtp", None | Some("opportunistic")) => (SmtpTls::Opportunistic, 587),
            ("smtp", Some("required")) => (SmtpTls::Required, 587),
            ("smtp", Some("none")) => (SmtpTls::None, 25),
            ("smtps", None) => (SmtpTls::Wrapper, 465),
            _ => {
                return Err(not_configured(
                    "smtp.url must be smtp://… (tls=opportunistic|required|none) or smtps://…",
                ));
            }
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| not_configured("smtp.url has no host"))?
            .trim_matches(|c| c == '[' || c == ']')
            .to_owned();
        let username = match parsed.username() {
            "" => None,
            user => Some(percent_decode(user).ok_or_else(|| not_configured("smtp.url: bad user"))?),
        };
        let password = match parsed.password() {
            None => None,
            Some(pass) => {
                Some(percent_decode(pass).ok_or_else(|| not_configured("smtp.url: bad password"))?)
            }
        };
        if username.is_some() != password.is_some() {
            return Err(not_configured(
                "smtp.url needs both a user and a password, or neither",
            ));
        }
        let hello_name = Some(parsed.path().trim_matches('/'))
            .filter(|p| !p.is_empty())
            .map(str::to_owned);
        let from: Mailbox = from.trim().parse().map_err(|_| {
            not_configured("smtp.from is not an address like Escola <no-reply@example.com>")
        })?;
        Ok(Self {
            host,
            port: parsed.port().unwrap_or(default_port),
            tls,
            username,
            password,
            hello_name,
            from,
            timeout: Duration::from_secs(30),
        })
    }
}

/// Sends e-mail through one SMTP server; connections are pooled.
pub struct EmailProvider {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    config: SmtpConfig,
}

impl fmt::Debug for EmailProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailProvider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl EmailProvider {
    pub fn new(config: SmtpConfig) -> Result<Self, SendError> {
        let tls_parameters = || {
            TlsParameters::new(config.host.clone())
                .map_err(|_| not_configured("the SMTP TLS parameters could not be built"))
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .timeout(Some(config.timeout));
        builder = match config.tls {
            SmtpTls::None => builder,
            SmtpTls::Opportunistic => builder.tls(Tls::Opportunistic(tls_parameters()?)),
            SmtpTls::Required => builder.tls(Tls::Required(tls_parameters()?)),
            SmtpTls::Wrapper => builder.tls(Tls::Wrapper(tls_parameters()?)),
        };
        if let (Some(user), Some(pass)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        if let Some(name) = &config.hello_name {
            builder = builder.hello_name(ClientId::Domain(name.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            config,
        })
    }

    pub fn config(&self) -> &SmtpConfig {
        &self.config
    }

    /// A line for [`super::Channels::describe`] (no credentials).
    pub fn describe(&self) -> String {
        let tls = match self.config.tls {
            SmtpTls::None => "no TLS",
            SmtpTls::Opportunistic => "STARTTLS when offered",
            SmtpTls::Required => "STARTTLS required",
            SmtpTls::Wrapper => "implicit TLS",
        };
        format!(
            "SMTP {}:{} ({tls}{}), from @{}",
            self.config.host,
            self.config.port,
            if self.config.username.is_some() {
                ", authenticated"
            } else {
                ""
            },
            self.config.from.email.domain()
        )
    }

    /// The Message-ID of a send: derived from the idempotency key, so the
    /// receipt and any bounce name the same message.
    fn message_id(&self, idempotency_key: &str) -> String {
        let local: String = idempotency_key
            .chars()
            .take(200)
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '.'
                }
            })
            .collect();
        format!(
            "jornada.{}@{}",
            local.trim_matches('.'),
            self.config.from.email.domain()
        )
    }

    fn build(&self, message: &ChannelMessage) -> Result<(Message, String), SendError> {
        let Recipient::Email(address) = &message.to else {
            return Err(SendError::wrong_recipient(Channel::Email, &message.to));
        };
        let Content::Email {
            subject,
            text,
            html,
        } = &message.content
        else {
            return Err(SendError::unsupported(Channel::Email, &message.content));
        };
        let to: Address = address
            .trim()
            .parse()
            .map_err(|_| SendError::permanent("the recipient is not an e-mail address"))?;
        let message_id = self.message_id(&message.idempotency_key);
        let builder = Message::builder()
            .from(self.config.from.clone())
            .to(Mailbox::new(None, to))
            .subject(subject.clone())
            .message_id(Some(format!("<{message_id}>")));
        let built = match html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                text.clone(),
                html.clone(),
            )),
            None => builder.singlepart(SinglePart::plain(text.clone())),
        }
        .map_err(|e| SendError::permanent(format!("the e-mail could not be built: {e}")))?;
        Ok((built, message_id))
    }

    fn classify(&self, error: &lettre::transport::smtp::Error, recipient: &Recipient) -> SendError {
        let secrets = [
            self.config.password.as_deref().unwrap_or_default(),
            self.config.username.as_deref().unwrap_or_default(),
        ];
        let reason = scrub(&error.to_string(), &secrets, Some(recipient));
        let code = error.status().map(|c| i64::from(u16::from(c)));
        if error.is_transient() {
            return SendError::Retry {
                after: Duration::from_secs(60),
                code,
                reason,
            };
        }
        if error.is_permanent() {
            return match code {
                Some(530 | 534 | 535) => SendError::Unauthorized { code, reason },
                _ => SendError::Permanent { code, reason },
            };
        }
        // lettre exposes no predicate for a failed connect; its text does.
        let connecting = error.to_string().starts_with("Connection error");
        if connecting || error.is_tls() || error.is_transport_shutdown() {
            return SendError::Retry {
                after: Duration::from_secs(30),
                code: None,
                reason,
            };
        }
        if error.is_client() {
            return SendError::Permanent { code: None, reason };
        }
        // A network error, a timeout or an unreadable reply mid-session:
        // the server may already have accepted the message.
        SendError::Unknown { reason }
    }

    async fn deliver(&self, message: &ChannelMessage) -> Result<SendReceipt, SendError> {
        let (email, message_id) = self.build(message)?;
        match self.transport.send(email).await {
            Ok(_) => Ok(SendReceipt {
                provider_message_id: message_id,
            }),
            Err(error) => Err(self.classify(&error, &message.to)),
        }
    }
}

impl ChannelProvider for EmailProvider {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    fn send<'a>(
        &'a self,
        message: &'a ChannelMessage,
    ) -> BoxFuture<'a, Result<SendReceipt, SendError>> {
        let span = tracing::info_span!("email.send", idempotency_key = %message.idempotency_key);
        Box::pin(
            async move {
                let result = self.deliver(message).await;
                if let Err(error) = &result {
                    tracing::info!(
                        class = error.class(),
                        code = error.code(),
                        "SMTP did not accept the message"
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
    fn urls_parse_with_their_tls_modes() {
        let config = SmtpConfig::parse(
            "smtp://user%40x:p%3Ass@127.0.0.1:2525?tls=none",
            "Escola <no-reply@escola.com.br>",
        )
        .unwrap();
        assert_eq!(config.host, "127.0.0.1");
        assert_eq!(config.port, 2525);
        assert_eq!(config.tls, SmtpTls::None);
        assert_eq!(config.username.as_deref(), Some("user@x"));
        assert_eq!(config.password.as_deref(), Some("p:ss"));
        let plain = SmtpConfig::parse("smtp://mail.example.com", "a@example.com").unwrap();
        assert_eq!((plain.tls, plain.port), (SmtpTls::Opportunistic, 587));
        let wrapped = SmtpConfig::parse("smtps://u:p@mail.example.com", "a@example.com").unwrap();
        assert_eq!((wrapped.tls, wrapped.port), (SmtpTls::Wrapper, 465));
        assert!(SmtpConfig::parse("http://mail.example.com", "a@example.com").is_err());
        assert!(SmtpConfig::parse("smtp://mail.example.com", "not an address").is_err());
        let error = SmtpConfig::parse("smtp://u:hunter2@:bad", "a@example.com").unwrap_err();
        assert!(!error.to_string().contains("hunter2"));
    }

    #[test]
    fn debug_hides_credentials() {
        let config = SmtpConfig::parse(
            "smtp://login-name:hunter2@mail.example.com",
            "a@example.com",
        )
        .unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2") && !printed.contains("login-name"));
    }
}
