//! What a background job asks for and what travels on the job queue: the
//! typed payloads `api` pushes and `worker` takes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a background job does, with its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobRequest {
    /// Read sales since `since`, every subscription and the Club's progress
    /// from Hotmart and apply whatever a missed webhook left out.
    HotmartSync { since: DateTime<Utc> },
    /// Cancel a subscription at Hotmart (optionally e-mailing the
    /// subscriber), then locally.
    SubscriptionCancel {
        subscriber_code: String,
        send_mail: bool,
    },
    /// Reactivate a subscription at Hotmart (optionally charging at once),
    /// then locally.
    SubscriptionReactivate {
        subscriber_code: String,
        charge: bool,
    },
    /// Mirror the workspace's WhatsApp templates from Meta.
    TemplateSync,
    /// Run an automation rule's scan now; a dry run lists who would get an
    /// item and why, and queues nothing.
    AutomationScan { rule_id: Uuid, dry_run: bool },
    /// Put `labels` on the customer's Chatwoot conversation, keeping the
    /// labels it has (see `entity::chatwoot::request_labels`).
    ChatwootLabels {
        customer_id: Uuid,
        labels: Vec<String>,
    },
}

/// What travels on the job queue: the stored job and what it asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOrder {
    /// The `background_jobs` row that reports the job's state.
    pub job_id: Uuid,
    pub workspace_id: Uuid,
    pub request: JobRequest,
}

/// How a job that ran went wrong, with the same stable codes as the API's errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobErrorCode {
    /// The job cannot succeed as asked (settings missing, credentials refused).
    InvalidInput,
    /// What the job names does not exist (here or at the provider).
    NotFound,
    /// The provider is busy or did not answer; asking again later may succeed.
    Conflict,
    /// Something failed on jornada's side; the cause is in the worker's log.
    Internal,
}

impl JobErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            JobErrorCode::InvalidInput => "INVALID_INPUT",
            JobErrorCode::NotFound => "NOT_FOUND",
            JobErrorCode::Conflict => "CONFLICT",
            JobErrorCode::Internal => "INTERNAL",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_is_plain_json_tagged_with_its_kind() {
        let order = JobOrder {
            job_id: Uuid::nil(),
            workspace_id: Uuid::from_u128(1),
            request: JobRequest::SubscriptionCancel {
                subscriber_code: "SUB-1".into(),
                send_mail: true,
            },
        };
        let value = serde_json::to_value(&order).unwrap();
        assert_eq!(
            value["request"],
            json!({"kind": "subscription_cancel", "subscriber_code": "SUB-1", "send_mail": true})
        );
        assert_eq!(serde_json::from_value::<JobOrder>(value).unwrap(), order);
        let sync = serde_json::to_value(JobRequest::TemplateSync).unwrap();
        assert_eq!(sync, json!({"kind": "template_sync"}));
    }

    #[test]
    fn error_codes_are_the_api_codes() {
        for (code, text) in [
            (JobErrorCode::InvalidInput, "INVALID_INPUT"),
            (JobErrorCode::NotFound, "NOT_FOUND"),
            (JobErrorCode::Conflict, "CONFLICT"),
            (JobErrorCode::Internal, "INTERNAL"),
        ] {
            assert_eq!(code.as_str(), text);
            assert_eq!(serde_json::to_value(code).unwrap(), json!(text));
        }
    }
}
