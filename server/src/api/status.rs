//! The one place runtime errors become gRPC statuses. The AWS error code leads the
//! message (`ExecutionDoesNotExist: ...`) so clients of either API see the same names.

use tonic::{Code, Status};

use crate::auth::{AuthError, Denied};
use crate::runtime::RuntimeError;

/// Maps a runtime error to its gRPC status.
pub fn to_status(error: RuntimeError) -> Status {
    let code = match &error {
        RuntimeError::MachineNotFound(_)
        | RuntimeError::ExecutionNotFound(_)
        | RuntimeError::ActivityNotFound(_)
        | RuntimeError::ResourceNotFound(_)
        | RuntimeError::TaskDoesNotExist(_) => Code::NotFound,
        RuntimeError::TaskTimedOut(_) | RuntimeError::FailedPrecondition(_) => {
            Code::FailedPrecondition
        }
        RuntimeError::MachineAlreadyExists(_) | RuntimeError::ExecutionAlreadyExists(_) => {
            Code::AlreadyExists
        }
        RuntimeError::InvalidDefinition(_)
        | RuntimeError::InvalidName(_)
        | RuntimeError::InvalidArn(_)
        | RuntimeError::InvalidInput(_)
        | RuntimeError::InvalidOutput(_)
        | RuntimeError::InvalidArgument(_)
        | RuntimeError::InvalidToken(_)
        | RuntimeError::TooManyTags(_)
        | RuntimeError::MachineTypeNotSupported(_) => Code::InvalidArgument,
        RuntimeError::Unavailable(_) | RuntimeError::Elsewhere(_) => Code::Unavailable,
        RuntimeError::Damaged(_) => Code::DataLoss,
        RuntimeError::Denied(_) => Code::PermissionDenied,
    };
    Status::new(code, format!("{}: {error}", error.aws_code()))
}

/// A refused call (its key does not allow it).
pub fn denied(denied: Denied) -> Status {
    to_status(denied.into())
}

/// A caller that could not be authenticated, with the AWS code its case has.
pub fn unauthenticated(error: AuthError) -> Status {
    match error {
        AuthError::Store(_) => Status::unavailable(format!("ServiceUnavailable: {error}")),
        other => Status::unauthenticated(format!("{}: {other}", other.aws_code())),
    }
}
