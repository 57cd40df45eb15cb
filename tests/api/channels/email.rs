//! E-mail over a real SMTP listener.

use super::*;

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
