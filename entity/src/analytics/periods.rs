//! Periods as a producer reads them: whole days, weeks (Monday first) and
//! months on the workspace's own calendar.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::error::{Error, Result};

/// The most points one series may have (ten years by month, three by day).
pub const MAX_POINTS: usize = 1_200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Day,
    Week,
    Month,
}

/// Local days `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

/// The day `at` falls on in `tz`.
pub fn local_day(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// The instant `day` begins in `tz`: its midnight, or the first minute of
/// the day where the clock skips midnight (Brazil's summer time did).
pub fn day_start(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    (0..=3)
        .filter_map(|hour| NaiveTime::from_hms_opt(hour, 0, 0))
        .find_map(|time| tz.from_local_datetime(&day.and_time(time)).earliest())
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or_else(|| day.and_time(NaiveTime::MIN).and_utc())
}

impl DayRange {
    /// The local days `[from, to)` touches.
    pub fn touched_by(from: DateTime<Utc>, to: DateTime<Utc>, tz: Tz) -> Result<Self> {
        if to <= from {
            return Err(Error::Invalid("`to` must be after `from`".into()));
        }
        Ok(DayRange {
            first: local_day(from, tz),
            last: local_day(to - chrono::Duration::microseconds(1), tz),
        })
    }

    pub fn start(&self, tz: Tz) -> DateTime<Utc> {
        day_start(self.first, tz)
    }

    /// The instant the day after the last begins.
    pub fn end(&self, tz: Tz) -> DateTime<Utc> {
        day_start(next_day(self.last), tz)
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        self.first <= day && day <= self.last
    }

    /// The range cut into days, weeks or months, the first and last cut to
    /// the range.
    pub fn buckets(&self, granularity: Granularity) -> Result<Vec<DayRange>> {
        let mut buckets = Vec::new();
        let mut first = self.first;
        while first <= self.last {
            if buckets.len() == MAX_POINTS {
                return Err(Error::Invalid(format!(
                    "the period has more than {MAX_POINTS} points at this granularity"
                )));
            }
            let next = match granularity {
                Granularity::Day => next_day(first),
                Granularity::Week => {
                    let monday =
                        first - Days::new(u64::from(first.weekday().num_days_from_monday()));
                    monday + Days::new(7)
                }
                Granularity::Month => {
                    let month_start = first.with_day(1).unwrap_or(first);
                    month_start + Months::new(1)
                }
            };
            let last = (next - Days::new(1)).min(self.last);
            buckets.push(DayRange { first, last });
            first = next;
        }
        Ok(buckets)
    }
}

fn next_day(day: NaiveDate) -> NaiveDate {
    day.succ_opt().unwrap_or(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn days_begin_at_local_midnight_even_when_the_clock_skips_it() {
        let sao_paulo: Tz = "America/Sao_Paulo".parse().unwrap();
        assert_eq!(
            day_start(date(2026, 3, 1), sao_paulo).to_rfc3339(),
            "2026-03-01T03:00:00+00:00"
        );
        // 2018-11-04: São Paulo's clocks went from 00:00 straight to 01:00.
        assert_eq!(
            day_start(date(2018, 11, 4), sao_paulo).to_rfc3339(),
            "2018-11-04T03:00:00+00:00"
        );
    }

    #[test]
    fn ranges_cut_into_calendar_buckets() {
        let range = DayRange {
            first: date(2026, 1, 28),
            last: date(2026, 3, 3),
        };
        let months = range.buckets(Granularity::Month).unwrap();
        assert_eq!(
            months
                .iter()
                .map(|b| (b.first.to_string(), b.last.to_string()))
                .collect::<Vec<_>>(),
            vec![
                ("2026-01-28".into(), "2026-01-31".into()),
                ("2026-02-01".into(), "2026-02-28".into()),
                ("2026-03-01".into(), "2026-03-03".into()),
            ]
        );
        let weeks = range.buckets(Granularity::Week).unwrap();
        // 2026-01-28 is a Wednesday: its week ends on Sunday 2026-02-01.
        assert_eq!(weeks[0].last, date(2026, 2, 1));
        assert_eq!(weeks[1].first, date(2026, 2, 2));
        assert_eq!(range.buckets(Granularity::Day).unwrap().len(), 35);
    }
}
