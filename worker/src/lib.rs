//! Worker SDK: serve Stepwise task queues with async handlers.
//!
//! A `Worker` long-polls the queues it has handlers for (up to `pollers` polls at once),
//! at most `concurrency` tasks at a time, runs the handler, and reports the result. A
//! handler error becomes SendTaskFailure with its error name and cause (so the state's
//! Retry and Catch can match it); a panic becomes a failure too, not a dead worker. While a handler runs, the
//! worker heartbeats at a third of the task's HeartbeatSeconds.
//!
//! The worker survives the server restarting: polls are retried with capped exponential
//! backoff and the same poll id (so a task whose poll answer was lost is not stranded),
//! and results are kept until the server takes them. Shutdown stops polling and lets
//! in-flight tasks finish within a grace period.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use stepwise_proto::key::{KeyedChannel, PresentKey};
pub use stepwise_proto::tls::ClientTls;
use stepwise_proto::v1 as pb;
use stepwise_proto::v1::tasks_client::TasksClient;
use tokio::sync::Semaphore;
use tonic::Code;
use tracing::Instrument;

/// A task handed to a handler.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The token that identifies this task to the server.
    pub token: String,
    /// The queue it came from.
    pub queue: String,
    /// Its input.
    pub input: Value,
    /// The execution it belongs to.
    pub execution_arn: String,
    /// The Task state's name.
    pub state_name: String,
    /// HeartbeatSeconds, if the state set one.
    pub heartbeat_seconds: Option<u64>,
    /// TimeoutSeconds, if the state set one.
    pub timeout_seconds: Option<u64>,
    /// The W3C trace context of the execution's start, if it was traced.
    pub traceparent: Option<String>,
}

/// A handler's failure: the error name Retry/Catch match and a cause for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct TaskError {
    /// The error name, e.g. `Build.Failed`.
    pub error: String,
    /// What happened.
    pub cause: String,
}

impl TaskError {
    /// A failure with this error name and cause.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        TaskError {
            error: error.into(),
            cause: cause.into(),
        }
    }
}

/// Why the worker stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The endpoint is not a valid URL, or its TLS files cannot be used.
    #[error(transparent)]
    Tls(#[from] stepwise_proto::tls::ClientTlsError),
    /// No handler was registered.
    #[error("the worker has no handlers")]
    NoHandlers,
    /// The key is not `KEY_ID:SECRET`.
    #[error(transparent)]
    InvalidKey(#[from] stepwise_proto::key::InvalidKey),
}

type HandlerFuture = Pin<Box<dyn Future<Output = Result<Value, TaskError>> + Send>>;
type Handler = Arc<dyn Fn(Task) -> HandlerFuture + Send + Sync>;

/// How long to wait before retrying after the server was unreachable the `n`th time in a
/// row: 100 ms doubling to at most 5 s.
pub fn backoff(n: u32) -> Duration {
    Duration::from_millis((100u64 << n.min(6)).min(5_000))
}

/// A worker serving one or more queues.
pub struct Worker {
    endpoint: String,
    key: Option<String>,
    tls: ClientTls,
    name: String,
    concurrency: usize,
    pollers: usize,
    grace: Duration,
    handlers: HashMap<String, Handler>,
}

impl Worker {
    /// A worker for the server at `endpoint` (e.g. `http://127.0.0.1:7837`).
    pub fn new(endpoint: impl Into<String>) -> Self {
        Worker {
            endpoint: endpoint.into(),
            key: None,
            tls: ClientTls::default(),
            name: format!("stepwise-worker-{}", std::process::id()),
            concurrency: 4,
            pollers: 4,
            grace: Duration::from_secs(30),
            handlers: HashMap::new(),
        }
    }

    /// The key (`KEY_ID:SECRET`) every call presents, for a server that requires keys.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The CA to trust and the client certificate to present, for an `https://`
    /// endpoint.
    pub fn tls(mut self, tls: ClientTls) -> Self {
        self.tls = tls;
        self
    }

    /// The name recorded in each task's Started event.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// At most this many tasks at a time (at least 1).
    pub fn concurrency(mut self, tasks: usize) -> Self {
        self.concurrency = tasks.max(1);
        self
    }

    /// At most this many polls outstanding at once (at least 1, never more than the
    /// concurrency). Each poll waits a round trip and a commit on the server before its
    /// task arrives, so one poll at a time caps a worker near one task per round trip.
    pub fn pollers(mut self, polls: usize) -> Self {
        self.pollers = polls.max(1);
        self
    }

    /// How long shutdown waits for in-flight tasks.
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Serves `queue` with a handler over raw JSON.
    pub fn handle<F, Fut>(mut self, queue: impl Into<String>, handler: F) -> Self
    where
        F: Fn(Task) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, TaskError>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |task| Box::pin(handler(task)));
        self.handlers.insert(queue.into(), handler);
        self
    }

    /// Serves `queue` with a typed handler: the input is deserialized into `I` (a bad
    /// input fails the task with `Worker.InvalidInput`) and the output serialized from `O`.
    pub fn handle_typed<I, O, F, Fut>(self, queue: impl Into<String>, handler: F) -> Self
    where
        I: DeserializeOwned + Send + 'static,
        O: Serialize + Send + 'static,
        F: Fn(I, Task) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, TaskError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.handle(queue, move |task: Task| {
            let handler = handler.clone();
            async move {
                let input: I = serde_json::from_value(task.input.clone()).map_err(|e| {
                    TaskError::new(
                        "Worker.InvalidInput",
                        format!("the task input does not fit the handler: {e}"),
                    )
                })?;
                let output = handler(input, task).await?;
                serde_json::to_value(output).map_err(|e| {
                    TaskError::new(
                        "Worker.InvalidOutput",
                        format!("the handler's output does not serialize: {e}"),
                    )
                })
            }
        })
    }

    /// Polls and handles tasks until `shutdown` resolves, then lets in-flight tasks
    /// finish within the grace period.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), WorkerError> {
        if self.handlers.is_empty() {
            return Err(WorkerError::NoHandlers);
        }
        let key = PresentKey::new(self.key.as_deref())?;
        let channel = self.tls.endpoint(&self.endpoint)?.connect_lazy();
        let channel = key.on(channel);
        let pollers = self.pollers.min(self.concurrency);
        let shared = Arc::new(Polling {
            client: TasksClient::new(channel),
            queues: self.handlers.keys().cloned().collect(),
            worker: self.name.clone(),
            handlers: self.handlers,
            slots: Arc::new(Semaphore::new(self.concurrency)),
            poll_ids: AtomicU64::new(0),
        });
        tracing::info!(worker = %self.name, queues = ?shared.queues, pollers, "worker started");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        // A JoinSet aborts its tasks when dropped: dropping `run` stops the polls too.
        let mut poll_loops = tokio::task::JoinSet::new();
        for _ in 0..pollers {
            poll_loops.spawn(poll_loop(shared.clone(), stopped.clone()));
        }
        shutdown.await;
        let _ = stop.send(true);
        while poll_loops.join_next().await.is_some() {}
        tracing::info!(worker = %self.name, "stopping: waiting for tasks in flight");
        let all = u32::try_from(self.concurrency).unwrap_or(u32::MAX);
        if tokio::time::timeout(self.grace, shared.slots.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!(worker = %self.name, "the grace period ended with tasks still running");
        }
        Ok(())
    }
}

/// What a worker's poll loops share.
struct Polling {
    client: TasksClient<KeyedChannel>,
    queues: Vec<String>,
    worker: String,
    handlers: HashMap<String, Handler>,
    /// One permit per task the worker may handle at once.
    slots: Arc<Semaphore>,
    poll_ids: AtomicU64,
}

/// One outstanding poll at a time: takes a slot, polls, hands the task to its handler
/// in a task of its own, until `stopped` turns true.
async fn poll_loop(shared: Arc<Polling>, mut stopped: tokio::sync::watch::Receiver<bool>) {
    let stop = async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            permit = shared.slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = &mut stop => break,
        };
        let poll_id = format!(
            "{}-{}-{}",
            shared.worker,
            std::process::id(),
            shared.poll_ids.fetch_add(1, Ordering::Relaxed)
        );
        let polled = tokio::select! {
            polled = poll(shared.client.clone(), &shared.queues, &shared.worker, &poll_id) => polled,
            _ = &mut stop => break,
        };
        let Some(task) = polled else { continue };
        let handler = shared.handlers[&task.queue].clone();
        let client = shared.client.clone();
        tokio::spawn(async move {
            run_task(client, handler, task).await;
            drop(permit);
        });
    }
}

/// Polls once, retrying with the same poll id while the server is unreachable.
async fn poll(
    mut client: TasksClient<KeyedChannel>,
    queues: &[String],
    worker: &str,
    poll_id: &str,
) -> Option<Task> {
    let mut failures = 0;
    loop {
        let request = pb::PollTaskRequest {
            queues: queues.to_vec(),
            worker_name: worker.to_string(),
            wait_seconds: 20,
            poll_id: poll_id.to_string(),
        };
        match client.poll_task(request).await {
            Ok(response) => {
                let task = response.into_inner();
                if task.token.is_empty() {
                    return None;
                }
                let input = serde_json::from_str(&task.input).unwrap_or(Value::Null);
                return Some(Task {
                    token: task.token,
                    queue: task.queue,
                    input,
                    execution_arn: task.execution_arn,
                    state_name: task.state_name,
                    heartbeat_seconds: task.heartbeat_seconds,
                    timeout_seconds: task.timeout_seconds,
                    traceparent: (!task.traceparent.is_empty()).then_some(task.traceparent),
                });
            }
            Err(status) if retryable(&status) => {
                tracing::debug!("poll failed ({status}); retrying");
                tokio::time::sleep(backoff(failures)).await;
                failures += 1;
            }
            Err(status) => {
                tracing::error!("poll refused: {status}");
                tokio::time::sleep(backoff(failures)).await;
                failures += 1;
                if failures > 3 {
                    return None;
                }
            }
        }
    }
}

/// A request carrying `span`'s trace context in its metadata.
fn traced<T>(span: &tracing::Span, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    span.in_scope(|| stepwise_proto::trace::inject(request.metadata_mut()));
    request
}

/// Whether an error means "try again later" rather than "no".
fn retryable(status: &tonic::Status) -> bool {
    !matches!(
        status.code(),
        Code::InvalidArgument
            | Code::NotFound
            | Code::FailedPrecondition
            | Code::AlreadyExists
            // A key the server does not take, or that may not work on the queue, will not
            // be taken on the next try either.
            | Code::Unauthenticated
            | Code::PermissionDenied
    )
}

/// Whether the server refused a result because its task no longer takes one (it was
/// cancelled, timed out or already answered): the server's AWS error code `TaskTimedOut`.
fn no_longer_wanted(status: &tonic::Status) -> bool {
    status.code() == Code::FailedPrecondition && status.message().starts_with("TaskTimedOut")
}

/// Runs the handler with heartbeats, then delivers the result until the server takes it.
async fn run_task(mut client: TasksClient<KeyedChannel>, handler: Handler, task: Task) {
    let token = task.token.clone();
    let heartbeat = task
        .heartbeat_seconds
        .map(|s| Duration::from_millis((s * 1000 / 3).max(100)));
    let span = tracing::info_span!("task", queue = %task.queue, execution = %task.execution_arn, state = %task.state_name);
    if let Some(traceparent) = &task.traceparent {
        // The task joins the trace of the execution's start.
        stepwise_proto::trace::adopt_traceparent(&span, traceparent);
    }
    // The handler runs in its own task so that a panic is caught as a JoinError.
    let mut running = tokio::spawn(handler(task).instrument(span.clone()));
    let outcome = loop {
        let tick = async {
            match heartbeat {
                Some(every) => tokio::time::sleep(every).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            joined = &mut running => break joined,
            _ = tick => {
                let beat = client.send_task_heartbeat(traced(&span, pb::SendTaskHeartbeatRequest { token: token.clone() })).await;
                if let Err(status) = beat {
                    tracing::debug!("heartbeat not taken: {status}");
                }
            }
        }
    };
    let result = match outcome {
        Ok(result) => result,
        Err(join) if join.is_panic() => {
            let payload = join.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the handler panicked".into());
            Err(TaskError::new("Worker.Panic", message))
        }
        Err(_) => Err(TaskError::new(
            "Worker.Cancelled",
            "the handler was cancelled",
        )),
    };
    let mut failures = 0;
    loop {
        let sent = match &result {
            Ok(output) => client
                .send_task_success(traced(
                    &span,
                    pb::SendTaskSuccessRequest {
                        token: token.clone(),
                        output: output.to_string(),
                    },
                ))
                .await
                .map(|_| ()),
            Err(e) => client
                .send_task_failure(traced(
                    &span,
                    pb::SendTaskFailureRequest {
                        token: token.clone(),
                        error: e.error.clone(),
                        cause: e.cause.clone(),
                    },
                ))
                .await
                .map(|_| ()),
        };
        match sent {
            Ok(()) => return,
            Err(status) if retryable(&status) => {
                tracing::debug!(
                    "result not delivered ({status}); keeping it until the server is back"
                );
                tokio::time::sleep(backoff(failures)).await;
                failures += 1;
            }
            Err(status) if no_longer_wanted(&status) => {
                // A cancelled branch or a stopped execution is routine, not a problem.
                tracing::info!("result dropped: {}", status.message());
                return;
            }
            Err(status) => {
                tracing::warn!("the server refused the result: {status}");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_task_is_not_a_refusal_worth_a_warning() {
        let cancelled = tonic::Status::failed_precondition(
            "TaskTimedOut: the task for this token was cancelled: its state was aborted",
        );
        assert!(no_longer_wanted(&cancelled));
        assert!(!no_longer_wanted(&tonic::Status::invalid_argument(
            "InvalidOutput: the output is not JSON"
        )));
        assert!(!no_longer_wanted(&tonic::Status::failed_precondition(
            "FailedPrecondition: something else"
        )));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(5), Duration::from_millis(3200));
        assert_eq!(backoff(6), Duration::from_millis(5000));
        assert_eq!(backoff(60), Duration::from_millis(5000));
    }
}
