//! The server binary's life: what it tells a newcomer when it starts with its log going
//! to a file (where the web console is, in plain text, no terminal colour codes), that
//! SIGTERM ends it promptly and cleanly whatever calls are in flight, and the starts it
//! refuses.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_the_server_promptly_with_watches_polls_and_live_pages_open() {
    use serde_json::json;
    use stepwise_proto::v1 as pb;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = TempDir::new("stop-in-flight");
    let mut server = support::process::ServerProcess::start(dir.path()).await;
    let mut clients = support::Clients::connect(server.endpoint()).await;
    clients
        .create(
            "Hold",
            &json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": true}}}),
        )
        .await;
    let arn = clients.start("Hold", "held", json!({})).await;
    // A gRPC history watch of a running execution (it would never end by itself)...
    let mut watch = clients
        .executions
        .watch_execution_history(pb::WatchExecutionHistoryRequest {
            execution_arn: arn.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(watch.message().await.unwrap().is_some());
    // ...a long poll...
    let mut tasks = clients.tasks.clone();
    let poll = tokio::spawn(async move {
        tasks
            .poll_task(pb::PollTaskRequest {
                queues: vec!["nothing".into()],
                wait_seconds: 60,
                ..Default::default()
            })
            .await
    });
    // ...the console's live page of the execution (server-sent events)...
    let mut live = tokio::net::TcpStream::connect(&server.http).await.unwrap();
    let encoded = support::percent_encoded(&arn);
    live.write_all(
        format!("GET /console/api/executions/{encoded}/live HTTP/1.1\r\nhost: x\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut first = [0u8; 64];
    let n = live.read(&mut first).await.unwrap();
    assert!(
        first[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&first[..n])
    );
    // ...and a connection that never sent anything.
    let _idle = tokio::net::TcpStream::connect(&server.http).await.unwrap();

    let stopping = std::time::Instant::now();
    server.terminate();
    let status = wait_exit(&mut server.child, Duration::from_secs(30)).await;
    let took = stopping.elapsed();
    assert!(status.success(), "a graceful stop exits 0: {status}");
    assert!(
        took < stepwise_server::server::DRAIN_LIMIT,
        "nothing in flight held the stop until the drain limit: {took:?}"
    );
    // The watch ends (after any events it had already sent), and so does the poll.
    let mut buffered = 0;
    while let Ok(Some(_)) = watch.message().await {
        buffered += 1;
        assert!(buffered < 100, "the watch ended");
    }
    let _ = poll.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_ends_the_start_with_its_reason_not_a_panic() {
    let dir = TempDir::new("no-database");
    let grpc = format!("127.0.0.1:{}", free_port());
    let http = format!("127.0.0.1:{}", free_port());
    let closed = free_port();
    let mut child = server_command(&dir.path().join("data"), &grpc, &http)
        .args([
            "--database-url",
            &format!("postgres://who:secret@127.0.0.1:{closed}/db"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(30)).await;
    let mut said = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut said).unwrap();
    assert_eq!(status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("PostgreSQL at who@127.0.0.1:{closed}/db"))
            && said.contains("Connection refused"),
        "{said}"
    );
    assert!(
        !said.contains("secret") && !said.contains("panicked"),
        "{said}"
    );
}

#[test]
fn listening_beyond_loopback_without_insecure_is_refused_before_anything_is_opened() {
    // Refused before binding: nothing listens beyond loopback, even for a moment.
    let dir = TempDir::new("exposed");
    let data = dir.path().join("data");
    let http = format!("127.0.0.1:{}", free_port());
    let mut server = server_command(&data, "0.0.0.0:0", &http)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while server.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = server.kill();
            panic!("the server started on 0.0.0.0 without --insecure");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = server.wait_with_output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 (--grpc-addr)")
            && stderr.contains("--insecure"),
        "{stderr}"
    );
    assert!(!data.exists(), "the data directory was not created");
}
