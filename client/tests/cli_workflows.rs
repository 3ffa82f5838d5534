//! The `stepwise` binary against the real server: create, start --wait exit codes,
//! history, describe, list and graph output.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use stepwise_server::Config;
use stepwise_worker::Worker;

fn fixture(name: &str) -> String {
    format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn stepwise(endpoint: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stepwise"))
        .arg("--endpoint")
        .arg(endpoint)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}

// The CLI runs as a child process while this test waits on it; the in-process server and
// worker need runtime threads of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn create_start_wait_history_and_graph() {
    let data = std::env::temp_dir().join(format!("stepwise-cli-flow-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let server = stepwise_server::start(Config::ephemeral(&data))
        .await
        .unwrap();
    let endpoint = format!("http://{}", server.grpc_addr);
    let worker = Worker::new(endpoint.clone())
        .handle("AMIS_deciding_function", |task| async move {
            Ok(json!({"statusCode": task.input["code"]}))
        });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));

    let created = stepwise(
        &endpoint,
        &[
            "machine",
            "create",
            "Choice",
            &fixture("choice-state.asl.json"),
        ],
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(stdout(&created).contains("arn:aws:states:us-east-1:000000000000:stateMachine:Choice"));

    let ok = tokio::task::spawn_blocking({
        let endpoint = endpoint.clone();
        move || {
            stepwise(
                &endpoint,
                &[
                    "start",
                    "Choice",
                    "--name",
                    "ok",
                    "--input",
                    r#"{"code": 200}"#,
                    "--wait",
                ],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}{}",
        stdout(&ok),
        String::from_utf8_lossy(&ok.stderr)
    );
    let text = stdout(&ok);
    assert!(
        text.contains("WaitStateEntered") && text.contains("Correct"),
        "{text}"
    );
    assert!(text.contains("status      SUCCEEDED"), "{text}");

    let input_file = data.join("input.json");
    std::fs::write(&input_file, r#"{"code": 404}"#).unwrap();
    let failed = tokio::task::spawn_blocking({
        let endpoint = endpoint.clone();
        let input = format!("@{}", input_file.display());
        move || {
            stepwise(
                &endpoint,
                &[
                    "--output", "json", "start", "Choice", "--name", "bad", "--input", &input,
                    "--wait",
                ],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(
        failed.status.code(),
        Some(1),
        "a failed execution exits non-zero"
    );
    let last: Value = serde_json::from_str(stdout(&failed).lines().last().unwrap()).unwrap();
    assert_eq!(last["status"], "FAILED");
    assert_eq!(last["error"], "States.NoChoiceMatched");

    let arn = "arn:aws:states:us-east-1:000000000000:execution:Choice:ok";
    let history = stepwise(&endpoint, &["history", arn]);
    let lines: Vec<String> = stdout(&history).lines().map(str::to_string).collect();
    assert!(lines[0].contains("ExecutionStarted"), "{lines:?}");
    assert!(lines.last().unwrap().contains("ExecutionSucceeded"));

    let listed = stepwise(&endpoint, &["list", "Choice", "--status", "failed"]);
    assert!(
        stdout(&listed).contains("FAILED")
            && stdout(&listed).contains("bad")
            && !stdout(&listed).contains(" ok ")
    );

    let graph = stepwise(&endpoint, &["graph", "Choice", "--execution", arn]);
    let text = stdout(&graph);
    assert!(text.starts_with("flowchart TD"), "{text}");
    // Choice edges carry their rules, as the web console labels them.
    assert!(
        text.contains("s_ChoiceState -->|\"$.statusCode == 200\"| s_Correct"),
        "{text}"
    );
    assert!(
        text.contains("s_ChoiceState -->|\"$.statusCode == 500\"| s_Error"),
        "{text}"
    );
    assert!(
        text.contains("style s_Correct fill:#5cb85c"),
        "the state the run took is green: {text}"
    );
    assert!(
        text.contains("style s_Error fill:#cccccc"),
        "the state it did not take is grey: {text}"
    );
    let dot = stepwise(&endpoint, &["graph", "Choice", "--format", "dot"]);
    assert!(stdout(&dot).starts_with("digraph stepwise {"));

    let missing = stepwise(
        &endpoint,
        &[
            "describe",
            "arn:aws:states:us-east-1:000000000000:execution:Choice:nope",
        ],
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("ExecutionDoesNotExist"));

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&data);
}
