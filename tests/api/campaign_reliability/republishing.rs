//! Republishing a live campaign never changes recipients in flight.

use super::*;

async fn republishing_never_changes_recipients_in_flight(app: TestApp) {
    let ws = app.create_workspace("republica").await;
    let agent = app.agent_token(ws);
    let waiting = 5;
    customers_with_phones(&app, ws, 4, waiting).await;
    let (campaign, group) =
        published_campaign(&app, ws, "Republicada", delayed_journey("primeira versao")).await;
    let execution = run_over(&app, ws, &campaign, &group).await;
    app.drain().await;
    assert_eq!(
        app.count_where("campaign_recipients", "status = 'waiting'")
            .await,
        waiting as i64
    );

    // Edit the live campaign and publish it again.
    let edited = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!, $doc: JSON!) { updateCampaign(id: $id, input: {workflowData: $doc}) { id } }",
            json!({"id": campaign, "doc": delayed_journey("segunda versao")}),
        )
        .await;
    edited.data("updateCampaign");
    let republished = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!) { publishCampaign(id: $id) { status } }",
            json!({"id": campaign}),
        )
        .await;
    assert_eq!(republished.data("publishCampaign")["status"], "ACTIVE");
    assert_eq!(app.count_rows("campaign_versions").await, 2);

    // The execution still points at version 1.
    let version = |n: i32| {
        let db = app.db.clone();
        async move {
            entity::campaign_version::Entity::find()
                .filter(entity::campaign_version::Column::Version.eq(n))
                .one(&db)
                .await
                .expect("versions")
                .expect("the version exists")
        }
    };
    let (first, second) = (version(1).await, version(2).await);
    assert!(first.workflow_data.contains("primeira versao"));
    assert!(second.workflow_data.contains("segunda versao"));
    let pinned =
        entity::campaign_execution::Entity::find_by_id(Uuid::parse_str(&execution).expect("uuid"))
            .one(&app.db)
            .await
            .expect("execution")
            .expect("exists");
    assert_eq!(pinned.version_id, first.id, "the execution pins version 1");
    let current = fetch_execution(&app, ws, &execution).await;
    assert_eq!(current["executionData"]["version"], 1, "{current}");
    assert_eq!(
        recipients_with(&app, ws, &execution, "waiting").await,
        waiting as u64
    );

    // An hour later the delay is over: they go on through version 1's message.
    app.advance(chrono::Duration::minutes(59)).await;
    assert_eq!(
        recipients_with(&app, ws, &execution, "waiting").await,
        waiting as u64,
        "not before the hour is up"
    );
    app.advance(chrono::Duration::minutes(1)).await;
    let done = app.completed_execution(ws, &execution).await;
    assert_eq!(done["metrics"]["sent"], waiting, "{done}");
    assert_eq!(done["executionData"]["version"], 1);
    assert_eq!(
        app.count_where("messages", "CAST(content AS TEXT) LIKE '%primeira versao%'")
            .await,
        waiting as i64,
        "recipients in flight got version 1's message"
    );
    assert_eq!(
        app.count_where("messages", "CAST(content AS TEXT) LIKE '%segunda versao%'")
            .await,
        0
    );

    // A new run starts on version 2.
    let next = run_over(&app, ws, &campaign, &group).await;
    let next = fetch_execution(&app, ws, &next).await;
    assert_eq!(next["executionData"]["version"], 2, "{next}");
}
on_both_backends!(
    republishing_never_changes_recipients_in_flight,
    republishing_never_changes_recipients_in_flight
);
