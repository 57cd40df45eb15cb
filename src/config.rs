//! Typed, layered configuration: defaults → `jornada.toml` (optional) →
//! `JORNADA_*` environment variables. Secrets never print.

use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// A secret string: `Debug` shows `[redacted]`.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// `sqlite://...` or `postgres://...`.
    pub database_url: String,
    /// Address the HTTP server listens on.
    pub bind: String,
    /// HS256 secret for JWTs; generated into `data_dir` when absent.
    pub jwt_secret: Option<Secret>,
    /// 32-byte settings encryption key (base64 or hex); generated into `data_dir` when absent.
    pub secret_key: Option<Secret>,
    /// Where development secrets are kept.
    pub data_dir: PathBuf,
    /// Most database connections in the pool.
    pub max_connections: u32,
    /// `text` or `json`.
    pub log_format: String,
    /// The address customers reach jornada at (tracked links); defaults to
    /// `http://{bind}`.
    pub public_url: Option<String>,
    /// Seconds a worker holds a claimed recipient or send before another may
    /// take it over.
    pub worker_lease_seconds: u32,
    /// Seconds a client has to send a request's headers (and an idle
    /// keep-alive connection to start its next request).
    pub http_header_timeout_seconds: u64,
    /// Seconds a client has to send a request's body once its headers came.
    pub http_body_timeout_seconds: u64,
    /// Most HTTP connections served at once; more wait to be accepted.
    pub http_max_connections: usize,
    /// Longest lifetime of a token (`30m`, `12h`, `30d`, or seconds), for
    /// every role. Unset: 30 days for `authenticated`, none for `service_role`.
    pub jwt_max_ttl: Option<DurationSetting>,
    /// Origins whose browser pages may call the API (comma-separated, e.g.
    /// `https://app.example.com,http://localhost:5173`). Unset: none, and no
    /// CORS headers at all.
    pub cors_origins: Option<String>,
}

/// A duration as configured: `30d`, `12h`, `30m`, `90s`, or plain seconds
/// (which an environment variable hands over as a number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DurationSetting {
    Seconds(u64),
    Text(String),
}

impl DurationSetting {
    pub fn duration(&self) -> Result<std::time::Duration, String> {
        match self {
            DurationSetting::Seconds(seconds) => parse_duration(&seconds.to_string()),
            DurationSetting::Text(text) => parse_duration(text),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://jornada.db?mode=rwc".into(),
            bind: "127.0.0.1:8080".into(),
            jwt_secret: None,
            secret_key: None,
            data_dir: PathBuf::from(".jornada"),
            max_connections: 16,
            log_format: "text".into(),
            public_url: None,
            worker_lease_seconds: 60,
            http_header_timeout_seconds: 10,
            http_body_timeout_seconds: 30,
            http_max_connections: 1024,
            jwt_max_ttl: None,
            cors_origins: None,
        }
    }
}

impl Config {
    /// Reads the layers; `JORNADA_CONFIG` names another TOML file.
    pub fn load() -> anyhow::Result<Self> {
        let file = std::env::var("JORNADA_CONFIG").unwrap_or_else(|_| "jornada.toml".into());
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(&file))
            .merge(Env::prefixed("JORNADA_").ignore(&["CONFIG"]))
            .extract()
            .context("invalid configuration")
    }

    /// Where tracked links point.
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.bind))
    }

    /// How patient the HTTP server is with clients, and with how many.
    pub fn http_limits(&self) -> anyhow::Result<api::http::serve::HttpLimits> {
        let seconds = |name: &str, value: u64| {
            anyhow::ensure!(value > 0, "JORNADA_{name} must be at least 1 second");
            Ok(std::time::Duration::from_secs(value))
        };
        anyhow::ensure!(
            self.http_max_connections > 0,
            "JORNADA_HTTP_MAX_CONNECTIONS must be at least 1"
        );
        Ok(api::http::serve::HttpLimits {
            header_read_timeout: seconds(
                "HTTP_HEADER_TIMEOUT_SECONDS",
                self.http_header_timeout_seconds,
            )?,
            body_read_timeout: seconds(
                "HTTP_BODY_TIMEOUT_SECONDS",
                self.http_body_timeout_seconds,
            )?,
            max_connections: self.http_max_connections,
        })
    }

    /// How long tokens may live, by role.
    pub fn token_lifetimes(&self) -> anyhow::Result<api::auth::TokenLifetimes> {
        let max = match &self.jwt_max_ttl {
            None => None,
            Some(DurationSetting::Text(text)) if text.trim().is_empty() => None,
            Some(setting) => {
                let max = setting
                    .duration()
                    .map_err(|e| anyhow::anyhow!("JORNADA_JWT_MAX_TTL: {e}"))?;
                Some(chrono::Duration::from_std(max).context("JORNADA_JWT_MAX_TTL is too large")?)
            }
        };
        Ok(api::auth::TokenLifetimes::configured(max))
    }

    /// The origins allowed to call the API from a browser.
    pub fn cors_origins(&self) -> anyhow::Result<api::http::cors::AllowedOrigins> {
        api::http::cors::AllowedOrigins::parse(self.cors_origins.as_deref().unwrap_or_default())
            .map_err(|e| anyhow::anyhow!("JORNADA_CORS_ORIGINS: {e}"))
    }

    /// The JWT secret: configured, or the development one kept in `data_dir`.
    pub fn jwt_secret(&self) -> anyhow::Result<Secret> {
        match &self.jwt_secret {
            Some(secret) if secret.expose().len() >= 32 => Ok(secret.clone()),
            Some(_) => anyhow::bail!("JORNADA_JWT_SECRET must be at least 32 characters"),
            None => development_secret(&self.data_dir, "jwt_secret", || {
                use base64::Engine;
                use rand::RngCore;
                let mut bytes = [0u8; 48];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
            }),
        }
    }

    /// The settings encryption key: configured, or the development one kept in `data_dir`.
    pub fn secret_key(&self) -> anyhow::Result<entity::SecretKey> {
        let text = match &self.secret_key {
            Some(secret) => secret.clone(),
            None => development_secret(
                &self.data_dir,
                "secret_key",
                entity::SecretKey::generate_text,
            )?,
        };
        entity::SecretKey::parse(text.expose())
            .map_err(|e| anyhow::anyhow!("JORNADA_SECRET_KEY: {e}"))
    }
}

/// Parses `90s`, `30m`, `12h`, `7d` (or plain seconds).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 30m, 1h or 7d"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{text}`: use s, m, h or d")),
    };
    number
        .checked_mul(seconds)
        .filter(|s| *s > 0)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is not a positive duration"))
}

/// Reads `data_dir/name`, creating it (mode 0600) with `generate` the first time.
fn development_secret(
    data_dir: &Path,
    name: &str,
    generate: impl FnOnce() -> String,
) -> anyhow::Result<Secret> {
    let path = data_dir.join(name);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Ok(Secret(existing.trim().to_owned()));
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let value = generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(&path) {
        Ok(mut file) => {
            use std::io::Write;
            file.write_all(value.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            tracing::warn!(path = %path.display(), "generated a development {name}; set JORNADA_{} in production", name.to_uppercase());
            Ok(Secret(value))
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(Secret(std::fs::read_to_string(&path)?.trim().to_owned()))
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_common_units() {
        use std::time::Duration;
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("86400"), Ok(Duration::from_secs(86_400)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn token_lifetimes_and_http_limits_come_from_the_configuration() {
        let defaults = Config::default();
        assert_eq!(
            defaults.token_lifetimes().expect("defaults"),
            api::auth::TokenLifetimes::default()
        );
        assert_eq!(
            defaults.http_limits().expect("defaults"),
            api::http::serve::HttpLimits::default()
        );
        let week = Config {
            jwt_max_ttl: Some(DurationSetting::Text("7d".into())),
            ..Config::default()
        };
        let lifetimes = week.token_lifetimes().expect("7d");
        assert_eq!(lifetimes.service_role, Some(chrono::Duration::days(7)));
        assert_eq!(lifetimes.authenticated, Some(chrono::Duration::days(7)));
        let bad = Config {
            jwt_max_ttl: Some(DurationSetting::Text("a fortnight".into())),
            ..Config::default()
        };
        assert!(bad.token_lifetimes().is_err());
        let no_patience = Config {
            http_header_timeout_seconds: 0,
            ..Config::default()
        };
        assert!(no_patience.http_limits().is_err());
    }

    #[test]
    fn cors_origins_come_from_the_configuration() {
        assert!(Config::default().cors_origins().expect("none").is_empty());
        let builder = Config {
            cors_origins: Some("https://app.example.com, http://localhost:5173".into()),
            ..Config::default()
        };
        assert!(!builder.cors_origins().expect("two origins").is_empty());
        let wildcard = Config {
            cors_origins: Some("*".into()),
            ..Config::default()
        };
        assert!(wildcard.cors_origins().is_err());
    }

    #[test]
    fn secrets_are_redacted_and_development_ones_persist() {
        let config = Config {
            jwt_secret: Some(Secret("x".repeat(40))),
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("xxxx"));
        let dir = std::env::temp_dir().join(format!("jornada-config-{}", uuid::Uuid::new_v4()));
        let config = Config {
            data_dir: dir.clone(),
            ..Config::default()
        };
        let first = config.jwt_secret().expect("generated");
        assert_eq!(config.jwt_secret().expect("read back"), first);
        assert!(config.secret_key().is_ok());
        assert!(
            config.secret_key().is_ok(),
            "the persisted key parses again"
        );
        let short = Config {
            jwt_secret: Some(Secret("short".into())),
            ..Config::default()
        };
        assert!(short.jwt_secret().is_err());
        std::fs::remove_dir_all(dir).ok();
    }
}
