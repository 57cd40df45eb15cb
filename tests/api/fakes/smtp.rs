//! A real SMTP listener on loopback (RFC 5321, no TLS): EHLO/HELO, AUTH
//! PLAIN/LOGIN, MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT. It stores every
//! accepted message with its envelope and raw data.
//!
//! ```ignore
//! let smtp = FakeSmtp::spawn().await;
//! smtp.reject_next_rcpt(550, "5.1.1 User unknown");
//! let config = SmtpConfig::parse(&smtp.url(), "Escola <no-reply@escola.com.br>")?;
//! // ... send, then inspect:
//! let mail = &smtp.messages()[0];
//! assert_eq!(mail.header("Subject").as_deref(), Some("Bem-vinda"));
//! ```
//!
//! With [`FakeSmtp::spawn_with_credentials`], MAIL FROM before a successful
//! AUTH is refused (530) and wrong credentials get 535.

#![allow(dead_code)] // shared by many tests; not each uses every helper

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

const GREETING_HOST: &str = "fake-smtp.jornada.test";

/// A message the listener accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The MAIL FROM address (without angle brackets).
    pub mail_from: String,
    /// The RCPT TO addresses accepted, in order.
    pub rcpt_to: Vec<String>,
    /// The message as transmitted (dot-stuffing undone), CRLF line ends.
    pub data: String,
    /// The user of a successful AUTH in this session.
    pub authenticated_as: Option<String>,
}

impl ReceivedMail {
    /// The headers part (up to the first empty line).
    pub fn headers(&self) -> &str {
        self.data
            .split_once("\r\n\r\n")
            .map_or(self.data.as_str(), |(headers, _)| headers)
    }

    /// The body part (after the first empty line).
    pub fn body(&self) -> &str {
        self.data
            .split_once("\r\n\r\n")
            .map_or("", |(_, body)| body)
    }

    /// A header's value, unfolded (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        let mut found: Option<String> = None;
        let mut collecting = false;
        for line in self.headers().split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if collecting && let Some(value) = found.as_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                continue;
            }
            if found.is_some() && collecting {
                break;
            }
            if let Some((key, value)) = line.split_once(':')
                && key.trim().eq_ignore_ascii_case(name)
            {
                found = Some(value.trim().to_owned());
                collecting = true;
            }
        }
        found
    }
}

struct Rejection {
    code: u16,
    text: String,
}

#[derive(Default)]
struct SmtpState {
    messages: Vec<ReceivedMail>,
    /// Every command line received (AUTH payloads redacted).
    commands: Vec<String>,
    reject_rcpt: VecDeque<Rejection>,
    reject_data: VecDeque<Rejection>,
    credentials: Option<(String, String)>,
    connections: usize,
}

type Shared = Arc<Mutex<SmtpState>>;

fn lock(state: &Shared) -> MutexGuard<'_, SmtpState> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An SMTP listener; stops (with its sessions) when dropped.
pub struct FakeSmtp {
    port: u16,
    state: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeSmtp {
    /// A listener that accepts anyone (and any AUTH).
    pub async fn spawn() -> Self {
        Self::start(None).await
    }

    /// A listener that requires AUTH with these credentials.
    pub async fn spawn_with_credentials(user: &str, password: &str) -> Self {
        Self::start(Some((user.to_owned(), password.to_owned()))).await
    }

    async fn start(credentials: Option<(String, String)>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake SMTP server");
        let port = listener.local_addr().expect("fake SMTP address").port();
        let state: Shared = Arc::new(Mutex::new(SmtpState {
            credentials,
            ..SmtpState::default()
        }));
        let accept_state = state.clone();
        let server = tokio::spawn(async move {
            // Sessions live in this set: aborting the server ends them too.
            let mut sessions = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        lock(&accept_state).connections += 1;
                        sessions.spawn(session(stream, accept_state.clone()));
                    }
                    Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                }
            }
        });
        Self {
            port,
            state,
            server,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:<port>?tls=none`: plain SMTP, no credentials.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// `smtp://user:password@127.0.0.1:<port>?tls=none` (percent-encode as
    /// needed).
    pub fn url_with_credentials(&self, user: &str, password: &str) -> String {
        format!("smtp://{user}:{password}@127.0.0.1:{}?tls=none", self.port)
    }

    /// The next RCPT TO is answered `code text` (4xx or 5xx); FIFO.
    pub fn reject_next_rcpt(&self, code: u16, text: &str) {
        self.lock().reject_rcpt.push_back(Rejection {
            code,
            text: text.to_owned(),
        });
    }

    /// The next message's end of DATA is answered `code text`; FIFO.
    pub fn reject_next_data(&self, code: u16, text: &str) {
        self.lock().reject_data.push_back(Rejection {
            code,
            text: text.to_owned(),
        });
    }

    /// Messages accepted so far.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.lock().messages.clone()
    }

    /// Waits until `count` messages were accepted; panics after 10 s.
    pub async fn wait_for(&self, count: usize) -> Vec<ReceivedMail> {
        let started = std::time::Instant::now();
        loop {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "only {} of {count} messages arrived",
                messages.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every command line received, in order (AUTH data redacted).
    pub fn commands(&self) -> Vec<String> {
        self.lock().commands.clone()
    }

    pub fn connections(&self) -> usize {
        self.lock().connections
    }

    fn lock(&self) -> MutexGuard<'_, SmtpState> {
        lock(&self.state)
    }
}

async fn reply(writer: &mut OwnedWriteHalf, text: &str) -> std::io::Result<()> {
    writer.write_all(text.as_bytes()).await?;
    writer.write_all(b"\r\n").await?;
    writer.flush().await
}

/// Reads one line without its CRLF; `None` at end of stream.
async fn read_line<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> Option<String> {
    let mut buffer = Vec::new();
    let n = reader.read_until(b'\n', &mut buffer).await.ok()?;
    if n == 0 {
        return None;
    }
    while buffer.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buffer.pop();
    }
    Some(String::from_utf8_lossy(&buffer).into_owned())
}

fn decode_base64(text: &str) -> Option<String> {
    String::from_utf8(BASE64.decode(text.trim()).ok()?).ok()
}

/// The address inside `FROM:<a@b> PARAMS` / `TO:<a@b>`.
fn path_argument(argument: &str) -> Option<String> {
    let start = argument.find('<')?;
    let end = argument[start..].find('>')? + start;
    Some(argument[start + 1..end].to_owned())
}

struct Session {
    authenticated_as: Option<String>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

impl Session {
    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }
}

async fn session(stream: TcpStream, state: Shared) {
    let _ = run_session(stream, state).await;
}

async fn run_session(stream: TcpStream, state: Shared) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    reply(
        &mut writer,
        &format!("220 {GREETING_HOST} ESMTP fake ready"),
    )
    .await?;
    let mut session = Session {
        authenticated_as: None,
        mail_from: None,
        rcpt_to: Vec::new(),
    };
    while let Some(line) = read_line(&mut reader).await {
        let (verb, argument) = match line.split_once(' ') {
            Some((verb, argument)) => (verb.to_ascii_uppercase(), argument.trim().to_owned()),
            None => (line.trim().to_ascii_uppercase(), String::new()),
        };
        lock(&state).commands.push(if verb == "AUTH" {
            format!("AUTH {}", argument.split(' ').next().unwrap_or_default())
        } else {
            line.clone()
        });
        let requires_auth = lock(&state).credentials.is_some();
        match verb.as_str() {
            "EHLO" => {
                session.reset();
                for text in [
                    format!("250-{GREETING_HOST} greets {argument}"),
                    "250-8BITMIME".into(),
                    "250-SMTPUTF8".into(),
                    "250-AUTH PLAIN LOGIN".into(),
                    "250 SIZE 10485760".into(),
                ] {
                    writer.write_all(text.as_bytes()).await?;
                    writer.write_all(b"\r\n").await?;
                }
                writer.flush().await?;
            }
            "HELO" => {
                session.reset();
                reply(&mut writer, &format!("250 {GREETING_HOST}")).await?;
            }
            "AUTH" => {
                let mut parts = argument.splitn(2, ' ');
                let mechanism = parts.next().unwrap_or_default().to_ascii_uppercase();
                let initial = parts.next().map(str::to_owned);
                let credentials = match mechanism.as_str() {
                    "PLAIN" => {
                        let payload = match initial {
                            Some(payload) => payload,
                            None => {
                                reply(&mut writer, "334 ").await?;
                                read_line(&mut reader).await.unwrap_or_default()
                            }
                        };
                        decode_base64(&payload).and_then(|decoded| {
                            let mut fields = decoded.split('\0');
                            let _authzid = fields.next()?;
                            Some((fields.next()?.to_owned(), fields.next()?.to_owned()))
                        })
                    }
                    "LOGIN" => {
                        let user = match initial {
                            Some(user) => user,
                            None => {
                                reply(&mut writer, "334 VXNlcm5hbWU6").await?;
                                read_line(&mut reader).await.unwrap_or_default()
                            }
                        };
                        reply(&mut writer, "334 UGFzc3dvcmQ6").await?;
                        let password = read_line(&mut reader).await.unwrap_or_default();
                        decode_base64(&user).zip(decode_base64(&password))
                    }
                    _ => {
                        reply(&mut writer, "504 5.5.4 Unrecognized authentication type").await?;
                        continue;
                    }
                };
                let expected = lock(&state).credentials.clone();
                match (credentials, expected) {
                    (Some((user, password)), Some((want_user, want_password)))
                        if user == want_user && password == want_password =>
                    {
                        session.authenticated_as = Some(user);
                        reply(&mut writer, "235 2.7.0 Authentication successful").await?;
                    }
                    (Some((user, _)), None) => {
                        session.authenticated_as = Some(user);
                        reply(&mut writer, "235 2.7.0 Authentication successful").await?;
                    }
                    _ => {
                        reply(&mut writer, "535 5.7.8 Authentication credentials invalid").await?;
                    }
                }
            }
            "MAIL" => {
                if requires_auth && session.authenticated_as.is_none() {
                    reply(&mut writer, "530 5.7.0 Authentication required").await?;
                } else if session.mail_from.is_some() {
                    reply(&mut writer, "503 5.5.1 Error: nested MAIL command").await?;
                } else if let Some(from) = path_argument(&argument) {
                    session.mail_from = Some(from);
                    reply(&mut writer, "250 2.1.0 Ok").await?;
                } else {
                    reply(&mut writer, "501 5.5.4 Syntax: MAIL FROM:<address>").await?;
                }
            }
            "RCPT" => {
                if session.mail_from.is_none() {
                    reply(&mut writer, "503 5.5.1 Error: need MAIL command").await?;
                    continue;
                }
                let Some(to) = path_argument(&argument) else {
                    reply(&mut writer, "501 5.5.4 Syntax: RCPT TO:<address>").await?;
                    continue;
                };
                let rejection = lock(&state).reject_rcpt.pop_front();
                match rejection {
                    Some(Rejection { code, text }) => {
                        reply(&mut writer, &format!("{code} {text} <{to}>")).await?;
                    }
                    None => {
                        session.rcpt_to.push(to);
                        reply(&mut writer, "250 2.1.5 Ok").await?;
                    }
                }
            }
            "DATA" => {
                if session.rcpt_to.is_empty() {
                    reply(&mut writer, "503 5.5.1 Error: need RCPT command").await?;
                    continue;
                }
                reply(&mut writer, "354 End data with <CR><LF>.<CR><LF>").await?;
                let mut data = String::new();
                loop {
                    let Some(line) = read_line(&mut reader).await else {
                        return Ok(());
                    };
                    if line == "." {
                        break;
                    }
                    // Dot-stuffing: the client doubled every leading dot.
                    let line = line.strip_prefix('.').unwrap_or(&line);
                    data.push_str(line);
                    data.push_str("\r\n");
                }
                let rejection = lock(&state).reject_data.pop_front();
                match rejection {
                    Some(Rejection { code, text }) => {
                        reply(&mut writer, &format!("{code} {text}")).await?;
                    }
                    None => {
                        let number = {
                            let mut state = lock(&state);
                            state.messages.push(ReceivedMail {
                                mail_from: session.mail_from.clone().unwrap_or_default(),
                                rcpt_to: session.rcpt_to.clone(),
                                data,
                                authenticated_as: session.authenticated_as.clone(),
                            });
                            state.messages.len()
                        };
                        reply(
                            &mut writer,
                            &format!("250 2.0.0 Ok: queued as FAKE{number:05}"),
                        )
                        .await?;
                    }
                }
                session.reset();
            }
            "RSET" => {
                session.reset();
                reply(&mut writer, "250 2.0.0 Ok").await?;
            }
            "NOOP" => reply(&mut writer, "250 2.0.0 Ok").await?,
            "QUIT" => {
                reply(&mut writer, "221 2.0.0 Bye").await?;
                return Ok(());
            }
            _ => reply(&mut writer, "502 5.5.2 Error: command not recognized").await?,
        }
    }
    Ok(())
}
