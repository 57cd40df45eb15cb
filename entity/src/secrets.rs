//! Settings values (integration credentials) are encrypted at rest with
//! AES-256-GCM. The workspace and key are bound in as associated data, so a
//! ciphertext copied to another row or workspace no longer decrypts.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use uuid::Uuid;

use crate::error::{Error, Result};

const FORMAT_PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;

/// The settings key. `Debug` never prints the key material.
#[derive(Clone)]
pub struct SecretKey(Key<Aes256Gcm>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

impl SecretKey {
    /// Parses 32 bytes given as base64 (standard or url-safe) or as 64 hex digits.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..64)
                .step_by(2)
                .map(|i| u8::from_str_radix(&text[i..i + 2], 16))
                .collect::<std::result::Result<Vec<u8>, _>>()
                .map_err(|_| invalid_key())?
        } else {
            BASE64
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
                .map_err(|_| invalid_key())?
        };
        if bytes.len() != 32 {
            return Err(invalid_key());
        }
        Ok(Self(*Key::<Aes256Gcm>::from_slice(&bytes)))
    }

    /// A fresh random key, as base64 text (what `parse` reads back).
    pub fn generate_text() -> String {
        BASE64.encode(Aes256Gcm::generate_key(&mut OsRng))
    }

    pub fn encrypt(&self, workspace_id: Uuid, key: &str, plaintext: &str) -> Result<String> {
        let cipher = Aes256Gcm::new(&self.0);
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = associated_data(workspace_id, key);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Undecryptable)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{FORMAT_PREFIX}{}", BASE64.encode(out)))
    }

    pub fn decrypt(&self, workspace_id: Uuid, key: &str, stored: &str) -> Result<String> {
        let raw = stored
            .strip_prefix(FORMAT_PREFIX)
            .and_then(|b64| BASE64.decode(b64).ok())
            .filter(|raw| raw.len() > NONCE_LEN)
            .ok_or(Error::Undecryptable)?;
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let aad = associated_data(workspace_id, key);
        let plain = Aes256Gcm::new(&self.0)
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| Error::Undecryptable)
    }
}

fn invalid_key() -> Error {
    Error::Invalid("the settings key must be 32 bytes, as base64 or 64 hex digits".into())
}

fn associated_data(workspace_id: Uuid, key: &str) -> Vec<u8> {
    let mut aad = workspace_id.as_bytes().to_vec();
    aad.extend_from_slice(key.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_binds_workspace_and_key() {
        let key = SecretKey::parse(&SecretKey::generate_text()).expect("generated key parses");
        let ws = Uuid::new_v4();
        let sealed = key
            .encrypt(ws, "hotmart.client_secret", "s3cr3t")
            .expect("encrypts");
        assert!(!sealed.contains("s3cr3t"));
        assert_eq!(
            key.decrypt(ws, "hotmart.client_secret", &sealed)
                .expect("decrypts"),
            "s3cr3t"
        );
        assert!(
            key.decrypt(Uuid::new_v4(), "hotmart.client_secret", &sealed)
                .is_err()
        );
        assert!(key.decrypt(ws, "whatsapp.token", &sealed).is_err());
        let other = SecretKey::parse(&SecretKey::generate_text()).expect("parses");
        assert!(other.decrypt(ws, "hotmart.client_secret", &sealed).is_err());
        assert!(key.decrypt(ws, "hotmart.client_secret", "v1:AAAA").is_err());
    }

    #[test]
    fn parses_hex_and_rejects_short_keys() {
        assert!(SecretKey::parse(&"ab".repeat(32)).is_ok());
        assert!(SecretKey::parse("c2hvcnQ=").is_err());
        assert!(SecretKey::parse("not base64 at all!").is_err());
        assert_eq!(
            format!("{:?}", SecretKey::parse(&"ab".repeat(32)).unwrap()),
            "SecretKey([redacted])"
        );
    }
}
