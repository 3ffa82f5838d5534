//! `stepwise bench`: drives a running server over gRPC with in-process SDK workers and
//! measures throughput and latency. Latencies go into HDR histograms (microseconds);
//! server CPU and memory are read from /proc when the server's pid is given.
//!
//! Every run creates its own state machine (named after the workload and the start time)
//! so runs against one server do not mix.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{Value, json};
use stepwise_proto::v1 as pb;
use tokio::sync::Semaphore;

use crate::{Client, ClientError};

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Standard, 10 Pass states: the engine and store cost per transition.
    PassChain,
    /// pass-chain in JSONata: 10 Pass states with Output expressions and one Assign,
    /// the cost of evaluating JSONata per transition.
    PassChainJsonata,
    /// Standard, Task (echo worker) -> Choice -> Wait 0 s -> Succeed: the full path;
    /// with `--steps N`, N Task states in a row instead (the shape other engines are
    /// compared on).
    Task,
    /// Standard, Map over 100 items (MaxConcurrency 0), each a Pass then a Task.
    FanOut,
    /// Executions that each wait `--wait-seconds`: timer lateness and memory per waiter.
    Timers,
    /// Express pass-chain through StartSyncExecution.
    ExpressSync,
    /// Executions waiting on timers, a server restart (`--restart-cmd`), and the time
    /// until they are live again and the first timer fires.
    Recovery,
    /// `--executions` closed executions of one machine (one Pass state each), then the
    /// reads that must not slow down as they pile up: the first ListExecutions page of
    /// that machine (all, and SUCCEEDED), of a second machine with 10 executions, and
    /// the console's machines page (with `--console-url`), 200 calls each.
    Listing,
}

/// How to run it.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The key every call presents (`KEY_ID:SECRET`), for a server that requires keys.
    pub key: Option<String>,
    /// The TLS files, for an `https://` endpoint.
    pub tls: crate::ClientTls,
    /// The server's gRPC endpoint.
    pub endpoint: String,
    /// The workload.
    pub workload: Workload,
    /// Executions to start.
    pub executions: usize,
    /// Most executions in flight at once.
    pub concurrency: usize,
    /// Starts per second (0: as fast as the concurrency cap allows).
    pub rate: f64,
    /// SDK workers (each serving `concurrency / workers` tasks at a time).
    pub workers: usize,
    /// Stop starting new executions after this long.
    pub duration: Duration,
    /// The server's pid, for CPU seconds and RSS from /proc.
    pub server_pid: Option<u32>,
    /// How long each `timers`/`recovery` execution waits.
    pub wait_seconds: u64,
    /// The shell command that restarts the server (`recovery`).
    pub restart_cmd: Option<String>,
    /// Task states in a row (`task`; `None`: the default Task, Choice, Wait shape).
    pub steps: Option<usize>,
    /// The server's HTTP address (`http://HOST:PORT`), for the console page (`listing`).
    pub console_url: Option<String>,
}

/// Quantiles of one latency, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Samples recorded.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The workload run.
    pub workload: Workload,
    /// Executions that SUCCEEDED.
    pub executions_completed: u64,
    /// Executions that ended other than SUCCEEDED, or whose calls failed.
    pub executions_failed: u64,
    /// The first failure, to say what went wrong.
    pub first_failure: Option<String>,
    /// Wall time from the first start to the last end, in seconds.
    pub elapsed_seconds: f64,
    /// Completed executions per second.
    pub executions_per_second: f64,
    /// State transitions counted by the server (GetUsage, or the sync responses).
    pub state_transitions: u64,
    /// Transitions per second.
    pub transitions_per_second: f64,
    /// StartExecution (or StartSyncExecution) round trip.
    pub start_call: Latency,
    /// Start call sent -> terminal event seen (not for `timers` and `recovery`, whose
    /// executions are left waiting and awaited afterwards).
    pub end_to_end: Option<Latency>,
    /// Task scheduled (history timestamp) -> handler called.
    pub task_dispatch: Option<Latency>,
    /// Wait exit minus its due time (history timestamps, so millisecond resolution).
    pub timer_lateness: Option<Latency>,
    /// Server CPU seconds (user + system) during the run.
    pub server_cpu_seconds: Option<f64>,
    /// The server's peak RSS since it started (VmHWM), in MiB.
    pub server_peak_rss_mib: Option<f64>,
    /// The server's RSS per waiting execution, in KiB (`timers`, `recovery`).
    pub rss_per_waiting_execution_kib: Option<f64>,
    /// Restart command -> the server answers with every execution recovered (`recovery`).
    pub recovery_seconds: Option<f64>,
    /// Restart command -> the first execution past its Wait (`recovery`).
    pub first_timer_after_restart_seconds: Option<f64>,
    /// Restart command -> when that timer was due (negative: overdue at the restart).
    pub first_timer_due_after_restart_seconds: Option<f64>,
    /// The first ListExecutions page (100) of the machine with every execution (`listing`).
    pub list_first_page: Option<Latency>,
    /// The same, SUCCEEDED only.
    pub list_first_page_succeeded: Option<Latency>,
    /// The first ListExecutions page of a machine with 10 executions.
    pub list_small_machine: Option<Latency>,
    /// The console's machines page (`GET /console/api/machines`).
    pub console_machines: Option<Latency>,
}

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The server refused a call the bench needs.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A setting does not fit the workload.
    #[error("{0}")]
    Config(String),
}

impl From<tonic::Status> for BenchError {
    fn from(status: tonic::Status) -> Self {
        BenchError::Client(ClientError::Status(status))
    }
}

const TASK_QUEUE: &str = "stepwise-bench";

fn lambda() -> String {
    format!("arn:aws:lambda:us-east-1:000000000000:function:{TASK_QUEUE}")
}

fn pass_chain(states: usize) -> Value {
    let mut map = serde_json::Map::new();
    for i in 0..states {
        let mut state = json!({"Type": "Pass"});
        if i + 1 < states {
            state["Next"] = json!(format!("Pass{}", i + 1));
        } else {
            state["End"] = json!(true);
        }
        map.insert(format!("Pass{i}"), state);
    }
    json!({"StartAt": "Pass0", "States": map})
}

/// `pass_chain` in JSONata: every state builds its output with an expression, the
/// first also assigns a variable that the others read.
fn pass_chain_jsonata(states: usize) -> Value {
    let mut map = serde_json::Map::new();
    for i in 0..states {
        let mut state = json!({"Type": "Pass",
            "Output": {"step": i, "total": "{% $states.input.total + $increment %}"}});
        if i == 0 {
            state["Assign"] = json!({"increment": "{% $states.input.increment %}"});
            state["Output"]["total"] = json!("{% $states.input.total %}");
        }
        if i + 1 < states {
            state["Next"] = json!(format!("Pass{}", i + 1));
        } else {
            state["End"] = json!(true);
        }
        map.insert(format!("Pass{i}"), state);
    }
    json!({"QueryLanguage": "JSONata", "StartAt": "Pass0", "States": map})
}

/// The definition, machine type and input of a workload.
fn workload_machine(config: &BenchConfig) -> (Value, pb::StateMachineType, Value) {
    let standard = pb::StateMachineType::Standard;
    match config.workload {
        Workload::PassChain => (pass_chain(10), standard, json!({})),
        Workload::PassChainJsonata => (
            pass_chain_jsonata(10),
            standard,
            json!({"total": 0, "increment": 2}),
        ),
        Workload::ExpressSync => (pass_chain(10), pb::StateMachineType::Express, json!({})),
        Workload::Task if config.steps.is_some() => (
            task_chain(config.steps.unwrap_or(1)),
            standard,
            json!({"ok": true}),
        ),
        Workload::Task => (
            json!({"StartAt": "Work", "States": {
                "Work": {"Type": "Task", "Resource": lambda(), "Next": "Check"},
                "Check": {"Type": "Choice", "Choices": [{"Variable": "$.ok", "BooleanEquals": true, "Next": "Nap"}], "Default": "Odd"},
                "Nap": {"Type": "Wait", "Seconds": 0, "Next": "Done"},
                "Odd": {"Type": "Fail", "Error": "Bench.Unexpected"},
                "Done": {"Type": "Succeed"}}}),
            standard,
            json!({"ok": true}),
        ),
        Workload::FanOut => (
            json!({"StartAt": "Each", "States": {"Each": {
                "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 0, "End": true,
                "ItemProcessor": {"StartAt": "Prepare", "States": {
                    "Prepare": {"Type": "Pass", "Next": "Work"},
                    "Work": {"Type": "Task", "Resource": lambda(), "End": true}}}}}}),
            standard,
            json!({"items": (0..100).collect::<Vec<_>>()}),
        ),
        Workload::Timers | Workload::Recovery => (
            json!({"StartAt": "Nap", "States": {
                "Nap": {"Type": "Wait", "Seconds": config.wait_seconds, "End": true}}}),
            standard,
            json!({}),
        ),
        Workload::Listing => (pass_chain(1), standard, json!({})),
    }
}

/// `steps` Task states in a row, each handled by the echo worker.
fn task_chain(steps: usize) -> Value {
    let mut map = serde_json::Map::new();
    for i in 1..=steps {
        let mut state = json!({"Type": "Task", "Resource": lambda()});
        if i < steps {
            state["Next"] = json!(format!("Step{}", i + 1));
        } else {
            state["End"] = json!(true);
        }
        map.insert(format!("Step{i}"), state);
    }
    json!({"StartAt": "Step1", "States": map})
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or_default()
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

fn latency(histogram: &Histogram<u64>) -> Latency {
    let ms = |micros: u64| micros as f64 / 1000.0;
    Latency {
        count: histogram.len(),
        p50_ms: ms(histogram.value_at_quantile(0.5)),
        p90_ms: ms(histogram.value_at_quantile(0.9)),
        p99_ms: ms(histogram.value_at_quantile(0.99)),
        max_ms: ms(histogram.max()),
    }
}

/// CPU seconds (user + system) of a process, from /proc (clock ticks of 100 Hz, the
/// Linux default on x86_64 and arm64).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// A `/proc/PID/status` field in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Handler calls: execution ARN -> wall-clock times (ms) the handler was called.
type Calls = Arc<Mutex<HashMap<String, Vec<f64>>>>;

/// Starts `count` SDK workers answering every task with its input.
fn start_workers(
    endpoint: &str,
    key: Option<&str>,
    tls: &crate::ClientTls,
    count: usize,
    concurrency: usize,
    calls: Calls,
) -> (
    tokio::sync::watch::Sender<bool>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let per_worker = concurrency.div_ceil(count.max(1)).max(1);
    let handles = (0..count.max(1))
        .map(|i| {
            let calls = calls.clone();
            let mut worker = stepwise_worker::Worker::new(endpoint).tls(tls.clone());
            if let Some(key) = key {
                worker = worker.key(key);
            }
            let worker = worker
                .name(format!("bench-worker-{i}-{}", std::process::id()))
                .concurrency(per_worker)
                .handle(TASK_QUEUE, move |task: stepwise_worker::Task| {
                    let calls = calls.clone();
                    async move {
                        let called = now_ms();
                        calls
                            .lock()
                            .expect("calls lock")
                            .entry(task.execution_arn.clone())
                            .or_default()
                            .push(called);
                        Ok(task.input)
                    }
                });
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                if let Err(e) = worker.run(shutdown).await {
                    tracing::error!("bench worker stopped: {e}");
                }
            })
        })
        .collect();
    (stop, handles)
}

/// Runs one benchmark and reports what it measured.
pub async fn run(config: BenchConfig) -> Result<Report, BenchError> {
    if config.steps == Some(0) || (config.steps.is_some() && config.workload != Workload::Task) {
        return Err(BenchError::Config(
            "--steps takes a number of Task states (1 or more) and goes with --workload task"
                .into(),
        ));
    }
    if config.workload == Workload::Recovery && config.restart_cmd.is_none() {
        return Err(BenchError::Config(
            "the recovery workload needs --restart-cmd (a shell command that restarts the server)"
                .into(),
        ));
    }
    let mut client =
        Client::connect_with(&config.endpoint, config.key.as_deref(), &config.tls).await?;
    let (definition, machine_type, input) = workload_machine(&config);
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let machine = format!(
        "bench-{}-{stamp}",
        serde_json::to_value(config.workload)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    );
    client
        .state_machines
        .create_state_machine(pb::CreateStateMachineRequest {
            name: machine.clone(),
            definition: definition.to_string(),
            r#type: machine_type.into(),
            ..Default::default()
        })
        .await?;

    let calls: Calls = Arc::default();
    let uses_tasks = matches!(config.workload, Workload::Task | Workload::FanOut);
    let workers = uses_tasks.then(|| {
        start_workers(
            &config.endpoint,
            config.key.as_deref(),
            &config.tls,
            config.workers,
            config.concurrency.max(config.workers),
            calls.clone(),
        )
    });
    let cpu_before = config.server_pid.and_then(cpu_seconds);
    let rss_before = config.server_pid.and_then(|pid| status_kib(pid, "VmRSS"));

    let e2e = Arc::new(Mutex::new(histogram()));
    let start_call = Arc::new(Mutex::new(histogram()));
    let succeeded = Arc::new(Mutex::new(0u64));
    let failed = Arc::new(Mutex::new(0u64));
    let first_failure: Arc<Mutex<Option<String>>> = Arc::default();
    let sync_transitions = Arc::new(Mutex::new(0u64));
    let arns = Arc::new(Mutex::new(Vec::new()));
    let waits_for_end = !matches!(
        config.workload,
        Workload::Timers | Workload::Recovery | Workload::Listing
    );
    // A one-Pass execution has ended when its start returns.
    let ends_at_start = config.workload == Workload::Listing;
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let began = Instant::now();
    let mut running = Vec::new();
    for i in 0..config.executions {
        if began.elapsed() >= config.duration {
            break;
        }
        if config.rate > 0.0 {
            // An open-loop schedule: start i at i / rate, however the others fare.
            let due = began + Duration::from_secs_f64(i as f64 / config.rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let permit = slots.clone().acquire_owned().await.expect("never closed");
        let mut client = client.clone();
        let (machine, input) = (machine.clone(), input.to_string());
        let first_failure = first_failure.clone();
        let (e2e, start_call, succeeded, failed, sync_transitions, arns) = (
            e2e.clone(),
            start_call.clone(),
            succeeded.clone(),
            failed.clone(),
            sync_transitions.clone(),
            arns.clone(),
        );
        let express = config.workload == Workload::ExpressSync;
        running.push(tokio::spawn(async move {
            let _permit = permit;
            let started = Instant::now();
            let request = pb::StartExecutionRequest {
                state_machine: machine,
                name: format!("run-{i}"),
                input,
            };
            let outcome = if express {
                client
                    .executions
                    .start_sync_execution(request)
                    .await
                    .map(|r| {
                        let execution = r.into_inner();
                        *sync_transitions.lock().expect("lock") += execution.state_transitions;
                        execution.status() == pb::ExecutionStatus::Succeeded
                    })
            } else {
                let response = client.executions.start_execution(request).await;
                let micros = started.elapsed().as_micros() as u64;
                let _ = start_call.lock().expect("lock").record(micros.max(1));
                match response {
                    Ok(response) => {
                        let arn = response.into_inner().execution_arn;
                        arns.lock().expect("lock").push(arn.clone());
                        if waits_for_end {
                            end_of(&mut client, &arn).await
                        } else {
                            Ok(true)
                        }
                    }
                    Err(status) => Err(status),
                }
            };
            let micros = started.elapsed().as_micros() as u64;
            if express {
                let _ = start_call.lock().expect("lock").record(micros.max(1));
            }
            match outcome {
                Ok(true) if waits_for_end => {
                    let _ = e2e.lock().expect("lock").record(micros.max(1));
                    *succeeded.lock().expect("lock") += 1;
                }
                Ok(true) if ends_at_start => *succeeded.lock().expect("lock") += 1,
                Ok(true) => {}
                Ok(false) => *failed.lock().expect("lock") += 1,
                Err(status) => {
                    *failed.lock().expect("lock") += 1;
                    first_failure
                        .lock()
                        .expect("lock")
                        .get_or_insert_with(|| status.to_string());
                }
            }
        }));
    }
    for task in running {
        let _ = task.await;
    }
    let mut elapsed = began.elapsed().as_secs_f64();
    let arns = arns.lock().expect("lock").clone();

    let mut report_extra: (Option<f64>, Option<f64>, Option<(f64, f64)>) = (None, None, None);
    let listing = if ends_at_start {
        Some(time_listing(&config, &mut client, &machine).await?)
    } else {
        None
    };
    if !waits_for_end && !ends_at_start {
        // Timers and recovery: memory per waiter once all are waiting, then (after the
        // restart, for recovery) wait for every execution to end.
        let rss_waiting = config.server_pid.and_then(|pid| status_kib(pid, "VmRSS"));
        if let (Some(before), Some(waiting)) = (rss_before, rss_waiting) {
            report_extra.0 = Some((waiting - before) / arns.len().max(1) as f64);
        }
        if config.workload == Workload::Recovery {
            let (recovered, first_timer) = restart_and_time(&config, arns.first()).await?;
            report_extra.1 = Some(recovered);
            report_extra.2 = first_timer;
            client =
                Client::connect_with(&config.endpoint, config.key.as_deref(), &config.tls).await?;
        }
        for arn in &arns {
            match end_of(&mut client, arn).await {
                Ok(true) => *succeeded.lock().expect("lock") += 1,
                _ => *failed.lock().expect("lock") += 1,
            }
        }
        elapsed = began.elapsed().as_secs_f64();
    }
    if let Some((stop, handles)) = workers {
        let _ = stop.send(true);
        for handle in handles {
            let _ = handle.await;
        }
    }
    let state_transitions = if config.workload == Workload::ExpressSync {
        *sync_transitions.lock().expect("lock")
    } else {
        client
            .executions
            .get_usage(pb::GetUsageRequest {
                state_machine: machine.clone(),
                start_time_ms: 0,
                end_time_ms: i64::MAX / 2,
            })
            .await?
            .into_inner()
            .standard_transitions
    };

    // Dispatch and timer lateness from the histories of up to 500 executions, spread
    // evenly over the run (the first ones alone would miss the end of the run).
    let sample: Vec<&String> = arns
        .iter()
        .step_by(arns.len().div_ceil(500).max(1))
        .collect();
    let mut dispatch = histogram();
    let mut lateness = histogram();
    let calls = calls.lock().expect("calls lock").clone();
    for arn in sample {
        let history = client.history(arn, false).await?;
        if uses_tasks {
            let mut scheduled: Vec<f64> = history
                .iter()
                .filter(|e| e.r#type == "LambdaFunctionScheduled")
                .map(|e| e.timestamp_ms as f64)
                .collect();
            let mut called = calls.get(arn.as_str()).cloned().unwrap_or_default();
            scheduled.sort_by(f64::total_cmp);
            called.sort_by(f64::total_cmp);
            // Tasks of one execution are matched in order; Map's are offered together.
            for (at, call) in scheduled.iter().zip(&called) {
                let micros = ((call - at) * 1000.0).max(1.0) as u64;
                let _ = dispatch.record(micros);
            }
        }
        if matches!(config.workload, Workload::Timers | Workload::Recovery) {
            let entered = history.iter().find(|e| e.r#type == "WaitStateEntered");
            let exited = history.iter().find(|e| e.r#type == "WaitStateExited");
            if let (Some(entered), Some(exited)) = (entered, exited) {
                let due = entered.timestamp_ms + config.wait_seconds as i64 * 1000;
                let late_ms = (exited.timestamp_ms - due).max(0) as u64;
                let _ = lateness.record((late_ms * 1000).max(1));
            }
        }
    }

    let completed = *succeeded.lock().expect("lock");
    let cpu_after = config.server_pid.and_then(cpu_seconds);
    Ok(Report {
        workload: config.workload,
        executions_completed: completed,
        executions_failed: *failed.lock().expect("lock"),
        first_failure: first_failure.lock().expect("lock").clone(),
        elapsed_seconds: elapsed,
        executions_per_second: completed as f64 / elapsed.max(f64::EPSILON),
        state_transitions,
        transitions_per_second: state_transitions as f64 / elapsed.max(f64::EPSILON),
        start_call: latency(&start_call.lock().expect("lock")),
        end_to_end: waits_for_end.then(|| latency(&e2e.lock().expect("lock"))),
        task_dispatch: uses_tasks.then(|| latency(&dispatch)),
        timer_lateness: (!lateness.is_empty()).then(|| latency(&lateness)),
        server_cpu_seconds: cpu_before.zip(cpu_after).map(|(b, a)| a - b),
        server_peak_rss_mib: config
            .server_pid
            .and_then(|pid| status_kib(pid, "VmHWM"))
            .map(|kib| kib / 1024.0),
        rss_per_waiting_execution_kib: report_extra.0,
        recovery_seconds: report_extra.1,
        first_timer_after_restart_seconds: report_extra.2.map(|(fired, _)| fired),
        first_timer_due_after_restart_seconds: report_extra.2.map(|(_, due)| due),
        list_first_page: listing.as_ref().map(|l| l.all.clone()),
        list_first_page_succeeded: listing.as_ref().map(|l| l.succeeded.clone()),
        list_small_machine: listing.as_ref().map(|l| l.small.clone()),
        console_machines: listing.and_then(|l| l.console),
    })
}

/// What the `listing` workload timed.
struct ListingTimes {
    all: Latency,
    succeeded: Latency,
    small: Latency,
    console: Option<Latency>,
}

/// Calls of each listing read timed.
const LISTING_CALLS: usize = 200;

/// Times the first ListExecutions pages of `machine` and of a second machine with 10
/// executions, and the console's machines page.
async fn time_listing(
    config: &BenchConfig,
    client: &mut Client,
    machine: &str,
) -> Result<ListingTimes, BenchError> {
    let small = format!("{machine}-small");
    client
        .state_machines
        .create_state_machine(pb::CreateStateMachineRequest {
            name: small.clone(),
            definition: pass_chain(1).to_string(),
            r#type: pb::StateMachineType::Standard.into(),
            ..Default::default()
        })
        .await?;
    for i in 0..10 {
        client
            .executions
            .start_execution(pb::StartExecutionRequest {
                state_machine: small.clone(),
                name: format!("small-{i}"),
                input: "{}".into(),
            })
            .await?;
    }
    let mut time_page = async |machine: &str, status: pb::ExecutionStatus| {
        let mut times = histogram();
        for _ in 0..LISTING_CALLS {
            let began = Instant::now();
            let page = client
                .executions
                .list_executions(pb::ListExecutionsRequest {
                    state_machine: machine.to_string(),
                    status_filter: status.into(),
                    max_results: 100,
                    next_token: String::new(),
                })
                .await?;
            let _ = times.record((began.elapsed().as_micros() as u64).max(1));
            if page.into_inner().executions.is_empty() {
                return Err(BenchError::Config(format!("{machine} lists no executions")));
            }
        }
        Ok::<_, BenchError>(latency(&times))
    };
    let all = time_page(machine, pb::ExecutionStatus::Unspecified).await?;
    let succeeded = time_page(machine, pb::ExecutionStatus::Succeeded).await?;
    let small = time_page(&small, pb::ExecutionStatus::Unspecified).await?;
    let console = match &config.console_url {
        None => None,
        Some(url) => {
            let mut times = histogram();
            for _ in 0..LISTING_CALLS {
                let began = Instant::now();
                http_get(url, "/console/api/machines").await?;
                let _ = times.record((began.elapsed().as_micros() as u64).max(1));
            }
            Some(latency(&times))
        }
    };
    Ok(ListingTimes {
        all,
        succeeded,
        small,
        console,
    })
}

/// One HTTP/1.1 GET read to its end; fails unless the answer is 200.
async fn http_get(base: &str, path: &str) -> Result<(), BenchError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = base
        .strip_prefix("http://")
        .unwrap_or(base)
        .trim_end_matches('/');
    let failed = |e: &dyn std::fmt::Display| BenchError::Config(format!("GET {base}{path}: {e}"));
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| failed(&e))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| failed(&e))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .map_err(|e| failed(&e))?;
    if answer.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        let head = String::from_utf8_lossy(&answer[..answer.len().min(80)]).into_owned();
        Err(failed(&head))
    }
}

/// Follows an execution's history stream until its terminal event: whether it SUCCEEDED.
async fn end_of(client: &mut Client, arn: &str) -> Result<bool, tonic::Status> {
    let mut stream = client
        .executions
        .watch_execution_history(pb::WatchExecutionHistoryRequest {
            execution_arn: arn.to_string(),
            exclude_execution_data: true,
        })
        .await?
        .into_inner();
    let mut succeeded = None;
    // Read to the end of the stream (the server ends it after the terminal event): a
    // stream dropped early is reset, and thousands of resets trip HTTP/2's abuse limits.
    while let Some(event) = stream.message().await? {
        match event.r#type.as_str() {
            "ExecutionSucceeded" => succeeded = Some(true),
            "ExecutionFailed" | "ExecutionAborted" | "ExecutionTimedOut" => succeeded = Some(false),
            _ => {}
        }
    }
    Ok(succeeded == Some(true))
}

/// Runs the restart command, then times how long until the server answers (recovery
/// happens before it listens) and until `first` is past its Wait: (recovered, (fired,
/// due)), in seconds after the restart began.
async fn restart_and_time(
    config: &BenchConfig,
    first: Option<&String>,
) -> Result<(f64, Option<(f64, f64)>), BenchError> {
    let command = config.restart_cmd.as_deref().unwrap_or_default();
    let began = Instant::now();
    let began_ms = now_ms();
    let status = tokio::process::Command::new("sh")
        .args(["-c", command])
        .status()
        .await
        .map_err(|e| BenchError::Config(format!("cannot run --restart-cmd '{command}': {e}")))?;
    if !status.success() {
        return Err(BenchError::Config(format!(
            "--restart-cmd '{command}' exited with {status}"
        )));
    }
    let deadline = began + Duration::from_secs(600);
    let mut client = loop {
        match Client::connect_with(&config.endpoint, config.key.as_deref(), &config.tls).await {
            Ok(client) => break client,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(5)).await
            }
            Err(e) => return Err(e.into()),
        }
    };
    // The server listens only after recovery, but a describe proves it serves.
    if let Some(arn) = first {
        client.describe(arn).await?;
    }
    let recovered = began.elapsed().as_secs_f64();
    let Some(arn) = first else {
        return Ok((recovered, None));
    };
    loop {
        let history = client.history(arn, false).await?;
        let entered = history.iter().find(|e| e.r#type == "WaitStateEntered");
        if let (Some(entered), true) = (
            entered,
            history.iter().any(|e| e.r#type == "WaitStateExited"),
        ) {
            let due_ms = entered.timestamp_ms as f64 + config.wait_seconds as f64 * 1000.0;
            let due = (due_ms - began_ms) / 1000.0;
            return Ok((recovered, Some((began.elapsed().as_secs_f64(), due))));
        }
        if Instant::now() > deadline {
            return Ok((recovered, None));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The report as one table for people.
pub fn table(report: &Report) -> String {
    let mut rows: Vec<(String, String)> = vec![
        ("workload".into(), format!("{:?}", report.workload)),
        (
            "executions".into(),
            format!(
                "{} completed, {} failed, in {:.2} s",
                report.executions_completed, report.executions_failed, report.elapsed_seconds
            ),
        ),
        (
            "executions/s".into(),
            format!("{:.0}", report.executions_per_second),
        ),
        (
            "state transitions/s".into(),
            format!(
                "{:.0} ({} in all)",
                report.transitions_per_second, report.state_transitions
            ),
        ),
        ("start call".into(), quantiles(&report.start_call)),
    ];
    if let Some(e2e) = &report.end_to_end {
        rows.push(("end-to-end".into(), quantiles(e2e)));
    }
    if let Some(failure) = &report.first_failure {
        rows.push(("first failure".into(), failure.clone()));
    }
    if let Some(dispatch) = &report.task_dispatch {
        rows.push(("task dispatch".into(), quantiles(dispatch)));
    }
    if let Some(lateness) = &report.timer_lateness {
        rows.push(("timer lateness".into(), quantiles(lateness)));
    }
    let optional = [
        (
            "server CPU",
            report.server_cpu_seconds.map(|s| format!("{s:.2} s")),
        ),
        (
            "server peak RSS",
            report.server_peak_rss_mib.map(|m| format!("{m:.0} MiB")),
        ),
        (
            "RSS per waiting execution",
            report
                .rss_per_waiting_execution_kib
                .map(|k| format!("{k:.2} KiB")),
        ),
        (
            "recovery",
            report.recovery_seconds.map(|s| format!("{s:.2} s")),
        ),
        (
            "ListExecutions, first page",
            report.list_first_page.as_ref().map(quantiles),
        ),
        (
            "ListExecutions, SUCCEEDED",
            report.list_first_page_succeeded.as_ref().map(quantiles),
        ),
        (
            "ListExecutions, 10-execution machine",
            report.list_small_machine.as_ref().map(quantiles),
        ),
        (
            "console machines page",
            report.console_machines.as_ref().map(quantiles),
        ),
        (
            "first timer after restart",
            report
                .first_timer_after_restart_seconds
                .zip(report.first_timer_due_after_restart_seconds)
                .map(|(fired, due)| format!("fired at {fired:.2} s, due at {due:.2} s")),
        ),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            rows.push((name.into(), value));
        }
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or_default();
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v}\n"))
        .collect()
}

fn quantiles(latency: &Latency) -> String {
    format!(
        "p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (n={})",
        latency.p50_ms, latency.p90_ms, latency.p99_ms, latency.max_ms, latency.count
    )
}
