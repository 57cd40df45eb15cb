//! Meta's webhook helpers: signatures, bodies, opt-out replies.

use super::*;

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
