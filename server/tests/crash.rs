//! Crash tests: the `stepwise-server` binary runs as a child process and is killed with
//! SIGKILL while executions wait on timers and tasks, then restarted on the same data
//! directory. Nothing committed may be lost: every execution finishes, histories stay
//! contiguous, and no task token is delivered twice.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use stepwise_proto::v1 as pb;
use stepwise_proto::v1::tasks_client::TasksClient;
use support::process::{ServerProcess as Server, next, run_until_exit};
use support::{Clients, TempDir, assert_contiguous, lambda, types};
use tonic::transport::Channel;

/// A task client, if the server answers.
async fn connect(endpoint: &str) -> Option<TasksClient<Channel>> {
    let channel = Channel::from_shared(endpoint.to_string())
        .ok()?
        .connect()
        .await
        .ok()?;
    Some(TasksClient::new(channel))
}

/// A worker that keeps polling through server crashes, answering with its input, and
/// records every delivery (token → execution).
fn spawn_worker(
    endpoint: String,
    queues: Vec<String>,
    deliveries: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<Mutex<bool>>,
    mut poll_seed: u64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !*stop.lock().unwrap() {
            let Some(mut tasks) = connect(&endpoint).await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            while !*stop.lock().unwrap() {
                // One poll id per task wanted: if the answer is lost to a crash, asking
                // again with the same id returns the task that poll started.
                let poll_id = format!("{:x}", next(&mut poll_seed));
                let task = loop {
                    let polled = tasks
                        .poll_task(pb::PollTaskRequest {
                            queues: queues.clone(),
                            worker_name: "crash-worker".into(),
                            wait_seconds: 1,
                            poll_id: poll_id.clone(),
                        })
                        .await;
                    match polled {
                        Ok(response) => break Some(response.into_inner()),
                        Err(_) if *stop.lock().unwrap() => break None,
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            if let Some(fresh) = connect(&endpoint).await {
                                tasks = fresh;
                            }
                        }
                    }
                };
                let Some(task) = task else { break };
                if task.token.is_empty() {
                    continue;
                }
                deliveries
                    .lock()
                    .unwrap()
                    .push((task.token.clone(), task.execution_arn.clone()));
                // Keep the result until the server takes it, across restarts.
                loop {
                    let sent = tasks
                        .send_task_success(pb::SendTaskSuccessRequest {
                            token: task.token.clone(),
                            output: task.input.clone(),
                        })
                        .await;
                    match sent {
                        Ok(_) => break,
                        // A definitive answer: the task is gone (or the result is bad).
                        Err(status)
                            if matches!(
                                status.code(),
                                tonic::Code::FailedPrecondition
                                    | tonic::Code::NotFound
                                    | tonic::Code::InvalidArgument
                            ) =>
                        {
                            println!("result refused: {status}");
                            break;
                        }
                        // The server is down or the connection broke: retry when it is back.
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            if let Some(fresh) = connect(&endpoint).await {
                                tasks = fresh;
                            }
                        }
                    }
                }
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_loses_nothing_committed() {
    let dir = TempDir::new("crash");
    let mut seed = support::process::seed();
    println!("crash seed: {seed}");
    let mut server = Server::start(dir.path()).await;
    let mut clients = Clients::connect(server.endpoint()).await;
    let definition = json!({"StartAt": "First", "States": {
        "First": {"Type": "Task", "Resource": lambda("first"), "ResultPath": "$.first", "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Both"},
        "Both": {"Type": "Parallel", "ResultPath": "$.both", "Next": "Each", "Branches": [
            {"StartAt": "Left", "States": {"Left": {"Type": "Task", "Resource": lambda("left"), "End": true}}},
            {"StartAt": "Right", "States": {"Right": {"Type": "Task", "Resource": lambda("right"), "End": true}}}
        ]},
        "Each": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.each", "Next": "Check",
            "ItemProcessor": {"StartAt": "Item", "States": {"Item": {"Type": "Task", "Resource": lambda("item"), "End": true}}}},
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$.each[2]", "NumericEquals": 3, "Next": "Done"}], "Default": "Wrong"},
        "Wrong": {"Type": "Fail", "Error": "Wrong"},
        "Done": {"Type": "Succeed"}
    }});
    clients.create("Crash", &definition).await;
    const EXECUTIONS: usize = 30;
    let mut arns = Vec::new();
    for i in 0..EXECUTIONS {
        arns.push(
            clients
                .start(
                    "Crash",
                    &format!("run-{i}"),
                    json!({"i": i, "items": [1, 2, 3]}),
                )
                .await,
        );
    }

    let deliveries = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(Mutex::new(false));
    let queues: Vec<String> = ["first", "left", "right", "item"]
        .iter()
        .map(|q| q.to_string())
        .collect();
    let workers: Vec<_> = (0..4)
        .map(|i| {
            spawn_worker(
                server.endpoint(),
                queues.clone(),
                deliveries.clone(),
                stop.clone(),
                seed ^ ((i + 1) * 0x9E37_79B9),
            )
        })
        .collect();

    for round in 0..3 {
        let wait = 150 + next(&mut seed) % 600;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        println!(
            "round {round}: kill -9 after {wait} ms with {} deliveries",
            deliveries.lock().unwrap().len()
        );
        server.kill();
        tokio::time::sleep(Duration::from_millis(50)).await;
        server.restart(dir.path()).await;
    }

    let mut clients = Clients::connect(server.endpoint()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for arn in &arns {
        while clients.describe(arn).await.status() == pb::ExecutionStatus::Running {
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "{arn} still running; history: {:?}",
                    types(&clients.history(arn).await)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let execution = clients.describe(arn).await;
        assert_eq!(
            execution.status(),
            pb::ExecutionStatus::Succeeded,
            "{arn}: {:?} {:?}",
            execution.error,
            execution.cause
        );
        let output: Value = serde_json::from_str(execution.output()).unwrap();
        assert_eq!(output["each"], json!([1, 2, 3]));
        let history = clients.history(arn).await;
        assert_contiguous(&history);
        let kinds = types(&history);
        let count = |k: &str| kinds.iter().filter(|t| *t == k).count();
        // Six Task state entries: First, Left, Right and three Map items.
        for kind in [
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionSucceeded",
        ] {
            assert_eq!(
                count(kind),
                6,
                "{arn}: {kind} once per task state entry: {kinds:?}"
            );
        }
        let entered = kinds.iter().filter(|k| k.ends_with("StateEntered")).count();
        let exited = kinds.iter().filter(|k| k.ends_with("StateExited")).count();
        assert_eq!(entered, exited, "{arn}: every state entered was exited");
    }
    *stop.lock().unwrap() = true;
    for worker in workers {
        worker.await.unwrap();
    }
    let deliveries = deliveries.lock().unwrap();
    let mut per_token: HashMap<&str, usize> = HashMap::new();
    for (token, _) in deliveries.iter() {
        *per_token.entry(token).or_default() += 1;
    }
    // A repeated poll (same poll id after a lost answer) is the same delivery: count
    // tokens as the worker recorded them; each reached exactly one worker.
    assert!(
        per_token.values().all(|n| *n == 1),
        "a task token was delivered twice: {per_token:?}"
    );
    assert_eq!(
        per_token.len(),
        EXECUTIONS * 6,
        "each state entry's task was delivered exactly once"
    );
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_cleanly() {
    let dir = TempDir::new("sigterm");
    let mut server = Server::start(dir.path()).await;
    server.terminate();
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "SIGTERM exits 0, got {exit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_data_directory_is_a_clear_error() {
    let dir = TempDir::new("not-a-dir");
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "not a directory").unwrap();
    let output = run_until_exit(&file);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_async_express_runs_again_and_standard_does_not_repeat_a_finished_state() {
    let dir = TempDir::new("crash-express");
    let mut server = Server::start(dir.path()).await;
    let mut clients = Clients::connect(server.endpoint()).await;
    let steps = |first: &str, second: &str| {
        json!({"StartAt": "One", "States": {
            "One": {"Type": "Task", "Resource": lambda(first), "Next": "Pause"},
            "Pause": {"Type": "Wait", "Seconds": 2, "Next": "Two"},
            "Two": {"Type": "Task", "Resource": lambda(second), "End": true}
        }})
    };
    clients
        .machines
        .create_state_machine(pb::CreateStateMachineRequest {
            name: "Ex".into(),
            definition: steps("e1", "e2").to_string(),
            r#type: pb::StateMachineType::Express.into(),
        })
        .await
        .unwrap();
    clients.create("St", &steps("s1", "s2")).await;
    let express = clients.start("Ex", "ex", json!({"k": "express"})).await;
    let standard = clients.start("St", "st", json!({"k": "standard"})).await;
    let mut delivered: HashMap<String, usize> = HashMap::new();
    for queue in ["e1", "s1"] {
        let task = clients.poll(queue, 5).await.expect("first tasks offered");
        clients.succeed(&task.token, json!({})).await.unwrap();
        *delivered.entry(queue.to_string()).or_default() += 1;
    }
    // Both now wait; kill the server at the same moment for both.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();
    server.restart(dir.path()).await;
    let mut clients = Clients::connect(server.endpoint()).await;

    // Serve whatever comes until both are done.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        for queue in ["e1", "e2", "s1", "s2"] {
            if let Some(task) = clients.poll(queue, 1).await {
                clients.succeed(&task.token, json!({})).await.unwrap();
                *delivered.entry(queue.to_string()).or_default() += 1;
            }
        }
        let express_done = clients
            .executions
            .describe_execution(pb::DescribeExecutionRequest {
                execution_arn: express.clone(),
            })
            .await
            .is_ok_and(|e| e.into_inner().status() == pb::ExecutionStatus::Succeeded);
        let standard_done =
            clients.describe(&standard).await.status() == pb::ExecutionStatus::Succeeded;
        if express_done && standard_done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not done: {delivered:?}"
        );
    }
    assert_eq!(
        delivered.get("e1"),
        Some(&2),
        "the Express execution ran again from the beginning: {delivered:?}"
    );
    assert_eq!(delivered.get("e2"), Some(&1));
    assert_eq!(
        delivered.get("s1"),
        Some(&1),
        "the Standard execution did not repeat its finished state: {delivered:?}"
    );
    assert_eq!(delivered.get("s2"), Some(&1));
    server.kill();
}
