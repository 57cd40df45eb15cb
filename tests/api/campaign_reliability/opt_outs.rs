//! Opted-out customers get nothing.

use super::*;

async fn opted_out_customers_get_nothing(app: TestApp) {
    let meta = FakeMeta::spawn().await;
    let ws = whatsapp_workspace(&app, "opt-out", &meta).await;
    let customers = customers_with_phones(&app, ws, 3, 12).await;
    let opted_out: Vec<usize> = (0..customers.len()).filter(|i| i % 3 == 0).collect();
    for &i in &opted_out {
        entity::customers::record_opt_out(
            &app.db,
            Tenant::new(ws),
            customers[i],
            Channel::Whatsapp,
            "test",
            chrono::Utc::now(),
            app.clock.now(),
        )
        .await
        .expect("record the opt-out");
    }
    // An opt-out of another channel does not stop WhatsApp.
    entity::customers::record_opt_out(
        &app.db,
        Tenant::new(ws),
        customers[1],
        Channel::Email,
        "test",
        chrono::Utc::now(),
        app.clock.now(),
    )
    .await
    .expect("record the e-mail opt-out");

    let (campaign, group) = published_campaign(&app, ws, "Opt-out", whatsapp_journey()).await;
    let execution = run_over(&app, ws, &campaign, &group).await;
    let done = app.completed_execution(ws, &execution).await;

    let per_phone = requests_per_phone(&meta);
    for &i in &opted_out {
        assert_eq!(
            per_phone.get(&phone(3, i)),
            None,
            "customer {i} opted out of WhatsApp"
        );
    }
    for i in (0..customers.len()).filter(|i| !opted_out.contains(i)) {
        assert_eq!(per_phone.get(&phone(3, i)), Some(&1), "customer {i}");
    }
    let reached = (customers.len() - opted_out.len()) as u64;
    assert_eq!(meta.message_requests().len() as u64, reached);
    assert_eq!(
        recipients_with(&app, ws, &execution, "completed").await,
        customers.len() as u64,
        "opted-out recipients are completed, not stuck"
    );
    assert_eq!(done["metrics"]["sent"], reached);
    assert_eq!(done["metrics"]["failed"], 0);
    let rows_for_opted_out = entity::message::Entity::find()
        .filter(entity::message::Column::CustomerId.is_in(opted_out.iter().map(|&i| customers[i])))
        .count(&app.db)
        .await
        .expect("count messages");
    assert_eq!(
        rows_for_opted_out, 0,
        "no message row for opted-out customers"
    );
}
on_both_backends!(
    opted_out_customers_get_nothing,
    opted_out_customers_get_nothing
);
