//! The typed form of a definition: a state machine is a branch (StartAt + States) with
//! a few top-level fields; each state has a name, its data-flow fields, a transition and
//! the fields of its type. `validate::parse` builds these from JSON; nothing here can
//! hold a definition that failed validation.

use indexmap::IndexMap;
use serde_json::Value;

use super::error::StatesError;
use super::io::DataFlow;
use super::json::describe;
use super::path::ReferencePath;
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
    /// InputPath, Parameters, ResultSelector, ResultPath, OutputPath (defaults where the
    /// type has no such field).
    pub flow: DataFlow,
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
    Map(Map),
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

/// A setting given either as a value (`TimeoutSeconds`) or read from the input
/// (`TimeoutSecondsPath`).
#[derive(Debug, Clone, PartialEq)]
pub enum Setting<T> {
    /// Written in the definition.
    Fixed(T),
    /// Read from the state's input (after InputPath) when the state runs.
    Path(ReferencePath),
}

impl Setting<u64> {
    /// The value, reading the input for a path; `field` names the path field in errors.
    pub fn resolve(&self, input: &Value, context: &Value, field: &str) -> Result<u64, StatesError> {
        match self {
            Setting::Fixed(value) => Ok(*value),
            Setting::Path(path) => {
                let value = read_setting(path, input, context, field)?;
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
    pub fn resolve(&self, input: &Value, context: &Value, field: &str) -> Result<f64, StatesError> {
        match self {
            Setting::Fixed(value) => Ok(*value),
            Setting::Path(path) => {
                let value = read_setting(path, input, context, field)?;
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
    context: &'v Value,
    field: &str,
) -> Result<&'v Value, StatesError> {
    path.get(input, context).ok_or_else(|| {
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

    #[test]
    fn settings_resolve_from_input_with_clear_errors() {
        let path = Setting::<u64>::Path(ReferencePath::parse("$.t").unwrap());
        assert_eq!(
            path.resolve(&json!({"t": 30}), &json!({}), "TimeoutSecondsPath")
                .unwrap(),
            30
        );
        let err = path
            .resolve(&json!({"t": "30"}), &json!({}), "TimeoutSecondsPath")
            .unwrap_err();
        assert!(
            err.cause
                .contains("TimeoutSecondsPath '$.t' must select a non-negative integer"),
            "{}",
            err.cause
        );
        let err = path
            .resolve(&json!({}), &json!({}), "TimeoutSecondsPath")
            .unwrap_err();
        assert!(err.cause.contains("selects nothing"));
        assert_eq!(
            Setting::Fixed(5u64)
                .resolve(&json!(null), &json!({}), "x")
                .unwrap(),
            5
        );
        let pct = Setting::<f64>::Path(ReferencePath::parse("$.p").unwrap());
        assert_eq!(
            pct.resolve(&json!({"p": 12.5}), &json!({}), "p").unwrap(),
            12.5
        );
    }
}
