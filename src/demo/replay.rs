//! Filling the demo workspace by living its six months again: a clock that
//! starts six months ago moves from moment to moment; at each, the school's
//! postbacks of that moment go to the Hotmart receiver, the worker works
//! off what fell due (postbacks applied, welcomes sent, scans on their
//! schedules, items expiring), Meta's status callbacks follow the sends,
//! and on weekday mornings the CS team decides the items waiting for them.

use anyhow::{Context, bail};
use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use uuid::Uuid;

use super::catalog::PRODUCTS;
use super::front_door::FrontDoor;
use super::history::history;
use super::postbacks::Postback;
use super::sandbox::{Accepted, Sandbox};
use super::{Demo, SLUG, WORKSPACE_NAME, campaign, templates};

/// The longest a postback waits before the worker applies it: postbacks
/// closer together than this are applied together.
const APPLY_WITHIN: Duration = Duration::minutes(90);
/// The CS team leaves the last days' items for the person trying the demo.
const UNDECIDED_DAYS: i64 = 3;
const SEED: u64 = 0x006a_6f72_6e61_6461;
/// What the demo's CS team signs its decisions with (`decidedBy`).
pub const CS_TEAM: &str = "equipe-cs-demo";
/// Hotmart's hottok for the demo workspace's postbacks.
pub const HOTTOK: &str = "demo-hottok";
const APP_SECRET: &str = "demo-app-secret";

/// Something that happens at a moment of the replay.
enum Happening {
    Postback(Box<Postback>),
    /// The worker works off what is due (scans at their hours).
    Drain,
    /// The CS team decides the pending items.
    Review,
    /// The school launches its campaign.
    Campaign,
}

struct Moment {
    at: DateTime<Utc>,
    what: Happening,
}

/// A status callback Meta will send once the clock reaches `at`.
struct StatusDue {
    at: DateTime<Utc>,
    wamid: String,
    to: String,
    status: &'static str,
}

/// The replay's state.
pub struct Replay<'a> {
    demo: &'a Demo,
    clock: entity::Clock,
    worker: worker::Worker,
    sandbox: Sandbox,
    door: FrontDoor,
    /// Messages sent to each number so far.
    messages_to: std::collections::HashMap<String, u32>,
    statuses: Vec<StatusDue>,
    first_undrained: Option<DateTime<Utc>>,
    pub postbacks: usize,
}

/// Fills the demo workspace; returns its id.
pub async fn fill(demo: &Demo) -> anyhow::Result<Uuid> {
    let end = demo.until;
    let start = end - Duration::days(demo.days);
    let clock = entity::Clock::starting_at(start);
    let sandbox = Sandbox::start(clock.clone(), templates::listing())
        .await
        .context("starting the demo's local Meta and Hotmart sandbox")?;
    let signals = entity::WorkSignals::default();
    let router = crate::api_router(
        demo.db.clone(),
        demo.jwt.clone(),
        demo.secrets.clone(),
        signals.clone(),
        clock.clone(),
    );
    let worker = worker::Worker {
        db: demo.db.clone(),
        secrets: demo.secrets.clone(),
        signals,
        public_url: demo.public_url.clone(),
        lease: Duration::seconds(60),
        clock: clock.clone(),
    };
    let service = demo.jwt.mint(
        api::Role::ServiceRole,
        None,
        Some(CS_TEAM.into()),
        false,
        Duration::hours(2),
    );
    let mut door = FrontDoor {
        router,
        bearer: format!("Bearer {service}"),
        slug: SLUG.to_owned(),
        hottok: HOTTOK.to_owned(),
        app_secret: APP_SECRET.to_owned(),
    };
    let created = door
        .graphql(
            "mutation($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }",
            json!({"input": {"name": WORKSPACE_NAME, "slug": SLUG, "timeZone": "America/Sao_Paulo"}}),
        )
        .await?;
    let workspace: Uuid = created["createWorkspace"]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .context("createWorkspace answered without an id")?;
    let agent = demo.jwt.mint(
        api::Role::Authenticated,
        Some(workspace),
        Some(CS_TEAM.into()),
        false,
        Duration::hours(2),
    );
    door.bearer = format!("Bearer {agent}");
    let mut replay = Replay {
        demo,
        clock,
        worker,
        sandbox,
        door,
        messages_to: std::collections::HashMap::new(),
        statuses: Vec::new(),
        first_undrained: None,
        postbacks: 0,
    };
    replay.connect().await?;
    let moments = replay.moments(start, end);
    tracing::info!(
        moments = moments.len(),
        days = demo.days,
        "demo: replaying the school's history"
    );
    replay.live(moments, end).await?;
    replay.disconnect().await?;
    tracing::info!(
        postbacks = replay.postbacks,
        whatsapp_sent = replay.sandbox.sent(),
        "demo: filled"
    );
    Ok(workspace)
}

impl Replay<'_> {
    async fn set(&self, key: &str, value: &str) -> anyhow::Result<()> {
        self.door
            .graphql(
                "mutation($k: String!, $v: String!) { setSetting(key: $k, value: $v) { key } }",
                json!({"k": key, "v": value}),
            )
            .await
            .with_context(|| format!("setting {key}"))?;
        Ok(())
    }

    async fn unset(&self, key: &str) -> anyhow::Result<()> {
        self.door
            .graphql(
                "mutation($k: String!) { deleteSetting(key: $k) { key } }",
                json!({"k": key}),
            )
            .await
            .with_context(|| format!("removing {key}"))?;
        Ok(())
    }

    /// Runs a background job to its end, as the worker would.
    async fn run_job(
        &mut self,
        mutation: &str,
        variables: Value,
        field: &str,
    ) -> anyhow::Result<()> {
        let queued = self.door.graphql(mutation, variables).await?;
        let id = queued[field]["id"].clone();
        self.drain().await?;
        let job = self
            .door
            .graphql(
                "query($id: ID!) { backgroundJob(id: $id) { status error { code message } } }",
                json!({"id": id}),
            )
            .await?;
        if job["backgroundJob"]["status"] != "SUCCEEDED" {
            bail!(
                "the demo's {field} job did not succeed: {}",
                job["backgroundJob"]
            );
        }
        Ok(())
    }

    /// Connects the workspace to Hotmart and WhatsApp (the sandbox), mirrors
    /// the templates and syncs each members area's modules and lessons.
    async fn connect(&mut self) -> anyhow::Result<()> {
        self.set("hotmart.hottok", HOTTOK).await?;
        for (key, value) in self.sandbox.settings() {
            self.set(key, &value).await?;
        }
        self.set("whatsapp.app_secret", APP_SECRET).await?;
        self.set("hotmart.club_url", "https://escolademo.club.hotmart.com")
            .await?;
        self.run_job(
            "mutation { syncTemplates { id } }",
            json!({}),
            "syncTemplates",
        )
        .await?;
        for product in &PRODUCTS {
            self.set("hotmart.club_subdomain", product.club_subdomain)
                .await?;
            self.set("hotmart.club_product_id", &product.hotmart_id.to_string())
                .await?;
            let since = self.clock.now();
            self.run_job(
                "mutation($since: DateTime!) { syncHotmart(since: $since) { id } }",
                json!({"since": since}),
                "syncHotmart",
            )
            .await?;
        }
        tracing::info!("demo: templates mirrored and members areas synced from the sandbox");
        Ok(())
    }

    /// The sandbox stops with the fill: the workspace keeps no credentials
    /// pointing at it, so WhatsApp reads as not configured (an approval is
    /// refused as such) and no Hotmart sync looks for it.
    async fn disconnect(&mut self) -> anyhow::Result<()> {
        for (key, _) in self.sandbox.settings() {
            self.unset(key).await?;
        }
        for key in ["hotmart.club_subdomain", "hotmart.club_product_id"] {
            self.unset(key).await?;
        }
        Ok(())
    }

    /// The replay's moments, in order: the postbacks, the worker's rounds at
    /// the scans' hours, the CS team's weekday reviews and the campaign.
    fn moments(&mut self, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Moment> {
        let mut rng = StdRng::seed_from_u64(SEED);
        let mut moments: Vec<Moment> = history(&mut rng, self.demo.customers, start, end)
            .into_iter()
            .map(|postback| Moment {
                at: postback.at,
                what: Happening::Postback(Box::new(postback)),
            })
            .collect();
        let local = chrono_tz::America::Sao_Paulo;
        let first_day = start.with_timezone(&local).date_naive();
        let at = |day: chrono::NaiveDate, hour: u32, minute: u32| {
            let time = NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or_default();
            local
                .from_local_datetime(&day.and_time(time))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        };
        for offset in 0..=self.demo.days + 1 {
            let day = first_day + Duration::days(offset);
            // Every other day a quarter of an hour later: no round falls
            // exactly 72 hours (an item's expiry) or a week (a scan's
            // cooldown) after another, where a millisecond would decide.
            // One round after both morning scans (09:00 and 10:00).
            let late = if offset % 2 == 1 { 15 } else { 0 };
            if let Some(at) = at(day, 10, 5 + late) {
                moments.push(Moment {
                    at,
                    what: Happening::Drain,
                });
            }
            let weekday = !matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
            if let Some(review) = at(day, 11, 0).filter(|_| weekday)
                && review < end - Duration::days(UNDECIDED_DAYS)
            {
                moments.push(Moment {
                    at: review,
                    what: Happening::Review,
                });
            }
        }
        let campaign_day = (end - campaign::LAUNCHED_AGO)
            .with_timezone(&local)
            .date_naive();
        if let Some(launch) = at(campaign_day, 10, 30) {
            moments.push(Moment {
                at: launch,
                what: Happening::Campaign,
            });
        }
        moments.retain(|m| m.at > start && m.at <= end);
        moments.sort_by_key(|m| m.at);
        moments
    }

    async fn live(&mut self, moments: Vec<Moment>, end: DateTime<Utc>) -> anyhow::Result<()> {
        let total = moments.len();
        for (done, moment) in moments.into_iter().enumerate() {
            if self
                .first_undrained
                .is_some_and(|first| moment.at - first >= APPLY_WITHIN)
            {
                self.drain().await?;
            }
            self.move_to(moment.at);
            match moment.what {
                Happening::Postback(postback) => {
                    self.door.post_hotmart(&postback.body).await?;
                    self.postbacks += 1;
                    self.first_undrained.get_or_insert(moment.at);
                }
                Happening::Drain => self.drain().await?,
                Happening::Review => {
                    self.review().await?;
                    self.drain().await?;
                }
                Happening::Campaign => {
                    self.drain().await?;
                    campaign::launch(&self.door).await?;
                    self.drain().await?;
                }
            }
            if done % 500 == 0 {
                tracing::info!(done, total, day = %self.clock.now().date_naive(), "demo: replaying");
            }
        }
        // Up to the end, and the callbacks due by then.
        self.move_to(end);
        self.drain().await?;
        Ok(())
    }

    fn move_to(&self, at: DateTime<Utc>) {
        let ahead = at - self.clock.now();
        if ahead > Duration::zero() {
            self.clock.advance(ahead);
        }
    }

    /// The worker works off what is due, then Meta reports on what was sent.
    async fn drain(&mut self) -> anyhow::Result<()> {
        self.worker.drain().await.context("the worker's drain")?;
        self.first_undrained = None;
        let accepted = self.sandbox.take_accepted();
        self.schedule_statuses(accepted);
        self.deliver_due_statuses().await?;
        Ok(())
    }

    /// Most messages are delivered within seconds and many read later; a
    /// few numbers are unreachable.
    fn schedule_statuses(&mut self, accepted: Vec<Accepted>) {
        for message in accepted {
            // Each recipient's n-th message fares the same in every fill,
            // whatever order a batch sent them in.
            let sent_to = self.messages_to.entry(message.to.clone()).or_insert(0);
            *sent_to += 1;
            let rng = &mut StdRng::seed_from_u64(
                stable_hash(&format!("{}|{sent_to}", message.to)) ^ SEED,
            );
            let due = |at, status| StatusDue {
                at,
                wamid: message.wamid.clone(),
                to: message.to.clone(),
                status,
            };
            if rng.gen_bool(0.03) {
                let failed = due(
                    message.at + Duration::seconds(rng.gen_range(2..30)),
                    "failed",
                );
                self.statuses.push(failed);
                continue;
            }
            let delivered_at = message.at + Duration::seconds(rng.gen_range(2..120));
            self.statuses.push(due(delivered_at, "delivered"));
            if rng.gen_bool(0.68) {
                let read_at = delivered_at + Duration::minutes(rng.gen_range(1..18 * 60));
                self.statuses.push(due(read_at, "read"));
            }
        }
    }

    async fn deliver_due_statuses(&mut self) -> anyhow::Result<()> {
        let now = self.clock.now();
        let (due, later): (Vec<StatusDue>, Vec<StatusDue>) = std::mem::take(&mut self.statuses)
            .into_iter()
            .partition(|s| s.at <= now);
        self.statuses = later;
        for batch in due.chunks(100) {
            let statuses: Vec<Value> = batch.iter().map(status_item).collect();
            let body = json!({
                "object": "whatsapp_business_account",
                "entry": [{"id": super::sandbox::WABA_ID, "changes": [{"field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "5511900000000", "phone_number_id": super::sandbox::PHONE_NUMBER_ID},
                    "statuses": statuses
                }}]}]
            });
            self.door.post_whatsapp(&body).await?;
        }
        Ok(())
    }

    /// The CS team's morning: most waiting items approved, some rejected
    /// with a reason, the rest left to expire.
    async fn review(&mut self) -> anyhow::Result<()> {
        let before = self.clock.now() - Duration::hours(12);
        let pending = self
            .door
            .graphql(
                "query($f: DispatchFilter) { dispatchQueue(filter: $f, first: 100) {
                    nodes { id reasonCode suggestedAt customer { email } } } }",
                json!({"f": {"status": "PENDING", "suggestedTo": before}}),
            )
            .await?;
        let nodes = pending["dispatchQueue"]["nodes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let (mut approve, mut reject) = (Vec::new(), Vec::new());
        for item in nodes {
            // Decided by what the item is about, not by the order the
            // queue lists items suggested in the same instant.
            let day = item["suggestedAt"].as_str().unwrap_or_default();
            let about = format!(
                "{}|{}|{}",
                item["customer"]["email"],
                item["reasonCode"],
                day.get(..10).unwrap_or(day)
            );
            match percentile(&about) {
                0..62 => approve.push(item["id"].clone()),
                62..75 => reject.push(item["id"].clone()),
                _ => {}
            }
        }
        if !approve.is_empty() {
            self.door
                .graphql(
                    "mutation($ids: [ID!]) { approveDispatches(ids: $ids) { decided } }",
                    json!({"ids": approve}),
                )
                .await?;
        }
        if !reject.is_empty() {
            self.door
                .graphql(
                    "mutation($ids: [ID!], $r: String) { rejectDispatches(ids: $ids, reason: $r) { decided } }",
                    json!({"ids": reject, "r": "Resolvido pelo telefone com o aluno"}),
                )
                .await?;
        }
        Ok(())
    }
}

/// A stable hash of `text` (FNV-1a), the same in every fill.
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A stable number in `0..100` for `text`.
fn percentile(text: &str) -> u64 {
    stable_hash(text) % 100
}

fn status_item(due: &StatusDue) -> Value {
    let mut item = json!({
        "id": due.wamid,
        "status": due.status,
        "timestamp": due.at.timestamp().to_string(),
        "recipient_id": due.to,
    });
    if due.status == "failed" {
        item["errors"] = json!([{"code": 131026, "title": "Message undeliverable"}]);
    }
    item
}
