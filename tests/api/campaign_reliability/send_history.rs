//! The send history the send rules count: recent sends of each customer.

use super::*;

/// Stores a message to `customer` as the runner would have, `ago` before now.
async fn sent_before(
    app: &TestApp,
    workspace: Uuid,
    customer: Uuid,
    channel: Channel,
    status: MessageStatus,
    ago: chrono::Duration,
) -> chrono::DateTime<chrono::Utc> {
    use sea_orm::{ActiveModelTrait, Set};
    let at = chrono::Utc::now() - ago;
    let id = Uuid::now_v7();
    entity::entities::message::ActiveModel {
        id: Set(id),
        workspace_id: Set(workspace),
        customer_id: Set(customer),
        channel: Set(channel),
        template_id: Set(None),
        content: Set(json!({"body": "Oi"})),
        idempotency_key: Set(format!("history:{id}")),
        status: Set(status),
        provider_message_id: Set(None),
        error: Set(None),
        campaign_recipient_id: Set(None),
        dispatch_item_id: Set(None),
        node_id: Set(None),
        lease_until: Set(None),
        sent_at: Set(Some(at)),
        delivered_at: Set(None),
        read_at: Set(None),
        failed_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(&app.db)
    .await
    .expect("store a message");
    at
}

/// The history the send rules read holds each customer's messages that
/// went out inside the look-back — not failed ones, not older ones, not
/// other customers' — and the pair rate and frequency cap act on it.
async fn send_history_counts_recent_sends_of_each_customer(app: TestApp) {
    use worker::campaigns::policy::{PAIR_RATE, SendHistory, SendPolicy, Verdict};
    let workspace = app.create_workspace("historico").await;
    let ana = app.create_customer(workspace, "ana@exemplo.com").await;
    let bia = app.create_customer(workspace, "bia@exemplo.com").await;
    let caio = app.create_customer(workspace, "caio@exemplo.com").await;
    let seconds = chrono::Duration::seconds;
    let whatsapp_at = sent_before(
        &app,
        workspace,
        ana,
        Channel::Whatsapp,
        MessageStatus::Delivered,
        seconds(2),
    )
    .await;
    sent_before(
        &app,
        workspace,
        ana,
        Channel::Email,
        MessageStatus::Sent,
        seconds(3600),
    )
    .await;
    sent_before(
        &app,
        workspace,
        ana,
        Channel::Whatsapp,
        MessageStatus::Failed,
        seconds(1),
    )
    .await;
    sent_before(
        &app,
        workspace,
        bia,
        Channel::Whatsapp,
        MessageStatus::Read,
        seconds(2 * 86_400),
    )
    .await;
    let everyone = [ana, bia, caio];

    let capped = SendPolicy {
        time_zone: chrono_tz::UTC,
        quiet_hours: None,
        frequency_cap: Some((2, seconds(86_400))),
        whatsapp_per_second: 80,
    };
    let now = chrono::Utc::now();
    let histories = SendHistory::of(&app.db, &everyone, &capped, now)
        .await
        .expect("history");
    let of_ana = histories.get(&ana).expect("ana's history");
    assert_eq!(of_ana.sent.len(), 2, "{of_ana:?}");
    assert_eq!(
        of_ana.last_whatsapp.map(|at| at.timestamp_millis()),
        Some(whatsapp_at.timestamp_millis())
    );
    assert!(
        histories.get(&bia).is_none_or(|h| h.sent.is_empty()),
        "older than a day"
    );
    assert!(!histories.contains_key(&caio));
    assert!(matches!(
        capped.verdict(None, Some(of_ana), Channel::Whatsapp, false, now),
        Verdict::Wait(at) if at.timestamp_millis() == (whatsapp_at + PAIR_RATE).timestamp_millis()
    ));
    assert!(
        matches!(
            capped.verdict(None, Some(of_ana), Channel::Email, false, now),
            Verdict::Wait(_)
        ),
        "two messages today reach the cap"
    );
    assert_eq!(
        capped.verdict(None, histories.get(&bia), Channel::Whatsapp, false, now),
        Verdict::Go
    );

    // Without a cap only the pair rate's few seconds are read.
    let uncapped = SendPolicy {
        frequency_cap: None,
        ..capped
    };
    let histories = SendHistory::of(&app.db, &everyone, &uncapped, now)
        .await
        .expect("history");
    assert_eq!(histories.len(), 1, "{histories:?}");
    assert_eq!(histories[&ana].sent.len(), 1);
    assert_eq!(
        uncapped.verdict(None, histories.get(&ana), Channel::Email, false, now),
        Verdict::Go
    );
}
on_both_backends!(
    send_history_counts_recent_sends_of_each_customer,
    send_history_counts_recent_sends_of_each_customer
);
