//! Background jobs as a client follows them: queued at once by the mutation
//! that asks for one, run once by the worker however often its task is
//! delivered, put back on the queue when its task was lost or its worker
//! died, and visible only to its own workspace.

use chrono::{Duration, Utc};
use entity::background_job;
use entity::background_jobs::{self, JobQueue};
use entity::enums::BackgroundJobStatus;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fakes::meta::{self as meta, FakeMeta};
use crate::helpers::TestApp;
use crate::on_both_backends;
use crate::templates::configure_whatsapp;

const SYNC: &str = "mutation { syncTemplates { id kind status attempts startedAt } }";
const JOB: &str = "query($id: ID!) { backgroundJob(id: $id) { id status attempts } }";

async fn workspace_with_whatsapp(app: &TestApp, slug: &str) -> (FakeMeta, Uuid, String) {
    let meta = FakeMeta::spawn().await;
    meta.seed_templates([meta::welcome_template()]);
    let ws = app.create_workspace(slug).await;
    configure_whatsapp(app, ws, &meta).await;
    let agent = app.agent_token(ws);
    (meta, ws, agent)
}

/// `syncTemplates` as `agent`, followed until it is done; the job as queued.
async fn sync_to_the_end(app: &TestApp, agent: &str) -> Value {
    let job = app
        .graphql(Some(agent), SYNC, json!({}))
        .await
        .data("syncTemplates")
        .clone();
    app.finished_job(agent, &job).await;
    job
}

fn job_id(job: &Value) -> Uuid {
    job["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("a job id")
}

async fn stored(app: &TestApp, job: &Value) -> background_job::Model {
    background_job::Entity::find_by_id(job_id(job))
        .one(&app.db)
        .await
        .expect("read the job")
        .expect("the job is stored")
}

async fn a_job_delivered_twice_runs_once(app: TestApp) {
    let (meta, _, agent) = workspace_with_whatsapp(&app, "duas-entregas").await;
    let job = app
        .graphql(Some(&agent), SYNC, json!({}))
        .await
        .data("syncTemplates")
        .clone();
    assert_eq!(job["status"], "QUEUED");
    assert_eq!(job["attempts"], 0);
    assert_eq!(job["startedAt"], Value::Null);
    let done = app.finished_job(&agent, &job).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["attempts"], 1);
    assert_eq!(meta.template_requests().len(), 1);

    // The queue delivers the task again (a worker died before acknowledging
    // it): the job is not queued any more, so nothing runs twice.
    let mut again = stored(&app, &job).await;
    again.attempts = 0;
    JobQueue::new(&app.db)
        .push(&again)
        .await
        .expect("push again");
    let second = stored(&app, &job).await;
    JobQueue::new(&app.db)
        .push(&second)
        .await
        .expect("push again");
    // A later job of the same workspace runs after those deliveries.
    sync_to_the_end(&app, &agent).await;
    let first = app
        .graphql(Some(&agent), JOB, json!({"id": job["id"]}))
        .await;
    assert_eq!(first.data("backgroundJob")["attempts"], 1, "run once");
    assert_eq!(
        meta.template_requests().len(),
        2,
        "one listing per job, none for the repeated deliveries"
    );
}
on_both_backends!(
    a_job_delivered_twice_runs_once,
    a_job_delivered_twice_runs_once
);

async fn lost_and_stalled_jobs_are_queued_again(app: TestApp) {
    let (meta, _, agent) = workspace_with_whatsapp(&app, "tarefa-perdida").await;
    let job = sync_to_the_end(&app, &agent).await;

    // A job whose worker died mid-run: running, no word for a long time.
    let mut stalled = stored(&app, &job).await.into_active_model();
    stalled.status = Set(BackgroundJobStatus::Running);
    stalled.result = Set(None);
    stalled.finished_at = Set(None);
    stalled.updated_at = Set(Utc::now() - background_jobs::STALLED_AFTER - Duration::minutes(1));
    stalled.update(&app.db).await.expect("stall the job");
    // Not yet: a job running for less than the limit is left alone.
    let pushed = background_jobs::recover(&app.db, Utc::now() - Duration::minutes(5))
        .await
        .expect("recover");
    assert_eq!(pushed, 0);
    // Queued again at once, pushed once it has waited past the lost-task limit.
    background_jobs::recover(&app.db, Utc::now())
        .await
        .expect("recover");
    let pushed = background_jobs::recover(
        &app.db,
        Utc::now() + background_jobs::LOST_AFTER + Duration::seconds(1),
    )
    .await
    .expect("recover");
    assert_eq!(pushed, 1);
    let done = app.finished_job(&agent, &job).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["attempts"], 2, "the second attempt finished it");
    assert_eq!(meta.template_requests().len(), 2);
}
on_both_backends!(
    lost_and_stalled_jobs_are_queued_again,
    lost_and_stalled_jobs_are_queued_again
);

async fn a_workspace_sees_only_its_own_jobs(app: TestApp) {
    let (_meta, _, agent) = workspace_with_whatsapp(&app, "dona-do-job").await;
    let job = sync_to_the_end(&app, &agent).await;

    let other = app.create_workspace("vizinha").await;
    let neighbour = app.agent_token(other);
    let foreign = app
        .graphql(Some(&neighbour), JOB, json!({"id": job["id"]}))
        .await;
    assert_eq!(foreign.error_code(), Some("NOT_FOUND"));
    let listed = app
        .graphql(
            Some(&neighbour),
            "{ backgroundJobs { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(listed.data("backgroundJobs")["totalCount"], 0);

    // A read-only token follows jobs but cannot start one.
    let reader = app.reader_token(other);
    let refused = app.graphql(Some(&reader), SYNC, json!({})).await;
    assert_eq!(refused.error_code(), Some("FORBIDDEN"));
    let owner_reader = app.reader_token(job_workspace(&app, &job).await);
    let read = app
        .graphql(Some(&owner_reader), JOB, json!({"id": job["id"]}))
        .await;
    assert_eq!(read.data("backgroundJob")["status"], "SUCCEEDED");
    let bad_id = app
        .graphql(Some(&owner_reader), JOB, json!({"id": "not-an-id"}))
        .await;
    assert_eq!(bad_id.error_code(), Some("INVALID_INPUT"));
}
on_both_backends!(
    a_workspace_sees_only_its_own_jobs,
    a_workspace_sees_only_its_own_jobs
);

async fn job_workspace(app: &TestApp, job: &Value) -> Uuid {
    stored(app, job).await.workspace_id
}
