//! A guard that runs before async-graphql validates a document: fragments
//! that spread each other twice per level expand exponentially, and the
//! validator walks that expansion before its complexity limit can refuse it.
//! Here each fragment is sized once, so the refusal costs microseconds.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::parser::{Positioned, parse_query};

/// Most fields a document may expand to once its fragments are inlined.
pub const MAX_EXPANDED_FIELDS: usize = 10_000;

/// Why a document was refused before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    TooLarge,
    FragmentCycle,
}

impl Refusal {
    pub fn message(&self) -> String {
        match self {
            Refusal::TooLarge => {
                format!("the query expands to more than {MAX_EXPANDED_FIELDS} fields")
            }
            Refusal::FragmentCycle => {
                "the query's fragments spread each other in a cycle".to_owned()
            }
        }
    }
}

/// Checks a query's expanded size. A document that does not parse is left
/// to async-graphql, which reports the syntax error.
pub fn check_expansion(query: &str) -> Result<(), Refusal> {
    let Ok(document) = parse_query(query) else {
        return Ok(());
    };
    let mut sizes: HashMap<String, Option<usize>> = HashMap::new();
    let mut total = 0usize;
    for (_, operation) in document.operations.iter() {
        total = total.saturating_add(size_of(
            &document,
            &operation.node.selection_set,
            &mut sizes,
        )?);
        if total > MAX_EXPANDED_FIELDS {
            return Err(Refusal::TooLarge);
        }
    }
    Ok(())
}

/// Fields in a selection set with fragments inlined; `sizes` memoises each
/// fragment (`None` while it is being sized, to catch cycles).
fn size_of(
    document: &ExecutableDocument,
    set: &Positioned<SelectionSet>,
    sizes: &mut HashMap<String, Option<usize>>,
) -> Result<usize, Refusal> {
    let mut total = 0usize;
    for selection in &set.node.items {
        let size = match &selection.node {
            Selection::Field(field) => {
                1usize.saturating_add(size_of(document, &field.node.selection_set, sizes)?)
            }
            Selection::InlineFragment(inline) => {
                size_of(document, &inline.node.selection_set, sizes)?
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.to_string();
                match sizes.get(&name) {
                    Some(Some(size)) => *size,
                    Some(None) => return Err(Refusal::FragmentCycle),
                    None => match document
                        .fragments
                        .get(spread.node.fragment_name.node.as_str())
                    {
                        // An unknown fragment is a validation error async-graphql reports.
                        None => 0,
                        Some(fragment) => {
                            sizes.insert(name.clone(), None);
                            let size = size_of(document, &fragment.node.selection_set, sizes)?;
                            sizes.insert(name, Some(size));
                            size
                        }
                    },
                }
            }
        };
        total = total.saturating_add(size);
        if total > MAX_EXPANDED_FIELDS {
            return Err(Refusal::TooLarge);
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doubling_fragments(levels: usize) -> String {
        let mut query = String::from(
            "query { customers { edges { node { ...F0 } } } }\nfragment F0 on Customer { id }\n",
        );
        for i in 1..=levels {
            query.push_str(&format!(
                "fragment F{i} on Customer {{ ...F{} ...F{} }}\n",
                i - 1,
                i - 1
            ));
        }
        query.replace("...F0 } } } }", &format!("...F{levels} }} }} }} }}"))
    }

    #[test]
    fn exponential_fragments_are_refused_at_once() {
        assert_eq!(check_expansion(&doubling_fragments(10)), Ok(()));
        assert_eq!(
            check_expansion(&doubling_fragments(40)),
            Err(Refusal::TooLarge)
        );
        let cycle = "query { customers { edges { node { ...A } } } } fragment A on Customer { ...B } fragment B on Customer { ...A }";
        assert_eq!(check_expansion(cycle), Err(Refusal::FragmentCycle));
        assert_eq!(check_expansion("{ customers { totalCount } }"), Ok(()));
        assert_eq!(
            check_expansion("{ not valid"),
            Ok(()),
            "syntax errors are async-graphql's to report"
        );
    }
}
