//! The rules of a `condition` node: parsing against the variable's kind, and
//! evaluation for one recipient.
//!
//! Operators by kind of field:
//!
//! | kind | fields | operators |
//! |---|---|---|
//! | text | email, name, first_name, phone, segment, churnRisk, accessStatus, access_url | eq, neq, contains, not_contains, in, exists, not_exists |
//! | list | tags | contains, not_contains, in (any tag in the list), exists (non-empty), not_exists |
//! | number | ltvTotal, progress | eq, neq, gt, gte, lt, lte, in, exists, not_exists |
//! | instant | createdAt, firstAccessAt, lastAccessAt, lastLessonCompletedAt, purchasedAt, warrantyEndsAt | eq, neq, gt, gte, lt, lte, olderThanDays, withinDays, exists, not_exists |
//!
//! Relative dates count whole days back from the moment of evaluation (the
//! worker's clock, never the system time): `olderThanDays: 7` holds for a
//! moment at least 7 days ago; `withinDays: 7` for one in the last 7 days,
//! or, for a moment that lies ahead (`warrantyEndsAt`), in the next 7.
//! Target groups (`entity::audiences`) give both operators the same meaning.
//!
//! Text comparisons are exact (case-sensitive). Numbers compare as exact
//! decimals, instants as RFC 3339 instants. `neq`, `not_contains` and
//! `not_exists` are the negations of `eq`, `contains` and `exists`, so a
//! missing value satisfies them and no other operator.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::context::{FieldValue, RecipientContext, ValueKind, Variable};
use crate::decimal::Decimal;
use crate::nodes::NodeDataError;
use crate::validate::code;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combinator {
    And,
    Or,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Contains,
    NotContains,
    In,
    Exists,
    NotExists,
    OlderThanDays,
    WithinDays,
}

/// The most days a relative date may count (about a hundred years).
pub const MAX_RELATIVE_DAYS: u32 = 36_500;

impl Operator {
    pub const ALL: [Operator; 13] = [
        Self::Eq,
        Self::Neq,
        Self::Gt,
        Self::Gte,
        Self::Lt,
        Self::Lte,
        Self::Contains,
        Self::NotContains,
        Self::In,
        Self::Exists,
        Self::NotExists,
        Self::OlderThanDays,
        Self::WithinDays,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Neq => "neq",
            Self::Gt => "gt",
            Self::Gte => "gte",
            Self::Lt => "lt",
            Self::Lte => "lte",
            Self::Contains => "contains",
            Self::NotContains => "not_contains",
            Self::In => "in",
            Self::Exists => "exists",
            Self::NotExists => "not_exists",
            Self::OlderThanDays => "olderThanDays",
            Self::WithinDays => "withinDays",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "older_than_days" => Some(Self::OlderThanDays),
            "within_days" => Some(Self::WithinDays),
            _ => Self::ALL.into_iter().find(|op| op.name() == name),
        }
    }

    pub fn applies_to(self, kind: ValueKind) -> bool {
        use Operator::*;
        match self {
            Exists | NotExists => true,
            Eq | Neq => kind != ValueKind::TextList,
            Gt | Gte | Lt | Lte => matches!(kind, ValueKind::Number | ValueKind::Instant),
            Contains | NotContains => matches!(kind, ValueKind::Text | ValueKind::TextList),
            In => kind != ValueKind::Instant,
            OlderThanDays | WithinDays => kind == ValueKind::Instant,
        }
    }
}

/// The right-hand side of a rule, already read in the field's kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    None,
    Text(String),
    Number(Decimal),
    Instant(DateTime<Utc>),
    TextSet(Vec<String>),
    NumberSet(Vec<Decimal>),
    /// Whole days, for relative dates.
    Days(u32),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub field: Variable,
    pub op: Operator,
    pub operand: Operand,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConditionData {
    pub combinator: Combinator,
    pub rules: Vec<Rule>,
}

impl ConditionData {
    /// Whether the recipient passes, at `now` (relative dates count from it).
    pub fn evaluate(&self, ctx: &RecipientContext, now: DateTime<Utc>) -> bool {
        match self.combinator {
            Combinator::And => self.rules.iter().all(|r| r.matches(ctx, now)),
            Combinator::Or => self.rules.iter().any(|r| r.matches(ctx, now)),
        }
    }
}

/// Whether `at` is `days` or more days before `now`.
pub fn older_than_days(at: DateTime<Utc>, days: u32, now: DateTime<Utc>) -> bool {
    at <= now - chrono::Duration::days(i64::from(days))
}

/// Whether `at` lies within `days` days of `now`: behind it, or ahead of it
/// for an `upcoming` moment.
pub fn within_days(at: DateTime<Utc>, days: u32, upcoming: bool, now: DateTime<Utc>) -> bool {
    let span = chrono::Duration::days(i64::from(days));
    if upcoming {
        at >= now && at <= now + span
    } else {
        at <= now && at >= now - span
    }
}

impl Rule {
    /// Reads one `{"field", "op", "value"}` object of `rules`.
    pub fn parse(index: usize, raw: &Value) -> Result<Self, NodeDataError> {
        let at = |message: String| NodeDataError::invalid(format!("rules[{index}]: {message}"));
        let object = raw
            .as_object()
            .ok_or_else(|| at("must be an object".into()))?;
        let field_name = object
            .get("field")
            .and_then(Value::as_str)
            .ok_or_else(|| at("field must be a string".into()))?;
        let field = Variable::parse(field_name).ok_or_else(|| NodeDataError {
            code: code::UNKNOWN_FIELD,
            message: format!("rules[{index}]: unknown field {field_name:?}"),
        })?;
        let op_name = object
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| at("op must be a string".into()))?;
        let op = Operator::parse(op_name).ok_or_else(|| NodeDataError {
            code: code::UNKNOWN_OPERATOR,
            message: format!("rules[{index}]: unknown operator {op_name:?}"),
        })?;
        let kind = field.kind();
        if !op.applies_to(kind) {
            return Err(at(format!(
                "operator {} does not apply to {}",
                op.name(),
                field.name()
            )));
        }
        let value = object.get("value").unwrap_or(&Value::Null);
        let operand = operand(op, kind, value).map_err(|m| {
            at(format!(
                "{} {} needs {m}, got {value}",
                field.name(),
                op.name()
            ))
        })?;
        Ok(Self { field, op, operand })
    }

    pub fn matches(&self, ctx: &RecipientContext, now: DateTime<Utc>) -> bool {
        use Operator::*;
        let value = self.field.read(ctx);
        if let (OlderThanDays | WithinDays, Operand::Days(days)) = (self.op, &self.operand) {
            let Some(FieldValue::Instant(at)) = value else {
                return false;
            };
            return if self.op == OlderThanDays {
                older_than_days(at, *days, now)
            } else {
                within_days(at, *days, self.field.is_upcoming(), now)
            };
        }
        match self.op {
            Neq => !self.matches_op(Eq, value.as_ref()),
            NotContains => !self.matches_op(Contains, value.as_ref()),
            NotExists => !self.matches_op(Exists, value.as_ref()),
            op => self.matches_op(op, value.as_ref()),
        }
    }

    fn matches_op(&self, op: Operator, value: Option<&FieldValue<'_>>) -> bool {
        use std::cmp::Ordering::*;
        let Some(value) = value else {
            return false;
        };
        if op == Operator::Exists {
            return match value {
                FieldValue::Text(t) | FieldValue::Number(t) => !t.is_empty(),
                FieldValue::TextList(items) => !items.is_empty(),
                FieldValue::Instant(_) => true,
            };
        }
        let ordering = match (value, &self.operand) {
            (FieldValue::Text(t), Operand::Text(s)) if op == Operator::Contains => {
                return t.contains(s.as_str());
            }
            (FieldValue::Text(t), Operand::Text(s)) => t.cmp(&s.as_str()),
            (FieldValue::Text(t), Operand::TextSet(set)) => return set.iter().any(|s| s == t),
            (FieldValue::TextList(items), Operand::Text(s)) => return items.contains(s),
            (FieldValue::TextList(items), Operand::TextSet(set)) => {
                return items.iter().any(|item| set.contains(item));
            }
            (FieldValue::Number(n), Operand::Number(d)) => match Decimal::parse(n) {
                Some(n) => n.cmp(d),
                None => return false,
            },
            (FieldValue::Number(n), Operand::NumberSet(set)) => {
                return Decimal::parse(n).is_some_and(|n| set.contains(&n));
            }
            (FieldValue::Instant(at), Operand::Instant(other)) => at.cmp(other),
            _ => return false,
        };
        match op {
            Operator::Eq => ordering == Equal,
            Operator::Gt => ordering == Greater,
            Operator::Gte => ordering != Less,
            Operator::Lt => ordering == Less,
            Operator::Lte => ordering != Greater,
            _ => false,
        }
    }
}

fn operand(op: Operator, kind: ValueKind, value: &Value) -> Result<Operand, &'static str> {
    use Operator::*;
    match (op, kind) {
        (Exists | NotExists, _) => Ok(Operand::None),
        (OlderThanDays | WithinDays, _) => days(value)
            .map(Operand::Days)
            .ok_or("a whole number of days from 0 to 36500"),
        (In, ValueKind::Number) => list(value)?
            .iter()
            .map(|v| number(v).ok_or("a list of numbers"))
            .collect::<Result<_, _>>()
            .map(Operand::NumberSet),
        (In, _) => list(value)?
            .iter()
            .map(|v| text(v).ok_or("a list of strings"))
            .collect::<Result<_, _>>()
            .map(Operand::TextSet),
        (_, ValueKind::Number) => number(value).map(Operand::Number).ok_or("a number"),
        (_, ValueKind::Instant) => value
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|at| Operand::Instant(at.with_timezone(&Utc)))
            .ok_or("an RFC 3339 date-time"),
        (_, ValueKind::Text | ValueKind::TextList) => {
            text(value).map(Operand::Text).ok_or("a string")
        }
    }
}

/// Whole days for a relative date: `7` or `"7"`, never negative or fractional.
pub fn days(value: &Value) -> Option<u32> {
    let days = match value {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.trim().parse::<u64>().ok()?,
        _ => return None,
    };
    u32::try_from(days).ok().filter(|d| *d <= MAX_RELATIVE_DAYS)
}

fn list(value: &Value) -> Result<&Vec<Value>, &'static str> {
    value.as_array().ok_or("a list")
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(n) => Decimal::parse(&n.to_string()),
        Value::String(s) => Decimal::parse(s.trim()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use uuid::Uuid;

    fn ctx() -> RecipientContext {
        let mut ctx = RecipientContext::new(Uuid::nil(), chrono_tz::UTC);
        ctx.customer.email = Some("ana@example.com".into());
        ctx.customer.tags = vec!["vip".into(), "turma-1".into()];
        ctx.customer.ltv_total = Some("1234.50".into());
        ctx.customer.segment = Some("active".into());
        ctx.customer.created_at = Some("2025-01-10T12:00:00Z".parse().unwrap());
        ctx.enrollment.progress = Some("42.5".into());
        ctx.enrollment.access_status = Some("ACTIVE".into());
        ctx
    }

    fn now() -> DateTime<Utc> {
        "2025-03-01T12:00:00Z".parse().unwrap()
    }

    fn holds(rule: Value) -> bool {
        Rule::parse(0, &rule)
            .unwrap_or_else(|e| panic!("{rule}: {e:?}"))
            .matches(&ctx(), now())
    }

    #[test]
    fn relative_dates_count_from_now() {
        let mut ctx = ctx();
        let days_ago = |d: i64| now() - chrono::Duration::days(d);
        ctx.enrollment.purchased_at = Some(days_ago(3));
        ctx.enrollment.last_lesson_completed_at = Some(days_ago(10));
        ctx.enrollment.warranty_ends_at = Some(now() + chrono::Duration::days(2));
        let holds_at = |rule: Value, at: DateTime<Utc>| {
            Rule::parse(0, &rule)
                .unwrap_or_else(|e| panic!("{rule}: {e:?}"))
                .matches(&ctx, at)
        };
        for (rule, expected) in [
            (
                json!({"field": "enrollment.purchasedAt", "op": "withinDays", "value": 3}),
                true,
            ),
            (
                json!({"field": "enrollment.purchasedAt", "op": "withinDays", "value": 2}),
                false,
            ),
            (
                json!({"field": "enrollment.purchasedAt", "op": "olderThanDays", "value": 3}),
                true,
            ),
            (
                json!({"field": "enrollment.purchasedAt", "op": "older_than_days", "value": "4"}),
                false,
            ),
            (
                json!({"field": "enrollment.lastLessonCompletedAt", "op": "olderThanDays", "value": 7}),
                true,
            ),
            (
                json!({"field": "enrollment.warrantyEndsAt", "op": "withinDays", "value": 2}),
                true,
            ),
            (
                json!({"field": "enrollment.warrantyEndsAt", "op": "withinDays", "value": 1}),
                false,
            ),
            // No access yet: neither older nor recent.
            (
                json!({"field": "enrollment.firstAccessAt", "op": "olderThanDays", "value": 0}),
                false,
            ),
            (
                json!({"field": "enrollment.lastAccessAt", "op": "withinDays", "value": 30}),
                false,
            ),
        ] {
            assert_eq!(holds_at(rule.clone(), now()), expected, "{rule}");
        }
        // Three days later the purchase is six days old.
        let later = now() + chrono::Duration::days(3);
        let rule = json!({"field": "enrollment.purchasedAt", "op": "olderThanDays", "value": 6});
        assert!(holds_at(rule.clone(), later));
        assert!(!holds_at(rule, now()));
    }

    #[test]
    fn every_operator_on_every_kind() {
        let cases = [
            (
                json!({"field": "customer.tags", "op": "contains", "value": "vip"}),
                true,
            ),
            (
                json!({"field": "customer.tags", "op": "contains", "value": "vi"}),
                false,
            ),
            (
                json!({"field": "customer.tags", "op": "not_contains", "value": "ex"}),
                true,
            ),
            (
                json!({"field": "customer.tags", "op": "in", "value": ["x", "turma-1"]}),
                true,
            ),
            (json!({"field": "customer.tags", "op": "exists"}), true),
            (json!({"field": "customer.tags", "op": "not_exists"}), false),
            (
                json!({"field": "customer.email", "op": "eq", "value": "ana@example.com"}),
                true,
            ),
            (
                json!({"field": "customer.email", "op": "neq", "value": "ANA@example.com"}),
                true,
            ),
            (
                json!({"field": "customer.email", "op": "contains", "value": "@example"}),
                true,
            ),
            (
                json!({"field": "customer.email", "op": "not_contains", "value": "@gmail"}),
                true,
            ),
            (
                json!({"field": "customer.segment", "op": "in", "value": ["active", "trial"]}),
                true,
            ),
            (json!({"field": "customer.phone", "op": "exists"}), false),
            (json!({"field": "customer.phone", "op": "not_exists"}), true),
            (
                json!({"field": "customer.phone", "op": "eq", "value": "1"}),
                false,
            ),
            (
                json!({"field": "customer.phone", "op": "neq", "value": "1"}),
                true,
            ),
            (
                json!({"field": "customer.ltvTotal", "op": "gt", "value": 1000}),
                true,
            ),
            (
                json!({"field": "customer.ltvTotal", "op": "gt", "value": "1234.5"}),
                false,
            ),
            (
                json!({"field": "customer.ltvTotal", "op": "gte", "value": "1234.5"}),
                true,
            ),
            (
                json!({"field": "customer.ltvTotal", "op": "eq", "value": 1234.5}),
                true,
            ),
            (
                json!({"field": "customer.ltvTotal", "op": "lt", "value": 99.9}),
                false,
            ),
            (
                json!({"field": "customer.ltvTotal", "op": "lte", "value": "1234.500"}),
                true,
            ),
            (
                json!({"field": "customer.ltvTotal", "op": "in", "value": [1, "1234.5"]}),
                true,
            ),
            (
                json!({"field": "enrollment.progress", "op": "lt", "value": 50}),
                true,
            ),
            (
                json!({"field": "enrollment.progress", "op": "gt", "value": 9}),
                true,
            ),
            (
                json!({"field": "enrollment.accessStatus", "op": "eq", "value": "ACTIVE"}),
                true,
            ),
            (
                json!({"field": "customer.createdAt", "op": "gt", "value": "2025-01-10T08:59:00-03:00"}),
                true,
            ),
            (
                json!({"field": "customer.createdAt", "op": "eq", "value": "2025-01-10T09:00:00-03:00"}),
                true,
            ),
            (
                json!({"field": "customer.createdAt", "op": "lt", "value": "2025-01-01T00:00:00Z"}),
                false,
            ),
            (
                json!({"field": "enrollment.firstAccessAt", "op": "not_exists"}),
                true,
            ),
            (
                json!({"field": "enrollment.firstAccessAt", "op": "lt", "value": "2030-01-01T00:00:00Z"}),
                false,
            ),
        ];
        for (rule, expected) in cases {
            assert_eq!(holds(rule.clone()), expected, "{rule}");
        }
    }

    #[test]
    fn combinators() {
        let yes = Rule::parse(
            0,
            &json!({"field": "customer.tags", "op": "contains", "value": "vip"}),
        )
        .unwrap();
        let no = Rule::parse(
            1,
            &json!({"field": "customer.tags", "op": "contains", "value": "x"}),
        )
        .unwrap();
        let and = ConditionData {
            combinator: Combinator::And,
            rules: vec![yes.clone(), no.clone()],
        };
        let or = ConditionData {
            combinator: Combinator::Or,
            rules: vec![yes, no],
        };
        assert!(!and.evaluate(&ctx(), now()));
        assert!(or.evaluate(&ctx(), now()));
    }

    #[test]
    fn refuses_what_cannot_be_evaluated() {
        for (rule, code) in [
            (
                json!({"field": "customer.shoeSize", "op": "eq", "value": 1}),
                code::UNKNOWN_FIELD,
            ),
            (
                json!({"field": "customer.email", "op": "like", "value": "a"}),
                code::UNKNOWN_OPERATOR,
            ),
            (
                json!({"field": "customer.email", "op": "gt", "value": "a"}),
                code::INVALID_DATA,
            ),
            (
                json!({"field": "customer.tags", "op": "eq", "value": "a"}),
                code::INVALID_DATA,
            ),
            (
                json!({"field": "customer.ltvTotal", "op": "gt", "value": "lots"}),
                code::INVALID_DATA,
            ),
            (
                json!({"field": "customer.ltvTotal", "op": "contains", "value": "1"}),
                code::INVALID_DATA,
            ),
            (
                json!({"field": "customer.createdAt", "op": "gt", "value": "yesterday"}),
                code::INVALID_DATA,
            ),
            (
                json!({"field": "customer.createdAt", "op": "in", "value": []}),
                code::INVALID_DATA,
            ),
            (
                json!({"field": "customer.segment", "op": "in", "value": "vip"}),
                code::INVALID_DATA,
            ),
            (
                json!({"field": "customer.segment", "op": "eq"}),
                code::INVALID_DATA,
            ),
            (
                json!({"field": "customer.segment", "op": "eq", "value": {"a": 1}}),
                code::INVALID_DATA,
            ),
            (json!({"op": "eq", "value": "a"}), code::INVALID_DATA),
            (
                json!({"field": "enrollment.purchasedAt", "op": "olderThanDays", "value": -1}),
                code::INVALID_DATA,
            ),
            (
                json!({"field": "enrollment.purchasedAt", "op": "withinDays", "value": 1.5}),
                code::INVALID_DATA,
            ),
            (
                json!({"field": "enrollment.purchasedAt", "op": "withinDays", "value": 36501}),
                code::INVALID_DATA,
            ),
            (
                json!({"field": "enrollment.purchasedAt", "op": "withinDays"}),
                code::INVALID_DATA,
            ),
            (
                json!({"field": "customer.ltvTotal", "op": "olderThanDays", "value": 3}),
                code::INVALID_DATA,
            ),
            (json!("customer.segment eq a"), code::INVALID_DATA),
        ] {
            let error = Rule::parse(0, &rule).expect_err(&rule.to_string());
            assert_eq!(error.code, code, "{rule}: {}", error.message);
        }
    }
}
