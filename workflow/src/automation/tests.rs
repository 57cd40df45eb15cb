use serde_json::json;

use super::*;

fn rule<'a>(
    trigger: &'a str,
    mode: Mode,
    params: &'a Value,
    actions: &'a Value,
    schedule: Option<&'a str>,
) -> StoredRule<'a> {
    StoredRule {
        trigger,
        mode,
        params,
        conditions: &Value::Null,
        actions,
        schedule,
    }
}

fn welcome_actions() -> Value {
    json!([{"type": "SEND_MESSAGE", "channel": "whatsapp", "templateName": "boas_vindas", "language": "pt_BR", "variables": {"1": "{{customer.first_name}}"}}])
}

#[test]
fn a_transactional_rule_may_send_on_its_own() {
    let actions = welcome_actions();
    let spec = parse_rule(rule(
        "PURCHASE_APPROVED",
        Mode::Automatic,
        &Value::Null,
        &actions,
        None,
    ))
    .unwrap();
    assert_eq!(spec.trigger, Trigger::PurchaseApproved);
    let message = spec.message().unwrap();
    assert_eq!(
        message.variables,
        vec![("1".to_owned(), "{{customer.first_name}}".to_owned())]
    );
}

#[test]
fn automatic_is_refused_for_a_scan_and_names_the_trigger() {
    let actions = welcome_actions();
    let errors = parse_rule(rule(
        "ACCESS_MISSING",
        Mode::Automatic,
        &json!({"hours": 24}),
        &actions,
        Some("0 0 9 * * *"),
    ))
    .unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "mode");
    assert!(
        errors[0].message.contains("ACCESS_MISSING"),
        "{}",
        errors[0].message
    );
}

#[test]
fn scans_need_a_schedule_and_events_take_none() {
    let actions = welcome_actions();
    let errors = parse_rule(rule(
        "PROGRESS_STALLED",
        Mode::SuggestOnly,
        &Value::Null,
        &actions,
        None,
    ))
    .unwrap_err();
    assert_eq!(errors[0].field, "schedule");
    let errors = parse_rule(rule(
        "CART_ABANDONED",
        Mode::SuggestOnly,
        &Value::Null,
        &actions,
        Some("0 0 9 * * *"),
    ))
    .unwrap_err();
    assert_eq!(errors[0].field, "schedule");
    let errors = parse_rule(rule(
        "REFUND_RISK",
        Mode::SuggestOnly,
        &Value::Null,
        &actions,
        Some("every day"),
    ))
    .unwrap_err();
    assert_eq!(errors[0].field, "schedule");
}

#[test]
fn scan_parameters_get_their_defaults_and_are_checked() {
    let actions = welcome_actions();
    let spec = parse_rule(rule(
        "REFUND_RISK",
        Mode::SuggestOnly,
        &json!({"days": 3}),
        &actions,
        Some("0 0 10 * * *"),
    ))
    .unwrap();
    assert_eq!(spec.param("days"), 3);
    assert_eq!(spec.param("maxProgress"), 20);
    let errors = parse_rule(rule(
        "REFUND_RISK",
        Mode::SuggestOnly,
        &json!({"maxProgress": 120, "weeks": 1}),
        &actions,
        Some("0 0 10 * * *"),
    ))
    .unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["params.weeks", "params.maxProgress"]);
}

#[test]
fn actions_are_read_like_the_nodes_they_mirror() {
    let actions = json!([
        {"type": "SEND_MESSAGE", "channel": "pigeon"},
        {"type": "ADD_TAGS", "tags": []},
        {"type": "CHATWOOT_LABELS", "labels": ["modulo-concluido"]},
        {"type": "START_CAMPAIGN"},
        {"type": "DANCE"}
    ]);
    let errors = parse_rule(rule(
        "MODULE_COMPLETED",
        Mode::Automatic,
        &Value::Null,
        &actions,
        None,
    ))
    .unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["actions[0]", "actions[1]", "actions[3]", "actions[4]"]
    );
}

#[test]
fn a_suggestion_needs_a_message() {
    let actions = json!([{"type": "ADD_TAGS", "tags": ["vip"]}]);
    let errors = parse_rule(rule(
        "CART_ABANDONED",
        Mode::SuggestOnly,
        &Value::Null,
        &actions,
        None,
    ))
    .unwrap_err();
    assert_eq!(errors[0].field, "actions");
    assert!(
        parse_rule(rule(
            "FIRST_ACCESS",
            Mode::Automatic,
            &Value::Null,
            &actions,
            None
        ))
        .is_ok()
    );
}

#[test]
fn conditions_are_the_condition_node() {
    let actions = welcome_actions();
    let conditions = json!({"combinator": "and", "rules": [{"field": "customer.tags", "op": "contains", "value": "vip"}]});
    let stored = StoredRule {
        conditions: &conditions,
        ..rule(
            "PURCHASE_APPROVED",
            Mode::Automatic,
            &Value::Null,
            &actions,
            None,
        )
    };
    assert_eq!(
        parse_rule(stored).unwrap().conditions.unwrap().rules.len(),
        1
    );
    let bad = json!({"rules": [{"field": "customer.shoe_size", "op": "eq", "value": 1}]});
    let stored = StoredRule {
        conditions: &bad,
        ..rule(
            "PURCHASE_APPROVED",
            Mode::Automatic,
            &Value::Null,
            &actions,
            None,
        )
    };
    assert_eq!(parse_rule(stored).unwrap_err()[0].field, "conditions");
}

#[test]
fn reasons_read_as_a_cs_person_speaks() {
    let facts = ReasonFacts {
        product: Some("Curso de Excel"),
        hours_since_purchase: Some(75),
        ..ReasonFacts::default()
    };
    assert_eq!(
        reason(Trigger::AccessMissing, &facts),
        "Comprou Curso de Excel há 3 dias e ainda não acessou o curso"
    );
    let facts = ReasonFacts {
        product: Some("Curso de Excel"),
        hours_since_purchase: Some(25),
        ..ReasonFacts::default()
    };
    assert_eq!(
        reason(Trigger::AccessMissing, &facts),
        "Comprou Curso de Excel há 25 horas e ainda não acessou o curso"
    );
    let facts = ReasonFacts {
        product: Some("Curso de Excel"),
        module: Some("Módulo 2"),
        days_stalled: Some(9),
        progress: Some("42.50"),
        ..ReasonFacts::default()
    };
    assert_eq!(
        reason(Trigger::ProgressStalled, &facts),
        "Sem concluir aulas há 9 dias, parado no módulo Módulo 2 (42,5 % de Curso de Excel)"
    );
}

#[test]
fn every_event_trigger_names_a_catalogued_event() {
    for trigger in Trigger::ALL {
        assert_eq!(Trigger::parse(trigger.as_str()), Some(trigger));
        if let Some(event) = trigger.event() {
            assert_eq!(Trigger::for_event(event.as_str()), Some(trigger));
        }
    }
}
