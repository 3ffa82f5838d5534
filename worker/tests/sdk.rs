//! The worker SDK and the `stepwise-worker` binary against the real server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use stepwise_proto::v1 as pb;
use stepwise_proto::v1::executions_client::ExecutionsClient;
use stepwise_proto::v1::state_machines_client::StateMachinesClient;
use stepwise_server::{Config, RunningServer};
use stepwise_worker::{TaskError, Worker};
use tokio::sync::oneshot;
use tonic::transport::Channel;

const LIMIT: Duration = Duration::from_secs(20);

struct Env {
    dir: std::path::PathBuf,
    server: Option<RunningServer>,
    endpoint: String,
    machines: StateMachinesClient<Channel>,
    executions: ExecutionsClient<Channel>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Env {
    async fn start(tag: &str) -> Env {
        let dir = std::env::temp_dir().join(format!("stepwise-sdk-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut config = Config::ephemeral(&dir);
        config.grpc_addr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let server = stepwise_server::start(config).await.unwrap();
        let endpoint = format!("http://{}", server.grpc_addr);
        let channel = Channel::from_shared(endpoint.clone())
            .unwrap()
            .connect_lazy();
        Env {
            dir,
            server: Some(server),
            endpoint,
            machines: StateMachinesClient::new(channel.clone()),
            executions: ExecutionsClient::new(channel),
        }
    }

    async fn restart(&mut self) {
        let addr = self.server.as_ref().unwrap().grpc_addr;
        self.server.take().unwrap().shutdown().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut config = Config::ephemeral(&self.dir);
        config.grpc_addr = addr;
        self.server = Some(stepwise_server::start(config).await.unwrap());
    }

    async fn create(&mut self, name: &str, definition: Value) {
        self.machines
            .create_state_machine(pb::CreateStateMachineRequest {
                name: name.into(),
                definition: definition.to_string(),
                r#type: 0,
                ..Default::default()
            })
            .await
            .unwrap();
    }

    async fn start_execution(&mut self, machine: &str, input: Value) -> String {
        self.executions
            .start_execution(pb::StartExecutionRequest {
                state_machine: machine.into(),
                name: String::new(),
                input: input.to_string(),
            })
            .await
            .unwrap()
            .into_inner()
            .execution_arn
    }

    async fn wait(&mut self, arn: &str) -> pb::Execution {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let execution = self
                .executions
                .describe_execution(pb::DescribeExecutionRequest {
                    execution_arn: arn.into(),
                })
                .await
                .unwrap()
                .into_inner();
            if execution.status() != pb::ExecutionStatus::Running {
                return execution;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{arn} still running"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn finish(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.unwrap();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn lambda(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:000000000000:function:{name}")
}

#[derive(Deserialize)]
struct Order {
    items: Vec<u32>,
}

#[derive(Serialize)]
struct Total {
    total: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_handlers_errors_retries_and_panics() {
    let mut env = Env::start("handlers").await;
    env.create(
        "Orders",
        json!({"StartAt": "Sum", "States": {
            "Sum": {"Type": "Task", "Resource": lambda("sum"), "ResultPath": "$.sum", "Next": "Flaky"},
            "Flaky": {"Type": "Task", "Resource": lambda("flaky"), "Retry": [{"ErrorEquals": ["Transient"], "IntervalSeconds": 1}],
                "ResultPath": "$.flaky", "Next": "Crash"},
            "Crash": {"Type": "Task", "Resource": lambda("crash"), "Catch": [{"ErrorEquals": ["Worker.Panic"], "ResultPath": "$.crash", "Next": "Done"}], "End": true},
            "Done": {"Type": "Succeed"}
        }}),
    )
    .await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = attempts.clone();
    let worker = Worker::new(env.endpoint.clone())
        .handle_typed("sum", |order: Order, _task| async move {
            Ok::<_, TaskError>(Total {
                total: order.items.iter().sum(),
            })
        })
        .handle("flaky", move |_task| {
            let attempts = counted.clone();
            async move {
                if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(TaskError::new("Transient", "first try fails"))
                } else {
                    Ok(json!("second try works"))
                }
            }
        })
        .handle("crash", |_task| async move {
            if true {
                panic!("handler bug");
            }
            Ok(json!(null))
        });
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    let arn = env
        .start_execution("Orders", json!({"items": [1, 2, 3]}))
        .await;
    let execution = env.wait(&arn).await;
    assert_eq!(
        execution.status(),
        pb::ExecutionStatus::Succeeded,
        "{:?}",
        execution.cause
    );
    let output: Value = serde_json::from_str(execution.output()).unwrap();
    assert_eq!(output["sum"], json!({"total": 6}));
    assert_eq!(output["flaky"], json!("second try works"));
    assert_eq!(output["crash"]["Error"], "Worker.Panic");
    assert!(
        output["crash"]["Cause"]
            .as_str()
            .unwrap()
            .contains("handler bug")
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_long_tasks_alive_and_shutdown_waits_for_them() {
    let mut env = Env::start("heartbeat").await;
    env.create(
        "Long",
        json!({"StartAt": "Slow", "States": {"Slow": {"Type": "Task", "Resource": lambda("slow"), "HeartbeatSeconds": 1, "End": true}}}),
    )
    .await;
    let (stop, stopped) = oneshot::channel::<()>();
    let (started_tx, started) = oneshot::channel::<()>();
    let started_tx = Arc::new(std::sync::Mutex::new(Some(started_tx)));
    let worker = Worker::new(env.endpoint.clone())
        .grace_period(LIMIT)
        .handle("slow", move |_task| {
            let started_tx = started_tx.clone();
            async move {
                if let Some(tx) = started_tx.lock().unwrap().take() {
                    let _ = tx.send(());
                }
                // Three times HeartbeatSeconds: only heartbeats keep the task alive.
                tokio::time::sleep(Duration::from_millis(3000)).await;
                Ok(json!({"slept": true}))
            }
        });
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    let arn = env.start_execution("Long", json!({})).await;
    started.await.unwrap();
    // Ask the worker to stop while the task is in flight: it finishes it first.
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    let execution = env.wait(&arn).await;
    assert_eq!(
        execution.status(),
        pb::ExecutionStatus::Succeeded,
        "{:?} {:?}",
        execution.error,
        execution.cause
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_reconnects_across_a_server_restart() {
    let mut env = Env::start("reconnect").await;
    env.create("Later", json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": lambda("later"), "End": true}}})).await;
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = Worker::new(env.endpoint.clone()).handle("later", |task| async move {
        Ok(json!({"echo": task.input}))
    });
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(200)).await;
    env.restart().await;
    let arn = env.start_execution("Later", json!({"n": 1})).await;
    let execution = env.wait(&arn).await;
    assert_eq!(execution.status(), pb::ExecutionStatus::Succeeded);
    assert_eq!(
        serde_json::from_str::<Value>(execution.output()).unwrap(),
        json!({"echo": {"n": 1}})
    );
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exec_worker_runs_commands_and_reports_failures() {
    let mut env = Env::start("exec").await;
    env.create(
        "Pipeline",
        json!({"StartAt": "Build", "States": {
            "Build": {"Type": "Task", "Resource": lambda("build"), "ResultPath": "$.build", "Next": "Echo"},
            "Echo": {"Type": "Task", "Resource": lambda("echo"), "ResultPath": "$.echo", "Next": "Test"},
            "Test": {"Type": "Task", "Resource": lambda("test"), "End": true}
        }}),
    )
    .await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stepwise-worker"))
        .args([
            "--endpoint",
            &env.endpoint,
            "--exec",
            r#"build=read input; echo "{\"got\": $input, \"env\": $STEPWISE_INPUT}""#,
            "--echo",
            "echo",
            "--exec",
            "test=echo 'assertion failed: 1 == 2' >&2; exit 3",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let arn = env
        .start_execution("Pipeline", json!({"commit": "abc"}))
        .await;
    let execution = env.wait(&arn).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(execution.status(), pb::ExecutionStatus::Failed);
    assert_eq!(execution.error(), "Exec.ExitCode");
    assert!(
        execution.cause().contains("exited with code 3")
            && execution.cause().contains("assertion failed: 1 == 2"),
        "{}",
        execution.cause()
    );
    let history = env
        .executions
        .get_execution_history(pb::GetExecutionHistoryRequest {
            execution_arn: arn.clone(),
            max_results: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let test_input = history
        .iter()
        .filter(|e| e.r#type == "TaskStateEntered" && e.name.as_deref() == Some("Test"))
        .map(|e| serde_json::from_str::<Value>(e.input.as_deref().unwrap()).unwrap())
        .next()
        .unwrap();
    assert_eq!(
        test_input["build"],
        json!({"got": {"commit": "abc"}, "env": {"commit": "abc"}})
    );
    assert_eq!(
        test_input["echo"],
        test_input
            .clone()
            .as_object_mut()
            .map(|o| {
                o.remove("echo");
                Value::Object(o.clone())
            })
            .unwrap()
    );
    env.finish().await;
}

/// A one-request-at-a-time HTTP server answering `status` with `body` to every POST, and
/// recording the bodies it received.
async fn http_server(
    status: u16,
    body: &'static str,
) -> (String, tokio::task::JoinHandle<Vec<String>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let served = tokio::spawn(async move {
        let mut received = Vec::new();
        let Ok(Ok((mut socket, _))) = tokio::time::timeout(LIMIT, listener.accept()).await else {
            return received;
        };
        let mut request = vec![0u8; 64 * 1024];
        let n = socket.read(&mut request).await.unwrap();
        let text = String::from_utf8_lossy(&request[..n]).to_string();
        received.push(
            text.split_once("\r\n\r\n")
                .map(|(_, b)| b.to_string())
                .unwrap_or_default(),
        );
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(response.as_bytes()).await.unwrap();
        received
    });
    (url, served)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_worker_posts_the_input_and_fails_on_non_2xx() {
    let mut env = Env::start("http").await;
    env.create("Hook", json!({"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": lambda("hook"), "End": true}}})).await;
    for (status, body, expected) in [
        (200, r#"{"accepted": true}"#, pb::ExecutionStatus::Succeeded),
        (503, "busy", pb::ExecutionStatus::Failed),
    ] {
        let (url, served) = http_server(status, body).await;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stepwise-worker"))
            .args([
                "--endpoint",
                &env.endpoint,
                "--http",
                &format!("hook={url}"),
            ])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let arn = env.start_execution("Hook", json!({"order": status})).await;
        let execution = env.wait(&arn).await;
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(execution.status(), expected);
        let received = served.await.unwrap();
        assert_eq!(received, [json!({"order": status}).to_string()]);
        if expected == pb::ExecutionStatus::Succeeded {
            assert_eq!(
                serde_json::from_str::<Value>(execution.output()).unwrap(),
                json!({"accepted": true})
            );
        } else {
            assert_eq!(execution.error(), "Http.Status");
            assert!(
                execution.cause().contains("answered 503: busy"),
                "{}",
                execution.cause()
            );
        }
    }
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_running_worker_stops_all_its_polls() {
    let mut env = Env::start("drop").await;
    env.create(
        "Grab",
        json!({"StartAt": "G", "States": {"G": {"Type": "Task", "Resource": lambda("grab"), "End": true}}}),
    )
    .await;
    let handled = Arc::new(AtomicUsize::new(0));
    let counter = handled.clone();
    let worker = Worker::new(env.endpoint.clone())
        .concurrency(4)
        .pollers(4)
        .handle("grab", move |task| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move { Ok(task.input) }
        });
    let running = tokio::spawn(worker.run(std::future::pending()));
    // Let the four polls reach the server, then drop the worker's future.
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.abort();
    let _ = running.await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let arn = env.start_execution("Grab", json!({"n": 1})).await;
    let channel = Channel::from_shared(env.endpoint.clone())
        .unwrap()
        .connect_lazy();
    let mut tasks = stepwise_proto::v1::tasks_client::TasksClient::new(channel);
    let offer = tasks
        .poll_task(pb::PollTaskRequest {
            queues: vec!["grab".into()],
            worker_name: "test".into(),
            wait_seconds: 5,
            poll_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(offer.execution_arn, arn, "the task waited for a live poll");
    assert_eq!(
        handled.load(Ordering::SeqCst),
        0,
        "no poll of the dropped worker ran"
    );
    env.finish().await;
}
