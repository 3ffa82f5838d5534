//! `stepwise key` and `--key` against a real server started with --admin-credentials:
//! the admin makes a worker key, a worker built with the SDK serves its queue with it,
//! the CLI is refused without a key and with a key that may not do what it asks, and a
//! revoked key stops working.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use stepwise_server::Config;
use stepwise_worker::Worker;

const ADMIN: &str = "AKIDCLIADMIN:cli-admin-secret";

fn stepwise(endpoint: &str, key: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stepwise"));
    command.arg("--endpoint").arg(endpoint).args(args);
    command.env_remove("STEPWISE_KEY");
    if let Some(key) = key {
        command.env("STEPWISE_KEY", key);
    }
    command.output().unwrap()
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn succeeded(output: std::process::Output) -> String {
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8_lossy(&output.stdout).to_string()
}

fn refused(output: std::process::Output, expected: &str) {
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let shown = String::from_utf8_lossy(&output.stderr);
    assert!(shown.contains(expected), "{expected}: {shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn the_admin_makes_keys_that_the_cli_and_workers_present() {
    let data = std::env::temp_dir().join(format!("stepwise-cli-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    let credentials = data.join("admin.ini");
    std::fs::write(
        &credentials,
        "[default]\naws_access_key_id = AKIDCLIADMIN\naws_secret_access_key = cli-admin-secret\n",
    )
    .unwrap();
    let server = stepwise_server::start(Config {
        admin_credentials: Some(credentials),
        ..Config::ephemeral(data.join("store"))
    })
    .await
    .unwrap();
    let endpoint = format!("http://{}", server.grpc_addr);
    let run = |key: Option<&str>, args: Vec<String>| {
        let endpoint = endpoint.clone();
        let key = key.map(str::to_string);
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            stepwise(&endpoint, key.as_deref(), &args)
        })
    };
    let args = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();

    let created = succeeded(
        run(
            Some(ADMIN),
            args(&[
                "key",
                "create",
                "--role",
                "worker",
                "--queues",
                "tests-*",
                "--description",
                "ci",
            ]),
        )
        .await
        .unwrap(),
    );
    let worker_key = created
        .lines()
        .find_map(|line| line.strip_prefix("STEPWISE_KEY="))
        .unwrap_or_else(|| panic!("no key printed: {created}"))
        .to_string();
    let (worker_id, _) = worker_key.split_once(':').unwrap();

    let definition = data.join("machine.json");
    std::fs::write(
        &definition,
        json!({"StartAt": "Work", "States": {"Work": {"Type": "Task",
            "Resource": "arn:aws:states:us-east-1:000000000000:activity:tests-q", "End": true}}})
        .to_string(),
    )
    .unwrap();
    succeeded(
        run(Some(ADMIN), args(&["activity", "create", "tests-q"]))
            .await
            .unwrap(),
    );
    succeeded(
        run(
            Some(ADMIN),
            args(&[
                "machine",
                "create",
                "Tests",
                &definition.display().to_string(),
            ]),
        )
        .await
        .unwrap(),
    );

    let worker = Worker::new(endpoint.clone())
        .key(worker_key.clone())
        .handle(
            "tests-q",
            |task| async move { Ok(json!({"seen": task.input})) },
        );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    let done = run(
        Some(ADMIN),
        args(&[
            "start",
            "Tests",
            "--name",
            "one",
            "--input",
            r#"{"n": 1}"#,
            "--wait",
        ]),
    );
    let done = tokio::time::timeout(Duration::from_secs(60), done)
        .await
        .expect("the run ends")
        .unwrap();
    assert!(
        succeeded(done).contains("status      SUCCEEDED"),
        "the worker's key served the task"
    );

    refused(
        run(None, args(&["machine", "list"])).await.unwrap(),
        "MissingAuthenticationTokenException",
    );
    refused(
        run(Some(worker_key.as_str()), args(&["machine", "list"]))
            .await
            .unwrap(),
        "AccessDeniedException",
    );
    refused(
        run(Some("not a key"), args(&["machine", "list"]))
            .await
            .unwrap(),
        "KEY_ID:SECRET",
    );
    refused(
        run(
            Some(ADMIN),
            args(&["key", "create", "--role", "operator", "--queues", "x"]),
        )
        .await
        .unwrap(),
        "--queues is for worker keys",
    );

    let listed = succeeded(
        run(Some(ADMIN), args(&["--output", "json", "key", "list"]))
            .await
            .unwrap(),
    );
    let keys: Vec<Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(keys.len(), 1, "{listed}");
    assert_eq!(keys[0]["keyId"], worker_id);
    assert_eq!(keys[0]["patterns"], json!(["tests-*"]));
    assert!(!listed.contains(&worker_key), "no secret is listed");

    let revoked = succeeded(
        run(Some(ADMIN), args(&["key", "revoke", worker_id]))
            .await
            .unwrap(),
    );
    assert!(
        revoked.contains(&format!("revoked {worker_id}")),
        "{revoked}"
    );
    refused(
        run(Some(worker_key.as_str()), args(&["activity", "list"]))
            .await
            .unwrap(),
        "has been revoked",
    );

    let _ = stop.send(());
    worker.await.unwrap().unwrap();
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&data);
}
