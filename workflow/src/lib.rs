//! The campaign graph as the React Flow builder draws it, with no I/O.
//!
//! `campaigns.workflow_data` is stored verbatim; this crate reads it to check
//! its shape (and, later, to validate and interpret it), never to rewrite it.

pub mod graph;

pub use graph::{Edge, Graph, GraphShapeError, Node};
