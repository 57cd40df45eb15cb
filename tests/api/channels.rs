//! Message channels against local fakes: the WhatsApp Cloud API (a fake
//! Graph API), e-mail (a real SMTP listener), SMS / push / webhooks (an
//! HTTP sink); template mirroring on both backends; the webhook helpers.

use std::sync::Arc;
use std::time::Duration;

use entity::Tenant;
use entity::enums::Channel;
use serde_json::{Value, json};
use uuid::Uuid;
use worker::channels::email::{EmailProvider, SmtpConfig};
use worker::channels::http::{HttpProvider, HttpProviderConfig};
use worker::channels::webhook::{IDEMPOTENCY_HEADER, WebhookProvider};
use worker::channels::whatsapp::{
    self, DeliveryStatus, TemplateSyncError, WhatsAppProvider, is_opt_out, parse_webhook,
    signature_header, verify_signature,
};
use worker::channels::{
    ChannelMessage, ChannelProvider, Channels, ChannelsCache, Content, HttpOptions, ProviderKind,
    Recipient, SendError,
};

use crate::fakes::meta::{self as meta, FakeMeta, FakeMetaConfig, GraphError};
use crate::fakes::sink::{FakeSink, SinkAnswer};
use crate::fakes::smtp::FakeSmtp;
use crate::helpers::TestApp;
use crate::on_both_backends;

const PHONE: &str = "+5511987654321";
const FROM: &str = "Escola da Maria <no-reply@escola.com.br>";

fn template_message(key: &str, to: &str) -> ChannelMessage {
    ChannelMessage {
        idempotency_key: key.into(),
        to: Recipient::Phone(to.into()),
        content: Content::Template {
            name: "boas_vindas".into(),
            language: "pt_BR".into(),
            body_parameters: vec!["Maria".into()],
            button_url_parameters: vec![(0, "abc123".into())],
        },
    }
}

fn text_message(key: &str, to: Recipient, body: &str) -> ChannelMessage {
    ChannelMessage {
        idempotency_key: key.into(),
        to,
        content: Content::Text { body: body.into() },
    }
}

fn email_message(key: &str, to: &str, html: Option<&str>) -> ChannelMessage {
    ChannelMessage {
        idempotency_key: key.into(),
        to: Recipient::Email(to.into()),
        content: Content::Email {
            subject: "Seu acesso esta liberado".into(),
            text: "Oi Maria, seu acesso ao curso esta liberado.".into(),
            html: html.map(str::to_owned),
        },
    }
}

fn short_timeouts() -> HttpOptions {
    HttpOptions {
        request_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(500),
    }
}

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------
// WhatsApp
// ---------------------------------------------------------------------------

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

async fn set_setting(app: &TestApp, workspace: Uuid, key: &str, value: &str) {
    app.graphql(
        Some(&app.agent_token(workspace)),
        "mutation($k: String!, $v: String!) { setSetting(key: $k, value: $v) { key } }",
        json!({"k": key, "v": value}),
    )
    .await
    .data("setSetting");
}

async fn configure_whatsapp(app: &TestApp, workspace: Uuid, meta: &FakeMeta) {
    for (key, value) in meta.settings() {
        set_setting(app, workspace, key, &value).await;
    }
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

// ---------------------------------------------------------------------------
// E-mail
// ---------------------------------------------------------------------------

#[tokio::test]
async fn email_is_delivered_over_plain_smtp_with_subject_and_body() {
    let smtp = FakeSmtp::spawn().await;
    let provider = EmailProvider::new(SmtpConfig::parse(&smtp.url(), FROM).unwrap()).unwrap();

    let receipt = provider
        .send(&email_message(
            "exec-1:rcpt-1:node-2",
            "maria@example.com",
            None,
        ))
        .await
        .expect("delivered");

    let mail = &smtp.wait_for(1).await[0];
    assert_eq!(mail.mail_from, "no-reply@escola.com.br");
    assert_eq!(mail.rcpt_to, ["maria@example.com"]);
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Seu acesso esta liberado")
    );
    let from = mail.header("From").unwrap();
    assert!(
        from.contains("Escola da Maria") && from.contains("<no-reply@escola.com.br>"),
        "{from}"
    );
    assert!(mail.header("To").unwrap().contains("maria@example.com"));
    assert!(
        mail.body()
            .contains("Oi Maria, seu acesso ao curso esta liberado.")
    );
    assert_eq!(
        mail.header("Message-ID").as_deref(),
        Some(format!("<{}>", receipt.provider_message_id).as_str())
    );
    assert!(receipt.provider_message_id.contains("exec-1.rcpt-1.node-2"));
    assert!(mail.authenticated_as.is_none());
}

#[tokio::test]
async fn email_with_html_carries_both_alternatives() {
    let smtp = FakeSmtp::spawn().await;
    let provider = EmailProvider::new(SmtpConfig::parse(&smtp.url(), FROM).unwrap()).unwrap();

    provider
        .send(&email_message(
            "k-html",
            "maria@example.com",
            Some("<p>Oi <b>Maria</b></p>"),
        ))
        .await
        .unwrap();

    let mail = &smtp.wait_for(1).await[0];
    assert!(
        mail.header("Content-Type")
            .unwrap()
            .starts_with("multipart/alternative")
    );
    assert!(mail.body().contains("text/plain"));
    assert!(mail.body().contains("<p>Oi <b>Maria</b></p>"));
}

#[tokio::test]
async fn smtp_refusals_follow_smtp_semantics() {
    let smtp = FakeSmtp::spawn().await;
    let provider = EmailProvider::new(SmtpConfig::parse(&smtp.url(), FROM).unwrap()).unwrap();

    smtp.reject_next_rcpt(450, "4.2.1 Mailbox busy, try again later");
    let busy = provider
        .send(&email_message("k1", "maria@example.com", None))
        .await
        .unwrap_err();
    assert_eq!(busy.class(), "retry", "{busy:?}");
    assert_eq!(busy.code(), Some(450));

    smtp.reject_next_rcpt(550, "5.1.1 User unknown");
    let unknown_user = provider
        .send(&email_message("k2", "maria@example.com", None))
        .await
        .unwrap_err();
    assert_eq!(unknown_user.class(), "permanent", "{unknown_user:?}");
    assert_eq!(unknown_user.code(), Some(550));
    assert!(
        !unknown_user.reason().contains("maria@example.com"),
        "{unknown_user:?}"
    );

    smtp.reject_next_data(452, "4.3.1 Insufficient system storage");
    let full = provider
        .send(&email_message("k3", "maria@example.com", None))
        .await
        .unwrap_err();
    assert_eq!((full.class(), full.code()), ("retry", Some(452)));

    // The listener still works after refusals.
    provider
        .send(&email_message("k4", "maria@example.com", None))
        .await
        .expect("delivered after the refusals");
    assert_eq!(smtp.wait_for(1).await.len(), 1);
    let commands = smtp.commands();
    assert!(commands.iter().any(|c| c.starts_with("EHLO")));
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("MAIL FROM:<no-reply@escola.com.br>"))
    );
}

#[tokio::test]
async fn smtp_authenticates_with_the_url_credentials() {
    let smtp = FakeSmtp::spawn_with_credentials("escola", "s3nh@:forte").await;
    let good = EmailProvider::new(
        SmtpConfig::parse(
            &smtp.url_with_credentials("escola", "s3nh%40%3Aforte"),
            FROM,
        )
        .unwrap(),
    )
    .unwrap();
    good.send(&email_message("k1", "maria@example.com", None))
        .await
        .expect("authenticated delivery");
    assert_eq!(
        smtp.wait_for(1).await[0].authenticated_as.as_deref(),
        Some("escola")
    );

    let bad = EmailProvider::new(
        SmtpConfig::parse(&smtp.url_with_credentials("escola", "errada"), FROM).unwrap(),
    )
    .unwrap();
    let refused = bad
        .send(&email_message("k2", "maria@example.com", None))
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            SendError::Unauthorized {
                code: Some(535),
                ..
            }
        ),
        "{refused:?}"
    );
    assert!(!refused.to_string().contains("errada"));
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test]
async fn smtp_unreachable_is_retried_and_bad_input_is_permanent() {
    let port = closed_port().await;
    let provider = EmailProvider::new(
        SmtpConfig::parse(&format!("smtp://127.0.0.1:{port}?tls=none"), FROM).unwrap(),
    )
    .unwrap();
    let down = provider
        .send(&email_message("k1", "maria@example.com", None))
        .await
        .unwrap_err();
    assert_eq!(down.class(), "retry", "{down:?}");

    let not_an_address = provider
        .send(&email_message("k2", "maria arroba example", None))
        .await
        .unwrap_err();
    assert_eq!(not_an_address.class(), "permanent");
    let text = provider
        .send(&text_message(
            "k3",
            Recipient::Email("maria@example.com".into()),
            "oi",
        ))
        .await
        .unwrap_err();
    assert_eq!(text.class(), "permanent");
}

// ---------------------------------------------------------------------------
// SMS, push and webhooks
// ---------------------------------------------------------------------------

#[tokio::test]
async fn sms_posts_the_generic_payload_with_bearer_and_key() {
    let sink = FakeSink::spawn().await;
    sink.respond_with(202, json!({"id": "sms-7781"}));
    let provider = HttpProvider::new(HttpProviderConfig {
        channel: Channel::Sms,
        url: sink.url("/v1/sms"),
        token: Some("sms-token".into()),
    })
    .unwrap();
    assert_eq!(provider.channel(), Channel::Sms);

    let receipt = provider
        .send(&text_message(
            "k-sms",
            Recipient::Phone(PHONE.into()),
            "Seu acesso: https://x.y/a",
        ))
        .await
        .unwrap();

    assert_eq!(receipt.provider_message_id, "sms-7781");
    let request = &sink.requests()[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v1/sms")
    );
    assert_eq!(
        request.raw_body,
        r#"{"to":"+5511987654321","body":"Seu acesso: https://x.y/a","idempotencyKey":"k-sms"}"#
    );
    assert_eq!(request.header("authorization"), Some("Bearer sms-token"));
    assert_eq!(request.header("idempotency-key"), Some("k-sms"));
    assert_eq!(request.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn http_gateway_statuses_are_classified() {
    let sink = FakeSink::spawn().await;
    let provider = HttpProvider::with_options(
        HttpProviderConfig {
            channel: Channel::Push,
            url: sink.url("/push"),
            token: Some("push-token".into()),
        },
        short_timeouts(),
    )
    .unwrap();
    let message = text_message("k", Recipient::External("device-abc".into()), "Nova aula!");

    sink.answer_next(
        SinkAnswer::new(429, json!({"error": "slow down"})).header("retry-after", "7"),
    );
    let limited = provider.send(&message).await.unwrap_err();
    assert_eq!(limited.class(), "retry");
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(limited.code(), Some(429));

    sink.respond_next(503, json!({"error": "busy"}));
    assert_eq!(provider.send(&message).await.unwrap_err().class(), "retry");
    sink.respond_next(401, json!({"error": "bad token push-token"}));
    let unauthorized = provider.send(&message).await.unwrap_err();
    assert_eq!(unauthorized.class(), "unauthorized");
    assert!(!unauthorized.reason().contains("push-token"));
    sink.respond_next(400, json!({"message": "invalid device"}));
    let invalid = provider.send(&message).await.unwrap_err();
    assert_eq!(
        (invalid.class(), invalid.reason()),
        ("permanent", "invalid device")
    );
    // A timeout is safe to retry: the gateway deduplicates by key.
    sink.answer_next(SinkAnswer::new(200, json!({"id": "late"})).delayed(Duration::from_secs(2)));
    assert_eq!(provider.send(&message).await.unwrap_err().class(), "retry");

    // Accepted without an id: the idempotency key stands for it.
    sink.respond_next(200, json!({}));
    assert_eq!(
        provider.send(&message).await.unwrap().provider_message_id,
        "k"
    );
}

#[tokio::test]
async fn push_json_content_is_merged_into_the_payload() {
    let sink = FakeSink::spawn().await;
    let provider = HttpProvider::new(HttpProviderConfig {
        channel: Channel::Push,
        url: sink.url("/push"),
        token: None,
    })
    .unwrap();

    provider
        .send(&ChannelMessage {
            idempotency_key: "k-push".into(),
            to: Recipient::External("device-abc".into()),
            content: Content::Json(
                json!({"title": "Nova aula", "body": "Módulo 2", "to": "spoofed"}),
            ),
        })
        .await
        .unwrap();

    let request = &sink.requests()[0];
    assert_eq!(
        request.raw_body,
        r#"{"to":"device-abc","title":"Nova aula","body":"Módulo 2","idempotencyKey":"k-push"}"#
    );
    assert_eq!(request.header("authorization"), None);
}

#[tokio::test]
async fn webhook_posts_json_with_the_idempotency_header() {
    let sink = FakeSink::spawn().await;
    let provider = WebhookProvider::new().unwrap();
    let message = ChannelMessage {
        idempotency_key: "exec-9:rcpt-3:node-4".into(),
        to: Recipient::Url(sink.url("/hooks/crm")),
        content: Content::Json(json!({"event": "enrolled", "customer": {"id": "c-1"}})),
    };

    let receipt = provider.send(&message).await.unwrap();

    assert_eq!(receipt.provider_message_id, "sink-1");
    let request = &sink.requests()[0];
    assert_eq!(request.path, "/hooks/crm");
    assert_eq!(
        request.header(IDEMPOTENCY_HEADER),
        Some("exec-9:rcpt-3:node-4")
    );
    assert_eq!(
        request.body,
        Some(json!({"event": "enrolled", "customer": {"id": "c-1"}}))
    );

    sink.respond_next(500, json!({}));
    assert_eq!(provider.send(&message).await.unwrap_err().class(), "retry");
    sink.answer_next(SinkAnswer::new(302, json!({})).header("location", &sink.url("/elsewhere")));
    let redirected = provider.send(&message).await.unwrap_err();
    assert_eq!(redirected.class(), "permanent");
    assert!(
        sink.requests().iter().all(|r| r.path != "/elsewhere"),
        "redirects are not followed"
    );
    let not_a_url = ChannelMessage {
        to: Recipient::Url("ftp://example.com/x".into()),
        ..message
    };
    assert_eq!(
        provider.send(&not_a_url).await.unwrap_err().class(),
        "permanent"
    );
}

// ---------------------------------------------------------------------------
// WhatsApp webhook helpers
// ---------------------------------------------------------------------------

#[test]
fn signatures_accept_the_right_hmac_only() {
    let body = serde_json::to_vec(&meta::status_callback(
        "wamid.A1",
        "delivered",
        "5511987654321",
        None,
    ))
    .unwrap();
    let header = signature_header(meta::APP_SECRET, &body);

    assert!(verify_signature(meta::APP_SECRET, &body, &header));
    assert!(!verify_signature("another-app-secret", &body, &header));
    let mut tampered = body.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 0x01;
    assert!(!verify_signature(meta::APP_SECRET, &tampered, &header));
    let mut wrong_digest = header.clone();
    wrong_digest.replace_range(10..11, if &header[10..11] == "0" { "1" } else { "0" });
    assert!(!verify_signature(meta::APP_SECRET, &body, &wrong_digest));
    assert!(!verify_signature(meta::APP_SECRET, &body, ""));
    assert!(!verify_signature(meta::APP_SECRET, &body, "sha1=abc"));
}

#[test]
fn webhook_bodies_parse_into_statuses_and_messages() {
    let failed = meta::status_callback("wamid.F1", "failed", "5511987654321", Some(131026));
    let batch = parse_webhook(&serde_json::to_vec(&failed).unwrap()).unwrap();
    assert_eq!(batch.statuses.len(), 1);
    let status = &batch.statuses[0];
    assert_eq!(status.provider_message_id, "wamid.F1");
    assert_eq!(status.status, DeliveryStatus::Failed);
    assert_eq!(status.error_code, Some(131026));
    assert_eq!(status.recipient_id.as_deref(), Some("5511987654321"));
    assert_eq!(status.timestamp.unwrap().timestamp(), 1_749_416_400);
    assert_eq!(
        status.phone_number_id.as_deref(),
        Some(meta::PHONE_NUMBER_ID)
    );

    let inbound = meta::inbound_text("5511987654321", "wamid.IN1", "  Parar ");
    let batch = parse_webhook(&serde_json::to_vec(&inbound).unwrap()).unwrap();
    assert!(batch.statuses.is_empty());
    let message = &batch.messages[0];
    assert_eq!(
        (message.from.as_str(), message.id.as_str()),
        ("5511987654321", "wamid.IN1")
    );
    assert_eq!(message.text.as_deref(), Some("  Parar "));
    assert_eq!(message.kind, "text");
    assert_eq!(batch.opt_outs().count(), 1);

    // Lenient: unknown fields, unknown statuses, items missing their id,
    // other objects; only non-JSON fails.
    let odd: Value = json!({
        "object": "whatsapp_business_account",
        "novelty": {"x": 1},
        "entry": [{"id": "1", "changes": [
            {"field": "messages", "value": {"statuses": [
                {"id": "wamid.R1", "status": "read", "timestamp": 1749416401, "extra": true},
                {"id": "wamid.X", "status": "deleted", "timestamp": "1"},
                {"status": "sent"}
            ], "messages": [{"from": "5511", "id": "wamid.B1", "type": "button",
                             "button": {"text": "Parar promoções", "payload": "STOP"}}]}},
            {"field": "message_template_status_update", "value": {
                "event": "PAUSED", "message_template_id": 1001,
                "message_template_name": "boas_vindas", "message_template_language": "pt_BR",
                "reason": "LOW_QUALITY"}}
        ]}]
    });
    let batch = parse_webhook(&serde_json::to_vec(&odd).unwrap()).unwrap();
    assert_eq!(batch.statuses.len(), 1);
    assert_eq!(batch.statuses[0].status, DeliveryStatus::Read);
    assert_eq!(batch.messages[0].text.as_deref(), Some("Parar promoções"));
    assert_eq!(batch.opt_outs().count(), 1);
    assert_eq!(batch.template_updates[0].event, "PAUSED");
    assert_eq!(
        batch.template_updates[0].template_id.as_deref(),
        Some("1001")
    );
    assert!(
        parse_webhook(br#"{"object":"page","entry":[]}"#)
            .unwrap()
            .is_empty()
    );
    assert!(parse_webhook(b"not json").is_err());

    // Out of order: a late "delivered" never undoes "read"; failed is final.
    assert!(!DeliveryStatus::Delivered.supersedes(Some(DeliveryStatus::Read)));
    assert!(DeliveryStatus::Read.supersedes(Some(DeliveryStatus::Sent)));
    assert!(!DeliveryStatus::Read.supersedes(Some(DeliveryStatus::Failed)));
}

#[test]
fn opt_out_replies_are_recognised() {
    for reply in [
        "STOP",
        "stop",
        " Parar ",
        "PARAR",
        "Sair",
        "sair!",
        "CANCELAR",
        "cancelar.",
        "Parar promoções",
        "PARAR PROMOCOES",
        "Stop promotions",
        "Não quero mais",
    ] {
        assert!(is_opt_out(reply), "{reply:?} should opt out");
    }
    for reply in [
        "",
        "   ",
        "Olá!",
        "Quero parar de fumar",
        "Como faço para sair do grupo?",
        "stopped",
        "cancelaram meu cartão",
    ] {
        assert!(!is_opt_out(reply), "{reply:?} is not an opt-out");
    }
}

#[tokio::test]
async fn plain_smtp_urls_fall_back_to_clear_text_when_starttls_is_not_offered() {
    let smtp = FakeSmtp::spawn().await;
    let url = format!("smtp://127.0.0.1:{}", smtp.port());
    let provider = EmailProvider::new(SmtpConfig::parse(&url, FROM).unwrap()).unwrap();

    provider
        .send(&email_message("k-opportunistic", "maria@example.com", None))
        .await
        .expect("delivered without STARTTLS");

    assert_eq!(smtp.wait_for(1).await.len(), 1);
}
