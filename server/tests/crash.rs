//! Crash suite: the `stepwise-server` binary runs as a child process and is killed with
//! SIGKILL at seeded random moments (also during a graceful shutdown and during start-up
//! recovery) while a mixed workload runs, then restarted on the same data directory.
//! Nothing committed may be lost: every Standard execution succeeds with well-formed
//! history, each task state entry is delivered exactly once, replay rebuilds the stored
//! state and billing matches the histories; every async Express execution completes at
//! least once. `STEPWISE_LONG=1` runs larger variants; `STEPWISE_SEED` replays a run.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use stepwise_proto::v1 as pb;
use stepwise_proto::v1::executions_client::ExecutionsClient;
use support::process::{ServerProcess as Server, next, run_until_exit};
use support::{Clients, TempDir, assert_contiguous, lambda, types};

/// The mixed workload: Task -> Wait 1 s -> Parallel(Task, Task) -> Map over 5
/// items of Task -> Choice -> Succeed. Eight task state entries per execution.
fn mixed_workload() -> Value {
    json!({"StartAt": "First", "States": {
        "First": {"Type": "Task", "Resource": lambda("first"), "ResultPath": "$.first", "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Both"},
        "Both": {"Type": "Parallel", "ResultPath": "$.both", "Next": "Each", "Branches": [
            {"StartAt": "Left", "States": {"Left": {"Type": "Task", "Resource": lambda("left"), "End": true}}},
            {"StartAt": "Right", "States": {"Right": {"Type": "Task", "Resource": lambda("right"), "End": true}}}
        ]},
        "Each": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.each", "Next": "Check",
            "ItemProcessor": {"StartAt": "Item", "States": {"Item": {"Type": "Task", "Resource": lambda("item"), "End": true}}}},
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$.each[4]", "NumericEquals": 50, "Next": "Done"}], "Default": "Wrong"},
        "Wrong": {"Type": "Fail", "Error": "Wrong"},
        "Done": {"Type": "Succeed"}
    }})
}

const TASKS_PER_EXECUTION: usize = 8;
const QUEUES: [&str; 4] = ["first", "left", "right", "item"];

/// One handler call, as a worker wrote it to the delivery file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Delivery {
    queue: String,
    execution: String,
    state: String,
    /// The task's input: with the state name it tells the state entry apart (each Map
    /// item has its own input).
    input: String,
    token: String,
    /// How many times this state entry has been delivered so far, this one included.
    attempt: u32,
}

/// The delivery file and the count of deliveries per state entry so far.
struct DeliveryLog {
    file: std::fs::File,
    attempts: HashMap<(String, String, String), u32>,
}

impl Delivery {
    fn state_entry(&self) -> (String, String, String) {
        (
            self.execution.clone(),
            self.state.clone(),
            self.input.clone(),
        )
    }
}

/// SDK workers serving the workload's queues; every handler call is appended to a file
/// before the handler answers.
struct Workers {
    stop: Vec<tokio::sync::oneshot::Sender<()>>,
    running: Vec<tokio::task::JoinHandle<()>>,
    log: std::path::PathBuf,
}

impl Workers {
    fn start(endpoint: &str, count: usize, log: std::path::PathBuf) -> Workers {
        let file = Arc::new(Mutex::new(DeliveryLog {
            file: std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .unwrap(),
            attempts: HashMap::new(),
        }));
        let mut stop = Vec::new();
        let mut running = Vec::new();
        for i in 0..count {
            let mut worker = stepwise_worker::Worker::new(endpoint)
                .name(format!("crash-worker-{i}"))
                .concurrency(16)
                .grace_period(Duration::from_secs(1));
            for queue in QUEUES {
                let file = file.clone();
                worker = worker.handle(queue, move |task: stepwise_worker::Task| {
                    let file = file.clone();
                    async move {
                        let mut delivery = Delivery {
                            queue: task.queue.clone(),
                            execution: task.execution_arn.clone(),
                            state: task.state_name.clone(),
                            input: task.input.to_string(),
                            token: task.token.clone(),
                            attempt: 0,
                        };
                        {
                            use std::io::Write;
                            let mut log = file.lock().unwrap();
                            let attempt = log.attempts.entry(delivery.state_entry()).or_default();
                            *attempt += 1;
                            delivery.attempt = *attempt;
                            writeln!(log.file, "{}", serde_json::to_string(&delivery).unwrap())
                                .unwrap();
                        }
                        Ok(match task.queue.as_str() {
                            "first" => json!({"ok": true}),
                            "left" => json!("L"),
                            "right" => json!("R"),
                            _ => json!(task.input.as_i64().unwrap_or_default() * 10),
                        })
                    }
                });
            }
            let (sender, receiver) = tokio::sync::oneshot::channel::<()>();
            stop.push(sender);
            running.push(tokio::spawn(async move {
                worker
                    .run(async {
                        let _ = receiver.await;
                    })
                    .await
                    .unwrap();
            }));
        }
        Workers { stop, running, log }
    }

    /// Stops the workers and reads back every delivery they recorded.
    async fn finish(self) -> Vec<Delivery> {
        for stop in self.stop {
            let _ = stop.send(());
        }
        for worker in self.running {
            worker.await.unwrap();
        }
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

/// Starts `count` executions named `run-N`, retrying each through crashes with the same
/// name (StartExecution is idempotent by name and input).
fn start_all(
    endpoint: String,
    machine: &str,
    count: usize,
) -> tokio::task::JoinHandle<Vec<String>> {
    let machine = machine.to_string();
    tokio::spawn(async move {
        let channel = tonic::transport::Endpoint::from_shared(endpoint)
            .unwrap()
            .connect_lazy();
        let mut executions = ExecutionsClient::new(channel);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        let mut arns = Vec::with_capacity(count);
        for i in 0..count {
            loop {
                let started = executions
                    .start_execution(pb::StartExecutionRequest {
                        state_machine: machine.clone(),
                        name: format!("run-{i}"),
                        input: json!({"i": i, "items": [1, 2, 3, 4, 5]}).to_string(),
                    })
                    .await;
                match started {
                    Ok(response) => {
                        arns.push(response.into_inner().execution_arn);
                        break;
                    }
                    Err(status) => {
                        assert!(
                            tokio::time::Instant::now() < deadline,
                            "run-{i} could not be started: {status:?}"
                        );
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            // Spread the starts over the crash rounds.
            if i % 10 == 9 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        arns
    })
}

/// Kills the server `rounds` times at seeded random moments, cycling through a plain
/// SIGKILL, a SIGKILL during a graceful shutdown, and a SIGKILL during start-up
/// recovery; restarts it on the same directory each time.
async fn crash_rounds(server: &mut Server, dir: &std::path::Path, rounds: usize, seed: &mut u64) {
    for round in 0..rounds {
        let wait = 200 + next(seed) % 1000;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        match round % 3 {
            0 => {
                println!("round {round}: kill -9 after {wait} ms");
                server.kill();
            }
            1 => {
                let grace = next(seed) % 60;
                println!(
                    "round {round}: SIGTERM after {wait} ms, kill -9 {grace} ms into the shutdown"
                );
                server.terminate();
                tokio::time::sleep(Duration::from_millis(grace)).await;
                server.kill();
            }
            _ => {
                let into = 5 + next(seed) % 40;
                println!(
                    "round {round}: kill -9 after {wait} ms, restart, kill -9 {into} ms into start-up recovery"
                );
                server.kill();
                server.respawn(dir);
                tokio::time::sleep(Duration::from_millis(into)).await;
                server.kill();
            }
        }
        server.restart(dir).await;
    }
}

/// Waits (bounded) until none of `arns` is RUNNING.
async fn wait_all_done(clients: &mut Clients, arns: &[String], limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    for arn in arns {
        while clients.describe(arn).await.status() == pb::ExecutionStatus::Running {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{arn} still running; history: {:?}",
                types(&clients.history(arn).await)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Entered/Exited pairs per state name, and each task's Scheduled, Started and outcome.
fn assert_well_formed(arn: &str, history: &[pb::HistoryEvent]) {
    assert_contiguous(history);
    let mut open: HashMap<&str, i64> = HashMap::new();
    for event in history {
        let name = event.name.as_deref().unwrap_or_default();
        if event.r#type.ends_with("StateEntered") {
            *open.entry(name).or_default() += 1;
        } else if event.r#type.ends_with("StateExited") {
            let count = open.entry(name).or_default();
            *count -= 1;
            assert!(*count >= 0, "{arn}: {name} exited before it was entered");
        }
    }
    assert!(
        open.values().all(|n| *n == 0),
        "{arn}: every state entered was exited: {open:?}"
    );
    let kinds = types(history);
    let count = |k: &str| kinds.iter().filter(|t| *t == k).count();
    for kind in [
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
    ] {
        assert_eq!(
            count(kind),
            TASKS_PER_EXECUTION,
            "{arn}: {kind} once per task state entry: {kinds:?}"
        );
    }
    // Each Started follows a Scheduled, each outcome a Started.
    let (mut awaiting_start, mut running) = (0i64, 0i64);
    for kind in &kinds {
        match kind.as_str() {
            "LambdaFunctionScheduled" => awaiting_start += 1,
            "LambdaFunctionStarted" => {
                awaiting_start -= 1;
                running += 1;
                assert!(awaiting_start >= 0, "{arn}: started before scheduled");
            }
            "LambdaFunctionSucceeded" => {
                running -= 1;
                assert!(running >= 0, "{arn}: an outcome before its start");
            }
            _ => {}
        }
    }
    assert_eq!(
        (awaiting_start, running),
        (0, 0),
        "{arn}: every task closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standard_executions_survive_repeated_kill_9_with_each_task_delivered_exactly_once() {
    let (executions, rounds) = if support::long_variant() {
        (1000, 12)
    } else {
        (200, 6)
    };
    let dir = TempDir::new("crash");
    let mut seed = support::process::seed();
    println!("crash seed: {seed} (rerun with STEPWISE_SEED={seed})");
    let mut server = Server::start(dir.path()).await;
    let mut clients = Clients::connect(server.endpoint()).await;
    clients.create("Mixed", &mixed_workload()).await;
    let workers = Workers::start(&server.endpoint(), 4, dir.path().join("deliveries.jsonl"));
    let starter = start_all(server.endpoint(), "Mixed", executions);

    crash_rounds(&mut server, dir.path(), rounds, &mut seed).await;
    let arns = starter.await.unwrap();
    let mut clients = Clients::connect(server.endpoint()).await;
    wait_all_done(&mut clients, &arns, Duration::from_secs(180)).await;
    let deliveries = workers.finish().await;

    let mut transitions = 0;
    for arn in &arns {
        let execution = clients.describe(arn).await;
        assert_eq!(
            execution.status(),
            pb::ExecutionStatus::Succeeded,
            "{arn}: {:?} {:?}",
            execution.error,
            execution.cause
        );
        let output: Value = serde_json::from_str(execution.output()).unwrap();
        assert_eq!(output["each"], json!([10, 20, 30, 40, 50]));
        let history = clients.history(arn).await;
        assert_well_formed(arn, &history);
        // No Retry in this workload: one transition per state entered.
        let entered = types(&history)
            .iter()
            .filter(|k| k.ends_with("StateEntered"))
            .count() as u64;
        assert_eq!(execution.state_transitions, entered, "{arn}");
        transitions += execution.state_transitions;
    }
    let usage = clients
        .executions
        .get_usage(pb::GetUsageRequest {
            state_machine: "Mixed".into(),
            start_time_ms: 0,
            end_time_ms: i64::MAX / 2,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(usage.standard_executions, executions as u64);
    assert_eq!(
        usage.standard_transitions, transitions,
        "billed transitions match the histories"
    );

    // Exactly once per state entry: one handler call each, all tokens distinct.
    let mut per_entry: HashMap<(String, String, String), usize> = HashMap::new();
    for delivery in &deliveries {
        *per_entry.entry(delivery.state_entry()).or_default() += 1;
    }
    let repeated: Vec<&Delivery> = deliveries.iter().filter(|d| d.attempt != 1).collect();
    assert!(
        repeated.is_empty(),
        "state entries delivered more than once: {repeated:?}"
    );
    assert_eq!(per_entry.len(), executions * TASKS_PER_EXECUTION);
    let tokens: std::collections::HashSet<&str> =
        deliveries.iter().map(|d| d.token.as_str()).collect();
    assert_eq!(tokens.len(), deliveries.len());
    println!(
        "standard crash suite: {executions} executions, {rounds} crashes, {} deliveries, {transitions} transitions, all SUCCEEDED, 0 repeated deliveries",
        deliveries.len()
    );

    server.kill();
    support::verify_replay_all(dir.path(), &arns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn async_express_executions_complete_at_least_once_through_repeated_kill_9() {
    let (executions, rounds) = if support::long_variant() {
        (500, 9)
    } else {
        (100, 4)
    };
    let dir = TempDir::new("crash-express-suite");
    let mut seed = support::process::seed();
    println!("express crash seed: {seed} (rerun with STEPWISE_SEED={seed})");
    let mut server = Server::start(dir.path()).await;
    let mut clients = Clients::connect(server.endpoint()).await;
    clients
        .machines
        .create_state_machine(pb::CreateStateMachineRequest {
            name: "MixedExpress".into(),
            definition: mixed_workload().to_string(),
            r#type: pb::StateMachineType::Express.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let workers = Workers::start(&server.endpoint(), 4, dir.path().join("deliveries.jsonl"));
    let starter = start_all(server.endpoint(), "MixedExpress", executions);
    crash_rounds(&mut server, dir.path(), rounds, &mut seed).await;
    let arns = starter.await.unwrap();
    let mut clients = Clients::connect(server.endpoint()).await;

    // An Express execution is in memory only: one that finished before the last crash
    // is no longer describable (NotFound), and one cut short by a crash was started
    // again by recovery and is describable now. Wait until none is still running.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let mut finished_now = 0;
    for arn in &arns {
        loop {
            let described = clients
                .executions
                .describe_execution(pb::DescribeExecutionRequest {
                    execution_arn: arn.clone(),
                })
                .await;
            match described {
                Err(status) => {
                    assert_eq!(status.code(), tonic::Code::NotFound, "{arn}: {status:?}");
                    break;
                }
                Ok(execution) if execution.get_ref().status() == pb::ExecutionStatus::Running => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "{arn} still running"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(execution) => {
                    let execution = execution.into_inner();
                    assert_eq!(execution.status(), pb::ExecutionStatus::Succeeded, "{arn}");
                    finished_now += 1;
                    break;
                }
            }
        }
    }
    let deliveries = workers.finish().await;

    // Completed at least once: every execution's eight task state entries were each
    // delivered at least once; an execution restarted by recovery repeats some.
    let mut per_entry: HashMap<(String, String, String), usize> = HashMap::new();
    for delivery in &deliveries {
        *per_entry.entry(delivery.state_entry()).or_default() += 1;
    }
    let mut ran_more_than_once = 0;
    for arn in &arns {
        let entries: Vec<usize> = per_entry
            .iter()
            .filter(|((execution, _, _), _)| execution == arn)
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(
            entries.len(),
            TASKS_PER_EXECUTION,
            "{arn}: every task state entry ran"
        );
        let first = per_entry
            .get(&(
                arn.clone(),
                "First".into(),
                json!({"i": arn_index(arn), "items": [1, 2, 3, 4, 5]}).to_string(),
            ))
            .copied()
            .unwrap_or_default();
        if first > 1 {
            ran_more_than_once += 1;
        }
    }
    let most_attempts = deliveries
        .iter()
        .map(|d| d.attempt)
        .max()
        .unwrap_or_default();
    println!("express crash suite: most deliveries of one state entry: {most_attempts}");
    println!(
        "express crash suite: {executions} executions, {rounds} crashes, all completed at least once ({finished_now} in the last server life); {ran_more_than_once} ran more than once; {} deliveries for {} task state entries",
        deliveries.len(),
        executions * TASKS_PER_EXECUTION
    );
    server.kill();
    // Nothing is left to re-run: no unfinished start records survive.
    let (restarted, _) = support::start(dir.path()).await;
    assert_eq!(
        restarted.runtime.running(),
        0,
        "no Express execution left unfinished"
    );
    restarted.shutdown().await.unwrap();
}

/// The N of an execution named `run-N`.
fn arn_index(arn: &str) -> usize {
    let (_, rest) = arn.split_once(":run-").unwrap();
    rest.split(':').next().unwrap().parse().unwrap()
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
            ..Default::default()
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
