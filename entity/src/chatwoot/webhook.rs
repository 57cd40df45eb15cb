//! The Chatwoot webhook as it arrives (CONTRACTS.md section 4), without
//! I/O: the optional `X-Chatwoot-Signature` check, the key a delivery is
//! deduplicated on, and a lenient reading of the conversation events whose
//! labels jornada keeps. The api's receiver checks and stores deliveries
//! with it; the worker applies them with it.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::normalize_label;
use crate::hotmart::nesting_exceeds;

type HmacSha256 = Hmac<Sha256>;

/// Deepest nesting of arrays and objects accepted in a delivery.
pub const MAX_DEPTH: usize = 64;
/// How far a signed delivery's timestamp may be from jornada's clock.
pub const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);
/// Longest `X-Chatwoot-Delivery` used as it is; a longer one is hashed.
const MAX_DELIVERY_CHARS: usize = 128;
/// Longest event name kept (the column width).
const MAX_EVENT_CHARS: usize = 64;
/// Longest conversation or contact id kept (the column width).
const MAX_ID_CHARS: usize = 64;

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`: the value
/// Chatwoot puts in `X-Chatwoot-Signature` (and what a test signs with).
pub fn signature_header(secret: &str, timestamp: &str, raw_body: &[u8]) -> String {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(raw_body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why a signed delivery is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("X-Chatwoot-Signature or X-Chatwoot-Timestamp is missing")]
    Missing,
    #[error("X-Chatwoot-Timestamp is not a time within 5 minutes of now")]
    Stale,
    #[error("X-Chatwoot-Signature does not match the body")]
    Forged,
}

impl SignatureError {
    /// A short stable name, for metrics.
    pub fn code(self) -> &'static str {
        match self {
            SignatureError::Missing => "missing_signature",
            SignatureError::Stale => "stale_timestamp",
            SignatureError::Forged => "bad_signature",
        }
    }
}

/// Checks a delivery signed under `secret`: the timestamp (Unix seconds)
/// within [`MAX_CLOCK_SKEW`] of `now`, and the signature over
/// `"<timestamp>.<raw body>"`, compared in constant time.
pub fn verify_signature(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    raw_body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (
        timestamp.map(str::trim).filter(|t| !t.is_empty()),
        signature.map(str::trim).filter(|s| !s.is_empty()),
    ) else {
        return Err(SignatureError::Missing);
    };
    let sent_at = timestamp
        .parse::<i64>()
        .ok()
        .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
        .ok_or(SignatureError::Stale)?;
    if (now - sent_at).abs() > MAX_CLOCK_SKEW {
        return Err(SignatureError::Stale);
    }
    let digest = signature
        .get(..7)
        .filter(|prefix| prefix.eq_ignore_ascii_case("sha256="))
        .and_then(|_| hex::decode(&signature[7..]).ok())
        .ok_or(SignatureError::Forged)?;
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::Forged)?;
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(raw_body);
    // `verify_slice` compares in constant time (and rejects a wrong length).
    mac.verify_slice(&digest)
        .map_err(|_| SignatureError::Forged)
}

/// The key a delivery is deduplicated on: Chatwoot's `X-Chatwoot-Delivery`
/// when sent, else a hash of the exact body (the same event sent twice is
/// the same bytes).
pub fn delivery_key(delivery: Option<&str>, raw_body: &[u8]) -> String {
    match delivery.map(str::trim).filter(|d| !d.is_empty()) {
        Some(delivery)
            if delivery.chars().count() <= MAX_DELIVERY_CHARS
                && !delivery.chars().any(char::is_control) =>
        {
            delivery.to_owned()
        }
        Some(delivery) => format!("delivery:{}", hex::encode(Sha256::digest(delivery))),
        None => format!("sha256:{}", hex::encode(Sha256::digest(raw_body))),
    }
}

/// Why a body is not a Chatwoot delivery: the receiver answers 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("the body nests arrays or objects more than {MAX_DEPTH} levels deep")]
    TooDeep,
    #[error("the body is not valid JSON")]
    MalformedJson,
    #[error("the body is not a JSON object")]
    NotAnObject,
}

/// A delivery as the receiver stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// `event`, trimmed (`unknown` when absent).
    pub event: String,
    /// The sender's e-mail, to split the appliers' queue by customer.
    pub sender_email: Option<String>,
    pub body: Value,
}

/// Reads a delivery's body: a JSON object, nested at most [`MAX_DEPTH`] deep.
pub fn parse_delivery(raw_body: &[u8]) -> Result<Delivery, DeliveryError> {
    if nesting_exceeds(raw_body, MAX_DEPTH) {
        return Err(DeliveryError::TooDeep);
    }
    let body: Value = serde_json::from_slice(raw_body).map_err(|_| DeliveryError::MalformedJson)?;
    let Some(object) = body.as_object() else {
        return Err(DeliveryError::NotAnObject);
    };
    let event = text(object.get("event"))
        .map(|e| e.chars().take(MAX_EVENT_CHARS).collect())
        .unwrap_or_else(|| "unknown".to_owned());
    let sender_email = sender(object).and_then(|s| text(s.get("email")));
    Ok(Delivery {
        event,
        sender_email,
        body,
    })
}

/// What a stored delivery says, as far as jornada keeps it.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatwootEvent {
    /// A conversation created or changed, or a message in it.
    Conversation(Conversation),
    /// An event that says nothing jornada keeps (a contact change, a
    /// widget opened, an outgoing message), by name.
    Ignored(String),
}

/// A conversation as an event tells it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Conversation {
    /// Chatwoot's conversation id.
    pub id: String,
    /// The contact the conversation is with: Chatwoot's id, e-mail and
    /// phone (as Chatwoot stores it, E.164).
    pub contact_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The conversation's labels after the event, normalised, when the
    /// event tells them (`changed_attributes[].label_list.current_value`,
    /// else `labels`); `None` leaves the tags as they are.
    pub labels: Option<Vec<String>>,
}

/// Reads a stored delivery. Errors name what is missing, never a value.
pub fn decode(body: &Value) -> Result<ChatwootEvent, String> {
    let Some(object) = body.as_object() else {
        return Err("the delivery is not a JSON object".into());
    };
    let event = text(object.get("event")).unwrap_or_else(|| "unknown".to_owned());
    match event.as_str() {
        "conversation_created" | "conversation_updated" | "conversation_status_changed" => {
            let id = id_text(object.get("id")).ok_or("the conversation has no id")?;
            let mut conversation = contact(id, sender(object));
            conversation.labels = label_list(object)
                .or_else(|| object.get("labels"))
                .and_then(labels);
            Ok(ChatwootEvent::Conversation(conversation))
        }
        // A message the contact wrote tells which conversation they are in.
        "message_created" | "message_updated"
            if text(object.get("message_type")).as_deref() == Some("incoming") =>
        {
            let inner = object.get("conversation").and_then(Value::as_object);
            let id = inner
                .and_then(|c| id_text(c.get("id")))
                .ok_or("the message names no conversation")?;
            let from = inner.and_then(sender).or_else(|| object.get("sender"));
            Ok(ChatwootEvent::Conversation(contact(id, from)))
        }
        _ => Ok(ChatwootEvent::Ignored(event)),
    }
}

fn contact(id: String, sender: Option<&Value>) -> Conversation {
    let field = |name: &str| sender.and_then(|s| text(s.get(name)));
    Conversation {
        id,
        contact_id: sender.and_then(|s| id_text(s.get("id"))),
        email: field("email"),
        phone: field("phone_number"),
        labels: None,
    }
}

/// `meta.sender` of a conversation payload.
fn sender(object: &Map<String, Value>) -> Option<&Value> {
    object
        .get("meta")
        .and_then(|meta| meta.get("sender"))
        .filter(|s| s.is_object())
}

/// `changed_attributes[].label_list.current_value`, when labels changed.
fn label_list(object: &Map<String, Value>) -> Option<&Value> {
    let changes = object.get("changed_attributes")?;
    let changes: Vec<&Value> = match changes {
        Value::Array(items) => items.iter().collect(),
        single @ Value::Object(_) => vec![single],
        _ => return None,
    };
    changes
        .into_iter()
        .find_map(|change| change.get("label_list"))
        .and_then(|list| list.get("current_value"))
}

/// A label set, normalised; labels that are not usable names are left out.
fn labels(value: &Value) -> Option<Vec<String>> {
    let items = value.as_array()?;
    let mut out: Vec<String> = Vec::new();
    for label in items.iter().filter_map(Value::as_str) {
        if let Some(label) = normalize_label(label)
            && !out.contains(&label)
        {
            out.push(label);
        }
    }
    Some(out)
}

fn text(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.chars().any(char::is_control))
        .map(str::to_owned)
}

/// An id sent as a number or a string.
fn id_text(value: Option<&Value>) -> Option<String> {
    let id = match value? {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    let usable =
        !id.is_empty() && id.chars().count() <= MAX_ID_CHARS && !id.chars().any(char::is_control);
    usable.then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    #[test]
    fn a_signature_covers_the_timestamp_and_the_body() {
        let body = br#"{"event":"conversation_updated"}"#;
        let header = signature_header("s3cret", "1765000000", body);
        let now = at(1_765_000_100);
        let check = |secret: &str, ts: Option<&str>, sig: Option<&str>, body: &[u8]| {
            verify_signature(secret, ts, sig, body, now)
        };
        assert_eq!(
            check("s3cret", Some("1765000000"), Some(&header), body),
            Ok(())
        );
        assert_eq!(
            check("other", Some("1765000000"), Some(&header), body),
            Err(SignatureError::Forged)
        );
        assert_eq!(
            check("s3cret", Some("1765000000"), Some(&header), b"{}"),
            Err(SignatureError::Forged)
        );
        // The same signature moved to another timestamp does not verify.
        assert_eq!(
            check("s3cret", Some("1765000001"), Some(&header), body),
            Err(SignatureError::Forged)
        );
        assert_eq!(
            check("s3cret", None, Some(&header), body),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            check("s3cret", Some("1765000000"), None, body),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            check("s3cret", Some("1765000000"), Some("sha256=zz"), body),
            Err(SignatureError::Forged)
        );
    }

    #[test]
    fn a_timestamp_far_from_the_clock_is_stale() {
        let body = b"{}";
        let signed = |ts: i64| signature_header("k", &ts.to_string(), body);
        let now = at(1_765_000_000);
        for ts in [1_765_000_000 - 301, 1_765_000_000 + 301] {
            assert_eq!(
                verify_signature("k", Some(&ts.to_string()), Some(&signed(ts)), body, now),
                Err(SignatureError::Stale)
            );
        }
        let ts = 1_765_000_000 - 299;
        assert_eq!(
            verify_signature("k", Some(&ts.to_string()), Some(&signed(ts)), body, now),
            Ok(())
        );
        assert_eq!(
            verify_signature("k", Some("soon"), Some("sha256=00"), body, now),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn deliveries_are_keyed_by_their_id_or_their_bytes() {
        assert_eq!(delivery_key(Some(" d-1 "), b"{}"), "d-1");
        let hashed = delivery_key(None, b"{}");
        assert!(hashed.starts_with("sha256:") && hashed.len() == 71);
        assert_eq!(hashed, delivery_key(Some(""), b"{}"));
        assert_ne!(hashed, delivery_key(None, b"{ }"));
        assert!(delivery_key(Some(&"x".repeat(500)), b"{}").len() <= 128);
    }

    #[test]
    fn bodies_must_be_shallow_json_objects() {
        assert_eq!(parse_delivery(b"[1]"), Err(DeliveryError::NotAnObject));
        assert_eq!(parse_delivery(b"{"), Err(DeliveryError::MalformedJson));
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(parse_delivery(deep.as_bytes()), Err(DeliveryError::TooDeep));
        let delivery = parse_delivery(
            br#"{"event":"conversation_updated","meta":{"sender":{"email":"a@b.co"}}}"#,
        )
        .unwrap();
        assert_eq!(delivery.event, "conversation_updated");
        assert_eq!(delivery.sender_email.as_deref(), Some("a@b.co"));
        assert_eq!(parse_delivery(b"{}").unwrap().event, "unknown");
    }

    #[test]
    fn a_label_change_tells_the_labels_after_it() {
        let body = json!({
            "event": "conversation_updated",
            "id": 42,
            "labels": ["stale"],
            "meta": {"sender": {"id": 7, "email": "Maria@Example.com", "phone_number": "+5511987654321"}},
            "changed_attributes": [
                {"updated_at": {"previous_value": "x", "current_value": "y"}},
                {"label_list": {"previous_value": ["vip"], "current_value": ["vip", " Modulo-Concluido "]}}
            ]
        });
        let ChatwootEvent::Conversation(conversation) = decode(&body).unwrap() else {
            panic!("a conversation event");
        };
        assert_eq!(conversation.id, "42");
        assert_eq!(conversation.contact_id.as_deref(), Some("7"));
        assert_eq!(conversation.email.as_deref(), Some("Maria@Example.com"));
        assert_eq!(conversation.phone.as_deref(), Some("+5511987654321"));
        assert_eq!(
            conversation.labels,
            Some(vec!["vip".to_owned(), "modulo-concluido".to_owned()])
        );
    }

    #[test]
    fn the_current_labels_stand_when_no_change_is_listed() {
        let body = json!({"event": "conversation_created", "id": "9", "labels": ["a", "a", "", 3]});
        let ChatwootEvent::Conversation(conversation) = decode(&body).unwrap() else {
            panic!("a conversation event");
        };
        assert_eq!(conversation.labels, Some(vec!["a".to_owned()]));
        let quiet = json!({"event": "conversation_status_changed", "id": 9});
        let ChatwootEvent::Conversation(conversation) = decode(&quiet).unwrap() else {
            panic!("a conversation event");
        };
        assert_eq!(conversation.labels, None);
    }

    #[test]
    fn incoming_messages_tell_the_conversation_and_others_are_ignored() {
        let incoming = json!({
            "event": "message_created", "message_type": "incoming",
            "conversation": {"id": 5, "meta": {"sender": {"id": 3, "email": "a@b.co"}}}
        });
        let ChatwootEvent::Conversation(conversation) = decode(&incoming).unwrap() else {
            panic!("a conversation event");
        };
        assert_eq!((conversation.id.as_str(), conversation.labels), ("5", None));
        assert_eq!(conversation.contact_id.as_deref(), Some("3"));
        let outgoing = json!({"event": "message_created", "message_type": "outgoing"});
        assert_eq!(
            decode(&outgoing).unwrap(),
            ChatwootEvent::Ignored("message_created".into())
        );
        assert_eq!(
            decode(&json!({"event": "contact_updated"})).unwrap(),
            ChatwootEvent::Ignored("contact_updated".into())
        );
        assert!(decode(&json!({"event": "conversation_updated"})).is_err());
    }
}
