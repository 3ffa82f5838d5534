//! `stepwise`: the command-line client. Human-readable output by default,
//! `--output json` for scripts; `start --wait`, `start --sync` and `history --follow`
//! exit 0 only when the execution SUCCEEDED, so CI can gate on them.

mod key_command;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};
use stepwise_client::bench::{self, BenchConfig, Workload};
use stepwise_client::graph::{self, Format};
use stepwise_client::{Client, ClientTls, DEFAULT_ENDPOINT, Severity};
use stepwise_proto::v1 as pb;

#[derive(Parser)]
#[command(
    name = "stepwise",
    version,
    about = "Command-line client for the Stepwise server"
)]
struct Cli {
    /// The server's gRPC endpoint.
    #[arg(long, global = true, default_value = DEFAULT_ENDPOINT, env = "STEPWISE_ENDPOINT")]
    endpoint: String,
    /// The key to present (KEY_ID:SECRET, as `stepwise key create` prints it), for a
    /// server that requires keys.
    #[arg(long, global = true, env = "STEPWISE_KEY", hide_env_values = true)]
    key: Option<String>,
    /// A CA certificate (PEM) to trust for an https:// endpoint, besides the system's.
    #[arg(long, global = true, env = "STEPWISE_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// The certificate (PEM) to present to a server that requires one (mTLS).
    #[arg(
        long,
        global = true,
        env = "STEPWISE_CLIENT_CERT",
        requires = "client_key"
    )]
    client_cert: Option<PathBuf>,
    /// The private key (PEM) of --client-cert.
    #[arg(
        long,
        global = true,
        env = "STEPWISE_CLIENT_KEY",
        requires = "client_cert"
    )]
    client_key: Option<PathBuf>,
    /// How to print results.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Export traces over OTLP/gRPC to this collector (also `OTEL_EXPORTER_OTLP_ENDPOINT`);
    /// the trace context travels to the server and on to the workers.
    #[arg(long, global = true)]
    otlp_endpoint: Option<String>,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// The TLS files the flags name.
    fn tls(&self) -> ClientTls {
        ClientTls {
            ca_cert: self.ca_cert.clone(),
            client_cert: self.client_cert.clone(),
            client_key: self.client_key.clone(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub(crate) enum Output {
    /// Lines and tables for people.
    Text,
    /// JSON for scripts.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a definition file; exits 1 if it has errors.
    Validate {
        /// The Amazon States Language definition (JSON).
        file: PathBuf,
    },
    /// State machines: create, update, describe, list, delete.
    #[command(subcommand)]
    Machine(MachineCommand),
    /// Start an execution.
    Start {
        /// The state machine (name or ARN).
        machine: String,
        /// The input: JSON text, or @FILE.
        #[arg(long, default_value = "{}")]
        input: String,
        /// The execution name (generated when absent).
        #[arg(long)]
        name: Option<String>,
        /// Follow the execution until it ends; exit 0 only if it SUCCEEDED.
        #[arg(long)]
        wait: bool,
        /// Run an EXPRESS machine synchronously and print its outcome and billing.
        #[arg(long, conflicts_with = "wait")]
        sync: bool,
    },
    /// Describe an execution.
    Describe {
        /// The execution ARN.
        execution: String,
    },
    /// List a state machine's executions, newest first.
    List {
        /// The state machine (name or ARN).
        machine: String,
        /// Only this status (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED).
        #[arg(long)]
        status: Option<String>,
    },
    /// Print an execution's history.
    History {
        /// The execution ARN.
        execution: String,
        /// Keep printing events as they happen until the execution ends.
        #[arg(long)]
        follow: bool,
        /// Newest first.
        #[arg(long, conflicts_with = "follow")]
        reverse: bool,
    },
    /// Stop a running execution.
    Stop {
        /// The execution ARN.
        execution: String,
        /// The error to record.
        #[arg(long)]
        error: Option<String>,
        /// The cause to record.
        #[arg(long)]
        cause: Option<String>,
    },
    /// Complete tasks by token.
    #[command(subcommand)]
    Task(TaskCommand),
    /// Activities: create, describe, list, delete.
    #[command(subcommand)]
    Activity(ActivityCommand),
    /// API keys: create, list, revoke (admin keys only).
    #[command(subcommand)]
    Key(key_command::KeyCommand),
    /// Usage and estimated cost over a window.
    Usage {
        /// One state machine (all when absent).
        machine: Option<String>,
        /// How far back: e.g. 30m, 24h, 7d.
        #[arg(long, default_value = "24h")]
        since: String,
    },
    /// Print a state machine as a Mermaid or Graphviz graph, optionally coloured by an
    /// execution's progress.
    Graph {
        /// The state machine (name or ARN).
        machine: String,
        /// Colour states by this execution's history.
        #[arg(long)]
        execution: Option<String>,
        /// mermaid or dot.
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
    /// Measure throughput and latency of a workload against a running server (use a
    /// release build); prints one table, or JSON with --output json.
    Bench {
        /// What to run.
        #[arg(long, value_enum, default_value_t = Workload::PassChain)]
        workload: Workload,
        /// Executions to start.
        #[arg(long, default_value_t = 10_000)]
        executions: usize,
        /// Most executions in flight at once.
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        /// Starts per second, paced evenly (0: as fast as --concurrency allows).
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        /// In-process SDK workers (task and fan-out workloads).
        #[arg(long, default_value_t = 4)]
        workers: usize,
        /// Stop starting executions after this many seconds.
        #[arg(long, default_value_t = 60)]
        duration_seconds: u64,
        /// The local server's pid, for its CPU seconds and RSS (from /proc).
        #[arg(long)]
        server_pid: Option<u32>,
        /// How long each timers/recovery execution waits, in seconds.
        #[arg(long, default_value_t = 10)]
        wait_seconds: u64,
        /// A shell command that restarts the server (recovery workload).
        #[arg(long)]
        restart_cmd: Option<String>,
        /// Task states in a row (task workload; default: Task, Choice, Wait).
        #[arg(long)]
        steps: Option<usize>,
        /// The server's HTTP address, e.g. http://127.0.0.1:7838 (listing workload: the
        /// console's machines page is timed too).
        #[arg(long)]
        console_url: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum GraphFormat {
    Mermaid,
    Dot,
}

#[derive(Subcommand)]
enum MachineCommand {
    /// Create a state machine from a definition file.
    Create {
        /// Its name.
        name: String,
        /// The definition file.
        file: PathBuf,
        /// Create an EXPRESS state machine (STANDARD by default).
        #[arg(long)]
        express: bool,
    },
    /// Store a new revision of a state machine's definition.
    Update {
        /// Its name or ARN.
        machine: String,
        /// The definition file.
        file: PathBuf,
    },
    /// Show a state machine and its definition.
    Describe {
        /// Its name or ARN.
        machine: String,
    },
    /// List state machines.
    List,
    /// Delete a state machine.
    Delete {
        /// Its name or ARN.
        machine: String,
    },
}

#[derive(Subcommand)]
enum TaskCommand {
    /// SendTaskSuccess.
    Success {
        /// The task token.
        token: String,
        /// The output: JSON text, or @FILE.
        #[arg(long, default_value = "{}")]
        output: String,
    },
    /// SendTaskFailure.
    Failure {
        /// The task token.
        token: String,
        /// The error name.
        #[arg(long)]
        error: String,
        /// The cause.
        #[arg(long, default_value = "")]
        cause: String,
    },
    /// SendTaskHeartbeat.
    Heartbeat {
        /// The task token.
        token: String,
    },
}

#[derive(Subcommand)]
enum ActivityCommand {
    /// Create an activity.
    Create {
        /// Its name.
        name: String,
    },
    /// Show an activity.
    Describe {
        /// Its name or ARN.
        activity: String,
    },
    /// List activities.
    List,
    /// Delete an activity.
    Delete {
        /// Its name or ARN.
        activity: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = stepwise_proto::trace::init("stepwise", cli.otlp_endpoint.as_deref(), false);
    let span = tracing::info_span!("stepwise");
    let result = tracing::Instrument::instrument(run(cli), span).await;
    drop(telemetry);
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("stepwise: {message}");
            ExitCode::from(2)
        }
    }
}

/// Reads `@file` or returns the text itself.
fn text_or_file(value: &str) -> Result<String, String> {
    match value.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}")),
        None => Ok(value.to_string()),
    }
}

fn read(file: &PathBuf) -> Result<String, String> {
    std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))
}

fn status_name(status: pb::ExecutionStatus) -> &'static str {
    match status {
        pb::ExecutionStatus::Running => "RUNNING",
        pb::ExecutionStatus::Succeeded => "SUCCEEDED",
        pb::ExecutionStatus::Failed => "FAILED",
        pb::ExecutionStatus::TimedOut => "TIMED_OUT",
        pb::ExecutionStatus::Aborted => "ABORTED",
        pb::ExecutionStatus::Unspecified => "UNSPECIFIED",
    }
}

fn machine_type_name(machine: &pb::StateMachine) -> &'static str {
    match machine.r#type() {
        pb::StateMachineType::Express => "EXPRESS",
        _ => "STANDARD",
    }
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "ERROR",
        Severity::Warning => "WARNING",
        Severity::Unspecified => "UNSPECIFIED",
    }
}

fn execution_json(e: &pb::Execution) -> Value {
    json!({
        "executionArn": e.arn, "name": e.name, "stateMachineArn": e.state_machine_arn,
        "status": status_name(e.status()), "input": e.input.parse::<Value>().ok(),
        "output": e.output.as_deref().and_then(|o| o.parse::<Value>().ok()), "error": e.error, "cause": e.cause,
        "startTimeMs": e.start_time_ms, "stopTimeMs": e.stop_time_ms, "stateTransitions": e.state_transitions,
        "billedDurationMs": e.billed_duration_ms, "billedMemoryMb": e.billed_memory_mb,
    })
}

fn print_execution(output: Output, e: &pb::Execution) {
    if output == Output::Json {
        println!("{}", execution_json(e));
        return;
    }
    println!("execution   {}", e.arn);
    println!("status      {}", status_name(e.status()));
    println!("transitions {}", e.state_transitions);
    if let Some(out) = &e.output {
        println!("output      {out}");
    }
    if let Some(error) = &e.error {
        println!("error       {error}");
    }
    if let Some(cause) = &e.cause {
        println!("cause       {cause}");
    }
    if let (Some(duration), Some(memory)) = (e.billed_duration_ms, e.billed_memory_mb) {
        println!("billed      {duration} ms, {memory} MB");
    }
}

fn event_line(event: &pb::HistoryEvent, start_ms: i64) -> String {
    let elapsed = (event.timestamp_ms - start_ms) as f64 / 1000.0;
    let detail = event
        .name
        .clone()
        .or_else(|| {
            event
                .error
                .clone()
                .map(|e| format!("{e}: {}", event.cause.clone().unwrap_or_default()))
        })
        .unwrap_or_default();
    let mut assigned: Vec<String> = event
        .assigned_variables
        .iter()
        .map(|(name, value)| format!("${name} = {value}"))
        .collect();
    assigned.sort();
    let assigned = if assigned.is_empty() {
        String::new()
    } else {
        format!("  [{}]", assigned.join(", "))
    };
    format!(
        "{:>4}  +{elapsed:>8.3}s  {:<28} {detail}{assigned}",
        event.id, event.r#type
    )
}

fn event_json(event: &pb::HistoryEvent) -> Value {
    json!({"id": event.id, "previousEventId": event.previous_event_id, "timestampMs": event.timestamp_ms, "type": event.r#type,
        "name": event.name, "input": event.input, "output": event.output, "resource": event.resource, "error": event.error, "cause": event.cause,
        "assignedVariables": (!event.assigned_variables.is_empty()).then_some(&event.assigned_variables)})
}

/// The live status line of `start --wait` and `history --follow` on a terminal.
struct Progress {
    started: std::time::Instant,
    entered: usize,
    done: usize,
    current: Vec<String>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            started: std::time::Instant::now(),
            entered: 0,
            done: 0,
            current: Vec::new(),
        }
    }
}

impl Progress {
    fn record(&mut self, event: &pb::HistoryEvent) {
        let Some(name) = &event.name else { return };
        if event.r#type.ends_with("StateEntered") {
            self.entered += 1;
            self.current.push(name.clone());
        } else if event.r#type.ends_with("StateExited") || event.r#type.ends_with("StateAborted") {
            self.done += 1;
            self.current.retain(|n| n != name);
        }
    }

    fn draw(&self) {
        use std::io::Write;
        let at = if self.current.is_empty() {
            "-".to_string()
        } else {
            self.current.join(", ")
        };
        print!(
            "\r\x1b[2K  running: {} states entered, {} done, now at {at} ({:.1}s)",
            self.entered,
            self.done,
            self.started.elapsed().as_secs_f64()
        );
        let _ = std::io::stdout().flush();
    }

    fn clear(&self) {
        use std::io::Write;
        print!("\r\x1b[2K");
        let _ = std::io::stdout().flush();
    }
}

/// Prints events as they happen until the execution ends; returns its final state.
async fn follow(client: &mut Client, output: Output, arn: &str) -> Result<pb::Execution, String> {
    let mut stream = client
        .executions
        .watch_execution_history(pb::WatchExecutionHistoryRequest {
            execution_arn: arn.to_string(),
            exclude_execution_data: false,
        })
        .await
        .map_err(|s| s.message().to_string())?
        .into_inner();
    let mut start_ms = None;
    // On a terminal, a status line under the events shows where the execution is and
    // for how long; redirected output gets plain lines only.
    let mut progress = (output == Output::Text
        && std::io::IsTerminal::is_terminal(&std::io::stdout()))
    .then(Progress::default);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        let next = tokio::select! {
            next = stream.message() => next.map_err(|s| s.message().to_string())?,
            _ = tick.tick() => {
                if let Some(progress) = &progress {
                    progress.draw();
                }
                continue;
            }
        };
        let Some(event) = next else { break };
        let start = *start_ms.get_or_insert(event.timestamp_ms);
        if let Some(progress) = &mut progress {
            progress.clear();
            progress.record(&event);
        }
        match output {
            Output::Json => println!("{}", event_json(&event)),
            Output::Text => println!("{}", event_line(&event, start)),
        }
        if let Some(progress) = &progress {
            progress.draw();
        }
    }
    if let Some(progress) = &progress {
        progress.clear();
    }
    // The stream ends with the execution; its record may trail by a moment.
    for _ in 0..50 {
        let execution = client.describe(arn).await.map_err(|e| e.to_string())?;
        if execution.status() != pb::ExecutionStatus::Running {
            return Ok(execution);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    client.describe(arn).await.map_err(|e| e.to_string())
}

fn outcome_code(execution: &pb::Execution) -> ExitCode {
    if execution.status() == pb::ExecutionStatus::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn since_ms(text: &str) -> Result<i64, String> {
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration such as 30m, 24h or 7d"))?;
    let unit_ms = match unit {
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("'{text}' is not a duration such as 30m, 24h or 7d")),
    };
    Ok(n * unit_ms)
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    let output = cli.output;
    if let Command::Validate { file } = &cli.command {
        // Read the file first, so a missing file is reported before the connection.
        let definition = read(file)?;
        let mut client = Client::connect_with(&cli.endpoint, cli.key.as_deref(), &cli.tls())
            .await
            .map_err(|e| e.to_string())?;
        let validation = client
            .validate(&definition)
            .await
            .map_err(|e| e.to_string())?;
        match output {
            Output::Json => {
                let diagnostics: Vec<Value> = validation
                    .diagnostics
                    .iter()
                    .map(|d| json!({"severity": severity_name(d.severity()), "code": d.code, "location": d.location, "message": d.message}))
                    .collect();
                let result = if validation.ok { "OK" } else { "FAIL" };
                println!("{}", json!({"result": result, "diagnostics": diagnostics}));
            }
            Output::Text => {
                for d in &validation.diagnostics {
                    let location = if d.location.is_empty() {
                        "/"
                    } else {
                        &d.location
                    };
                    println!(
                        "{}: {} {}: {} [{}]",
                        file.display(),
                        severity_name(d.severity()).to_lowercase(),
                        location,
                        d.message,
                        d.code
                    );
                }
                if validation.ok {
                    println!("{}: valid", file.display());
                }
            }
        }
        return Ok(if validation.ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    if let Command::Bench {
        workload,
        executions,
        concurrency,
        rate,
        workers,
        duration_seconds,
        server_pid,
        wait_seconds,
        restart_cmd,
        steps,
        console_url,
    } = &cli.command
    {
        let report = bench::run(BenchConfig {
            endpoint: cli.endpoint.clone(),
            key: cli.key.clone(),
            tls: cli.tls(),
            workload: *workload,
            executions: *executions,
            concurrency: *concurrency,
            rate: *rate,
            workers: *workers,
            duration: Duration::from_secs(*duration_seconds),
            server_pid: *server_pid,
            wait_seconds: *wait_seconds,
            restart_cmd: restart_cmd.clone(),
            steps: *steps,
            console_url: console_url.clone(),
        })
        .await
        .map_err(|e| e.to_string())?;
        match output {
            Output::Json => println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            ),
            Output::Text => print!("{}", bench::table(&report)),
        }
        return Ok(if report.executions_failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let mut client = Client::connect_with(&cli.endpoint, cli.key.as_deref(), &cli.tls())
        .await
        .map_err(|e| e.to_string())?;
    let status = |s: tonic::Status| s.message().to_string();
    match cli.command {
        Command::Validate { .. } | Command::Bench { .. } => unreachable!("handled above"),
        Command::Machine(command) => {
            let machine = match command {
                MachineCommand::Create {
                    name,
                    file,
                    express,
                } => {
                    let machine_type = if express {
                        pb::StateMachineType::Express
                    } else {
                        pb::StateMachineType::Standard
                    };
                    Some(
                        client
                            .state_machines
                            .create_state_machine(pb::CreateStateMachineRequest {
                                name,
                                definition: read(&file)?,
                                r#type: machine_type.into(),
                                ..Default::default()
                            })
                            .await
                            .map_err(status)?
                            .into_inner(),
                    )
                }
                MachineCommand::Update { machine, file } => Some(
                    client
                        .state_machines
                        .update_state_machine(pb::UpdateStateMachineRequest {
                            state_machine: machine,
                            definition: read(&file)?,
                            ..Default::default()
                        })
                        .await
                        .map_err(status)?
                        .into_inner(),
                ),
                MachineCommand::Describe { machine } => Some(
                    client
                        .state_machines
                        .describe_state_machine(pb::DescribeStateMachineRequest {
                            state_machine: machine,
                        })
                        .await
                        .map_err(status)?
                        .into_inner(),
                ),
                MachineCommand::List => {
                    let machines = client
                        .state_machines
                        .list_state_machines(pb::ListStateMachinesRequest {
                            max_results: 1000,
                            next_token: String::new(),
                        })
                        .await
                        .map_err(status)?
                        .into_inner()
                        .state_machines;
                    for m in &machines {
                        let kind = machine_type_name(m);
                        match output {
                            Output::Json => println!(
                                "{}",
                                json!({"name": m.name, "arn": m.arn, "type": kind, "revision": m.revision})
                            ),
                            Output::Text => println!(
                                "{:<40} {:<9} rev {:<4} {}",
                                m.name, kind, m.revision, m.arn
                            ),
                        }
                    }
                    None
                }
                MachineCommand::Delete { machine } => {
                    client
                        .state_machines
                        .delete_state_machine(pb::DeleteStateMachineRequest {
                            state_machine: machine.clone(),
                        })
                        .await
                        .map_err(status)?;
                    println!("deleted {machine}");
                    None
                }
            };
            if let Some(m) = machine {
                let kind = machine_type_name(&m);
                match output {
                    Output::Json => println!(
                        "{}",
                        json!({"name": m.name, "arn": m.arn, "type": kind, "revision": m.revision, "definition": m.definition.parse::<Value>().ok()})
                    ),
                    Output::Text => {
                        println!(
                            "state machine {}\ntype          {kind}\nrevision      {}",
                            m.arn, m.revision
                        );
                        for w in &m.warnings {
                            println!("warning {}: {} [{}]", w.location, w.message, w.code);
                        }
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Start {
            machine,
            input,
            name,
            wait,
            sync,
        } => {
            let mut request = tonic::Request::new(pb::StartExecutionRequest {
                state_machine: machine,
                name: name.unwrap_or_default(),
                input: text_or_file(&input)?,
            });
            stepwise_proto::trace::inject(request.metadata_mut());
            if sync {
                let execution = client
                    .executions
                    .start_sync_execution(request)
                    .await
                    .map_err(status)?
                    .into_inner();
                print_execution(output, &execution);
                return Ok(outcome_code(&execution));
            }
            let started = client
                .executions
                .start_execution(request)
                .await
                .map_err(status)?
                .into_inner();
            if !wait {
                match output {
                    Output::Json => println!(
                        "{}",
                        json!({"executionArn": started.execution_arn, "startTimeMs": started.start_time_ms})
                    ),
                    Output::Text => println!("{}", started.execution_arn),
                }
                return Ok(ExitCode::SUCCESS);
            }
            let execution = follow(&mut client, output, &started.execution_arn).await?;
            if output == Output::Text {
                println!();
            }
            print_execution(output, &execution);
            Ok(outcome_code(&execution))
        }
        Command::Describe { execution } => {
            let e = client
                .describe(&execution)
                .await
                .map_err(|e| e.to_string())?;
            print_execution(output, &e);
            Ok(ExitCode::SUCCESS)
        }
        Command::List {
            machine,
            status: filter,
        } => {
            let status_filter = match filter.as_deref().map(str::to_ascii_uppercase).as_deref() {
                None => pb::ExecutionStatus::Unspecified,
                Some("RUNNING") => pb::ExecutionStatus::Running,
                Some("SUCCEEDED") => pb::ExecutionStatus::Succeeded,
                Some("FAILED") => pb::ExecutionStatus::Failed,
                Some("TIMED_OUT") => pb::ExecutionStatus::TimedOut,
                Some("ABORTED") => pb::ExecutionStatus::Aborted,
                Some(other) => {
                    return Err(format!(
                        "'{other}' is not a status (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED)"
                    ));
                }
            };
            let executions = client
                .executions
                .list_executions(pb::ListExecutionsRequest {
                    state_machine: machine,
                    status_filter: status_filter.into(),
                    max_results: 1000,
                    next_token: String::new(),
                })
                .await
                .map_err(status)?
                .into_inner()
                .executions;
            for e in &executions {
                match output {
                    Output::Json => println!("{}", execution_json(e)),
                    Output::Text => {
                        println!("{:<10} {:<36} {}", status_name(e.status()), e.name, e.arn)
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::History {
            execution,
            follow: live,
            reverse,
        } => {
            if live {
                let e = follow(&mut client, output, &execution).await?;
                return Ok(outcome_code(&e));
            }
            let events = client
                .history(&execution, reverse)
                .await
                .map_err(|e| e.to_string())?;
            let start = events
                .iter()
                .map(|e| e.timestamp_ms)
                .min()
                .unwrap_or_default();
            for event in &events {
                match output {
                    Output::Json => println!("{}", event_json(event)),
                    Output::Text => println!("{}", event_line(event, start)),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Stop {
            execution,
            error,
            cause,
        } => {
            client
                .executions
                .stop_execution(pb::StopExecutionRequest {
                    execution_arn: execution.clone(),
                    error,
                    cause,
                })
                .await
                .map_err(status)?;
            println!("stopped {execution}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Task(command) => {
            match command {
                TaskCommand::Success {
                    token,
                    output: result,
                } => {
                    client
                        .tasks
                        .send_task_success(pb::SendTaskSuccessRequest {
                            token,
                            output: text_or_file(&result)?,
                        })
                        .await
                        .map_err(status)?;
                }
                TaskCommand::Failure {
                    token,
                    error,
                    cause,
                } => {
                    client
                        .tasks
                        .send_task_failure(pb::SendTaskFailureRequest {
                            token,
                            error,
                            cause,
                        })
                        .await
                        .map_err(status)?;
                }
                TaskCommand::Heartbeat { token } => {
                    client
                        .tasks
                        .send_task_heartbeat(pb::SendTaskHeartbeatRequest { token })
                        .await
                        .map_err(status)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Key(command) => key_command::run(&mut client, command, output).await,
        Command::Activity(command) => {
            let activities = match command {
                ActivityCommand::Create { name } => {
                    vec![
                        client
                            .tasks
                            .create_activity(pb::CreateActivityRequest { name })
                            .await
                            .map_err(status)?
                            .into_inner(),
                    ]
                }
                ActivityCommand::Describe { activity } => {
                    vec![
                        client
                            .tasks
                            .describe_activity(pb::DescribeActivityRequest { activity })
                            .await
                            .map_err(status)?
                            .into_inner(),
                    ]
                }
                ActivityCommand::List => {
                    client
                        .tasks
                        .list_activities(pb::ListActivitiesRequest {
                            max_results: 1000,
                            next_token: String::new(),
                        })
                        .await
                        .map_err(status)?
                        .into_inner()
                        .activities
                }
                ActivityCommand::Delete { activity } => {
                    client
                        .tasks
                        .delete_activity(pb::DeleteActivityRequest {
                            activity: activity.clone(),
                        })
                        .await
                        .map_err(status)?;
                    println!("deleted {activity}");
                    Vec::new()
                }
            };
            for a in &activities {
                match output {
                    Output::Json => println!(
                        "{}",
                        json!({"name": a.name, "arn": a.arn, "creationTimeMs": a.creation_time_ms})
                    ),
                    Output::Text => println!("{:<40} {}", a.name, a.arn),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Usage { machine, since } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or_default();
            let usage = client
                .executions
                .get_usage(pb::GetUsageRequest {
                    state_machine: machine.unwrap_or_default(),
                    start_time_ms: now - since_ms(&since)?,
                    end_time_ms: now,
                })
                .await
                .map_err(status)?
                .into_inner();
            match output {
                Output::Json => println!(
                    "{}",
                    json!({"standardExecutions": usage.standard_executions, "standardTransitions": usage.standard_transitions,
                        "expressRequests": usage.express_requests, "expressBilledDurationMs": usage.express_billed_duration_ms,
                        "expressGbSeconds": usage.express_gb_seconds, "estimatedCostUsd": usage.total_cost})
                ),
                Output::Text => {
                    println!("standard executions   {}", usage.standard_executions);
                    println!(
                        "standard transitions  {}   ${:.6}",
                        usage.standard_transitions, usage.standard_cost
                    );
                    println!(
                        "express requests      {}   ${:.6}",
                        usage.express_requests, usage.express_request_cost
                    );
                    println!(
                        "express GB-seconds    {:.3}   ${:.6}",
                        usage.express_gb_seconds, usage.express_duration_cost
                    );
                    println!("estimated total       ${:.6}", usage.total_cost);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Graph {
            machine,
            execution,
            format,
        } => {
            let definition = client
                .state_machines
                .describe_state_machine(pb::DescribeStateMachineRequest {
                    state_machine: machine,
                })
                .await
                .map_err(status)?
                .into_inner()
                .definition;
            let status_map = match execution {
                Some(arn) => Some(graph::statuses(
                    &client
                        .history(&arn, false)
                        .await
                        .map_err(|e| e.to_string())?,
                )),
                None => None,
            };
            let format = match format {
                GraphFormat::Mermaid => Format::Mermaid,
                GraphFormat::Dot => Format::Dot,
            };
            print!(
                "{}",
                graph::render(&definition, format, status_map.as_ref())?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
