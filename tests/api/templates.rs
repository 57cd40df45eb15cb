//! WhatsApp templates through GraphQL: mirrored from the fake Meta with
//! `syncTemplates`, listed with `messageTemplates`, enriched with
//! `updateMessageTemplate`.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::fakes::meta::{self as meta, FakeMeta, FakeMetaConfig};
use crate::helpers::TestApp;
use crate::on_both_backends;

/// The verify token the tests configure for the webhook handshake.
pub const VERIFY_TOKEN: &str = "jornada-verify-token";

const SYNC: &str = "mutation { syncTemplates { id kind status } }";
const LIST: &str = "query($filter: MessageTemplateFilter, $first: Int, $after: String) {
    messageTemplates(filter: $filter, first: $first, after: $after) {
        totalCount pageInfo { hasNextPage endCursor }
        nodes { id channel name language status category components subject body productId funnel lastSyncedAt }
    }
}";
const UPDATE: &str = "mutation($id: ID!, $product: ID, $funnel: String) {
    updateMessageTemplate(id: $id, productId: $product, funnel: $funnel) { id name status productId funnel }
}";

pub async fn set_setting(app: &TestApp, workspace: Uuid, key: &str, value: &str) {
    app.graphql(
        Some(&app.agent_token(workspace)),
        "mutation($k: String!, $v: String!) { setSetting(key: $k, value: $v) { key } }",
        json!({"k": key, "v": value}),
    )
    .await
    .data("setSetting");
}

/// Points the workspace's WhatsApp settings at the fake (with the app
/// secret webhooks are signed with and a verify token).
pub async fn configure_whatsapp(app: &TestApp, workspace: Uuid, meta: &FakeMeta) {
    for (key, value) in meta.settings() {
        set_setting(app, workspace, key, &value).await;
    }
    set_setting(app, workspace, "whatsapp.verify_token", VERIFY_TOKEN).await;
}

/// `syncTemplates` as the workspace's agent, followed to its end: the
/// mirrored templates as `messageTemplates` lists them, in the job's order
/// (Meta's).
pub async fn sync_templates(app: &TestApp, workspace: Uuid) -> Value {
    let agent = app.agent_token(workspace);
    let job = app
        .graphql(Some(&agent), SYNC, json!({}))
        .await
        .data("syncTemplates")
        .clone();
    assert_eq!(job["kind"], "TEMPLATE_SYNC");
    assert_eq!(job["status"], "QUEUED", "the mutation answers at once");
    let done = app.finished_job(&agent, &job).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let listed = templates(app, &agent, json!({})).await;
    let mirrored = done["result"]["templates"].as_array().expect("templates");
    assert_eq!(done["result"]["mirrored"], mirrored.len());
    mirrored
        .iter()
        .map(|t| {
            listed["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|node| node["id"] == t["id"])
                .expect("a mirrored template is listed")
                .clone()
        })
        .collect()
}

async fn templates(app: &TestApp, token: &str, filter: Value) -> Value {
    app.graphql(Some(token), LIST, json!({"filter": filter, "first": 50}))
        .await
        .data("messageTemplates")
        .clone()
}

fn names(connection: &Value) -> Vec<String> {
    let mut names: Vec<String> = connection["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            format!(
                "{}/{}",
                n["name"].as_str().unwrap(),
                n["language"].as_str().unwrap()
            )
        })
        .collect();
    names.sort();
    names
}

async fn create_product(app: &TestApp, workspace: Uuid, hotmart_id: &str) -> String {
    app.graphql(
        Some(&app.agent_token(workspace)),
        "mutation($id: String!) { upsertProduct(input: {hotmartProductId: $id, name: \"Confeitaria\"}) { id } }",
        json!({"id": hotmart_id}),
    )
    .await
    .data("upsertProduct")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn templates_sync_across_pages_keep_their_enrichment_and_filter(app: TestApp) {
    let meta = FakeMeta::spawn_with(FakeMetaConfig {
        templates_page_size: 2,
        ..FakeMetaConfig::default()
    })
    .await;
    let mut cart = meta::template(
        "1002",
        "carrinho_abandonado",
        "pt_BR",
        "APPROVED",
        "MARKETING",
    );
    cart["components"] = json!([{"type": "BODY", "text": "Seu carrinho ainda está aqui, {{1}}."}]);
    meta.seed_templates([
        meta::template("1001", "boas_vindas", "pt_BR", "APPROVED", "UTILITY"),
        cart.clone(),
        meta::template("1003", "boas_vindas", "es", "PENDING", "UTILITY"),
    ]);
    let ws = app.create_workspace("modelos").await;
    let agent = app.agent_token(ws);
    configure_whatsapp(&app, ws, &meta).await;

    let synced = sync_templates(&app, ws).await;
    let synced = synced.as_array().unwrap();
    assert_eq!(meta.template_requests().len(), 2, "both pages read");
    assert_eq!(
        synced
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["boas_vindas", "carrinho_abandonado", "boas_vindas"],
        "in Meta's order"
    );
    assert_eq!(synced[0]["status"], "APPROVED");
    assert_eq!(synced[0]["category"], "UTILITY");
    assert_eq!(
        synced[0]["body"],
        "Olá {{1}}, seu acesso ao curso está liberado."
    );
    assert!(synced[0]["lastSyncedAt"].is_string());
    let welcome = synced[0]["id"].as_str().unwrap().to_owned();

    let all = templates(&app, &agent, json!({})).await;
    assert_eq!(all["totalCount"], 3);
    let node = all["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == welcome.as_str())
        .unwrap();
    assert_eq!(node["channel"], "whatsapp");
    assert_eq!(node["components"][1]["type"], "BODY");
    assert_eq!(node["subject"], Value::Null);

    // Enrichment: product and funnel; omitted arguments are kept.
    let product = create_product(&app, ws, "3526906").await;
    let enriched = app
        .graphql(
            Some(&agent),
            UPDATE,
            json!({"id": welcome, "product": product, "funnel": "onboarding"}),
        )
        .await;
    assert_eq!(
        enriched.data("updateMessageTemplate")["productId"],
        product.as_str()
    );
    assert_eq!(
        enriched.data("updateMessageTemplate")["funnel"],
        "onboarding"
    );
    let funnel_only = app
        .graphql(
            Some(&agent),
            "mutation($id: ID!) { updateMessageTemplate(id: $id, funnel: \" onboarding \") { productId funnel } }",
            json!({"id": welcome}),
        )
        .await;
    assert_eq!(
        funnel_only.data("updateMessageTemplate"),
        &json!({"productId": product, "funnel": "onboarding"}),
        "an omitted productId is kept"
    );

    // Meta pauses the welcome, drops the cart and adds one; a re-sync keeps
    // the enrichment.
    meta.set_templates([
        meta::template("1001", "boas_vindas", "pt_BR", "PAUSED", "UTILITY"),
        meta::template("1003", "boas_vindas", "es", "APPROVED", "UTILITY"),
        meta::template("1004", "renovacao", "pt_BR", "APPROVED", "UTILITY"),
    ]);
    let resynced = sync_templates(&app, ws).await;
    assert_eq!(resynced.as_array().unwrap().len(), 3);
    let welcome_now = resynced
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == welcome.as_str())
        .unwrap()
        .clone();
    assert_eq!(welcome_now["status"], "PAUSED");
    assert_eq!(
        welcome_now["productId"],
        product.as_str(),
        "enrichment kept"
    );
    assert_eq!(welcome_now["funnel"], "onboarding");
    assert_eq!(app.count_rows("message_templates").await, 4);

    // Filters.
    let by = |filter: Value| templates(&app, &agent, filter);
    assert_eq!(
        names(&by(json!({"status": "approved"})).await),
        ["boas_vindas/es", "renovacao/pt_BR"]
    );
    assert_eq!(
        names(&by(json!({"status": "DELETED"})).await),
        ["carrinho_abandonado/pt_BR"]
    );
    assert_eq!(
        names(&by(json!({"productId": product})).await),
        ["boas_vindas/pt_BR"]
    );
    assert_eq!(
        names(&by(json!({"funnel": "onboarding"})).await),
        ["boas_vindas/pt_BR"]
    );
    assert_eq!(
        names(&by(json!({"search": "CARRINHO"})).await),
        ["carrinho_abandonado/pt_BR"]
    );
    assert_eq!(
        names(&by(json!({"search": "carrinho ainda"})).await),
        ["carrinho_abandonado/pt_BR"],
        "the body is searched too"
    );
    assert_eq!(
        names(&by(json!({"search": "100%"})).await),
        Vec::<String>::new(),
        "LIKE wildcards are literal"
    );
    assert_eq!(
        by(json!({"channel": "whatsapp", "status": "APPROVED", "search": "boas"})).await["totalCount"],
        1
    );
    assert_eq!(by(json!({"channel": "EMAIL"})).await["totalCount"], 0);
    let bad_channel = app
        .graphql(Some(&agent), LIST, json!({"filter": {"channel": "fax"}}))
        .await;
    assert_eq!(bad_channel.error_code(), Some("INVALID_INPUT"));

    // Pages.
    let first = app
        .graphql(Some(&agent), LIST, json!({"first": 3}))
        .await
        .data("messageTemplates")
        .clone();
    assert_eq!(first["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let rest = app
        .graphql(
            Some(&agent),
            LIST,
            json!({"first": 3, "after": first["pageInfo"]["endCursor"]}),
        )
        .await
        .data("messageTemplates")
        .clone();
    assert_eq!(rest["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);

    // Null clears; a product of another workspace is not found.
    let other = app.create_workspace("outra-loja").await;
    let foreign_product = create_product(&app, other, "999").await;
    let foreign = app
        .graphql(
            Some(&agent),
            UPDATE,
            json!({"id": welcome, "product": foreign_product}),
        )
        .await;
    assert_eq!(foreign.error_code(), Some("NOT_FOUND"));
    let foreign_template = app
        .graphql(
            Some(&app.agent_token(other)),
            UPDATE,
            json!({"id": welcome, "funnel": "x"}),
        )
        .await;
    assert_eq!(
        foreign_template.error_code(),
        Some("NOT_FOUND"),
        "another workspace's template does not exist for it"
    );
    assert_eq!(
        templates(&app, &app.agent_token(other), json!({})).await["totalCount"],
        0
    );
    let cleared = app
        .graphql(
            Some(&agent),
            UPDATE,
            json!({"id": welcome, "product": null, "funnel": null}),
        )
        .await;
    assert_eq!(
        cleared.data("updateMessageTemplate"),
        &json!({"id": welcome, "name": "boas_vindas", "status": "PAUSED", "productId": null, "funnel": null})
    );
    let bad_id = app
        .graphql(Some(&agent), UPDATE, json!({"id": "nope"}))
        .await;
    assert_eq!(bad_id.error_code(), Some("INVALID_INPUT"));
}
on_both_backends!(
    templates_sync_across_pages,
    templates_sync_across_pages_keep_their_enrichment_and_filter
);

async fn template_sync_errors_name_what_to_fix(app: TestApp) {
    let meta = FakeMeta::spawn().await;
    let ws = app.create_workspace("sem-whatsapp").await;
    let agent = app.agent_token(ws);
    let sync = || app.graphql(Some(&agent), SYNC, json!({}));

    let missing = sync().await;
    assert_eq!(missing.error_code(), Some("INVALID_INPUT"));
    let message = missing.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("whatsapp.token"), "{message}");

    set_setting(&app, ws, "whatsapp.token", meta::TOKEN).await;
    set_setting(&app, ws, "whatsapp.base_url", &meta.base_url()).await;
    let no_waba = sync().await;
    assert_eq!(no_waba.error_code(), Some("INVALID_INPUT"));
    let message = no_waba.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("whatsapp.waba_id"), "{message}");

    // Meta refuses an unknown WABA (code 100) and a bad token (190): the
    // job is queued, and fails naming what to fix.
    let failed_sync = || async {
        let job = sync().await.data("syncTemplates").clone();
        let done = app.finished_job(&agent, &job).await;
        assert_eq!(done["status"], "FAILED", "{done}");
        assert_eq!(done["result"], Value::Null);
        assert!(done["finishedAt"].is_string());
        done["error"].clone()
    };
    set_setting(&app, ws, "whatsapp.waba_id", "000").await;
    let unknown_waba = failed_sync().await;
    assert_eq!(unknown_waba["code"], "INVALID_INPUT");
    let message = unknown_waba["message"].as_str().unwrap();
    assert!(message.contains("whatsapp.waba_id"), "{message}");
    set_setting(&app, ws, "whatsapp.waba_id", meta::WABA_ID).await;
    set_setting(&app, ws, "whatsapp.token", "EAAG-revoked-token").await;
    let revoked = failed_sync().await;
    assert_eq!(revoked["code"], "INVALID_INPUT");
    let message = revoked["message"].as_str().unwrap();
    assert!(message.contains("whatsapp.token"), "{message}");
    assert!(!revoked.to_string().contains("EAAG-revoked-token"));

    // Meta unreachable: try again later.
    set_setting(&app, ws, "whatsapp.token", meta::TOKEN).await;
    set_setting(&app, ws, "whatsapp.base_url", "http://127.0.0.1:9/v21.0").await;
    let unreachable = failed_sync().await;
    assert_eq!(unreachable["code"], "CONFLICT");
    assert_eq!(app.count_rows("message_templates").await, 0);

    // Every attempt is listed, newest first, and can be filtered.
    let jobs = app
        .graphql(
            Some(&agent),
            "query($filter: BackgroundJobFilter) { backgroundJobs(filter: $filter) { totalCount nodes { kind status error { code } } } }",
            json!({"filter": {"kind": "TEMPLATE_SYNC", "status": "FAILED"}}),
        )
        .await;
    let jobs = jobs.data("backgroundJobs");
    assert_eq!(jobs["totalCount"], 3, "the refused ones never became jobs");
    assert_eq!(jobs["nodes"][0]["error"]["code"], "CONFLICT");
    assert_eq!(jobs["nodes"][2]["error"]["code"], "INVALID_INPUT");
}
on_both_backends!(template_sync_errors, template_sync_errors_name_what_to_fix);

async fn read_only_tokens_list_templates_but_cannot_change_them(app: TestApp) {
    let meta = FakeMeta::spawn().await;
    meta.seed_templates([meta::welcome_template()]);
    let ws = app.create_workspace("leitura").await;
    configure_whatsapp(&app, ws, &meta).await;
    let reader = app.reader_token(ws);

    let refused = app.graphql(Some(&reader), SYNC, json!({})).await;
    assert_eq!(refused.error_code(), Some("FORBIDDEN"));
    assert_eq!(meta.template_requests().len(), 0, "Meta was not called");
    let anonymous = app.graphql(None, SYNC, json!({})).await;
    assert_eq!(anonymous.error_code(), Some("UNAUTHENTICATED"));

    let synced = sync_templates(&app, ws).await;
    let id = synced[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(templates(&app, &reader, json!({})).await["totalCount"], 1);
    let update = app
        .graphql(Some(&reader), UPDATE, json!({"id": id, "funnel": "x"}))
        .await;
    assert_eq!(update.error_code(), Some("FORBIDDEN"));
    let unchanged = templates(&app, &reader, json!({})).await;
    assert_eq!(unchanged["nodes"][0]["funnel"], Value::Null);

    // A service caller names the workspace.
    let service = app
        .graphql(
            Some(&app.service_token()),
            "query($ws: ID!) { messageTemplates(workspaceId: $ws) { totalCount } }",
            json!({"ws": ws}),
        )
        .await;
    assert_eq!(service.data("messageTemplates")["totalCount"], 1);
}
on_both_backends!(
    template_roles,
    read_only_tokens_list_templates_but_cannot_change_them
);
