//! Dynamic values: the string of a `"key.$"` field, `ErrorPath` or `CausePath`, which is
//! either a path or an intrinsic function call.

use serde_json::Value;

use super::error::StatesError;
use super::eval::Env;
use super::intrinsics::{self, Call, SyntaxError};
use super::path::{Path, PathError, Root, Sources};

/// AWS's cause for a path that selects nothing: it quotes the input it read
/// (`... could not be found in the input '{"a":1}'`).
pub fn not_found(path: &Path, field: &str, input: &Value) -> StatesError {
    let source = match path.root() {
        Root::Input => format!("the input '{input}'"),
        other => Sources::describe(other),
    };
    StatesError::runtime(format!(
        "The JSONPath '{}' specified for the field '{field}' could not be found in {source}",
        path.text()
    ))
}

/// A path or an intrinsic function call, parsed once.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `$.x`, `$$.Execution.Id`, ...
    Path(Path),
    /// `States.Format(...)`, ...
    Call(Call),
}

/// Why a string is not a path or an intrinsic call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// It starts with `$` but is not a valid path.
    #[error(transparent)]
    Path(#[from] PathError),
    /// It starts with `States.` but is not a valid call.
    #[error(transparent)]
    Intrinsic(#[from] SyntaxError),
    /// It is neither.
    #[error(
        "'{0}' is neither a path (starting with '$') nor an intrinsic function (starting with 'States.')"
    )]
    Neither(String),
}

impl Expr {
    /// Parses a path (beginning with `$`) or a call (beginning with `States.`).
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        if intrinsics::looks_like_call(text) {
            Ok(Expr::Call(Call::parse(text)?))
        } else if text.starts_with('$') {
            Ok(Expr::Path(Path::parse(text)?))
        } else {
            Err(ExprError::Neither(text.to_string()))
        }
    }

    /// Evaluates against `input`; a path that selects nothing is a `States.Runtime` error
    /// naming `field`.
    pub fn evaluate(
        &self,
        input: &Value,
        env: &mut Env,
        field: &str,
    ) -> Result<Value, StatesError> {
        match self {
            Expr::Path(path) => path
                .select(input, env.sources())
                .ok_or_else(|| not_found(path, field, input)),
            Expr::Call(call) => call.evaluate(input, env),
        }
    }
}
