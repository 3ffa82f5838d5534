//! Reading an expression: jsonata-core's parser, a position for its errors (which carry
//! none), and the rules the States Language adds: an expression must not read `$` or
//! `$$`, or name a field without a variable, at its top level — there is no input
//! document there, only `$states` and the variables.

use jsonata_core::ast::{AstNode, PathStep};

/// Why an expression does not parse or breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    /// What is wrong, without jsonata-core's "Parse error:" prefix.
    pub message: String,
    /// The character offset in the expression where it goes wrong, when known.
    pub offset: Option<usize>,
}

/// Expressions longer than this get no position for a syntax error: finding it parses
/// each prefix of the text once.
const MAX_POSITIONED_CHARS: usize = 2_000;

/// Parses `text` (the part between `{%` and `%}`).
pub fn parse(text: &str) -> Result<AstNode, SyntaxError> {
    if text.trim().is_empty() {
        return Err(SyntaxError {
            message: "the expression is empty".into(),
            offset: None,
        });
    }
    let ast = jsonata_core::parser::parse(text).map_err(|e| SyntaxError {
        message: clean(&e.display_message()),
        offset: error_offset(text),
    })?;
    if let Some(problem) = top_level_problem(&ast) {
        return Err(SyntaxError {
            message: problem,
            offset: None,
        });
    }
    Ok(ast)
}

fn clean(message: &str) -> String {
    message
        .strip_prefix("Parse error: ")
        .unwrap_or(message)
        .replace("Invalid syntax: ", "")
}

/// Where parsing first goes wrong: the end of the shortest prefix whose error is not
/// just that the text ended too soon.
fn error_offset(text: &str) -> Option<usize> {
    let boundaries: Vec<usize> = text.char_indices().map(|(i, c)| i + c.len_utf8()).collect();
    if boundaries.len() > MAX_POSITIONED_CHARS {
        return None;
    }
    let first_wrong = boundaries.iter().enumerate().find_map(|(chars, &end)| {
        match jsonata_core::parser::parse(&text[..end]) {
            Err(e) if !ends_too_soon(&e.display_message()) => Some(chars),
            _ => None,
        }
    });
    // Every prefix only ended too soon: what is missing is at the end.
    first_wrong.or(Some(boundaries.len()))
}

fn ends_too_soon(message: &str) -> bool {
    [
        "S0203",
        "S0207",
        "S0101",
        "S0105",
        "Unclosed comment",
        "end of expression",
        "Eof",
    ]
    .iter()
    .any(|marker| message.contains(marker))
}

/// The States Language's rule on what an expression reads at its top level (outside
/// paths' later steps, predicates and function bodies, where `$` is the item at hand).
fn top_level_problem(node: &AstNode) -> Option<String> {
    let problem = |what: String| {
        Some(format!(
            "{what} cannot be read at the top level of an expression: there is no input document there; read the state's input as $states.input"
        ))
    };
    match node {
        AstNode::Variable(name) if name.is_empty() => problem("'$'".into()),
        AstNode::ParentVariable(_) => problem("'$$'".into()),
        AstNode::Name(name) => problem(format!("the field name '{name}' (without a variable)")),
        AstNode::Wildcard | AstNode::Descendant => problem("a wildcard".into()),
        AstNode::Path { steps } => steps
            .first()
            .and_then(|PathStep { node, .. }| top_level_problem(node)),
        AstNode::Binary { lhs, rhs, .. } => {
            top_level_problem(lhs).or_else(|| top_level_problem(rhs))
        }
        AstNode::Unary { operand, .. } => top_level_problem(operand),
        AstNode::Function { args, .. } => args.iter().find_map(top_level_problem),
        AstNode::Call { procedure, args } => {
            top_level_problem(procedure).or_else(|| args.iter().find_map(top_level_problem))
        }
        AstNode::Array(items) | AstNode::Block(items) | AstNode::ArrayGroup(items) => {
            items.iter().find_map(top_level_problem)
        }
        AstNode::Object(pairs) => pairs
            .iter()
            .find_map(|(k, v)| top_level_problem(k).or_else(|| top_level_problem(v))),
        AstNode::Conditional {
            condition,
            then_branch,
            else_branch,
        } => top_level_problem(condition)
            .or_else(|| top_level_problem(then_branch))
            .or_else(|| else_branch.as_deref().and_then(top_level_problem)),
        AstNode::ObjectTransform { input, .. } => top_level_problem(input),
        AstNode::Sort { input, .. } => top_level_problem(input),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_say_where() {
        let e = parse("$states.input.a + ").unwrap_err();
        assert!(e.message.contains("S0207"), "{e:?}");
        let e = parse("$states.input.a b").unwrap_err();
        assert_eq!(e.offset, Some(16), "{e:?}");
        let e = parse("[1, 2)").unwrap_err();
        assert_eq!(e.offset, Some(5), "{e:?}");
        assert!(parse("  ").unwrap_err().message.contains("empty"));
    }

    #[test]
    fn the_top_level_reads_no_input_document() {
        for bad in ["$", "$$.x", "title", "$.a", "foo + 1", "$count(items)", "*"] {
            let e = parse(bad).unwrap_err();
            assert!(e.message.contains("top level"), "{bad}: {e:?}");
        }
        for good in [
            "$states.input.title",
            "$x.a",
            "$map($states.input.items, function($v) { $v.price })",
            "$states.input.items[price > 10].name",
            "$states.input.items.($.a)",
            "{'a': 1}",
            "($x := 1; $x + 1)",
        ] {
            parse(good).unwrap_or_else(|e| panic!("{good}: {e:?}"));
        }
    }
}
