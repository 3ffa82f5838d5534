//! `stepwise-worker`: serves task queues from the command line, no code needed.
//!
//! - `--exec QUEUE='COMMAND'` runs `sh -c COMMAND` per task, with the task input as JSON
//!   on stdin and in `STEPWISE_INPUT`; stdout is the output (parsed as JSON, else
//!   `{"stdout": "..."}`); a non-zero exit fails the task with `Exec.ExitCode` and the
//!   tail of stderr as the cause.
//! - `--echo QUEUE` returns the input.
//! - `--http QUEUE=URL` POSTs the input to an `http://` URL; the JSON response is the
//!   output, a non-2xx status fails the task with `Http.Status`.

use std::process::{ExitCode, Stdio};
use std::time::Duration;

use clap::Parser;
use serde_json::{Value, json};
use stepwise_worker::{Task, TaskError, Worker};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How much of stderr a failed command reports as the cause.
const STDERR_TAIL: usize = 2048;

#[derive(Parser)]
#[command(
    name = "stepwise-worker",
    version,
    about = "Serve Stepwise task queues with shell commands, echo or HTTP"
)]
struct Args {
    /// The server's gRPC endpoint.
    #[arg(
        long,
        default_value = "http://127.0.0.1:7837",
        env = "STEPWISE_ENDPOINT"
    )]
    endpoint: String,
    /// The key to present (KEY_ID:SECRET, as `stepwise key create` prints it), for a
    /// server that requires keys.
    #[arg(long, env = "STEPWISE_KEY", hide_env_values = true)]
    key: Option<String>,
    /// A CA certificate (PEM) to trust for an https:// endpoint, besides the system's.
    #[arg(long, env = "STEPWISE_CA_CERT")]
    ca_cert: Option<std::path::PathBuf>,
    /// The certificate (PEM) to present to a server that requires one (mTLS).
    #[arg(long, env = "STEPWISE_CLIENT_CERT", requires = "client_key")]
    client_cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of --client-cert.
    #[arg(long, env = "STEPWISE_CLIENT_KEY", requires = "client_cert")]
    client_key: Option<std::path::PathBuf>,
    /// Run a shell command per task: QUEUE=COMMAND (repeatable).
    #[arg(long = "exec", value_name = "QUEUE=COMMAND")]
    exec: Vec<String>,
    /// Return the task input as its output (repeatable).
    #[arg(long = "echo", value_name = "QUEUE")]
    echo: Vec<String>,
    /// POST the input to an http:// URL: QUEUE=URL (repeatable).
    #[arg(long = "http", value_name = "QUEUE=URL")]
    http: Vec<String>,
    /// Tasks handled at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// The name recorded in each task's Started event.
    #[arg(long)]
    name: Option<String>,
    /// Seconds to let running tasks finish after SIGINT/SIGTERM.
    #[arg(long, default_value_t = 30)]
    grace_seconds: u64,
    /// Log format on stderr: text or json (level via RUST_LOG).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Export traces over OTLP/gRPC to this collector (also `OTEL_EXPORTER_OTLP_ENDPOINT`).
    #[arg(long)]
    otlp_endpoint: Option<String>,
}

fn split(spec: &str, flag: &str) -> Result<(String, String), String> {
    spec.split_once('=')
        .filter(|(q, v)| !q.is_empty() && !v.is_empty())
        .map(|(q, v)| (q.to_string(), v.to_string()))
        .ok_or_else(|| format!("{flag} takes QUEUE=VALUE, got '{spec}'"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let _telemetry = match stepwise_proto::trace::init(
        "stepwise-worker",
        args.otlp_endpoint.as_deref(),
        args.log_format == "json",
    ) {
        Ok(telemetry) => telemetry,
        Err(e) => return usage(&e),
    };
    let mut worker = Worker::new(args.endpoint.clone())
        .concurrency(args.concurrency)
        .grace_period(Duration::from_secs(args.grace_seconds));
    if let Some(name) = &args.name {
        worker = worker.name(name);
    }
    if let Some(key) = &args.key {
        worker = worker.key(key);
    }
    worker = worker.tls(stepwise_worker::ClientTls {
        ca_cert: args.ca_cert.clone(),
        client_cert: args.client_cert.clone(),
        client_key: args.client_key.clone(),
    });
    for spec in &args.exec {
        let (queue, command) = match split(spec, "--exec") {
            Ok(pair) => pair,
            Err(e) => return usage(&e),
        };
        worker = worker.handle(queue, move |task| run_command(command.clone(), task));
    }
    for queue in &args.echo {
        worker = worker.handle(queue.clone(), |task: Task| async move { Ok(task.input) });
    }
    for spec in &args.http {
        let (queue, url) = match split(spec, "--http") {
            Ok(pair) => pair,
            Err(e) => return usage(&e),
        };
        if !url.starts_with("http://") {
            return usage(&format!("--http supports http:// URLs, not '{url}'"));
        }
        worker = worker.handle(queue, move |task| post(url.clone(), task.input));
    }
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match worker.run(stop).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => usage(&e.to_string()),
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("stepwise-worker: {message}");
    ExitCode::from(2)
}

/// Runs `sh -c command` with the input on stdin and in `STEPWISE_INPUT`.
async fn run_command(command: String, task: Task) -> Result<Value, TaskError> {
    let input = task.input.to_string();
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .env("STEPWISE_INPUT", &input)
        .env("STEPWISE_EXECUTION_ARN", &task.execution_arn)
        .env("STEPWISE_STATE_NAME", &task.state_name)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| TaskError::new("Exec.Spawn", format!("cannot run '{command}': {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input closes stdin early; that is fine.
        let _ = stdin.write_all(input.as_bytes()).await;
    }
    let output = child.wait_with_output().await.map_err(|e| {
        TaskError::new(
            "Exec.Wait",
            format!("'{command}' could not be waited for: {e}"),
        )
    })?;
    if !output.status.success() {
        return Err(TaskError::new(
            "Exec.ExitCode",
            exit_cause(&command, output.status.code(), &output.stderr),
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    Ok(serde_json::from_str(stdout.trim()).unwrap_or_else(|_| json!({"stdout": stdout})))
}

/// The cause of a failed command: how it ended, then the tail of its stderr, or a
/// word saying there was none (a bare `exited with code 1: ` reads like a cut-off line).
fn exit_cause(command: &str, code: Option<i32>, stderr: &[u8]) -> String {
    let how = code.map_or("was killed by a signal".to_string(), |c| {
        format!("exited with code {c}")
    });
    let stderr = String::from_utf8_lossy(stderr);
    let stderr = stderr.trim_end();
    if stderr.trim().is_empty() {
        return format!("'{command}' {how} and wrote nothing to stderr");
    }
    let skip = stderr.chars().count().saturating_sub(STDERR_TAIL);
    let tail: String = stderr.chars().skip(skip).collect();
    format!("'{command}' {how}: {tail}")
}

/// POSTs `input` as JSON to an http:// URL and returns the JSON response.
async fn post(url: String, input: Value) -> Result<Value, TaskError> {
    let rest = url.trim_start_matches("http://");
    let (host_port, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let address = if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:80")
    };
    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .map_err(|e| TaskError::new("Http.Connect", format!("cannot reach {url}: {e}")))?;
    let body = input.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: {host_port}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| TaskError::new("Http.Send", format!("sending to {url} failed: {e}")))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .map_err(|e| TaskError::new("Http.Receive", format!("reading from {url} failed: {e}")))?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if !(200..300).contains(&status) {
        return Err(TaskError::new(
            "Http.Status",
            format!("{url} answered {status}: {}", body.trim()),
        ));
    }
    serde_json::from_str(body.trim()).map_err(|e| {
        TaskError::new(
            "Http.InvalidJson",
            format!("{url} answered with a body that is not JSON: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_command_without_stderr_says_so() {
        assert_eq!(
            exit_cause("false", Some(1), b""),
            "'false' exited with code 1 and wrote nothing to stderr"
        );
        assert_eq!(
            exit_cause("false", Some(1), b" \n\n"),
            "'false' exited with code 1 and wrote nothing to stderr"
        );
        assert_eq!(
            exit_cause("sleep 9", None, b""),
            "'sleep 9' was killed by a signal and wrote nothing to stderr"
        );
    }

    #[test]
    fn a_failed_command_reports_the_tail_of_its_stderr() {
        assert_eq!(
            exit_cause("check", Some(3), b"3 tests failed\n"),
            "'check' exited with code 3: 3 tests failed"
        );
        let long = format!("{}END", "x".repeat(STDERR_TAIL * 2));
        let cause = exit_cause("check", Some(1), long.as_bytes());
        assert!(cause.ends_with("xEND"), "{cause}");
        assert_eq!(
            cause.len(),
            "'check' exited with code 1: ".len() + STDERR_TAIL
        );
    }
}
