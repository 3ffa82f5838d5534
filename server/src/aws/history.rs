//! History events in AWS's shape: `id`, `previousEventId`, `timestamp` (epoch seconds),
//! `type`, and the one `...EventDetails` member the type has, with AWS's member names,
//! so tools that read AWS histories read Stepwise's.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::engine::history::{Event, EventKind, TaskFamily, ThreadId};

/// The events of `page` as AWS shows them; `all` is the whole history, for the task
/// details (resource and type) that AWS repeats on every task event.
pub fn events_json(page: &[Event], all: &[Event], with_data: bool) -> Vec<Value> {
    let mut resources = TaskResources::default();
    for event in all {
        resources.observe(event);
    }
    page.iter().map(|e| resources.shape(e, with_data)).collect()
}

/// The resource each thread's tasks were scheduled with, learned from the history in
/// order: AWS repeats a task's resource on every event of that task.
#[derive(Debug, Default)]
pub struct TaskResources(HashMap<ThreadId, Vec<(u64, String)>>);

impl TaskResources {
    /// Learns from one event (call in history order).
    pub fn observe(&mut self, event: &Event) {
        if let EventKind::TaskScheduled {
            thread, resource, ..
        } = &event.kind
        {
            self.0
                .entry(*thread)
                .or_default()
                .push((event.id, resource.clone()));
        }
    }

    /// One event as AWS shows it (its thread's task resource observed before).
    pub fn shape(&self, event: &Event, with_data: bool) -> Value {
        // The resource of the task a thread had scheduled last before `id`.
        let resource_of = |thread: &ThreadId, id: u64| -> String {
            self.0
                .get(thread)
                .and_then(|list| list.iter().rev().find(|(at, _)| *at < id))
                .map(|(_, r)| r.clone())
                .unwrap_or_default()
        };
        event_json(event, with_data, &resource_of)
    }
}

fn data(value: &Value, with_data: bool) -> Value {
    if with_data {
        json!(value.to_string())
    } else {
        Value::Null
    }
}

/// `arn:aws:states:::sqs:sendMessage.waitForTaskToken` → ("sqs", "sendMessage.waitForTaskToken").
fn resource_parts(resource: &str) -> (String, String) {
    let rest = resource.split(':').skip(5).collect::<Vec<_>>().join(":");
    match rest.split_once(':') {
        Some((kind, name)) => (kind.to_string(), name.to_string()),
        None => (String::new(), rest),
    }
}

fn event_json(
    event: &Event,
    with_data: bool,
    resource_of: &dyn Fn(&ThreadId, u64) -> String,
) -> Value {
    let (member, details) = match &event.kind {
        EventKind::ExecutionStarted {
            input, role_arn, ..
        } => (
            "executionStartedEventDetails",
            json!({"input": data(input, with_data), "inputDetails": {"truncated": false}, "roleArn": role_arn}),
        ),
        EventKind::ExecutionSucceeded { output } => (
            "executionSucceededEventDetails",
            json!({"output": data(output, with_data), "outputDetails": {"truncated": false}}),
        ),
        EventKind::ExecutionFailed { error, cause } => (
            "executionFailedEventDetails",
            json!({"error": error, "cause": cause}),
        ),
        EventKind::ExecutionAborted { error, cause } => (
            "executionAbortedEventDetails",
            json!({"error": error, "cause": cause}),
        ),
        EventKind::ExecutionTimedOut { error, cause } => (
            "executionTimedOutEventDetails",
            json!({"error": error, "cause": cause}),
        ),
        EventKind::StateEntered { name, input, .. } => (
            "stateEnteredEventDetails",
            json!({"name": name, "input": data(input, with_data), "inputDetails": {"truncated": false}}),
        ),
        EventKind::StateExited {
            name,
            output,
            assigned,
            ..
        } => {
            let mut details = json!({"name": name, "output": data(output, with_data), "outputDetails": {"truncated": false}});
            // AWS shows each assigned variable's value as JSON text, beside the output.
            if !assigned.is_empty() {
                let variables: serde_json::Map<String, Value> = assigned
                    .iter()
                    .map(|(name, value)| (name.clone(), data(value, with_data)))
                    .collect();
                details["assignedVariables"] = Value::Object(variables);
                details["assignedVariablesDetails"] = json!({"truncated": false});
            }
            ("stateExitedEventDetails", details)
        }
        EventKind::TaskScheduled {
            family,
            resource,
            parameters,
            timeout_seconds,
            heartbeat_seconds,
            ..
        } => match family {
            TaskFamily::Activity => (
                "activityScheduledEventDetails",
                json!({"resource": resource, "input": data(parameters, with_data), "inputDetails": {"truncated": false},
                    "timeoutInSeconds": timeout_seconds, "heartbeatInSeconds": heartbeat_seconds}),
            ),
            TaskFamily::LambdaFunction => (
                "lambdaFunctionScheduledEventDetails",
                json!({"resource": resource, "input": data(parameters, with_data), "inputDetails": {"truncated": false},
                    "timeoutInSeconds": timeout_seconds}),
            ),
            TaskFamily::Task => {
                let (resource_type, name) = resource_parts(resource);
                (
                    "taskScheduledEventDetails",
                    json!({"resourceType": resource_type, "resource": name, "region": resource.split(':').nth(3).unwrap_or_default(),
                        "parameters": data(parameters, with_data), "timeoutInSeconds": timeout_seconds, "heartbeatInSeconds": heartbeat_seconds}),
                )
            }
        },
        EventKind::TaskStarted {
            thread,
            family,
            worker_name,
            ..
        } => match family {
            TaskFamily::Activity => (
                "activityStartedEventDetails",
                json!({"workerName": worker_name}),
            ),
            TaskFamily::LambdaFunction => ("", Value::Null),
            TaskFamily::Task => {
                let (resource_type, name) = resource_parts(&resource_of(thread, event.id));
                (
                    "taskStartedEventDetails",
                    json!({"resourceType": resource_type, "resource": name}),
                )
            }
        },
        EventKind::TaskSubmitted { thread, output } => {
            let (resource_type, name) = resource_parts(&resource_of(thread, event.id));
            (
                "taskSubmittedEventDetails",
                json!({"resourceType": resource_type, "resource": name, "output": data(output, with_data)}),
            )
        }
        EventKind::TaskSucceeded {
            thread,
            family,
            output,
        } => match family {
            TaskFamily::Activity => (
                "activitySucceededEventDetails",
                json!({"output": data(output, with_data)}),
            ),
            TaskFamily::LambdaFunction => (
                "lambdaFunctionSucceededEventDetails",
                json!({"output": data(output, with_data)}),
            ),
            TaskFamily::Task => {
                let (resource_type, name) = resource_parts(&resource_of(thread, event.id));
                (
                    "taskSucceededEventDetails",
                    json!({"resourceType": resource_type, "resource": name, "output": data(output, with_data)}),
                )
            }
        },
        EventKind::TaskFailed {
            thread,
            family,
            error,
            cause,
            ..
        }
        | EventKind::TaskTimedOut {
            thread,
            family,
            error,
            cause,
            ..
        } => {
            let timed_out = matches!(event.kind, EventKind::TaskTimedOut { .. });
            let member = match (family, timed_out) {
                (TaskFamily::Activity, false) => "activityFailedEventDetails",
                (TaskFamily::Activity, true) => "activityTimedOutEventDetails",
                (TaskFamily::LambdaFunction, false) => "lambdaFunctionFailedEventDetails",
                (TaskFamily::LambdaFunction, true) => "lambdaFunctionTimedOutEventDetails",
                (TaskFamily::Task, false) => "taskFailedEventDetails",
                (TaskFamily::Task, true) => "taskTimedOutEventDetails",
            };
            let mut details = json!({"error": error, "cause": cause});
            if *family == TaskFamily::Task {
                let (resource_type, name) = resource_parts(&resource_of(thread, event.id));
                details["resourceType"] = json!(resource_type);
                details["resource"] = json!(name);
            }
            (member, details)
        }
        EventKind::MapStarted { length, .. } => {
            ("mapStateStartedEventDetails", json!({"length": length}))
        }
        EventKind::MapIterationStarted { index, .. }
        | EventKind::MapIterationSucceeded { index, .. }
        | EventKind::MapIterationAborted { index, .. } => {
            let member = match event.kind {
                EventKind::MapIterationStarted { .. } => "mapIterationStartedEventDetails",
                EventKind::MapIterationSucceeded { .. } => "mapIterationSucceededEventDetails",
                _ => "mapIterationAbortedEventDetails",
            };
            (member, json!({"index": index}))
        }
        EventKind::MapIterationFailed { index, .. } => {
            ("mapIterationFailedEventDetails", json!({"index": index}))
        }
        EventKind::StateAborted { .. }
        | EventKind::StateFailed { .. }
        | EventKind::ParallelStarted { .. }
        | EventKind::ParallelSucceeded { .. }
        | EventKind::MapSucceeded { .. } => ("", Value::Null),
    };
    let mut value = json!({
        "id": event.id,
        "previousEventId": event.previous_event_id,
        "timestamp": event.timestamp_ms as f64 / 1000.0,
        "type": event.kind.type_name(),
    });
    if !member.is_empty() {
        let mut details = details;
        if let Some(map) = details.as_object_mut() {
            map.retain(|_, v| !v.is_null());
        }
        value[member] = details;
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::variables::Scope;

    fn exited(assigned: Scope) -> Event {
        Event {
            id: 3,
            previous_event_id: 2,
            timestamp_ms: 1_700_000_000_000,
            kind: EventKind::StateExited {
                thread: 0,
                state_type: "Pass".into(),
                name: "Set".into(),
                output: json!({"a": 1}),
                next: None,
                assigned,
            },
        }
    }

    #[test]
    fn a_state_that_assigned_variables_shows_them_as_aws_does() {
        let assigned: Scope = [
            ("order".to_string(), json!("A-17")),
            ("items".to_string(), json!([1, {"b": true}])),
        ]
        .into();
        let shown = events_json(&[exited(assigned.clone())], &[], true);
        let details = &shown[0]["stateExitedEventDetails"];
        assert_eq!(details["name"], "Set");
        assert_eq!(
            details["assignedVariables"],
            json!({"order": "\"A-17\"", "items": "[1,{\"b\":true}]"})
        );
        assert_eq!(
            details["assignedVariablesDetails"],
            json!({"truncated": false})
        );
        // Without execution data the values are left out, as the output is.
        let hidden = events_json(&[exited(assigned)], &[], false);
        assert_eq!(
            hidden[0]["stateExitedEventDetails"]["assignedVariables"]["order"],
            Value::Null
        );
        // A state that assigned nothing has no such members.
        let plain = events_json(&[exited(Scope::new())], &[], true);
        assert!(
            plain[0]["stateExitedEventDetails"]
                .get("assignedVariables")
                .is_none()
        );
    }
}
