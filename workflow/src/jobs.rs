//! Payloads of the background jobs that run campaigns. `api` enqueues them,
//! `worker` handles them; both agree on them through this crate. Each job is
//! small and idempotent: a handler may run twice (a crash between the work
//! and the acknowledgement) and must find nothing left to do the second time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::interpret::StepInput;

/// Fan an execution out: create a `campaign_recipients` row at the trigger
/// for every customer of its target group (or the one customer of an event
/// trigger), then enqueue them for advancing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartExecution {
    pub workspace_id: Uuid,
    pub execution_id: Uuid,
}

/// Advance one recipient by one step, in one database transaction: load its
/// position and the execution's pinned graph version, call the interpreter
/// with [`StepInput::Enter`], persist the transition. A recipient whose
/// position has already moved past the step, or who is waiting with a
/// `wake_at` still in the future, is left alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvanceRecipient {
    pub execution_id: Uuid,
    pub recipient_id: Uuid,
}

/// [`AdvanceRecipient`] for many recipients of one execution: one job,
/// still one transaction per recipient step, for throughput.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvanceRecipients {
    pub execution_id: Uuid,
    pub recipient_ids: Vec<Uuid>,
}

/// Periodic: move on every recipient whose `wake_at` is at or before `now`
/// (delays over, waitForEvent timeouts, approval expiries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WakeDueRecipients {
    pub now: DateTime<Utc>,
}

/// A domain event (`purchase_approved`, `first_access`, ...) happened to a
/// customer: start the published campaigns whose trigger is that event
/// (subject to their re-entry rule) and resume that customer's recipients
/// waiting for it in a `waitForEvent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignEvent {
    pub workspace_id: Uuid,
    pub customer_id: Uuid,
    /// The `domain_events` row, so a redelivery is recognised.
    pub domain_event_id: Uuid,
    pub event: String,
    pub occurred_at: DateTime<Utc>,
}

/// A person decided the dispatch item an `approval` node created (or it
/// expired): resume its recipient on the matching handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeApproval {
    pub workspace_id: Uuid,
    pub recipient_id: Uuid,
    pub dispatch_item_id: Uuid,
    pub decision: ApprovalDecision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalDecision {
    Approved,
    Rejected,
    Expired,
}

impl From<ApprovalDecision> for StepInput {
    fn from(decision: ApprovalDecision) -> Self {
        match decision {
            ApprovalDecision::Approved => StepInput::Approved,
            ApprovalDecision::Rejected => StepInput::Rejected,
            ApprovalDecision::Expired => StepInput::Expired,
        }
    }
}

/// Send one outbox row that is `queued`: claim it as `sending`, call the
/// provider, record the outcome. Never resends a row in `sending` or
/// `unknown`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverMessage {
    pub workspace_id: Uuid,
    pub message_id: Uuid,
}

/// Mirror the workspace's WhatsApp templates from Meta (hourly, and on demand).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncTemplates {
    pub workspace_id: Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_are_plain_json() {
        let job = AdvanceRecipient {
            execution_id: Uuid::nil(),
            recipient_id: Uuid::from_u128(1),
        };
        let value = serde_json::to_value(&job).unwrap();
        assert_eq!(
            value,
            json!({"execution_id": "00000000-0000-0000-0000-000000000000",
                   "recipient_id": "00000000-0000-0000-0000-000000000001"})
        );
        assert_eq!(
            serde_json::from_value::<AdvanceRecipient>(value).unwrap(),
            job
        );
        let resume = ResumeApproval {
            workspace_id: Uuid::nil(),
            recipient_id: Uuid::nil(),
            dispatch_item_id: Uuid::nil(),
            decision: ApprovalDecision::Expired,
        };
        let value = serde_json::to_value(&resume).unwrap();
        assert_eq!(value["decision"], json!("expired"));
        assert_eq!(StepInput::from(resume.decision), StepInput::Expired);
    }
}
