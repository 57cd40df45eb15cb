//! The envelope the receiver checks: stable error codes, defaults and leniency.

use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;

#[test]
fn envelope_errors_have_stable_codes() {
    let code = |body: &[u8]| parse_envelope(body).unwrap_err().code();
    assert_eq!(code(b"{\"id\": \"a\", "), "malformed_json");
    assert_eq!(code(b""), "malformed_json");
    assert_eq!(code(b"[1, 2]"), "not_an_object");
    assert_eq!(code(br#"{"event": "PURCHASE_APPROVED"}"#), "missing_id");
    assert_eq!(
        code(br#"{"id": " ", "event": "PURCHASE_APPROVED"}"#),
        "missing_id"
    );
    assert_eq!(code(br#"{"id": "a", "event": ""}"#), "missing_event");
    assert_eq!(code(br#"{"id": "a"}"#), "missing_event");
    assert_eq!(code(br#"{"id": {"x": 1}, "event": "E"}"#), "invalid_id");
    assert_eq!(code(br#"{"id": 1.5, "event": "E"}"#), "invalid_id");
    assert_eq!(code(br#"{"id": "a", "event": 7}"#), "invalid_event");
    assert_eq!(
        code(br#"{"id": "a", "event": "E", "data": [1]}"#),
        "invalid_data"
    );
    let long_id = format!(r#"{{"id": "{}", "event": "E"}}"#, "x".repeat(129));
    assert_eq!(code(long_id.as_bytes()), "invalid_id");
    let long_event = format!(r#"{{"id": "a", "event": "{}"}}"#, "E".repeat(65));
    assert_eq!(code(long_event.as_bytes()), "invalid_event");

    let deep = format!(
        r#"{{"id": "a", "event": "E", "data": {}{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let err = parse_envelope(deep.as_bytes()).unwrap_err();
    assert_eq!(err.code(), "too_deep");
    assert!(err.to_string().contains("64"));

    // Brackets inside strings do not count, and 64 levels are fine.
    let ok = format!(
        r#"{{"id": "a", "event": "E", "data": {{"s": "{}", "n": {}{}}}}}"#,
        "[".repeat(200),
        "[".repeat(62),
        "]".repeat(62)
    );
    assert!(parse_envelope(ok.as_bytes()).is_ok());

    let err = parse_envelope(br#"{"id": "secret-value", "event": {"a": 1}}"#).unwrap_err();
    assert!(!err.to_string().contains("secret"));
}

#[test]
fn envelope_defaults_and_leniency() {
    let env = parse_envelope(b"\xEF\xBB\xBF{\"id\": \" abc \", \"event\": \" switch_plan \", \"data\": null, \"version\": 2}").unwrap();
    assert_eq!(env.id, "abc");
    assert_eq!(env.event, "SWITCH_PLAN");
    assert_eq!(env.data, json!({}));
    assert_eq!(env.version.as_deref(), Some("2"));
    assert_eq!(env.creation_date, None);
    assert_eq!(env.hottok, None);

    let env = envelope(json!({"id": "a", "event": "E", "creation_date": "2024-05-31T13:00:00Z"}));
    assert_eq!(
        env.creation_date,
        Some(Utc.with_ymd_and_hms(2024, 5, 31, 13, 0, 0).unwrap())
    );
}
