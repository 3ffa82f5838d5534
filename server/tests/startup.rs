//! What the server binary tells a newcomer when it starts with its log going to a file:
//! where the web console is, in plain text (no terminal colour codes), and that a
//! SIGTERM ends it cleanly.

mod support;

use std::process::Stdio;
use std::time::Duration;

use support::TempDir;
use support::process::{free_port, server_command, wait_exit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_names_the_console_url_in_plain_text() {
    let dir = TempDir::new("startup");
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let grpc = format!("127.0.0.1:{}", free_port());
    let http = format!("127.0.0.1:{}", free_port());
    let mut child = server_command(&dir.path().join("data"), &grpc, &http)
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let url = format!("http://{http}/");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = std::fs::read_to_string(&log_path).unwrap();
        if text.contains("web console at") {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no console line in the log:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        text.contains(&format!("web console at {url}")),
        "the log names {url}:\n{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "a log file carries no terminal colour codes:\n{text:?}"
    );
    // The URL answers with the console's page.
    let (status, page) = support::process::http_get(&http, "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("<title>Stepwise</title>"), "{page}");

    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let status = wait_exit(&mut child, Duration::from_secs(30)).await;
    assert!(
        status.success(),
        "SIGTERM ends the server cleanly: {status}"
    );
}
