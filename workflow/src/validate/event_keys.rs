//! Checks of what reads the key of the event that started a journey: a
//! trigger's `productIds` / `offerCodes` and `perKey` re-entry, a
//! `waitForEvent`'s `match`.

use crate::events::{DomainEventType, KeyPart};
use crate::graph::{Graph, Node};
use crate::nodes::{NodeData, Reentry, TriggerSource};

use super::{ValidationContext, ValidationError, code};

/// What reads the key of the event that started the journey (a trigger's
/// filters and per-key re-entry, a `waitForEvent`'s `match`) needs an event
/// trigger whose event carries that key, and the product ids must be the
/// workspace's.
pub(super) fn check(
    graph: &Graph,
    data: &[Option<NodeData>],
    ctx: &ValidationContext<'_>,
    errors: &mut Vec<ValidationError>,
) {
    let Some((trigger_node, trigger)) =
        graph
            .nodes
            .iter()
            .zip(data)
            .find_map(|(node, data)| match data {
                Some(NodeData::Trigger(trigger)) => Some((node, trigger)),
                _ => None,
            })
    else {
        return;
    };
    if let Some(products) = ctx.products {
        for id in trigger
            .product_ids
            .iter()
            .filter(|id| !products.exists(**id))
        {
            errors.push(ValidationError::node(
                trigger_node,
                code::UNKNOWN_PRODUCT,
                format!("productIds: the workspace has no product {id}"),
            ));
        }
    }
    let waits = graph
        .nodes
        .iter()
        .zip(data)
        .filter_map(|(node, data)| match data {
            Some(NodeData::WaitForEvent(wait)) => wait.matching.map(|part| (node, wait, part)),
            _ => None,
        });
    if trigger.source != TriggerSource::Event {
        let mut needs = |node: &Node, what: &str| {
            errors.push(ValidationError::node(
                node,
                code::NEEDS_EVENT_TRIGGER,
                format!(
                    "{what}, and this journey is not started by an event (trigger source {})",
                    source_name(trigger.source)
                ),
            ))
        };
        if !trigger.product_ids.is_empty() || !trigger.offer_codes.is_empty() {
            needs(
                trigger_node,
                "productIds and offerCodes choose the events that start the journey",
            );
        }
        if trigger.reentry == Reentry::PerKey {
            needs(
                trigger_node,
                "perKey re-entry counts entries by the key of the event that started them",
            );
        }
        for (node, _, _) in waits {
            needs(
                node,
                "match compares the awaited event with the event that started the journey",
            );
        }
        return;
    }
    // An unknown event is reported as such.
    let Some(started_by) = trigger.event.as_deref().and_then(DomainEventType::parse) else {
        return;
    };
    let mut missing = |node: &Node, event: DomainEventType, part: KeyPart, field: &str| {
        errors.push(ValidationError::node(
            node,
            code::EVENT_KEY_MISSING,
            format!(
                "{field}: {event} events carry no {} to compare",
                part.as_str()
            ),
        ))
    };
    if !trigger.product_ids.is_empty() && !started_by.carries(KeyPart::Product) {
        missing(trigger_node, started_by, KeyPart::Product, "productIds");
    }
    if !trigger.offer_codes.is_empty() && !started_by.carries(KeyPart::Offer) {
        missing(trigger_node, started_by, KeyPart::Offer, "offerCodes");
    }
    for (node, wait, part) in waits {
        if !started_by.carries(part) {
            missing(node, started_by, part, "match (the trigger's event)");
        }
        if let Some(awaited) = DomainEventType::parse(&wait.event)
            && !awaited.carries(part)
        {
            missing(node, awaited, part, "match (the awaited event)");
        }
    }
}

fn source_name(source: TriggerSource) -> &'static str {
    match source {
        TriggerSource::Segment => "segment",
        TriggerSource::Event => "event",
        TriggerSource::Manual => "manual",
        TriggerSource::Schedule => "schedule",
    }
}
