//! What each node type's `data` holds, described for the React builder: its
//! palette and forms are generated from [`node_types`], not copied by hand.
//!
//! Each node's description sits beside its data struct and parser in
//! [`super`], so a field added to a parser is added to its spec in the same
//! place; the tests check that every type has one, that its example parses
//! and that every field it calls required is refused when missing.

use serde_json::Value;

use super::NodeType;

/// How a field's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Free text.
    Text,
    /// Text that may hold `{{variables}}` (see [`crate::template`]).
    Template,
    /// One of `allowed`.
    Choice,
    Boolean,
    Number,
    /// An ISO-8601 duration, e.g. `P2D`, `PT2H`.
    Duration,
    /// A local time of day, `HH:MM`.
    TimeOfDay,
    /// A cron expression, seconds first, in the workspace's time zone.
    Cron,
    /// A domain event name (`allowed` lists them).
    Event,
    /// The id of a jornada record (a target group, a template).
    Id,
    /// An `http://` or `https://` URL, which may hold `{{variables}}`.
    Url,
    /// A list of texts.
    TextList,
    /// An object whose values are templates, keyed as the description says.
    TemplateMap,
    /// A list of objects, each with the nested `fields`.
    ObjectList,
    /// An object whose keys the description lists.
    Object,
    /// Any JSON value.
    Json,
}

/// One key of a node's `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    /// The key, as the builder writes it (camelCase).
    pub name: &'static str,
    pub field_type: FieldType,
    /// Whether a node without it is refused. Fields needed only in some
    /// combinations (an event trigger's `event`) are not required; their
    /// description says when they are needed.
    pub required: bool,
    /// The values accepted, when there is a fixed list.
    pub allowed: Vec<String>,
    /// What an absent field means.
    pub default: Option<Value>,
    pub description: &'static str,
    /// The keys of each entry of an [`FieldType::ObjectList`].
    pub fields: Vec<FieldSpec>,
}

impl FieldSpec {
    pub fn new(name: &'static str, field_type: FieldType, description: &'static str) -> Self {
        FieldSpec {
            name,
            field_type,
            required: false,
            allowed: Vec::new(),
            default: None,
            description,
            fields: Vec::new(),
        }
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn allowed<S: ToString>(mut self, values: impl IntoIterator<Item = S>) -> Self {
        self.allowed = values.into_iter().map(|v| v.to_string()).collect();
        self
    }

    pub fn default(mut self, value: Value) -> Self {
        self.default = Some(value);
        self
    }

    pub fn fields(mut self, fields: Vec<FieldSpec>) -> Self {
        self.fields = fields;
        self
    }
}

/// A node's ways out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandleSpec {
    /// The same handles on every node of the type.
    Fixed(&'static [&'static str]),
    /// One handle per entry of a list field, named by a key of the entry
    /// (`split`: `branches`, `id`).
    FromField {
        field: &'static str,
        key: &'static str,
    },
}

/// A node type of the workflow contract.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeTypeSpec {
    pub node_type: NodeType,
    pub description: &'static str,
    pub fields: Vec<FieldSpec>,
    pub handles: HandleSpec,
    /// A `data` the node's parser accepts: what a new node starts with.
    pub example: Value,
}

impl NodeTypeSpec {
    /// A spec whose handles are the type's fixed ones.
    pub fn new(node_type: NodeType, description: &'static str, example: Value) -> Self {
        NodeTypeSpec {
            node_type,
            description,
            fields: Vec::new(),
            handles: node_type
                .fixed_handles()
                .map_or(HandleSpec::Fixed(&[]), HandleSpec::Fixed),
            example,
        }
    }

    pub fn field(mut self, field: FieldSpec) -> Self {
        self.fields.push(field);
        self
    }

    pub fn handles_from(mut self, field: &'static str, key: &'static str) -> Self {
        self.handles = HandleSpec::FromField { field, key };
        self
    }
}

impl NodeType {
    /// What this type's `data` holds.
    pub fn spec(self) -> NodeTypeSpec {
        use super::*;
        match self {
            Self::Trigger => TriggerData::spec(),
            Self::Delay => DelayData::spec(),
            Self::WaitForEvent => WaitForEventData::spec(),
            Self::Condition => condition_spec(),
            Self::Split => SplitData::spec(),
            Self::SendMessage => SendMessageData::spec(),
            Self::Approval => ApprovalData::spec(),
            Self::UpdateCustomer => UpdateCustomerData::spec(),
            Self::Webhook => WebhookData::spec(),
            Self::Exit => ExitData::spec(),
        }
    }
}

/// Every node type of the contract, in palette order.
pub fn node_types() -> Vec<NodeTypeSpec> {
    NodeType::ALL.into_iter().map(NodeType::spec).collect()
}

/// The names of the domain events triggers, waits and goals may name.
pub(super) fn event_names() -> Vec<&'static str> {
    crate::DomainEventType::ALL
        .iter()
        .map(|e| e.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::NodeData;

    #[test]
    fn every_node_type_has_a_spec_whose_example_parses() {
        let specs = node_types();
        assert_eq!(specs.len(), NodeType::ALL.len());
        for spec in specs {
            let t = spec.node_type;
            NodeData::parse(t, &spec.example)
                .unwrap_or_else(|e| panic!("{}: example {} refused: {e}", t.name(), spec.example));
            let example = spec.example.as_object().expect("examples are objects");
            for key in example.keys() {
                assert!(
                    spec.fields.iter().any(|f| f.name == key),
                    "{}: the example's {key} is not described",
                    t.name()
                );
            }
            let mut names: Vec<_> = spec.fields.iter().map(|f| f.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(
                names.len(),
                spec.fields.len(),
                "{}: a field twice",
                t.name()
            );
        }
    }

    #[test]
    fn every_required_field_is_refused_when_missing() {
        for spec in node_types() {
            let t = spec.node_type;
            for field in spec.fields.iter().filter(|f| f.required) {
                let mut data = spec.example.clone();
                let removed = data
                    .as_object_mut()
                    .and_then(|o| o.remove(field.name))
                    .is_some();
                assert!(
                    removed,
                    "{}: the example lacks required {}",
                    t.name(),
                    field.name
                );
                assert!(
                    NodeData::parse(t, &data).is_err(),
                    "{}: accepted without required {}",
                    t.name(),
                    field.name
                );
            }
            // Required keys of list entries, in the example's first entry.
            for list in spec
                .fields
                .iter()
                .filter(|f| f.field_type == FieldType::ObjectList)
            {
                for field in list.fields.iter().filter(|f| f.required) {
                    let mut data = spec.example.clone();
                    let removed = data[list.name][0]
                        .as_object_mut()
                        .and_then(|o| o.remove(field.name))
                        .is_some();
                    assert!(
                        removed,
                        "{}: {}[0] lacks {}",
                        t.name(),
                        list.name,
                        field.name
                    );
                    assert!(
                        NodeData::parse(t, &data).is_err(),
                        "{}: accepted {}[0] without {}",
                        t.name(),
                        list.name,
                        field.name
                    );
                }
            }
        }
    }

    #[test]
    fn allowed_values_and_defaults_are_accepted() {
        for spec in node_types() {
            let t = spec.node_type;
            for field in &spec.fields {
                let candidates = field.allowed.iter().map(|v| Value::from(v.as_str()));
                for value in candidates.chain(field.default.clone()) {
                    let mut data = spec.example.clone();
                    data[field.name] = value.clone();
                    // A value may need another field (an event trigger its
                    // event): only the value itself must not be the refusal.
                    if let Err(e) = NodeData::parse(t, &data) {
                        assert!(
                            !e.message.contains("unknown variant")
                                && !e.message.contains(field.name),
                            "{}: {} = {value} refused: {e}",
                            t.name(),
                            field.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn handles_follow_the_node_types() {
        for spec in node_types() {
            match spec.handles {
                HandleSpec::Fixed(handles) => {
                    assert_eq!(Some(handles), spec.node_type.fixed_handles());
                }
                HandleSpec::FromField { field, key } => {
                    assert_eq!(spec.node_type.fixed_handles(), None);
                    let data = NodeData::parse(spec.node_type, &spec.example).expect("parses");
                    let from_example: Vec<&str> = spec.example[field]
                        .as_array()
                        .expect("a list")
                        .iter()
                        .filter_map(|entry| entry[key].as_str())
                        .collect();
                    assert_eq!(data.handles(), from_example);
                }
            }
        }
    }
}
