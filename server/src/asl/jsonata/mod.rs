//! JSONata, the query language of `"QueryLanguage": "JSONata"` states: an expression is
//! a string `"{% ... %}"` in a field that accepts one. Each is parsed once, when the
//! definition is read (a syntax error is a diagnostic with the field and the position),
//! and evaluated with `$states` (`input`, `result`, `errorOutput`, `context`) and the
//! workflow variables bound, as AWS binds them.
//!
//! The evaluator is jsonata-core (docs/JSONATA.md says why). Everything it could do that
//! would leave the engine's purity or the server's bounds goes through here: `$now`,
//! `$millis`, `$random` and `$uuid` read the engine's clock and random source, never the
//! machine's; an evaluation holds at most [`Limits::memory_bytes`], nests at most
//! [`Limits::max_depth`] levels, builds sequences of at most [`Limits::max_sequence`]
//! items and is cancelled by the runtime's watch after [`Limits::time_ms`]; and the
//! built-ins that can build far more than they were given are checked before they run
//! (`guard`).

mod convert;
mod functions;
mod guard;
mod syntax;
pub mod template;

use std::cell::OnceCell;
use std::collections::BTreeSet;
use std::sync::Arc;

use jsonata_core::ast::AstNode;
use jsonata_core::evaluator::{CancelToken, Context, Evaluator, EvaluatorOptions};
use jsonata_core::value::JValue;
use serde_json::Value;

use super::error::{StatesError, names};
use super::eval::Env;
use crate::allocation::Budget;

pub use syntax::SyntaxError;
pub use template::JsonataValue;

/// How far one evaluation may go. The defaults accept every expression AWS was measured
/// to accept (docs/JSONATA.md, "Bounds"), with room to spare.
#[derive(Clone)]
pub struct Limits {
    /// The most the evaluation may hold in the heap at once.
    pub memory_bytes: usize,
    /// The deepest the evaluator may nest (AST levels, several per function call).
    pub max_depth: usize,
    /// The longest sequence (a range, a mapped array) it may build.
    pub max_sequence: usize,
    /// How long it may run, enforced by `watch`.
    pub time_ms: u64,
    /// What cancels an evaluation that runs past `time_ms`; without one (definition
    /// checks, unit tests) only the other limits apply. The runtime's lives outside the
    /// engine, which reads no clock.
    pub watch: Option<Arc<dyn Watch>>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 128 * 1024 * 1024,
            max_depth: 1000,
            max_sequence: 1_000_000,
            // Every execution's steps are decided under one runtime lock (until the
            // runtime is partitioned), so this also bounds how long one evaluation can
            // hold up the others; a second is tens of millions of evaluator steps.
            time_ms: 1_000,
            watch: None,
        }
    }
}

/// Cancels evaluations that run too long.
pub trait Watch: Send + Sync {
    /// Cancel `token` unless `end` is called with the returned ticket within `time_ms`.
    fn begin(&self, token: &CancelToken, time_ms: u64) -> u64;
    /// The evaluation with this ticket has ended.
    fn end(&self, ticket: u64);
}

/// `$states`: what a JSONata expression may read of the state it is in. Which members
/// a field sees is AWS's rule: `result` in a state's own Output and Assign, `errorOutput`
/// in a Catcher's.
#[derive(Clone, Copy)]
pub struct States<'a> {
    /// The state's input.
    pub input: &'a Value,
    /// The Task, Parallel or Map result.
    pub result: Option<&'a Value>,
    /// The error output, in a Catcher.
    pub error_output: Option<&'a Value>,
}

/// A parsed JSONata expression.
#[derive(Debug, Clone)]
pub struct Expression {
    text: String,
    ast: Arc<AstNode>,
    /// The `$names` it mentions: the variables to bind (those that exist).
    names: Arc<BTreeSet<String>>,
    /// The functions it calls by name, for the AWS additions only those are registered.
    functions: Arc<BTreeSet<String>>,
}

impl PartialEq for Expression {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// The expression inside `"{% ... %}"`, if `text` is one.
pub fn expression_text(text: &str) -> Option<&str> {
    text.strip_prefix("{%")?.strip_suffix("%}")
}

impl Expression {
    /// Parses the text between `{%` and `%}` and checks AWS's static rules.
    pub fn parse(text: &str) -> Result<Expression, SyntaxError> {
        let ast = syntax::parse(text)?;
        let mut names = BTreeSet::new();
        let mut functions = BTreeSet::new();
        guard::collect_names(&ast, &mut names, &mut functions);
        let ast = guard::rewrite(ast);
        Ok(Expression {
            text: text.trim().to_string(),
            ast: Arc::new(ast),
            names: Arc::new(names),
            functions: Arc::new(functions),
        })
    }

    /// The expression as written (trimmed), for messages.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether it may read `$states.context` (the context object is built only then).
    pub fn reads_context(&self) -> bool {
        self.names.contains("states") && reads_member(&self.text, "context")
    }

    /// Whether it reads the variable `name` or `$states`.
    pub fn mentions(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// Evaluates it; `field` names where it is written (`Output/total`, `Choices[1]/Condition`)
    /// for AWS's cause text. An expression that returns nothing is an error, as on AWS: JSON
    /// has no undefined.
    pub fn evaluate(
        &self,
        states: &States,
        env: &mut Env,
        field: impl std::fmt::Display,
    ) -> Result<Value, StatesError> {
        self.evaluate_converted(states, &Converted::default(), env, field)
    }

    /// `evaluate`, with `$states`' members converted at most once for all the
    /// expressions of one field (`converted`).
    pub(crate) fn evaluate_converted(
        &self,
        states: &States,
        converted: &Converted,
        env: &mut Env,
        field: impl std::fmt::Display,
    ) -> Result<Value, StatesError> {
        match self.evaluate_raw(states, converted, env)? {
            Outcome::Value(value) => Ok(value),
            Outcome::Nothing => Err(self.failure(field, "returned nothing (undefined).")),
            // AWS ends the sentence before a coded JSONata message ("... evaluation.
            // T0410: ...") and runs on into a bound's message, which has no code
            // ("... evaluation: Expression evaluation memory limit exceeded ...").
            Outcome::Failed(detail) if starts_with_code(&detail) => Err(self.failure(
                field,
                &format!("threw an error during evaluation. {detail}"),
            )),
            Outcome::Failed(detail) => Err(self.failure(
                field,
                &format!("threw an error during evaluation: {detail}"),
            )),
        }
    }

    fn failure(&self, field: impl std::fmt::Display, what: &str) -> StatesError {
        StatesError::new(
            names::QUERY_EVALUATION_ERROR,
            format!(
                "The JSONata expression '{}' specified for the field '{field}' {what}",
                self.text
            ),
        )
    }

    fn evaluate_raw(
        &self,
        states: &States,
        converted: &Converted,
        env: &mut Env,
    ) -> Result<Outcome, StatesError> {
        let mut context = Context::new();
        if self.names.contains("states") {
            context.bind("states".into(), states_object(self, states, converted, env));
        }
        for name in self.names.iter() {
            if let Some(value) = env.variables.get(name) {
                context.bind(name.clone(), convert::to_jsonata(value));
            }
        }
        Ok(self.run(context, &JValue::Undefined, env))
    }

    /// Evaluates with `context` bound and `input` as the document `$` reads (undefined
    /// in a state, where there is none), within `env`'s limits.
    fn run(&self, context: Context, input: &JValue, env: &mut Env) -> Outcome {
        let limits = env.jsonata.clone();
        let token = CancelToken::new();
        let options = EvaluatorOptions {
            timeout_ms: None,
            cancel: Some(token.clone()),
            max_stack_depth: Some(limits.max_depth),
            max_sequence_length: Some(limits.max_sequence),
        };
        let mut evaluator = Evaluator::with_options(context, options);
        functions::register(&mut evaluator, &self.functions, env, &limits);
        let ticket = limits
            .watch
            .as_ref()
            .map(|watch| watch.begin(&token, limits.time_ms));
        let (result, memory_exceeded) = {
            let budget = Budget::open(limits.memory_bytes, &token);
            let result = evaluator
                .evaluate(&self.ast, input)
                .map_err(|e| e.message().to_string())
                .and_then(|value| {
                    if value.is_undefined() {
                        Ok(None)
                    } else {
                        convert::from_jsonata(&value, limits.memory_bytes).map(Some)
                    }
                });
            // The result is converted inside the budget: a value that is small in memory
            // but huge as JSON (one string referenced a million times) stops there.
            (result, budget.exceeded())
        };
        if let (Some(watch), Some(ticket)) = (&limits.watch, ticket) {
            watch.end(ticket);
        }
        let timed_out = token.is_cancelled() && !memory_exceeded;
        match result {
            _ if memory_exceeded => Outcome::Failed(
                "Expression evaluation memory limit exceeded: Check for excessive memory usage"
                    .into(),
            ),
            _ if timed_out => Outcome::Failed(format!(
                "Expression evaluation time limit of {} ms exceeded: Check for an endless loop",
                limits.time_ms
            )),
            Ok(Some(value)) => Outcome::Value(value),
            Ok(None) => Outcome::Nothing,
            Err(message) => Outcome::Failed(message),
        }
    }
}

/// Parses and evaluates `text` against a document, with `bindings` as variables, as the
/// reference JSONata test suite does: the evaluator, functions and bounds of a state's
/// expressions, without the States Language's rule that an expression reads no
/// document. For measuring the evaluator (`examples/jsonata_suite.rs`); `Ok(None)` is
/// undefined, an error is its message (which starts with JSONata's error code).
pub fn evaluate_document(
    text: &str,
    input: Option<&Value>,
    bindings: &serde_json::Map<String, Value>,
    env: &mut Env,
) -> Result<Option<Value>, String> {
    let ast = jsonata_core::parser::parse(text).map_err(|e| e.display_message())?;
    let mut names = BTreeSet::new();
    let mut functions = BTreeSet::new();
    guard::collect_names(&ast, &mut names, &mut functions);
    let expression = Expression {
        text: text.to_string(),
        ast: Arc::new(guard::rewrite(ast)),
        names: Arc::new(names),
        functions: Arc::new(functions),
    };
    let mut context = Context::new();
    for (name, value) in bindings {
        context.bind(name.clone(), convert::to_jsonata(value));
    }
    let input = input.map_or(JValue::Undefined, convert::to_jsonata);
    match expression.run(context, &input, env) {
        Outcome::Value(value) => Ok(Some(value)),
        Outcome::Nothing => Ok(None),
        Outcome::Failed(message) => Err(message),
    }
}

enum Outcome {
    Value(Value),
    Nothing,
    Failed(String),
}

/// Whether a message begins with a JSONata error code such as `T0410:`.
fn starts_with_code(message: &str) -> bool {
    let bytes = message.as_bytes();
    bytes.len() > 5
        && bytes[0].is_ascii_uppercase()
        && bytes[1..5].iter().all(u8::is_ascii_digit)
        && bytes[5] == b':'
}

/// Whether `$states.<member>` may be read: it is named, or `$states` is used whole.
fn reads_member(text: &str, member: &str) -> bool {
    text.match_indices("$states").any(|(at, _)| {
        let rest = &text[at + "$states".len()..];
        match rest.strip_prefix('.') {
            Some(after) => {
                after.starts_with(member)
                    || !["input", "result", "errorOutput", "context"]
                        .iter()
                        .any(|m| after.starts_with(m))
            }
            None => !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_'),
        }
    })
}

/// `$states` with the members the expression may read.
fn states_object(
    expression: &Expression,
    states: &States,
    converted: &Converted,
    env: &Env,
) -> JValue {
    let text = expression.text();
    let mut members = indexmap::IndexMap::new();
    let once = |cell: &OnceCell<JValue>, value: &Value| {
        cell.get_or_init(|| convert::to_jsonata(value)).clone()
    };
    if reads_member(text, "input") {
        members.insert("input".to_string(), once(&converted.input, states.input));
    }
    if let Some(result) = states.result.filter(|_| reads_member(text, "result")) {
        members.insert("result".to_string(), once(&converted.result, result));
    }
    if let Some(error_output) = states
        .error_output
        .filter(|_| reads_member(text, "errorOutput"))
    {
        members.insert(
            "errorOutput".to_string(),
            once(&converted.error_output, error_output),
        );
    }
    if reads_member(text, "context") {
        members.insert("context".to_string(), once(&converted.context, env.context));
    }
    JValue::object(members)
}

/// `$states`' members as JSONata values, converted when an expression first reads one
/// and shared by the other expressions of the same field (the values are shared, not
/// copied): an `Arguments` of twenty expressions over a large input converted it twenty
/// times.
#[derive(Default)]
pub(crate) struct Converted {
    input: OnceCell<JValue>,
    result: OnceCell<JValue>,
    error_output: OnceCell<JValue>,
    context: OnceCell<JValue>,
}

#[cfg(test)]
mod tests;
