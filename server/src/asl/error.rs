//! Runtime errors raised while a state processes data, named as the Amazon States
//! Language names them so that Retry and Catch can match them.

use serde_json::{Value, json};

/// The error names the language reserves (all begin with `States.`).
pub mod names {
    /// Wildcard matching every error except the terminal ones (see `ErrorName::is_terminal`).
    pub const ALL: &str = "States.ALL";
    /// A Task ran longer than TimeoutSeconds (or the execution ran past its own timeout).
    pub const TIMEOUT: &str = "States.Timeout";
    /// A Task missed its heartbeat.
    pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    /// Wildcard for every task error except `States.Timeout`; also the name of a task failure.
    pub const TASK_FAILED: &str = "States.TaskFailed";
    /// A Task lacked privileges (kept for compatibility; Stepwise never raises it itself).
    pub const PERMISSIONS: &str = "States.Permissions";
    /// A state's input or output exceeded the payload limit.
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    /// An unprocessable condition: a path that selects nothing, a wrong type, and so on.
    pub const RUNTIME: &str = "States.Runtime";
    /// An intrinsic function failed (bad argument type or value).
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    /// A Choice state matched no rule and has no Default.
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    /// ResultPath could not be applied to the state's input.
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    /// A path inside Parameters selected nothing.
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    /// A Parallel branch failed.
    pub const BRANCH_FAILED: &str = "States.BranchFailed";
    /// A JSONata expression failed or returned nothing.
    pub const QUERY_EVALUATION_ERROR: &str = "States.QueryEvaluationError";
    /// A Map state's failed items exceeded its tolerated failure threshold.
    pub const EXCEED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
}

/// An error with the name Retry/Catch match on and a human-readable cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct StatesError {
    /// The error name, e.g. `States.Runtime` or a worker's own `Lambda.Unknown`.
    pub error: String,
    /// What went wrong, for a person.
    pub cause: String,
}

impl StatesError {
    /// An error with any name.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        StatesError {
            error: error.into(),
            cause: cause.into(),
        }
    }

    /// `States.Runtime`: the data could not be processed as the definition asks.
    pub fn runtime(cause: impl Into<String>) -> Self {
        Self::new(names::RUNTIME, cause)
    }

    /// `States.IntrinsicFailure`: an intrinsic function rejected its arguments.
    pub fn intrinsic(cause: impl Into<String>) -> Self {
        Self::new(names::INTRINSIC_FAILURE, cause)
    }

    /// `States.ResultPathMatchFailure`: the result could not be placed at ResultPath.
    pub fn result_path(cause: impl Into<String>) -> Self {
        Self::new(names::RESULT_PATH_MATCH_FAILURE, cause)
    }

    /// `States.DataLimitExceeded`: a payload is larger than the configured limit.
    pub fn data_limit(cause: impl Into<String>) -> Self {
        Self::new(names::DATA_LIMIT_EXCEEDED, cause)
    }

    /// The error output a Catcher hands on: `{"Error": ..., "Cause": ...}`.
    pub fn to_error_output(&self) -> Value {
        json!({ "Error": self.error, "Cause": self.cause })
    }

    /// Whether no Retry or Catch may handle this error at all.
    ///
    /// AWS: "A States.Runtime error isn't retriable, and will always cause the execution
    /// to fail. A retry or catch on States.ALL won't catch States.Runtime errors."
    pub fn is_terminal(&self) -> bool {
        self.error == names::RUNTIME
    }
}

/// Whether an `ErrorEquals` entry matches an error.
///
/// `States.ALL` matches every error except the terminal `States.Runtime` and
/// `States.DataLimitExceeded` (AWS: "DataLimitExceeded is a terminal error that can't be
/// caught by the States.ALL error type"; naming it exactly still matches).
/// `States.TaskFailed` is a wildcard too, except for `States.Timeout` (AWS: "matches any
/// known error name except for States.Timeout"). Other names match exactly.
pub fn error_equals(pattern: &str, error: &StatesError) -> bool {
    if error.is_terminal() {
        return false;
    }
    let wildcard_excluded = error.error == names::DATA_LIMIT_EXCEEDED;
    match pattern {
        names::ALL => !wildcard_excluded,
        names::TASK_FAILED => !wildcard_excluded && error.error != names::TIMEOUT,
        exact => exact == error.error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_all_matches_custom_errors_but_not_terminal_ones() {
        assert!(error_equals(names::ALL, &StatesError::new("MyError", "x")));
        assert!(error_equals(
            names::ALL,
            &StatesError::new(names::TIMEOUT, "x")
        ));
        assert!(!error_equals(names::ALL, &StatesError::runtime("x")));
        assert!(!error_equals(names::ALL, &StatesError::data_limit("x")));
        assert!(!error_equals(
            names::TASK_FAILED,
            &StatesError::data_limit("x")
        ));
    }

    #[test]
    fn data_limit_is_caught_only_by_name_and_runtime_never() {
        let limit = StatesError::data_limit("x");
        assert!(error_equals(names::DATA_LIMIT_EXCEEDED, &limit));
        assert!(!error_equals(names::RUNTIME, &StatesError::runtime("x")));
    }

    #[test]
    fn task_failed_matches_everything_but_timeout() {
        assert!(error_equals(
            names::TASK_FAILED,
            &StatesError::new("Lambda.Unknown", "")
        ));
        assert!(error_equals(
            names::TASK_FAILED,
            &StatesError::new(names::HEARTBEAT_TIMEOUT, "")
        ));
        assert!(!error_equals(
            names::TASK_FAILED,
            &StatesError::new(names::TIMEOUT, "")
        ));
    }

    #[test]
    fn exact_names_are_case_sensitive() {
        assert!(error_equals("ErrorA", &StatesError::new("ErrorA", "")));
        assert!(!error_equals("errora", &StatesError::new("ErrorA", "")));
    }

    #[test]
    fn error_output_has_error_and_cause() {
        let output = StatesError::new("E", "because").to_error_output();
        assert_eq!(output, json!({"Error": "E", "Cause": "because"}));
    }
}
