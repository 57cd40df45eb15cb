//! The introspection query every standard client sends (graphql-js's
//! `getIntrospectionQuery()`, kept verbatim in `fixtures/`) runs for every
//! role, and describes exactly the schema in `schema.graphql`.

use std::collections::BTreeSet;

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::on_both_backends;

/// graphql-js 16.15.0, `getIntrospectionQuery()` with its default options.
const DEFAULT: &str = include_str!("fixtures/introspection_default.graphql");
/// The same with descriptions, `specifiedByUrl`, `directiveIsRepeatable`,
/// `schemaDescription` and `inputValueDeprecation`.
const FULL: &str = include_str!("fixtures/introspection_full.graphql");

const BUILT_IN_SCALARS: [&str; 5] = ["String", "Int", "Float", "Boolean", "ID"];

/// A type reference as SDL writes it: `[Customer!]!`.
fn type_ref(reference: &Value) -> String {
    match reference["kind"].as_str() {
        Some("NON_NULL") => format!("{}!", type_ref(&reference["ofType"])),
        Some("LIST") => format!("[{}]", type_ref(&reference["ofType"])),
        _ => reference["name"].as_str().unwrap_or("?").to_owned(),
    }
}

/// One line per type, field, argument, input field, enum value and union
/// member, from an introspection answer.
fn described_by_introspection(schema: &Value) -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    for ty in schema["types"].as_array().expect("types") {
        let name = ty["name"].as_str().expect("a type name");
        if name.starts_with("__") || BUILT_IN_SCALARS.contains(&name) {
            continue;
        }
        lines.insert(format!("{} {name}", ty["kind"].as_str().unwrap_or("?")));
        for field in ty["fields"].as_array().into_iter().flatten() {
            let field_name = field["name"].as_str().unwrap_or("?");
            lines.insert(format!("{name}.{field_name}: {}", type_ref(&field["type"])));
            for arg in field["args"].as_array().into_iter().flatten() {
                lines.insert(format!(
                    "{name}.{field_name}({}: {})",
                    arg["name"].as_str().unwrap_or("?"),
                    type_ref(&arg["type"])
                ));
            }
        }
        for input in ty["inputFields"].as_array().into_iter().flatten() {
            lines.insert(format!(
                "{name}.{}: {}",
                input["name"].as_str().unwrap_or("?"),
                type_ref(&input["type"])
            ));
        }
        for value in ty["enumValues"].as_array().into_iter().flatten() {
            lines.insert(format!(
                "{name} = {}",
                value["name"].as_str().unwrap_or("?")
            ));
        }
        for member in ty["possibleTypes"].as_array().into_iter().flatten() {
            if ty["kind"] == "UNION" {
                lines.insert(format!(
                    "{name} | {}",
                    member["name"].as_str().unwrap_or("?")
                ));
            }
        }
    }
    lines
}

/// The same lines from the checked-in SDL.
fn described_by_sdl() -> BTreeSet<String> {
    let sdl = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql is checked in");
    let document = parse_schema(&sdl).expect("schema.graphql parses");
    let mut lines = BTreeSet::new();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(ty) = definition else {
            continue;
        };
        let name = ty.node.name.node.to_string();
        let (kind, fields) = match &ty.node.kind {
            TypeKind::Scalar => ("SCALAR", None),
            TypeKind::Object(object) => ("OBJECT", Some(&object.fields)),
            TypeKind::Interface(interface) => ("INTERFACE", Some(&interface.fields)),
            TypeKind::Union(union) => {
                for member in &union.members {
                    lines.insert(format!("{name} | {}", member.node));
                }
                ("UNION", None)
            }
            TypeKind::Enum(values) => {
                for value in &values.values {
                    lines.insert(format!("{name} = {}", value.node.value.node));
                }
                ("ENUM", None)
            }
            TypeKind::InputObject(input) => {
                for field in &input.fields {
                    lines.insert(format!(
                        "{name}.{}: {}",
                        field.node.name.node, field.node.ty.node
                    ));
                }
                ("INPUT_OBJECT", None)
            }
        };
        lines.insert(format!("{kind} {name}"));
        for field in fields.into_iter().flatten() {
            let field_name = &field.node.name.node;
            lines.insert(format!("{name}.{field_name}: {}", field.node.ty.node));
            for arg in &field.node.arguments {
                lines.insert(format!(
                    "{name}.{field_name}({}: {})",
                    arg.node.name.node, arg.node.ty.node
                ));
            }
        }
    }
    lines
}

async fn standard_clients_read_the_schema_whatever_their_role(app: TestApp) {
    let ws = app.create_workspace("introspeccao").await;
    let tokens = [
        ("anon", None),
        ("read-only agent", Some(app.reader_token(ws))),
        ("agent", Some(app.agent_token(ws))),
        ("service_role", Some(app.service_token())),
    ];
    let expected = described_by_sdl();
    for (role, token) in &tokens {
        for (fixture, query) in [("default", DEFAULT), ("full", FULL)] {
            let answer = app
                .post_graphql(
                    token.as_deref(),
                    json!({"query": query, "operationName": "IntrospectionQuery"}),
                )
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{role}, {fixture}");
            let schema = answer.data("__schema");
            assert_eq!(schema["queryType"]["name"], "Query", "{role}, {fixture}");
            assert_eq!(
                schema["mutationType"]["name"], "Mutation",
                "{role}, {fixture}"
            );
            let described = described_by_introspection(schema);
            let missing: Vec<_> = expected.difference(&described).collect();
            let extra: Vec<_> = described.difference(&expected).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{role}, {fixture}: introspection and schema.graphql differ\nonly in schema.graphql: {missing:?}\nonly in introspection: {extra:?}"
            );
        }
    }
    // The depth bound still holds outside introspection.
    let deep = format!("{{ {}id{} }}", "customers { ".repeat(10), " }".repeat(10));
    let answer = app
        .graphql(Some(&app.agent_token(ws)), &deep, json!({}))
        .await;
    assert_eq!(
        answer.error_code(),
        Some("INVALID_INPUT"),
        "{}",
        answer.body
    );
    let message = answer.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("more than 10 deep"), "{message}");
}
on_both_backends!(
    standard_clients_read_the_schema_whatever_their_role,
    standard_clients_read_the_schema_whatever_their_role
);
