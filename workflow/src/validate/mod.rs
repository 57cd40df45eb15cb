//! Validation of a campaign graph, with errors the builder can pin on a node
//! or an edge: `{nodeId, edgeId?, code, message}`.

use std::collections::{HashMap, HashSet, VecDeque};

use serde::Serialize;
use serde_json::Value;

use uuid::Uuid;

use crate::events::DomainEventType;
use crate::graph::{Graph, Node};
use crate::nodes::{Channel, NodeData, NodeType, SendMessageData, TemplateRef, WebhookData};
use crate::template::{self, TemplateError};

/// The stable `code`s of [`ValidationError`]; the builder keys its messages
/// on them, so they never change meaning.
pub mod code {
    /// The graph has no `trigger` node.
    pub const MISSING_TRIGGER: &str = "missing_trigger";
    /// A second (third, ...) `trigger` node; reported on each extra one.
    pub const MULTIPLE_TRIGGERS: &str = "multiple_triggers";
    /// Two nodes, or two edges, share an id; reported on the later one.
    pub const DUPLICATE_ID: &str = "duplicate_id";
    /// A node `type` outside the table of DESIGN.md.
    pub const UNKNOWN_NODE_TYPE: &str = "unknown_node_type";
    /// A node's `data` does not match its type's format.
    pub const INVALID_DATA: &str = "invalid_data";
    /// A condition rule's `field` is not a known `customer.*` / `enrollment.*` / `event.*` field.
    pub const UNKNOWN_FIELD: &str = "unknown_field";
    /// A condition rule's `op` is not one of the eleven operators.
    pub const UNKNOWN_OPERATOR: &str = "unknown_operator";
    /// An edge's `source` or `target` is not a node of the graph.
    pub const DANGLING_EDGE: &str = "dangling_edge";
    /// An edge leaves from a handle its source node does not have.
    pub const INVALID_HANDLE: &str = "invalid_handle";
    /// An edge leads into the trigger, which only starts a journey.
    pub const INVALID_EDGE: &str = "invalid_edge";
    /// A second edge leaves from the same handle: the next step would be ambiguous.
    pub const AMBIGUOUS_HANDLE: &str = "ambiguous_handle";
    /// A handle that every recipient may take leads nowhere.
    pub const UNCONNECTED_HANDLE: &str = "unconnected_handle";
    /// No path from the trigger reaches the node.
    pub const UNREACHABLE_NODE: &str = "unreachable_node";
    /// The node is on a cycle with no delay, waitForEvent or approval on it.
    pub const CYCLE_WITHOUT_WAIT: &str = "cycle_without_wait";
    /// A referenced template does not exist (or a WhatsApp message names none).
    pub const TEMPLATE_MISSING: &str = "template_missing";
    /// A WhatsApp message's template exists but is not APPROVED.
    pub const TEMPLATE_NOT_APPROVED: &str = "template_not_approved";
    /// A `{{placeholder}}` names no known variable.
    pub const UNKNOWN_VARIABLE: &str = "unknown_variable";
    /// A `{{` is never closed, or a `{{link:..}}` is neither a URL nor a variable.
    pub const INVALID_TEMPLATE: &str = "invalid_template";
    /// An approved WhatsApp template has a dynamic URL button the node gives
    /// no `buttonVariables` value for (Meta would answer 132000).
    pub const MISSING_BUTTON_VARIABLE: &str = "missing_button_variable";
    /// A trigger, `waitForEvent` or exit goal names an event jornada never
    /// records (see [`crate::events`]): it would never fire.
    pub const UNKNOWN_EVENT: &str = "unknown_event";
    /// A WhatsApp message's `variables` do not match the body parameters of
    /// its approved template (Meta would answer 132000).
    pub const TEMPLATE_PARAMETERS: &str = "template_parameters";
    /// The node reads the event that started the journey (a trigger's
    /// `productIds` / `offerCodes` or `perKey` re-entry, a `waitForEvent`'s
    /// `match`), and the journey is not started by an event.
    pub const NEEDS_EVENT_TRIGGER: &str = "needs_event_trigger";
    /// The node filters or matches on a part of the event's key (transaction,
    /// product, offer, subscription) that the event it names never carries.
    pub const EVENT_KEY_MISSING: &str = "event_key_missing";
    /// A trigger's `productIds` names a product the workspace does not have.
    pub const UNKNOWN_PRODUCT: &str = "unknown_product";

    pub const ALL: [&str; 24] = [
        MISSING_TRIGGER,
        MULTIPLE_TRIGGERS,
        DUPLICATE_ID,
        UNKNOWN_NODE_TYPE,
        INVALID_DATA,
        UNKNOWN_FIELD,
        UNKNOWN_OPERATOR,
        DANGLING_EDGE,
        INVALID_HANDLE,
        INVALID_EDGE,
        AMBIGUOUS_HANDLE,
        UNCONNECTED_HANDLE,
        UNREACHABLE_NODE,
        CYCLE_WITHOUT_WAIT,
        TEMPLATE_MISSING,
        TEMPLATE_NOT_APPROVED,
        UNKNOWN_VARIABLE,
        INVALID_TEMPLATE,
        MISSING_BUTTON_VARIABLE,
        UNKNOWN_EVENT,
        TEMPLATE_PARAMETERS,
        NEEDS_EVENT_TRIGGER,
        EVENT_KEY_MISSING,
        UNKNOWN_PRODUCT,
    ];
}

/// One problem, pinned on a node and/or an edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationError {
    /// `null` for problems of the whole graph (`missing_trigger`).
    pub node_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge_id: Option<String>,
    /// One of [`code`].
    pub code: &'static str,
    pub message: String,
}

impl ValidationError {
    fn node(node: &Node, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            node_id: Some(node.id.clone()),
            edge_id: None,
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// A template's provider status, as mirrored from Meta (or local for other
/// channels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateStatus {
    Approved,
    Pending,
    Rejected,
    Paused,
    Disabled,
    Other(String),
}

impl TemplateStatus {
    /// Reads `APPROVED`, `pending`, ...; anything else is kept as `Other`.
    pub fn parse(text: &str) -> Self {
        match text.trim().to_ascii_uppercase().as_str() {
            "APPROVED" => Self::Approved,
            "PENDING" => Self::Pending,
            "REJECTED" => Self::Rejected,
            "PAUSED" => Self::Paused,
            "DISABLED" => Self::Disabled,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Approved => "APPROVED",
            Self::Pending => "PENDING",
            Self::Rejected => "REJECTED",
            Self::Paused => "PAUSED",
            Self::Disabled => "DISABLED",
            Self::Other(other) => other,
        }
    }
}

/// Where validation learns whether a template exists and its status. Any
/// `Fn(Channel, &TemplateRef) -> Option<TemplateStatus>` is one.
pub trait TemplateLookup {
    fn status(&self, channel: Channel, template: &TemplateRef) -> Option<TemplateStatus>;

    /// The indexes of the template's dynamic URL buttons, each needing a
    /// value; none unless the lookup knows the template's components.
    fn dynamic_url_buttons(&self, _channel: Channel, _template: &TemplateRef) -> Vec<u32> {
        Vec::new()
    }

    /// How many parameters the template's body takes; `None` unless the
    /// lookup knows the template's components.
    fn body_parameters(&self, _channel: Channel, _template: &TemplateRef) -> Option<usize> {
        None
    }
}

impl<F> TemplateLookup for F
where
    F: Fn(Channel, &TemplateRef) -> Option<TemplateStatus>,
{
    fn status(&self, channel: Channel, template: &TemplateRef) -> Option<TemplateStatus> {
        self(channel, template)
    }
}

/// One template the workspace has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateEntry {
    /// The `message_templates` id.
    pub id: String,
    /// Meta's template id, also accepted as a `templateId`.
    pub provider_id: Option<String>,
    pub channel: Channel,
    pub name: String,
    pub language: String,
    pub status: TemplateStatus,
    /// Indexes of its URL buttons whose URL ends in a `{{1}}` suffix.
    pub dynamic_url_buttons: Vec<u32>,
    /// How many parameters its body takes (`None` when unknown).
    pub body_parameters: Option<usize>,
}

impl TemplateEntry {
    /// How many distinct parameters (`{{1}}`, `{{2}}`, or named ones) the
    /// BODY component of a template's Meta `components` takes; `None` when
    /// the components hold no body.
    pub fn body_parameters_of(components: &Value) -> Option<usize> {
        let text = components
            .as_array()?
            .iter()
            .find(|c| {
                c.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("body"))
            })?
            .get("text")
            .and_then(Value::as_str)?;
        let mut parameters = HashSet::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                break;
            };
            parameters.insert(after[..close].trim());
            rest = &after[close + 2..];
        }
        Some(parameters.len())
    }

    /// The dynamic URL buttons of a template's Meta `components`
    /// (`[{"type": "BUTTONS", "buttons": [{"type": "URL", "url":
    /// "https://x/r/{{1}}"}]}]`); buttons are indexed across the component.
    pub fn dynamic_url_buttons_of(components: &Value) -> Vec<u32> {
        let Some(components) = components.as_array() else {
            return Vec::new();
        };
        components
            .iter()
            .filter(|c| {
                c.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("buttons"))
            })
            .filter_map(|c| c.get("buttons").and_then(Value::as_array))
            .flat_map(|buttons| buttons.iter().enumerate())
            .filter(|(_, button)| {
                button
                    .get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("url"))
                    && button
                        .get("url")
                        .and_then(Value::as_str)
                        .is_some_and(|url| url.contains("{{"))
            })
            .filter_map(|(index, _)| u32::try_from(index).ok())
            .collect()
    }
}

/// The workspace's templates in memory: the usual [`TemplateLookup`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateCatalog {
    pub entries: Vec<TemplateEntry>,
}

impl TemplateCatalog {
    pub fn new(entries: Vec<TemplateEntry>) -> Self {
        Self { entries }
    }
}

impl TemplateCatalog {
    /// By id: the entry with that id (or provider id) on that channel. By
    /// name: the entries with that name on that channel, in that language
    /// when one is given; when several languages match, an APPROVED one if any.
    fn entry(&self, channel: Channel, template: &TemplateRef) -> Option<&TemplateEntry> {
        let mut on_channel = self.entries.iter().filter(|e| e.channel == channel);
        match template {
            TemplateRef::Id(id) => {
                on_channel.find(|e| e.id == *id || e.provider_id.as_deref() == Some(id))
            }
            TemplateRef::Name { name, language } => {
                let matches: Vec<_> = on_channel
                    .filter(|e| e.name == *name)
                    .filter(|e| language.as_ref().is_none_or(|l| e.language == *l))
                    .collect();
                matches
                    .iter()
                    .find(|e| e.status == TemplateStatus::Approved)
                    .or(matches.first())
                    .copied()
            }
        }
    }
}

impl TemplateLookup for TemplateCatalog {
    fn status(&self, channel: Channel, template: &TemplateRef) -> Option<TemplateStatus> {
        self.entry(channel, template).map(|e| e.status.clone())
    }

    fn dynamic_url_buttons(&self, channel: Channel, template: &TemplateRef) -> Vec<u32> {
        self.entry(channel, template)
            .map(|e| e.dynamic_url_buttons.clone())
            .unwrap_or_default()
    }

    fn body_parameters(&self, channel: Channel, template: &TemplateRef) -> Option<usize> {
        self.entry(channel, template)?.body_parameters
    }
}

/// Where validation learns whether a product exists in the workspace. A set
/// of product ids is one.
pub trait ProductLookup {
    fn exists(&self, product_id: Uuid) -> bool;
}

impl ProductLookup for HashSet<Uuid> {
    fn exists(&self, product_id: Uuid) -> bool {
        self.contains(&product_id)
    }
}

/// What validation needs from outside the graph.
#[derive(Clone, Copy)]
pub struct ValidationContext<'a> {
    pub templates: &'a dyn TemplateLookup,
    /// The workspace's products, when known: a trigger's `productIds` are
    /// checked against them.
    pub products: Option<&'a dyn ProductLookup>,
}

impl<'a> ValidationContext<'a> {
    pub fn new(templates: &'a dyn TemplateLookup) -> Self {
        Self {
            templates,
            products: None,
        }
    }

    /// The same, checking product ids against `products`.
    pub fn with_products(self, products: &'a dyn ProductLookup) -> Self {
        Self {
            products: Some(products),
            ..self
        }
    }
}

/// Every problem of `graph`, in a stable order: ids, node data, triggers,
/// edges, handles, reachability, cycles. Empty means publishable.
pub fn validate(graph: &Graph, ctx: &ValidationContext<'_>) -> Vec<ValidationError> {
    let mut errors = Vec::new();

    // Node ids: the first node with an id is the node; later ones are errors.
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        if index.contains_key(node.id.as_str()) {
            errors.push(ValidationError::node(
                node,
                code::DUPLICATE_ID,
                format!("another node already has the id {:?}", node.id),
            ));
        } else {
            index.insert(&node.id, i);
        }
    }
    let mut edge_ids = HashSet::new();
    for edge in &graph.edges {
        if !edge_ids.insert(edge.id.as_str()) {
            errors.push(ValidationError {
                node_id: None,
                edge_id: Some(edge.id.clone()),
                code: code::DUPLICATE_ID,
                message: format!("another edge already has the id {:?}", edge.id),
            });
        }
    }

    // Node types and data.
    let data: Vec<Option<NodeData>> = graph
        .nodes
        .iter()
        .map(|node| match node.typed_data() {
            Ok(data) => {
                check_references(node, &data, ctx, &mut errors);
                Some(data)
            }
            Err(e) => {
                errors.push(ValidationError::node(node, e.code, e.message));
                None
            }
        })
        .collect();

    event_keys::check(graph, &data, ctx, &mut errors);

    // Exactly one trigger.
    let triggers: Vec<usize> = (0..graph.nodes.len())
        .filter(|i| graph.nodes[*i].kind() == Some(NodeType::Trigger))
        .collect();
    match triggers.as_slice() {
        [] => errors.push(ValidationError {
            node_id: None,
            edge_id: None,
            code: code::MISSING_TRIGGER,
            message: "a campaign needs a trigger node".into(),
        }),
        [_, extra @ ..] => {
            for i in extra {
                errors.push(ValidationError::node(
                    &graph.nodes[*i],
                    code::MULTIPLE_TRIGGERS,
                    "a campaign has exactly one trigger",
                ));
            }
        }
    }

    // The handles each node has, when they can be known.
    let handles: Vec<Option<Vec<&str>>> = graph
        .nodes
        .iter()
        .zip(&data)
        .map(|(node, data)| match (node.kind(), data) {
            (_, Some(data)) => Some(data.handles()),
            (Some(kind), None) => kind.fixed_handles().map(<[&str]>::to_vec),
            (None, None) => None,
        })
        .collect();

    // Edges.
    let mut adjacency: Vec<Vec<usize>> = vec![Vec::new(); graph.nodes.len()];
    let mut connected: HashSet<(usize, &str)> = HashSet::new();
    for edge in &graph.edges {
        let source = index.get(edge.source.as_str()).copied();
        let target = index.get(edge.target.as_str()).copied();
        let edge_error = |code: &'static str, message: String| ValidationError {
            node_id: source.map(|_| edge.source.clone()),
            edge_id: Some(edge.id.clone()),
            code,
            message,
        };
        let (Some(source), Some(target)) = (source, target) else {
            let missing = if source.is_none() {
                &edge.source
            } else {
                &edge.target
            };
            errors.push(edge_error(
                code::DANGLING_EDGE,
                format!("the edge points at {missing:?}, which is not a node"),
            ));
            continue;
        };
        adjacency[source].push(target);
        if graph.nodes[target].kind() == Some(NodeType::Trigger) {
            errors.push(edge_error(
                code::INVALID_EDGE,
                "nothing may lead into the trigger".into(),
            ));
        }
        let handle = edge.handle();
        if let Some(valid) = &handles[source] {
            if !valid.contains(&handle) {
                let message = if valid.is_empty() {
                    format!("{} has no way out", graph.nodes[source].node_type)
                } else {
                    format!(
                        "{} has no handle {handle:?} (its handles: {})",
                        graph.nodes[source].node_type,
                        valid.join(", ")
                    )
                };
                errors.push(edge_error(code::INVALID_HANDLE, message));
                continue;
            }
            if !connected.insert((source, handle)) {
                errors.push(edge_error(
                    code::AMBIGUOUS_HANDLE,
                    format!("handle {handle:?} is already connected to another node"),
                ));
            }
        }
    }

    // Every way out leads somewhere.
    for (i, node) in graph.nodes.iter().enumerate() {
        if index.get(node.id.as_str()) != Some(&i) {
            continue;
        }
        for handle in handles[i].iter().flatten() {
            if !connected.contains(&(i, *handle)) {
                errors.push(ValidationError::node(
                    node,
                    code::UNCONNECTED_HANDLE,
                    format!("handle {handle:?} is not connected"),
                ));
            }
        }
    }

    // Reachability from the one trigger.
    if let [trigger] = triggers.as_slice() {
        let mut reached = vec![false; graph.nodes.len()];
        reached[*trigger] = true;
        let mut queue = VecDeque::from([*trigger]);
        while let Some(at) = queue.pop_front() {
            for next in &adjacency[at] {
                if !reached[*next] {
                    reached[*next] = true;
                    queue.push_back(*next);
                }
            }
        }
        for (i, node) in graph.nodes.iter().enumerate() {
            if !reached[i] && index.get(node.id.as_str()) == Some(&i) {
                errors.push(ValidationError::node(
                    node,
                    code::UNREACHABLE_NODE,
                    "no path from the trigger reaches this node",
                ));
            }
        }
    }

    // Cycles must pass through a node that waits.
    let waits = |i: usize| graph.nodes[i].kind().is_some_and(NodeType::waits);
    let instant: Vec<Vec<usize>> = adjacency
        .iter()
        .enumerate()
        .map(|(from, targets)| {
            if waits(from) {
                Vec::new()
            } else {
                targets.iter().copied().filter(|to| !waits(*to)).collect()
            }
        })
        .collect();
    let mut on_cycle = vec![false; graph.nodes.len()];
    for component in strongly_connected(&instant) {
        if component.len() > 1 || instant[component[0]].contains(&component[0]) {
            for i in component {
                on_cycle[i] = true;
            }
        }
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        if on_cycle[i] {
            errors.push(ValidationError::node(
                node,
                code::CYCLE_WITHOUT_WAIT,
                "this node is on a loop with no delay, waitForEvent or approval: a recipient would go round it without end",
            ));
        }
    }

    errors
}

/// Templates a node refers to, and the variables of its texts.
fn check_references(
    node: &Node,
    data: &NodeData,
    ctx: &ValidationContext<'_>,
    errors: &mut Vec<ValidationError>,
) {
    match data {
        NodeData::SendMessage(message) => {
            check_template(node, message, ctx, errors);
            let texts = [("subject", &message.subject), ("body", &message.body)];
            for (field, text) in texts {
                if let Some(text) = text {
                    check_text(node, field, text, errors);
                }
            }
            for (key, text) in &message.variables {
                check_text(node, &format!("variables.{key}"), text, errors);
            }
            for (index, text) in &message.button_variables {
                check_text(node, &format!("buttonVariables.{index}"), text, errors);
            }
        }
        NodeData::Webhook(WebhookData { url, body, .. }) => {
            check_text(node, "url", url, errors);
            if let Some(body) = body {
                check_json(node, "body", body, errors);
            }
        }
        NodeData::Trigger(trigger) => {
            if let Some(event) = &trigger.event {
                check_event(node, "event", event, errors);
            }
        }
        NodeData::WaitForEvent(wait) => check_event(node, "event", &wait.event, errors),
        NodeData::Exit(exit) => {
            if let Some(goal) = &exit.goal {
                check_event(node, "goal", goal, errors);
            }
        }
        _ => {}
    }
}

/// An event name must be one jornada records, or the node never fires.
fn check_event(node: &Node, field: &str, name: &str, errors: &mut Vec<ValidationError>) {
    if DomainEventType::parse(name).is_none() {
        errors.push(ValidationError::node(
            node,
            code::UNKNOWN_EVENT,
            format!(
                "{field} `{name}` is not an event jornada records; one of: {}",
                DomainEventType::names()
            ),
        ));
    }
}

fn check_template(
    node: &Node,
    message: &SendMessageData,
    ctx: &ValidationContext<'_>,
    errors: &mut Vec<ValidationError>,
) {
    let channel = message.channel;
    let Some(template) = &message.template else {
        if channel == Channel::Whatsapp {
            errors.push(ValidationError::node(
                node,
                code::TEMPLATE_MISSING,
                "a WhatsApp message needs an approved template (templateName or templateId)",
            ));
        }
        return;
    };
    let described = match template {
        TemplateRef::Id(id) => format!("with id {id:?}"),
        TemplateRef::Name {
            name,
            language: Some(language),
        } => format!("{name:?} ({language})"),
        TemplateRef::Name { name, .. } => format!("{name:?}"),
    };
    match ctx.templates.status(channel, template) {
        None => errors.push(ValidationError::node(
            node,
            code::TEMPLATE_MISSING,
            format!("there is no {} template {described}", channel.name()),
        )),
        Some(status) if channel == Channel::Whatsapp && status != TemplateStatus::Approved => {
            errors.push(ValidationError::node(
                node,
                code::TEMPLATE_NOT_APPROVED,
                format!(
                    "the WhatsApp template {described} is {}, not APPROVED",
                    status.name()
                ),
            ))
        }
        Some(TemplateStatus::Approved) if channel == Channel::Whatsapp => {
            if let Some(wanted) = ctx.templates.body_parameters(channel, template)
                && wanted != message.variables.len()
            {
                errors.push(ValidationError::node(
                    node,
                    code::TEMPLATE_PARAMETERS,
                    format!(
                        "the body of the WhatsApp template {described} takes {wanted} parameter(s), and variables gives {}: give one value per parameter, in order",
                        message.variables.len()
                    ),
                ));
            }
            for index in ctx.templates.dynamic_url_buttons(channel, template) {
                let given = message
                    .button_variables
                    .iter()
                    .any(|(i, text)| *i == index && !text.trim().is_empty());
                if !given {
                    errors.push(ValidationError::node(
                        node,
                        code::MISSING_BUTTON_VARIABLE,
                        format!(
                            "button {index} of the WhatsApp template {described} has a dynamic URL: set buttonVariables.{index}"
                        ),
                    ));
                }
            }
        }
        Some(_) => {}
    }
}

fn check_text(node: &Node, field: &str, text: &str, errors: &mut Vec<ValidationError>) {
    for problem in template::check(text) {
        let code = match problem {
            TemplateError::UnknownVariable(_) => code::UNKNOWN_VARIABLE,
            TemplateError::InvalidLink(_) | TemplateError::Unclosed => code::INVALID_TEMPLATE,
        };
        errors.push(ValidationError::node(
            node,
            code,
            format!("{field}: {problem}"),
        ));
    }
}

fn check_json(node: &Node, path: &str, value: &Value, errors: &mut Vec<ValidationError>) {
    match value {
        Value::String(text) => check_text(node, path, text, errors),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_json(node, &format!("{path}[{i}]"), item, errors);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                check_json(node, &format!("{path}.{key}"), item, errors);
            }
        }
        _ => {}
    }
}

/// Tarjan's strongly connected components, without recursion (graphs come
/// from outside and may be deep).
fn strongly_connected(adjacency: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = adjacency.len();
    let mut order = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut components = Vec::new();
    for root in 0..n {
        if order[root] != UNSEEN {
            continue;
        }
        order[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        let mut calls = vec![(root, 0usize)];
        while let Some(frame) = calls.last_mut() {
            let v = frame.0;
            if let Some(&w) = adjacency[v].get(frame.1) {
                frame.1 += 1;
                if order[w] == UNSEEN {
                    order[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(order[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == order[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}

mod event_keys;
#[cfg(test)]
mod tests;
