//! Customer success out of the box: the built-in automation rules, rules of
//! a workspace's own, and the queue a CS team works from, driven by real
//! Hotmart postbacks and sent to a fake Meta.

use std::ops::Deref;

use chrono::Duration;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fakes::meta::{FakeMeta, inbound_text, template};
use crate::helpers::TestApp;
use crate::hotmart_events::Shop;
use crate::hotmart_webhooks::{HOTTOK, Sale};
use crate::on_both_backends;
use crate::templates::{configure_whatsapp, set_setting};
use crate::whatsapp_webhooks::deliver;

mod kills;
mod queue;
mod rules;
mod scans;
mod welcome;

const RULES: &str = "query($f: AutomationRuleFilter) { automationRules(filter: $f, first: 50) {
    totalCount nodes { id key name trigger mode active params schedule cooldownDays expiresAfterHours
      actions { type channel templateName labels } template { name status } campaign { id }
      problems { code message } } } }";

const QUEUE: &str = "query($f: DispatchFilter) { dispatchQueue(filter: $f, first: 100) {
    totalCount nodes { id status reasonCode reason trigger channel decidedBy errorCode variables preview edited
      transactionCode moduleId rule { key } customer { email }
      context { ltvTotal progressPercent moduleName productName daysSincePurchase lastMessage { channel status } }
      message { status } } } }";

const DECIDE: &str = "mutation($ids: [ID!], $f: DispatchFilter) {
    approveDispatches(ids: $ids, filter: $f) { matched decided skipped } }";

/// A workspace that takes Hotmart postbacks and sends WhatsApp through the
/// fake Meta, with the CS templates mirrored as APPROVED.
struct Producer<'a> {
    shop: Shop<'a>,
}

impl<'a> Deref for Producer<'a> {
    type Target = Shop<'a>;

    fn deref(&self) -> &Shop<'a> {
        &self.shop
    }
}

const CS_TEMPLATES: [&str; 8] = [
    "boas_vindas",
    "resgate_acesso",
    "retomada_estudos",
    "conquista_modulo",
    "recuperacao_pagamento",
    "carrinho_abandonado",
    "risco_reembolso",
    "reconquista",
];

impl<'a> Producer<'a> {
    async fn open(app: &'a TestApp, slug: &str, meta: Option<&FakeMeta>) -> Producer<'a> {
        let shop = Shop::open(app, slug).await;
        let workspace = shop.workspace;
        if let Some(meta) = meta {
            configure_whatsapp(app, workspace, meta).await;
            set_setting(
                app,
                workspace,
                "hotmart.club_url",
                "https://escola.club.hotmart.com",
            )
            .await;
            // Mirrored as `syncTemplates` does, without waiting on a job:
            // some tests here run their worker in another process.
            worker::channels::whatsapp::sync_templates(
                &app.db,
                &app.secrets,
                entity::Tenant::new(workspace),
                app.clock.now(),
            )
            .await
            .expect("templates mirrored from the fake");
        }
        Producer { shop }
    }

    /// Posts a postback (a new delivery) and lets the worker apply it.
    async fn post(&self, body: &Value) {
        let (status, answer) = self.app.post_hotmart(&self.slug, Some(HOTTOK), body).await;
        assert_eq!(status, 200, "{answer}");
        self.app.drain().await;
    }

    async fn rules(&self, filter: Value) -> Vec<Value> {
        let answer = self
            .app
            .graphql(Some(&self.token), RULES, json!({"f": filter}))
            .await;
        answer.data("automationRules")["nodes"]
            .as_array()
            .expect("nodes")
            .clone()
    }

    async fn rule(&self, key: &str) -> Value {
        self.rules(json!({}))
            .await
            .into_iter()
            .find(|r| r["key"] == key)
            .unwrap_or_else(|| panic!("no built-in {key}"))
    }

    /// Turns a built-in rule off, so a test sees only the flows it is about.
    async fn turn_off(&self, key: &str) {
        let rule = self.rule(key).await;
        self.query(
            "mutation($id: ID!) { updateAutomationRule(id: $id, input: {active: false}) { id } }",
            json!({"id": rule["id"]}),
            "updateAutomationRule",
        )
        .await;
    }

    async fn queue(&self, filter: Value) -> Vec<Value> {
        let answer = self
            .app
            .graphql(Some(&self.token), QUEUE, json!({"f": filter}))
            .await;
        answer.data("dispatchQueue")["nodes"]
            .as_array()
            .expect("nodes")
            .clone()
    }
}

fn meta_with_cs_templates(status: &str) -> Vec<Value> {
    CS_TEMPLATES
        .iter()
        .enumerate()
        .map(|(i, name)| template(&format!("20{i}"), name, "pt_BR", status, "UTILITY"))
        .collect()
}

/// The fake Meta with the CS templates, `status` at Meta.
async fn fake_meta(status: &str) -> FakeMeta {
    let meta = FakeMeta::spawn().await;
    meta.seed_templates(meta_with_cs_templates(status));
    meta
}

fn ms(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp_millis()
}

/// Runs a scan rule now, followed to its end; the job's result.
async fn run_rule(shop: &Producer<'_>, key: &str, dry_run: bool) -> Value {
    let rule = shop.rule(key).await;
    let job = shop
        .app
        .graphql(
            Some(&shop.token),
            "mutation($id: ID!, $dry: Boolean) { runAutomationRule(id: $id, dryRun: $dry) { id kind status } }",
            json!({"id": rule["id"], "dry": dry_run}),
        )
        .await
        .data("runAutomationRule")
        .clone();
    assert_eq!(job["kind"], "AUTOMATION_SCAN");
    let done = shop.app.finished_job(&shop.token, &job).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    done["result"].clone()
}
