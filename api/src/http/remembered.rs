//! What the server remembers of the queries it is sent, bounded in entries
//! and in bytes, the oldest forgotten first: no client can fill the memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use async_graphql::parser::types::ExecutableDocument;

/// Entries remembered per process.
pub const CAPACITY: usize = 1_000;
/// The most text remembered in all.
pub const MAX_STORED_BYTES: usize = 8 * 1024 * 1024;
/// A longer text is used, but not remembered.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;

/// Values by a text key, each with the weight it was remembered with.
pub struct Remembered<V> {
    values: HashMap<Arc<str>, (V, usize)>,
    order: VecDeque<Arc<str>>,
    bytes: usize,
}

impl<V> Default for Remembered<V> {
    fn default() -> Self {
        Remembered {
            values: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
        }
    }
}

impl<V: Clone> Remembered<V> {
    pub fn recall(&self, key: &str) -> Option<V> {
        self.values.get(key).map(|(value, _)| value.clone())
    }

    /// Keeps `value`, weighing `weight` bytes, under `key` unless it is
    /// already kept or heavier than [`MAX_QUERY_BYTES`], forgetting the
    /// oldest entries to make room.
    pub fn remember(&mut self, key: &str, value: V, weight: usize) {
        if weight > MAX_QUERY_BYTES || self.values.contains_key(key) {
            return;
        }
        while self.order.len() >= CAPACITY || self.bytes + weight > MAX_STORED_BYTES {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some((_, forgotten)) = self.values.remove(&oldest) {
                self.bytes -= forgotten;
            }
        }
        let key: Arc<str> = Arc::from(key);
        self.bytes += weight;
        self.order.push_back(key.clone());
        self.values.insert(key, (value, weight));
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Parsed documents by their query text, each kept only once it has passed
/// `limits::check_document`: a screen that sends the same query again is
/// not parsed again.
#[derive(Clone, Default)]
pub struct ParsedDocuments(Arc<std::sync::Mutex<Remembered<Arc<ExecutableDocument>>>>);

impl ParsedDocuments {
    pub fn recall(&self, query: &str) -> Option<Arc<ExecutableDocument>> {
        self.0.lock().ok()?.recall(query)
    }

    pub fn remember(&self, query: &str, document: Arc<ExecutableDocument>) {
        if let Ok(mut documents) = self.0.lock() {
            // The text and its parsed document, a few times the text.
            documents.remember(query, document, 4 * query.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_entries_are_forgotten_first() {
        let mut remembered = Remembered::default();
        for n in 0..=CAPACITY {
            remembered.remember(&format!("q{n}"), n, 1);
        }
        assert_eq!(remembered.recall("q0"), None);
        assert_eq!(remembered.recall("q1"), Some(1));
        assert_eq!(remembered.recall(&format!("q{CAPACITY}")), Some(CAPACITY));
    }

    #[test]
    fn heavy_entries_are_not_all_kept() {
        let mut remembered = Remembered::default();
        remembered.remember("huge", (), MAX_QUERY_BYTES + 1);
        assert_eq!(remembered.bytes(), 0, "too heavy to keep");
        // Sixty-four kibibytes each: the budget keeps the latest 128.
        let keys: Vec<String> = (0..200).map(|n| format!("q{n}")).collect();
        for key in &keys {
            remembered.remember(key, (), MAX_QUERY_BYTES);
        }
        assert!(remembered.bytes() <= MAX_STORED_BYTES);
        assert_eq!(remembered.recall(&keys[0]), None);
        assert_eq!(remembered.recall(&keys[199]), Some(()));
    }
}
