//! The WhatsApp Cloud API provider against a fake Graph API, and template mirroring on both backends.

use super::*;
use crate::templates::{configure_whatsapp, set_setting};

#[tokio::test]
async fn whatsapp_template_is_sent_byte_for_byte_as_the_contract_shows() {
    let meta = FakeMeta::spawn().await;
    let provider = WhatsAppProvider::new(meta.config()).unwrap();
    assert_eq!(provider.channel(), Channel::Whatsapp);

    let receipt = provider
        .send(&template_message("exec-1:rcpt-1:node-1", PHONE))
        .await
        .expect("accepted");

    assert!(receipt.provider_message_id.starts_with("wamid."));
    let requests = meta.message_requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.path,
        format!("/{}/{}/messages", meta::VERSION, meta::PHONE_NUMBER_ID)
    );
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Bearer {}", meta::TOKEN).as_str())
    );
    assert_eq!(
        request.raw_body,
        r#"{"messaging_product":"whatsapp","recipient_type":"individual","to":"5511987654321","type":"template","template":{"name":"boas_vindas","language":{"code":"pt_BR"},"components":[{"type":"body","parameters":[{"type":"text","text":"Maria"}]},{"type":"button","sub_type":"url","index":"0","parameters":[{"type":"text","text":"abc123"}]}]},"biz_opaque_callback_data":"exec-1:rcpt-1:node-1"}"#
    );
}

#[tokio::test]
async fn whatsapp_text_is_sent_byte_for_byte() {
    let meta = FakeMeta::spawn().await;
    let provider = WhatsAppProvider::new(meta.config()).unwrap();

    provider
        .send(&text_message(
            "k-text",
            Recipient::Phone(PHONE.into()),
            "Oi Maria! Posso ajudar?",
        ))
        .await
        .expect("accepted");

    assert_eq!(
        meta.message_requests()[0].raw_body,
        r#"{"messaging_product":"whatsapp","recipient_type":"individual","to":"5511987654321","type":"text","text":{"body":"Oi Maria! Posso ajudar?"},"biz_opaque_callback_data":"k-text"}"#
    );
}

#[tokio::test]
async fn whatsapp_error_codes_land_in_their_classes() {
    let meta = FakeMeta::spawn().await;
    let provider = WhatsAppProvider::new(meta.config()).unwrap();
    let cases: &[(i64, u16, &str)] = &[
        (130429, 400, "retry"),
        (131056, 400, "retry"),
        (4, 400, "retry"),
        (80007, 400, "retry"),
        (133016, 400, "retry"),
        (131049, 400, "retry_much_later"),
        (131048, 400, "permanent"),
        (131026, 400, "permanent"),
        (132000, 400, "permanent"),
        (132001, 400, "permanent"),
        (132015, 400, "permanent"),
        (132016, 400, "permanent"),
        (100, 400, "permanent"),
        (131050, 400, "opted_out"),
        (131047, 400, "window_closed"),
        (190, 401, "unauthorized"),
        (131000, 500, "retry"),
    ];
    for (i, (code, http_status, class)) in cases.iter().enumerate() {
        let error = GraphError::new(*code);
        assert_eq!(
            error.http_status, *http_status,
            "the fake's status for {code}"
        );
        meta.fail_next(error);
        let outcome = provider
            .send(&template_message(&format!("k-{i}"), PHONE))
            .await
            .expect_err("injected failure");
        assert_eq!(outcome.class(), *class, "code {code}: {outcome:?}");
        assert_eq!(outcome.code(), Some(*code));
        let reason = outcome.reason();
        assert!(!reason.is_empty());
        assert!(!reason.contains("5511987654321"), "{reason}");
        assert!(!reason.contains(meta::TOKEN), "{reason}");
    }
    // Throttling is retried soon, pair rate after ~6 s, 131049 not before 24 h.
    meta.fail_next(GraphError::new(130429));
    let throttled = provider
        .send(&template_message("t1", PHONE))
        .await
        .unwrap_err();
    assert!(throttled.retry_after().unwrap() <= Duration::from_secs(5));
    meta.fail_next(GraphError::new(131056));
    let pair = provider
        .send(&template_message("t2", PHONE))
        .await
        .unwrap_err();
    assert!(pair.retry_after().unwrap() >= Duration::from_secs(6));
    meta.fail_next(GraphError::new(131049));
    let later = provider
        .send(&template_message("t3", PHONE))
        .await
        .unwrap_err();
    assert_eq!(later.retry_after(), Some(Duration::from_secs(24 * 3600)));
    // A code-less 5xx retries; a code-less 4xx does not.
    meta.fail_next(GraphError::new(999).with_status(503));
    let unavailable = provider
        .send(&template_message("t4", PHONE))
        .await
        .unwrap_err();
    assert_eq!(unavailable.class(), "retry");
    assert_eq!(meta.accepted(), 0);
}

#[tokio::test]
async fn whatsapp_failures_are_per_recipient() {
    let meta = FakeMeta::spawn().await;
    meta.fail_recipient("5511900000001", GraphError::new(131050));
    let provider = WhatsAppProvider::new(meta.config()).unwrap();

    let opted_out = provider
        .send(&template_message("a", "+5511900000001"))
        .await
        .unwrap_err();
    let delivered = provider
        .send(&template_message("b", "+5511900000002"))
        .await;
    let again = provider
        .send(&template_message("c", "+5511900000001"))
        .await
        .unwrap_err();

    assert!(matches!(
        opted_out,
        SendError::OptedOut {
            code: Some(131050),
            ..
        }
    ));
    assert!(delivered.is_ok());
    assert_eq!(again.class(), "opted_out");
    assert_eq!(meta.accepted(), 1);
}

#[tokio::test]
async fn whatsapp_with_a_wrong_token_is_unauthorized_and_never_leaks_it() {
    let meta = FakeMeta::spawn().await;
    let mut config = meta.config();
    config.token = "EAAG-stale-token".into();
    let provider = WhatsAppProvider::new(config).unwrap();

    let error = provider
        .send(&template_message("k", PHONE))
        .await
        .unwrap_err();

    assert!(matches!(
        error,
        SendError::Unauthorized {
            code: Some(190),
            ..
        }
    ));
    assert!(!error.to_string().contains("EAAG-stale-token"));
    assert!(!format!("{provider:?}").contains("EAAG-stale-token"));
}

#[tokio::test]
async fn whatsapp_timeouts_are_unknown_and_refused_connections_retry() {
    let meta = FakeMeta::spawn().await;
    meta.delay_next_send(Duration::from_secs(2));
    let provider = WhatsAppProvider::with_options(meta.config(), short_timeouts()).unwrap();

    // The request reached Meta: resending could deliver twice.
    let timed_out = provider
        .send(&template_message("slow", PHONE))
        .await
        .unwrap_err();
    assert_eq!(timed_out.class(), "unknown", "{timed_out:?}");

    let mut config = meta.config();
    config.base_url = format!("http://127.0.0.1:{}/v21.0", closed_port().await);
    let unreachable = WhatsAppProvider::with_options(config, short_timeouts()).unwrap();
    let refused = unreachable
        .send(&template_message("down", PHONE))
        .await
        .unwrap_err();
    assert_eq!(refused.class(), "retry", "{refused:?}");
}

#[tokio::test]
async fn whatsapp_refuses_what_it_cannot_send() {
    let meta = FakeMeta::spawn().await;
    let provider = WhatsAppProvider::new(meta.config()).unwrap();

    let to_email = text_message("a", Recipient::Email("maria@example.com".into()), "oi");
    let not_e164 = text_message("b", Recipient::Phone("(11) 98765-4321".into()), "oi");
    let email = email_message("c", "maria@example.com", None);
    for message in [to_email, not_e164, email] {
        let error = provider.send(&message).await.unwrap_err();
        assert_eq!(error.class(), "permanent", "{error:?}");
    }
    assert!(meta.message_requests().is_empty(), "nothing reached Meta");
}

#[tokio::test]
async fn whatsapp_templates_are_listed_across_pages() {
    let meta = FakeMeta::spawn_with(FakeMetaConfig {
        templates_page_size: 2,
        ..FakeMetaConfig::default()
    })
    .await;
    meta.seed_templates([
        meta::template("1001", "boas_vindas", "pt_BR", "APPROVED", "UTILITY"),
        meta::template(
            "1002",
            "carrinho_abandonado",
            "pt_BR",
            "APPROVED",
            "MARKETING",
        ),
        meta::template("1003", "boas_vindas", "es", "PENDING", "UTILITY"),
    ]);
    let provider = WhatsAppProvider::new(meta.config()).unwrap();

    let templates = provider.list_templates().await.expect("listing");

    let names: Vec<_> = templates
        .iter()
        .map(|t| {
            (
                t.id.as_str(),
                t.name.as_str(),
                t.language.as_str(),
                t.status.as_str(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("1001", "boas_vindas", "pt_BR", "APPROVED"),
            ("1002", "carrinho_abandonado", "pt_BR", "APPROVED"),
            ("1003", "boas_vindas", "es", "PENDING"),
        ]
    );
    assert_eq!(templates[0].category.as_deref(), Some("UTILITY"));
    assert_eq!(templates[0].parameter_format.as_deref(), Some("POSITIONAL"));
    let requests = meta.template_requests();
    assert_eq!(requests.len(), 2, "two pages");
    for request in &requests {
        assert_eq!(
            request.path,
            format!("/{}/{}/message_templates", meta::VERSION, meta::WABA_ID)
        );
        assert_eq!(
            request.query_value("fields"),
            Some("id,name,status,category,language,components,parameter_format")
        );
        assert_eq!(
            request.authorization.as_deref(),
            Some(format!("Bearer {}", meta::TOKEN).as_str())
        );
    }
    assert_eq!(requests[0].query_value("limit"), Some("100"));
    assert_eq!(requests[0].query_value("after"), None);
    assert!(requests[1].query_value("after").is_some());
}

async fn templates_are_mirrored_and_keep_their_enrichment(app: TestApp) {
    let meta = FakeMeta::spawn_with(FakeMetaConfig {
        templates_page_size: 2,
        ..FakeMetaConfig::default()
    })
    .await;
    meta.seed_templates([
        meta::template("1001", "boas_vindas", "pt_BR", "APPROVED", "UTILITY"),
        meta::template(
            "1002",
            "carrinho_abandonado",
            "pt_BR",
            "APPROVED",
            "MARKETING",
        ),
        meta::template("1003", "boas_vindas", "es", "PENDING", "UTILITY"),
    ]);
    let workspace = app.create_workspace("espelho").await;
    let tenant = Tenant::new(workspace);
    configure_whatsapp(&app, workspace, &meta).await;

    let mirrored = whatsapp::sync_templates(&app.db, &app.secrets, tenant, app.clock.now())
        .await
        .expect("first sync");

    assert_eq!(mirrored.len(), 3);
    assert_eq!(meta.template_requests().len(), 2, "both pages read");
    assert_eq!(app.count_rows("message_templates").await, 3);
    let welcome =
        entity::templates::find(&app.db, tenant, Channel::Whatsapp, "boas_vindas", "pt_BR")
            .await
            .unwrap()
            .expect("mirrored");
    assert_eq!(welcome.provider_template_id.as_deref(), Some("1001"));
    assert_eq!(welcome.status, "APPROVED");
    assert_eq!(welcome.category.as_deref(), Some("UTILITY"));
    assert_eq!(welcome.components[1]["type"], "BODY");
    assert_eq!(
        welcome.body.as_deref(),
        Some("Olá {{1}}, seu acesso ao curso está liberado.")
    );
    let first_synced = welcome.last_synced_at.expect("synced at");

    // Local enrichment: the product and the funnel stage.
    let product = app
        .graphql(
            Some(&app.agent_token(workspace)),
            "mutation { upsertProduct(input: {hotmartProductId: \"3526906\", name: \"Confeitaria\"}) { id } }",
            json!({}),
        )
        .await;
    let product = Uuid::parse_str(product.data("upsertProduct")["id"].as_str().unwrap()).unwrap();
    let enriched = entity::templates::set_enrichment(
        &app.db,
        tenant,
        welcome.id,
        Some(product),
        Some("onboarding".into()),
        app.clock.now(),
    )
    .await
    .expect("enrich");
    assert_eq!(enriched.product_id, Some(product));

    // A minute later Meta has paused the template, dropped another and
    // added a new one.
    app.clock.advance(chrono::Duration::minutes(1));
    meta.set_templates([
        meta::template("1001", "boas_vindas", "pt_BR", "PAUSED", "UTILITY"),
        meta::template("1003", "boas_vindas", "es", "APPROVED", "UTILITY"),
        meta::template("1004", "renovacao", "pt_BR", "APPROVED", "UTILITY"),
    ]);
    let resynced = whatsapp::sync_templates(&app.db, &app.secrets, tenant, app.clock.now())
        .await
        .expect("second sync");

    assert_eq!(resynced.len(), 3);
    assert_eq!(
        app.count_rows("message_templates").await,
        4,
        "nothing deleted"
    );
    let welcome =
        entity::templates::find(&app.db, tenant, Channel::Whatsapp, "boas_vindas", "pt_BR")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(welcome.id, enriched.id, "same row");
    assert_eq!(welcome.status, "PAUSED");
    assert_eq!(welcome.product_id, Some(product), "enrichment kept");
    assert_eq!(welcome.funnel.as_deref(), Some("onboarding"));
    assert!(welcome.last_synced_at.unwrap() > first_synced);
    let dropped = entity::templates::find(
        &app.db,
        tenant,
        Channel::Whatsapp,
        "carrinho_abandonado",
        "pt_BR",
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(dropped.status, entity::templates::DELETED);
    let spanish = entity::templates::find(&app.db, tenant, Channel::Whatsapp, "boas_vindas", "es")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(spanish.status, "APPROVED");

    // Enrichment is confined to the workspace's own products.
    let other = app.create_workspace("outro-espelho").await;
    let foreign = entity::templates::set_enrichment(
        &app.db,
        Tenant::new(other),
        welcome.id,
        None,
        None,
        app.clock.now(),
    )
    .await;
    assert!(matches!(foreign, Err(entity::Error::NotFound(_))));
    let cleared =
        entity::templates::set_enrichment(&app.db, tenant, welcome.id, None, None, app.clock.now())
            .await
            .unwrap();
    assert_eq!((cleared.product_id, cleared.funnel), (None, None));
}
on_both_backends!(
    templates_mirror_across_pages,
    templates_are_mirrored_and_keep_their_enrichment
);

async fn template_sync_needs_settings(app: TestApp) {
    let workspace = app.create_workspace("sem-meta").await;
    let tenant = Tenant::new(workspace);

    let missing = whatsapp::sync_templates(&app.db, &app.secrets, tenant, app.clock.now()).await;
    assert!(matches!(
        missing,
        Err(TemplateSyncError::NotConfigured("whatsapp.token"))
    ));

    set_setting(&app, workspace, "whatsapp.token", "EAAG-x").await;
    let no_waba = whatsapp::sync_templates(&app.db, &app.secrets, tenant, app.clock.now()).await;
    assert!(matches!(
        no_waba,
        Err(TemplateSyncError::NotConfigured("whatsapp.waba_id"))
    ));
    assert_eq!(app.count_rows("message_templates").await, 0);
}
on_both_backends!(template_sync_without_settings, template_sync_needs_settings);

async fn channels_fall_back_to_log_without_credentials(app: TestApp) {
    let meta = FakeMeta::spawn().await;
    let smtp = FakeSmtp::spawn().await;
    let workspace = app.create_workspace("canais").await;
    let tenant = Tenant::new(workspace);

    // A fresh workspace: everything is recorded, nothing sent.
    let channels = Channels::for_workspace(&app.db, &app.secrets, tenant)
        .await
        .unwrap();
    let described = channels.describe();
    assert_eq!(described.len(), 6);
    for description in &described {
        let expected = match description.channel {
            Channel::Webhook => ProviderKind::Webhook,
            _ => ProviderKind::Log,
        };
        assert_eq!(description.provider, expected, "{description:?}");
    }
    assert!(described[0].detail.contains("whatsapp.token"));
    let logged = channels
        .send(Channel::Whatsapp, &template_message("k-log", PHONE))
        .await
        .unwrap();
    assert!(logged.provider_message_id.starts_with("log-"));
    assert!(meta.message_requests().is_empty());

    // WhatsApp and e-mail configured; SMS half-configured.
    configure_whatsapp(&app, workspace, &meta).await;
    set_setting(&app, workspace, "smtp.url", &smtp.url()).await;
    set_setting(&app, workspace, "smtp.from", FROM).await;
    set_setting(&app, workspace, "sms.token", "sms-secret-token").await;
    let channels = Channels::for_workspace(&app.db, &app.secrets, tenant)
        .await
        .unwrap();

    assert_eq!(
        channels.provider_kind(Channel::Whatsapp),
        ProviderKind::WhatsappCloudApi
    );
    assert_eq!(channels.provider_kind(Channel::Email), ProviderKind::Smtp);
    assert_eq!(
        channels.provider_kind(Channel::Sms),
        ProviderKind::Misconfigured
    );
    assert_eq!(channels.provider_kind(Channel::Push), ProviderKind::Log);
    let printed = format!("{channels:?} {:?}", channels.describe());
    for secret in [meta::TOKEN, "sms-secret-token"] {
        assert!(!printed.contains(secret), "{printed}");
    }
    let receipt = channels
        .send(Channel::Whatsapp, &template_message("k-wa", PHONE))
        .await
        .unwrap();
    assert!(receipt.provider_message_id.starts_with("wamid."));
    channels
        .send(
            Channel::Email,
            &email_message("k-mail", "maria@example.com", None),
        )
        .await
        .unwrap();
    assert_eq!(smtp.wait_for(1).await[0].rcpt_to, ["maria@example.com"]);
    let sms = channels
        .send(
            Channel::Sms,
            &text_message("k-sms", Recipient::Phone(PHONE.into()), "oi"),
        )
        .await
        .unwrap_err();
    assert!(matches!(sms, SendError::NotConfigured { .. }), "{sms:?}");
    assert!(sms.reason().contains("sms.url"));
    assert!(channels.whatsapp().is_some());

    // A runner keeps built channels for a while, and rebuilds on demand.
    let cache = ChannelsCache::default();
    let first = cache.get(&app.db, &app.secrets, tenant).await.unwrap();
    let again = cache.get(&app.db, &app.secrets, tenant).await.unwrap();
    assert!(Arc::ptr_eq(&first, &again));
    set_setting(
        &app,
        workspace,
        "sms.url",
        &format!("http://127.0.0.1:{}/sms", closed_port().await),
    )
    .await;
    cache.invalidate(tenant);
    let rebuilt = cache.get(&app.db, &app.secrets, tenant).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &rebuilt));
    assert_eq!(rebuilt.provider_kind(Channel::Sms), ProviderKind::Http);
}
on_both_backends!(
    channels_from_settings,
    channels_fall_back_to_log_without_credentials
);
