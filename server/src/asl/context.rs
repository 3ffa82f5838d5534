//! The context object (`$$`): facts about the execution, the current state, the task and
//! the Map item, readable from paths. The runtime supplies every value in it, including
//! times, so evaluation stays pure.

use serde::Serialize;
use serde_json::Value;

/// The `$$` object, field for field as AWS documents it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContextObject {
    /// `$$.Execution`.
    pub execution: ExecutionContext,
    /// `$$.State`, absent before the first state is entered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<StateContext>,
    /// `$$.StateMachine`.
    pub state_machine: StateMachineContext,
    /// `$$.Task`, present only while a Task state runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskContext>,
    /// `$$.Map`, present only inside a Map's ItemSelector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map: Option<MapContext>,
}

/// `$$.Execution`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecutionContext {
    /// The execution ARN.
    pub id: String,
    /// The execution's input.
    pub input: Value,
    /// The execution name.
    pub name: String,
    /// The IAM role AWS would run as; Stepwise has none and keeps whatever it is given.
    pub role_arn: String,
    /// When the execution started (RFC 3339).
    pub start_time: String,
    /// How many times the execution was redriven (AWS documents it as always present;
    /// Stepwise does not redrive, so 0, and `RedriveTime`, present only after a
    /// redrive, never appears).
    pub redrive_count: u32,
}

/// `$$.State`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StateContext {
    /// When the state was entered (RFC 3339).
    pub entered_time: String,
    /// The state's name.
    pub name: String,
    /// How many times the state has been retried.
    pub retry_count: u32,
}

/// `$$.StateMachine`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StateMachineContext {
    /// The state machine ARN.
    pub id: String,
    /// The state machine name.
    pub name: String,
}

/// `$$.Task`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskContext {
    /// The token a worker uses to report the task's outcome.
    pub token: String,
}

/// `$$.Map`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MapContext {
    /// `$$.Map.Item`.
    pub item: MapItem,
}

/// `$$.Map.Item`: the array item an iteration processes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MapItem {
    /// Its position in the array, from 0.
    pub index: usize,
    /// The item itself.
    pub value: Value,
}

impl ContextObject {
    /// The context as the JSON value paths read.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("the context object always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::path::Path;
    use serde_json::json;

    #[test]
    fn every_documented_field_is_reachable_by_path() {
        let context = ContextObject {
            execution: ExecutionContext {
                id: "arn:aws:states:us-east-1:000000000000:execution:M:e1".into(),
                input: json!({"k": 1}),
                name: "e1".into(),
                role_arn: "arn:aws:iam::000000000000:role/stepwise".into(),
                start_time: "2026-11-25T10:00:00.000Z".into(),
                redrive_count: 0,
            },
            state: Some(StateContext {
                entered_time: "2026-11-25T10:00:01.000Z".into(),
                name: "Work".into(),
                retry_count: 2,
            }),
            state_machine: StateMachineContext {
                id: "arn:aws:states:us-east-1:000000000000:stateMachine:M".into(),
                name: "M".into(),
            },
            task: Some(TaskContext {
                token: "tok".into(),
            }),
            map: Some(MapContext {
                item: MapItem {
                    index: 3,
                    value: json!("v"),
                },
            }),
        }
        .to_value();
        let expect = [
            (
                "$$.Execution.Id",
                json!("arn:aws:states:us-east-1:000000000000:execution:M:e1"),
            ),
            ("$$.Execution.Input.k", json!(1)),
            ("$$.Execution.Name", json!("e1")),
            (
                "$$.Execution.RoleArn",
                json!("arn:aws:iam::000000000000:role/stepwise"),
            ),
            ("$$.Execution.StartTime", json!("2026-11-25T10:00:00.000Z")),
            ("$$.Execution.RedriveCount", json!(0)),
            ("$$.State.Name", json!("Work")),
            ("$$.State.EnteredTime", json!("2026-11-25T10:00:01.000Z")),
            ("$$.State.RetryCount", json!(2)),
            (
                "$$.StateMachine.Id",
                json!("arn:aws:states:us-east-1:000000000000:stateMachine:M"),
            ),
            ("$$.StateMachine.Name", json!("M")),
            ("$$.Task.Token", json!("tok")),
            ("$$.Map.Item.Index", json!(3)),
            ("$$.Map.Item.Value", json!("v")),
        ];
        for (path, value) in expect {
            assert_eq!(
                Path::parse(path).unwrap().select(
                    &json!({}),
                    crate::asl::path::Sources::context_only(&context)
                ),
                Some(value),
                "{path}"
            );
        }
    }
}
