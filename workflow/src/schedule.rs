//! Schedule triggers: `cron` in the 6-field form with seconds
//! (`"0 0 9 * * *"`, every day at 09:00), the same syntax as the worker's own
//! jobs, read on the workspace's clock.

use std::str::FromStr;

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;

/// A parsed cron expression.
#[derive(Debug, Clone)]
pub struct CronSchedule(cron::Schedule);

impl FromStr for CronSchedule {
    type Err = String;

    fn from_str(expr: &str) -> Result<Self, Self::Err> {
        cron::Schedule::from_str(expr.trim())
            .map(Self)
            .map_err(|e| {
                format!(
                    "cron must be sec min hour day month weekday, such as \"0 0 9 * * *\" ({e})"
                )
            })
    }
}

impl CronSchedule {
    /// The latest fire after `after` and at or before `until`, on the clock
    /// of `time_zone`: of several fires missed in between only the latest
    /// one is returned, so a worker that was down catches up once.
    pub fn latest_fire(
        &self,
        time_zone: Tz,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        // `prev_from` is strictly before its start: start one second later
        // so a fire at exactly `until` counts.
        let start = time_zone.from_utc_datetime(&(until + Duration::seconds(1)).naive_utc());
        self.0
            .after(&start)
            .next_back()
            .map(|fire| fire.with_timezone(&Utc))
            .filter(|fire| *fire > after && *fire <= until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn fires_on_the_workspace_clock() {
        let daily: CronSchedule = "0 0 9 * * *".parse().unwrap();
        let sao_paulo = chrono_tz::America::Sao_Paulo;
        // 09:00 in São Paulo (UTC-3) is 12:00 UTC.
        assert_eq!(
            daily.latest_fire(
                sao_paulo,
                at("2026-03-02T00:00:00Z"),
                at("2026-03-02T12:00:00Z")
            ),
            Some(at("2026-03-02T12:00:00Z"))
        );
        assert_eq!(
            daily.latest_fire(
                sao_paulo,
                at("2026-03-02T00:00:00Z"),
                at("2026-03-02T11:59:59Z")
            ),
            None
        );
    }

    #[test]
    fn only_the_latest_missed_fire_is_returned() {
        let hourly: CronSchedule = "0 0 * * * *".parse().unwrap();
        assert_eq!(
            hourly.latest_fire(
                chrono_tz::UTC,
                at("2026-03-02T00:00:00Z"),
                at("2026-03-02T05:30:00Z")
            ),
            Some(at("2026-03-02T05:00:00Z"))
        );
        // The fire at the lower bound was already handled.
        assert_eq!(
            hourly.latest_fire(
                chrono_tz::UTC,
                at("2026-03-02T05:00:00Z"),
                at("2026-03-02T05:30:00Z")
            ),
            None
        );
    }

    #[test]
    fn malformed_expressions_are_refused() {
        for bad in ["", "every day", "0 0 25 * * *", "* * *"] {
            assert!(bad.parse::<CronSchedule>().is_err(), "{bad:?}");
        }
    }
}
