//! The nodes that act: `updateCustomer`, `webhook`, `exit`.

use super::*;

// ---- updateCustomer ----

/// The customer fields `updateCustomer.set` may write. `metadata.<key>`
/// writes one key of the customer's metadata and takes any JSON value; the
/// others take a string, or null to clear.
pub const SETTABLE_FIELDS: [&str; 4] = ["name", "phone", "segment", "churnRisk"];

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateCustomerData {
    #[serde(default)]
    pub add_tags: Vec<String>,
    #[serde(default)]
    pub remove_tags: Vec<String>,
    #[serde(default)]
    pub set: Map<String, Value>,
    #[serde(default)]
    pub chatwoot_labels: Vec<String>,
}

impl UpdateCustomerData {
    pub(super) fn parse(data: &Value) -> Result<Self, NodeDataError> {
        let parsed: Self = shape(data)?;
        for (what, list) in [
            ("addTags", &parsed.add_tags),
            ("removeTags", &parsed.remove_tags),
            ("chatwootLabels", &parsed.chatwoot_labels),
        ] {
            if list.iter().any(|t| t.trim().is_empty()) {
                return Err(NodeDataError::invalid(format!("{what} has an empty entry")));
            }
        }
        for (key, value) in &parsed.set {
            let metadata_key = key.strip_prefix("metadata.");
            if metadata_key.is_some_and(|k| !k.is_empty()) {
                continue;
            }
            if !SETTABLE_FIELDS.contains(&key.as_str()) {
                return Err(NodeDataError::invalid(format!(
                    "set.{key}: only {} and metadata.<key> can be set",
                    SETTABLE_FIELDS.join(", ")
                )));
            }
            if !(value.is_string() || value.is_null()) {
                return Err(NodeDataError::invalid(format!(
                    "set.{key} must be a string or null"
                )));
            }
        }
        Ok(parsed)
    }
}

impl UpdateCustomerData {
    pub(super) fn spec() -> NodeTypeSpec {
        NodeTypeSpec::new(
            NodeType::UpdateCustomer,
            "Changes the customer: tags, fields, Chatwoot labels.",
            serde_json::json!({"addTags": ["engajada"]}),
        )
        .field(FieldSpec::new("addTags", FieldType::TextList, "Tags to add."))
        .field(FieldSpec::new("removeTags", FieldType::TextList, "Tags to remove."))
        .field(FieldSpec::new(
            "set",
            FieldType::Object,
            "Fields to write: name, phone, segment, churnRisk (a text, or null to clear) and metadata.<key> (any JSON).",
        ))
        .field(FieldSpec::new("chatwootLabels", FieldType::TextList, "Labels to add to the customer's Chatwoot conversation."))
    }
}

// ---- webhook ----

pub const WEBHOOK_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookData {
    /// May hold `{{variables}}`; substituted values are percent-encoded.
    pub url: String,
    /// Upper case; `POST` when absent.
    pub method: String,
    /// A string or any JSON; every string in it is a template.
    pub body: Option<Value>,
}

impl WebhookData {
    pub(super) fn parse(data: &Value) -> Result<Self, NodeDataError> {
        #[derive(Deserialize)]
        struct Raw {
            url: String,
            method: Option<String>,
            body: Option<Value>,
        }
        let raw: Raw = shape(data)?;
        if !crate::template::is_http_url(raw.url.trim()) {
            return Err(NodeDataError::invalid(format!(
                "url must start with http:// or https://, not {:?}",
                raw.url
            )));
        }
        let method = raw
            .method
            .map(|m| m.trim().to_ascii_uppercase())
            .unwrap_or_else(|| "POST".into());
        if !WEBHOOK_METHODS.contains(&method.as_str()) {
            return Err(NodeDataError::invalid(format!(
                "method must be one of {}",
                WEBHOOK_METHODS.join(", ")
            )));
        }
        Ok(Self {
            url: raw.url.trim().to_owned(),
            method,
            body: raw.body.filter(|b| !b.is_null()),
        })
    }
}

impl WebhookData {
    pub(super) fn spec() -> NodeTypeSpec {
        NodeTypeSpec::new(
            NodeType::Webhook,
            "Calls an HTTP endpoint (an n8n or Kestra flow, a CRM).",
            serde_json::json!({"url": "https://hooks.example.com/jornada", "method": "POST"}),
        )
        .field(
            FieldSpec::new(
                "url",
                FieldType::Url,
                "Where to call; substituted variables are percent-encoded.",
            )
            .required(),
        )
        .field(
            FieldSpec::new("method", FieldType::Choice, "The HTTP method.")
                .allowed(WEBHOOK_METHODS)
                .default("POST".into()),
        )
        .field(FieldSpec::new(
            "body",
            FieldType::Json,
            "A text or any JSON; every string in it is a template.",
        ))
    }
}

// ---- exit ----

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExitData {
    /// The conversion this exit counts, e.g. `purchase_approved`.
    pub goal: Option<String>,
}

impl ExitData {
    pub(super) fn parse(data: &Value) -> Result<Self, NodeDataError> {
        #[derive(Deserialize)]
        struct Raw {
            goal: Option<String>,
        }
        let raw: Raw = shape(data)?;
        Ok(Self {
            goal: non_empty("goal", raw.goal)?,
        })
    }
}

impl ExitData {
    pub(super) fn spec() -> NodeTypeSpec {
        NodeTypeSpec::new(
            NodeType::Exit,
            "Ends the journey; with a goal, reaching it counts as a conversion.",
            serde_json::json!({}),
        )
        .field(
            FieldSpec::new(
                "goal",
                FieldType::Event,
                "The domain event that counts as this journey's conversion.",
            )
            .allowed(event_names()),
        )
    }
}
