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
