//! Dynamic values: the string of a `"key.$"` field, `ErrorPath` or `CausePath`, which is
//! either a path or an intrinsic function call.

use serde_json::Value;

use super::error::StatesError;
use super::eval::Env;
use super::intrinsics::{self, Call};
use super::path::Path;

/// A path or an intrinsic function call, parsed once.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `$.x`, `$$.Execution.Id`, ...
    Path(Path),
    /// `States.Format(...)`, ...
    Call(Call),
}

impl Expr {
    /// Parses a path (beginning with `$`) or a call (beginning with `States.`).
    pub fn parse(text: &str) -> Result<Expr, String> {
        if intrinsics::looks_like_call(text) {
            Call::parse(text).map(Expr::Call).map_err(|e| e.to_string())
        } else if text.starts_with('$') {
            Path::parse(text).map(Expr::Path).map_err(|e| e.to_string())
        } else {
            Err(format!(
                "'{text}' is neither a path (starting with '$') nor an intrinsic function (starting with 'States.')"
            ))
        }
    }

    /// Evaluates against `input`; a path that selects nothing is a `States.Runtime` error
    /// naming `field`.
    pub fn evaluate(&self, input: &Value, env: &mut Env, field: &str) -> Result<Value, StatesError> {
        match self {
            Expr::Path(path) => path.select(input, env.context).ok_or_else(|| {
                let source = match path.root() {
                    super::path::Root::Input => "the input",
                    super::path::Root::Context => "the context object",
                };
                StatesError::runtime(format!(
                    "The JSONPath '{}' specified for the field '{field}' could not be found in {source}",
                    path.text()
                ))
            }),
            Expr::Call(call) => call.evaluate(input, env),
        }
    }
}
