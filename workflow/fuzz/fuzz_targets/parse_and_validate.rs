//! Arbitrary bytes → JSON → graph → validation, then every node stepped:
//! nothing on this path may panic, whatever the builder (or an attacker)
//! sends as `workflowData`.

#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;
use workflow::{
    CompiledGraph, Graph, RecipientContext, StepInput, TemplateCatalog, ValidationContext, validate,
};

fuzz_target!(|data: &[u8]| {
    let Ok(document) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(graph) = Graph::from_value(&document) else {
        return;
    };
    let catalog = TemplateCatalog::default();
    let _ = validate(&graph, &ValidationContext::new(&catalog));

    let compiled = CompiledGraph::new(&graph);
    let ctx = RecipientContext::new(Uuid::nil(), chrono_tz::UTC);
    let now = Utc.with_ymd_and_hms(2025, 6, 10, 12, 0, 0).unwrap();
    for node in &graph.nodes {
        let _ = compiled.step(&node.id, &ctx, StepInput::Enter, now);
    }
});
