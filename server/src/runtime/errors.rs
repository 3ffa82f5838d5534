//! Why a runtime call failed, as one typed error: each variant names the AWS error code
//! it is answered with, and the API edges map it once (`api/status.rs`, `aws/`).

use crate::asl::validate::{Diagnostic, Severity};
use crate::store::StoreError;

/// Why a runtime call failed. The API maps each to a gRPC status (and AWS error code).
#[derive(Debug, Clone, thiserror::Error)]
pub enum RuntimeError {
    /// `StateMachineDoesNotExist`.
    #[error("{0}")]
    MachineNotFound(String),
    /// `ExecutionDoesNotExist`.
    #[error("{0}")]
    ExecutionNotFound(String),
    /// `InvalidToken`: a `nextToken` this server did not issue.
    #[error("{0}")]
    InvalidToken(String),
    /// `ActivityDoesNotExist`.
    #[error("{0}")]
    ActivityNotFound(String),
    /// `ResourceNotFound`: a tagged resource that does not exist.
    #[error("{0}")]
    ResourceNotFound(String),
    /// `TooManyTags`.
    #[error("{0}")]
    TooManyTags(String),
    /// `StateMachineTypeNotSupported`: StartSyncExecution on a STANDARD machine.
    #[error("{0}")]
    MachineTypeNotSupported(String),
    /// `TaskDoesNotExist`: the token was never issued.
    #[error("{0}")]
    TaskDoesNotExist(String),
    /// `TaskTimedOut`: the token's task is no longer running.
    #[error("{0}")]
    TaskTimedOut(String),
    /// `StateMachineAlreadyExists`.
    #[error("{0}")]
    MachineAlreadyExists(String),
    /// `ExecutionAlreadyExists`.
    #[error("{0}")]
    ExecutionAlreadyExists(String),
    /// `InvalidDefinition`, with every diagnostic.
    #[error("the definition is invalid: {}", summarize(.0))]
    InvalidDefinition(Vec<Diagnostic>),
    /// `InvalidName`.
    #[error("{0}")]
    InvalidName(String),
    /// `InvalidArn`.
    #[error("{0}")]
    InvalidArn(String),
    /// `InvalidExecutionInput`.
    #[error("{0}")]
    InvalidInput(String),
    /// `InvalidOutput`.
    #[error("{0}")]
    InvalidOutput(String),
    /// Any other malformed argument (`ValidationException`).
    #[error("{0}")]
    InvalidArgument(String),
    /// The request does not fit the resource's state (an execution already ended, ...).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The store failed; nothing of the request was committed.
    #[error("{0}")]
    Unavailable(String),
    /// The execution's partition is owned by another node (the call is forwarded there;
    /// a caller sees this only when that fails).
    #[error("partition {0} is served by another node, or is moving between nodes; try again")]
    Elsewhere(u16),
    /// A stored record the request needs cannot be read (`InternalFailure`); it stays
    /// in the store as found, and nothing else is affected.
    #[error("{0}")]
    Damaged(String),
    /// `AccessDeniedException`: the caller's key does not allow the call.
    #[error("{0}")]
    Denied(String),
}

impl From<crate::auth::Denied> for RuntimeError {
    fn from(denied: crate::auth::Denied) -> Self {
        RuntimeError::Denied(denied.to_string())
    }
}

impl RuntimeError {
    /// The AWS Step Functions error code for this error, used by both APIs.
    pub fn aws_code(&self) -> &'static str {
        match self {
            RuntimeError::MachineNotFound(_) => "StateMachineDoesNotExist",
            RuntimeError::ExecutionNotFound(_) => "ExecutionDoesNotExist",
            RuntimeError::InvalidToken(_) => "InvalidToken",
            RuntimeError::ActivityNotFound(_) => "ActivityDoesNotExist",
            RuntimeError::ResourceNotFound(_) => "ResourceNotFound",
            RuntimeError::TooManyTags(_) => "TooManyTags",
            RuntimeError::MachineTypeNotSupported(_) => "StateMachineTypeNotSupported",
            RuntimeError::TaskDoesNotExist(_) => "TaskDoesNotExist",
            RuntimeError::TaskTimedOut(_) => "TaskTimedOut",
            RuntimeError::MachineAlreadyExists(_) => "StateMachineAlreadyExists",
            RuntimeError::ExecutionAlreadyExists(_) => "ExecutionAlreadyExists",
            RuntimeError::InvalidDefinition(_) => "InvalidDefinition",
            RuntimeError::InvalidName(_) => "InvalidName",
            RuntimeError::InvalidArn(_) => "InvalidArn",
            RuntimeError::InvalidInput(_) => "InvalidExecutionInput",
            RuntimeError::InvalidOutput(_) => "InvalidOutput",
            RuntimeError::InvalidArgument(_) => "ValidationException",
            RuntimeError::FailedPrecondition(_) => "InvalidState",
            RuntimeError::Unavailable(_) | RuntimeError::Elsewhere(_) => "ServiceUnavailable",
            RuntimeError::Damaged(_) => "InternalFailure",
            RuntimeError::Denied(_) => "AccessDeniedException",
        }
    }
}

pub(super) fn summarize(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<StoreError> for RuntimeError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Decode { key, reason } => RuntimeError::Damaged(format!(
                "the stored record {key} cannot be read ({reason}); it is kept as found, and nothing else is affected"
            )),
            StoreError::Cursor(reason) => RuntimeError::InvalidToken(reason),
            StoreError::Fenced { partitions } => {
                RuntimeError::Elsewhere(partitions.first().copied().unwrap_or_default())
            }
            other => RuntimeError::Unavailable(other.to_string()),
        }
    }
}
