//! Lenient readers of the scalars Hotmart sends in every shape seen: ids as
//! numbers or strings, dates as epoch milliseconds or ISO-8601, decimals.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

// ---------------------------------------------------------------------------
// Lenient scalars
// ---------------------------------------------------------------------------

/// Largest integer an `f64` holds exactly (2^53).
const F64_EXACT_INT: f64 = 9_007_199_254_740_992.0;
/// Below this, a numeric timestamp is taken as seconds: 10^11 ms is March 1973,
/// 10^11 s is the year 5138, so no real date is ambiguous.
const SECONDS_BELOW: i64 = 100_000_000_000;

/// An identifier as text: a string (trimmed) or an integral number.
/// Numbers with a fractional part, empty strings and other types give `None`.
pub fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_owned())
        }
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(i.to_string())
            } else if let Some(u) = n.as_u64() {
                Some(u.to_string())
            } else {
                let f = n.as_f64()?;
                (f.fract() == 0.0 && f.abs() <= F64_EXACT_INT).then(|| format!("{f:.0}"))
            }
        }
        _ => None,
    }
}

/// A point in time from epoch milliseconds (number or numeric string; values
/// below 10^11 are seconds), RFC 3339 / ISO-8601 with or without an offset
/// (none means UTC), or a plain `YYYY-MM-DD` (midnight UTC). Zero and negative
/// epochs are treated as "not set".
pub fn timestamp(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::Number(n) => epoch(n.as_i64().or_else(|| whole(n.as_f64()?))?),
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() {
                None
            } else if let Ok(n) = s.parse::<i64>() {
                epoch(n)
            } else if let Ok(f) = s.parse::<f64>() {
                epoch(whole(f)?)
            } else {
                datetime_text(s)
            }
        }
        _ => None,
    }
}

fn whole(f: f64) -> Option<i64> {
    // Sub-millisecond digits carry no meaning here; truncate them.
    (f.is_finite() && f.abs() <= F64_EXACT_INT).then(|| f.trunc() as i64)
}

fn epoch(n: i64) -> Option<DateTime<Utc>> {
    if n <= 0 {
        None
    } else if n < SECONDS_BELOW {
        DateTime::from_timestamp(n, 0)
    } else {
        DateTime::from_timestamp_millis(n)
    }
}

fn datetime_text(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // `%z` accepts "+0300" and "+03:00"; rfc3339 above covers "Z" and full forms.
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// An exact decimal from a JSON number or numeric string. Numbers are read from
/// their textual form, so `1234.56` is 1234.56, not the nearest binary float.
/// Decimal commas and thousands separators are refused: "1,234" is ambiguous.
pub fn decimal(value: &Value) -> Option<Decimal> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    if text.is_empty()
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return None;
    }
    Decimal::from_str_exact(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

/// A string, trimmed; empty and non-string values give `None`.
pub fn text(value: &Value) -> Option<String> {
    let s = value.as_str()?.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// A small non-negative count (installments, recurrence number) as text or number.
pub(super) fn count(value: &Value) -> Option<u32> {
    id_text(value)?.parse().ok()
}

/// The value at a dotted path below `value`; `null` counts as absent.
pub(super) fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = value;
    for key in path.split('.') {
        current = current.as_object()?.get(key)?;
    }
    (!current.is_null()).then_some(current)
}

pub(super) fn text_at(value: &Value, path: &str) -> Option<String> {
    at(value, path).and_then(text)
}

pub(super) fn id_at(value: &Value, path: &str) -> Option<String> {
    at(value, path).and_then(id_text)
}

pub(super) fn time_at(value: &Value, path: &str) -> Option<DateTime<Utc>> {
    at(value, path).and_then(timestamp)
}

pub(super) fn upper(s: String) -> String {
    s.to_ascii_uppercase()
}
