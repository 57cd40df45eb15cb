//! Guards that run before async-graphql sees a document.
//!
//! The query text is scanned first, in one linear pass: the parser recurses
//! once per nested bracket, brace or parenthesis, so text nested a few
//! thousand levels deep would overflow its stack and abort the process; and
//! a `\u0000` escape would reach SQL as a NUL, which PostgreSQL refuses.
//!
//! Then the parsed document's shape: fragments that spread each other twice
//! per level expand exponentially, and the validator walks that expansion
//! before its complexity limit can refuse it. Here each fragment is measured
//! once, so the refusal costs microseconds; and the depth in fields is
//! measured here rather than by async-graphql, which would count the chain of
//! type references every client's introspection query asks for.

use std::collections::HashMap;

use async_graphql::parser::Positioned;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

use super::{MAX_DEPTH, MAX_RECURSIVE_DEPTH};

/// Most fields a document may expand to once its fragments are inlined.
pub const MAX_EXPANDED_FIELDS: usize = 10_000;

/// Deepest nesting of `{`, `[` and `(` the query text may have. A valid
/// document is refused after parsing past `MAX_RECURSIVE_DEPTH` (32) levels
/// and `MAX_DEPTH` (10) fields anyway, so this refuses nothing that could run.
pub const MAX_TEXT_NESTING: usize = 64;

/// Why a query text was refused before it was parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextRefusal {
    TooDeep,
    NulCharacter,
}

impl TextRefusal {
    pub fn message(&self) -> String {
        match self {
            TextRefusal::TooDeep => format!(
                "the query nests brackets, braces or parentheses more than {MAX_TEXT_NESTING} levels deep"
            ),
            TextRefusal::NulCharacter => {
                "the request holds a NUL character (U+0000), which no text may hold".to_owned()
            }
        }
    }
}

/// Scans a query text once, following GraphQL's lexical rules (strings,
/// block strings, comments), for nesting past [`MAX_TEXT_NESTING`] and NUL
/// characters, raw or escaped. Where the text is not valid GraphQL the scan
/// errs towards counting: a string ends at a line break, as the parser's does.
pub fn check_text(query: &str) -> Result<(), TextRefusal> {
    let bytes = query.as_bytes();
    if bytes.contains(&0) {
        return Err(TextRefusal::NulCharacter);
    }
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && !matches!(bytes[i], b'\n' | b'\r') {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => match block_string_end(&bytes[i + 3..]) {
                Some(length) => {
                    i += 3 + length + 3;
                    continue;
                }
                // Unclosed, the parser reads `""`, an empty string, and goes on.
                None => i += 1,
            },
            b'"' => {
                i += 1;
                while i < bytes.len() && !matches!(bytes[i], b'"' | b'\n' | b'\r') {
                    if bytes[i] == b'\\' {
                        if escapes_nul(&bytes[i + 1..]) {
                            return Err(TextRefusal::NulCharacter);
                        }
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_TEXT_NESTING {
                    return Err(TextRefusal::TooDeep);
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The length of a block string's content up to its closing `"""` (`\"""`
/// is an escaped quote), or `None` when it is never closed.
fn block_string_end(content: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < content.len() {
        if content[i..].starts_with(b"\"\"\"") {
            return Some(i);
        }
        i += if content[i..].starts_with(b"\\\"\"\"") {
            4
        } else {
            1
        };
    }
    None
}

/// Whether the escape after a backslash is `u0000`, a NUL.
fn escapes_nul(escape: &[u8]) -> bool {
    escape.starts_with(b"u0000")
}

/// Why a document was refused before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    TooLarge,
    FragmentCycle,
    /// Fields nested deeper than `MAX_DEPTH`, outside introspection.
    TooDeep,
    /// Selection sets and fragments nested deeper than `MAX_RECURSIVE_DEPTH`.
    RecursesTooDeep,
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
            Refusal::TooDeep => format!("the query nests fields more than {MAX_DEPTH} deep"),
            Refusal::RecursesTooDeep => format!(
                "the query nests selections and fragments more than {MAX_RECURSIVE_DEPTH} deep"
            ),
        }
    }
}

/// Checks a parsed query's shape before async-graphql validates it: its
/// size with fragments inlined, and its depth in fields. Introspection
/// (`__schema`, `__type`) counts one level however deep its type references
/// go, so the query every GraphQL client sends to read the schema runs; the
/// recursion bound still holds there. The handler hands over the document
/// async-graphql parsed for the request, which it then runs; a document
/// that does not parse is left to async-graphql, which reports the syntax
/// error.
pub fn check_document(document: &ExecutableDocument) -> Result<(), Refusal> {
    let mut fragments: HashMap<String, Option<Shape>> = HashMap::new();
    let mut total = 0usize;
    for (_, operation) in document.operations.iter() {
        let shape = shape_of(document, &operation.node.selection_set, &mut fragments, 0)?;
        if shape.depth > MAX_DEPTH {
            return Err(Refusal::TooDeep);
        }
        total = total.saturating_add(shape.fields);
        if total > MAX_EXPANDED_FIELDS {
            return Err(Refusal::TooLarge);
        }
    }
    Ok(())
}

/// A selection set with its fragments inlined: how many fields, how deep.
#[derive(Debug, Clone, Copy)]
struct Shape {
    fields: usize,
    depth: usize,
}

/// Fields whose subtrees are introspection.
fn is_introspection(name: &str) -> bool {
    matches!(name, "__schema" | "__type")
}

/// Measures `set`; `fragments` memoises each fragment (`None` while it is
/// being measured, to catch cycles), and `nesting` counts selection sets and
/// fragments entered, as async-graphql's recursion limit does, so a chain of
/// thousands of fragments cannot recurse this walk off its stack.
fn shape_of(
    document: &ExecutableDocument,
    set: &Positioned<SelectionSet>,
    fragments: &mut HashMap<String, Option<Shape>>,
    nesting: usize,
) -> Result<Shape, Refusal> {
    if nesting > MAX_RECURSIVE_DEPTH {
        return Err(Refusal::RecursesTooDeep);
    }
    let mut shape = Shape {
        fields: 0,
        depth: 0,
    };
    for selection in &set.node.items {
        let inner = match &selection.node {
            Selection::Field(field) => {
                let below = if field.node.selection_set.node.items.is_empty() {
                    Shape {
                        fields: 0,
                        depth: 0,
                    }
                } else {
                    shape_of(document, &field.node.selection_set, fragments, nesting + 1)?
                };
                let depth = if is_introspection(field.node.name.node.as_str()) {
                    1
                } else {
                    below.depth + 1
                };
                Shape {
                    fields: below.fields.saturating_add(1),
                    depth,
                }
            }
            Selection::InlineFragment(inline) => {
                shape_of(document, &inline.node.selection_set, fragments, nesting + 1)?
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match fragments.get(name) {
                    Some(Some(known)) => *known,
                    Some(None) => return Err(Refusal::FragmentCycle),
                    None => match document.fragments.get(name) {
                        // An unknown fragment is a validation error async-graphql reports.
                        None => Shape {
                            fields: 0,
                            depth: 0,
                        },
                        Some(fragment) => {
                            fragments.insert(name.to_owned(), None);
                            let measured = shape_of(
                                document,
                                &fragment.node.selection_set,
                                fragments,
                                nesting + 1,
                            )?;
                            fragments.insert(name.to_owned(), Some(measured));
                            measured
                        }
                    },
                }
            }
        };
        shape.fields = shape.fields.saturating_add(inner.fields);
        shape.depth = shape.depth.max(inner.depth);
        if shape.fields > MAX_EXPANDED_FIELDS {
            return Err(Refusal::TooLarge);
        }
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    /// `check_document` of `query`, parsed as a request's query is.
    fn check(query: &str) -> Result<(), Refusal> {
        match parse_query(query) {
            Ok(document) => check_document(&document),
            Err(_) => Ok(()),
        }
    }

    fn nested(depth: usize) -> String {
        format!(
            "{{ __typename(x: {}1{}) }}",
            "[".repeat(depth),
            "]".repeat(depth)
        )
    }

    #[test]
    fn text_nested_past_the_limit_is_refused_without_parsing() {
        assert_eq!(check_text(&nested(MAX_TEXT_NESTING - 2)), Ok(()));
        assert_eq!(
            check_text(&nested(MAX_TEXT_NESTING)),
            Err(TextRefusal::TooDeep)
        );
        assert_eq!(check_text(&nested(1_000_000)), Err(TextRefusal::TooDeep));
        let braces = format!("{}{}", "{ a ".repeat(100), "}".repeat(100));
        assert_eq!(check_text(&braces), Err(TextRefusal::TooDeep));
        let parens = format!("{{ a{} }}", "(".repeat(100));
        assert_eq!(check_text(&parens), Err(TextRefusal::TooDeep));
    }

    #[test]
    fn brackets_in_strings_and_comments_are_not_nesting() {
        let deep = "[".repeat(500);
        for query in [
            format!("{{ customers(filter: {{search: \"{deep}\"}}) {{ totalCount }} }}"),
            format!("{{ a(x: \"\"\"{deep} \\\"\"\" {deep}\"\"\") }}"),
            format!("# {deep}\n{{ a }}"),
            format!("{{ a(x: \"\\\"{deep}\") }}"),
        ] {
            assert_eq!(check_text(&query), Ok(()), "{query}");
        }
        // A string cannot span lines: what follows the break is counted.
        let broken = format!("{{ a(x: \"open\n{deep}) }}");
        assert_eq!(check_text(&broken), Err(TextRefusal::TooDeep));
        // An unclosed block string is an empty string to the parser, which
        // reads on: what follows is counted.
        let unclosed = format!("{{ a(x: [\"\"\"\", {deep}1]) }}");
        assert_eq!(check_text(&unclosed), Err(TextRefusal::TooDeep));
    }

    #[test]
    fn nul_characters_raw_or_escaped_are_refused() {
        for query in [
            "{ customers(filter: {search: \"\\u0000\"}) { totalCount } }",
            "{ customers(filter: {search: \"a\0b\"}) { totalCount } }",
            "{ a }\0",
        ] {
            assert_eq!(
                check_text(query),
                Err(TextRefusal::NulCharacter),
                "{query:?}"
            );
        }
        for query in [
            "{ customers(filter: {search: \"\\\\u0000\"}) { totalCount } }",
            "{ customers(filter: {search: \"\\u0041\\u0010\"}) { totalCount } }",
            "{ a(x: \"\"\"\\u0000\"\"\") }",
        ] {
            assert_eq!(check_text(query), Ok(()), "{query:?}");
        }
    }

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
    fn depth_counts_fields_outside_introspection() {
        let nested = |depth: usize| {
            format!(
                "{{ {}id{} }}",
                "a { ".repeat(depth - 1),
                " }".repeat(depth - 1)
            )
        };
        assert_eq!(check(&nested(MAX_DEPTH)), Ok(()));
        assert_eq!(check(&nested(MAX_DEPTH + 1)), Err(Refusal::TooDeep));
        // Through fragments, as inlined.
        let through_fragments = "{ a { ...F } } fragment F on T { b { c { d { e { f { g { h { i { j { k } } } } } } } } } }";
        assert_eq!(check(through_fragments), Err(Refusal::TooDeep));
        // Type references twenty deep under `__schema` and `__type`.
        let chain = format!("{}name{}", "ofType { ".repeat(20), " }".repeat(20));
        let introspection = format!(
            "{{ __schema {{ types {{ fields {{ type {{ {chain} }} }} }} }} __type(name: \"Customer\") {{ fields {{ type {{ {chain} }} }} }} }}"
        );
        assert_eq!(check(&introspection), Ok(()));
    }

    #[test]
    fn a_chain_of_thousands_of_fragments_is_refused_without_recursing_down_it() {
        let mut query = String::from("{ a { ...F0 } }\n");
        for i in 0..20_000 {
            query.push_str(&format!("fragment F{i} on T {{ ...F{} }}\n", i + 1));
        }
        query.push_str("fragment F20000 on T { id }\n");
        assert_eq!(check_text(&query), Ok(()));
        assert_eq!(check(&query), Err(Refusal::RecursesTooDeep));
    }

    #[test]
    fn exponential_fragments_are_refused_at_once() {
        assert_eq!(check(&doubling_fragments(10)), Ok(()));
        assert_eq!(check(&doubling_fragments(25)), Err(Refusal::TooLarge));
        let cycle = "query { customers { edges { node { ...A } } } } fragment A on Customer { ...B } fragment B on Customer { ...A }";
        assert_eq!(check(cycle), Err(Refusal::FragmentCycle));
        assert_eq!(check("{ customers { totalCount } }"), Ok(()));
        assert_eq!(
            check("{ not valid"),
            Ok(()),
            "syntax errors are async-graphql's to report"
        );
    }
}
