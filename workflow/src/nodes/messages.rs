//! The nodes that speak to the customer: `sendMessage`, `approval`.

use super::*;

// ---- sendMessage ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Whatsapp,
    Email,
    Sms,
    Push,
    Webhook,
    Log,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Self::Whatsapp => "whatsapp",
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Push => "push",
            Self::Webhook => "webhook",
            Self::Log => "log",
        }
    }
}

/// How a `sendMessage` names its template: `templateId`, or `templateName`
/// with an optional `language` (`templateId` wins when both are given).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TemplateRef {
    Id(String),
    Name {
        name: String,
        language: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct SendMessageData {
    pub channel: Channel,
    pub template: Option<TemplateRef>,
    pub subject: Option<String>,
    pub body: Option<String>,
    /// Template parameters in the builder's order, values being templates
    /// (`{"1": "{{customer.first_name}}"}`).
    pub variables: Vec<(String, String)>,
    /// Suffixes of a WhatsApp template's dynamic URL buttons, by button
    /// index (`{"0": "{{enrollment.access_url}}"}`), in index order.
    pub button_variables: Vec<(u32, String)>,
    pub require_approval: bool,
}

impl SendMessageData {
    pub(super) fn parse(data: &Value) -> Result<Self, NodeDataError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            channel: Channel,
            template_id: Option<String>,
            template_name: Option<String>,
            language: Option<String>,
            subject: Option<String>,
            body: Option<String>,
            #[serde(default)]
            variables: Map<String, Value>,
            #[serde(default)]
            button_variables: Map<String, Value>,
            #[serde(default)]
            require_approval: bool,
        }
        let raw: Raw = shape(data)?;
        let template = match (
            non_empty("templateId", raw.template_id)?,
            non_empty("templateName", raw.template_name)?,
        ) {
            (Some(id), _) => Some(TemplateRef::Id(id)),
            (None, Some(name)) => Some(TemplateRef::Name {
                name,
                language: raw.language.filter(|l| !l.trim().is_empty()),
            }),
            (None, None) => None,
        };
        let variables = raw
            .variables
            .into_iter()
            .map(|(key, value)| match value {
                Value::String(text) => Ok((key, text)),
                other => Err(NodeDataError::invalid(format!(
                    "variables.{key} must be a string, not {other}"
                ))),
            })
            .collect::<Result<_, _>>()?;
        let mut button_variables = raw
            .button_variables
            .into_iter()
            .map(|(key, value)| {
                // Meta numbers a template's buttons from 0; it has at most 10.
                let index = key.parse::<u32>().ok().filter(|i| *i < 10).ok_or_else(|| {
                    NodeDataError::invalid(format!(
                        "buttonVariables keys are button indexes 0 to 9, not {key:?}"
                    ))
                })?;
                match value {
                    Value::String(text) => Ok((index, text)),
                    other => Err(NodeDataError::invalid(format!(
                        "buttonVariables.{key} must be a string, not {other}"
                    ))),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        button_variables.sort_by_key(|(index, _)| *index);
        let has_body = raw.body.as_deref().is_some_and(|b| !b.trim().is_empty());
        match raw.channel {
            // A WhatsApp message outside the 24 h window must be a template;
            // its absence is reported as template_missing by validation.
            Channel::Whatsapp => {}
            _ if template.is_none() && !has_body => {
                return Err(NodeDataError::invalid(format!(
                    "a {} message needs a body or a template",
                    raw.channel.name()
                )));
            }
            _ => {}
        }
        Ok(Self {
            channel: raw.channel,
            template,
            subject: raw.subject,
            body: raw.body,
            variables,
            button_variables,
            require_approval: raw.require_approval,
        })
    }
}

impl SendMessageData {
    pub(super) fn spec() -> NodeTypeSpec {
        NodeTypeSpec::new(
            NodeType::SendMessage,
            "Sends a message through a channel, under the workspace's sending rules; with requireApproval it waits in the dispatch queue first.",
            serde_json::json!({"channel": "whatsapp", "templateName": "boas_vindas", "language": "pt_BR", "variables": {"1": "{{customer.first_name}}"}}),
        )
        .field(
            FieldSpec::new("channel", FieldType::Choice, "Where the message goes.")
                .required()
                .allowed(["whatsapp", "email", "sms", "push", "webhook", "log"]),
        )
        .field(FieldSpec::new("templateId", FieldType::Id, "The message template, by id (wins over templateName)."))
        .field(FieldSpec::new("templateName", FieldType::Text, "The message template, by name; WhatsApp needs a template or an open 24 h window."))
        .field(FieldSpec::new("language", FieldType::Text, "The template's language, e.g. pt_BR."))
        .field(FieldSpec::new("subject", FieldType::Template, "An e-mail's subject."))
        .field(FieldSpec::new("body", FieldType::Template, "The text, when there is no template; other channels than WhatsApp need a body or a template."))
        .field(FieldSpec::new(
            "variables",
            FieldType::TemplateMap,
            "The template's body parameters in order, keyed 1, 2, ...: {\"1\": \"{{customer.first_name}}\"}.",
        ))
        .field(FieldSpec::new(
            "buttonVariables",
            FieldType::TemplateMap,
            "The suffixes of a WhatsApp template's URL buttons, keyed by button index 0 to 9.",
        ))
        .field(
            FieldSpec::new("requireApproval", FieldType::Boolean, "Whether a person approves the message in the dispatch queue first.")
                .default(false.into()),
        )
    }
}

// ---- approval ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalData {
    pub expires_after: IsoDuration,
}

impl ApprovalData {
    pub(super) fn parse(data: &Value) -> Result<Self, NodeDataError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            expires_after: IsoDuration,
        }
        let raw: Raw = shape(data)?;
        Ok(Self {
            expires_after: positive("expiresAfter", raw.expires_after)?,
        })
    }
}

impl ApprovalData {
    pub(super) fn spec() -> NodeTypeSpec {
        NodeTypeSpec::new(
            NodeType::Approval,
            "A human gate: waits in the dispatch queue until a person approves or rejects, or it expires.",
            serde_json::json!({"expiresAfter": "P3D"}),
        )
        .field(
            FieldSpec::new("expiresAfter", FieldType::Duration, "How long the item waits before going on by expired.")
                .required(),
        )
    }
}
