//! The one place runtime errors become gRPC statuses. The AWS error code leads the
//! message (`ExecutionDoesNotExist: ...`) so clients of either API see the same names.

use tonic::{Code, Status};

use crate::runtime::RuntimeError;

/// Maps a runtime error to its gRPC status.
pub fn to_status(error: RuntimeError) -> Status {
    let (code, aws) = match &error {
        RuntimeError::MachineNotFound(_) => (Code::NotFound, "StateMachineDoesNotExist"),
        RuntimeError::ExecutionNotFound(_) => (Code::NotFound, "ExecutionDoesNotExist"),
        RuntimeError::ActivityNotFound(_) => (Code::NotFound, "ActivityDoesNotExist"),
        RuntimeError::TaskDoesNotExist(_) => (Code::NotFound, "TaskDoesNotExist"),
        RuntimeError::TaskTimedOut(_) => (Code::FailedPrecondition, "TaskTimedOut"),
        RuntimeError::MachineAlreadyExists(_) => (Code::AlreadyExists, "StateMachineAlreadyExists"),
        RuntimeError::ExecutionAlreadyExists(_) => (Code::AlreadyExists, "ExecutionAlreadyExists"),
        RuntimeError::InvalidDefinition(_) => (Code::InvalidArgument, "InvalidDefinition"),
        RuntimeError::InvalidName(_) => (Code::InvalidArgument, "InvalidName"),
        RuntimeError::InvalidArn(_) => (Code::InvalidArgument, "InvalidArn"),
        RuntimeError::InvalidInput(_) => (Code::InvalidArgument, "InvalidExecutionInput"),
        RuntimeError::InvalidOutput(_) => (Code::InvalidArgument, "InvalidOutput"),
        RuntimeError::InvalidArgument(_) => (Code::InvalidArgument, "ValidationException"),
        RuntimeError::FailedPrecondition(_) => (Code::FailedPrecondition, "InvalidState"),
        RuntimeError::Unavailable(_) => (Code::Unavailable, "ServiceUnavailable"),
    };
    Status::new(code, format!("{aws}: {error}"))
}
