//! `POST /webhooks/chatwoot/{workspace}`: signatures, storage before the
//! answer, deduplication, and labels becoming conversation tags of the
//! right customer at the right times.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;

use super::*;
use crate::fakes::chatwoot::{label_change, sender};
use crate::on_both_backends;

fn strings(labels: &[&str]) -> Vec<String> {
    labels.iter().map(|l| l.to_string()).collect()
}

async fn signatures_are_required_when_a_secret_is_set(app: TestApp) {
    let ws = workspace(&app, "assinado", Some(SECRET)).await;
    let payload = label_change(
        "10",
        sender(1, Some("ana@example.com"), None),
        &[],
        &strings(&["vip"]),
    );
    let body = serde_json::to_vec(&payload).unwrap();
    let now = app.clock.now();

    let good = post(&app, &ws.slug, &body, &signed(SECRET, now, &body)).await;
    assert_eq!(good.status, StatusCode::OK, "{:?}", good.body);
    assert_eq!(good.body["status"], "accepted");

    let mut refused = Vec::new();
    // Signed with another secret.
    refused.push(post(&app, &ws.slug, &body, &signed("outro-segredo", now, &body)).await);
    // No signature at all.
    refused.push(post(&app, &ws.slug, &body, &[]).await);
    // A timestamp without a signature.
    refused.push(post(&app, &ws.slug, &body, &signed(SECRET, now, &body)[1..]).await);
    // Signed correctly, ten minutes ago (a replay), and ten minutes ahead.
    for skew in [Duration::minutes(-10), Duration::minutes(10)] {
        let at = now + skew;
        refused.push(post(&app, &ws.slug, &body, &signed(SECRET, at, &body)).await);
    }
    // The signature of another body.
    let tampered = serde_json::to_vec(&label_change(
        "10",
        sender(1, None, None),
        &[],
        &strings(&["x"]),
    ))
    .unwrap();
    refused.push(post(&app, &ws.slug, &tampered, &signed(SECRET, now, &body)).await);
    for answer in &refused {
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{:?}", answer.body);
        assert_eq!(answer.code(), Some("UNAUTHENTICATED"));
    }
    assert_eq!(
        app.count_where("webhook_events", "source = 'chatwoot'")
            .await,
        1,
        "only the signed delivery is stored"
    );

    // Without a secret, Chatwoot versions that do not sign are heard.
    let unsigned = workspace(&app, "sem-assinatura", None).await;
    let answer = post(&app, &unsigned.slug, &body, &[]).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);

    // Other refusals, each with its stable code.
    let unknown = post(&app, "nao-existe", &body, &[]).await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND"))
    );
    let broken = b"{\"event\": ";
    let malformed = post(&app, &ws.slug, broken, &signed(SECRET, now, broken)).await;
    assert_eq!(
        (malformed.status, malformed.code()),
        (StatusCode::BAD_REQUEST, Some("INVALID_INPUT"))
    );
    let array = post(&app, &unsigned.slug, b"[1, 2]", &[]).await;
    assert_eq!(
        (array.status, array.code()),
        (StatusCode::BAD_REQUEST, Some("INVALID_INPUT"))
    );
    let huge = format!(
        "{{\"event\": \"conversation_updated\", \"pad\": \"{}\"}}",
        "x".repeat(1024 * 1024 + 10)
    );
    let oversized = post(&app, &unsigned.slug, huge.as_bytes(), &[]).await;
    assert_eq!(
        (oversized.status, oversized.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("INVALID_INPUT"))
    );
    assert_eq!(
        app.count_where("webhook_events", "source = 'chatwoot'")
            .await,
        2
    );
    app.assert_serving().await;
}
on_both_backends!(
    signatures_are_required_when_a_secret_is_set,
    signatures_are_required_when_a_secret_is_set
);

async fn a_delivery_is_stored_before_the_answer_and_only_once(app: TestApp) {
    let ws = workspace(&app, "entregas", Some(SECRET)).await;
    let ana = customer(&app, ws.id, "ana@example.com", None).await;
    let payload = label_change(
        "20",
        sender(5, Some("ana@example.com"), None),
        &[],
        &strings(&["duvida"]),
    );
    let body = serde_json::to_vec(&payload).unwrap();
    let mut headers = signed(SECRET, app.clock.now(), &body);
    headers.push(("x-chatwoot-delivery", "entrega-1".to_owned()));

    let first = post(&app, &ws.slug, &body, &headers).await;
    assert_eq!(first.body["status"], "accepted");
    // Stored before the answer, applied later by the worker.
    assert_eq!(
        app.count_where(
            "webhook_events",
            "source = 'chatwoot' AND external_id = 'entrega-1' AND status = 'received'"
        )
        .await,
        1
    );
    assert!(tags(&app, ws.id).await.is_empty());
    let again = post(&app, &ws.slug, &body, &headers).await;
    assert_eq!(
        (again.status, again.body["status"].as_str()),
        (StatusCode::OK, Some("duplicate"))
    );

    // Without a delivery id, the same bytes are the same delivery.
    let other = label_change(
        "21",
        sender(5, Some("ana@example.com"), None),
        &[],
        &strings(&["boleto"]),
    );
    let other_body = serde_json::to_vec(&other).unwrap();
    for expected in ["accepted", "duplicate"] {
        let answer = post(
            &app,
            &ws.slug,
            &other_body,
            &signed(SECRET, app.clock.now(), &other_body),
        )
        .await;
        assert_eq!(answer.body["status"], expected);
    }

    app.drain().await;
    assert_eq!(
        app.count_where("webhook_events", "source = 'chatwoot'")
            .await,
        2
    );
    assert_eq!(
        app.count_where(
            "webhook_events",
            "source = 'chatwoot' AND status = 'processed'"
        )
        .await,
        2
    );
    let tags = tags(&app, ws.id).await;
    assert_eq!(tags.len(), 2, "one tag per label, however often delivered");
    assert!(tags.iter().all(|t| t.customer_id == Some(ana)));
    // The same labels told again in another delivery change nothing.
    deliver(
        &app,
        &ws,
        Some(SECRET),
        &label_change(
            "20",
            sender(5, None, None),
            &strings(&["duvida"]),
            &strings(&["duvida"]),
        ),
    )
    .await;
    app.drain().await;
    assert_eq!(tags_of(&app, ws.id, "duvida").await.len(), 1);
}
on_both_backends!(
    a_delivery_is_stored_before_the_answer_and_only_once,
    a_delivery_is_stored_before_the_answer_and_only_once
);

async fn labels_put_on_and_taken_off_become_tags_with_their_times(app: TestApp) {
    let ws = workspace(&app, "etiquetas", None).await;
    let ana = customer(&app, ws.id, "ana@example.com", None).await;
    let who = || sender(31, Some("ANA@example.com"), None);
    let change = |previous: &[&str], current: &[&str]| {
        label_change("300", who(), &strings(previous), &strings(current))
    };
    let mut moments = Vec::new();
    for (previous, current) in [
        (&[][..], &["duvida"][..]),
        (&["duvida"][..], &["duvida", "boleto"][..]),
        (&["duvida", "boleto"][..], &["boleto"][..]),
        (&["boleto"][..], &["boleto", "duvida"][..]),
    ] {
        let before = app.clock.now();
        deliver(&app, &ws, None, &change(previous, current)).await;
        moments.push((before, app.clock.now()));
        app.advance(Duration::hours(2)).await;
    }

    let duvida = tags_of(&app, ws.id, "duvida").await;
    assert_eq!(duvida.len(), 2, "taken off and put on again: two tags");
    received_between(duvida[0].tagged_at, moments[0].0, moments[0].1);
    let removed = duvida[0]
        .removed_at
        .expect("the first duvida was taken off");
    received_between(removed, moments[2].0, moments[2].1);
    received_between(duvida[1].tagged_at, moments[3].0, moments[3].1);
    assert_eq!(duvida[1].removed_at, None);
    let boleto = tags_of(&app, ws.id, "boleto").await;
    assert_eq!(boleto.len(), 1);
    received_between(boleto[0].tagged_at, moments[1].0, moments[1].1);
    assert_eq!(boleto[0].removed_at, None);
    for tag in tags(&app, ws.id).await {
        assert_eq!(tag.chatwoot_conversation_id, "300");
        assert_eq!(
            tag.customer_id,
            Some(ana),
            "matched by e-mail, whatever its case"
        );
    }
    // The customer remembers where to put labels.
    let stored = stored_customer(&app, ana).await;
    assert_eq!(stored.chatwoot_conversation_id.as_deref(), Some("300"));
    assert_eq!(stored.chatwoot_contact_id.as_deref(), Some("31"));

    // A status change carrying the current labels agrees: nothing changes.
    let mut status = change(&["boleto", "duvida"], &["boleto", "duvida"]);
    status["event"] = json!("conversation_status_changed");
    status.as_object_mut().unwrap().remove("changed_attributes");
    deliver(&app, &ws, None, &status).await;
    app.drain().await;
    assert_eq!(tags(&app, ws.id).await.len(), 3);
}
on_both_backends!(
    labels_put_on_and_taken_off_become_tags_with_their_times,
    labels_put_on_and_taken_off_become_tags_with_their_times
);

async fn conversations_are_matched_by_phone_or_email(app: TestApp) {
    let ws = workspace(&app, "quem-e-quem", None).await;
    let bia = customer(&app, ws.id, "bia@example.com", Some("(21) 99876-5432")).await;
    let caio = customer(&app, ws.id, "caio@example.com", Some("(31) 91234-5678")).await;
    // By phone only (Chatwoot stores E.164), by e-mail only, and someone unknown.
    for (conversation, who) in [
        ("401", sender(41, None, Some("+5521998765432"))),
        (
            "402",
            sender(42, Some("caio@example.com"), Some("+5511900000000")),
        ),
        (
            "403",
            sender(43, Some("desconhecida@example.com"), Some("+5511911111111")),
        ),
    ] {
        deliver(
            &app,
            &ws,
            None,
            &label_change(conversation, who, &[], &strings(&["novo"])),
        )
        .await;
    }
    app.drain().await;
    let owners: Vec<(String, Option<Uuid>)> = tags(&app, ws.id)
        .await
        .into_iter()
        .map(|t| (t.chatwoot_conversation_id, t.customer_id))
        .collect();
    for expected in [
        ("401".to_owned(), Some(bia)),
        ("402".to_owned(), Some(caio)),
        ("403".to_owned(), None),
    ] {
        assert!(owners.contains(&expected), "{expected:?} in {owners:?}");
    }
    assert_eq!(
        stored_customer(&app, bia)
            .await
            .chatwoot_conversation_id
            .as_deref(),
        Some("401")
    );
    assert_eq!(
        stored_customer(&app, caio)
            .await
            .chatwoot_contact_id
            .as_deref(),
        Some("42")
    );

    // Once known, the Chatwoot contact finds the customer even without
    // e-mail or phone, in a new conversation.
    deliver(
        &app,
        &ws,
        None,
        &label_change("404", sender(41, None, None), &[], &strings(&["retorno"])),
    )
    .await;
    app.drain().await;
    let retorno = tags_of(&app, ws.id, "retorno").await;
    assert_eq!(retorno[0].customer_id, Some(bia));
    assert_eq!(
        stored_customer(&app, bia)
            .await
            .chatwoot_conversation_id
            .as_deref(),
        Some("404")
    );

    // Events that say nothing of labels or conversations are kept, and ignored.
    deliver(
        &app,
        &ws,
        None,
        &json!({"event": "contact_updated", "id": 41, "email": "bia@example.com"}),
    )
    .await;
    app.drain().await;
    assert_eq!(
        app.count_where(
            "webhook_events",
            "source = 'chatwoot' AND status = 'ignored'"
        )
        .await,
        1
    );
    assert_eq!(tags(&app, ws.id).await.len(), 4);
}
on_both_backends!(
    conversations_are_matched_by_phone_or_email,
    conversations_are_matched_by_phone_or_email
);
