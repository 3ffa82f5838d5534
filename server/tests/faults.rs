//! Fault suite: the disk refusing writes, a second server on one data directory, workers
//! that vanish mid-task, and Wait timestamps already in the past.

mod support;

use std::time::Duration;

use serde_json::json;
use stepwise_proto::v1 as pb;
use support::process::{ServerProcess, http_get, run_until_exit, wait_exit};
use support::{Clients, TempDir, assert_contiguous, lambda};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_refuses_writes_stops_requests_and_a_restart_recovers_everything_acknowledged()
{
    let dir = TempDir::new("disk-full");
    // A 1 MiB file-size limit: the store's log hits it after a few hundred starts. The
    // shell ignores SIGXFSZ so the write fails with EFBIG instead of killing the process.
    let mut server =
        ServerProcess::start_with(dir.path(), Some("trap '' XFSZ; ulimit -f 1024")).await;
    let mut clients = Clients::connect(server.endpoint()).await;
    let definition = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Pass", "End": true}}});
    clients.create("Disk", &definition).await;
    let padding = "x".repeat(4000);
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for i in 0..5000 {
        let started = clients
            .executions
            .start_execution(pb::StartExecutionRequest {
                state_machine: "Disk".into(),
                name: format!("run-{i}"),
                input: json!({"i": i, "padding": padding}).to_string(),
            })
            .await;
        match started {
            Ok(response) => acknowledged.push(response.into_inner().execution_arn),
            Err(status) => {
                refused = Some((i, status));
                break;
            }
        }
    }
    let (refused_index, status) = refused.expect("the file-size limit stops the store");
    println!(
        "disk full after {} acknowledged starts: {status:?}",
        acknowledged.len()
    );
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(status.message().contains("File too large"), "{status:?}");
    assert!(
        status.message().contains("restarted"),
        "the message says what to do: {status:?}"
    );

    // From now on every request is refused, reads included: the store's memory may hold
    // writes the disk does not, and those must never be shown.
    let describe = clients
        .executions
        .describe_execution(pb::DescribeExecutionRequest {
            execution_arn: acknowledged[0].clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(describe.code(), tonic::Code::Unavailable, "{describe:?}");
    let list = clients
        .executions
        .list_executions(pb::ListExecutionsRequest {
            state_machine: "Disk".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(list.code(), tonic::Code::Unavailable, "{list:?}");
    let poll = clients
        .tasks
        .poll_task(pb::PollTaskRequest {
            queues: vec!["anything".into()],
            wait_seconds: 1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(poll.code(), tonic::Code::Unavailable, "{poll:?}");
    let heartbeat = clients
        .tasks
        .send_task_heartbeat(pb::SendTaskHeartbeatRequest {
            token: "any".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(heartbeat.code(), tonic::Code::Unavailable, "{heartbeat:?}");
    let (health, body) = http_get(&server.http, "/health").await;
    assert_eq!(health, 503, "{body}");
    assert!(body.contains("File too large"), "{body}");

    // A graceful stop still ends the process, with a failing exit status.
    server.terminate();
    let exit = wait_exit(&mut server.child, Duration::from_secs(20)).await;
    assert!(
        !exit.success(),
        "a store failure is an unclean stop: {exit}"
    );

    // The disk has room again: a restart recovers every acknowledged start.
    server.prelude = None;
    server.restart(dir.path()).await;
    let mut clients = Clients::connect(server.endpoint()).await;
    for arn in &acknowledged {
        let execution = clients.wait_done(arn, Duration::from_secs(30)).await;
        assert_eq!(execution.status(), pb::ExecutionStatus::Succeeded, "{arn}");
        let history = clients.history(arn).await;
        assert_contiguous(&history);
        assert_eq!(history.last().unwrap().r#type, "ExecutionSucceeded");
    }
    // The refused start is either absent or whole: a start that failed to flush may
    // still have reached the disk, like a start whose answer was lost (retrying it with
    // the same name is idempotent).
    let refused_arn = acknowledged[0].replace("run-0", &format!("run-{refused_index}"));
    let mut all = acknowledged.clone();
    match clients
        .executions
        .describe_execution(pb::DescribeExecutionRequest {
            execution_arn: refused_arn.clone(),
        })
        .await
    {
        Err(status) => assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}"),
        Ok(_) => {
            let execution = clients
                .wait_done(&refused_arn, Duration::from_secs(30))
                .await;
            assert_eq!(execution.status(), pb::ExecutionStatus::Succeeded);
            assert_contiguous(&clients.history(&refused_arn).await);
            all.push(refused_arn);
        }
    }
    // New work runs, and the machine counts as many executions as it has histories.
    let fresh = clients.start("Disk", "after-the-fault", json!({})).await;
    let execution = clients.wait_done(&fresh, Duration::from_secs(30)).await;
    assert_eq!(execution.status(), pb::ExecutionStatus::Succeeded);
    all.push(fresh);
    let listed = clients.list_all("Disk").await;
    assert_eq!(listed.len(), all.len(), "every execution listed, no other");
    server.kill();
    support::verify_replay_all(dir.path(), &all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_directory_is_refused_and_the_first_keeps_serving() {
    let dir = TempDir::new("second");
    let server = ServerProcess::start(dir.path()).await;
    let mut clients = Clients::connect(server.endpoint()).await;
    let definition = json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}});
    clients.create("First", &definition).await;
    let arn = clients.start("First", "before", json!({"k": 1})).await;

    let other = run_until_exit(dir.path());
    assert!(!other.status.success());
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(
        stderr.contains("is in use by another Stepwise server")
            && stderr.contains(&dir.path().display().to_string()),
        "{stderr}"
    );

    // The first server is untouched: its data reads back and it takes new work.
    let execution = clients.wait_done(&arn, Duration::from_secs(10)).await;
    assert_eq!(execution.status(), pb::ExecutionStatus::Succeeded);
    assert_eq!(execution.input, json!({"k": 1}).to_string());
    let after = clients.start("First", "after", json!({})).await;
    let execution = clients.wait_done(&after, Duration::from_secs(10)).await;
    assert_eq!(execution.status(), pb::ExecutionStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_that_vanishes_mid_task_times_out_retry_redispatches_and_its_late_result_is_refused()
 {
    let dir = TempDir::new("vanish");
    let (server, mut clients) = support::start(dir.path()).await;
    let endpoint = format!("http://{}", server.grpc_addr);
    clients
        .create(
            "Vanish",
            &json!({"StartAt": "Work", "States": {"Work": {
                "Type": "Task", "Resource": lambda("vanish"), "HeartbeatSeconds": 1,
                "Retry": [{"ErrorEquals": ["States.HeartbeatTimeout"], "IntervalSeconds": 1,
                           "MaxAttempts": 2, "BackoffRate": 1.0}],
                "End": true}}}),
        )
        .await;
    let arn = clients.start("Vanish", "once", json!({"job": 7})).await;

    // The first worker (the real SDK) takes the task, heartbeats while its handler runs,
    // then vanishes: its process is gone, so are its heartbeats.
    let (taken_tx, mut taken) = tokio::sync::mpsc::unbounded_channel();
    let doomed = stepwise_worker::Worker::new(endpoint.clone())
        .name("doomed")
        .handle("vanish", move |task| {
            let taken_tx = taken_tx.clone();
            async move {
                let _ = taken_tx.send(task.token.clone());
                std::future::pending::<()>().await;
                Ok(json!(null))
            }
        });
    // On a runtime of its own, so that ending it ends every task the SDK spawned
    // (handler and heartbeats), as a process exit would.
    let doomed_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    doomed_runtime.spawn(doomed.run(std::future::pending()));
    let old_token = tokio::time::timeout(Duration::from_secs(10), taken.recv())
        .await
        .expect("the first worker gets the task")
        .unwrap();
    // Heartbeats at a third of HeartbeatSeconds keep it alive while the worker lives.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        clients.describe(&arn).await.status(),
        pb::ExecutionStatus::Running
    );
    doomed_runtime.shutdown_background();

    // A healthy worker serves the retry.
    let (served_tx, mut served) = tokio::sync::mpsc::unbounded_channel();
    let healthy = stepwise_worker::Worker::new(endpoint)
        .name("healthy")
        .handle("vanish", move |task| {
            let served_tx = served_tx.clone();
            async move {
                let _ = served_tx.send(task.token.clone());
                Ok(json!({"done": task.input["job"]}))
            }
        });
    let healthy = tokio::spawn(healthy.run(std::future::pending()));
    let execution = clients.wait_done(&arn, Duration::from_secs(20)).await;
    healthy.abort();
    assert_eq!(execution.status(), pb::ExecutionStatus::Succeeded);
    assert_eq!(execution.output(), json!({"done": 7}).to_string());
    let new_token = served.recv().await.unwrap();
    assert_ne!(new_token, old_token, "the retry is a new task");
    assert!(served.try_recv().is_err(), "the retry was delivered once");

    let history = clients.history(&arn).await;
    assert_contiguous(&history);
    let kinds = support::types(&history);
    let timed_out = history
        .iter()
        .find(|e| e.r#type == "LambdaFunctionTimedOut")
        .unwrap_or_else(|| panic!("a heartbeat timeout: {kinds:?}"));
    assert_eq!(timed_out.error(), "States.HeartbeatTimeout");
    let scheduled = kinds
        .iter()
        .filter(|k| *k == "LambdaFunctionScheduled")
        .count();
    assert_eq!(scheduled, 2, "Retry scheduled the task again: {kinds:?}");

    // The vanished worker's result arrives late: refused, and nothing changes.
    let late = clients
        .succeed(&old_token, json!({"late": true}))
        .await
        .unwrap_err();
    assert_eq!(late.code(), tonic::Code::FailedPrecondition, "{late:?}");
    assert!(
        late.message()
            .starts_with("TaskTimedOut: the task for this token timed out"),
        "{late:?}"
    );
    assert_eq!(clients.history(&arn).await.len(), history.len());
    assert_eq!(clients.describe(&arn).await.output(), execution.output());
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_until_a_timestamp_in_the_past_completes_at_once() {
    let dir = TempDir::new("past");
    let (server, mut clients) = support::start(dir.path()).await;
    clients
        .create(
            "Past",
            &json!({"StartAt": "Fixed", "States": {
                "Fixed": {"Type": "Wait", "Timestamp": "2001-02-03T04:05:06Z", "Next": "FromInput"},
                "FromInput": {"Type": "Wait", "TimestampPath": "$.when", "End": true}}}),
        )
        .await;
    let started = std::time::Instant::now();
    let arn = clients
        .start("Past", "past", json!({"when": "1999-12-31T23:59:59.5Z"}))
        .await;
    let execution = clients.wait_done(&arn, Duration::from_secs(10)).await;
    assert_eq!(execution.status(), pb::ExecutionStatus::Succeeded);
    let elapsed = started.elapsed();
    // No timer wait at all: both Waits exit in the same step they enter.
    let history = clients.history(&arn).await;
    let waits = history
        .iter()
        .filter(|e| e.r#type == "WaitStateExited")
        .count();
    assert_eq!(waits, 2);
    let first = history.first().unwrap().timestamp_ms;
    let last = history.last().unwrap().timestamp_ms;
    assert!(
        last - first < 1000,
        "the waits took {} ms (test saw {elapsed:?})",
        last - first
    );
    server.shutdown().await.unwrap();
}

/// Keeps reading a child's stderr so it never blocks on a full pipe; the returned handle
/// gives its last lines.
fn drain_stderr(child: &mut std::process::Child) -> std::thread::JoinHandle<String> {
    use std::io::Read;
    let mut stderr = child.stderr.take().expect("stderr is piped");
    std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stderr.read_to_string(&mut all);
        let lines: Vec<&str> = all.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_the_disk_fills_sigterm_still_ends_the_server_with_calls_in_flight() {
    if !support::process::tmpfs_available() {
        // Needs `unshare -rm` (unprivileged user and mount namespaces) for a real, small
        // filesystem; .ci/run's machine has it.
        println!("skipped: this machine does not allow mounting a tmpfs in a namespace");
        return;
    }
    let dir = TempDir::new("tmpfs-full");
    let mut server = ServerProcess::start_on_tmpfs(dir.path(), 24).await;
    let log = drain_stderr(&mut server.child);
    let mut clients = Clients::connect(server.endpoint()).await;
    clients
        .create(
            "Fill",
            &json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": lambda("fill"), "End": true}}}),
        )
        .await;
    // What is in flight when the disk fills and the stop comes: a history watch, a long
    // poll on an empty queue, the console's live stream and an idle HTTP connection.
    let watched = clients.start("Fill", "watched", json!({})).await;
    let mut watch = clients
        .executions
        .watch_execution_history(pb::WatchExecutionHistoryRequest {
            execution_arn: watched,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        watch.message().await.unwrap().is_some(),
        "the watch streams"
    );
    let padding = "x".repeat(200 * 1024);
    let mut refused = None;
    for i in 0..1000 {
        let started = clients
            .executions
            .start_execution(pb::StartExecutionRequest {
                state_machine: "Fill".into(),
                name: format!("fill-{i}"),
                input: json!({"padding": padding}).to_string(),
            })
            .await;
        if let Err(status) = started {
            refused = Some(status);
            break;
        }
    }
    let status = refused.expect("a 24 MB disk fills up");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    let mut poller = clients.tasks.clone();
    let long_poll = tokio::spawn(async move {
        poller
            .poll_task(pb::PollTaskRequest {
                queues: vec!["nothing-here".into()],
                wait_seconds: 60,
                ..Default::default()
            })
            .await
    });
    let http = server.http.clone();
    let idle = tokio::net::TcpStream::connect(&http).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    server.terminate();
    let started = std::time::Instant::now();
    let exit = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(30) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    if exit.is_none() {
        server.kill();
    }
    let tail = log.join().unwrap();
    let exit = exit.unwrap_or_else(|| panic!("30 s after SIGTERM the server still ran:\n{tail}"));
    assert!(
        !exit.success(),
        "a store failure is an unclean stop: {exit}\n{tail}"
    );
    println!(
        "stopped {:?} after SIGTERM; the log ends:\n{tail}",
        started.elapsed()
    );
    drop(idle);
    let _ = long_poll.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_live_pages_of_a_large_execution_share_one_copy_of_its_history() {
    let dir = TempDir::new("live-memory");
    let mut server = ServerProcess::start(dir.path()).await;
    let log = drain_stderr(&mut server.child);
    let mut clients = Clients::connect(server.endpoint()).await;
    // 100 iterations, each with a 100 KB output: a 10 MB history (the Map then fails on
    // its 10 MB result, which is fine: the history is what the pages show).
    clients
        .create(
            "Large",
            &json!({"StartAt": "Each", "States": {"Each": {
                "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 10, "End": true,
                "ItemProcessor": {"StartAt": "Big", "States": {"Big": {
                    "Type": "Pass", "Parameters": {"big.$": "$$.Execution.Input.blob"}, "End": true}}}}}}),
        )
        .await;
    let input = json!({"items": (0..100).collect::<Vec<_>>(), "blob": "x".repeat(100 * 1024)});
    let arn = clients.start("Large", "large", input).await;
    let done = clients.wait_done(&arn, Duration::from_secs(60)).await;
    assert_eq!(done.status(), pb::ExecutionStatus::Failed);
    let history_bytes: usize = clients
        .history(&arn)
        .await
        .iter()
        .map(|e| e.output.as_ref().map_or(0, String::len))
        .sum();
    assert!(
        history_bytes > 9_000_000,
        "a large history: {history_bytes} bytes of outputs"
    );

    let pid = server.child.id();
    let encoded = support::percent_encoded(&arn);
    let path = format!("/console/api/executions/{encoded}/live");
    // One page first, so the store's page cache holds the history and the baseline
    // includes a view that came and went.
    let warm = read_live_pages(&server.http, &path, 1, pid).await;
    assert!(warm.totals[0] > history_bytes);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = support::process::rss_kib(pid).unwrap();
    // Ten pages reading slowly, so that all ten are in flight at once.
    let ten = read_live_pages(&server.http, &path, 10, pid).await;
    let (read, peak) = (ten.totals, ten.peak_kib.max(before));
    for total in &read {
        assert!(
            *total > history_bytes,
            "each page got the whole history: {total}"
        );
    }
    // The server hands memory back a second after the last page leaves.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = support::process::rss_kib(pid).unwrap();
    println!(
        "server RSS: {} MiB before, {} MiB at the peak of ten pages, {} MiB after ({} MiB of history outputs)",
        before / 1024,
        peak / 1024,
        after / 1024,
        history_bytes / 1024 / 1024
    );
    // Measured on this project's machine (9 MiB of outputs): the shared view grew the
    // server by 70 to 98 MiB at the peak and kept 0 to 17 MiB after, over five runs; a
    // copy per page (the code before) grew it by 184 MiB and kept 102.
    let history_kib = (history_bytes / 1024) as u64;
    assert!(
        peak.saturating_sub(before) < 15 * history_kib,
        "ten pages share one copy of the history: {} KiB at the peak for {history_kib} KiB",
        peak.saturating_sub(before)
    );
    assert!(
        after.saturating_sub(before) < 4 * history_kib,
        "the memory is given back once the pages are gone: {} KiB kept",
        after.saturating_sub(before)
    );
    server.kill();
    let _ = log.join();
}

/// What `pages` concurrent readers of a console live feed saw: the bytes each read, and
/// the server's largest RSS while they read.
struct LivePages {
    totals: Vec<usize>,
    peak_kib: u64,
}

/// Opens `pages` live feeds at once, each read slowly to its `end`, sampling the server's
/// RSS every 10 ms meanwhile.
async fn read_live_pages(http: &str, path: &str, pages: usize, pid: u32) -> LivePages {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let readers: Vec<_> = (0..pages)
        .map(|_| {
            let http = http.to_string();
            let path = path.to_string();
            tokio::spawn(async move {
                let mut socket = tokio::net::TcpStream::connect(&http).await.unwrap();
                socket
                    .write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
                    .await
                    .unwrap();
                let mut buffer = vec![0u8; 256 * 1024];
                let mut total = 0usize;
                let mut tail = Vec::new();
                loop {
                    let n = socket.read(&mut buffer).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    total += n;
                    tail.extend_from_slice(&buffer[..n]);
                    if tail.len() > 64 {
                        tail.drain(..tail.len() - 64);
                    }
                    if String::from_utf8_lossy(&tail).contains("event: end") {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                total
            })
        })
        .collect();
    let mut peak_kib = 0;
    let sampling = async {
        loop {
            if let Some(rss) = support::process::rss_kib(pid) {
                peak_kib = peak_kib.max(rss);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let totals = tokio::time::timeout(Duration::from_secs(120), async {
        tokio::select! {
            totals = async {
                let mut totals = Vec::new();
                for reader in readers {
                    totals.push(reader.await.unwrap());
                }
                totals
            } => totals,
            _ = sampling => unreachable!(),
        }
    })
    .await
    .expect("the pages are served");
    LivePages { totals, peak_kib }
}

/// Raises this process's open-file limit to its hard limit (the flood below needs a few
/// thousand sockets); returns the limit now in force.
// `rlim_t` is u64 on Linux but not on every Unix.
#[allow(clippy::unnecessary_cast)]
fn raise_own_open_files() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the one struct passed.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    limit.rlim_cur as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousands_of_idle_and_trickling_sockets_do_not_starve_real_calls() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const IDLE_PER_LISTENER: usize = 1500;
    const TRICKLING: usize = 50;
    if raise_own_open_files() < (2 * IDLE_PER_LISTENER + TRICKLING + 500) as u64 {
        println!("skipped: this process may not open enough sockets");
        return;
    }
    let dir = TempDir::new("connection-flood");
    // The server under a 1,024 open-file limit, as on many machines, and a 3-second
    // silence limit so the test sees connections reaped.
    let mut server = ServerProcess::start_with_flags(
        dir.path(),
        Some("ulimit -n 1024"),
        &["--connection-idle-seconds", "3"],
    )
    .await;
    let grpc = server.grpc.clone();
    let http = server.http.clone();
    let log = drain_stderr(&mut server.child);
    // A client connected before the flood, as a worker or a CLI would be.
    let mut clients = Clients::connect(server.endpoint()).await;
    clients
        .create(
            "Flood",
            &json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
        )
        .await;

    let mut idle = Vec::new();
    for i in 0..2 * IDLE_PER_LISTENER {
        let addr = if i % 2 == 0 { &http } else { &grpc };
        match tokio::net::TcpStream::connect(addr).await {
            Ok(socket) => idle.push(socket),
            Err(e) => panic!("connecting socket {i}: {e}"),
        }
    }
    let trickling: Vec<_> = (0..TRICKLING)
        .map(|_| {
            let http = http.clone();
            tokio::spawn(async move {
                let mut socket = tokio::net::TcpStream::connect(&http).await.unwrap();
                let started = std::time::Instant::now();
                // One byte of a request head every half second, for ever.
                for byte in b"GET /health HTTP/1.1\r\nx-slow: ".iter().cycle() {
                    if socket.write_all(&[*byte]).await.is_err() {
                        return Some(started.elapsed());
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if started.elapsed() > Duration::from_secs(20) {
                        return None;
                    }
                }
                None
            })
        })
        .collect();

    // Meanwhile every call answers: health checks on fresh connections, and gRPC calls on
    // the connection made before the flood.
    for i in 0..10 {
        let asked = std::time::Instant::now();
        let (status, body) =
            tokio::time::timeout(Duration::from_secs(5), http_get(&http, "/health"))
                .await
                .unwrap_or_else(|_| panic!("/health did not answer during the flood (check {i})"));
        assert_eq!(status, 200, "{body}");
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "/health took {:?}",
            asked.elapsed()
        );
        let arn = tokio::time::timeout(
            Duration::from_secs(5),
            clients.start("Flood", &format!("during-{i}"), json!({})),
        )
        .await
        .expect("a gRPC call answered during the flood");
        assert!(arn.ends_with(&format!("during-{i}")));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // A new gRPC client gets in too: the oldest silent socket makes room for it.
    let mut newcomer =
        tokio::time::timeout(Duration::from_secs(5), Clients::connect(server.endpoint()))
            .await
            .expect("a new gRPC client connects during the flood");
    tokio::time::timeout(
        Duration::from_secs(5),
        newcomer.start("Flood", "newcomer", json!({})),
    )
    .await
    .expect("and is answered");

    // Silent connections are closed by the server after the silence limit.
    let mut closed = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    for socket in &mut idle {
        // Whatever the server sent first (HTTP/2's settings on gRPC), then the end.
        let mut buffer = [0u8; 256];
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, socket.read(&mut buffer)).await {
                Ok(Ok(0) | Err(_)) => {
                    closed += 1;
                    break;
                }
                Ok(Ok(_)) => continue,
                Err(_) => break,
            }
        }
    }
    assert_eq!(closed, idle.len(), "every silent connection was closed");
    // Trickling ones too, although they keep sending.
    for handle in trickling {
        let cut = handle.await.unwrap();
        assert!(
            cut.is_some_and(|after| after < Duration::from_secs(10)),
            "a trickling client was cut off: {cut:?}"
        );
    }
    // And a new gRPC client connects once the flood is gone.
    let mut fresh = Clients::connect(server.endpoint()).await;
    fresh.start("Flood", "after", json!({})).await;
    server.terminate();
    let exit = wait_exit(&mut server.child, Duration::from_secs(30)).await;
    let tail = log.join().unwrap();
    assert!(exit.success(), "{exit}\n{tail}");
}
