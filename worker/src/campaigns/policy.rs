//! Rules every send obeys, enforced by the runner rather than by each node:
//! quiet hours in the workspace's time zone, a per-customer frequency cap,
//! WhatsApp's 24 h window for free-form text and its pair rate, and a
//! per-workspace, per-channel rate limit.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;
use entity::Tenant;
use entity::entities::enums::{Channel, MessageStatus};
use entity::entities::message;
use sea_orm::{ColumnTrait, DatabaseConnection, DbBackend, QueryFilter, QuerySelect, Statement};
use uuid::Uuid;
use workflow::time::{next_time_of_day, parse_time_of_day};

/// WhatsApp: one message to the same user every 6 s at most (error 131056 otherwise).
pub const PAIR_RATE: Duration = Duration::seconds(6);
/// WhatsApp Cloud API default throughput per phone number.
pub const DEFAULT_WHATSAPP_PER_SECOND: u32 = 80;

/// E-mail, SMS and push providers: a conservative default.
pub const DEFAULT_OTHER_PER_SECOND: u32 = 100;

/// A workspace's sending rules, from its settings.
#[derive(Debug, Clone)]
pub struct SendPolicy {
    pub time_zone: Tz,
    /// `messaging.quiet_hours`, e.g. `21:00-08:00`: no campaign sends inside.
    pub quiet_hours: Option<(NaiveTime, NaiveTime)>,
    /// `messaging.frequency_cap`, e.g. `3/P1D`: at most 3 messages per customer per day.
    pub frequency_cap: Option<(u64, Duration)>,
    /// `whatsapp.messages_per_second`.
    pub whatsapp_per_second: u32,
}

/// What the rules say about one send now.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Go,
    /// Try again at this time (the message is not sent, nor reserved).
    Wait(DateTime<Utc>),
    /// This message cannot be sent as it is.
    Refuse(String),
}

fn parse_quiet_hours(text: &str) -> Option<(NaiveTime, NaiveTime)> {
    let (start, end) = text.split_once('-')?;
    Some((
        parse_time_of_day(start.trim())?,
        parse_time_of_day(end.trim())?,
    ))
}

fn parse_cap(text: &str) -> Option<(u64, Duration)> {
    let (count, window) = text.split_once('/')?;
    let window: workflow::time::IsoDuration = window.trim().parse().ok()?;
    let seconds = window
        .after(DateTime::<Utc>::UNIX_EPOCH, chrono_tz::UTC)?
        .timestamp();
    Some((count.trim().parse().ok()?, Duration::seconds(seconds)))
}

impl SendPolicy {
    pub async fn for_workspace(
        db: &DatabaseConnection,
        secrets: &entity::SecretKey,
        tenant: Tenant,
        time_zone: Tz,
    ) -> Result<Self, entity::Error> {
        let setting = |key| entity::settings::reveal(db, tenant, secrets, key);
        let quiet_hours = setting("messaging.quiet_hours")
            .await?
            .as_deref()
            .and_then(parse_quiet_hours);
        let frequency_cap = setting("messaging.frequency_cap")
            .await?
            .as_deref()
            .and_then(parse_cap);
        let whatsapp_per_second = setting("whatsapp.messages_per_second")
            .await?
            .and_then(|v| v.trim().parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_WHATSAPP_PER_SECOND);
        Ok(SendPolicy {
            time_zone,
            quiet_hours,
            frequency_cap,
            whatsapp_per_second,
        })
    }

    /// Sends per second allowed on a channel.
    pub fn per_second(&self, channel: Channel) -> u32 {
        match channel {
            Channel::Whatsapp => self.whatsapp_per_second,
            _ => DEFAULT_OTHER_PER_SECOND,
        }
    }

    /// When quiet hours end, if `now` is inside them.
    pub fn quiet_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (start, end) = self.quiet_hours?;
        let local = now.with_timezone(&self.time_zone).time();
        let inside = if start <= end {
            local >= start && local < end
        } else {
            local >= start || local < end
        };
        inside
            .then(|| next_time_of_day(now, self.time_zone, end))
            .flatten()
    }

    /// Checks one send on `channel`; `free_text` is a WhatsApp message that
    /// is not a template, `window_until` when the customer's 24 h WhatsApp
    /// window closes ([`entity::whatsapp::window_until`]), `history` what the customer
    /// was already sent ([`SendHistory::of`]).
    pub fn verdict(
        &self,
        window_until: Option<DateTime<Utc>>,
        history: Option<&SendHistory>,
        channel: Channel,
        free_text: bool,
        now: DateTime<Utc>,
    ) -> Verdict {
        if channel == Channel::Webhook || channel == Channel::Log {
            return Verdict::Go;
        }
        if let Some(until) = self.quiet_until(now) {
            return Verdict::Wait(until);
        }
        if channel == Channel::Whatsapp
            && free_text
            && window_until.is_none_or(|until| until <= now)
        {
            return Verdict::Refuse(
                "free-form WhatsApp text outside the 24 h window: use an approved template".into(),
            );
        }
        let Some(history) = history else {
            return Verdict::Go;
        };
        if channel == Channel::Whatsapp
            && let Some(at) = history.last_whatsapp
            && at + PAIR_RATE > now
        {
            return Verdict::Wait(at + PAIR_RATE);
        }
        if let Some((cap, window)) = self.frequency_cap {
            let recent = history.sent.iter().filter(|at| **at > now - window).count();
            if recent as u64 >= cap {
                return Verdict::Wait(now + window / 4);
            }
        }
        Verdict::Go
    }

    /// Most messages per customer [`SendHistory::of`] reads: enough for the
    /// frequency cap to see it is reached, and far more than the pair rate
    /// lets through in its window.
    fn history_limit(&self) -> u64 {
        self.frequency_cap.map_or(0, |(cap, _)| cap + 1).max(100)
    }

    /// How far back [`SendHistory::of`] must look for this policy.
    fn lookback(&self) -> Duration {
        self.frequency_cap
            .map_or(PAIR_RATE, |(_, window)| window.max(PAIR_RATE))
    }
}

/// A message as the send rules count it: (customer, channel, sent_at, updated_at).
type Sent = (Uuid, Channel, Option<DateTime<Utc>>, DateTime<Utc>);

/// PostgreSQL: the latest `limit` messages in `statuses` of each customer
/// updated after `since`, looked up customer by customer through the
/// customer index. Asked as one list, the planner weighs the status index
/// against it by statistics a fresh or unanalysed table lacks, and may read
/// every message sent so far for each batch; the per-customer lateral
/// lookup costs one index probe per customer whatever the statistics say.
async fn recent_per_customer<C: sea_orm::ConnectionTrait>(
    db: &C,
    customers: &[Uuid],
    statuses: &[MessageStatus],
    since: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Sent>, entity::Error> {
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(customers.len() + statuses.len() + 1);
    let mut ids = Vec::with_capacity(customers.len());
    for customer in customers {
        values.push((*customer).into());
        ids.push(format!("(${}::uuid)", values.len()));
    }
    let mut listed = Vec::with_capacity(statuses.len());
    for status in statuses {
        values.push(sea_orm::ActiveEnum::to_value(status).into());
        listed.push(format!("${}", values.len()));
    }
    values.push(since.into());
    let since_param = values.len();
    let sql = format!(
        "SELECT m.customer_id, m.channel, m.sent_at, m.updated_at \
         FROM (VALUES {}) AS c(id) \
         CROSS JOIN LATERAL (SELECT customer_id, channel, sent_at, updated_at FROM messages \
           WHERE customer_id = c.id AND status IN ({}) AND updated_at > ${since_param} \
           ORDER BY updated_at DESC LIMIT {limit}) AS m",
        ids.join(", "),
        listed.join(", "),
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("", "customer_id")?,
                row.try_get("", "channel")?,
                row.try_get("", "sent_at")?,
                row.try_get("", "updated_at")?,
            ))
        })
        .collect::<Result<Vec<Sent>, sea_orm::DbErr>>()
        .map_err(Into::into)
}

/// The messages a customer was sent lately, as the send rules count them.
#[derive(Debug, Clone, Default)]
pub struct SendHistory {
    /// When the latest WhatsApp message went out.
    pub last_whatsapp: Option<DateTime<Utc>>,
    /// When each message on a capped channel (WhatsApp, e-mail, SMS, push) went out.
    pub sent: Vec<DateTime<Utc>>,
}

impl SendHistory {
    /// The recent history of each of `customers`, in one query, looking back
    /// as far as `policy` needs.
    pub async fn of<C: sea_orm::ConnectionTrait>(
        db: &C,
        customers: &[Uuid],
        policy: &SendPolicy,
        now: DateTime<Utc>,
    ) -> Result<HashMap<Uuid, SendHistory>, entity::Error> {
        let mut histories: HashMap<Uuid, SendHistory> = HashMap::new();
        if customers.is_empty() {
            return Ok(histories);
        }
        let sent = [
            MessageStatus::Sending,
            MessageStatus::Sent,
            MessageStatus::Delivered,
            MessageStatus::Read,
            MessageStatus::Unknown,
        ];
        let since = now - policy.lookback();
        let rows = if db.get_database_backend() == DbBackend::Postgres {
            recent_per_customer(db, customers, &sent, since, policy.history_limit()).await?
        } else {
            // SQLite probes the customer index for each id of the list.
            message::Entity::find()
                .select_only()
                .column(message::Column::CustomerId)
                .column(message::Column::Channel)
                .column(message::Column::SentAt)
                .column(message::Column::UpdatedAt)
                .filter(message::Column::CustomerId.is_in(customers.iter().copied()))
                .filter(message::Column::Status.is_in(sent))
                .filter(message::Column::UpdatedAt.gt(since))
                .into_tuple()
                .all(db)
                .await?
        };
        for (customer, channel, sent_at, updated_at) in rows {
            let history = histories.entry(customer).or_default();
            history.record(channel, sent_at.unwrap_or(updated_at));
        }
        Ok(histories)
    }

    /// Counts a send in the history (one decided in this batch, say).
    pub fn record(&mut self, channel: Channel, at: DateTime<Utc>) {
        match channel {
            Channel::Whatsapp => {
                self.last_whatsapp = self.last_whatsapp.max(Some(at));
                self.sent.push(at);
            }
            Channel::Email | Channel::Sms | Channel::Push => self.sent.push(at),
            Channel::Webhook | Channel::Log => {}
        }
    }
}

use sea_orm::EntityTrait;

/// Tokens left and when they were counted.
type Bucket = (f64, DateTime<Utc>);

/// Per-workspace, per-channel token buckets shared by a runner's steps.
#[derive(Default)]
pub struct RateLimits {
    buckets: Mutex<HashMap<(Uuid, Channel), Bucket>>,
}

impl RateLimits {
    /// Takes a send slot; when none is free, says when one will be.
    pub fn take(
        &self,
        workspace: Uuid,
        channel: Channel,
        per_second: u32,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let rate = f64::from(per_second.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, at) = buckets.entry((workspace, channel)).or_insert((rate, now));
        let elapsed = (now - *at).num_milliseconds().max(0) as f64 / 1000.0;
        *tokens = (*tokens + elapsed * rate).min(rate);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            None
        } else {
            let wait_ms = ((1.0 - *tokens) / rate * 1000.0).ceil() as i64;
            Some(now + Duration::milliseconds(wait_ms.max(1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn policy(quiet: &str) -> SendPolicy {
        SendPolicy {
            time_zone: chrono_tz::America::Sao_Paulo,
            quiet_hours: parse_quiet_hours(quiet),
            frequency_cap: None,
            whatsapp_per_second: 80,
        }
    }

    #[test]
    fn quiet_hours_wrap_midnight_in_the_workspace_zone() {
        let p = policy("21:00-08:00");
        // 02:00 UTC is 23:00 in São Paulo: quiet until 08:00 local = 11:00 UTC.
        let night = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        assert_eq!(
            p.quiet_until(night),
            Some(Utc.with_ymd_and_hms(2026, 11, 23, 11, 0, 0).unwrap())
        );
        let day = Utc.with_ymd_and_hms(2026, 11, 23, 15, 0, 0).unwrap();
        assert_eq!(p.quiet_until(day), None);
        assert!(parse_quiet_hours("cedo-tarde").is_none());
        assert_eq!(parse_cap("3/P1D"), Some((3, Duration::days(1))));
    }

    #[test]
    fn the_pair_rate_and_the_frequency_cap_count_what_was_sent() {
        let mut p = policy("");
        p.frequency_cap = parse_cap("2/PT1H");
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 15, 0, 0).unwrap();
        let mut history = SendHistory::default();
        assert_eq!(
            p.verdict(None, Some(&history), Channel::Whatsapp, false, now),
            Verdict::Go
        );
        // A WhatsApp message two seconds ago: the next waits out the pair rate.
        history.record(Channel::Whatsapp, now - Duration::seconds(2));
        assert_eq!(
            p.verdict(None, Some(&history), Channel::Whatsapp, false, now),
            Verdict::Wait(now + Duration::seconds(4))
        );
        // An e-mail is not held by WhatsApp's pair rate, but counts for the cap.
        assert_eq!(
            p.verdict(None, Some(&history), Channel::Email, false, now),
            Verdict::Go
        );
        history.record(Channel::Email, now - Duration::minutes(10));
        assert_eq!(
            p.verdict(None, Some(&history), Channel::Email, false, now),
            Verdict::Wait(now + Duration::minutes(15))
        );
        // Sends older than the cap's window no longer count; log sends never do.
        let later = now + Duration::hours(2);
        history.record(Channel::Log, later);
        assert_eq!(
            p.verdict(None, Some(&history), Channel::Sms, false, later),
            Verdict::Go
        );
    }

    #[test]
    fn free_text_needs_an_open_window() {
        let p = policy("");
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 15, 0, 0).unwrap();
        assert!(matches!(
            p.verdict(None, None, Channel::Whatsapp, true, now),
            Verdict::Refuse(_)
        ));
        assert_eq!(
            p.verdict(
                Some(now + Duration::hours(1)),
                None,
                Channel::Whatsapp,
                true,
                now
            ),
            Verdict::Go
        );
    }

    #[test]
    fn the_rate_limit_refills_over_time() {
        let limits = RateLimits::default();
        let ws = Uuid::new_v4();
        let now = Utc::now();
        for _ in 0..2 {
            assert_eq!(limits.take(ws, Channel::Whatsapp, 2, now), None);
        }
        let next = limits
            .take(ws, Channel::Whatsapp, 2, now)
            .expect("the bucket is empty");
        assert!(next > now && next <= now + Duration::milliseconds(500));
        assert_eq!(
            limits.take(ws, Channel::Whatsapp, 2, now + Duration::seconds(1)),
            None
        );
    }
}
