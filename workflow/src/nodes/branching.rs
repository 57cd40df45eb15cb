//! The nodes that choose a path: `condition`, `split`.

use super::*;

// ---- condition ----

pub(super) fn parse_condition(data: &Value) -> Result<ConditionData, NodeDataError> {
    #[derive(Deserialize)]
    struct Raw {
        combinator: Option<String>,
        rules: Vec<Value>,
    }
    let raw: Raw = shape(data)?;
    let combinator = match raw.combinator.as_deref() {
        None | Some("and") => Combinator::And,
        Some("or") => Combinator::Or,
        Some(other) => {
            return Err(NodeDataError::invalid(format!(
                "combinator must be and or or, not {other:?}"
            )));
        }
    };
    if raw.rules.is_empty() {
        return Err(NodeDataError::invalid(
            "a condition needs at least one rule",
        ));
    }
    let rules = raw
        .rules
        .iter()
        .enumerate()
        .map(|(i, rule)| Rule::parse(i, rule))
        .collect::<Result<_, _>>()?;
    Ok(ConditionData { combinator, rules })
}

pub(super) fn condition_spec() -> NodeTypeSpec {
    NodeTypeSpec::new(
        NodeType::Condition,
        "Goes on by true or false, by rules over the customer and the enrolment.",
        serde_json::json!({"combinator": "and", "rules": [{"field": "customer.tags", "op": "contains", "value": "aluna"}]}),
    )
    .field(
        FieldSpec::new("combinator", FieldType::Choice, "Whether every rule (and) or any rule (or) must hold.")
            .allowed(["and", "or"])
            .default("and".into()),
    )
    .field(
        FieldSpec::new("rules", FieldType::ObjectList, "At least one rule.")
            .required()
            .fields(vec![
                FieldSpec::new("field", FieldType::Choice, "What the rule reads.")
                    .required()
                    .allowed(crate::Variable::ALL.iter().map(|v| v.name())),
                FieldSpec::new("op", FieldType::Choice, "How it compares (which apply depends on the field's kind).")
                    .required()
                    .allowed(Operator::ALL.iter().map(|op| op.name())),
                FieldSpec::new("value", FieldType::Json, "What it compares with: a text, a number, an RFC 3339 instant or a list for in; none for exists and not_exists."),
            ]),
    )
}

// ---- split ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitBranch {
    pub id: String,
    pub weight: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SplitData {
    pub branches: Vec<SplitBranch>,
}

impl SplitData {
    pub(super) fn parse(data: &Value) -> Result<Self, NodeDataError> {
        #[derive(Deserialize)]
        struct Raw {
            branches: Vec<SplitBranch>,
        }
        let raw: Raw = shape(data)?;
        if raw.branches.len() < 2 {
            return Err(NodeDataError::invalid(
                "a split needs at least two branches",
            ));
        }
        let mut total = 0.0;
        for (i, branch) in raw.branches.iter().enumerate() {
            if branch.id.trim().is_empty() {
                return Err(NodeDataError::invalid(format!(
                    "branches[{i}] has an empty id"
                )));
            }
            if raw.branches[..i].iter().any(|b| b.id == branch.id) {
                return Err(NodeDataError::invalid(format!(
                    "branch id {:?} is used twice",
                    branch.id
                )));
            }
            if !(branch.weight.is_finite() && branch.weight > 0.0) {
                return Err(NodeDataError::invalid(format!(
                    "branch {:?} needs a positive weight",
                    branch.id
                )));
            }
            total += branch.weight;
        }
        if !total.is_finite() {
            return Err(NodeDataError::invalid("the branch weights are too large"));
        }
        Ok(Self {
            branches: raw.branches,
        })
    }
}

impl SplitData {
    pub(super) fn spec() -> NodeTypeSpec {
        NodeTypeSpec::new(
            NodeType::Split,
            "Sends each recipient down one branch, by weight; the same recipient always takes the same branch.",
            serde_json::json!({"branches": [{"id": "a", "weight": 50}, {"id": "b", "weight": 50}]}),
        )
        .field(
            FieldSpec::new("branches", FieldType::ObjectList, "At least two branches; each is an out handle named by its id.")
                .required()
                .fields(vec![
                    FieldSpec::new("id", FieldType::Text, "The branch's handle, unique in the node.").required(),
                    FieldSpec::new("weight", FieldType::Number, "Its share, a positive number.").required(),
                ]),
        )
        .handles_from("branches", "id")
    }
}
