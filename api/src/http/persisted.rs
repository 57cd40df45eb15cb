//! Automatic persisted queries, as Apollo's clients speak them: a client
//! sends a query's SHA-256 instead of its text, and the text with the hash
//! once, when the server answers `PersistedQueryNotFound`. A dashboard's
//! `GET /graphql` URL then stays short enough for a cache to keep.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::remembered::Remembered;

/// Why a request's persisted query could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The hash names no query this process has seen: send the text.
    NotFound,
    /// The text sent is not the one the hash names.
    HashMismatch,
    /// `extensions.persistedQuery` is not `{version: 1, sha256Hash}`.
    Malformed,
}

impl Refusal {
    pub fn message(&self) -> &'static str {
        match self {
            // The words Apollo's clients look for.
            Refusal::NotFound => "PersistedQueryNotFound",
            Refusal::HashMismatch => {
                "the query's SHA-256 is not extensions.persistedQuery.sha256Hash"
            }
            Refusal::Malformed => {
                "extensions.persistedQuery must be {\"version\": 1, \"sha256Hash\": \"<hex>\"}"
            }
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NotFound => "PERSISTED_QUERY_NOT_FOUND",
            Refusal::HashMismatch | Refusal::Malformed => "INVALID_INPUT",
        }
    }
}

/// The queries this process has been sent with their hashes, as many as
/// [`Remembered`] keeps: a longer query runs, but is not remembered (its
/// client keeps sending it).
#[derive(Clone, Default)]
pub struct PersistedQueries(Arc<Mutex<Remembered<Arc<str>>>>);

impl PersistedQueries {
    /// Fills in `request`'s `query` from the hash it names, or remembers the
    /// query it carries under that hash; a request without a persisted
    /// query is left as it is.
    pub fn resolve(&self, request: &mut Map<String, Value>) -> Result<(), Refusal> {
        let Some(persisted) = request
            .get("extensions")
            .and_then(|extensions| extensions.get("persistedQuery"))
        else {
            return Ok(());
        };
        let hash = match (
            persisted.get("version").and_then(Value::as_i64),
            persisted.get("sha256Hash").and_then(Value::as_str),
        ) {
            (Some(1), Some(hash))
                if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                hash.to_ascii_lowercase()
            }
            _ => return Err(Refusal::Malformed),
        };
        match request.get("query").and_then(Value::as_str) {
            Some(text) => {
                if hex::encode(Sha256::digest(text.as_bytes())) != hash {
                    return Err(Refusal::HashMismatch);
                }
                self.remember(hash, text);
                Ok(())
            }
            None => {
                let text = self.recall(&hash).ok_or(Refusal::NotFound)?;
                request.insert("query".to_owned(), Value::String(text.to_string()));
                Ok(())
            }
        }
    }

    fn recall(&self, hash: &str) -> Option<Arc<str>> {
        self.0.lock().ok()?.recall(hash)
    }

    fn remember(&self, hash: String, text: &str) {
        if let Ok(mut store) = self.0.lock() {
            store.remember(&hash, Arc::from(text), text.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::remembered::{CAPACITY, MAX_QUERY_BYTES, MAX_STORED_BYTES};
    use serde_json::json;

    fn request(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn a_query_is_sent_once_then_named_by_its_hash() {
        let store = PersistedQueries::default();
        let text = "{ __typename }";
        let hash = hex::encode(Sha256::digest(text.as_bytes()));
        let extensions = json!({"persistedQuery": {"version": 1, "sha256Hash": hash}});
        let mut by_hash = request(json!({"extensions": extensions}));
        assert_eq!(store.resolve(&mut by_hash), Err(Refusal::NotFound));
        let mut with_text = request(json!({"query": text, "extensions": extensions}));
        assert_eq!(store.resolve(&mut with_text), Ok(()));
        assert_eq!(store.resolve(&mut by_hash), Ok(()));
        assert_eq!(by_hash["query"], text);
        let mut forged =
            request(json!({"query": "{ workspaces { id } }", "extensions": extensions}));
        assert_eq!(store.resolve(&mut forged), Err(Refusal::HashMismatch));
        let mut odd =
            request(json!({"extensions": {"persistedQuery": {"version": 2, "sha256Hash": hash}}}));
        assert_eq!(store.resolve(&mut odd), Err(Refusal::Malformed));
    }

    #[test]
    fn the_oldest_queries_are_forgotten_first() {
        let store = PersistedQueries::default();
        let hashes: Vec<String> = (0..=CAPACITY)
            .map(|n| {
                let text = format!("{{ n{n}: __typename }}");
                let hash = hex::encode(Sha256::digest(text.as_bytes()));
                let mut sent = request(json!({"query": text, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": hash}}}));
                store.resolve(&mut sent).unwrap();
                hash
            })
            .collect();
        assert!(store.recall(&hashes[0]).is_none());
        assert!(store.recall(&hashes[1]).is_some());
        assert!(store.recall(&hashes[CAPACITY]).is_some());
    }

    #[test]
    fn big_queries_are_run_but_not_all_remembered() {
        let store = PersistedQueries::default();
        let send = |text: String| {
            let hash = hex::encode(Sha256::digest(text.as_bytes()));
            let mut sent = request(
                json!({"query": text, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": hash}}}),
            );
            assert_eq!(store.resolve(&mut sent), Ok(()));
            hash
        };
        let huge = send(format!("{{ __typename }}#{}", "x".repeat(MAX_QUERY_BYTES)));
        assert!(store.recall(&huge).is_none(), "too long to keep");
        // Sixty-four kibibytes each: the budget keeps the latest 128.
        let hashes: Vec<String> = (0..200)
            .map(|n| {
                send(format!(
                    "{{ n{n}: __typename }}#{}",
                    "x".repeat(MAX_QUERY_BYTES - 40)
                ))
            })
            .collect();
        assert!(store.0.lock().unwrap().bytes() <= MAX_STORED_BYTES);
        assert!(store.recall(&hashes[0]).is_none());
        assert!(store.recall(&hashes[199]).is_some());
    }
}
