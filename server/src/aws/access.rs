//! Who calls the AWS API (a Signature V4 key, or the console page's signed-in key), and
//! which action family each call is, on which name, so the AWS API allows and refuses
//! exactly as the gRPC API does (`auth::policy`, one rule set). Task results are not
//! here: the node that owns the task decides them (`Runtime::send_success`).

use axum::http::StatusCode;

use super::{AwsError, Members, sigv4};
use crate::auth::{Action, Caller};
use crate::runtime::{Arns, Runtime, RuntimeError};

/// The caller of an AWS API request: anyone while the server requires no keys, then the
/// key whose Signature V4 the request carries (or the console page's signed-in key).
pub(super) fn caller(runtime: &Runtime, request: &sigv4::Signed<'_>) -> Result<Caller, AwsError> {
    if !runtime.auth_required()? {
        return Ok(Caller::unchecked());
    }
    if let Some(console) = crate::console::session::aws_cookie_caller(runtime, request.headers) {
        return console;
    }
    let verified = sigv4::verify(request, jiff::Timestamp::now(), |id| {
        runtime.signing_secret(id)
    });
    verified.map_err(|error| {
        let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
        let operation = header("x-amz-target")
            .and_then(|target| target.strip_prefix("AWSStepFunctions."))
            .unwrap_or("-");
        let key = header("authorization")
            .and_then(|value| sigv4::authorization(value).ok())
            .map(|auth| auth.access_key_id);
        crate::auth::audit_refused(operation, key, &error);
        error.into()
    })
}

impl From<crate::auth::AuthError> for AwsError {
    fn from(error: crate::auth::AuthError) -> Self {
        let code = error.aws_code();
        match code {
            // AWS's common errors: a request without credentials is 403.
            "MissingAuthenticationTokenException" => {
                AwsError::with_status(StatusCode::FORBIDDEN, code, error.to_string())
            }
            _ => AwsError::new(code, error.to_string()),
        }
    }
}

impl From<crate::auth::Denied> for AwsError {
    fn from(denied: crate::auth::Denied) -> Self {
        RuntimeError::from(denied).into()
    }
}

/// A family of `auth::Action` whose name is still to be read from the request.
#[derive(Clone, Copy)]
enum Family {
    ManageMachine,
    RunExecution,
    ReadMachine,
    ManageActivity,
    Work,
}

impl Family {
    fn on(self, name: &str) -> Action<'_> {
        match self {
            Family::ManageMachine => Action::ManageMachine(name),
            Family::RunExecution => Action::RunExecution(name),
            Family::ReadMachine => Action::ReadMachine(name),
            Family::ManageActivity => Action::ManageActivity(name),
            Family::Work => Action::Work(name),
        }
    }
}

/// Allows `operation` with these members for `caller`, or refuses it
/// (`AccessDeniedException`). An operation Stepwise does not serve passes: the dispatch
/// answers it with `UnknownOperationException`.
pub(super) fn allow(
    caller: &Caller,
    operation: &str,
    m: &Members,
    arns: &Arns,
) -> Result<(), AwsError> {
    if !caller.checked {
        return Ok(());
    }
    let machine =
        |member: &str| -> Result<String, AwsError> { Ok(arns.machine_name(m.string(member)?)?) };
    let execution_machine =
        || -> Result<String, AwsError> { Ok(arns.execution_machine(m.string("executionArn")?)?) };
    let activity =
        || -> Result<String, AwsError> { Ok(arns.activity_name(m.string("activityArn")?)?) };
    // Tags are on a state machine or an activity: its own family decides.
    let tagged = |machine_family: Family| -> Result<(Family, String), AwsError> {
        let arn = m.string("resourceArn")?;
        match arns.activity_name(arn) {
            Ok(name) if arn.starts_with("arn:") => Ok((Family::ManageActivity, name)),
            _ => Ok((machine_family, arns.machine_name(arn)?)),
        }
    };
    let (family, name) = match operation {
        "ListStateMachines" | "ListActivities" | "ValidateStateMachineDefinition" => {
            return Ok(caller.allow(operation, Action::ReadListing)?);
        }
        "SendTaskSuccess" | "SendTaskFailure" | "SendTaskHeartbeat" => return Ok(()),
        "CreateStateMachine" => (Family::ManageMachine, m.string("name")?.to_string()),
        "UpdateStateMachine" | "DeleteStateMachine" => {
            (Family::ManageMachine, machine("stateMachineArn")?)
        }
        "DescribeStateMachine" | "ListExecutions" => {
            (Family::ReadMachine, machine("stateMachineArn")?)
        }
        "StartExecution" | "StartSyncExecution" => {
            (Family::RunExecution, machine("stateMachineArn")?)
        }
        "StopExecution" => (Family::RunExecution, execution_machine()?),
        "DescribeExecution" | "DescribeStateMachineForExecution" | "GetExecutionHistory" => {
            (Family::ReadMachine, execution_machine()?)
        }
        "CreateActivity" => (Family::ManageActivity, m.string("name")?.to_string()),
        "DescribeActivity" | "DeleteActivity" => (Family::ManageActivity, activity()?),
        "GetActivityTask" => (Family::Work, activity()?),
        "TagResource" | "UntagResource" => tagged(Family::ManageMachine)?,
        "ListTagsForResource" => tagged(Family::ReadMachine)?,
        _ => return Ok(()),
    };
    Ok(caller.allow(operation, family.on(&name))?)
}
