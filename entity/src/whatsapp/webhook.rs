//! The WhatsApp Cloud API webhook as it arrives (CONTRACTS.md section 3),
//! without I/O: the `X-Hub-Signature-256` check over the raw body, a lenient
//! parser of status callbacks and inbound messages, and opt-out detection.
//! The api's receiver reads webhooks with it; the worker's provider signs
//! and reads the same format.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;

/// Meta's limit on `biz_opaque_callback_data`.
pub const MAX_CALLBACK_DATA_CHARS: usize = 512;

type HmacSha256 = Hmac<Sha256>;

/// `sha256=<hex HMAC-SHA256(app_secret, raw_body)>`, the value Meta puts in
/// `X-Hub-Signature-256` (and what a test signs its deliveries with).
pub fn signature_header(app_secret: &str, raw_body: &[u8]) -> String {
    let mut mac =
        HmacSha256::new_from_slice(app_secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(raw_body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header_value` is `sha256=<hex>` of the HMAC-SHA256 of the exact
/// raw body bytes under `app_secret`, compared in constant time. An empty
/// secret verifies nothing.
pub fn verify_signature(app_secret: &str, raw_body: &[u8], header_value: &str) -> bool {
    if app_secret.is_empty() {
        return false;
    }
    let header_value = header_value.trim();
    let Some(hex_digest) = header_value
        .get(..7)
        .filter(|prefix| prefix.eq_ignore_ascii_case("sha256="))
        .map(|_| &header_value[7..])
    else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(app_secret.as_bytes()) else {
        return false;
    };
    mac.update(raw_body);
    // `verify_slice` compares in constant time (and rejects a wrong length).
    mac.verify_slice(&expected).is_ok()
}

/// A delivery state reported by a status callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryStatus {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            // A voice message "played" has been consumed like a read text.
            "read" | "played" => Some(Self::Read),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }

    /// Whether this callback moves a message whose state is `current`
    /// forward: sent < delivered < read (a skipped "delivered" is fine);
    /// failed is terminal and replaces anything short of read (a read
    /// message was delivered, whatever arrives later); callbacks arrive out
    /// of order, so a lower state never replaces a higher one.
    pub fn supersedes(self, current: Option<DeliveryStatus>) -> bool {
        let rank = |s: DeliveryStatus| match s {
            Self::Sent => 1,
            Self::Delivered => 2,
            Self::Read => 3,
            Self::Failed => 0,
        };
        match (current, self) {
            (None, _) => true,
            (Some(Self::Failed), _) => false,
            (Some(current), Self::Failed) => current != Self::Read,
            (Some(current), new) => rank(new) > rank(current),
        }
    }
}

/// One `value.statuses[]` item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusUpdate {
    /// The `wamid.…` a send returned.
    pub provider_message_id: String,
    pub status: DeliveryStatus,
    pub timestamp: Option<DateTime<Utc>>,
    pub recipient_id: Option<String>,
    /// `errors[0].code` of a failed message (e.g. 131026, 131050).
    pub error_code: Option<i64>,
    /// `metadata.phone_number_id` of the change: which number sent it.
    pub phone_number_id: Option<String>,
    /// `biz_opaque_callback_data`: what the send set it to (jornada sets the
    /// outbox idempotency key). Absent when longer than Meta allows.
    pub callback_data: Option<String>,
}

/// One `value.messages[]` item: a user wrote to the business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboundMessage {
    /// The user's number (digits, no `+`).
    pub from: String,
    pub id: String,
    pub timestamp: Option<DateTime<Utc>>,
    /// `text`, `button`, `interactive`, `image`...
    pub kind: String,
    /// The text of a text message, a quick-reply button or an interactive
    /// reply; `None` for media.
    pub text: Option<String>,
    pub phone_number_id: Option<String>,
}

/// A `message_template_status_update` change: Meta approved, rejected,
/// paused or disabled a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateStatusUpdate {
    pub template_id: Option<String>,
    pub name: Option<String>,
    pub language: Option<String>,
    /// APPROVED, REJECTED, PAUSED, DISABLED...
    pub event: String,
    pub reason: Option<String>,
}

/// Everything one webhook POST reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WebhookBatch {
    pub statuses: Vec<StatusUpdate>,
    pub messages: Vec<InboundMessage>,
    pub template_updates: Vec<TemplateStatusUpdate>,
}

impl WebhookBatch {
    pub fn is_empty(&self) -> bool {
        self.statuses.is_empty() && self.messages.is_empty() && self.template_updates.is_empty()
    }

    /// Inbound messages whose text is an opt-out ([`is_opt_out`]).
    pub fn opt_outs(&self) -> impl Iterator<Item = &InboundMessage> {
        self.messages
            .iter()
            .filter(|m| m.text.as_deref().is_some_and(is_opt_out))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookParseError {
    #[error("the webhook body is not JSON")]
    NotJson,
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Unix seconds, as a string (what Meta sends) or a number.
fn unix_seconds(value: &Value) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(integer(value)?, 0)
}

fn list(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// The longest message id kept from a status item (`messages.provider_message_id`).
const MAX_WAMID_CHARS: usize = 255;

/// Parses a webhook body. Lenient: unknown fields and objects are ignored,
/// an item missing what identifies it is skipped, and a body of another
/// object type yields an empty batch. Only a body that is not JSON fails.
pub fn parse_webhook(raw_body: &[u8]) -> Result<WebhookBatch, WebhookParseError> {
    let mut body: Value =
        serde_json::from_slice(raw_body).map_err(|_| WebhookParseError::NotJson)?;
    // No stored text holds a NUL (`entity::text`): a reply or an error
    // title carrying one keeps the rest.
    crate::text::strip_nul(&mut body);
    let mut batch = WebhookBatch::default();
    for entry in list(&body["entry"]) {
        for change in list(&entry["changes"]) {
            let value = &change["value"];
            if change["field"].as_str() == Some("message_template_status_update") {
                if let Some(event) = text(&value["event"]) {
                    batch.template_updates.push(TemplateStatusUpdate {
                        template_id: text(&value["message_template_id"]),
                        name: text(&value["message_template_name"]),
                        language: text(&value["message_template_language"]),
                        event,
                        reason: text(&value["reason"]).filter(|r| r != "NONE"),
                    });
                }
                continue;
            }
            let phone_number_id = text(&value["metadata"]["phone_number_id"]);
            for status in list(&value["statuses"]) {
                let (Some(id), Some(state)) = (
                    // Longer than any wamid, and than `messages` stores.
                    text(&status["id"]).filter(|id| id.chars().count() <= MAX_WAMID_CHARS),
                    status["status"].as_str().and_then(DeliveryStatus::parse),
                ) else {
                    continue;
                };
                batch.statuses.push(StatusUpdate {
                    provider_message_id: id,
                    status: state,
                    timestamp: unix_seconds(&status["timestamp"]),
                    recipient_id: text(&status["recipient_id"]),
                    error_code: list(&status["errors"])
                        .first()
                        .and_then(|e| integer(&e["code"])),
                    phone_number_id: phone_number_id.clone(),
                    callback_data: status["biz_opaque_callback_data"]
                        .as_str()
                        .filter(|data| {
                            !data.is_empty() && data.chars().count() <= MAX_CALLBACK_DATA_CHARS
                        })
                        .map(str::to_owned),
                });
            }
            for message in list(&value["messages"]) {
                let (Some(from), Some(id)) = (text(&message["from"]), text(&message["id"])) else {
                    continue;
                };
                let text = message["text"]["body"]
                    .as_str()
                    .or_else(|| message["button"]["text"].as_str())
                    .or_else(|| message["interactive"]["button_reply"]["title"].as_str())
                    .or_else(|| message["interactive"]["list_reply"]["title"].as_str())
                    .map(str::to_owned);
                batch.messages.push(InboundMessage {
                    from,
                    id,
                    timestamp: unix_seconds(&message["timestamp"]),
                    kind: message["type"].as_str().unwrap_or("unknown").to_owned(),
                    text,
                    phone_number_id: phone_number_id.clone(),
                });
            }
        }
    }
    Ok(batch)
}

/// Replies that mean "stop sending me messages", after normalisation.
const OPT_OUT_REPLIES: &[&str] = &[
    "stop",
    "stop promotions",
    "unsubscribe",
    "parar",
    "pare",
    "parar promocoes",
    "sair",
    "cancelar",
    "cancelar inscricao",
    "descadastrar",
    "descadastre",
    "descadastrar me",
    "remover",
    "nao quero mais",
    "nao quero receber",
    "baja",
    "cancelar suscripcion",
];

/// Lower case, accents removed, punctuation and emoji turned into spaces,
/// whitespace collapsed.
fn normalize(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let base = match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            c if c.is_alphanumeric() => c,
            _ => ' ',
        };
        folded.push(base);
    }
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether an inbound text is an opt-out: the whole message is STOP,
/// PARAR, SAIR, CANCELAR or a similar reply (also Meta's "Stop promotions"
/// quick-reply), in any case, with or without accents and punctuation.
/// A sentence that merely contains such a word is not.
pub fn is_opt_out(text: &str) -> bool {
    let normalized = normalize(text);
    !normalized.is_empty() && OPT_OUT_REPLIES.contains(&normalized.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_round_trip_and_fail_on_any_change() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let header = signature_header("app-secret", body);
        assert!(header.starts_with("sha256="));
        assert!(verify_signature("app-secret", body, &header));
        assert!(verify_signature(
            "app-secret",
            body,
            &header.to_ascii_uppercase().replace("SHA256=", "sha256=")
        ));
        assert!(!verify_signature("other-secret", body, &header));
        assert!(!verify_signature("app-secret", b"{}", &header));
        assert!(!verify_signature("app-secret", body, "sha256=zz"));
        assert!(!verify_signature("app-secret", body, &header[7..]));
        assert!(!verify_signature("", body, &header));
        assert!(!verify_signature("app-secret", body, "sha256="));
    }

    #[test]
    fn callback_data_is_kept_and_oversized_values_are_dropped() {
        let status = |id: &str, data: Value| {
            serde_json::to_vec(&serde_json::json!({"entry": [{"changes": [{"field": "messages", "value": {
                "statuses": [{"id": id, "status": "delivered", "biz_opaque_callback_data": data}]
            }}]}]}))
            .unwrap()
        };
        let batch = parse_webhook(&status("wamid.A", "campaign:e:r:send".into())).unwrap();
        assert_eq!(
            batch.statuses[0].callback_data.as_deref(),
            Some("campaign:e:r:send")
        );
        let long = parse_webhook(&status("wamid.A", "x".repeat(513).into())).unwrap();
        assert_eq!(long.statuses[0].callback_data, None);
        let not_text = parse_webhook(&status("wamid.A", serde_json::json!({"a": 1}))).unwrap();
        assert_eq!(not_text.statuses[0].callback_data, None);
        // An id no wamid is this long: the item is skipped, not stored.
        let huge = parse_webhook(&status(&"w".repeat(256), "k".into())).unwrap();
        assert!(huge.statuses.is_empty());
    }

    #[test]
    fn status_order_is_monotonic() {
        use DeliveryStatus::*;
        assert!(Delivered.supersedes(Some(Sent)));
        assert!(Read.supersedes(Some(Sent)));
        assert!(!Sent.supersedes(Some(Read)));
        assert!(!Delivered.supersedes(Some(Read)));
        assert!(!Read.supersedes(Some(Failed)));
        assert!(Failed.supersedes(Some(Delivered)));
        assert!(!Failed.supersedes(Some(Read)));
        assert!(!Delivered.supersedes(Some(Delivered)));
        assert!(Sent.supersedes(None));
    }

    #[test]
    fn opt_outs_are_whole_replies() {
        for yes in [
            "STOP",
            " parar ",
            "Sair.",
            "CANCELAR!!",
            "Parar promoções",
            "não quero mais",
            "Stop promotions",
        ] {
            assert!(is_opt_out(yes), "{yes}");
        }
        for no in ["", "quero parar de fumar", "stopwatch", "Olá", "sair hoje?"] {
            assert!(!is_opt_out(no), "{no}");
        }
    }
}
