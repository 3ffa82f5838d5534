//! The runtime: the imperative shell around the pure engine. It owns the running
//! executions (in memory; the store is the durable copy, read back only on recovery),
//! turns each engine step into one store batch, commits batches in groups, and only
//! after a batch is durable releases its effects: tasks offered, timers armed, watchers
//! told. On start-up it replays every running execution from its history, re-offers
//! tasks no worker has started, and re-arms timers (overdue ones fire at once).

mod committer;
mod damaged;
mod effects;
mod express;
mod feed;
mod limits;
mod metrics;
mod names;
pub mod paging;
mod partition;
mod queues;
mod random;
mod timers;
pub mod watchdog;

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast;

pub use feed::HistoryFeed;
use limits::MAX_TAGS;
pub use limits::check_tags;
pub use names::{Arns, check_name};
pub use queues::Offer;

use crate::asl::definition::StateKind;
use crate::asl::json::MAX_NESTING;
use crate::asl::validate::{self, Diagnostic};
use crate::billing::{ExpressBilling, PriceTable};
use crate::engine::execution::{PendingTask, Step, Thread};
use crate::engine::{
    self, Command, CommandError, Effect, Event, EventKind, Execution, Identity, Machine, Status,
    TaskClosed, TimerKey,
};
use crate::store::{
    ActivityRecord, Batch, Damaged, ExecutionRecord, MachineRecord, MachineType, Store, StoreError,
    TimerRecord, Write,
};
use committer::Committer;
use partition::{Live, Partition, Partitions, Running};
use queues::Queues;

/// The longest a PollTask waits, as AWS's GetActivityTask.
pub const MAX_POLL_SECONDS: u64 = 60;

/// Why a runtime call failed. The API maps each to a gRPC status (and AWS error code).
#[derive(Debug, Clone, thiserror::Error)]
pub enum RuntimeError {
    /// `StateMachineDoesNotExist`.
    #[error("{0}")]
    MachineNotFound(String),
    /// `ExecutionDoesNotExist`.
    #[error("{0}")]
    ExecutionNotFound(String),
    /// `InvalidToken`: a `nextToken` this server did not issue.
    #[error("{0}")]
    InvalidToken(String),
    /// `ActivityDoesNotExist`.
    #[error("{0}")]
    ActivityNotFound(String),
    /// `ResourceNotFound`: a tagged resource that does not exist.
    #[error("{0}")]
    ResourceNotFound(String),
    /// `TooManyTags`.
    #[error("{0}")]
    TooManyTags(String),
    /// `StateMachineTypeNotSupported`: StartSyncExecution on a STANDARD machine.
    #[error("{0}")]
    MachineTypeNotSupported(String),
    /// `TaskDoesNotExist`: the token was never issued.
    #[error("{0}")]
    TaskDoesNotExist(String),
    /// `TaskTimedOut`: the token's task is no longer running.
    #[error("{0}")]
    TaskTimedOut(String),
    /// `StateMachineAlreadyExists`.
    #[error("{0}")]
    MachineAlreadyExists(String),
    /// `ExecutionAlreadyExists`.
    #[error("{0}")]
    ExecutionAlreadyExists(String),
    /// `InvalidDefinition`, with every diagnostic.
    #[error("the definition is invalid: {}", summarize(.0))]
    InvalidDefinition(Vec<Diagnostic>),
    /// `InvalidName`.
    #[error("{0}")]
    InvalidName(String),
    /// `InvalidArn`.
    #[error("{0}")]
    InvalidArn(String),
    /// `InvalidExecutionInput`.
    #[error("{0}")]
    InvalidInput(String),
    /// `InvalidOutput`.
    #[error("{0}")]
    InvalidOutput(String),
    /// Any other malformed argument (`ValidationException`).
    #[error("{0}")]
    InvalidArgument(String),
    /// The request does not fit the resource's state (an execution already ended, ...).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The store failed; nothing of the request was committed.
    #[error("{0}")]
    Unavailable(String),
    /// A stored record the request needs cannot be read (`InternalFailure`); it stays
    /// in the store as found, and nothing else is affected.
    #[error("{0}")]
    Damaged(String),
}

impl RuntimeError {
    /// The AWS Step Functions error code for this error, used by both APIs.
    pub fn aws_code(&self) -> &'static str {
        match self {
            RuntimeError::MachineNotFound(_) => "StateMachineDoesNotExist",
            RuntimeError::ExecutionNotFound(_) => "ExecutionDoesNotExist",
            RuntimeError::InvalidToken(_) => "InvalidToken",
            RuntimeError::ActivityNotFound(_) => "ActivityDoesNotExist",
            RuntimeError::ResourceNotFound(_) => "ResourceNotFound",
            RuntimeError::TooManyTags(_) => "TooManyTags",
            RuntimeError::MachineTypeNotSupported(_) => "StateMachineTypeNotSupported",
            RuntimeError::TaskDoesNotExist(_) => "TaskDoesNotExist",
            RuntimeError::TaskTimedOut(_) => "TaskTimedOut",
            RuntimeError::MachineAlreadyExists(_) => "StateMachineAlreadyExists",
            RuntimeError::ExecutionAlreadyExists(_) => "ExecutionAlreadyExists",
            RuntimeError::InvalidDefinition(_) => "InvalidDefinition",
            RuntimeError::InvalidName(_) => "InvalidName",
            RuntimeError::InvalidArn(_) => "InvalidArn",
            RuntimeError::InvalidInput(_) => "InvalidExecutionInput",
            RuntimeError::InvalidOutput(_) => "InvalidOutput",
            RuntimeError::InvalidArgument(_) => "ValidationException",
            RuntimeError::FailedPrecondition(_) => "InvalidState",
            RuntimeError::Unavailable(_) => "ServiceUnavailable",
            RuntimeError::Damaged(_) => "InternalFailure",
        }
    }
}

fn summarize(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .filter(|d| d.severity == validate::Severity::Error)
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<StoreError> for RuntimeError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Decode { key, reason } => RuntimeError::Damaged(format!(
                "the stored record {key} cannot be read ({reason}); it is kept as found, and nothing else is affected"
            )),
            other => RuntimeError::Unavailable(other.to_string()),
        }
    }
}

/// How the runtime behaves.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The region in ARNs.
    pub region: String,
    /// The account id in ARNs.
    pub account_id: String,
    /// The largest input, output or state payload, in bytes.
    pub max_payload_bytes: usize,
    /// The most events one execution may have (AWS: 25,000); reaching it fails the
    /// execution with `States.Runtime` (the engine enforces it).
    pub max_history_events: u64,
    /// The longest an Express execution may run (AWS: 5 minutes).
    pub express_max_seconds: u64,
    /// How many finished Express executions stay inspectable in memory.
    pub express_history: usize,
    /// Prices for usage estimates.
    pub prices: PriceTable,
    /// Partitions of a new data directory (an existing one keeps its recorded count).
    pub partitions: u16,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            max_payload_bytes: crate::asl::eval::DEFAULT_MAX_PAYLOAD_BYTES,
            max_history_events: 25_000,
            express_max_seconds: 300,
            express_history: 1000,
            prices: PriceTable::default(),
            partitions: crate::placement::DEFAULT_PARTITIONS,
        }
    }
}

/// A state machine as Describe shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineView {
    /// Its record.
    pub record: MachineRecord,
    /// The latest revision's definition.
    pub definition: String,
    /// Warnings about the definition.
    pub warnings: Vec<Diagnostic>,
}

/// An execution as Describe shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionView {
    /// Its record.
    pub record: ExecutionRecord,
    /// Its input.
    pub input: Value,
    /// For a finished Express execution: its billed duration and memory.
    pub billing: Option<ExpressBilling>,
}

/// A task handed to a poller.
#[derive(Debug, Clone, PartialEq)]
pub struct PolledTask {
    /// What the poller took.
    pub offer: Offer,
}

/// Events that just became durable.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The execution.
    pub execution: String,
    /// Its new events.
    pub events: Vec<Event>,
}

struct Inner {
    config: RuntimeConfig,
    arns: Arns,
    store: Arc<dyn Store>,
    committer: Committer,
    partitions: Partitions,
    queues: Queues,
    /// How many Express executions have finished (orders their inspection rings).
    express_finished: std::sync::atomic::AtomicU64,
    committed: broadcast::Sender<Arc<Committed>>,
    stop: tokio::sync::watch::Sender<bool>,
    metrics: metrics::Metrics,
    damaged: damaged::DamagedRecords,
    /// How far one JSONata evaluation may go, with the watch that ends slow ones.
    jsonata: crate::asl::jsonata::Limits,
    /// Serialises the read-modify-writes of state machines, activities and tags, which
    /// await the committer between read and write: concurrent updates each get their own
    /// revision, and a delete's clearing of tags cannot interleave with a TagResource.
    resource_writes: tokio::sync::Mutex<()>,
}

/// The runtime handle (cheap to clone).
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn record_of(execution: &Execution, revision: u32) -> ExecutionRecord {
    ExecutionRecord {
        arn: execution.identity.arn.clone(),
        name: execution.identity.name.clone(),
        machine_name: execution.identity.machine_name.clone(),
        machine_arn: execution.identity.machine_arn.clone(),
        revision,
        status: execution.status,
        output: execution.output.clone(),
        error: execution.error.clone(),
        cause: execution.cause.clone(),
        start_ms: execution.start_ms,
        stop_ms: execution.stop_ms,
        transitions: execution.transitions,
        last_event_id: execution.last_event_id,
    }
}

/// An EXPRESS machine may not use activities, `.sync` or `.waitForTaskToken`.
fn check_express(machine_type: MachineType, parsed: &validate::Parsed) -> Result<(), RuntimeError> {
    if machine_type != MachineType::Express {
        return Ok(());
    }
    let problems = crate::asl::express::express_problems(&parsed.machine);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(RuntimeError::InvalidDefinition(problems))
    }
}

/// Parses JSON text from a caller; `invalid` builds the error naming what was wrong.
fn parse_json(
    text: &str,
    what: &str,
    max_bytes: usize,
    invalid: fn(String) -> RuntimeError,
) -> Result<Value, RuntimeError> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    if text.len() > max_bytes {
        return Err(invalid(format!(
            "the {what} is {} bytes, more than the {max_bytes}-byte limit",
            text.len()
        )));
    }
    // Measured before parsing, so the message names the limit rather than serde_json's
    // own recursion limit, and nothing deeper than the engine accepts is ever stored.
    let depth = crate::asl::json::measure_text(text.as_bytes()).depth;
    if depth > MAX_NESTING {
        return Err(invalid(format!(
            "the {what} nests {depth} levels deep; at most {MAX_NESTING} levels are allowed"
        )));
    }
    serde_json::from_str(text).map_err(|e| invalid(format!("the {what} is not valid JSON: {e}")))
}

impl Runtime {
    /// Opens the runtime on a store: recovers every running execution, re-offers its
    /// unstarted tasks and re-arms its timers, then starts the timer service.
    pub async fn open(
        store: Arc<dyn Store>,
        config: RuntimeConfig,
    ) -> Result<Runtime, RuntimeError> {
        if !(1..=crate::placement::MAX_PARTITIONS).contains(&config.partitions) {
            return Err(RuntimeError::InvalidArgument(format!(
                "a data directory may have from 1 to {} partitions, not {}",
                crate::placement::MAX_PARTITIONS,
                config.partitions
            )));
        }
        let partitions = store.partition_count(config.partitions)?;
        if partitions != config.partitions {
            tracing::info!(
                partitions,
                "the data directory keeps the partition count it was created with"
            );
        }
        let (committed, _) = broadcast::channel(4096);
        let (stop, _) = tokio::sync::watch::channel(false);
        let arns = Arns {
            region: config.region.clone(),
            account_id: config.account_id.clone(),
        };
        let runtime = Runtime {
            inner: Arc::new(Inner {
                config,
                arns,
                committer: Committer::start(store.clone()),
                store,
                partitions: Partitions::new(partitions),
                queues: Queues::default(),
                express_finished: Default::default(),
                committed,
                stop,
                metrics: metrics::Metrics::default(),
                damaged: damaged::DamagedRecords::default(),
                jsonata: crate::asl::jsonata::Limits {
                    watch: Some(watchdog::Watchdog::start()),
                    ..Default::default()
                },
                resource_writes: tokio::sync::Mutex::new(()),
            }),
        };
        let express_starts = runtime.recover()?;
        for partition in runtime.inner.partitions.iter() {
            tokio::spawn(timer_loop(
                Arc::downgrade(&runtime.inner),
                partition.id,
                runtime.inner.stop.subscribe(),
            ));
        }
        // Asynchronous Express executions that had not finished start again from the
        // beginning (at-least-once).
        for start in express_starts {
            runtime.restart_express(start).await?;
        }
        Ok(runtime)
    }

    /// The metrics in Prometheus text format.
    pub fn metrics_text(&self) -> String {
        let mut text = self.inner.metrics.render(self.inner.committer.counts());
        self.inner.damaged.render_metrics(&mut text);
        text
    }

    /// Stored records recovery could not read and set aside (for `/health`).
    pub fn set_aside(&self) -> Vec<Damaged> {
        self.inner.damaged.set_aside_list()
    }

    /// The first step of a shutdown: ends long polls and live history feeds (gRPC
    /// watches, the console's live pages) and refuses new ones, and stops the timer
    /// service, so that nothing in flight waits for something that will not come.
    pub fn drain(&self) {
        self.inner.queues.close();
        let _ = self.inner.stop.send(true);
    }

    /// Commits everything submitted and flushes, waiting at most `limit`: a store whose
    /// disk hangs must not keep the process from ending (a restart recovers the last
    /// durable state).
    pub async fn shutdown(&self, limit: Duration) {
        self.drain();
        let inner = self.inner.clone();
        let closing = tokio::task::spawn_blocking(move || {
            inner.committer.close();
            // After a store failure nothing more can be made durable, and sled's flush on
            // a full disk blocks (seen with ENOSPC on a tmpfs).
            if inner.committer.failure().is_none()
                && let Err(e) = inner.store.flush()
            {
                tracing::error!("final flush failed: {e}");
            }
        });
        if tokio::time::timeout(limit, closing).await.is_err() {
            tracing::error!(
                "the store did not finish its last flush within {limit:?}; stopping anyway (a restart recovers the last durable state)"
            );
        }
    }

    /// The ARN builder.
    pub fn arns(&self) -> &Arns {
        &self.inner.arns
    }

    /// Reads what the store holds back into memory: usage counts, then each partition's
    /// running executions and timers, then the Express starts to run again.
    fn recover(&self) -> Result<Vec<crate::store::ExpressStart>, RuntimeError> {
        let store = &self.inner.store;
        let damaged = &self.inner.damaged;
        let partitions = &self.inner.partitions;
        for record in damaged.readable(store.usage()?, "usage record") {
            let partition = partitions.get(record.partition % partitions.count());
            partition
                .lock()
                .usage
                .insert((record.machine, record.hour), record.usage);
        }
        let mut running = vec![Vec::new(); usize::from(partitions.count())];
        let executions = store.running_executions()?;
        for record in executions.damaged {
            // It may have been running: say so loudly rather than skip it quietly.
            damaged.set_aside(record);
        }
        for record in executions.records {
            if record.status == Status::Running {
                running[usize::from(partitions.of_execution(&record.arn).id)].push(record);
            }
        }
        let mut timers = vec![Vec::new(); usize::from(partitions.count())];
        let stored_timers = store.timers()?;
        for record in stored_timers.damaged {
            damaged.set_aside(record);
        }
        for timer in stored_timers.records {
            timers[usize::from(partitions.of_execution(&timer.execution).id)].push(timer);
        }
        let mut stale = Batch::default();
        let mut recovered = 0usize;
        for ((partition, running), timers) in partitions.iter().zip(running).zip(timers) {
            recovered += self.recover_partition(partition, running, timers, &mut stale)?;
        }
        if !stale.is_empty() {
            store.write(&[&stale])?;
            store.flush()?;
        }
        tracing::info!(
            executions = recovered,
            partitions = partitions.count(),
            timers = partitions.iter().map(|p| p.timers.len()).sum::<usize>(),
            "recovered"
        );
        let express_starts = store.express_starts()?;
        for record in express_starts.damaged {
            damaged.set_aside(record);
        }
        let set_aside = damaged.set_aside_list();
        if !set_aside.is_empty() {
            tracing::error!(
                records = set_aside.len(),
                "recovery set aside stored records that cannot be read (listed above and at /health); everything else was recovered"
            );
        }
        Ok(express_starts.records)
    }

    /// Replays a partition's running executions, re-offers their unstarted tasks and
    /// re-arms their timers; timers of executions no longer running go into `stale`.
    /// Returns how many executions it recovered.
    fn recover_partition(
        &self,
        partition: &Partition,
        running: Vec<ExecutionRecord>,
        timers: Vec<TimerRecord>,
        stale: &mut Batch,
    ) -> Result<usize, RuntimeError> {
        let store = &self.inner.store;
        let now = now_ms();
        let mut live = partition.lock();
        for record in running {
            let set_aside = |what: &str, e: RuntimeError| {
                self.inner.damaged.set_aside(Damaged {
                    key: format!("x|{}", record.arn),
                    reason: format!("the running execution's {what} cannot be read: {e}"),
                })
            };
            let events = match store.events(&record.arn) {
                Ok(events) => events,
                Err(e @ StoreError::Decode { .. }) => {
                    set_aside("history", e.into());
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let identity = Identity {
                arn: record.arn.clone(),
                name: record.name.clone(),
                machine_arn: record.machine_arn.clone(),
                machine_name: record.machine_name.clone(),
            };
            let execution = Execution::replay(identity, &events);
            let machine =
                match self.machine_revision(&mut live, &record.machine_name, record.revision) {
                    Ok(machine) => machine,
                    Err(e @ RuntimeError::Damaged(_)) => {
                        set_aside("state machine revision", e);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
            for thread in execution.threads.values() {
                let Step::Task(task) = &thread.step else {
                    continue;
                };
                live.register_task(
                    &record.arn,
                    &task.queue,
                    &task.task_token,
                    &task.delivery_token,
                    task.poll_id.as_deref(),
                );
                if let Some(poll_id) = &task.poll_id {
                    self.inner
                        .queues
                        .remember_poll(poll_id, &record.arn, &task.delivery_token);
                }
                if task.started_ms.is_none() && !task.submitted {
                    self.inner
                        .queues
                        .offer(offer_of(&record.arn, &machine, thread, task, None));
                } else if let (Some(seconds), false) = (task.heartbeat_seconds, task.submitted) {
                    // Heartbeats are not persisted: a started task gets a fresh heartbeat
                    // window from the restart, so its worker has time to reconnect.
                    partition.timers.arm(
                        &record.arn,
                        TimerKey::Heartbeat {
                            token: task.task_token.clone(),
                        },
                        now + seconds as i64 * 1000,
                    );
                }
            }
            live.executions.insert(
                record.arn.clone(),
                Running {
                    execution,
                    machine,
                    revision: record.revision,
                    express: None,
                    traceparent: None,
                },
            );
        }
        for timer in timers {
            if live.executions.contains_key(&timer.execution) {
                partition
                    .timers
                    .arm(&timer.execution, timer.key, timer.due_ms);
            } else {
                stale.push(Write::DeleteTimer(timer));
            }
        }
        Ok(live.executions.len())
    }

    fn machine_revision(
        &self,
        live: &mut Live,
        name: &str,
        revision: u32,
    ) -> Result<Arc<Machine>, RuntimeError> {
        self.cached_revision(live, name, revision)
            .map(|(machine, _)| machine)
    }

    /// A revision parsed, with its definition's size in bytes, cached by (name, revision).
    fn cached_revision(
        &self,
        live: &mut Live,
        name: &str,
        revision: u32,
    ) -> Result<(Arc<Machine>, usize), RuntimeError> {
        if let Some(cached) = live.machines.get(&(name.to_string(), revision)) {
            return Ok(cached.clone());
        }
        let text = self
            .inner
            .store
            .revision(name, revision)?
            .ok_or_else(|| {
                RuntimeError::Damaged(format!(
                    "revision {revision} of state machine '{name}' is missing from the store"
                ))
            })?
            .definition;
        let parsed = validate::parse(&text).map_err(|d| {
            RuntimeError::Damaged(format!(
                "stored revision {revision} of '{name}' no longer validates: {}",
                summarize(&d)
            ))
        })?;
        let cached = (Arc::new(Machine::new(parsed.machine)), text.len());
        live.machines
            .insert((name.to_string(), revision), cached.clone());
        Ok(cached)
    }

    async fn commit(&self, batch: Batch) -> Result<(), RuntimeError> {
        match self.inner.committer.submit(batch).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(RuntimeError::Unavailable("the committer stopped".into())),
        }
    }

    // ---- state machines -------------------------------------------------------------

    /// Creates a state machine (idempotent for the same definition and type).
    pub async fn create_machine(
        &self,
        name: &str,
        definition: &str,
        machine_type: MachineType,
        role_arn: Option<&str>,
    ) -> Result<MachineView, RuntimeError> {
        check_name("state machine", name)?;
        let parsed = validate::parse(definition).map_err(RuntimeError::InvalidDefinition)?;
        check_express(machine_type, &parsed)?;
        let _serial = self.inner.resource_writes.lock().await;
        if let Some(existing) = self.inner.store.machine(name)? {
            let current = self
                .inner
                .store
                .revision(name, existing.revision)?
                .map(|r| r.definition)
                .unwrap_or_default();
            if current == definition && existing.machine_type == machine_type {
                return Ok(MachineView {
                    record: existing,
                    definition: current,
                    warnings: parsed.warnings,
                });
            }
            return Err(RuntimeError::MachineAlreadyExists(format!(
                "a state machine named '{name}' already exists with a different definition or type; use UpdateStateMachine"
            )));
        }
        let now = now_ms();
        let record = MachineRecord {
            name: name.to_string(),
            arn: self.inner.arns.machine(name),
            machine_type,
            revision: 1,
            created_ms: now,
            updated_ms: now,
            role_arn: role_arn.map(str::to_string),
        };
        self.store_revision(record, definition, parsed.warnings)
            .await
    }

    /// Stores a new revision of a state machine's definition.
    pub async fn update_machine(
        &self,
        name_or_arn: &str,
        definition: &str,
        role_arn: Option<&str>,
    ) -> Result<MachineView, RuntimeError> {
        let name = self.inner.arns.machine_name(name_or_arn)?;
        let parsed = validate::parse(definition).map_err(RuntimeError::InvalidDefinition)?;
        let _serial = self.inner.resource_writes.lock().await;
        let mut record = self.machine_record(&name)?;
        check_express(record.machine_type, &parsed)?;
        record.revision += 1;
        record.updated_ms = now_ms();
        if let Some(role_arn) = role_arn {
            record.role_arn = Some(role_arn.to_string());
        }
        self.store_revision(record, definition, parsed.warnings)
            .await
    }

    /// Writes `record` with its latest revision's definition.
    async fn store_revision(
        &self,
        record: MachineRecord,
        definition: &str,
        warnings: Vec<Diagnostic>,
    ) -> Result<MachineView, RuntimeError> {
        let mut batch = Batch::default();
        batch.push(Write::PutRevision {
            machine: record.name.clone(),
            revision: record.revision,
            definition: definition.to_string(),
            stored_ms: record.updated_ms,
        });
        batch.push(Write::PutMachine(record.clone()));
        self.commit(batch).await?;
        Ok(MachineView {
            record,
            definition: definition.to_string(),
            warnings,
        })
    }

    fn machine_record(&self, name: &str) -> Result<MachineRecord, RuntimeError> {
        self.inner.store.machine(name)?.ok_or_else(|| {
            RuntimeError::MachineNotFound(format!("state machine '{name}' does not exist"))
        })
    }

    /// A state machine with its latest definition.
    pub async fn describe_machine(&self, name_or_arn: &str) -> Result<MachineView, RuntimeError> {
        self.settled(self.machine_view(name_or_arn)).await
    }

    fn machine_view(&self, name_or_arn: &str) -> Result<MachineView, RuntimeError> {
        let name = self.inner.arns.machine_name(name_or_arn)?;
        let record = self.machine_record(&name)?;
        let definition = self
            .inner
            .store
            .revision(&name, record.revision)?
            .map(|r| r.definition)
            .unwrap_or_default();
        let warnings = validate::parse(&definition)
            .map(|p| p.warnings)
            .unwrap_or_default();
        Ok(MachineView {
            record,
            definition,
            warnings,
        })
    }

    /// The state machine an execution runs, as it was at the execution's revision:
    /// `record.revision` is that revision and `record.updated_ms` when it was stored.
    /// Answers for a state machine deleted since, from the execution's own record.
    pub async fn describe_machine_for_execution(
        &self,
        arn: &str,
    ) -> Result<MachineView, RuntimeError> {
        if self.inner.arns.is_express(arn) {
            // AWS: "This API action is not supported by EXPRESS state machines."
            self.inner.arns.execution_machine(arn)?;
            return Err(RuntimeError::MachineTypeNotSupported(format!(
                "DescribeStateMachineForExecution does not support EXPRESS executions such as {arn}"
            )));
        }
        let view = (|| {
            let execution = self.stored_execution(arn)?;
            let name = &execution.machine_name;
            let revision = self
                .inner
                .store
                .revision(name, execution.revision)?
                .ok_or_else(|| {
                    RuntimeError::Damaged(format!(
                        "revision {} of state machine '{name}', which {arn} runs, is missing from the store",
                        execution.revision
                    ))
                })?;
            let current = self.inner.store.machine(name)?;
            let created_ms = current
                .as_ref()
                .map_or(execution.start_ms, |m| m.created_ms);
            // Revisions stored before they carried a time: the machine's own dates.
            let updated_ms = revision.stored_ms.unwrap_or(match &current {
                Some(m) if m.revision == execution.revision => m.updated_ms,
                _ => created_ms,
            });
            let warnings = validate::parse(&revision.definition)
                .map(|p| p.warnings)
                .unwrap_or_default();
            Ok(MachineView {
                record: MachineRecord {
                    name: name.clone(),
                    arn: execution.machine_arn.clone(),
                    machine_type: MachineType::Standard,
                    revision: execution.revision,
                    created_ms,
                    updated_ms,
                    role_arn: current.as_ref().and_then(|m| m.role_arn.clone()),
                },
                definition: revision.definition,
                warnings,
            })
        })();
        self.settled(view).await
    }

    /// Every state machine, by name.
    pub async fn list_machines(&self) -> Result<Vec<MachineRecord>, RuntimeError> {
        let machines = self.inner.store.machines()?;
        self.settled(Ok(self.inner.damaged.readable(machines, "state machine")))
            .await
    }

    /// Deletes a state machine; running executions finish on their revision.
    pub async fn delete_machine(&self, name_or_arn: &str) -> Result<(), RuntimeError> {
        let name = self.inner.arns.machine_name(name_or_arn)?;
        // Held so a concurrent TagResource cannot write tags after the delete clears them.
        let _serial = self.inner.resource_writes.lock().await;
        self.machine_record(&name)?;
        let mut batch = Batch::default();
        // A machine re-created under the same name starts untagged, as on AWS.
        batch.push(Write::PutTags {
            arn: self.inner.arns.machine(&name),
            tags: Vec::new(),
        });
        batch.push(Write::DeleteMachine(name));
        self.commit(batch).await
    }

    // ---- executions -----------------------------------------------------------------

    /// Starts an execution. Returns its ARN and start time.
    pub async fn start_execution(
        &self,
        machine: &str,
        name: Option<&str>,
        input: &str,
    ) -> Result<(String, i64), RuntimeError> {
        let machine_name = self.inner.arns.machine_name(machine)?;
        let name = self.execution_name(name)?;
        let input = parse_json(
            input,
            "execution input",
            self.inner.config.max_payload_bytes,
            RuntimeError::InvalidInput,
        )?;
        let record = self.machine_record(&machine_name)?;
        if record.machine_type == MachineType::Express {
            let started = self.start_express(&record, &name, input, None).await?;
            return Ok((started.arn, started.start_ms));
        }
        let arn = self.inner.arns.execution(&machine_name, &name);
        let partition = self.inner.partitions.of_execution(&arn);
        let started = {
            let mut live = partition.lock();
            if let Some(existing) = self.existing_execution(&live, &machine_name, &name, &arn)? {
                // AWS: the same name and input as a running execution returns it;
                // anything else is ExecutionAlreadyExists. An execution started a moment
                // ago by a concurrent call may not be in the store yet: its input is in
                // memory, and its batch was submitted before this lock was released.
                let same = existing.status == Status::Running
                    && match live.executions.get(&arn) {
                        Some(running) => running.execution.input == input,
                        None => self.execution_input(&existing.arn)? == input,
                    };
                if same {
                    Err((existing.arn, existing.start_ms))
                } else {
                    return Err(RuntimeError::ExecutionAlreadyExists(format!(
                        "an execution named '{name}' of '{machine_name}' already exists ({}) with {}",
                        existing.status.as_str(),
                        if existing.status == Status::Running {
                            "a different input"
                        } else {
                            "that name; names are not reused"
                        }
                    )));
                }
            } else {
                let machine = self.machine_revision(&mut live, &machine_name, record.revision)?;
                let identity = Identity {
                    arn: arn.clone(),
                    name: name.clone(),
                    machine_arn: record.arn.clone(),
                    machine_name: machine_name.clone(),
                };
                let mut running = Running {
                    execution: Execution::new(identity),
                    machine,
                    revision: record.revision,
                    express: None,
                    // The trace of the StartExecution call continues through its tasks.
                    traceparent: stepwise_proto::trace::current_traceparent(),
                };
                let command = Command::Start {
                    input,
                    role_arn: self.role_of(record.role_arn.as_deref()),
                    timeout_seconds: None,
                };
                let step = self.step(partition, &mut live, &mut running, command, None)?;
                live.executions.insert(arn.clone(), running);
                Ok(step)
            }
        };
        match started {
            Ok((durable, effects, committed)) => {
                let start_ms = self.finish_step(&arn, durable, effects, committed).await?;
                Ok((arn, start_ms))
            }
            // The start this call repeats: answered once it is durable.
            Err(repeated) => self.settled(Ok(repeated)).await,
        }
    }

    fn existing_execution(
        &self,
        live: &Live,
        machine: &str,
        name: &str,
        arn: &str,
    ) -> Result<Option<ExecutionRecord>, RuntimeError> {
        if let Some(running) = live.executions.get(arn) {
            return Ok(Some(record_of(&running.execution, running.revision)));
        }
        match self.inner.store.execution_named(machine, name)? {
            Some(arn) => Ok(self.inner.store.execution(&arn)?),
            None => Ok(None),
        }
    }

    fn execution_input(&self, arn: &str) -> Result<Value, RuntimeError> {
        let first = self.inner.store.first_event(arn)?;
        Ok(match first.as_ref().map(|e| &e.kind) {
            Some(EventKind::ExecutionStarted { input, .. }) => input.clone(),
            _ => Value::Null,
        })
    }

    /// Applies a command under the lock and prepares its batch; the caller commits it
    /// (outside the lock) and then releases the effects.
    fn step(
        &self,
        partition: &Partition,
        live: &mut Live,
        running: &mut Running,
        command: Command,
        fired: Option<TimerRecord>,
    ) -> Result<(Pending, Vec<Effect>, Committed), RuntimeError> {
        let arn = running.execution.identity.arn.clone();
        let transitions_before = running.execution.transitions;
        let mut env = engine::Env {
            now_ms: now_ms(),
            random: &mut live.random,
            max_payload_bytes: self.inner.config.max_payload_bytes,
            max_history_events: self.inner.config.max_history_events,
            jsonata: &self.inner.jsonata,
        };
        let outcome = engine::apply(&mut running.execution, &running.machine, command, &mut env)
            .map_err(|e| match e {
                CommandError::UnknownToken | CommandError::AlreadyStarted => {
                    RuntimeError::TaskTimedOut(format!(
                        "the task for this token is no longer running in {arn}"
                    ))
                }
                CommandError::NotRunning(status) => RuntimeError::FailedPrecondition(format!(
                    "the execution {arn} has already ended ({status})"
                )),
                CommandError::ExecutionAlreadyStarted => RuntimeError::ExecutionAlreadyExists(
                    format!("the execution {arn} already started"),
                ),
            })?;
        let mut withdraw = Vec::new();
        // Express executions keep their history and timers in memory: nothing per
        // transition reaches the store (usage is added by `account`).
        let mut batch = if running.express.is_none() {
            effects::step_writes(
                &outcome,
                &running.execution,
                running.revision,
                fired,
                || partition.timers.of_execution(&arn),
            )
        } else {
            Batch::default()
        };
        // The poll that took a task (its idempotency key) is known only from its
        // TaskStarted event; everything else comes from the effects below.
        for event in &outcome.events {
            if let EventKind::TaskStarted {
                thread,
                poll_id: Some(poll_id),
                ..
            } = &event.kind
                && let Some(task) = running.execution.pending_task(*thread)
            {
                if let Some(info) = live.tokens.get_mut(&task.delivery_token) {
                    info.poll_id = Some(poll_id.clone());
                }
                self.inner
                    .queues
                    .remember_poll(poll_id, &arn, &task.delivery_token);
            }
        }
        for effect in &outcome.effects {
            match effect {
                Effect::OfferTask {
                    task_token,
                    delivery_token,
                    queue,
                    ..
                } => live.register_task(&arn, queue, task_token, delivery_token, None),
                Effect::CloseTask {
                    task_token,
                    delivery_token,
                    why,
                } => {
                    for token in [task_token, delivery_token] {
                        if let Some(info) = live.retire(token, *why) {
                            if let Some(poll_id) = &info.poll_id {
                                self.inner.queues.forget_poll(poll_id);
                            }
                            if token == delivery_token {
                                withdraw.push((info.queue, token.clone()));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        self.account(
            partition.id,
            live,
            running,
            transitions_before,
            &outcome.events,
            &mut batch,
        );
        let metrics = &self.inner.metrics;
        metrics.transitions(running.execution.transitions - transitions_before);
        for event in &outcome.events {
            tracing::debug!(execution = %arn, id = event.id, event = %event.kind.type_name(), "transition");
            match &event.kind {
                EventKind::ExecutionStarted { .. } => metrics.execution_started(),
                kind if kind.is_terminal() => metrics.execution_ended(running.execution.status),
                _ => {}
            }
        }
        let durable = if batch.is_empty() {
            None
        } else {
            Some(self.inner.committer.submit(batch))
        };
        Ok((
            Pending { durable, withdraw },
            outcome.effects,
            Committed {
                execution: arn,
                events: outcome.events,
            },
        ))
    }

    /// Waits for a step's batch and releases its effects. Returns the execution's start
    /// time (for StartExecution).
    async fn finish_step(
        &self,
        arn: &str,
        mut pending: Pending,
        effects: Vec<Effect>,
        committed: Committed,
    ) -> Result<i64, RuntimeError> {
        if let Some(durable) = pending.durable.take() {
            let waited = std::time::Instant::now();
            let result = match durable.await {
                Ok(result) => result.map_err(RuntimeError::from),
                Err(_) => Err(RuntimeError::Unavailable("the committer stopped".into())),
            };
            self.inner.metrics.commit_latency.observe(waited.elapsed());
            if let Err(e) = result {
                // What is in memory is ahead of the store: drop it and rebuild the
                // execution from what the store has, so the two agree again.
                self.reload(arn);
                return Err(e);
            }
        }
        for (queue, token) in &pending.withdraw {
            self.inner.queues.withdraw(queue, token);
        }
        let partition = self.inner.partitions.of_execution(arn);
        self.release(partition, arn, effects);
        let start_ms = {
            let mut live = partition.lock();
            let start = live.executions.get(arn).map(|r| r.execution.start_ms);
            if live
                .executions
                .get(arn)
                .is_some_and(|r| r.execution.status != Status::Running)
                && let Some(finished) = live.executions.remove(arn)
                && let Some(run) = finished.express
            {
                self.finish_express(&mut live, finished.execution, finished.revision, run);
            }
            start
        };
        if !committed.events.is_empty() {
            let _ = self.inner.committed.send(Arc::new(committed));
        }
        Ok(start_ms.unwrap_or_default())
    }

    fn reload(&self, arn: &str) {
        let mut live = self.inner.partitions.of_execution(arn).lock();
        let Some(running) = live.executions.remove(arn) else {
            return;
        };
        if running.express.is_some() {
            // Express state lives in memory only; there is nothing to reload it from.
            live.executions.insert(arn.to_string(), running);
            return;
        }
        match (
            self.inner.store.execution(arn),
            self.inner.store.events(arn),
        ) {
            (Ok(Some(record)), Ok(events)) if record.status == Status::Running => {
                let execution = Execution::replay(running.execution.identity.clone(), &events);
                live.executions.insert(
                    arn.to_string(),
                    Running {
                        execution,
                        machine: running.machine,
                        revision: running.revision,
                        express: None,
                        traceparent: running.traceparent,
                    },
                );
            }
            _ => tracing::error!(
                execution = arn,
                "could not reload the execution after a failed commit"
            ),
        }
    }

    fn release(&self, partition: &Partition, arn: &str, effects: Vec<Effect>) {
        let live = partition.lock();
        let running = live.executions.get(arn);
        for effect in effects {
            match effect {
                Effect::OfferTask {
                    delivery_token,
                    queue,
                    state_name,
                    input,
                    heartbeat_seconds,
                    timeout_seconds,
                    ..
                } => {
                    if live.tokens.contains_key(&delivery_token) {
                        self.inner.queues.offer(Offer {
                            token: delivery_token,
                            queue,
                            execution: arn.to_string(),
                            state_name,
                            input,
                            heartbeat_seconds,
                            timeout_seconds,
                            traceparent: running.and_then(|r| r.traceparent.clone()),
                        });
                    }
                }
                // Withdrawn from the queue through `Pending::withdraw`.
                Effect::CloseTask { .. } => {}
                Effect::ArmTimer { key, due_ms } => partition.timers.arm(arn, key, due_ms),
                Effect::CancelTimer { key, .. } => partition.timers.cancel(arn, &key),
            }
        }
        if running.is_none_or(|r| r.execution.status != Status::Running) {
            partition.timers.cancel_execution(arn);
        }
    }

    /// Runs a command against a running execution and waits until it is durable.
    async fn command(
        &self,
        arn: &str,
        command: Command,
        fired: Option<TimerRecord>,
    ) -> Result<(), RuntimeError> {
        let partition = self.inner.partitions.of_execution(arn);
        let (pending, effects, committed) = {
            let mut live = partition.lock();
            let Some(mut running) = live.executions.remove(arn) else {
                drop(live);
                return Err(self.not_running(arn));
            };
            let result = self.step(partition, &mut live, &mut running, command, fired);
            live.executions.insert(arn.to_string(), running);
            result?
        };
        self.finish_step(arn, pending, effects, committed)
            .await
            .map(|_| ())
    }

    fn not_running(&self, arn: &str) -> RuntimeError {
        match self.stored_execution(arn) {
            Ok(record) => RuntimeError::FailedPrecondition(format!(
                "the execution {arn} has already ended ({})",
                record.status.as_str()
            )),
            Err(e) => e,
        }
    }

    /// Stops a running execution.
    pub async fn stop_execution(
        &self,
        arn: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<i64, RuntimeError> {
        self.inner.arns.execution_machine(arn)?;
        limits::check_error_and_cause(
            error.as_deref().unwrap_or_default(),
            cause.as_deref().unwrap_or_default(),
        )?;
        self.command(arn, Command::Stop { error, cause }, None)
            .await?;
        Ok(self.stored_execution(arn)?.stop_ms.unwrap_or_else(now_ms))
    }

    /// An execution's record and input.
    pub async fn describe_execution(&self, arn: &str) -> Result<ExecutionView, RuntimeError> {
        self.settled(self.execution_view(arn)).await
    }

    /// An execution's record: Describe without reading the input.
    pub async fn execution_record(&self, arn: &str) -> Result<ExecutionRecord, RuntimeError> {
        let record = if self.inner.arns.is_express(arn) {
            self.express_view(arn).map(|(view, _)| view.record)
        } else {
            self.stored_execution(arn)
        };
        self.settled(record).await
    }

    /// A Standard execution's stored record (without its input), or ExecutionNotFound.
    fn stored_execution(&self, arn: &str) -> Result<ExecutionRecord, RuntimeError> {
        self.inner.arns.execution_machine(arn)?;
        self.inner.store.execution(arn)?.ok_or_else(|| {
            RuntimeError::ExecutionNotFound(format!("execution {arn} does not exist"))
        })
    }

    fn execution_view(&self, arn: &str) -> Result<ExecutionView, RuntimeError> {
        self.inner.arns.execution_machine(arn)?;
        if self.inner.arns.is_express(arn) {
            return self.express_view(arn).map(|(view, _)| view);
        }
        let record = self.stored_execution(arn)?;
        let input = self.execution_input(arn)?;
        Ok(ExecutionView {
            record,
            input,
            billing: None,
        })
    }

    /// A page of a state machine's executions, newest first, optionally of one status,
    /// with the token of the next page (a cursor: see `paging`).
    pub async fn list_executions(
        &self,
        machine: &str,
        status: Option<Status>,
        page: &paging::PageRequest,
    ) -> Result<(Vec<ExecutionRecord>, Option<String>), RuntimeError> {
        self.settled(self.execution_page(machine, status, page))
            .await
    }

    fn execution_page(
        &self,
        machine: &str,
        status: Option<Status>,
        page: &paging::PageRequest,
    ) -> Result<(Vec<ExecutionRecord>, Option<String>), RuntimeError> {
        let name = self.inner.arns.machine_name(machine)?;
        let after = page.cursor()?;
        if self.inner.store.machine(&name)?.is_none() {
            return Err(RuntimeError::MachineNotFound(format!(
                "state machine '{name}' does not exist"
            )));
        }
        let found =
            self.inner
                .store
                .machine_executions(&name, status, after.as_deref(), page.size)?;
        let records = self.inner.damaged.readable(found.records, "execution");
        Ok((records, found.next.as_deref().map(paging::cursor_token)))
    }

    /// How many executions of each state machine are in each status (for the console's
    /// list; counters kept by the store, not a scan).
    pub async fn execution_counts(
        &self,
    ) -> Result<HashMap<String, HashMap<Status, u64>>, RuntimeError> {
        let counts = self.inner.store.execution_counts()?;
        self.settled(Ok(counts)).await
    }

    /// The definition an execution runs (its machine's revision at its start).
    pub async fn execution_definition(&self, arn: &str) -> Result<Arc<Machine>, RuntimeError> {
        let record = self.execution_record(arn).await?;
        self.revision_definition(&record.machine_name, record.revision)
    }

    /// A state machine revision, parsed (from the revision cache).
    pub fn revision_definition(
        &self,
        name: &str,
        revision: u32,
    ) -> Result<Arc<Machine>, RuntimeError> {
        // Any partition's cache will do; the name spreads machines over them.
        let mut live = self.inner.partitions.of_execution(name).lock();
        self.machine_revision(&mut live, name, revision)
    }

    /// An execution's whole history.
    pub async fn history(&self, arn: &str) -> Result<Vec<Event>, RuntimeError> {
        self.settled(self.events_of(arn)).await
    }

    fn events_of(&self, arn: &str) -> Result<Vec<Event>, RuntimeError> {
        if self.inner.arns.is_express(arn) {
            return self.express_view(arn).map(|(_, history)| history);
        }
        // The record says whether it exists; the input (in the first event) is not needed.
        self.stored_execution(arn)?;
        Ok(self.inner.store.events(arn)?)
    }

    /// `read`'s answer once nothing it could have seen can still be lost to a crash: the
    /// store and memory run ahead of the disk by up to one group commit.
    async fn settled<T>(&self, read: Result<T, RuntimeError>) -> Result<T, RuntimeError> {
        let value = read?;
        self.inner.committer.settled().await?;
        Ok(value)
    }

    /// Fails once the store has failed, for calls that would otherwise not notice.
    fn check_store(&self) -> Result<(), RuntimeError> {
        match self.inner.committer.failure() {
            Some(failure) => Err(failure.into()),
            None => Ok(()),
        }
    }

    /// Why the server cannot serve requests, if it cannot (for `/health`).
    pub fn store_failure(&self) -> Option<String> {
        self.inner.committer.failure().map(|f| f.to_string())
    }

    // ---- tasks ----------------------------------------------------------------------

    /// Long-polls `queues` (names or activity ARNs) for up to `wait`. A poll that repeats
    /// an earlier `poll_id` gets the task that poll started, if it is still running.
    pub async fn poll(
        &self,
        queues: &[String],
        worker_name: &str,
        wait: Duration,
        poll_id: Option<&str>,
    ) -> Result<Option<Offer>, RuntimeError> {
        // An empty poll writes nothing, so it would not notice a failed store by itself.
        self.check_store()?;
        if queues.is_empty() {
            return Err(RuntimeError::InvalidArgument(
                "PollTask needs at least one queue".into(),
            ));
        }
        limits::check_length("workerName", worker_name, 0, limits::MAX_WORKER_NAME_CHARS)?;
        let names: Vec<String> = queues
            .iter()
            .map(|q| self.inner.arns.activity_name(q))
            .collect::<Result<_, _>>()?;
        if let Some(offer) = poll_id.and_then(|id| self.repeated_poll(id)) {
            return Ok(Some(offer));
        }
        let wait = wait.min(Duration::from_secs(MAX_POLL_SECONDS));
        let polled_at = std::time::Instant::now();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let Some(offer) = self.inner.queues.take_or_wait(&names, deadline).await else {
                self.inner.metrics.poll_wait.observe(polled_at.elapsed());
                return Ok(None);
            };
            // Record TaskStarted in its own task, so that a poller that goes away
            // mid-commit does not leave a task taken but never started.
            let runtime = self.clone();
            let command = Command::TaskStarted {
                token: offer.token.clone(),
                worker_name: worker_name.to_string(),
                poll_id: poll_id.map(str::to_string),
            };
            let execution = offer.execution.clone();
            let started =
                tokio::spawn(async move { runtime.command(&execution, command, None).await });
            match started.await {
                Ok(Ok(())) => {
                    self.inner.metrics.poll_wait.observe(polled_at.elapsed());
                    self.inner.metrics.task_dispatched();
                    tracing::debug!(execution = %offer.execution, queue = %offer.queue, state = %offer.state_name, worker = worker_name, "task handed to a worker");
                    return Ok(Some(offer));
                }
                Ok(Err(RuntimeError::Unavailable(e))) => {
                    self.inner.queues.offer(offer);
                    return Err(RuntimeError::Unavailable(e));
                }
                // Finished, aborted or already started elsewhere: look for another.
                Ok(Err(_)) => continue,
                Err(join) => {
                    return Err(RuntimeError::Unavailable(format!(
                        "starting the task failed: {join}"
                    )));
                }
            }
        }
    }

    /// The task an earlier poll with this id started, if it is still running.
    fn repeated_poll(&self, poll_id: &str) -> Option<Offer> {
        let (execution, delivery) = self.inner.queues.poll_of(poll_id)?;
        let live = self.inner.partitions.of_execution(&execution).lock();
        let running = live.executions.get(&execution)?;
        let thread_id = *running.execution.tokens.get(&delivery)?;
        let task = running.execution.pending_task(thread_id)?;
        let thread = running.execution.threads.get(&thread_id)?;
        (task.poll_id.as_deref() == Some(poll_id)).then(|| {
            offer_of(
                &execution,
                &running.machine,
                thread,
                task,
                running.traceparent.clone(),
            )
        })
    }

    fn token_execution(&self, token: &str) -> Result<String, RuntimeError> {
        limits::check_length("taskToken", token, 1, limits::MAX_TOKEN_CHARS)?;
        let mut retired = None;
        for partition in self.inner.partitions.of_token(token) {
            let live = partition.lock();
            if let Some(info) = live.tokens.get(token) {
                return Ok(info.execution.clone());
            }
            if retired.is_none() {
                retired = live.retired(token).cloned();
            }
        }
        if let Some((execution, why)) = retired {
            // AWS's TaskTimedOut covers every such token ("the task token has either
            // expired or the task associated with the token has already been closed");
            // the message says which, so a worker's log does not alarm anyone when its
            // task was simply cancelled.
            let what = match why {
                TaskClosed::Reported => "already has its result",
                TaskClosed::TimedOut => "timed out (its TimeoutSeconds or HeartbeatSeconds passed)",
                TaskClosed::Aborted => {
                    "was cancelled: its state was aborted (the execution ended, or a Parallel branch or Map iteration beside it failed)"
                }
            };
            return Err(RuntimeError::TaskTimedOut(format!(
                "the task for this token {what} (execution {execution})"
            )));
        }
        Err(RuntimeError::TaskDoesNotExist(
            "no task has this token (it was never issued, or it ended before the server last restarted)".into(),
        ))
    }

    /// SendTaskSuccess.
    pub async fn send_success(&self, token: &str, output: &str) -> Result<(), RuntimeError> {
        let output = parse_json(
            output,
            "task output",
            self.inner.config.max_payload_bytes,
            RuntimeError::InvalidOutput,
        )?;
        let execution = self.token_execution(token)?;
        self.command(
            &execution,
            Command::TaskSucceeded {
                token: token.to_string(),
                output,
            },
            None,
        )
        .await
    }

    /// SendTaskFailure.
    pub async fn send_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), RuntimeError> {
        limits::check_error_and_cause(error, cause)?;
        let execution = self.token_execution(token)?;
        self.command(
            &execution,
            Command::TaskFailed {
                token: token.to_string(),
                error: error.to_string(),
                cause: cause.to_string(),
            },
            None,
        )
        .await
    }

    /// SendTaskHeartbeat: pushes the task's heartbeat deadline out by HeartbeatSeconds.
    pub fn heartbeat(&self, token: &str) -> Result<(), RuntimeError> {
        // A heartbeat writes nothing, so it would not notice a failed store by itself.
        self.check_store()?;
        let execution = self.token_execution(token)?;
        let partition = self.inner.partitions.of_execution(&execution);
        let live = partition.lock();
        let task = live
            .executions
            .get(&execution)
            .and_then(|r| {
                r.execution
                    .tokens
                    .get(token)
                    .and_then(|t| r.execution.pending_task(*t))
            })
            .ok_or_else(|| {
                RuntimeError::TaskTimedOut("the task for this token is no longer running".into())
            })?;
        if let (Some(seconds), Some(_)) = (task.heartbeat_seconds, task.started_ms) {
            partition.timers.arm(
                &execution,
                TimerKey::Heartbeat {
                    token: task.task_token.clone(),
                },
                now_ms() + seconds as i64 * 1000,
            );
        }
        Ok(())
    }

    /// Checks that replaying the stored history of an execution rebuilds the state the
    /// runtime holds (in memory while it runs) and the stored record. An error names what
    /// differs.
    pub fn verify_replay(&self, arn: &str) -> Result<(), RuntimeError> {
        let record = self.stored_execution(arn)?;
        let events = self.inner.store.events(arn)?;
        let identity = Identity {
            arn: record.arn.clone(),
            name: record.name.clone(),
            machine_arn: record.machine_arn.clone(),
            machine_name: record.machine_name.clone(),
        };
        let replayed = Execution::replay(identity, &events);
        let mismatch = |what: &str| {
            Err(RuntimeError::FailedPrecondition(format!(
                "replaying {arn} gives a different {what}"
            )))
        };
        if record_of(&replayed, record.revision) != record {
            return mismatch("record");
        }
        let live = self.inner.partitions.of_execution(arn).lock();
        if let Some(running) = live.executions.get(arn)
            && running.execution != replayed
        {
            return mismatch("in-memory state");
        }
        Ok(())
    }

    /// Adds or replaces tags on a state machine or activity (at most 50 in all).
    pub async fn tag_resource(
        &self,
        arn: &str,
        tags: &[(String, String)],
    ) -> Result<(), RuntimeError> {
        check_tags(tags)?;
        let _serial = self.inner.resource_writes.lock().await;
        let mut current = self.tagged_resource(arn)?;
        for (key, value) in tags {
            current.retain(|(k, _)| k != key);
            current.push((key.clone(), value.clone()));
        }
        if current.len() > MAX_TAGS {
            return Err(RuntimeError::TooManyTags(format!(
                "{arn} would have {} tags; at most {MAX_TAGS} are allowed",
                current.len()
            )));
        }
        current.sort();
        let mut batch = Batch::default();
        batch.push(Write::PutTags {
            arn: arn.to_string(),
            tags: current,
        });
        self.commit(batch).await
    }

    /// Removes tags by key.
    pub async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), RuntimeError> {
        let _serial = self.inner.resource_writes.lock().await;
        let mut current = self.tagged_resource(arn)?;
        current.retain(|(k, _)| !keys.contains(k));
        let mut batch = Batch::default();
        batch.push(Write::PutTags {
            arn: arn.to_string(),
            tags: current,
        });
        self.commit(batch).await
    }

    /// A resource's tags, sorted by key.
    pub async fn list_tags(&self, arn: &str) -> Result<Vec<(String, String)>, RuntimeError> {
        self.settled(self.tagged_resource(arn)).await
    }

    /// The current tags of an existing state machine or activity.
    fn tagged_resource(&self, arn: &str) -> Result<Vec<(String, String)>, RuntimeError> {
        let missing = || {
            RuntimeError::ResourceNotFound(format!(
                "{arn} is not a state machine or activity of this server"
            ))
        };
        let exists = if arn.contains(":stateMachine:") {
            let name = self.inner.arns.machine_name(arn).map_err(|_| missing())?;
            self.inner.store.machine(&name)?.is_some()
        } else if arn.contains(":activity:") {
            let name = self.inner.arns.activity_name(arn).map_err(|_| missing())?;
            self.inner.store.activity(&name)?.is_some()
        } else {
            false
        };
        if !exists {
            return Err(missing());
        }
        Ok(self.inner.store.tags(arn)?)
    }

    /// Tasks waiting on a queue (for tests and metrics).
    pub fn queued(&self, queue: &str) -> usize {
        self.inner.queues.len(queue)
    }

    /// Executions running in memory (for tests and metrics).
    pub fn running(&self) -> usize {
        self.inner
            .partitions
            .iter()
            .map(|p| p.lock().executions.len())
            .sum()
    }

    // ---- activities -----------------------------------------------------------------

    /// Creates an activity (idempotent).
    pub async fn create_activity(&self, name: &str) -> Result<ActivityRecord, RuntimeError> {
        check_name("activity", name)?;
        let _serial = self.inner.resource_writes.lock().await;
        if let Some(existing) = self.inner.store.activity(name)? {
            return Ok(existing);
        }
        let record = ActivityRecord {
            name: name.to_string(),
            arn: self.inner.arns.activity(name),
            created_ms: now_ms(),
        };
        let mut batch = Batch::default();
        batch.push(Write::PutActivity(record.clone()));
        self.commit(batch).await?;
        Ok(record)
    }

    /// An activity.
    pub async fn describe_activity(
        &self,
        name_or_arn: &str,
    ) -> Result<ActivityRecord, RuntimeError> {
        self.settled(self.activity_record(name_or_arn)).await
    }

    fn activity_record(&self, name_or_arn: &str) -> Result<ActivityRecord, RuntimeError> {
        let name = self.inner.arns.activity_name(name_or_arn)?;
        self.inner.store.activity(&name)?.ok_or_else(|| {
            RuntimeError::ActivityNotFound(format!("activity '{name}' does not exist"))
        })
    }

    /// Every activity, by name.
    pub async fn list_activities(&self) -> Result<Vec<ActivityRecord>, RuntimeError> {
        let activities = self.inner.store.activities()?;
        self.settled(Ok(self.inner.damaged.readable(activities, "activity")))
            .await
    }

    /// Deletes an activity.
    pub async fn delete_activity(&self, name_or_arn: &str) -> Result<(), RuntimeError> {
        let _serial = self.inner.resource_writes.lock().await;
        let record = self.activity_record(name_or_arn)?;
        let mut batch = Batch::default();
        batch.push(Write::PutTags {
            arn: record.arn,
            tags: Vec::new(),
        });
        batch.push(Write::DeleteActivity(record.name));
        self.commit(batch).await
    }
}

/// A step's batch on its way to disk, and what to do once it is durable.
struct Pending {
    /// None when the step wrote nothing.
    durable: Option<tokio::sync::oneshot::Receiver<Result<(), StoreError>>>,
    /// Offers to withdraw: (queue, delivery token).
    withdraw: Vec<(String, String)>,
}

/// The offer a pending task makes to pollers: what its worker receives.
fn offer_of(
    execution: &str,
    machine: &Machine,
    thread: &Thread,
    task: &PendingTask,
    traceparent: Option<String>,
) -> Offer {
    let state = thread.state.as_deref().and_then(|name| machine.state(name));
    let input = match state.map(|s| &s.kind) {
        Some(StateKind::Task(t)) => t.resource.worker_input(&task.parameters),
        _ => task.parameters.clone(),
    };
    Offer {
        token: task.delivery_token.clone(),
        queue: task.queue.clone(),
        execution: execution.to_string(),
        state_name: thread.state.clone().unwrap_or_default(),
        input,
        heartbeat_seconds: task.heartbeat_seconds,
        timeout_seconds: task.timeout_seconds,
        traceparent,
    }
}

/// Fires a partition's due timers; sleeps until the next one or until one is armed.
async fn timer_loop(
    inner: Weak<Inner>,
    partition: u16,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let runtime = Runtime { inner: strong };
        let timers = &runtime.inner.partitions.get(partition).timers;
        let now = now_ms();
        for (execution, key, due_ms) in timers.take_due(now) {
            let fired = key.is_durable().then(|| TimerRecord {
                due_ms,
                execution: execution.clone(),
                key: key.clone(),
            });
            let runtime = runtime.clone();
            tokio::spawn(async move {
                match runtime
                    .command(&execution, Command::TimerFired(key), fired)
                    .await
                {
                    Ok(())
                    | Err(
                        RuntimeError::FailedPrecondition(_) | RuntimeError::ExecutionNotFound(_),
                    ) => {}
                    Err(e) => tracing::warn!(execution, "a timer could not fire: {e}"),
                }
            });
        }
        let sleep = timers
            .next_due()
            .map(|due| Duration::from_millis((due - now_ms()).clamp(0, 1000) as u64))
            .unwrap_or(Duration::from_secs(1));
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = timers.changed() => {}
            _ = stop.changed() => return,
        }
        drop(runtime);
    }
}

#[cfg(test)]
mod tests;
