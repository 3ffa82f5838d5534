//! Load: 64 concurrent clients, each on its own connection, and 8 SDK workers drive a
//! mix of workflows against the server binary for a bounded time (20 s; 60 s with
//! `STEPWISE_LONG=1`). No error may appear but the deliberate ones, every execution
//! must be accounted for, and the server's memory must stay flat after warm-up. The
//! figures are printed.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use stepwise_proto::v1 as pb;
use support::process::{ServerProcess, rss_kib};
use support::{Clients, TempDir, lambda};

const CLIENTS: usize = 64;
const WORKERS: usize = 8;

/// The workflows of the mix, one per client iteration in turn.
const KINDS: [&str; 4] = ["LoadPass", "LoadTask", "LoadWait", "LoadExpress"];

#[derive(Default, Debug)]
struct Tally {
    started: HashMap<&'static str, u64>,
    succeeded: HashMap<&'static str, u64>,
    failed_deliberately: u64,
    errors: Vec<String>,
    latencies_ms: Vec<u64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_clients_and_eight_workers_lose_nothing_and_keep_memory_flat() {
    let seconds = if support::long_variant() { 60 } else { 20 };
    let dir = TempDir::new("load");
    // Small bounded caches (store pages, finished Express executions kept for
    // inspection) fill during warm-up, so growth after it would be a leak.
    let server = ServerProcess::start_with(
        dir.path(),
        Some("export STEPWISE_STORE_CACHE_MB=4 STEPWISE_EXPRESS_HISTORY=100"),
    )
    .await;
    let endpoint = server.endpoint();
    let mut clients = Clients::connect(endpoint.clone()).await;
    let chain = |n: usize| {
        let mut states = serde_json::Map::new();
        for i in 0..n {
            let mut state = json!({"Type": "Pass", "Result": i, "ResultPath": format!("$.p{i}")});
            if i + 1 < n {
                state["Next"] = json!(format!("P{}", i + 1));
            } else {
                state["End"] = json!(true);
            }
            states.insert(format!("P{i}"), state);
        }
        json!({"StartAt": "P0", "States": states})
    };
    clients.create("LoadPass", &chain(5)).await;
    clients
        .create(
            "LoadTask",
            &json!({"StartAt": "Work", "States": {
                "Work": {"Type": "Task", "Resource": lambda("load"), "Next": "Check"},
                "Check": {"Type": "Choice", "Choices": [{"Variable": "$.ok", "BooleanEquals": true, "Next": "Done"}], "Default": "Odd"},
                "Odd": {"Type": "Fail", "Error": "Unexpected"},
                "Done": {"Type": "Succeed"}}}),
        )
        .await;
    clients
        .create(
            "LoadWait",
            &json!({"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 1, "End": true}}}),
        )
        .await;
    clients
        .machines
        .create_state_machine(pb::CreateStateMachineRequest {
            name: "LoadExpress".into(),
            definition: chain(5).to_string(),
            r#type: pb::StateMachineType::Express.into(),
            ..Default::default()
        })
        .await
        .unwrap();

    // Workers fail the tasks whose input asks for it: the deliberate errors.
    let (stop_workers, workers_stopped) = tokio::sync::watch::channel(false);
    let workers: Vec<_> = (0..WORKERS)
        .map(|i| {
            let worker = stepwise_worker::Worker::new(endpoint.clone())
                .name(format!("load-worker-{i}"))
                .concurrency(8)
                .handle("load", |task: stepwise_worker::Task| async move {
                    if task.input["fail"] == json!(true) {
                        Err(stepwise_worker::TaskError::new(
                            "Deliberate.Failure",
                            "the load test asked for it",
                        ))
                    } else {
                        Ok(json!({"ok": true}))
                    }
                });
            let mut stopped = workers_stopped.clone();
            tokio::spawn(async move {
                worker
                    .run(async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    })
                    .await
                    .unwrap()
            })
        })
        .collect();

    // Memory, sampled once a second.
    let pid = server.child.id();
    let samples: Arc<Mutex<Vec<u64>>> = Arc::default();
    let sampler = {
        let samples = samples.clone();
        tokio::spawn(async move {
            loop {
                if let Some(kib) = rss_kib(pid) {
                    samples.lock().unwrap().push(kib);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };

    let tally: Arc<Mutex<Tally>> = Arc::default();
    let began = Instant::now();
    let deadline = began + Duration::from_secs(seconds);
    let drivers: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let endpoint = endpoint.clone();
            let tally = tally.clone();
            tokio::spawn(async move {
                let mut clients = Clients::connect(endpoint).await;
                let mut iteration = 0usize;
                while Instant::now() < deadline {
                    let kind = KINDS[(client + iteration) % KINDS.len()];
                    let deliberate = kind == "LoadTask" && iteration.is_multiple_of(10);
                    let name = format!("c{client}-{iteration}");
                    let input = json!({"fail": deliberate, "client": client}).to_string();
                    iteration += 1;
                    tally
                        .lock()
                        .unwrap()
                        .started
                        .entry(kind)
                        .and_modify(|n| *n += 1)
                        .or_insert(1);
                    let started = Instant::now();
                    let outcome = run_one(&mut clients, kind, name, input).await;
                    let mut tally = tally.lock().unwrap();
                    tally
                        .latencies_ms
                        .push(started.elapsed().as_millis() as u64);
                    match outcome {
                        Ok((pb::ExecutionStatus::Succeeded, _)) if !deliberate => {
                            *tally.succeeded.entry(kind).or_default() += 1
                        }
                        Ok((pb::ExecutionStatus::Failed, error))
                            if deliberate && error == "Deliberate.Failure" =>
                        {
                            tally.failed_deliberately += 1
                        }
                        Ok((status, error)) => tally
                            .errors
                            .push(format!("{kind} {client}: ended {status:?} {error}")),
                        Err(e) => tally.errors.push(format!("{kind} {client}: {e}")),
                    }
                }
            })
        })
        .collect();
    for driver in drivers {
        tokio::time::timeout(Duration::from_secs(seconds + 60), driver)
            .await
            .expect("every client finishes its last execution")
            .unwrap();
    }
    let elapsed = began.elapsed();
    sampler.abort();
    let _ = stop_workers.send(true);
    for worker in workers {
        worker.await.unwrap();
    }

    let tally = std::mem::take(&mut *tally.lock().unwrap());
    assert!(
        tally.errors.is_empty(),
        "{} unexpected errors, e.g. {:?}",
        tally.errors.len(),
        &tally.errors[..tally.errors.len().min(5)]
    );
    // Every Standard execution the clients started is listed, and ended.
    for kind in ["LoadPass", "LoadTask", "LoadWait"] {
        let listed = clients.list_all(kind).await;
        assert_eq!(
            listed.len() as u64,
            tally.started[kind],
            "{kind}: every execution started is accounted for"
        );
        assert!(
            listed
                .iter()
                .all(|e| e.status() != pb::ExecutionStatus::Running),
            "{kind}: none left running"
        );
    }

    let total: u64 = tally.started.values().sum();
    let mut latencies = tally.latencies_ms.clone();
    latencies.sort_unstable();
    let quantile = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    let samples = samples.lock().unwrap().clone();
    println!(
        "load: {CLIENTS} clients, {WORKERS} workers, {:.1} s: {total} executions ({:.0}/s), by workflow {:?}, {} failed deliberately, 0 other errors; client latency p50 {} ms p99 {} ms max {} ms",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        tally.started,
        tally.failed_deliberately,
        quantile(0.5),
        quantile(0.99),
        latencies.last().unwrap()
    );
    println!(
        "load: server RSS (MiB) once a second: {:?}",
        samples.iter().map(|k| k / 1024).collect::<Vec<_>>()
    );
    // Flat after warm-up: the last third of the run holds at most a tenth more than the
    // middle third. The store's page cache is kept small (4 MiB) so that it fills during
    // warm-up; what remains is bounded bookkeeping (recently closed task tokens, up to
    // 100,000). A leak per execution grows with the count and breaks this.
    let third = samples.len() / 3;
    assert!(third >= 2, "enough samples: {samples:?}");
    let middle = *samples[third..2 * third].iter().max().unwrap();
    let last = *samples[2 * third..].iter().max().unwrap();
    println!(
        "load: RSS max middle third {} MiB, last third {} MiB",
        middle / 1024,
        last / 1024
    );
    assert!(
        last <= middle + middle / 10,
        "memory grew after warm-up: {} MiB -> {} MiB",
        middle / 1024,
        last / 1024
    );
}

/// Runs one execution of `kind` to its end: (status, error).
async fn run_one(
    clients: &mut Clients,
    kind: &str,
    name: String,
    input: String,
) -> Result<(pb::ExecutionStatus, String), tonic::Status> {
    let request = pb::StartExecutionRequest {
        state_machine: kind.into(),
        name,
        input,
    };
    if kind == "LoadExpress" {
        let execution = clients
            .executions
            .start_sync_execution(request)
            .await?
            .into_inner();
        return Ok((execution.status(), execution.error().to_string()));
    }
    let arn = clients
        .executions
        .start_execution(request)
        .await?
        .into_inner()
        .execution_arn;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let execution = clients
            .executions
            .describe_execution(pb::DescribeExecutionRequest {
                execution_arn: arn.clone(),
            })
            .await?
            .into_inner();
        if execution.status() != pb::ExecutionStatus::Running {
            return Ok((execution.status(), execution.error().to_string()));
        }
        if Instant::now() > deadline {
            return Err(tonic::Status::deadline_exceeded(format!(
                "{arn} still running"
            )));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
