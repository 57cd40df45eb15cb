//! The nodes that start and hold a journey: `trigger`, `delay`, `waitForEvent`.

use super::*;

// ---- trigger ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerSource {
    /// A target group, chosen in the data or when the campaign is run.
    Segment,
    /// A domain event (e.g. `purchase_approved`) starts it per customer.
    Event,
    Manual,
    /// A cron expression starts it.
    Schedule,
}

/// Whether a customer who already went through the campaign may enter again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reentry {
    Never,
    Always,
    /// Again once this long has passed since the last entry.
    After(IsoDuration),
    /// `perKey`: once per key of the starting event (its purchase, else its
    /// subscription, else its product; see [`crate::events::EventKey::identity`]),
    /// so a customer who buys two products goes through twice, side by side.
    PerKey,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TriggerData {
    pub source: TriggerSource,
    pub target_group_id: Option<String>,
    pub event: Option<String>,
    pub cron: Option<String>,
    /// `never` when absent.
    pub reentry: Reentry,
    /// `productIds`: an event trigger starts only for events about one of
    /// these jornada products (any product when empty).
    pub product_ids: Vec<Uuid>,
    /// `offerCodes`: likewise, for Hotmart offer codes.
    pub offer_codes: Vec<String>,
}

impl TriggerData {
    pub(super) fn parse(data: &Value) -> Result<Self, NodeDataError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            source: TriggerSource,
            target_group_id: Option<String>,
            event: Option<String>,
            cron: Option<String>,
            reentry: Option<String>,
            #[serde(default)]
            product_ids: Vec<String>,
            #[serde(default)]
            offer_codes: Vec<String>,
        }
        let raw: Raw = shape(data)?;
        let reentry = match raw.reentry.as_deref() {
            None | Some("never") => Reentry::Never,
            Some("always") => Reentry::Always,
            Some("perKey") => Reentry::PerKey,
            Some(other) => Reentry::After(positive(
                "reentry",
                other.parse().map_err(|_| {
                    NodeDataError::invalid(format!(
                        "reentry must be never, always, perKey or an ISO-8601 duration such as P30D, not {other:?}"
                    ))
                })?,
            )?),
        };
        let product_ids = raw
            .product_ids
            .iter()
            .map(|id| {
                id.trim().parse::<Uuid>().map_err(|_| {
                    NodeDataError::invalid(format!(
                        "productIds holds jornada product ids, not {id:?}"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        if raw.offer_codes.iter().any(|code| code.trim().is_empty()) {
            return Err(NodeDataError::invalid("offerCodes has an empty entry"));
        }
        let data = Self {
            source: raw.source,
            target_group_id: non_empty("targetGroupId", raw.target_group_id)?,
            event: non_empty("event", raw.event)?,
            cron: non_empty("cron", raw.cron)?,
            reentry,
            product_ids,
            offer_codes: raw
                .offer_codes
                .iter()
                .map(|c| c.trim().to_owned())
                .collect(),
        };
        match data.source {
            TriggerSource::Event if data.event.is_none() => {
                Err(NodeDataError::invalid("an event trigger needs event"))
            }
            TriggerSource::Schedule if data.cron.is_none() => {
                Err(NodeDataError::invalid("a schedule trigger needs cron"))
            }
            _ => {
                if let Some(expr) = &data.cron {
                    expr.parse::<crate::schedule::CronSchedule>()
                        .map_err(NodeDataError::invalid)?;
                }
                Ok(data)
            }
        }
    }
}

impl TriggerData {
    pub(super) fn spec() -> NodeTypeSpec {
        NodeTypeSpec::new(
            NodeType::Trigger,
            "Starts the journey: for a target group, on a domain event, by hand or on a schedule.",
            serde_json::json!({"source": "manual"}),
        )
        .field(
            FieldSpec::new("source", FieldType::Choice, "What starts the journey.")
                .required()
                .allowed(["segment", "event", "manual", "schedule"]),
        )
        .field(FieldSpec::new(
            "targetGroupId",
            FieldType::Id,
            "The target group a segment or schedule trigger starts for (a segment trigger may leave it to the run).",
        ))
        .field(
            FieldSpec::new("event", FieldType::Event, "The domain event an event trigger starts on; needed when source is event.")
                .allowed(event_names()),
        )
        .field(FieldSpec::new(
            "cron",
            FieldType::Cron,
            "When a schedule trigger fires, seconds first, in the workspace's time zone (e.g. `0 0 9 * * MON`); needed when source is schedule.",
        ))
        .field(
            FieldSpec::new(
                "reentry",
                FieldType::Text,
                "Whether a customer who went through the journey may enter again: never, always, perKey (once per purchase, subscription or product of the starting event), or an ISO-8601 duration after the last entry (e.g. P30D).",
            )
            .default("never".into()),
        )
        .field(FieldSpec::new(
            "productIds",
            FieldType::TextList,
            "An event trigger starts only on events about these products (jornada product ids).",
        ))
        .field(FieldSpec::new(
            "offerCodes",
            FieldType::TextList,
            "An event trigger starts only on purchases of these Hotmart offers.",
        ))
    }
}

// ---- delay ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelayData {
    /// `{"duration": "PT2H"}`
    For(IsoDuration),
    /// `{"until": "09:00"}`: the next time the workspace's clock shows it.
    Until(NaiveTime),
}

impl DelayData {
    pub(super) fn parse(data: &Value) -> Result<Self, NodeDataError> {
        #[derive(Deserialize)]
        struct Raw {
            duration: Option<IsoDuration>,
            until: Option<String>,
        }
        let raw: Raw = shape(data)?;
        match (raw.duration, raw.until) {
            (Some(duration), None) => Ok(Self::For(positive("duration", duration)?)),
            (None, Some(until)) => parse_time_of_day(&until).map(Self::Until).ok_or_else(|| {
                NodeDataError::invalid(format!("until must be a time of day HH:MM, not {until:?}"))
            }),
            (Some(_), Some(_)) => Err(NodeDataError::invalid(
                "a delay has either duration or until, not both",
            )),
            (None, None) => Err(NodeDataError::invalid("a delay needs duration or until")),
        }
    }
}

impl DelayData {
    pub(super) fn spec() -> NodeTypeSpec {
        NodeTypeSpec::new(
            NodeType::Delay,
            "Holds the recipient for a while, or until a time of day; one of duration or until.",
            serde_json::json!({"duration": "P1D"}),
        )
        .field(FieldSpec::new(
            "duration",
            FieldType::Duration,
            "How long to wait, e.g. PT2H or P2D.",
        ))
        .field(FieldSpec::new(
            "until",
            FieldType::TimeOfDay,
            "Wait until the workspace's clock next shows this time, e.g. 09:00.",
        ))
    }
}

// ---- waitForEvent ----

#[derive(Debug, Clone, PartialEq)]
pub struct WaitForEventData {
    pub event: String,
    pub timeout: IsoDuration,
    /// `match`: wake only on an event about the same transaction, product
    /// or subscription as the event that started the journey (any event of
    /// that name when absent).
    pub matching: Option<KeyPart>,
}

impl WaitForEventData {
    pub(super) fn parse(data: &Value) -> Result<Self, NodeDataError> {
        #[derive(Deserialize)]
        struct Raw {
            event: String,
            timeout: IsoDuration,
            #[serde(rename = "match")]
            matching: Option<String>,
        }
        let raw: Raw = shape(data)?;
        let matching = match raw.matching.as_deref() {
            None => None,
            Some(name) => Some(KeyPart::parse_match(name).ok_or_else(|| {
                NodeDataError::invalid(format!(
                    "match must be transaction, product or subscription, not {name:?}"
                ))
            })?),
        };
        Ok(Self {
            event: non_empty("event", Some(raw.event))?.unwrap_or_default(),
            timeout: positive("timeout", raw.timeout)?,
            matching,
        })
    }
}

impl WaitForEventData {
    pub(super) fn spec() -> NodeTypeSpec {
        NodeTypeSpec::new(
            NodeType::WaitForEvent,
            "Holds the recipient until a domain event about them, or the timeout.",
            serde_json::json!({"event": "first_access", "timeout": "P3D"}),
        )
        .field(
            FieldSpec::new(
                "event",
                FieldType::Event,
                "The domain event that goes on by the event handle.",
            )
            .required()
            .allowed(event_names()),
        )
        .field(
            FieldSpec::new(
                "timeout",
                FieldType::Duration,
                "How long to wait before going on by the timeout handle.",
            )
            .required(),
        )
        .field(
            FieldSpec::new(
                "match",
                FieldType::Choice,
                "Wake only on an event about the same transaction, product or subscription as the event that started the journey.",
            )
            .allowed(KeyPart::MATCHABLE.iter().map(|p| p.as_str())),
        )
    }
}
