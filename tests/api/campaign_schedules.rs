//! Schedule-triggered campaigns: each cron fire starts one `scheduled`
//! execution over the trigger's audience, however often and however many
//! workers tick; paused campaigns do not fire, and resuming does not replay.
//! The app's clock is moved to the fire times; workers ticking at once call
//! the tick with an explicit `now`, as the worker's cron job calls it.

use chrono::{DateTime, Duration, DurationRound, NaiveTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;
use worker::campaigns::schedules::start_due_fires;

use crate::helpers::TestApp;
use crate::journeys::node;
use crate::on_both_backends;

/// schedule trigger → log message → exit.
fn scheduled_journey(trigger: Value) -> Value {
    json!({
        "nodes": [
            node("start", "trigger", trigger),
            node("hello", "sendMessage", json!({"channel": "log", "body": "Bom dia {{customer.first_name}}"})),
            node("end", "exit", json!({}))
        ],
        "edges": [
            {"id": "e1", "source": "start", "target": "hello"},
            {"id": "e2", "source": "hello", "target": "end"}
        ]
    })
}

/// The fire time an execution was started for.
async fn scheduled_for(app: &TestApp, execution: &str) -> Option<DateTime<Utc>> {
    use sea_orm::EntityTrait;
    entity::campaign_execution::Entity::find_by_id(Uuid::parse_str(execution).expect("uuid"))
        .one(&app.db)
        .await
        .expect("executions")
        .expect("the execution")
        .scheduled_for
}

impl TestApp {
    /// The campaign's executions as the API lists them: (id, type, status).
    async fn executions_of(&self, workspace: Uuid, campaign: &str) -> Vec<(String, String)> {
        let answer = self
            .graphql(
                Some(&self.agent_token(workspace)),
                "query($id: ID!) { campaignExecutions(campaignId: $id) { nodes { id executionType } } }",
                json!({"id": campaign}),
            )
            .await;
        answer.data("campaignExecutions")["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| {
                (
                    n["id"].as_str().unwrap_or_default().to_owned(),
                    n["executionType"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

/// The `nth` (1 = the next) `hour:minute` in São Paulo (the default
/// workspace clock, UTC-3 all year) after `now`, whatever the time of day
/// the tests run at.
fn next_in_sao_paulo(now: DateTime<Utc>, hour: u32, minute: u32, nth: i64) -> DateTime<Utc> {
    let today = (now - Duration::hours(3)).date_naive();
    let mut next = today
        .and_time(NaiveTime::from_hms_opt(hour, minute, 0).expect("time"))
        .and_utc()
        + Duration::hours(3);
    if next <= now {
        next += Duration::days(1);
    }
    next + Duration::days(nth - 1)
}

async fn a_schedule_fires_once_per_due_time(app: TestApp) {
    let ws = app.create_workspace("bom-dia").await;
    for i in 0..3 {
        app.create_customer(ws, &format!("aluna{i}@example.com"))
            .await;
    }
    let campaign = app
        .publish_journey(
            ws,
            scheduled_journey(json!({"source": "schedule", "cron": "0 0 9 * * *"})),
        )
        .await;
    let first = next_in_sao_paulo(app.clock.now(), 9, 0, 1);

    app.advance_to(first - Duration::seconds(1)).await;
    assert!(
        app.executions_of(ws, &campaign).await.is_empty(),
        "nothing is due a second before 09:00"
    );

    app.advance_to(first + Duration::seconds(5)).await;
    let fired = app.executions_of(ws, &campaign).await;
    assert_eq!(fired.len(), 1, "09:00 fires once");
    let (execution, execution_type) = fired[0].clone();
    assert_eq!(execution_type, "SCHEDULED");
    assert_eq!(scheduled_for(&app, &execution).await, Some(first));
    let done = app.completed_execution(ws, &execution).await;
    assert_eq!(
        done["metrics"]["entered"], 3,
        "every customer of the workspace"
    );
    assert_eq!(done["metrics"]["sent"], 3);
    // The same minute ticked again, and by two workers at once: no new run.
    app.advance_to(first + Duration::seconds(30)).await;
    let (a, b) = tokio::join!(
        start_due_fires(&app.db, first + Duration::seconds(59)),
        start_due_fires(&app.db, first + Duration::seconds(59)),
    );
    assert!(a.expect("tick").is_empty() && b.expect("tick").is_empty());
    assert_eq!(app.executions_of(ws, &campaign).await, fired);

    // The worker was down for four mornings: one catch-up run, for the latest.
    let latest = first + Duration::days(4);
    app.advance_to(latest + Duration::hours(2)).await;
    let (a, b) = tokio::join!(
        start_due_fires(&app.db, latest + Duration::hours(3)),
        start_due_fires(&app.db, latest + Duration::hours(3)),
    );
    assert!(a.expect("tick").is_empty() && b.expect("tick").is_empty());
    let runs = app.executions_of(ws, &campaign).await;
    assert_eq!(runs.len(), 2, "missed fires are caught up once: {runs:?}");
    let caught_up = runs
        .iter()
        .find(|run| run.0 != execution)
        .expect("a new run");
    assert_eq!(scheduled_for(&app, &caught_up.0).await, Some(latest));
    app.completed_execution(ws, &caught_up.0).await;
    // Nobody got a run's message twice: one per customer per execution.
    assert_eq!(app.count_rows("messages").await, 6);
    assert_eq!(app.count_rows("campaign_recipients").await, 6);
}
on_both_backends!(
    a_schedule_fires_once_per_due_time,
    a_schedule_fires_once_per_due_time
);

async fn concurrent_ticks_start_a_fire_once(app: TestApp) {
    let ws = app.create_workspace("varios-workers").await;
    for i in 0..20 {
        app.create_customer(ws, &format!("aluno{i}@example.com"))
            .await;
    }
    let agent = app.agent_token(ws);
    let group = app
        .graphql(
            Some(&agent),
            "mutation { createTargetGroupMapping(input: {crmName: \"Todos\", source: \"customers\"}) { id } }",
            json!({}),
        )
        .await;
    let group = group.data("createTargetGroupMapping")["id"]
        .as_str()
        .expect("group id")
        .to_owned();
    let campaign = app
        .publish_journey(
            ws,
            scheduled_journey(
                json!({"source": "schedule", "cron": "0 30 8 * * *", "targetGroupId": group}),
            ),
        )
        .await;
    let due = next_in_sao_paulo(app.clock.now(), 8, 30, 1) + Duration::seconds(1);
    let ticks: Vec<_> = (0..4)
        .map(|_| {
            let db = app.db.clone();
            tokio::spawn(async move { start_due_fires(&db, due).await })
        })
        .collect();
    let mut started = Vec::new();
    for tick in ticks {
        started.extend(tick.await.expect("join").expect("tick"));
    }
    assert_eq!(
        started.len(),
        1,
        "four workers ticking at once start one run"
    );
    assert_eq!(
        started[0].target_group_id.map(|g| g.to_string()),
        Some(group)
    );
    app.advance_to(due).await;
    let done = app
        .completed_execution(ws, &started[0].id.to_string())
        .await;
    assert_eq!(done["metrics"]["entered"], 20);
    assert_eq!(app.count_rows("messages").await, 20);
    assert_eq!(app.executions_of(ws, &campaign).await.len(), 1);
}
on_both_backends!(
    concurrent_ticks_start_a_fire_once,
    concurrent_ticks_start_a_fire_once
);

async fn paused_schedules_do_not_fire_and_resuming_does_not_replay(app: TestApp) {
    let ws = app.create_workspace("pausada").await;
    app.create_customer(ws, "aluna@example.com").await;
    let agent = app.agent_token(ws);
    // Every minute: fires keep falling due while the campaign is paused.
    let campaign = app
        .publish_journey(
            ws,
            scheduled_journey(json!({"source": "schedule", "cron": "0 * * * * *"})),
        )
        .await;
    let paused = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!) { pauseCampaign(id: $id) { status } }",
            json!({"id": campaign}),
        )
        .await;
    assert_eq!(paused.data("pauseCampaign")["status"], "PAUSED");
    // Fires keep falling due for five minutes while paused.
    app.advance(Duration::minutes(5)).await;
    assert!(
        app.executions_of(ws, &campaign).await.is_empty(),
        "a paused campaign does not fire"
    );
    assert_eq!(app.count_rows("campaign_recipients").await, 0);
    let resumed = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!) { resumeCampaign(id: $id) { status updatedAt } }",
            json!({"id": campaign}),
        )
        .await;
    assert_eq!(resumed.data("resumeCampaign")["status"], "ACTIVE");
    let resumed_at: DateTime<Utc> = resumed.data("resumeCampaign")["updatedAt"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("updatedAt");
    // Ticking at the moment of resuming: the fires of the paused seconds are due, but not replayed.
    let right_after = start_due_fires(&app.db, resumed_at).await.expect("tick");
    assert!(
        right_after.is_empty(),
        "fires that fell while paused are not replayed"
    );

    // The next fire after resuming does start, once.
    let next_minute = resumed_at
        .duration_trunc(Duration::minutes(1))
        .expect("a whole minute")
        + Duration::minutes(1);
    app.advance_to(next_minute + Duration::seconds(1)).await;
    let next = app.executions_of(ws, &campaign).await;
    assert_eq!(next.len(), 1, "{next:?}");
    let done = app.completed_execution(ws, &next[0].0).await;
    assert_eq!(done["metrics"]["entered"], 1);
    assert_eq!(done["metrics"]["sent"], 1);
}
on_both_backends!(
    paused_schedules_do_not_fire_and_resuming_does_not_replay,
    paused_schedules_do_not_fire_and_resuming_does_not_replay
);

async fn invalid_cron_is_refused_with_a_node_error(app: TestApp) {
    let ws = app.create_workspace("cron-ruim").await;
    let answer = app
        .graphql(
            Some(&app.agent_token(ws)),
            "query($doc: JSON!) { validateWorkflow(workflowData: $doc) { nodeId code } }",
            json!({"doc": scheduled_journey(json!({"source": "schedule", "cron": "todo dia às 9"}))}),
        )
        .await;
    assert_eq!(
        answer.data("validateWorkflow"),
        &json!([{"nodeId": "start", "code": "invalid_data"}])
    );
}
on_both_backends!(
    invalid_cron_is_refused_with_a_node_error,
    invalid_cron_is_refused_with_a_node_error
);
