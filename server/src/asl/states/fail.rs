//! Fail: ends the execution with an error name and cause, written in the definition
//! (`Error`, `Cause`) or computed from the input (`ErrorPath`, `CausePath`, which may
//! also be intrinsic functions).

use crate::asl::validate::Obj;
use crate::asl::validate::Reader;
use crate::asl::validate::expr_code;
use serde_json::Value;

use crate::asl::definition::unexpected_value;
use crate::asl::error::StatesError;
use crate::asl::eval::Env;
use crate::asl::expr::Expr;
use crate::asl::json::describe;
use crate::asl::jsonata::{Expression, States};

/// A fixed or computed string.
#[derive(Debug, Clone, PartialEq)]
pub enum Text {
    /// `Error` / `Cause`.
    Fixed(String),
    /// `ErrorPath` / `CausePath`.
    Computed(Expr),
    /// JSONata `"Error": "{% ... %}"` / `"Cause": "{% ... %}"`.
    Expression(Expression),
}

/// A Fail state's own fields.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fail {
    /// `Error` or `ErrorPath`.
    pub error: Option<Text>,
    /// `Cause` or `CausePath`.
    pub cause: Option<Text>,
}

/// The error and cause the execution fails with; AWS leaves either out when unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailOutcome {
    /// The error name.
    pub error: Option<String>,
    /// The cause.
    pub cause: Option<String>,
}

impl Fail {
    /// Resolves the error and cause against the state's input.
    pub fn outcome(&self, input: &Value, env: &mut Env) -> Result<FailOutcome, StatesError> {
        Ok(FailOutcome {
            error: resolve(self.error.as_ref(), input, env, "ErrorPath")?,
            cause: resolve(self.cause.as_ref(), input, env, "CausePath")?,
        })
    }
}

fn resolve(
    text: Option<&Text>,
    input: &Value,
    env: &mut Env,
    field: &str,
) -> Result<Option<String>, StatesError> {
    match text {
        None => Ok(None),
        Some(Text::Fixed(s)) => Ok(Some(s.clone())),
        Some(Text::Expression(expression)) => {
            let field = field.trim_end_matches("Path");
            let states = States {
                input,
                result: None,
                error_output: None,
            };
            match expression.evaluate(&states, env, field)? {
                Value::String(s) => Ok(Some(s)),
                other => Err(unexpected_value(expression, field, "a string", &other)),
            }
        }
        Some(Text::Computed(expr)) => match expr.evaluate(input, env, field)? {
            Value::String(s) => Ok(Some(s)),
            other => Err(StatesError::runtime(format!(
                "{field} must produce a string, but it produced {}",
                describe(&other)
            ))),
        },
    }
}

// ---- reading the definition ---------------------------------------------------

impl Reader {
    pub(crate) fn fail(&mut self, obj: Obj) -> Fail {
        Fail {
            error: self.fail_text(obj, "Error", "ErrorPath"),
            cause: self.fail_text(obj, "Cause", "CausePath"),
        }
    }

    pub(crate) fn fail_text(&mut self, obj: Obj, fixed: &str, path: &str) -> Option<Text> {
        if self.both_given(obj, fixed, path) {
            return None;
        }
        if obj.has(fixed) {
            if let Some(expression) = self.field_expression(obj, fixed) {
                return expression.map(Text::Expression);
            }
            return self.string(obj, fixed).map(|s| Text::Fixed(s.to_string()));
        }
        let text = self.string(obj, path)?;
        match Expr::parse(text) {
            Ok(expr) => Some(Text::Computed(expr)),
            Err(e) => {
                self.error(expr_code(&e), obj.loc(path), e.to_string());
                None
            }
        }
    }
}

impl Fail {
    /// The fields a Fail state may have in JSONPath.
    pub const FIELDS: &[&str] = &["Error", "ErrorPath", "Cause", "CausePath"];
    /// The fields a Fail state may have in JSONata.
    pub const JSONATA_FIELDS: &[&str] = &["Error", "Cause"];
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::random::SeededRandom;
    use serde_json::json;

    fn outcome(fail: &Fail, input: Value) -> Result<FailOutcome, StatesError> {
        let context = json!({"Execution": {"Name": "e1"}});
        let mut random = SeededRandom::new(1);
        let mut env = Env::new(&context, &mut random);
        fail.outcome(&input, &mut env)
    }

    #[test]
    fn fixed_error_and_cause() {
        let fail = Fail {
            error: Some(Text::Fixed("ErrorA".into())),
            cause: Some(Text::Fixed("Kaiju attack".into())),
        };
        assert_eq!(
            outcome(&fail, json!({})).unwrap(),
            FailOutcome {
                error: Some("ErrorA".into()),
                cause: Some("Kaiju attack".into())
            }
        );
    }

    #[test]
    fn error_path_and_intrinsic_cause_path() {
        let fail = Fail {
            error: Some(Text::Computed(Expr::parse("$.Error").unwrap())),
            cause: Some(Text::Computed(
                Expr::parse("States.Format('run {} failed: {}', $$.Execution.Name, $.Cause)")
                    .unwrap(),
            )),
        };
        let out = outcome(&fail, json!({"Error": "Boom", "Cause": "disk"})).unwrap();
        assert_eq!(
            out,
            FailOutcome {
                error: Some("Boom".into()),
                cause: Some("run e1 failed: disk".into())
            }
        );
    }

    #[test]
    fn unset_fields_stay_unset_and_bad_types_fail() {
        assert_eq!(
            outcome(&Fail::default(), json!({})).unwrap(),
            FailOutcome {
                error: None,
                cause: None
            }
        );
        let fail = Fail {
            error: Some(Text::Computed(Expr::parse("$.n").unwrap())),
            cause: None,
        };
        let err = outcome(&fail, json!({"n": 5})).unwrap_err();
        assert!(err.cause.contains("ErrorPath must produce a string"));
    }
}
