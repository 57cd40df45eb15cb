//! Text as both backends store it. PostgreSQL refuses U+0000 in `text` and
//! `jsonb` values, where SQLite keeps it: a NUL that reached a statement would
//! fail on one backend only, and fail again on every retry. Outside input is
//! therefore refused (GraphQL) or cleaned (provider payloads) before it is
//! stored, with these two functions.

use serde_json::Value;

/// Whether any string or key in `value` holds U+0000.
pub fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, field)| key.contains('\0') || holds_nul(field)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Removes U+0000 from every string and key in `value`.
pub fn strip_nul(value: &mut Value) {
    match value {
        Value::String(text) => {
            if text.contains('\0') {
                text.retain(|c| c != '\0');
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nul),
        Value::Object(fields) => {
            if fields.keys().any(|key| key.contains('\0')) {
                let cleaned = std::mem::take(fields)
                    .into_iter()
                    .map(|(key, field)| (key.replace('\0', ""), field))
                    .collect();
                *fields = cleaned;
            }
            fields.values_mut().for_each(strip_nul);
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finds_and_strips_nul_in_strings_and_keys() {
        let mut value =
            json!({"buyer": {"name": "Maria\u{0} Silva", "tags": ["a\u{0}", "b"]}, "k\u{0}": 1});
        assert!(holds_nul(&value));
        strip_nul(&mut value);
        assert!(!holds_nul(&value));
        assert_eq!(
            value,
            json!({"buyer": {"name": "Maria Silva", "tags": ["a", "b"]}, "k": 1})
        );
        assert!(!holds_nul(&json!({"a": [1, true, null, "x"]})));
    }
}
