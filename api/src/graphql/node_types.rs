//! The workflow contract for the React builder: each node type with its
//! fields and out handles, as the `workflow` crate describes them.

use async_graphql::{Enum, Json, Object, SimpleObject};
use serde_json::Value;

use super::scope::Access;

/// How a node field's value is written.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "workflow::FieldType")]
pub enum WorkflowFieldType {
    /// Free text.
    Text,
    /// Text that may hold `{{variables}}`.
    Template,
    /// One of `allowedValues`.
    Choice,
    Boolean,
    Number,
    /// An ISO-8601 duration, e.g. `P2D`.
    Duration,
    /// A local time of day, `HH:MM`.
    TimeOfDay,
    /// A cron expression, seconds first, in the workspace's time zone.
    Cron,
    /// A domain event name (`allowedValues` lists them).
    Event,
    /// The id of a jornada record.
    Id,
    /// An http(s) URL, which may hold `{{variables}}`.
    Url,
    /// A list of texts.
    TextList,
    /// An object whose values are templates.
    TemplateMap,
    /// A list of objects, each with the nested `fields`.
    ObjectList,
    /// An object whose keys the description lists.
    Object,
    /// Any JSON value.
    Json,
}

/// One key of a node's `data`.
#[derive(SimpleObject)]
pub struct WorkflowNodeField {
    /// The key in `data` (camelCase).
    pub name: String,
    #[graphql(name = "type")]
    pub field_type: WorkflowFieldType,
    /// Whether a node without it is refused; fields needed only in some
    /// combinations say so in their description.
    pub required: bool,
    /// The accepted values, when there is a fixed list; empty otherwise.
    pub allowed_values: Vec<String>,
    /// What an absent field means.
    pub default: Option<Json<Value>>,
    pub description: String,
    /// The keys of each entry, for an OBJECT_LIST.
    pub fields: Vec<WorkflowNodeField>,
}

impl From<workflow::FieldSpec> for WorkflowNodeField {
    fn from(spec: workflow::FieldSpec) -> Self {
        WorkflowNodeField {
            name: spec.name.to_owned(),
            field_type: spec.field_type.into(),
            required: spec.required,
            allowed_values: spec.allowed,
            default: spec.default.map(Json),
            description: spec.description.to_owned(),
            fields: spec.fields.into_iter().map(Into::into).collect(),
        }
    }
}

/// A node type of the workflow contract.
#[derive(SimpleObject)]
pub struct WorkflowNodeType {
    /// The React Flow `type`, e.g. `sendMessage`.
    #[graphql(name = "type")]
    pub node_type: String,
    pub description: String,
    pub fields: Vec<WorkflowNodeField>,
    /// The out handles every node of this type has (each must be connected);
    /// empty for `exit`, and for `split`, whose handles come from a field.
    pub handles: Vec<String>,
    /// When the handles are a field's values: `branches.id` means one
    /// handle per entry of `branches`, named by its `id`.
    pub handles_from_field: Option<String>,
    /// A `data` the type accepts: what a new node starts with.
    pub example: Json<Value>,
}

impl From<workflow::NodeTypeSpec> for WorkflowNodeType {
    fn from(spec: workflow::NodeTypeSpec) -> Self {
        let (handles, handles_from_field) = match spec.handles {
            workflow::HandleSpec::Fixed(handles) => {
                (handles.iter().map(|h| (*h).to_owned()).collect(), None)
            }
            workflow::HandleSpec::FromField { field, key } => {
                (Vec::new(), Some(format!("{field}.{key}")))
            }
        };
        WorkflowNodeType {
            node_type: spec.node_type.name().to_owned(),
            description: spec.description.to_owned(),
            fields: spec.fields.into_iter().map(Into::into).collect(),
            handles,
            handles_from_field,
            example: Json(spec.example),
        }
    }
}

#[derive(Default)]
pub struct NodeTypeQuery;

#[Object]
impl NodeTypeQuery {
    /// Every node type a campaign's `workflowData` may hold, with its fields
    /// and out handles, for the builder's palette and forms.
    #[graphql(guard = "Access::Read")]
    async fn workflow_node_types(&self) -> Vec<WorkflowNodeType> {
        workflow::node_types().into_iter().map(Into::into).collect()
    }
}
