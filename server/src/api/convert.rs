//! Conversions between runtime values and the contract's messages.

use serde_json::Value;
use stepwise_proto::v1 as pb;

use crate::asl::validate::{Diagnostic, Severity};
use crate::engine::{Event, EventKind, Status};
use crate::runtime::MachineView;
use crate::runtime::paging::PageRequest;

use super::status::to_status;
use crate::runtime::{ActivityRecord, ExecutionRecord, MachineType};

/// JSON text of a value.
pub fn json_text(value: &Value) -> String {
    value.to_string()
}

/// The contract's execution status.
pub fn status(status: Status) -> pb::ExecutionStatus {
    match status {
        Status::Running => pb::ExecutionStatus::Running,
        Status::Succeeded => pb::ExecutionStatus::Succeeded,
        Status::Failed => pb::ExecutionStatus::Failed,
        Status::TimedOut => pb::ExecutionStatus::TimedOut,
        Status::Aborted => pb::ExecutionStatus::Aborted,
    }
}

/// The runtime's status for a contract filter (None: any).
pub fn status_filter(filter: pb::ExecutionStatus) -> Option<Status> {
    match filter {
        pb::ExecutionStatus::Unspecified => None,
        pb::ExecutionStatus::Running => Some(Status::Running),
        pb::ExecutionStatus::Succeeded => Some(Status::Succeeded),
        pb::ExecutionStatus::Failed => Some(Status::Failed),
        pb::ExecutionStatus::TimedOut => Some(Status::TimedOut),
        pb::ExecutionStatus::Aborted => Some(Status::Aborted),
    }
}

/// A state machine message.
pub fn machine(view: MachineView) -> pb::StateMachine {
    let machine_type = match view.record.machine_type {
        MachineType::Standard => pb::StateMachineType::Standard,
        MachineType::Express => pb::StateMachineType::Express,
    };
    pb::StateMachine {
        role_arn: view.record.role_arn.clone().unwrap_or_default(),
        arn: view.record.arn,
        name: view.record.name,
        r#type: machine_type.into(),
        definition: view.definition,
        revision: view.record.revision,
        creation_time_ms: view.record.created_ms,
        update_time_ms: view.record.updated_ms,
        warnings: view.warnings.iter().map(diagnostic).collect(),
    }
}

/// A diagnostic as the contract carries it.
pub fn diagnostic(diagnostic: &Diagnostic) -> pb::Diagnostic {
    let severity = match diagnostic.severity {
        Severity::Error => pb::Severity::Error,
        Severity::Warning => pb::Severity::Warning,
    };
    pb::Diagnostic {
        severity: severity.into(),
        code: diagnostic.code.as_str().to_string(),
        location: diagnostic.location.clone(),
        message: diagnostic.message.clone(),
    }
}

/// An execution message.
pub fn execution(record: ExecutionRecord, input: &Value) -> pb::Execution {
    pb::Execution {
        arn: record.arn,
        name: record.name,
        state_machine_arn: record.machine_arn,
        revision: record.revision,
        status: status(record.status).into(),
        input: json_text(input),
        output: record.output.as_ref().map(json_text),
        error: record.error,
        cause: record.cause,
        start_time_ms: record.start_ms,
        stop_time_ms: record.stop_ms,
        state_transitions: record.transitions,
        billed_duration_ms: None,
        billed_memory_mb: None,
    }
}

/// An execution message with its billing, if it has any.
pub fn execution_view(view: crate::runtime::ExecutionView) -> pb::Execution {
    let billing = view.billing;
    let mut message = execution(view.record, &view.input);
    if let Some(billing) = billing {
        message.billed_duration_ms = Some(billing.billed_duration_ms);
        message.billed_memory_mb = Some(billing.billed_memory_mb);
    }
    message
}

/// A poll's answer: the task, or an empty response when none came.
pub fn poll_response(polled: Option<crate::runtime::Offer>) -> pb::PollTaskResponse {
    match polled {
        None => pb::PollTaskResponse::default(),
        Some(offer) => pb::PollTaskResponse {
            token: offer.token,
            queue: offer.queue,
            input: json_text(&offer.input),
            execution_arn: offer.execution,
            state_name: offer.state_name,
            heartbeat_seconds: offer.heartbeat_seconds,
            timeout_seconds: offer.timeout_seconds,
            traceparent: offer.traceparent.unwrap_or_default(),
        },
    }
}

/// An activity message.
pub fn activity(record: ActivityRecord) -> pb::Activity {
    pb::Activity {
        arn: record.arn,
        name: record.name,
        creation_time_ms: record.created_ms,
    }
}

/// A history event as AWS shapes it; `with_data` false leaves out inputs and outputs.
pub fn event(event: &Event, with_data: bool) -> pb::HistoryEvent {
    let data = |v: &Value| with_data.then(|| json_text(v));
    let mut out = pb::HistoryEvent {
        id: event.id,
        previous_event_id: event.previous_event_id,
        timestamp_ms: event.timestamp_ms,
        r#type: event.kind.type_name(),
        ..Default::default()
    };
    match &event.kind {
        EventKind::ExecutionStarted {
            input, role_arn, ..
        } => {
            out.input = data(input);
            out.role_arn = Some(role_arn.clone());
        }
        EventKind::ExecutionSucceeded { output } => out.output = data(output),
        EventKind::ExecutionFailed { error, cause }
        | EventKind::ExecutionAborted { error, cause }
        | EventKind::ExecutionTimedOut { error, cause } => {
            out.error = error.clone();
            out.cause = cause.clone();
        }
        EventKind::StateEntered { name, input, .. } => {
            out.name = Some(name.clone());
            out.input = data(input);
        }
        EventKind::StateExited {
            name,
            output,
            assigned,
            ..
        } => {
            out.name = Some(name.clone());
            out.output = data(output);
            if with_data {
                out.assigned_variables = assigned
                    .iter()
                    .map(|(name, value)| (name.clone(), json_text(value)))
                    .collect();
            }
        }
        EventKind::StateAborted { name, .. } => out.name = Some(name.clone()),
        EventKind::StateFailed {
            name, error, cause, ..
        } => {
            out.name = Some(name.clone());
            out.error = Some(error.clone());
            out.cause = Some(cause.clone());
        }
        EventKind::TaskScheduled {
            resource,
            parameters,
            timeout_seconds,
            heartbeat_seconds,
            ..
        } => {
            out.resource = Some(resource.clone());
            out.input = data(parameters);
            out.timeout_seconds = *timeout_seconds;
            out.heartbeat_seconds = *heartbeat_seconds;
        }
        EventKind::TaskStarted { worker_name, .. } => out.worker_name = Some(worker_name.clone()),
        EventKind::TaskSubmitted { output, .. } | EventKind::TaskSucceeded { output, .. } => {
            out.output = data(output)
        }
        EventKind::TaskFailed { error, cause, .. }
        | EventKind::TaskTimedOut { error, cause, .. } => {
            out.error = Some(error.clone());
            out.cause = Some(cause.clone());
        }
        EventKind::MapStarted { length, .. } => out.length = Some(*length as u64),
        EventKind::MapIterationStarted { index, input, .. } => {
            out.index = Some(*index as u64);
            out.input = data(input);
        }
        EventKind::MapIterationSucceeded { index, .. }
        | EventKind::MapIterationAborted { index, .. } => out.index = Some(*index as u64),
        EventKind::MapIterationFailed {
            index,
            error,
            cause,
            ..
        } => {
            out.index = Some(*index as u64);
            out.error = Some(error.clone());
            out.cause = Some(cause.clone());
        }
        EventKind::ParallelStarted { .. }
        | EventKind::ParallelSucceeded { .. }
        | EventKind::MapSucceeded { .. } => {}
    }
    out
}

/// A gRPC list request's paging (`max_results`, `next_token`), checked.
pub fn page_request(max_results: u32, next_token: &str) -> Result<PageRequest, tonic::Status> {
    PageRequest::new(u64::from(max_results), Some(next_token)).map_err(to_status)
}

/// Pages a list by offset (see `runtime::paging`); the next token is empty at the end.
pub fn page<T>(
    items: Vec<T>,
    max_results: u32,
    next_token: &str,
) -> Result<(Vec<T>, String), tonic::Status> {
    page_within(items, max_results, next_token, |_| 0, usize::MAX)
}

/// Like [`page`], and also cut once the items' sizes (`size_of`) would pass `budget`.
pub fn page_within<T>(
    items: Vec<T>,
    max_results: u32,
    next_token: &str,
    size_of: impl Fn(&T) -> usize,
    budget: usize,
) -> Result<(Vec<T>, String), tonic::Status> {
    let (page, next) = page_request(max_results, next_token)?
        .by_offset(items, size_of, budget)
        .map_err(to_status)?;
    Ok((page, next.unwrap_or_default()))
}
