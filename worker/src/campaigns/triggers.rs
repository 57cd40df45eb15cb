//! Campaigns reacting to domain events: an event-triggered campaign starts
//! for the customer the event is about (when the event is about one of the
//! trigger's products and offers, under its re-entry rule), the recipient
//! carrying the event's key; and a recipient waiting for that event moves
//! on along its `event` branch — with a `match`, only for an event about the
//! same transaction, product or subscription as the one that started it.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::Tenant;
use entity::db::LockForChange;
use entity::entities::enums::{CampaignStatus, ExecutionStatus, ExecutionType};
use entity::entities::{campaign, campaign_execution, campaign_recipient, domain_event};
use entity::executions::{self, Entry, Move, recipient_status};
use futures::future::BoxFuture;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, QueryFilter, QueryOrder,
    Set,
};
use serde_json::{Value, json};
use uuid::Uuid;
use workflow::nodes::{NodeData, Reentry, TriggerData, TriggerSource};
use workflow::{EventKey, Graph, KeyPart};

use crate::domain_events::DomainEventConsumer;

/// The domain-event consumer that starts and resumes journeys.
pub struct CampaignTriggers;

impl DomainEventConsumer for CampaignTriggers {
    fn name(&self) -> &'static str {
        "campaign_triggers"
    }

    fn handle<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        events: &'a [&'a domain_event::Model],
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), entity::Error>> {
        Box::pin(async move {
            let mut by_workspace: BTreeMap<Uuid, Vec<&domain_event::Model>> = BTreeMap::new();
            for event in events.iter().filter(|e| e.customer_id.is_some()) {
                by_workspace
                    .entry(event.workspace_id)
                    .or_default()
                    .push(event);
            }
            for (workspace_id, events) in by_workspace {
                let tenant = Tenant::new(workspace_id);
                resume_waiting(txn, tenant, &events, now).await?;
                let triggers = event_triggers(txn, tenant).await?;
                if triggers.is_empty() {
                    continue;
                }
                let keyed: Vec<KeyedEvent> = events.iter().map(|e| KeyedEvent::of(e)).collect();
                let starting: Vec<Vec<&KeyedEvent>> = triggers
                    .iter()
                    .map(|(_, trigger)| keyed.iter().filter(|e| trigger.starts_on(e)).collect())
                    .collect();
                let entering: Vec<&KeyedEvent> = starting.iter().flatten().copied().collect();
                if entering.is_empty() {
                    continue;
                }
                let names = product_names(txn, tenant, &entering).await?;
                for ((campaign, trigger), starting) in triggers.iter().zip(&starting) {
                    enter(txn, tenant, campaign, trigger, starting, &names, now).await?;
                }
            }
            Ok(())
        })
    }
}

/// A domain event with its key read.
struct KeyedEvent<'a> {
    event: &'a domain_event::Model,
    key: EventKey,
}

impl<'a> KeyedEvent<'a> {
    fn of(event: &'a domain_event::Model) -> Self {
        Self {
            event,
            key: EventKey::of(&event.data),
        }
    }

    /// What the recipient it starts carries: the key, the event's name and
    /// the product's name.
    fn entry_key(&self, names: &HashMap<Uuid, String>) -> Value {
        let mut entry = self.key.to_value();
        entry["event"] = json!(self.event.event_type);
        if let Some(name) = self.key.product_id.and_then(|id| names.get(&id)) {
            entry["productName"] = json!(name);
        }
        entry
    }
}

impl EntryTrigger {
    /// Whether the event starts this trigger's journey: its name, and its
    /// product and offer when the trigger names some.
    fn starts_on(&self, keyed: &KeyedEvent<'_>) -> bool {
        let data = &self.data;
        data.event.as_deref() == Some(keyed.event.event_type.as_str())
            && (data.product_ids.is_empty()
                || keyed
                    .key
                    .product_id
                    .is_some_and(|id| data.product_ids.contains(&id)))
            && (data.offer_codes.is_empty()
                || keyed
                    .key
                    .offer_code
                    .as_ref()
                    .is_some_and(|code| data.offer_codes.contains(code)))
    }
}

/// The names of the products these events are about, in one query.
async fn product_names<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    events: &[&KeyedEvent<'_>],
) -> Result<HashMap<Uuid, String>, entity::Error> {
    let ids: Vec<Uuid> = events.iter().filter_map(|e| e.key.product_id).collect();
    entity::catalog::product_names(db, tenant, &ids).await
}

/// Recipients of these events' customers waiting for one of them take their
/// `event` branch, on the first such event; a recipient whose wait has a
/// `match` only on an event whose key has the same part as its entry key.
async fn resume_waiting<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    events: &[&domain_event::Model],
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    let mut customers: Vec<Uuid> = events.iter().filter_map(|e| e.customer_id).collect();
    customers.sort_unstable();
    customers.dedup();
    let waiting = tenant
        .select::<campaign_recipient::Entity>()
        .filter(campaign_recipient::Column::CustomerId.is_in(customers))
        .filter(campaign_recipient::Column::Status.eq(recipient_status::WAITING))
        .all(db)
        .await?;
    for recipient in waiting {
        let state = &recipient.state;
        if state.get("await").and_then(Value::as_str) != Some("event") {
            continue;
        }
        let Some(awaited) = state.get("event").and_then(Value::as_str) else {
            continue;
        };
        let matching = state
            .get("match")
            .and_then(Value::as_str)
            .and_then(KeyPart::parse_match);
        let entry_key = EventKey::of(recipient.entry_key.as_ref().unwrap_or(&Value::Null));
        if !events.iter().any(|e| {
            e.customer_id == Some(recipient.customer_id)
                && e.event_type == awaited
                && matching.is_none_or(|part| entry_key.same(&EventKey::of(&e.data), part))
        }) {
            continue;
        }
        let (Some(node), Some(next)) = (
            recipient.current_node_id.clone(),
            state.get("onEvent").and_then(Value::as_str),
        ) else {
            continue;
        };
        let to = Move {
            status: recipient_status::ACTIVE,
            node: Some(next.to_owned()),
            wake_at: Some(now),
            state: Some(json!({})),
            error: None,
        };
        executions::move_recipient(db, recipient.id, &node, to, now).await?;
    }
    Ok(())
}

/// The active campaigns of a workspace that an event starts, with their triggers.
async fn event_triggers<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
) -> Result<Vec<(campaign::Model, EntryTrigger)>, entity::Error> {
    let active = tenant
        .select::<campaign::Entity>()
        .filter(campaign::Column::Status.eq(CampaignStatus::Active))
        .all(db)
        .await?;
    let mut triggers = Vec::new();
    for campaign in active {
        if let Some(trigger) = entry_trigger(db, tenant, campaign.id).await?
            && trigger.data.source == TriggerSource::Event
        {
            triggers.push((campaign, trigger));
        }
    }
    Ok(triggers)
}

/// Starts `campaign` for the customers of `events` (in order), under its
/// re-entry rule, in a few statements whatever the number of events: one
/// read of the customers' earlier entries, one of the open execution, one
/// insert of every first entry. A customer re-entering gets an execution
/// of its own, so its messages get fresh idempotency keys; a customer
/// entered by one event of the batch is in flight for the next. Per-key
/// re-entry enters a customer once per key of the event (see
/// [`EventKey::identity`]), every key in the open execution. Each
/// recipient carries the key of the event that started it.
async fn enter<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    campaign: &campaign::Model,
    trigger: &EntryTrigger,
    events: &[&KeyedEvent<'_>],
    names: &HashMap<Uuid, String>,
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    let mut customers: Vec<Uuid> = events.iter().filter_map(|e| e.event.customer_id).collect();
    if customers.is_empty() {
        return Ok(());
    }
    customers.sort_unstable();
    customers.dedup();
    let EntryTrigger {
        version_id,
        node_id,
        data,
    } = trigger;
    let per_key = data.reentry == Reentry::PerKey;
    // The latest entry of each customer, newest last, and every key each
    // customer entered under.
    let mut earlier: HashMap<Uuid, campaign_recipient::Model> = HashMap::new();
    let mut entered: HashSet<(Uuid, String)> = HashSet::new();
    for recipient in tenant
        .select::<campaign_recipient::Entity>()
        .filter(campaign_recipient::Column::CampaignId.eq(campaign.id))
        .filter(campaign_recipient::Column::CustomerId.is_in(customers))
        .order_by_asc(campaign_recipient::Column::CreatedAt)
        .all(db)
        .await?
    {
        entered.insert((recipient.customer_id, recipient.reentry_key.clone()));
        earlier.insert(recipient.customer_id, recipient);
    }
    let mut first_entries = Vec::new();
    let mut reentries = Vec::new();
    let mut in_batch = HashSet::new();
    for keyed in events {
        let Some(customer_id) = keyed.event.customer_id else {
            continue;
        };
        let entry = Entry {
            customer_id,
            entry_key: Some(keyed.entry_key(names)),
            reentry_key: if per_key {
                keyed.key.identity().unwrap_or_default()
            } else {
                String::new()
            },
        };
        if per_key {
            if entered.insert((customer_id, entry.reentry_key.clone())) {
                first_entries.push(entry);
            }
            continue;
        }
        if !in_batch.insert(customer_id) {
            continue;
        }
        let may_enter = match (earlier.get(&customer_id), &data.reentry) {
            (None, _) => true,
            (Some(_), Reentry::Never | Reentry::PerKey) => false,
            (Some(last), Reentry::Always) => {
                !recipient_status::IN_FLIGHT.contains(&last.status.as_str())
            }
            (Some(last), Reentry::After(wait)) => {
                !recipient_status::IN_FLIGHT.contains(&last.status.as_str())
                    && wait
                        .after(last.created_at, chrono_tz::UTC)
                        .is_some_and(|again| again <= keyed.event.occurred_at)
            }
        };
        match (may_enter, earlier.contains_key(&customer_id)) {
            (false, _) => {}
            (true, false) => first_entries.push(entry),
            (true, true) => reentries.push(entry),
        }
    }
    let event_type = &events[0].event.event_type;
    if !first_entries.is_empty() {
        // First entries share the open execution of this version. The
        // dispatcher that opens one holds the campaign until it commits, so
        // dispatchers side by side never open two.
        let execution = match open_execution(db, tenant, campaign.id, *version_id).await? {
            Some(open) => open,
            None => {
                tenant
                    .select::<campaign::Entity>()
                    .filter(campaign::Column::Id.eq(campaign.id))
                    .lock_for_change()
                    .one(db)
                    .await?;
                match open_execution(db, tenant, campaign.id, *version_id).await? {
                    Some(open) => open,
                    None => {
                        new_triggered_execution(db, tenant, campaign, *version_id, event_type, now)
                            .await?
                    }
                }
            }
        };
        executions::enroll_entries(db, tenant, &execution, &first_entries, node_id, now).await?;
    }
    for entry in reentries {
        let execution =
            new_triggered_execution(db, tenant, campaign, *version_id, event_type, now).await?;
        executions::enroll_entries(db, tenant, &execution, &[entry], node_id, now).await?;
    }
    Ok(())
}

/// The trigger node of a campaign's published (latest) version.
pub(crate) struct EntryTrigger {
    pub version_id: Uuid,
    pub node_id: String,
    pub data: TriggerData,
}

/// Reads the trigger of the version new executions would pin; `None` when
/// the campaign was never published or its version has no usable trigger
/// (publishing validates, so only hand-edited rows lack one).
pub(crate) async fn entry_trigger<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    campaign_id: Uuid,
) -> Result<Option<EntryTrigger>, entity::Error> {
    let Some(version) = executions::latest_version(db, tenant, campaign_id).await? else {
        return Ok(None);
    };
    let Ok(document) = serde_json::from_str::<Value>(&version.workflow_data) else {
        return Ok(None);
    };
    let Ok(graph) = Graph::from_value(&document) else {
        return Ok(None);
    };
    let Some(trigger) = graph.trigger() else {
        return Ok(None);
    };
    let Ok(NodeData::Trigger(data)) = trigger.typed_data() else {
        return Ok(None);
    };
    Ok(Some(EntryTrigger {
        version_id: version.id,
        node_id: trigger.id.clone(),
        data,
    }))
}

async fn open_execution<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    campaign_id: Uuid,
    version_id: Uuid,
) -> Result<Option<campaign_execution::Model>, entity::Error> {
    Ok(tenant
        .select::<campaign_execution::Entity>()
        .filter(campaign_execution::Column::CampaignId.eq(campaign_id))
        .filter(campaign_execution::Column::VersionId.eq(version_id))
        .filter(campaign_execution::Column::ExecutionType.eq(ExecutionType::Triggered))
        .filter(campaign_execution::Column::Status.eq(ExecutionStatus::Running))
        .order_by_asc(campaign_execution::Column::StartedAt)
        .one(db)
        .await?)
}

async fn new_triggered_execution<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    campaign: &campaign::Model,
    version_id: Uuid,
    event_type: &str,
    now: DateTime<Utc>,
) -> Result<campaign_execution::Model, entity::Error> {
    Ok(campaign_execution::ActiveModel {
        id: Set(entity::db::new_id()),
        workspace_id: Set(tenant.workspace_id()),
        campaign_id: Set(campaign.id),
        version_id: Set(version_id),
        target_group_id: Set(None),
        execution_type: Set(ExecutionType::Triggered),
        status: Set(ExecutionStatus::Running),
        execution_data: Set(json!({"trigger": event_type})),
        metrics: Set(json!({})),
        started_at: Set(now),
        completed_at: Set(None),
        scheduled_for: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// Starts an active campaign for one customer now, as an automation rule's
/// `START_CAMPAIGN` asks, under the campaign's re-entry rule (a customer in
/// flight is not entered again). A campaign not active or never published
/// starts nothing.
pub(crate) async fn start_for<C: ConnectionTrait>(
    db: &C,
    tenant: Tenant,
    campaign_id: Uuid,
    customer_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), entity::Error> {
    let Some(campaign) = tenant
        .select::<campaign::Entity>()
        .filter(campaign::Column::Id.eq(campaign_id))
        .filter(campaign::Column::Status.eq(CampaignStatus::Active))
        .one(db)
        .await?
    else {
        tracing::debug!(%campaign_id, "an automation rule names a campaign that is not active; nothing started");
        return Ok(());
    };
    let Some(trigger) = entry_trigger(db, tenant, campaign.id).await? else {
        return Ok(());
    };
    // The rule's firing, as the entry rules read an event.
    let started = domain_event::Model {
        id: entity::db::new_id(),
        workspace_id: tenant.workspace_id(),
        customer_id: Some(customer_id),
        event_type: "automation_rule".into(),
        data: json!({}),
        occurred_at: now,
        recorded_at: now,
        source_event_id: None,
        dedupe_key: String::new(),
        dispatched_at: None,
        attempts: 0,
        next_attempt_at: None,
        last_error: None,
    };
    let started = KeyedEvent::of(&started);
    enter(
        db,
        tenant,
        &campaign,
        &trigger,
        &[&started],
        &HashMap::new(),
        now,
    )
    .await
}
