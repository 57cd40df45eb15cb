//! Guards that run before async-graphql sees a document.
//!
//! The query text is scanned first, in one linear pass: the parser recurses
//! once per nested bracket, brace or parenthesis, so text nested a few
//! thousand levels deep would overflow its stack and abort the process; and
//! a `\u0000` escape would reach SQL as a NUL, which PostgreSQL refuses.
//!
//! Then fragments that spread each other twice per level expand
//! exponentially, and the validator walks that expansion before its
//! complexity limit can refuse it. Here each fragment is sized once, so the
//! refusal costs microseconds.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::parser::{Positioned, parse_query};

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
