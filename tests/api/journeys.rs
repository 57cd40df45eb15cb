//! Campaign documents as the React Flow builder saves them, built by tests.

use serde_json::{Value, json};

/// A node of `kind` with its `data`.
pub fn node(id: &str, kind: &str, data: Value) -> Value {
    json!({"id": id, "type": kind, "position": {"x": 0, "y": 0}, "data": data})
}

/// An edge from `source`'s only exit to `target`.
pub fn edge(source: &str, target: &str) -> Value {
    json!({"id": format!("{source}-{target}"), "source": source, "target": target})
}

/// An edge from `source`'s exit `handle` (a condition's `true`, a wait's
/// `timeout`, ...) to `target`.
pub fn branch(source: &str, handle: &str, target: &str) -> Value {
    let mut edge = edge(source, target);
    edge["sourceHandle"] = json!(handle);
    edge
}
