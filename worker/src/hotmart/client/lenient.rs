//! Lenient deserializers: a field of an unexpected type becomes `None`
//! instead of failing the whole page.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::Deserializer;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Option::<Value>::deserialize(deserializer)
}

/// Strings, numbers and booleans as text (ids come both ways).
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match value(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    })
}

fn number(value: Option<Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn integer(value: Option<Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => {
            let s = s.trim();
            s.parse()
                .ok()
                .or_else(|| s.parse::<f64>().ok().map(|f| f as i64))
        }
        _ => None,
    }
}

pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(integer(value(d)?).and_then(|n| n.try_into().ok()))
}

pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(integer(value(d)?).and_then(|n| n.try_into().ok()))
}

pub fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(number(value(d)?).filter(|f| f.is_finite()))
}

pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match value(d)? {
        Some(Value::Bool(b)) => Some(b),
        Some(Value::Number(n)) => n.as_i64().map(|n| n != 0),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    })
}

/// Money: kept exact, from a number or a numeric string.
pub fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    let text = match value(d)? {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.trim().to_owned(),
        _ => return Ok(None),
    };
    Ok(Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok())
}

/// Epoch milliseconds (number or string), or ISO-8601. Values too small
/// to be milliseconds of this era are taken as seconds.
pub fn datetime<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let value = value(d)?;
    if let Some(Value::String(s)) = &value {
        let s = s.trim();
        if let Ok(parsed) = DateTime::parse_from_rfc3339(s) {
            return Ok(Some(parsed.with_timezone(&Utc)));
        }
        if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
            return Ok(Some(naive.and_utc()));
        }
        if let Ok(date) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(date.and_hms_opt(0, 0, 0).map(|naive| naive.and_utc()));
        }
    }
    Ok(integer(value).and_then(|n| {
        if n.abs() < 100_000_000_000 {
            DateTime::from_timestamp(n, 0)
        } else {
            DateTime::from_timestamp_millis(n)
        }
    }))
}

/// A nested object; anything else (or a mismatch inside) is `None`.
pub fn nested<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    Ok(match value(d)? {
        Some(value @ Value::Object(_)) => serde_json::from_value(value).ok(),
        _ => None,
    })
}

/// A list; `null` is empty. Items must decode (they are lenient).
pub fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    match value(d)? {
        Some(value @ Value::Array(_)) => {
            serde_json::from_value(value).map_err(serde::de::Error::custom)
        }
        _ => Ok(Vec::new()),
    }
}
