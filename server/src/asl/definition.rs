//! The typed form of a definition: a state machine is a branch (StartAt + States) with
//! a few top-level fields; each state has a name, its data-flow fields, a transition and
//! the fields of its type. `validate::parse` builds these from JSON; nothing here can
//! hold a definition that failed validation.

use indexmap::IndexMap;
use serde_json::Value;

use super::error::{StatesError, names};
use super::eval::Env;
use super::io::DataFlow;
use super::json::describe;
use super::jsonata::{Expression, JsonataValue, States};
use super::path::ReferencePath;
use super::payload::Payload;
use super::states::{Choice, Fail, Map, Parallel, Pass, Succeed, Task, Wait};

/// A whole state machine.
#[derive(Debug, Clone, PartialEq)]
pub struct StateMachine {
    /// The top-level StartAt, States and Comment.
    pub root: Branch,
    /// `TimeoutSeconds`: the execution fails with `States.Timeout` after this long.
    pub timeout_seconds: Option<u64>,
    /// `Version` (the language version; "1.0").
    pub version: Option<String>,
    /// `QueryLanguage` at the top level: the default of every state.
    pub language: QueryLanguage,
}

/// The language a state's fields are written in (`QueryLanguage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueryLanguage {
    /// JSONPath: InputPath, Parameters, ResultSelector, ResultPath, OutputPath, `.$` keys.
    #[default]
    JsonPath,
    /// JSONata: Arguments, Output and `{% ... %}` expressions.
    Jsonata,
}

impl QueryLanguage {
    /// The name as written in a definition.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryLanguage::JsonPath => "JSONPath",
            QueryLanguage::Jsonata => "JSONata",
        }
    }
}

/// A set of states with a start: the machine itself, a Parallel branch or a Map's
/// ItemProcessor.
#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    /// `Comment`.
    pub comment: Option<String>,
    /// `StartAt`: the name of the first state (always one of `states`).
    pub start_at: String,
    /// `States`, in definition order.
    pub states: IndexMap<String, State>,
}

impl Branch {
    /// The state with this name, if the branch has one.
    pub fn state(&self, name: &str) -> Option<&State> {
        self.states.get(name)
    }

    /// The state execution begins with.
    pub fn start(&self) -> &State {
        self.states
            .get(&self.start_at)
            .expect("validation guarantees that StartAt names a state")
    }
}

/// One state.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// Its name (unique across the whole machine).
    pub name: String,
    /// `Comment`.
    pub comment: Option<String>,
    /// Its query language (its own `QueryLanguage`, else the machine's).
    pub language: QueryLanguage,
    /// InputPath, Parameters, ResultSelector, ResultPath, OutputPath (defaults where the
    /// type has no such field, and in a JSONata state).
    pub flow: DataFlow,
    /// JSONata `Arguments` (Task, Parallel): the input of the state's work.
    pub arguments: Option<JsonataValue>,
    /// JSONata `Output`: the state's output.
    pub output: Option<JsonataValue>,
    /// `Assign`: the variables the state sets when it ends.
    pub assign: Option<Payload>,
    /// `Next` or `End`; `None` for Choice, Succeed and Fail, which decide otherwise.
    pub transition: Option<Transition>,
    /// The type and its own fields.
    pub kind: StateKind,
    /// Whether any of its fields mentions `$$`: only then is the context object built
    /// when it runs (building it for every state was a few percent of a Pass chain).
    pub reads_context: bool,
    /// Whether any of them may read `$$.Execution.Input`: only then does the context
    /// object carry a copy of the execution's input (a Map whose ItemSelector read
    /// `$$.Map.Item.Value` copied the whole input once per item).
    pub reads_execution_input: bool,
}

/// Where a state goes when it is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// `"Next": "name"`.
    Next(String),
    /// `"End": true`.
    End,
}

/// The eight state types.
#[derive(Debug, Clone, PartialEq)]
pub enum StateKind {
    Pass(Pass),
    Task(Task),
    Choice(Choice),
    Wait(Wait),
    Succeed(Succeed),
    Fail(Fail),
    Parallel(Parallel),
    Map(Box<Map>),
}

impl StateKind {
    /// The `Type` as written in a definition.
    pub fn type_name(&self) -> &'static str {
        match self {
            StateKind::Pass(_) => "Pass",
            StateKind::Task(_) => "Task",
            StateKind::Choice(_) => "Choice",
            StateKind::Wait(_) => "Wait",
            StateKind::Succeed(_) => "Succeed",
            StateKind::Fail(_) => "Fail",
            StateKind::Parallel(_) => "Parallel",
            StateKind::Map(_) => "Map",
        }
    }
}

/// A setting given as a value (`TimeoutSeconds`), read from the input
/// (`TimeoutSecondsPath`) or, in JSONata, computed (`"TimeoutSeconds": "{% ... %}"`).
#[derive(Debug, Clone, PartialEq)]
pub enum Setting<T> {
    /// Written in the definition.
    Fixed(T),
    /// Read from the state's input (after InputPath) when the state runs.
    Path(ReferencePath),
    /// A JSONata expression over `$states.input` and the variables.
    Expression(Expression),
}

/// The value of a setting's expression; `field` is the path field's name, whose JSONata
/// form is the same name without `Path`.
fn evaluate_setting(
    expression: &Expression,
    input: &Value,
    env: &mut Env,
    field: &str,
) -> Result<(Value, String), StatesError> {
    let field = field.trim_end_matches("Path").to_string();
    let states = States {
        input,
        result: None,
        error_output: None,
    };
    Ok((expression.evaluate(&states, env, &field)?, field))
}

/// An expression's value of the wrong kind for its field.
pub fn unexpected_value(
    expression: &Expression,
    field: &str,
    expected: &str,
    value: &Value,
) -> StatesError {
    StatesError::new(
        names::QUERY_EVALUATION_ERROR,
        format!(
            "The JSONata expression '{}' specified for the field '{field}' returned an unexpected result type. Expected {expected}, but was {} ({value})",
            expression.text(),
            describe(value)
        ),
    )
}

impl Setting<u64> {
    /// The value, reading the input for a path; `field` names the path field in errors.
    pub fn resolve(&self, input: &Value, env: &mut Env, field: &str) -> Result<u64, StatesError> {
        match self {
            Setting::Fixed(value) => Ok(*value),
            Setting::Expression(expression) => {
                let (value, field) = evaluate_setting(expression, input, env, field)?;
                value.as_u64().ok_or_else(|| {
                    unexpected_value(expression, &field, "a non-negative integer", &value)
                })
            }
            Setting::Path(path) => {
                let value = read_setting(path, input, env, field)?;
                value.as_u64().ok_or_else(|| {
                    StatesError::runtime(format!(
                        "{field} '{}' must select a non-negative integer, but it selects {} ({value})",
                        path.text(),
                        describe(value)
                    ))
                })
            }
        }
    }
}

impl Setting<f64> {
    /// The value, reading the input for a path; `field` names the path field in errors.
    pub fn resolve(&self, input: &Value, env: &mut Env, field: &str) -> Result<f64, StatesError> {
        match self {
            Setting::Fixed(value) => Ok(*value),
            Setting::Expression(expression) => {
                let (value, field) = evaluate_setting(expression, input, env, field)?;
                value
                    .as_f64()
                    .ok_or_else(|| unexpected_value(expression, &field, "a number", &value))
            }
            Setting::Path(path) => {
                let value = read_setting(path, input, env, field)?;
                value.as_f64().ok_or_else(|| {
                    StatesError::runtime(format!(
                        "{field} '{}' must select a number, but it selects {}",
                        path.text(),
                        describe(value)
                    ))
                })
            }
        }
    }
}

fn read_setting<'v>(
    path: &ReferencePath,
    input: &'v Value,
    env: &'v Env,
    field: &str,
) -> Result<&'v Value, StatesError> {
    path.get(input, env.sources()).ok_or_else(|| {
        StatesError::runtime(format!(
            "{field} '{}' selects nothing in the state's input",
            path.text()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_env<T>(f: impl FnOnce(&mut Env) -> T) -> T {
        let context = json!({});
        let mut random = crate::asl::random::SeededRandom::new(3);
        f(&mut Env::new(&context, &mut random))
    }

    #[test]
    fn settings_resolve_from_input_with_clear_errors() {
        let path = Setting::<u64>::Path(ReferencePath::parse("$.t").unwrap());
        assert_eq!(
            with_env(|env| path.resolve(&json!({"t": 30}), env, "TimeoutSecondsPath")).unwrap(),
            30
        );
        let err = with_env(|env| path.resolve(&json!({"t": "30"}), env, "TimeoutSecondsPath"))
            .unwrap_err();
        assert!(
            err.cause
                .contains("TimeoutSecondsPath '$.t' must select a non-negative integer"),
            "{}",
            err.cause
        );
        let err = with_env(|env| path.resolve(&json!({}), env, "TimeoutSecondsPath")).unwrap_err();
        assert!(err.cause.contains("selects nothing"));
        assert_eq!(
            with_env(|env| Setting::Fixed(5u64).resolve(&json!(null), env, "x")).unwrap(),
            5
        );
        let pct = Setting::<f64>::Path(ReferencePath::parse("$.p").unwrap());
        assert_eq!(
            with_env(|env| pct.resolve(&json!({"p": 12.5}), env, "p")).unwrap(),
            12.5
        );
    }

    #[test]
    fn expression_settings_are_evaluated_and_typed() {
        let seconds = Setting::<u64>::Expression(Expression::parse("$states.input.t * 2").unwrap());
        assert_eq!(
            with_env(|env| seconds.resolve(&json!({"t": 15}), env, "TimeoutSecondsPath")).unwrap(),
            30
        );
        let err = with_env(|env| seconds.resolve(&json!({"t": "x"}), env, "TimeoutSecondsPath"))
            .unwrap_err();
        assert_eq!(err.error, "States.QueryEvaluationError");
        assert!(err.cause.contains("'TimeoutSeconds'"), "{}", err.cause);
        let text = Setting::<u64>::Expression(Expression::parse("'ten'").unwrap());
        let err = with_env(|env| text.resolve(&json!({}), env, "SecondsPath")).unwrap_err();
        assert!(
            err.cause.contains("field 'Seconds' returned an unexpected result type. Expected a non-negative integer, but was a string"),
            "{}",
            err.cause
        );
    }
}
