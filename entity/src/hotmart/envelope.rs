//! The envelope every postback carries, checked as the receiver needs it:
//! to authenticate and dedupe within milliseconds.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::*;

/// Deepest nesting of arrays and objects accepted in a webhook body. Real
/// payloads stay under 6; serde_json's own limit (128) would still let a
/// hostile body cost stack, and its error would not say what went wrong.
pub const MAX_DEPTH: usize = 64;
/// Longest envelope `id` accepted, in characters after trimming.
pub const MAX_ID_CHARS: usize = 128;
/// Longest envelope `event` accepted, in characters after trimming.
pub const MAX_EVENT_CHARS: usize = 64;
/// Longest transaction or subscriber code accepted (the column width).
pub const MAX_CODE_CHARS: usize = 64;

// ---------------------------------------------------------------------------
// Envelope
// ---------------------------------------------------------------------------

/// What every postback carries, whatever the event.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Hotmart's event id, trimmed: the dedupe key.
    pub id: String,
    /// The event name as sent, trimmed and upper-cased (unknown names kept).
    pub event: String,
    pub creation_date: Option<DateTime<Utc>>,
    pub version: Option<String>,
    /// The body's copy of the shared token (the header is the primary source).
    pub hottok: Option<String>,
    /// Always an object (empty when the body had none).
    pub data: Value,
}

/// Why a webhook body is not a usable envelope: the receiver answers 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the body is not valid JSON (line {line}, column {column})")]
    MalformedJson { line: usize, column: usize },
    #[error("the body nests arrays or objects more than {MAX_DEPTH} levels deep")]
    TooDeep,
    #[error("the body is not a JSON object")]
    NotAnObject,
    #[error("the body has no `id`")]
    MissingId,
    #[error("`id` must be a string or an integer of at most {MAX_ID_CHARS} characters")]
    InvalidId,
    #[error("the body has no `event`")]
    MissingEvent,
    #[error("`event` must be a string of at most {MAX_EVENT_CHARS} characters")]
    InvalidEvent,
    #[error("`data` must be an object")]
    InvalidData,
}

impl EnvelopeError {
    /// A stable, machine-readable code for responses and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedJson { .. } => "malformed_json",
            Self::TooDeep => "too_deep",
            Self::NotAnObject => "not_an_object",
            Self::MissingId => "missing_id",
            Self::InvalidId => "invalid_id",
            Self::MissingEvent => "missing_event",
            Self::InvalidEvent => "invalid_event",
            Self::InvalidData => "invalid_data",
        }
    }
}

/// Parses a postback body into its envelope; `data` is kept as it came.
pub fn parse_envelope(body: &[u8]) -> Result<Envelope, EnvelopeError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if nesting_exceeds(body, MAX_DEPTH) {
        return Err(EnvelopeError::TooDeep);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| EnvelopeError::MalformedJson {
        line: e.line(),
        column: e.column(),
    })?;
    let Value::Object(mut object) = value else {
        return Err(EnvelopeError::NotAnObject);
    };
    let id = envelope_id(object.get("id"))?;
    let event = envelope_event(object.get("event"))?;
    let mut data = match object.remove("data") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(data @ Value::Object(_)) => data,
        Some(_) => return Err(EnvelopeError::InvalidData),
    };
    // A NUL in a name or an address is noise no store keeps: it goes here,
    // once, so every fact decoded from `data` is free of it.
    crate::text::strip_nul(&mut data);
    let creation_date = object
        .get("creation_date")
        .and_then(timestamp)
        .or_else(|| object.get("creationDate").and_then(timestamp));
    Ok(Envelope {
        id,
        event,
        creation_date,
        version: object.get("version").and_then(id_text),
        hottok: object.get("hottok").and_then(text),
        data,
    })
}

fn envelope_id(value: Option<&Value>) -> Result<String, EnvelopeError> {
    match value {
        None | Some(Value::Null) => Err(EnvelopeError::MissingId),
        Some(Value::String(s)) if s.trim().is_empty() => Err(EnvelopeError::MissingId),
        Some(value) => id_text(value)
            .filter(|id| id.chars().count() <= MAX_ID_CHARS && !id.chars().any(char::is_control))
            .ok_or(EnvelopeError::InvalidId),
    }
}

fn envelope_event(value: Option<&Value>) -> Result<String, EnvelopeError> {
    match value {
        None | Some(Value::Null) => Err(EnvelopeError::MissingEvent),
        Some(Value::String(s)) => {
            let event = s.trim();
            if event.is_empty() {
                Err(EnvelopeError::MissingEvent)
            } else if event.chars().count() > MAX_EVENT_CHARS || event.chars().any(char::is_control)
            {
                Err(EnvelopeError::InvalidEvent)
            } else {
                Ok(event.to_ascii_uppercase())
            }
        }
        Some(_) => Err(EnvelopeError::InvalidEvent),
    }
}

/// Whether arrays and objects nest deeper than `max`, brackets inside strings
/// aside. Runs before serde_json so depth is bounded before any recursion.
pub(crate) fn nesting_exceeds(body: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in body {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}
