//! Buyers' PURCHASE_APPROVED postbacks at a steady rate, and the welcome each
//! buyer got at the fake WhatsApp: what the welcome benches share (a
//! campaign's welcome, the built-in `welcome` rule's).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::percentile;

/// Buyer `i`'s phone as Hotmart sends it (area code and number) and as
/// WhatsApp's `to` carries it.
pub fn phones(i: u64) -> (String, String) {
    let local = format!("119{i:08}");
    let to = format!("55{local}");
    (local, to)
}

/// Buyer `i`'s approved purchase of the confectionery course, as Hotmart posts it.
pub fn purchase_approved(run: &str, i: u64) -> Value {
    let (local, _) = phones(i);
    json!({
        "id": format!("{run}-{i}"),
        "creation_date": 1_767_225_600_000_i64,
        "event": "PURCHASE_APPROVED",
        "version": "2.0.0",
        "data": {
            "product": {"id": 3526906, "ucode": "f4b1c1b2-0000-4e2d-9f0a-1a2b3c4d5e6f", "name": "Curso de Confeitaria", "warranty_date": "2026-02-10T00:00:00Z"},
            "buyer": {"email": format!("compradora{i}@bench.example.com"), "name": "Maria Silva", "checkout_phone_code": "55", "checkout_phone": local},
            "purchase": {
                "transaction": format!("HPW{i:012}"), "status": "APPROVED", "order_date": 1_767_225_540_000_i64, "approved_date": 1_767_225_600_000_i64,
                "price": {"value": 497.0, "currency_value": "BRL"},
                "payment": {"type": "CREDIT_CARD", "installments_number": 12},
                "offer": {"code": "n82b9jqz"}, "recurrence_number": 1
            },
            "producer": {"name": "Ana"}
        }
    })
}

/// The postbacks jornada answered.
pub struct Accepted {
    /// Per buyer's WhatsApp number: when the 200 came, and how long it took.
    pub by_phone: HashMap<String, (Instant, Duration)>,
    /// Postbacks answered with anything but a 2xx, or not at all.
    pub refused: u64,
    /// From the first postback's departure to the last answer.
    pub seconds: f64,
    /// Postbacks per second asked for.
    pub rate: u64,
}

/// Posts `rate × seconds` postbacks of distinct buyers to `url` at a steady
/// rate: postback i leaves at start + i / rate, each on its own task (the
/// client's pool keeps the connections alive).
pub async fn post_steadily(
    client: &reqwest::Client,
    url: &str,
    hottok: &str,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<Accepted> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let total = rate * seconds;
    let accepted: Arc<Mutex<HashMap<String, (Instant, Duration)>>> = Arc::default();
    let mut posts = tokio::task::JoinSet::new();
    let start = Instant::now() + Duration::from_millis(100);
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
        let (client, url, accepted) = (client.clone(), url.to_owned(), accepted.clone());
        let (hottok, body) = (hottok.to_owned(), purchase_approved(&run, i));
        posts.spawn(async move {
            let sent = Instant::now();
            let answer = client
                .post(url)
                .header("x-hotmart-hottok", hottok)
                .json(&body)
                .send()
                .await;
            match answer {
                Ok(response) if response.status().is_success() => {
                    let at = Instant::now();
                    accepted
                        .lock()
                        .expect("accepted")
                        .insert(phones(i).1, (at, at - sent));
                    true
                }
                _ => false,
            }
        });
    }
    let mut refused = 0u64;
    while let Some(done) = posts.join_next().await {
        if !done.unwrap_or(false) {
            refused += 1;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let by_phone = Arc::try_unwrap(accepted)
        .map_err(|_| anyhow::anyhow!("posts still running"))?
        .into_inner()
        .expect("accepted");
    Ok(Accepted {
        by_phone,
        refused,
        seconds,
        rate,
    })
}

/// The welcome benches' run: posts the buyers' purchases steadily to `url`,
/// waits until the fake WhatsApp has taken as many sends (`sent_count`) as
/// postbacks were accepted (failing when none comes for `patience`), and
/// reads who got what from its sends (`sends`: each one's `to` and when it
/// arrived).
#[allow(clippy::too_many_arguments)]
pub async fn welcome_buyers(
    client: &reqwest::Client,
    url: &str,
    hottok: &str,
    rate: u64,
    seconds: u64,
    patience: Duration,
    sent_count: impl Fn() -> usize,
    sends: impl FnOnce() -> Vec<(Option<String>, Instant)>,
) -> anyhow::Result<(Accepted, Welcomes)> {
    let accepted = post_steadily(client, url, hottok, rate, seconds).await?;
    until_count(
        sent_count,
        accepted.by_phone.len(),
        patience,
        "welcomes sent",
    )
    .await?;
    let welcomes = Welcomes::of(&accepted, sends())?;
    Ok((accepted, welcomes))
}

/// Waits until `count()` reaches `expected`; fails when it stops moving for `patience`.
pub async fn until_count(
    count: impl Fn() -> usize,
    expected: usize,
    patience: Duration,
    what: &str,
) -> anyhow::Result<()> {
    let mut last = (0, Instant::now());
    loop {
        let now = count();
        if now >= expected {
            return Ok(());
        }
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > patience {
            bail!(
                "{now} of {expected} {what}, none for {} s",
                patience.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How the buyers were welcomed: per buyer, the time from the postback's
/// 200 to the fake's receipt of the send to their phone.
pub struct Welcomes {
    /// Microseconds, sorted.
    welcome: Vec<u32>,
    /// The 200's own latency, microseconds, sorted.
    accept: Vec<u32>,
    pub twice: usize,
    pub unwelcomed: usize,
}

impl Welcomes {
    /// `sends`: each send the fake received, its `to` and when.
    pub fn of(
        accepted: &Accepted,
        sends: impl IntoIterator<Item = (Option<String>, Instant)>,
    ) -> anyhow::Result<Self> {
        let mut welcome: Vec<u32> = Vec::with_capacity(accepted.by_phone.len());
        let mut per_phone: HashMap<String, u32> = HashMap::new();
        for (to, received_at) in sends {
            let to = to.context("a send without a recipient")?;
            if let Some((at, _)) = accepted.by_phone.get(&to) {
                let micros = received_at.saturating_duration_since(*at).as_micros();
                welcome.push(u32::try_from(micros).unwrap_or(u32::MAX));
            }
            *per_phone.entry(to).or_default() += 1;
        }
        let mut accept: Vec<u32> = accepted
            .by_phone
            .values()
            .map(|(_, took)| u32::try_from(took.as_micros()).unwrap_or(u32::MAX))
            .collect();
        welcome.sort_unstable();
        accept.sort_unstable();
        Ok(Welcomes {
            welcome,
            accept,
            twice: per_phone.values().filter(|n| **n > 1).count(),
            unwelcomed: accepted
                .by_phone
                .keys()
                .filter(|p| !per_phone.contains_key(*p))
                .count(),
        })
    }

    /// Postback 200 → send, p99, in milliseconds.
    pub fn p99_ms(&self) -> f64 {
        percentile(&self.welcome, 99.0)
    }

    /// Every buyer welcomed, none twice.
    pub fn clean(&self) -> bool {
        self.twice == 0 && self.unwelcomed == 0
    }

    /// One line of figures: latencies, the 200's own, and the checks.
    pub fn summary(&self, accepted: &Accepted) -> String {
        let slowest = self.welcome.last().copied().unwrap_or(0);
        format!(
            "{} postbacks at {}/s ({:.1} s): postback 200 → WhatsApp send p50 {:.0} ms, p99 {:.0} ms, slowest {:.0} ms; \
             beside the 200 itself p50 {:.1} ms, p99 {:.1} ms; {} refused, {} buyers welcomed twice, {} not welcomed",
            accepted.by_phone.len(),
            accepted.rate,
            accepted.seconds,
            percentile(&self.welcome, 50.0),
            self.p99_ms(),
            f64::from(slowest) / 1000.0,
            percentile(&self.accept, 50.0),
            percentile(&self.accept, 99.0),
            accepted.refused,
            self.twice,
            self.unwelcomed,
        )
    }
}
