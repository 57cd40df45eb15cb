use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::nodes::{DEFAULT_HANDLE, NodeData, NodeDataError, NodeType};
use crate::validate::code;

/// A React Flow document: `{"nodes": [...], "edges": [...]}` plus whatever
/// else the builder keeps there (viewport, metadata), preserved untouched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A node as drawn; `data` is kept exactly as the builder wrote it and read
/// through [`Node::typed_data`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    #[serde(rename = "type")]
    pub node_type: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A connection from one of `source`'s out handles (`sourceHandle`, absent
/// or `"default"` for nodes with a single way out) to `target`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    pub id: String,
    pub source: String,
    pub target: String,
    #[serde(
        rename = "sourceHandle",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_handle: Option<String>,
    #[serde(
        rename = "targetHandle",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub target_handle: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Why a document is not a React Flow graph at all (as opposed to a graph
/// that fails validation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("workflowData is not a React Flow graph: {0}")]
pub struct GraphShapeError(String);

impl Graph {
    /// Reads a graph out of a JSON document without changing the document.
    pub fn from_value(document: &Value) -> Result<Self, GraphShapeError> {
        if !document.is_object() {
            return Err(GraphShapeError(
                "expected an object with nodes and edges".into(),
            ));
        }
        Self::deserialize(document).map_err(|e| GraphShapeError(e.to_string()))
    }

    /// The empty graph a new campaign starts with.
    pub fn empty_document() -> Value {
        serde_json::json!({"nodes": [], "edges": []})
    }

    /// The first node with this id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The first trigger node: where every recipient enters.
    pub fn trigger(&self) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|n| n.node_type == NodeType::Trigger.name())
    }

    /// The edges leaving `node_id`, in document order.
    pub fn outgoing<'a>(&'a self, node_id: &str) -> impl Iterator<Item = &'a Edge> {
        self.edges.iter().filter(move |e| e.source == node_id)
    }

    /// Where the first edge out of `node_id`'s `handle` leads.
    pub fn next_node(&self, node_id: &str, handle: &str) -> Option<&str> {
        self.outgoing(node_id)
            .find(|e| e.handle() == handle)
            .map(|e| e.target.as_str())
    }
}

impl Node {
    /// The node's type, `None` when the builder sent one this crate does not know.
    pub fn kind(&self) -> Option<NodeType> {
        NodeType::parse(&self.node_type)
    }

    /// The node's `data`, typed for its `type`.
    pub fn typed_data(&self) -> Result<NodeData, NodeDataError> {
        let kind = self.kind().ok_or_else(|| NodeDataError {
            code: code::UNKNOWN_NODE_TYPE,
            message: format!("unknown node type {:?}", self.node_type),
        })?;
        NodeData::parse(kind, &self.data)
    }
}

impl Edge {
    /// The source handle, `"default"` when the edge names none.
    pub fn handle(&self) -> &str {
        self.source_handle.as_deref().unwrap_or(DEFAULT_HANDLE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_react_flow_document_and_keeps_unknown_fields() {
        let doc = json!({
            "nodes": [{"id": "t", "type": "trigger", "position": {"x": 1, "y": 2},
                       "data": {"source": "manual"}, "selected": true}],
            "edges": [{"id": "e", "source": "t", "target": "x", "animated": true}],
            "viewport": {"zoom": 1.5}
        });
        let graph = Graph::from_value(&doc).expect("valid graph");
        assert_eq!(graph.nodes[0].node_type, "trigger");
        assert_eq!(graph.nodes[0].extra["selected"], json!(true));
        assert_eq!(graph.edges[0].extra["animated"], json!(true));
        assert_eq!(graph.extra["viewport"], json!({"zoom": 1.5}));
        assert_eq!(serde_json::to_value(&graph).expect("serializes"), doc);
    }

    #[test]
    fn finds_nodes_edges_and_handles() {
        let graph = Graph::from_value(&json!({
            "nodes": [
                {"id": "t", "type": "trigger", "data": {"source": "manual"}},
                {"id": "c", "type": "condition", "data": {}},
                {"id": "x", "type": "exit"},
                {"id": "y", "type": "exit"}
            ],
            "edges": [
                {"id": "e1", "source": "t", "target": "c"},
                {"id": "e2", "source": "c", "target": "x", "sourceHandle": "true"},
                {"id": "e3", "source": "c", "target": "y", "sourceHandle": "false"}
            ]
        }))
        .unwrap();
        assert_eq!(graph.trigger().map(|n| n.id.as_str()), Some("t"));
        assert_eq!(graph.node("c").unwrap().kind(), Some(NodeType::Condition));
        assert_eq!(graph.next_node("t", "default"), Some("c"));
        assert_eq!(graph.next_node("c", "false"), Some("y"));
        assert_eq!(graph.next_node("c", "default"), None);
        assert_eq!(graph.outgoing("c").count(), 2);
        assert_eq!(graph.edges[0].handle(), "default");
        assert!(graph.node("t").unwrap().typed_data().is_ok());
        assert_eq!(
            graph.node("c").unwrap().typed_data().unwrap_err().code,
            code::INVALID_DATA
        );
        let mut odd = graph.nodes[0].clone();
        odd.node_type = "sendSms".into();
        assert_eq!(odd.typed_data().unwrap_err().code, code::UNKNOWN_NODE_TYPE);
    }

    #[test]
    fn rejects_documents_that_are_not_graphs() {
        for doc in [
            json!([]),
            json!("nodes"),
            json!({"nodes": []}),
            json!({"nodes": {}, "edges": []}),
            json!({"nodes": [{"type": "delay"}], "edges": []}),
            json!({"nodes": [], "edges": [{"id": "e", "source": 1, "target": "b"}]}),
        ] {
            assert!(Graph::from_value(&doc).is_err(), "{doc} accepted");
        }
    }
}
