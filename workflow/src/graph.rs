use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A React Flow document: `{"nodes": [...], "edges": [...]}` plus whatever
/// else the builder keeps there (viewport, metadata), preserved untouched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    #[serde(rename = "type")]
    pub node_type: String,
    #[serde(default)]
    pub data: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

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
