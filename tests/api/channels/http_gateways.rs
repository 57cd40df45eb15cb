//! SMS, push and webhooks through an HTTP sink.

use super::*;

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
