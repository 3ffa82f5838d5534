//! What can happen to an execution (the engine's input): a start, a task's progress and
//! result, a timer, a stop or an outside failure; and why a command may not apply.

use serde_json::Value;

use super::effect::TimerKey;

/// Something that happens to an execution.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Begin with this input.
    Start {
        /// The execution input.
        input: Value,
        /// The role to report in `$$.Execution.RoleArn`.
        role_arn: String,
        /// The execution's time limit; the definition's TimeoutSeconds when None (Express
        /// executions pass the shorter of that and their 5-minute limit).
        timeout_seconds: Option<u64>,
    },
    /// A poller took the task with this delivery token.
    TaskStarted {
        /// The delivery token.
        token: String,
        /// The poller's name.
        worker_name: String,
        /// The poll's idempotency key, if the worker gave one.
        poll_id: Option<String>,
    },
    /// SendTaskSuccess.
    TaskSucceeded {
        /// A delivery or task token.
        token: String,
        /// The result.
        output: Value,
    },
    /// SendTaskFailure.
    TaskFailed {
        /// A delivery or task token.
        token: String,
        /// The error name.
        error: String,
        /// The cause.
        cause: String,
    },
    /// A timer came due.
    TimerFired(TimerKey),
    /// Fail the execution from outside the definition (e.g. its history grew past the
    /// limit): everything in flight is aborted, then ExecutionFailed.
    Fail {
        /// The error name.
        error: String,
        /// The cause.
        cause: String,
    },
    /// StopExecution.
    Stop {
        /// The error to record.
        error: Option<String>,
        /// The cause to record.
        cause: Option<String>,
    },
}

/// Why a command does not apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The execution has ended.
    #[error("the execution is {0}, not running")]
    NotRunning(&'static str),
    /// No pending task has this token (finished, timed out, aborted or never issued).
    #[error("no running task has this token")]
    UnknownToken,
    /// The task was already started by another poller.
    #[error("the task was already started")]
    AlreadyStarted,
    /// Start was given to an execution that already started.
    #[error("the execution has already started")]
    ExecutionAlreadyStarted,
}
