//! Paths: the JSONPath subset the Amazon States Language uses to pick data out of a
//! state's input or the context object (`$$`), and reference paths, which name exactly
//! one node and can also *set* a value (ResultPath).
//!
//! Selection is delegated to `serde_json_path` (RFC 9535), after rewriting AWS's looser
//! dot notation (`$.foo-bar`, `$.abc.['def ghi']`) into bracket notation, so that member
//! names the RFC's shorthand does not allow still work as they do on AWS (Jayway-style).
//! Like Jayway JsonPath, a *definite* path (no wildcard, descendant, filter, slice or
//! union) yields the one value it names, and an *indefinite* one yields the array of all
//! matches, possibly empty.

use serde_json::{Map, Value};

use super::json::{MAX_NESTING, describe};
use super::variables::Variables;

/// Which document a path reads: the state's input (`$`), the context object (`$$`) or a
/// workflow variable (`$name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// `$...`: the data the state is processing.
    Input,
    /// `$$...`: the context object (execution, state, task token, map item).
    Context,
    /// `$name...`: the variable `name` (AWS: variables are read in JSONPath as `$name`).
    Variable(String),
}

/// What a path may read besides the state's data: the context object and the variables.
#[derive(Clone, Copy)]
pub struct Sources<'s> {
    /// What `$$` reads.
    pub context: &'s Value,
    /// What `$name` reads.
    pub variables: &'s Variables<'s>,
}

impl<'s> Sources<'s> {
    /// The context object and no variables (where no variable can be read).
    pub fn context_only(context: &'s Value) -> Sources<'s> {
        Sources {
            context,
            variables: &super::variables::NO_VARIABLES,
        }
    }

    /// The document a path with this root reads (None: an unassigned variable).
    fn document<'v>(&self, root: &Root, input: &'v Value) -> Option<&'v Value>
    where
        's: 'v,
    {
        match root {
            Root::Input => Some(input),
            Root::Context => Some(self.context),
            Root::Variable(name) => self.variables.get(name),
        }
    }

    /// Where a root reads from, for messages.
    pub fn describe(root: &Root) -> String {
        match root {
            Root::Input => "the input".into(),
            Root::Context => "the context object".into(),
            Root::Variable(name) => format!("the variable '{name}'"),
        }
    }
}

/// Why a path string is not a valid path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not a valid {kind}: {reason}")]
pub struct PathError {
    /// The path as written.
    pub text: String,
    /// "path" or "reference path".
    pub kind: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// A compiled JSONPath used for selection.
#[derive(Debug, Clone)]
pub struct Path {
    text: String,
    root: Root,
    definite: bool,
    compiled: serde_json_path::JsonPath,
}

impl PartialEq for Path {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Path {
    /// Compiles a path such as `$.a.b[0]`, `$..price`, `$.items[?(@.qty > 1)]` or `$$.Execution.Id`.
    pub fn parse(text: &str) -> Result<Path, PathError> {
        let error = |reason: String| PathError {
            text: text.to_string(),
            kind: "path",
            reason,
        };
        let (root, rest) =
            split_root(text).ok_or_else(|| error("a path must begin with '$'".into()))?;
        check_nesting(rest).map_err(error)?;
        let (normalized, definite) = normalize(rest).map_err(error)?;
        let compiled = serde_json_path::JsonPath::parse(&normalized).map_err(|e| {
            error(
                e.to_string()
                    .lines()
                    .next()
                    .unwrap_or("syntax error")
                    .to_string(),
            )
        })?;
        Ok(Path {
            text: text.to_string(),
            root,
            definite,
            compiled,
        })
    }

    /// The path as written in the definition.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Which document the path reads.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// Whether the path names at most one node (no wildcard, descendant, filter, slice or union).
    pub fn is_definite(&self) -> bool {
        self.definite
    }

    /// Selects from `input` or `context`: the value for a definite path (None when nothing
    /// is there), the array of matches for an indefinite one.
    pub fn select(&self, input: &Value, sources: Sources) -> Option<Value> {
        let document = sources.document(&self.root, input)?;
        let nodes = self.compiled.query(document);
        if self.definite {
            nodes.exactly_one().ok().cloned()
        } else {
            Some(Value::Array(nodes.all().into_iter().cloned().collect()))
        }
    }
}

/// One step of a reference path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// `.name` or `['name']`.
    Field(String),
    /// `[3]`.
    Index(usize),
}

/// A path that names exactly one node: only `.name`, `['name']` and `[index]` steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferencePath {
    text: String,
    root: Root,
    segments: Vec<Segment>,
}

impl ReferencePath {
    /// Parses `$`, `$.a.b`, `$['a b'][0]` or `$$.Execution.Input`.
    pub fn parse(text: &str) -> Result<ReferencePath, PathError> {
        let error = |reason: String| PathError {
            text: text.to_string(),
            kind: "reference path",
            reason,
        };
        let (root, rest) =
            split_root(text).ok_or_else(|| error("a reference path must begin with '$'".into()))?;
        let segments = parse_segments(rest).map_err(error)?;
        // Each step is a level of the value ResultPath builds: a path longer than the
        // nesting limit could only build a value the engine refuses.
        if segments.len() > MAX_NESTING {
            return Err(error(format!(
                "it has {} steps; at most {MAX_NESTING} are allowed",
                segments.len()
            )));
        }
        Ok(ReferencePath {
            text: text.to_string(),
            root,
            segments,
        })
    }

    /// The root reference path `$`.
    pub fn root_path() -> ReferencePath {
        ReferencePath {
            text: "$".into(),
            root: Root::Input,
            segments: Vec::new(),
        }
    }

    /// The path as written in the definition.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Which document the path reads.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// The steps after the root.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The node the path names, if it exists.
    pub fn get<'v>(&self, input: &'v Value, sources: Sources<'v>) -> Option<&'v Value> {
        let mut node = sources.document(&self.root, input)?;
        for segment in &self.segments {
            node = match (segment, node) {
                (Segment::Field(name), Value::Object(map)) => map.get(name)?,
                (Segment::Index(i), Value::Array(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Places `value` at this path inside `target`, creating objects along the way, as
    /// ResultPath does. Fails when a step meets a value that is not an object (or, for an
    /// index step, not an array long enough).
    pub fn set(&self, target: Value, value: Value) -> Result<Value, String> {
        if self.root != Root::Input {
            return Err(format!(
                "'{}' refers to {}, which cannot be written",
                self.text,
                Sources::describe(&self.root)
            ));
        }
        let mut target = target;
        let mut node = &mut target;
        let mut walked = String::from("$");
        for segment in &self.segments {
            node = match segment {
                Segment::Field(name) => {
                    if node.is_null() {
                        *node = Value::Object(Map::new());
                    }
                    let Value::Object(map) = node else {
                        return Err(format!(
                            "'{walked}' is {}, so '{}' cannot be set inside it",
                            describe(node),
                            self.text
                        ));
                    };
                    walked.push_str(&format!(".{name}"));
                    map.entry(name.clone()).or_insert(Value::Null)
                }
                Segment::Index(i) => {
                    let kind = describe(node);
                    let Value::Array(items) = node else {
                        return Err(format!(
                            "'{walked}' is {kind}, so '{}' cannot be set inside it",
                            self.text
                        ));
                    };
                    let len = items.len();
                    walked.push_str(&format!("[{i}]"));
                    items.get_mut(*i).ok_or_else(|| {
                        format!("'{walked}' is past the end of an array of {len} items")
                    })?
                }
            };
        }
        *node = value;
        Ok(target)
    }
}

/// How deeply brackets and parentheses may nest in a path: filters nest them, and the
/// JSONPath parser recurses once per level (about 8 KiB of stack a level in a debug
/// build, so 1,000 levels in a 2 KB definition ended the process).
pub const MAX_PATH_NESTING: usize = 32;

/// Refuses a path whose brackets and parentheses (outside quoted names and strings) nest
/// deeper than [`MAX_PATH_NESTING`], before any recursive parser sees it.
fn check_nesting(rest: &str) -> Result<(), String> {
    let mut depth = 0usize;
    for c in unquoted(rest) {
        match c {
            '[' | '(' => {
                depth += 1;
                if depth > MAX_PATH_NESTING {
                    return Err(format!(
                        "its brackets and parentheses nest more than {MAX_PATH_NESTING} deep"
                    ));
                }
            }
            ']' | ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The characters of `text` outside `'...'` and `"..."` quotes (a backslash escapes the
/// next character inside them); the quotes themselves are left out too.
fn unquoted(text: &str) -> impl Iterator<Item = char> + '_ {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    text.chars().filter(move |&c| {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            return false;
        }
        if c == '\'' || c == '"' {
            quote = Some(c);
            return false;
        }
        true
    })
}

/// Splits `$$rest`, `$name rest` and `$rest` into the root and the rest.
fn split_root(text: &str) -> Option<(Root, &str)> {
    if let Some(rest) = text.strip_prefix("$$") {
        return Some((Root::Context, rest));
    }
    let rest = text.strip_prefix('$')?;
    let name_end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    if name_end == 0 {
        Some((Root::Input, rest))
    } else {
        Some((
            Root::Variable(rest[..name_end].to_string()),
            &rest[name_end..],
        ))
    }
}

/// Rewrites the part after `$` into RFC 9535 syntax with `$` prepended, and reports
/// whether the path is definite.
fn normalize(rest: &str) -> Result<(String, bool), String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut out = String::from("$");
    let mut definite = true;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                if chars.get(i + 1) == Some(&'.') {
                    definite = false;
                    out.push_str("..");
                    i += 2;
                } else {
                    i += 1;
                }
                match chars.get(i) {
                    None => return Err("the path ends with '.'".into()),
                    // `$.abc.['def ghi']`: AWS accepts a dot before a bracket.
                    Some('[') => {}
                    Some('*') => {
                        definite = false;
                        out.push_str("[*]");
                        i += 1;
                    }
                    Some(_) => {
                        let start = i;
                        while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                            i += 1;
                        }
                        let name: String = chars[start..i].iter().collect();
                        if name.contains(['(', ')', ' ']) && name.ends_with(')') {
                            return Err(format!("functions such as '{name}' are not supported"));
                        }
                        out.push_str(&quote_member(&name));
                    }
                }
            }
            '[' => {
                let end = matching_bracket(&chars, i)?;
                let inner: String = chars[i + 1..end].iter().collect();
                if let Some(name) = one_quoted_name(&inner) {
                    // Written again in the RFC's form: Jayway (AWS) reads `\"` inside
                    // single quotes as a quote, which the RFC does not allow there.
                    out.push_str(&quote_member(&name));
                    i = end + 1;
                    continue;
                }
                if selector_is_indefinite(&inner) {
                    definite = false;
                }
                out.push('[');
                out.push_str(&inner);
                out.push(']');
                i = end + 1;
            }
            c => {
                return Err(format!(
                    "unexpected '{c}' (use '.name' or '[...]' after '$')"
                ));
            }
        }
    }
    Ok((out, definite))
}

/// `['name']` with quotes and backslashes escaped.
/// The name in `inner` when it is exactly one quoted name (`'a\"b'`, `"x"`), with its
/// escapes resolved; None for anything else (an index, a union, a filter).
fn one_quoted_name(inner: &str) -> Option<String> {
    let inner = inner.trim();
    let mut chars = inner.chars();
    let quote = chars.next().filter(|c| *c == '\'' || *c == '"')?;
    let mut name = String::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' => name.push(chars.next()?),
            c if c == quote => return chars.next().is_none().then_some(name),
            c => name.push(c),
        }
    }
    None
}

fn quote_member(name: &str) -> String {
    let escaped = name.replace('\\', "\\\\").replace('\'', "\\'");
    format!("['{escaped}']")
}

/// The index of the `]` closing the `[` at `open`, skipping quoted strings and nesting.
fn matching_bracket(chars: &[char], open: usize) -> Result<usize, String> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    let mut i = open;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == '\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
        } else {
            match c {
                '\'' | '"' => quote = Some(c),
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(i);
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    Err("a '[' is never closed".into())
}

/// Whether a bracket selector can select several nodes: wildcard, filter, slice or union.
fn selector_is_indefinite(inner: &str) -> bool {
    unquoted(inner).any(|c| matches!(c, '*' | '?' | ':' | ','))
}

/// Parses the steps of a reference path.
fn parse_segments(rest: &str) -> Result<Vec<Segment>, String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut segments = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                if chars.get(i) == Some(&'[') {
                    continue;
                }
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                if name.is_empty() {
                    return Err("'..' and empty names are not allowed".into());
                }
                if let Some(op) = name
                    .chars()
                    .find(|c| matches!(c, '*' | '@' | '?' | ',' | ':'))
                {
                    return Err(format!("the operator '{op}' is not allowed"));
                }
                segments.push(Segment::Field(name));
            }
            '[' => {
                let end = matching_bracket(&chars, i)?;
                let inner: String = chars[i + 1..end].iter().collect();
                let inner = inner.trim();
                if let Some(name) = unquote(inner) {
                    segments.push(Segment::Field(name?));
                } else if let Ok(index) = inner.parse::<usize>() {
                    segments.push(Segment::Index(index));
                } else {
                    return Err(format!(
                        "'[{inner}]' is not allowed: use a quoted name or a non-negative index"
                    ));
                }
                i = end + 1;
            }
            c => return Err(format!("unexpected '{c}'")),
        }
    }
    Ok(segments)
}

/// `'name'` or `"name"` → `name`, with backslash escapes resolved.
fn unquote(inner: &str) -> Option<Result<String, String>> {
    let quote = inner.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    if inner.len() < 2 || !inner.ends_with(quote) {
        return Some(Err(format!("unterminated name {inner}")));
    }
    let body = &inner[1..inner.len() - 1];
    let mut name = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(next) => name.push(next),
                None => return Some(Err(format!("dangling backslash in {inner}"))),
            }
        } else {
            name.push(c);
        }
    }
    Some(Ok(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn select(path: &str, input: &Value) -> Option<Value> {
        Path::parse(path).unwrap().select(
            input,
            Sources::context_only(&json!({"Execution": {"Id": "x"}})),
        )
    }

    #[test]
    fn deeply_nested_filters_are_refused_before_the_parser_recurses() {
        let nested = |n: usize| format!("$.a[?{}@.b > 1{}]", "(".repeat(n), ")".repeat(n));
        assert!(Path::parse(&nested(MAX_PATH_NESTING - 1)).is_ok());
        let err = Path::parse(&nested(MAX_PATH_NESTING)).unwrap_err();
        assert!(err.reason.contains("nest more than 32 deep"), "{err}");
        // The 2 KB definition that once overflowed the stack: refused at once, even on a
        // thread with a small stack.
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || assert!(Path::parse(&nested(1000)).is_err()))
            .unwrap()
            .join()
            .unwrap();
        // Brackets inside quoted names do not count.
        let quoted = format!("$['{}']", "((([[[".repeat(20));
        assert!(Path::parse(&quoted).is_ok(), "{quoted}");
    }

    #[test]
    fn reference_paths_longer_than_the_nesting_limit_are_refused() {
        let path = |steps: usize| format!("${}", ".a".repeat(steps));
        assert!(ReferencePath::parse(&path(MAX_NESTING)).is_ok());
        let err = ReferencePath::parse(&path(MAX_NESTING + 1)).unwrap_err();
        assert!(err.reason.contains("101 steps; at most 100"), "{err}");
    }

    // The reference-path examples from the AWS "Paths" page.
    #[test]
    fn aws_reference_path_examples() {
        let input = json!({"foo": 123, "bar": ["a", "b", "c"], "car": {"cdr": true}});
        assert_eq!(select("$.foo", &input), Some(json!(123)));
        assert_eq!(select("$.bar", &input), Some(json!(["a", "b", "c"])));
        assert_eq!(select("$.car.cdr", &input), Some(json!(true)));
        let ctx = json!(null);
        let reference = ReferencePath::parse("$.car.cdr").unwrap();
        assert_eq!(
            reference.get(&input, Sources::context_only(&ctx)),
            Some(&json!(true))
        );
    }

    #[test]
    fn root_selects_everything() {
        let input = json!({"a": 1});
        assert_eq!(select("$", &input), Some(input.clone()));
    }

    #[test]
    fn definite_path_that_matches_nothing_selects_none() {
        assert_eq!(select("$.missing", &json!({"a": 1})), None);
        assert_eq!(select("$.a.b", &json!({"a": 1})), None);
    }

    #[test]
    fn indefinite_paths_select_arrays() {
        let input = json!({"items": [{"p": 1, "q": 2}, {"p": 5}, {"p": 10}]});
        assert_eq!(select("$.items[*].p", &input), Some(json!([1, 5, 10])));
        assert_eq!(select("$..p", &input), Some(json!([1, 5, 10])));
        assert_eq!(select("$.items[1:3].p", &input), Some(json!([5, 10])));
        assert_eq!(
            select("$.items[?(@.p > 2)].p", &input),
            Some(json!([5, 10]))
        );
        assert_eq!(select("$.items[?(@.p > 99)]", &input), Some(json!([])));
        assert_eq!(select("$.items[0,2].p", &input), Some(json!([1, 10])));
    }

    #[test]
    fn loose_member_names_work_as_on_aws() {
        let input = json!({"foo-bar": {"def ghi": 3}, "0": "zero"});
        assert_eq!(select("$.foo-bar", &input), Some(json!({"def ghi": 3})));
        assert_eq!(select("$.foo-bar.['def ghi']", &input), Some(json!(3)));
        assert_eq!(select("$['foo-bar']['def ghi']", &input), Some(json!(3)));
        assert_eq!(select("$.0", &input), Some(json!("zero")));
    }

    #[test]
    fn context_paths_read_the_context_object() {
        let path = Path::parse("$$.Execution.Id").unwrap();
        assert_eq!(path.root(), &Root::Context);
        assert_eq!(
            path.select(
                &json!({}),
                Sources::context_only(&json!({"Execution": {"Id": "e1"}}))
            ),
            Some(json!("e1"))
        );
    }

    #[test]
    fn invalid_paths_are_rejected_with_a_reason() {
        assert!(
            Path::parse("foo")
                .unwrap_err()
                .reason
                .contains("begin with '$'")
        );
        assert!(Path::parse("$.a[").is_err());
        assert!(Path::parse("$.").is_err());
        assert!(Path::parse("$.a.length()").is_err());
    }

    #[test]
    fn reference_paths_reject_operators() {
        for bad in [
            "$..a",
            "$.a[*]",
            "$.a[?(@.b)]",
            "$.a[1:2]",
            "$.*",
            "a.b",
            "$.a[-1]",
        ] {
            assert!(
                ReferencePath::parse(bad).is_err(),
                "{bad} should be rejected"
            );
        }
        let ok = ReferencePath::parse("$.a['b c'][2]").unwrap();
        assert_eq!(
            ok.segments(),
            &[
                Segment::Field("a".into()),
                Segment::Field("b c".into()),
                Segment::Index(2)
            ]
        );
    }

    #[test]
    fn set_creates_objects_along_the_way() {
        let path = ReferencePath::parse("$.a.b.c").unwrap();
        let out = path.set(json!({"x": 1}), json!(5)).unwrap();
        assert_eq!(out, json!({"x": 1, "a": {"b": {"c": 5}}}));
    }

    #[test]
    fn set_at_root_replaces() {
        let out = ReferencePath::root_path()
            .set(json!({"x": 1}), json!([1]))
            .unwrap();
        assert_eq!(out, json!([1]));
    }

    #[test]
    fn set_overwrites_existing_field_and_keeps_siblings() {
        let path = ReferencePath::parse("$.a.b").unwrap();
        let out = path
            .set(json!({"a": {"b": 1, "c": 2}}), json!("new"))
            .unwrap();
        assert_eq!(out, json!({"a": {"b": "new", "c": 2}}));
    }

    #[test]
    fn set_into_a_non_object_fails_naming_the_step() {
        let path = ReferencePath::parse("$.a.b").unwrap();
        let err = path.set(json!({"a": "text"}), json!(1)).unwrap_err();
        assert!(err.contains("'$.a' is a string"), "{err}");
        let err = ReferencePath::parse("$.x")
            .unwrap()
            .set(json!([1]), json!(1))
            .unwrap_err();
        assert!(err.contains("'$' is an array"), "{err}");
    }

    #[test]
    fn set_by_index_needs_an_existing_element() {
        let path = ReferencePath::parse("$.list[1]").unwrap();
        assert_eq!(
            path.set(json!({"list": [0, 0]}), json!(9)).unwrap(),
            json!({"list": [0, 9]})
        );
        assert!(path.set(json!({"list": [0]}), json!(9)).is_err());
    }
}

#[cfg(test)]
mod quoted_name_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bracket_names_with_escaped_quotes_parse_and_select() {
        let input = json!({"a\"b": 1, "it's": 2, "back\\slash": 3});
        for (text, expected) in [
            (r#"$['a\"b']"#, 1),
            (r"$['it\'s']", 2),
            (r"$['back\\slash']", 3),
        ] {
            let path = Path::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                path.select(&input, Sources::context_only(&json!({}))),
                Some(json!(expected)),
                "{text}"
            );
            let reference = ReferencePath::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                reference.get(&input, Sources::context_only(&json!({}))),
                Some(&json!(expected)),
                "{text}"
            );
        }
    }
}
