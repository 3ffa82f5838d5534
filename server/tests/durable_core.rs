//! The durable core end to end: the real server on a temporary data directory, driven
//! over gRPC, with workers that poll for tasks.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use stepwise_proto::v1 as pb;
use support::{Clients, TempDir, assert_contiguous, fixture, lambda, start, types};
use tonic::Code;

const LIMIT: Duration = Duration::from_secs(20);

/// Serves `queue` until `count` tasks were handled, answering with `handler(input)`.
fn spawn_worker(
    mut clients: Clients,
    queue: &'static str,
    count: usize,
    handler: fn(Value) -> Result<Value, (String, String)>,
) -> tokio::task::JoinHandle<Vec<Value>> {
    tokio::spawn(async move {
        let mut inputs = Vec::new();
        let deadline = tokio::time::Instant::now() + LIMIT;
        while inputs.len() < count && tokio::time::Instant::now() < deadline {
            let Some(task) = clients.poll(queue, 1).await else {
                continue;
            };
            let input: Value = serde_json::from_str(&task.input).unwrap();
            match handler(input.clone()) {
                Ok(output) => clients.succeed(&task.token, output).await.unwrap(),
                Err((error, cause)) => clients.fail(&task.token, &error, &cause).await.unwrap(),
            }
            inputs.push(input);
        }
        inputs
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_type_end_to_end() {
    let dir = TempDir::new("all-states");
    let (server, mut clients) = start(dir.path()).await;
    let definition = json!({
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Result": [1, 2, 3], "ResultPath": "$.items", "Next": "Double"},
            "Double": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "ResultPath": "$.doubled",
                "ItemProcessor": {"StartAt": "Times2", "States": {"Times2": {"Type": "Task", "Resource": lambda("times2"), "End": true}}},
                "Next": "Both"},
            "Both": {"Type": "Parallel", "ResultPath": "$.both", "Next": "Pause", "Branches": [
                {"StartAt": "Sum", "States": {"Sum": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "sum", "Payload.$": "$.doubled"}, "OutputPath": "$.Payload", "End": true}}},
                {"StartAt": "Label", "States": {"Label": {"Type": "Pass", "Parameters": {"label.$": "States.Format('n={}', States.ArrayLength($.items))"}, "End": true}}}
            ]},
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Route"},
            "Route": {"Type": "Choice", "Choices": [{"Variable": "$.both[0]", "NumericEquals": 12, "Next": "Done"}], "Default": "Wrong"},
            "Wrong": {"Type": "Fail", "Error": "WrongSum"},
            "Done": {"Type": "Succeed", "OutputPath": "$.both"}
        }
    });
    clients.create("AllStates", &definition).await;
    let times2 = spawn_worker(clients.clone(), "times2", 3, |v| {
        Ok(json!(v.as_i64().unwrap() * 2))
    });
    let sum = spawn_worker(clients.clone(), "sum", 1, |v| {
        Ok(json!(
            v.as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_i64().unwrap())
                .sum::<i64>()
        ))
    });
    let arn = clients.start("AllStates", "run-1", json!({})).await;
    let execution = clients.wait_done(&arn, LIMIT).await;
    assert_eq!(
        execution.status(),
        pb::ExecutionStatus::Succeeded,
        "{:?} {:?}",
        execution.error,
        execution.cause
    );
    assert_eq!(
        serde_json::from_str::<Value>(execution.output()).unwrap(),
        json!([12, {"label": "n=3"}])
    );
    assert_eq!(times2.await.unwrap().len(), 3);
    assert_eq!(sum.await.unwrap(), [json!([2, 4, 6])]);
    let history = clients.history(&arn).await;
    assert_contiguous(&history);
    let kinds = types(&history);
    for expected in [
        "PassStateEntered",
        "MapStateStarted",
        "MapIterationSucceeded",
        "LambdaFunctionScheduled",
        "TaskScheduled",
        "ParallelStateExited",
        "WaitStateExited",
        "ChoiceStateExited",
        "SucceedStateExited",
        "ExecutionSucceeded",
    ] {
        assert!(
            kinds.iter().any(|k| k == expected),
            "{expected} missing from {kinds:?}"
        );
    }
    assert!(
        !kinds.iter().any(|k| k == "ParallelStateSucceeded"),
        "AWS records no ParallelStateSucceeded: {kinds:?}"
    );
    server.runtime.verify_replay(&arn).unwrap();
    // Six top-level states, three Map iterations and two Parallel branches entered.
    assert_eq!(execution.state_transitions, 6 + 3 + 2, "{kinds:?}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn choice_seed_routes_by_status_code() {
    let dir = TempDir::new("choice");
    let (server, mut clients) = start(dir.path()).await;
    clients
        .create("ChoiceState", &fixture("choice-state.asl.json"))
        .await;
    let mut runs = Vec::new();
    for code in [200, 500, 404] {
        let arn = clients
            .start(
                "ChoiceState",
                &format!("code-{code}"),
                json!({"code": code}),
            )
            .await;
        runs.push((code, arn));
    }
    spawn_worker(clients.clone(), "AMIS_deciding_function", 3, |input| {
        Ok(json!({"statusCode": input["code"]}))
    });
    for (code, arn) in runs {
        let execution = clients.wait_done(&arn, LIMIT).await;
        let history = clients.history(&arn).await;
        assert_contiguous(&history);
        let waits: Vec<&str> = history
            .iter()
            .filter(|e| e.r#type == "WaitStateEntered")
            .map(|e| e.name.as_deref().unwrap())
            .collect();
        match code {
            200 | 500 => {
                assert_eq!(execution.status(), pb::ExecutionStatus::Succeeded);
                let (wait, seconds) = if code == 200 {
                    ("Correct", 1_000)
                } else {
                    ("Error", 5_000)
                };
                assert_eq!(waits, [wait]);
                let entered = history
                    .iter()
                    .find(|e| e.r#type == "WaitStateEntered")
                    .unwrap()
                    .timestamp_ms;
                let exited = history
                    .iter()
                    .find(|e| e.r#type == "WaitStateExited")
                    .unwrap()
                    .timestamp_ms;
                assert!(
                    exited - entered >= seconds,
                    "{wait} waited {} ms",
                    exited - entered
                );
            }
            _ => {
                assert_eq!(execution.status(), pb::ExecutionStatus::Failed);
                assert_eq!(execution.error(), "States.NoChoiceMatched");
                assert!(waits.is_empty());
            }
        }
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_pipeline_runs_branches_concurrently_and_a_failure_cancels_the_rest() {
    let dir = TempDir::new("pipeline");
    let (server, mut clients) = start(dir.path()).await;
    clients
        .create("Pipeline", &fixture("test-pipeline.asl.json"))
        .await;

    // All three branches offer their first task at once.
    let arn = clients
        .start("Pipeline", "ok", json!({"commit": "abc"}))
        .await;
    let accept = clients
        .poll("AMIS_unittest_test_accept", 5)
        .await
        .expect("accept offered");
    let update = clients
        .poll("AMIS_unittest_test_update_db", 5)
        .await
        .expect("update_db offered");
    let perf = clients
        .poll("AMIS_perftest_test", 5)
        .await
        .expect("perftest offered");
    clients
        .succeed(&accept.token, json!({"accept": "pass"}))
        .await
        .unwrap();
    let decrypt = clients
        .poll("AMIS_unittest_test_decrypt", 5)
        .await
        .expect("decrypt follows accept");
    clients
        .succeed(&decrypt.token, json!({"decrypt": "pass"}))
        .await
        .unwrap();
    clients
        .succeed(&update.token, json!({"update_db": "pass"}))
        .await
        .unwrap();
    clients
        .succeed(&perf.token, json!({"perf": "pass"}))
        .await
        .unwrap();
    // The performance branch now waits 240 s for its logs.
    let deadline = tokio::time::Instant::now() + LIMIT;
    let entered = loop {
        let history = clients.history(&arn).await;
        if let Some(e) = history.iter().find(|e| e.r#type == "WaitStateEntered") {
            break e.timestamp_ms;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(entered > 0);
    assert_eq!(
        clients.describe(&arn).await.status(),
        pb::ExecutionStatus::Running
    );
    clients
        .executions
        .stop_execution(pb::StopExecutionRequest {
            execution_arn: arn.clone(),
            error: Some("Demo".into()),
            cause: Some("no need to wait 4 minutes".into()),
        })
        .await
        .unwrap();
    assert_eq!(
        clients.describe(&arn).await.status(),
        pb::ExecutionStatus::Aborted
    );

    // A failing unit test fails the Parallel and cancels the other branches' tasks.
    let arn = clients.start("Pipeline", "failing", json!({})).await;
    let accept = clients.poll("AMIS_unittest_test_accept", 5).await.unwrap();
    let perf = clients.poll("AMIS_perftest_test", 5).await.unwrap();
    let update = clients
        .poll("AMIS_unittest_test_update_db", 5)
        .await
        .unwrap();
    clients
        .fail(
            &update.token,
            "AssertionError",
            "test_update_db: expected 1 row",
        )
        .await
        .unwrap();
    let execution = clients.wait_done(&arn, LIMIT).await;
    assert_eq!(execution.status(), pb::ExecutionStatus::Failed);
    assert_eq!(execution.error(), "AssertionError");
    server.runtime.verify_replay(&arn).unwrap();
    // A result for a sibling's task says the task was cancelled, not that it timed out
    // (workers log it as routine); a second result for the failed task says it has one.
    for late in [accept.token, perf.token] {
        let status = clients.succeed(&late, json!({})).await.unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{status}");
        assert!(
            status.message().starts_with(
                "TaskTimedOut: the task for this token was cancelled: its state was aborted"
            ),
            "{}",
            status.message()
        );
    }
    let again = clients.succeed(&update.token, json!({})).await.unwrap_err();
    assert!(
        again
            .message()
            .starts_with("TaskTimedOut: the task for this token already has its result"),
        "{}",
        again.message()
    );
    let history = clients.history(&arn).await;
    assert_contiguous(&history);
    let kinds = types(&history);
    assert_eq!(
        kinds.iter().filter(|k| *k == "TaskStateAborted").count(),
        2,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"ParallelStateFailed".to_string()));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_with_backoff_then_catch() {
    let dir = TempDir::new("retry");
    let (server, mut clients) = start(dir.path()).await;
    clients
        .create(
            "Retry",
            &json!({"StartAt": "Flaky", "States": {
                "Flaky": {"Type": "Task", "Resource": lambda("flaky"),
                    "Retry": [{"ErrorEquals": ["Transient"], "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 2}],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handled"}], "End": true},
                "Handled": {"Type": "Pass", "End": true}
            }}),
        )
        .await;
    let arn = clients.start("Retry", "r1", json!({"job": 7})).await;
    let worker = spawn_worker(clients.clone(), "flaky", 3, |_| {
        Err(("Transient".into(), "try later".into()))
    });
    let execution = clients.wait_done(&arn, LIMIT).await;
    assert_eq!(
        worker.await.unwrap().len(),
        3,
        "the first try and two retries"
    );
    assert_eq!(execution.status(), pb::ExecutionStatus::Succeeded);
    assert_eq!(
        serde_json::from_str::<Value>(execution.output()).unwrap(),
        json!({"job": 7, "error": {"Error": "Transient", "Cause": "try later"}})
    );
    let history = clients.history(&arn).await;
    let scheduled: Vec<i64> = history
        .iter()
        .filter(|e| e.r#type == "LambdaFunctionScheduled")
        .map(|e| e.timestamp_ms)
        .collect();
    let failed: Vec<i64> = history
        .iter()
        .filter(|e| e.r#type == "LambdaFunctionFailed")
        .map(|e| e.timestamp_ms)
        .collect();
    assert_eq!(scheduled.len(), 3);
    assert!(scheduled[1] - failed[0] >= 1000, "first retry after 1 s");
    assert!(scheduled[2] - failed[1] >= 2000, "second retry after 2 s");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_a_task_alive_and_a_missed_one_times_it_out() {
    let dir = TempDir::new("heartbeat");
    let (server, mut clients) = start(dir.path()).await;
    clients
        .create(
            "Beat",
            &json!({"StartAt": "Slow", "States": {"Slow": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:000000000000:activity:slow",
                "HeartbeatSeconds": 1, "End": true}}}),
        )
        .await;
    // Heartbeating every 400 ms for 1.6 s keeps the task alive.
    let arn = clients.start("Beat", "alive", json!({})).await;
    let task = clients.poll("slow", 5).await.unwrap();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        clients
            .tasks
            .send_task_heartbeat(pb::SendTaskHeartbeatRequest {
                token: task.token.clone(),
            })
            .await
            .unwrap();
    }
    clients
        .succeed(&task.token, json!({"done": true}))
        .await
        .unwrap();
    assert_eq!(
        clients.wait_done(&arn, LIMIT).await.status(),
        pb::ExecutionStatus::Succeeded
    );

    // Silence past HeartbeatSeconds fails it with States.HeartbeatTimeout.
    let arn = clients.start("Beat", "silent", json!({})).await;
    let task = clients.poll("slow", 5).await.unwrap();
    let execution = clients.wait_done(&arn, LIMIT).await;
    assert_eq!(execution.status(), pb::ExecutionStatus::Failed);
    assert_eq!(execution.error(), "States.HeartbeatTimeout");
    assert!(types(&clients.history(&arn).await).contains(&"ActivityTimedOut".to_string()));
    let late = clients.succeed(&task.token, json!({})).await.unwrap_err();
    assert!(
        late.message().starts_with("TaskTimedOut:"),
        "{}",
        late.message()
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_names_are_idempotent_for_the_same_input() {
    let dir = TempDir::new("names");
    let (server, mut clients) = start(dir.path()).await;
    clients
        .create(
            "Names",
            &json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": true}}}),
        )
        .await;
    let first = clients.start("Names", "same", json!({"a": 1})).await;
    let again = clients.start("Names", "same", json!({"a": 1})).await;
    assert_eq!(first, again);
    let different = clients
        .executions
        .start_execution(pb::StartExecutionRequest {
            state_machine: "Names".into(),
            name: "same".into(),
            input: "{\"a\": 2}".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(different.code(), Code::AlreadyExists);
    assert!(
        different.message().starts_with("ExecutionAlreadyExists:"),
        "{}",
        different.message()
    );
    let listed = clients
        .executions
        .list_executions(pb::ListExecutionsRequest {
            state_machine: "Names".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .executions;
    assert_eq!(listed.len(), 1);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_history_streams_events_until_the_end() {
    let dir = TempDir::new("watch");
    let (server, mut clients) = start(dir.path()).await;
    clients
        .create("Watch", &json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": lambda("w"), "Next": "P"}, "P": {"Type": "Pass", "End": true}}}))
        .await;
    let arn = clients.start("Watch", "w1", json!({})).await;
    let mut stream = clients
        .executions
        .watch_execution_history(pb::WatchExecutionHistoryRequest {
            execution_arn: arn.clone(),
            exclude_execution_data: false,
        })
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    // The events so far arrive first.
    while seen.len() < 3 {
        seen.push(stream.message().await.unwrap().unwrap());
    }
    assert_eq!(
        types(&seen),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "LambdaFunctionScheduled"
        ]
    );
    spawn_worker(clients.clone(), "w", 1, Ok);
    while let Some(event) = tokio::time::timeout(LIMIT, stream.message())
        .await
        .unwrap()
        .unwrap()
    {
        seen.push(event);
    }
    assert_eq!(types(&seen).last().unwrap(), "ExecutionSucceeded");
    assert_contiguous(&seen);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_resume_after_a_graceful_restart() {
    let dir = TempDir::new("restart");
    let (server, mut clients) = start(dir.path()).await;
    clients
        .create(
            "Resume",
            &json!({"StartAt": "W", "States": {
                "W": {"Type": "Wait", "Seconds": 2, "Next": "T"},
                "T": {"Type": "Task", "Resource": lambda("after"), "End": true}
            }}),
        )
        .await;
    let waiting = clients.start("Resume", "waiting", json!({"n": 1})).await;
    server.shutdown().await.unwrap();

    let (server, mut clients) = start(dir.path()).await;
    assert_eq!(server.runtime.running(), 1, "the execution was recovered");
    let task = clients
        .poll("after", 10)
        .await
        .expect("the timer fired after the restart and the task was offered");
    clients
        .succeed(&task.token, json!({"ok": 1}))
        .await
        .unwrap();
    let execution = clients.wait_done(&waiting, LIMIT).await;
    assert_eq!(execution.status(), pb::ExecutionStatus::Succeeded);
    let history = clients.history(&waiting).await;
    assert_contiguous(&history);
    let entered = history
        .iter()
        .find(|e| e.r#type == "WaitStateEntered")
        .unwrap()
        .timestamp_ms;
    let exited = history
        .iter()
        .find(|e| e.r#type == "WaitStateExited")
        .unwrap()
        .timestamp_ms;
    assert!(
        exited - entered >= 2000,
        "the wait kept its original due time"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_clear_errors_and_change_nothing() {
    let dir = TempDir::new("bad");
    let (server, mut clients) = start(dir.path()).await;
    clients
        .create(
            "Good",
            &json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
        )
        .await;

    let invalid = clients
        .machines
        .create_state_machine(pb::CreateStateMachineRequest {
            name: "Broken".into(),
            definition: json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}})
                .to_string(),
            r#type: 0,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert!(
        invalid.message().contains("InvalidDefinition")
            && invalid.message().contains("/States/A/Next"),
        "{}",
        invalid.message()
    );

    let cases: Vec<(Result<(), tonic::Status>, Code, &str)> = vec![
        (
            clients
                .machines
                .create_state_machine(pb::CreateStateMachineRequest {
                    name: "AlsoBroken".into(),
                    definition: "{}".into(),
                    r#type: 0,
                    ..Default::default()
                })
                .await
                .map(|_| ()),
            Code::InvalidArgument,
            "InvalidDefinition",
        ),
        (
            clients
                .machines
                .create_state_machine(pb::CreateStateMachineRequest {
                    name: "bad name".into(),
                    definition:
                        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}})
                            .to_string(),
                    r#type: 0,
                    ..Default::default()
                })
                .await
                .map(|_| ()),
            Code::InvalidArgument,
            "InvalidName",
        ),
        (
            clients
                .machines
                .describe_state_machine(pb::DescribeStateMachineRequest {
                    state_machine: "Nope".into(),
                })
                .await
                .map(|_| ()),
            Code::NotFound,
            "StateMachineDoesNotExist",
        ),
        (
            clients
                .executions
                .start_execution(pb::StartExecutionRequest {
                    state_machine: "Good".into(),
                    name: "x".into(),
                    input: "{bad json".into(),
                })
                .await
                .map(|_| ()),
            Code::InvalidArgument,
            "InvalidExecutionInput",
        ),
        (
            clients
                .executions
                .start_execution(pb::StartExecutionRequest {
                    state_machine: "Good".into(),
                    name: "big".into(),
                    input: json!({"blob": "x".repeat(300 * 1024)}).to_string(),
                })
                .await
                .map(|_| ()),
            Code::InvalidArgument,
            "InvalidExecutionInput",
        ),
        (
            clients
                .executions
                .start_execution(pb::StartExecutionRequest {
                    state_machine: "Good".into(),
                    name: "no/slash".into(),
                    input: "{}".into(),
                })
                .await
                .map(|_| ()),
            Code::InvalidArgument,
            "InvalidName",
        ),
        (
            clients
                .executions
                .describe_execution(pb::DescribeExecutionRequest {
                    execution_arn: "arn:aws:states:us-east-1:000000000000:execution:Good:missing"
                        .into(),
                })
                .await
                .map(|_| ()),
            Code::NotFound,
            "ExecutionDoesNotExist",
        ),
        (
            clients
                .executions
                .describe_execution(pb::DescribeExecutionRequest {
                    execution_arn: "not-an-arn".into(),
                })
                .await
                .map(|_| ()),
            Code::InvalidArgument,
            "InvalidArn",
        ),
        (
            clients
                .succeed("0123456789abcdef0123456789abcdef", json!({}))
                .await,
            Code::NotFound,
            "TaskDoesNotExist",
        ),
        (
            clients
                .tasks
                .poll_task(pb::PollTaskRequest {
                    queues: vec![],
                    worker_name: "w".into(),
                    wait_seconds: 1,
                    ..Default::default()
                })
                .await
                .map(|_| ()),
            Code::InvalidArgument,
            "ValidationException",
        ),
    ];
    for (i, (result, code, aws)) in cases.into_iter().enumerate() {
        let status = result.expect_err(&format!("case {i} should fail"));
        assert_eq!(status.code(), code, "case {i}: {status}");
        assert!(
            status.message().starts_with(aws),
            "case {i}: {}",
            status.message()
        );
    }
    // Nothing was stored by the failed calls.
    let machines = clients
        .machines
        .list_state_machines(pb::ListStateMachinesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .state_machines;
    assert_eq!(
        machines.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        ["Good"]
    );
    let executions = clients
        .executions
        .list_executions(pb::ListExecutionsRequest {
            state_machine: "Good".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .executions;
    assert!(executions.is_empty());
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_machine_revisions_and_activities() {
    let dir = TempDir::new("crud");
    let (server, mut clients) = start(dir.path()).await;
    let v1 = json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": true}}});
    let created = clients.create("Versioned", &v1).await;
    assert_eq!(created.revision, 1);
    assert_eq!(
        created.arn,
        "arn:aws:states:us-east-1:000000000000:stateMachine:Versioned"
    );
    let running = clients.start("Versioned", "on-v1", json!({})).await;
    let v2 = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    let updated = clients
        .machines
        .update_state_machine(pb::UpdateStateMachineRequest {
            state_machine: created.arn.clone(),
            definition: v2.to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.revision, 2);
    let on_v2 = clients.start("Versioned", "on-v2", json!({})).await;
    assert_eq!(
        clients.wait_done(&on_v2, LIMIT).await.status(),
        pb::ExecutionStatus::Succeeded
    );
    let old = clients.describe(&running).await;
    assert_eq!(
        (old.status(), old.revision),
        (pb::ExecutionStatus::Running, 1),
        "running executions keep their revision"
    );

    let activity = clients
        .tasks
        .create_activity(pb::CreateActivityRequest {
            name: "approve".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        activity.arn,
        "arn:aws:states:us-east-1:000000000000:activity:approve"
    );
    let listed = clients
        .tasks
        .list_activities(pb::ListActivitiesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .activities;
    assert_eq!(listed.len(), 1);
    clients
        .tasks
        .delete_activity(pb::DeleteActivityRequest {
            activity: activity.arn.clone(),
        })
        .await
        .unwrap();
    let gone = clients
        .tasks
        .describe_activity(pb::DescribeActivityRequest {
            activity: "approve".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);

    clients
        .machines
        .delete_state_machine(pb::DeleteStateMachineRequest {
            state_machine: "Versioned".into(),
        })
        .await
        .unwrap();
    let deleted = clients
        .machines
        .describe_state_machine(pb::DescribeStateMachineRequest {
            state_machine: "Versioned".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(deleted.code(), Code::NotFound);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_are_limited_and_the_limit_fails_the_execution() {
    let dir = TempDir::new("limit");
    let mut config = support::config(dir.path());
    config.max_history_events = 60;
    let server = stepwise_server::start(config).await.unwrap();
    let mut clients = Clients::connect(format!("http://{}", server.grpc_addr)).await;
    clients
        .create(
            "Loop",
            &json!({"StartAt": "Count", "States": {
                "Count": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "Again"},
                "Again": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericLessThan": 1000, "Next": "Count"}], "Default": "Done"},
                "Done": {"Type": "Succeed"}
            }}),
        )
        .await;
    let arn = clients.start("Loop", "forever", json!({"n": 0})).await;
    let execution = clients.wait_done(&arn, LIMIT).await;
    assert_eq!(execution.status(), pb::ExecutionStatus::Failed);
    assert_eq!(execution.error(), "States.Runtime");
    assert!(
        execution.cause().contains("limit of 60 events"),
        "{}",
        execution.cause()
    );
    let history = clients.history(&arn).await;
    assert_contiguous(&history);
    assert!(history.len() <= 62, "{} events", history.len());
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_history_paging() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = TempDir::new("health");
    let (server, mut clients) = start(dir.path()).await;
    let mut socket = tokio::net::TcpStream::connect(server.http_addr)
        .await
        .unwrap();
    socket
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    socket.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    if support::on_postgres() {
        // A node of a cluster (of one) also says what it serves.
        assert!(
            body.starts_with(&format!(
                "ok\nnode {}: serving 64 of 64 partitions (0-63); leases renewed ",
                support::SUITE_NODE
            )) && body.ends_with("live nodes: suite-node\n"),
            "{body}"
        );
    } else {
        assert_eq!(body, "ok\n");
    }

    clients.create("Pages", &json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": true}}})).await;
    let arn = clients.start("Pages", "p", json!({"secret": 1})).await;
    clients.wait_done(&arn, LIMIT).await;
    let mut ids = Vec::new();
    let mut token = String::new();
    loop {
        let page = clients
            .executions
            .get_execution_history(pb::GetExecutionHistoryRequest {
                execution_arn: arn.clone(),
                max_results: 2,
                next_token: token.clone(),
                reverse_order: true,
                exclude_execution_data: true,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(
            page.events
                .iter()
                .all(|e| e.input.is_none() && e.output.is_none()),
            "data left out"
        );
        ids.extend(page.events.iter().map(|e| e.id));
        if page.next_token.is_empty() {
            break;
        }
        token = page.next_token;
    }
    assert_eq!(ids, [6, 5, 4, 3, 2, 1]);
    let mut socket = tokio::net::TcpStream::connect(server.http_addr)
        .await
        .unwrap();
    socket
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut metrics = String::new();
    socket.read_to_string(&mut metrics).await.unwrap();
    assert!(metrics.starts_with("HTTP/1.1 200 OK"), "{metrics}");
    for line in [
        "stepwise_executions_started_total 1",
        "stepwise_executions_ended_total{status=\"SUCCEEDED\"} 1",
        "stepwise_state_transitions_total 2",
        "stepwise_commit_latency_seconds_count",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_poll_id_returns_the_task_it_started() {
    let dir = TempDir::new("poll-id");
    let (server, mut clients) = start(dir.path()).await;
    clients
        .create("Once", &json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": lambda("once"), "End": true}}}))
        .await;
    let arn = clients.start("Once", "o", json!({"x": 1})).await;
    let poll = |poll_id: &str| pb::PollTaskRequest {
        queues: vec!["once".into()],
        worker_name: "w".into(),
        wait_seconds: 1,
        poll_id: poll_id.into(),
    };
    let first = clients
        .tasks
        .poll_task(poll("p-1"))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.token.is_empty());
    // The answer was "lost": the same poll id gets the same task, not a second one.
    let again = clients
        .tasks
        .poll_task(poll("p-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.token, first.token);
    assert_eq!(again.input, first.input);
    let other = clients
        .tasks
        .poll_task(poll("p-2"))
        .await
        .unwrap()
        .into_inner();
    assert!(other.token.is_empty(), "nothing else is queued");
    clients
        .succeed(&first.token, json!({"ok": true}))
        .await
        .unwrap();
    assert_eq!(
        clients.wait_done(&arn, LIMIT).await.status(),
        pb::ExecutionStatus::Succeeded
    );
    let after = clients
        .tasks
        .poll_task(poll("p-1"))
        .await
        .unwrap()
        .into_inner();
    assert!(
        after.token.is_empty(),
        "a finished task is not handed out again"
    );
    let started = types(&clients.history(&arn).await)
        .iter()
        .filter(|t| *t == "LambdaFunctionStarted")
        .count();
    assert_eq!(started, 1);
    server.shutdown().await.unwrap();
}
