use entity::Tenant;
use sea_orm::EntityTrait;
use serde_json::json;

use crate::helpers::TestApp;
use crate::on_both_backends;

async fn settings_are_encrypted_at_rest_and_never_read_back(app: TestApp) {
    let ws = app.create_workspace("credenciais").await;
    let agent = app.agent_token(ws);
    let secret = "hottok-9f8e7d6c5b4a";
    let set = app
        .graphql(
            Some(&agent),
            "mutation($v: String!) { setSetting(key: \"hotmart.hottok\", value: $v, description: \"Hotmart postback token\") { key value description active } }",
            json!({"v": secret}),
        )
        .await;
    assert_eq!(
        set.data("setSetting"),
        &json!({"key": "hotmart.hottok", "value": "********", "description": "Hotmart postback token", "active": true})
    );
    assert!(!set.body.to_string().contains(secret));

    let rows = entity::setting::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        !rows[0].value_encrypted.contains(secret),
        "stored encrypted"
    );
    let tenant = Tenant::new(ws);
    assert_eq!(
        entity::settings::reveal(&app.db, tenant, &app.secrets, "hotmart.hottok")
            .await
            .unwrap()
            .as_deref(),
        Some(secret)
    );

    let replaced = app
        .graphql(
            Some(&agent),
            "mutation { setSetting(key: \"hotmart.hottok\", value: \"novo-token\") { value } }",
            json!({}),
        )
        .await;
    assert_eq!(replaced.data("setSetting")["value"], "********");
    assert_eq!(
        app.count_rows("settings").await,
        1,
        "setting a key again replaces it"
    );
    assert_eq!(
        entity::settings::reveal(&app.db, tenant, &app.secrets, "hotmart.hottok")
            .await
            .unwrap()
            .as_deref(),
        Some("novo-token")
    );

    let listed = app
        .graphql(
            Some(&agent),
            "{ settings { totalCount edges { node { key value } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed.data("settings")["edges"],
        json!([{"node": {"key": "hotmart.hottok", "value": "********"}}])
    );
    assert!(!listed.body.to_string().contains("novo-token"));

    for bad_key in [
        "hottok",
        "Hotmart.Hottok",
        "a..b",
        "x.y; DROP TABLE settings",
    ] {
        let refused = app
            .graphql(
                Some(&agent),
                "mutation($k: String!) { setSetting(key: $k, value: \"v\") { key } }",
                json!({"k": bad_key}),
            )
            .await;
        assert_eq!(refused.error_code(), Some("INVALID_INPUT"), "{bad_key}");
    }
    let empty = app
        .graphql(
            Some(&agent),
            "mutation { setSetting(key: \"smtp.url\", value: \"\") { key } }",
            json!({}),
        )
        .await;
    assert_eq!(empty.error_code(), Some("INVALID_INPUT"));

    let deleted = app
        .graphql(
            Some(&agent),
            "mutation { deleteSetting(key: \"hotmart.hottok\") { key value } }",
            json!({}),
        )
        .await;
    assert_eq!(
        deleted.data("deleteSetting"),
        &json!({"key": "hotmart.hottok", "value": "********"})
    );
    let again = app
        .graphql(
            Some(&agent),
            "mutation { deleteSetting(key: \"hotmart.hottok\") { key } }",
            json!({}),
        )
        .await;
    assert_eq!(again.error_code(), Some("NOT_FOUND"));
    assert_eq!(app.count_rows("settings").await, 0);
}
on_both_backends!(
    settings_are_encrypted_at_rest_and_never_read_back,
    settings_are_encrypted_at_rest_and_never_read_back
);
