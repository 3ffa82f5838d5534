//! The causes of errors the service raises while a state runs, in AWS's words: each
//! begins `An error occurred while executing the state 'NAME' (entered at the event id
//! #N).`, and a path that selects nothing quotes the input it read. A branch's own
//! failure, a task's and a Fail state's keep their causes as they are.

use serde_json::{Value, json};

use super::execution::Status;
use super::tests::{World, lambda};

fn failed(definition: Value, input: Value) -> (String, String) {
    let world = World::start(definition, input);
    assert_eq!(world.status(), Status::Failed, "{:?}", world.history);
    (
        world.execution.error.clone().unwrap(),
        world.execution.cause.clone().unwrap(),
    )
}

fn one(state: Value) -> Value {
    json!({"StartAt": "S", "States": {"S": state}})
}

#[test]
fn a_parameters_path_that_selects_nothing() {
    // AWS's own example: "... The JSONPath '$.application.address' specified for the
    // field 'address.$' could not be found in the input '{"flagged":false}'".
    assert_eq!(
        failed(
            one(json!({"Type": "Pass", "Parameters": {"address.$": "$.application.address"}, "End": true})),
            json!({"flagged": false})
        ),
        (
            "States.Runtime".to_string(),
            "An error occurred while executing the state 'S' (entered at the event id #2). The JSONPath '$.application.address' specified for the field 'address.$' could not be found in the input '{\"flagged\":false}'".to_string()
        )
    );
}

#[test]
fn input_path_and_output_path_that_select_nothing() {
    assert_eq!(
        failed(
            one(json!({"Type": "Pass", "InputPath": "$.user.id", "End": true})),
            json!({"user": {}})
        )
        .1,
        "An error occurred while executing the state 'S' (entered at the event id #2). The JSONPath '$.user.id' specified for the field 'InputPath' could not be found in the input '{\"user\":{}}'"
    );
    assert_eq!(
        failed(
            one(json!({"Type": "Pass", "Result": {"a": 1}, "OutputPath": "$.b", "End": true})),
            json!({})
        )
        .1,
        "An error occurred while executing the state 'S' (entered at the event id #2). The JSONPath '$.b' specified for the field 'OutputPath' could not be found in the input '{\"a\":1}'"
    );
}

#[test]
fn result_path_data_limit_and_no_choice_matched_name_the_state() {
    let (error, cause) = failed(
        one(json!({"Type": "Pass", "Result": 1, "ResultPath": "$.a.b", "End": true})),
        json!({"a": 3}),
    );
    assert_eq!(error, "States.ResultPathMatchFailure");
    assert!(
        cause.starts_with("An error occurred while executing the state 'S' (entered at the event id #2). Unable to apply ResultPath '$.a.b'"),
        "{cause}"
    );
    let (error, cause) = failed(
        json!({"StartAt": "Go", "States": {
            "Go": {"Type": "Pass", "Next": "C"},
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": true, "Next": "Done"}]},
            "Done": {"Type": "Succeed"}}}),
        json!({}),
    );
    assert_eq!(error, "States.NoChoiceMatched");
    assert!(
        cause.starts_with(
            "An error occurred while executing the state 'C' (entered at the event id #4)."
        ),
        "{cause}"
    );
    let (error, cause) = failed(
        one(json!({"Type": "Pass", "Assign": {"a.$": "$.big", "b.$": "$.big"}, "End": true})),
        json!({"big": "x".repeat(200 * 1024)}),
    );
    assert_eq!(error, "States.DataLimitExceeded");
    assert!(
        cause.starts_with("An error occurred while executing the state 'S' (entered at the event id #2). Assign sets"),
        "{cause}"
    );
}

#[test]
fn a_cause_quoting_a_large_input_stops_at_awss_limit() {
    let big = "x".repeat(100_000);
    let cause = failed(
        one(json!({"Type": "Pass", "Parameters": {"v.$": "$.missing"}, "End": true})),
        json!({"big": big}),
    )
    .1;
    assert_eq!(cause.chars().count(), 32_768);
}

#[test]
fn branch_task_and_fail_state_causes_are_their_own() {
    let mut world = World::start(
        json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": lambda("t"), "End": true}}},
            {"StartAt": "F", "States": {"F": {"Type": "Wait", "Seconds": 5, "Next": "Boom"},
                                        "Boom": {"Type": "Fail", "Error": "Mine", "Cause": "my cause"}}}]}}}),
        json!({}),
    );
    world.fail("t", "Worker", "worker cause");
    assert_eq!(world.status(), Status::Failed);
    assert_eq!(world.execution.cause.as_deref(), Some("worker cause"));
    let world = World::start(
        one(json!({"Type": "Fail", "Error": "Mine", "Cause": "my cause"})),
        json!({}),
    );
    assert_eq!(world.execution.cause.as_deref(), Some("my cause"));
}

#[test]
fn a_map_or_parallel_failing_on_its_own_settings_fails_the_execution_without_a_state_failed_event()
{
    for (state, field) in [
        (
            json!({"Type": "Map", "ItemsPath": "$.items", "MaxConcurrencyPath": "$.max", "End": true,
                   "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}),
            "MaxConcurrencyPath",
        ),
        (
            json!({"Type": "Map", "ItemsPath": "$.nothing", "End": true,
                   "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}),
            "ItemsPath",
        ),
        (
            json!({"Type": "Parallel", "InputPath": "$.nothing", "End": true,
                   "Branches": [{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}]}),
            "InputPath",
        ),
    ] {
        let world = World::start(one(state), json!({"items": [1], "max": "two"}));
        assert_eq!(world.status(), Status::Failed);
        let types = world.types();
        assert!(
            types.iter().all(|t| !t.ends_with("StateFailed")),
            "{field}: {types:?}"
        );
        assert_eq!(types.last().unwrap(), "ExecutionFailed");
        let cause = world.execution.cause.clone().unwrap();
        assert!(cause.contains(field), "{field}: {cause}");
    }
}

/// Whole event sequences for the shapes AWS's histories show, so none regresses.
#[test]
fn golden_event_sequences_of_parallel_map_and_a_caught_task() {
    let pass = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    let world = World::start(
        one(
            json!({"Type": "Parallel", "End": true, "Branches": [pass.clone(),
            {"StartAt": "Q", "States": {"Q": {"Type": "Pass", "End": true}}}]}),
        ),
        json!({}),
    );
    assert_eq!(
        world.types(),
        [
            "ExecutionStarted",
            "ParallelStateEntered",
            "ParallelStateStarted",
            "PassStateEntered",
            "PassStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ParallelStateExited",
            "ExecutionSucceeded"
        ]
    );
    let world = World::start(
        // One at a time, so the order is AWS's too (concurrent iterations interleave).
        one(json!({"Type": "Map", "MaxConcurrency": 1, "ItemProcessor": pass, "End": true})),
        json!([1, 2]),
    );
    assert_eq!(
        world.types(),
        [
            "ExecutionStarted",
            "MapStateEntered",
            "MapStateStarted",
            "MapIterationStarted",
            "PassStateEntered",
            "PassStateExited",
            "MapIterationSucceeded",
            "MapIterationStarted",
            "PassStateEntered",
            "PassStateExited",
            "MapIterationSucceeded",
            "MapStateSucceeded",
            "MapStateExited",
            "ExecutionSucceeded"
        ]
    );
    let mut world = World::start(
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": lambda("w"), "End": true,
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}]},
            "Done": {"Type": "Succeed"}}}),
        json!({}),
    );
    world.fail("w", "Boom", "x");
    assert_eq!(
        world.types(),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionFailed",
            "TaskStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded"
        ]
    );
}

#[test]
fn a_retried_parallel_records_its_failure_once_after_the_last_attempt() {
    let definition = |attempts: u32| {
        json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true,
            "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": attempts}],
            "Branches": [{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": lambda("flaky"), "End": true}}}]}}})
    };
    // Fails once, then succeeds on the retry: no ParallelStateFailed at all.
    let mut world = World::start(definition(2), json!({}));
    world.fail("flaky", "Flaky", "first");
    assert_eq!(world.status(), Status::Running);
    world.fire_next_timer();
    world.succeed("flaky", json!("ok"));
    assert_eq!(world.status(), Status::Succeeded, "{:?}", world.types());
    assert_eq!(world.execution.output, Some(json!(["ok"])));
    let types = world.types();
    assert!(
        !types.iter().any(|t| t == "ParallelStateFailed"),
        "{types:?}"
    );
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "ParallelStateStarted")
            .count(),
        2,
        "{types:?}"
    );
    // Entered P and T twice, plus the retry: AWS bills a retry as a transition.
    assert_eq!(world.execution.transitions, 1 + 2 + 1);

    // Every attempt fails: one ParallelStateFailed, after the last.
    let mut world = World::start(definition(2), json!({}));
    for attempt in 0..3 {
        world.fail("flaky", "Flaky", &format!("attempt {attempt}"));
        if attempt < 2 {
            assert_eq!(world.status(), Status::Running, "attempt {attempt}");
            world.fire_next_timer();
        }
    }
    assert_eq!(world.status(), Status::Failed);
    let types = world.types();
    assert_eq!(
        types.iter().filter(|t| *t == "ParallelStateFailed").count(),
        1,
        "{types:?}"
    );
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "ParallelStateStarted")
            .count(),
        3,
        "{types:?}"
    );
    let failed = types
        .iter()
        .position(|t| t == "ParallelStateFailed")
        .unwrap();
    assert_eq!(&types[failed + 1..], ["ExecutionFailed"]);
}

#[test]
fn a_retried_map_and_a_retry_that_fails_before_its_branches_start() {
    // A Map whose only iteration fails once.
    let mut world = World::start(
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
            "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1}],
            "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": lambda("item"), "End": true}}}}}}),
        json!([1]),
    );
    world.fail("item", "Oops", "x");
    world.fire_next_timer();
    world.succeed("item", json!(2));
    assert_eq!(world.status(), Status::Succeeded, "{:?}", world.types());
    assert!(!world.types().iter().any(|t| t == "MapStateFailed"));
    assert_eq!(world.execution.output, Some(json!([2])));

    // A Parallel whose Parameters fail every time (an intrinsic error, retriable): the
    // retries stop at MaxAttempts even though no attempt reaches its Started event.
    let mut world = World::start(
        json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true,
            "Parameters": {"n.$": "States.StringToJson($.text)"},
            "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2}],
            "Branches": [{"StartAt": "Q", "States": {"Q": {"Type": "Pass", "End": true}}}]}}}),
        json!({"text": "{nope"}),
    );
    for _ in 0..2 {
        assert_eq!(world.status(), Status::Running, "{:?}", world.types());
        world.fire_next_timer();
    }
    assert_eq!(world.status(), Status::Failed, "{:?}", world.types());
    assert_eq!(
        world.execution.error.as_deref(),
        Some("States.IntrinsicFailure")
    );
}

#[test]
fn stopping_a_parallel_that_waits_to_retry_aborts_it() {
    let mut world = World::start(
        json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true,
            "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 60}],
            "Branches": [{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": lambda("t"), "End": true}}}]}}}),
        json!({}),
    );
    world.fail("t", "Oops", "x");
    world.stop();
    assert_eq!(world.status(), Status::Aborted);
    let types = world.types();
    assert_eq!(
        &types[types.len() - 2..],
        ["ParallelStateAborted", "ExecutionAborted"],
        "{types:?}"
    );
}
