//! ISO-8601 durations and times of day, applied in the workspace time zone.
//!
//! The date part of a duration (`P1Y2M3W4D`) is calendar arithmetic on the
//! local date, so `P1D` lands at the same wall-clock time the next day even
//! across a DST change; the time part (`T2H15M`) is elapsed time. This is the
//! reading RFC 5545 gives ISO-8601 durations, and the one people expect of
//! "wait 3 days".

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Days, Months, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An ISO-8601 duration with whole-number components, e.g. `PT2H`, `P3D`, `P1M`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IsoDuration {
    pub years: u32,
    pub months: u32,
    pub weeks: u32,
    pub days: u32,
    pub hours: u32,
    pub minutes: u32,
    pub seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an ISO-8601 duration such as PT2H, P3D or PT15M")]
pub struct DurationError(String);

impl IsoDuration {
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }

    /// `start` plus this duration, the date part counted in `tz`; `None` when
    /// the result is outside the representable range.
    pub fn after(&self, start: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let start_local = local_reading(start, tz)?;
        let mut local = start_local;
        let months = self.years.checked_mul(12)?.checked_add(self.months)?;
        if months > 0 {
            local = local.checked_add_months(Months::new(months))?;
        }
        let days = u64::from(self.weeks) * 7 + u64::from(self.days);
        if days > 0 {
            local = local.checked_add_days(Days::new(days))?;
        }
        let shifted = if local == start_local {
            start
        } else {
            resolve_local(tz, local)?
        };
        let elapsed = TimeDelta::try_hours(i64::from(self.hours))?
            .checked_add(&TimeDelta::try_minutes(i64::from(self.minutes))?)?
            .checked_add(&TimeDelta::try_seconds(i64::from(self.seconds))?)?;
        shifted.checked_add_signed(elapsed)
    }
}

impl FromStr for IsoDuration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = || DurationError(text.to_owned());
        let rest = text.strip_prefix('P').ok_or_else(fail)?;
        let (date, time) = match rest.split_once('T') {
            Some((_, "")) => return Err(fail()),
            Some((date, time)) => (date, Some(time)),
            None => (rest, None),
        };
        let mut duration = Self::default();
        let mut any = false;
        let mut read = |part: &str, units: &[char], slots: &mut [&mut u32]| {
            let mut next_unit = 0;
            let mut number = String::new();
            for c in part.chars() {
                if c.is_ascii_digit() {
                    number.push(c);
                    continue;
                }
                let position = units[next_unit..].iter().position(|u| *u == c);
                let (Some(offset), false) = (position, number.is_empty()) else {
                    return false;
                };
                let Ok(value) = number.parse::<u32>() else {
                    return false;
                };
                *slots[next_unit + offset] = value;
                next_unit += offset + 1;
                number.clear();
                any = true;
            }
            number.is_empty()
        };
        let IsoDuration {
            years,
            months,
            weeks,
            days,
            hours,
            minutes,
            seconds,
        } = &mut duration;
        if !read(
            date,
            &['Y', 'M', 'W', 'D'],
            &mut [years, months, weeks, days],
        ) {
            return Err(fail());
        }
        if let Some(time) = time
            && !read(time, &['H', 'M', 'S'], &mut [hours, minutes, seconds])
        {
            return Err(fail());
        }
        if !any {
            return Err(fail());
        }
        Ok(duration)
    }
}

impl fmt::Display for IsoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("P")?;
        for (value, unit) in [
            (self.years, 'Y'),
            (self.months, 'M'),
            (self.weeks, 'W'),
            (self.days, 'D'),
        ] {
            if value > 0 {
                write!(f, "{value}{unit}")?;
            }
        }
        if self.hours + self.minutes + self.seconds > 0 {
            f.write_str("T")?;
            for (value, unit) in [(self.hours, 'H'), (self.minutes, 'M'), (self.seconds, 'S')] {
                if value > 0 {
                    write!(f, "{value}{unit}")?;
                }
            }
        } else if self.is_zero() {
            f.write_str("T0S")?;
        }
        Ok(())
    }
}

impl Serialize for IsoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IsoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses a wall-clock time written `HH:MM` (or `HH:MM:SS`), 24-hour clock.
pub fn parse_time_of_day(text: &str) -> Option<NaiveTime> {
    let parts: Vec<&str> = text.split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    let mut numbers = [0u32; 3];
    for (slot, part) in numbers.iter_mut().zip(&parts) {
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    NaiveTime::from_hms_opt(numbers[0], numbers[1], numbers[2])
}

/// The first instant strictly after `now` at which the wall clock in `tz`
/// shows `time`. On a day when `time` falls in a DST gap the wait ends when
/// the clock jumps past it; when it occurs twice, at the first occurrence.
pub fn next_time_of_day(now: DateTime<Utc>, tz: Tz, time: NaiveTime) -> Option<DateTime<Utc>> {
    let today = local_reading(now, tz)?.date();
    (0..=2)
        .filter_map(|ahead| today.checked_add_days(Days::new(ahead)))
        .filter_map(|day| resolve_local(tz, day.and_time(time)))
        .find(|candidate| *candidate > now)
}

/// What the wall clock in `tz` shows at `at`; `None` at the edges of the
/// representable range (where chrono's own conversion would panic).
pub(crate) fn local_reading(at: DateTime<Utc>, tz: Tz) -> Option<NaiveDateTime> {
    let offset = tz.offset_from_utc_datetime(&at.naive_utc()).fix();
    at.naive_utc().checked_add_offset(offset)
}

/// A local wall-clock reading as an instant: the earlier one when the clock
/// reads it twice, and the reading shifted forward by the gap when the clock
/// skips it (what calendar applications and JavaScript's Temporal do).
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        chrono::LocalResult::None => {
            let before = local.checked_sub_days(Days::new(1))?;
            let offset = tz.offset_from_utc_datetime(&before).fix();
            let utc = local
                .checked_sub_signed(TimeDelta::try_seconds(i64::from(offset.local_minus_utc()))?)?;
            Some(utc.and_utc())
        }
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
    fn parses_the_builder_durations() {
        let d: IsoDuration = "PT2H".parse().unwrap();
        assert_eq!(d.hours, 2);
        assert_eq!("P3D".parse::<IsoDuration>().unwrap().days, 3);
        assert_eq!("P30D".parse::<IsoDuration>().unwrap().days, 30);
        assert_eq!("PT15M".parse::<IsoDuration>().unwrap().minutes, 15);
        let full: IsoDuration = "P1Y2M3W4DT5H6M7S".parse().unwrap();
        assert_eq!(full.to_string(), "P1Y2M3W4DT5H6M7S");
        assert_eq!(
            (full.years, full.months, full.weeks, full.days),
            (1, 2, 3, 4)
        );
        assert_eq!((full.hours, full.minutes, full.seconds), (5, 6, 7));
        assert_eq!("PT0S".parse::<IsoDuration>().unwrap().to_string(), "PT0S");
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for bad in [
            "",
            "P",
            "PT",
            "2H",
            "P2H",
            "PT2D",
            "P1DT",
            "PT1.5H",
            "P-1D",
            "PD",
            "P1D2D",
            "PT1M1H",
            "p1d",
            "P99999999999D",
            " P1D",
        ] {
            assert!(bad.parse::<IsoDuration>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn days_are_calendar_days_across_dst() {
        // New York springs forward on 2025-03-09.
        let tz: Tz = "America/New_York".parse().unwrap();
        let start = at("2025-03-08T09:00:00-05:00");
        let day: IsoDuration = "P1D".parse().unwrap();
        assert_eq!(day.after(start, tz), Some(at("2025-03-09T09:00:00-04:00")));
        let hours: IsoDuration = "PT24H".parse().unwrap();
        assert_eq!(
            hours.after(start, tz),
            Some(at("2025-03-09T10:00:00-04:00"))
        );
        let month: IsoDuration = "P1M".parse().unwrap();
        assert_eq!(
            month.after(at("2025-01-31T12:00:00Z"), chrono_tz::UTC),
            Some(at("2025-02-28T12:00:00Z"))
        );
    }

    #[test]
    fn next_time_of_day_is_today_or_tomorrow() {
        let tz: Tz = "America/Sao_Paulo".parse().unwrap();
        let nine = parse_time_of_day("09:00").unwrap();
        let morning = at("2025-06-10T08:00:00-03:00");
        assert_eq!(
            next_time_of_day(morning, tz, nine),
            Some(at("2025-06-10T09:00:00-03:00"))
        );
        let evening = at("2025-06-10T21:00:00-03:00");
        assert_eq!(
            next_time_of_day(evening, tz, nine),
            Some(at("2025-06-11T09:00:00-03:00"))
        );
        let exactly = at("2025-06-10T09:00:00-03:00");
        assert_eq!(
            next_time_of_day(exactly, tz, nine),
            Some(at("2025-06-11T09:00:00-03:00"))
        );
    }

    #[test]
    fn next_time_of_day_survives_gaps_and_repeats() {
        // Sao Paulo sprang forward at midnight on 2018-11-04 (00:00 -> 01:00).
        let tz: Tz = "America/Sao_Paulo".parse().unwrap();
        let half_past_midnight = parse_time_of_day("00:30").unwrap();
        let before = at("2018-11-03T12:00:00-03:00");
        assert_eq!(
            next_time_of_day(before, tz, half_past_midnight),
            Some(at("2018-11-04T01:30:00-02:00"))
        );
        // New York falls back on 2025-11-02: 01:30 happens twice; take the first.
        let ny: Tz = "America/New_York".parse().unwrap();
        let one_thirty = parse_time_of_day("01:30").unwrap();
        assert_eq!(
            next_time_of_day(at("2025-11-01T12:00:00-04:00"), ny, one_thirty),
            Some(at("2025-11-02T01:30:00-04:00"))
        );
        // New York springs forward on 2025-03-09: 02:30 does not exist.
        let two_thirty = parse_time_of_day("02:30").unwrap();
        assert_eq!(
            next_time_of_day(at("2025-03-08T12:00:00-05:00"), ny, two_thirty),
            Some(at("2025-03-09T03:30:00-04:00"))
        );
    }

    #[test]
    fn the_edges_of_time_are_none_not_panics() {
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        let day: IsoDuration = "P1D".parse().unwrap();
        let nine = parse_time_of_day("09:00").unwrap();
        for at in [DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC] {
            for tz in [tokyo, chrono_tz::America::Sao_Paulo] {
                let _ = day.after(at, tz);
                let _ = next_time_of_day(at, tz, nine);
            }
        }
        assert_eq!(day.after(DateTime::<Utc>::MAX_UTC, tokyo), None);
    }

    #[test]
    fn times_of_day_are_hh_mm() {
        assert_eq!(parse_time_of_day("09:00"), NaiveTime::from_hms_opt(9, 0, 0));
        assert_eq!(
            parse_time_of_day("23:59:30"),
            NaiveTime::from_hms_opt(23, 59, 30)
        );
        for bad in [
            "9:00",
            "24:00",
            "09:60",
            "0900",
            "09:00:00:00",
            "aa:bb",
            "+9:00",
            "",
        ] {
            assert_eq!(parse_time_of_day(bad), None, "{bad}");
        }
    }
}
