//! The runtime: the imperative shell around the pure engine. It owns the running
//! executions (in memory; the store is the durable copy, read back only on recovery),
//! turns each engine step into one store batch, commits batches in groups, and only
//! after a batch is durable releases its effects: tasks offered, timers armed, watchers
//! told. On start-up it replays every running execution from its history, re-offers
//! tasks no worker has started, and re-arms timers (overdue ones fire at once).

mod activities;
mod committer;
mod config;
mod damaged;
mod durable;
mod effects;
mod errors;
mod express;
mod feed;
mod limits;
mod machines;
mod metrics;
mod names;
pub mod paging;
mod partition;
mod queues;
mod random;
mod recovery;
mod stored;
mod tags;
mod timers;
mod views;
pub mod watchdog;

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::broadcast;

pub use config::RuntimeConfig;
pub use errors::RuntimeError;
use errors::summarize;
pub use feed::HistoryFeed;
pub use limits::check_tags;
pub use names::{Arns, check_name};
pub use queues::Offer;
pub use views::{Committed, ExecutionView, MachineView};

use crate::engine::{
    self, Command, CommandError, Effect, Event, EventKind, Execution, Identity, Machine, Status,
    TimerKey,
};
use crate::store::{
    ActivityRecord, Batch, Damaged, ExecutionRecord, MachineRecord, MachineType, Store, StoreError,
    TimerRecord,
};
use activities::Activities;
use durable::Durable;
use effects::record_of;
use machines::Machines;
use partition::{Live, Partition, Partitions, Running};
use queues::Queues;
use stored::StoredExecutions;
use tags::Tags;

/// The longest a PollTask waits, as AWS's GetActivityTask.
pub const MAX_POLL_SECONDS: u64 = 60;

struct Inner {
    config: RuntimeConfig,
    arns: Arns,
    durable: Durable,
    machines: Machines,
    activities: Activities,
    tags: Tags,
    stored: StoredExecutions,
    partitions: Partitions,
    queues: Queues,
    /// How many Express executions have finished (orders their inspection rings).
    express_finished: std::sync::atomic::AtomicU64,
    committed: broadcast::Sender<Arc<Committed>>,
    stop: tokio::sync::watch::Sender<bool>,
    metrics: metrics::Metrics,
    /// How far one JSONata evaluation may go, with the watch that ends slow ones.
    jsonata: crate::asl::jsonata::Limits,
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
        let durable = Durable::start(store);
        let writes = durable::ResourceWrites::default();
        let runtime = Runtime {
            inner: Arc::new(Inner {
                machines: Machines::new(durable.clone(), arns.clone(), writes.clone()),
                activities: Activities::new(durable.clone(), arns.clone(), writes.clone()),
                tags: Tags::new(durable.clone(), arns.clone(), writes),
                stored: StoredExecutions::new(durable.clone(), arns.clone()),
                durable,
                config,
                arns,
                partitions: Partitions::new(partitions),
                queues: Queues::default(),
                express_finished: Default::default(),
                committed,
                stop,
                metrics: metrics::Metrics::default(),
                jsonata: crate::asl::jsonata::Limits {
                    watch: Some(watchdog::Watchdog::start()),
                    ..Default::default()
                },
            }),
        };
        let express_starts = recovery::Recovery {
            durable: &runtime.inner.durable,
            partitions: &runtime.inner.partitions,
            queues: &runtime.inner.queues,
        }
        .run()?;
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
        let mut text = self
            .inner
            .metrics
            .render(self.inner.durable.committer.counts());
        self.inner.durable.damaged.render_metrics(&mut text);
        self.inner.partitions.render_metrics(&mut text);
        text
    }

    /// Stored records recovery could not read and set aside (for `/health`).
    pub fn set_aside(&self) -> Vec<Damaged> {
        self.inner.durable.damaged.set_aside_list()
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
            inner.durable.committer.close();
            // After a store failure nothing more can be made durable, and sled's flush on
            // a full disk blocks (seen with ENOSPC on a tmpfs).
            if inner.durable.committer.failure().is_none()
                && let Err(e) = inner.durable.store.flush()
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

    // ---- state machines (machines.rs) -------------------------------------------------

    /// Creates a state machine (idempotent for the same definition and type).
    pub async fn create_machine(
        &self,
        name: &str,
        definition: &str,
        machine_type: MachineType,
        role_arn: Option<&str>,
    ) -> Result<MachineView, RuntimeError> {
        let machines = &self.inner.machines;
        machines
            .create(name, definition, machine_type, role_arn)
            .await
    }

    /// Stores a new revision of a state machine's definition.
    pub async fn update_machine(
        &self,
        name_or_arn: &str,
        definition: &str,
        role_arn: Option<&str>,
    ) -> Result<MachineView, RuntimeError> {
        let machines = &self.inner.machines;
        machines.update(name_or_arn, definition, role_arn).await
    }

    /// A state machine with its latest definition.
    pub async fn describe_machine(&self, name_or_arn: &str) -> Result<MachineView, RuntimeError> {
        let durable = &self.inner.durable;
        durable.settled(self.inner.machines.view(name_or_arn)).await
    }

    /// The state machine an execution runs, as it was at the execution's revision.
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
        let view = self
            .inner
            .stored
            .record(arn)
            .and_then(|execution| self.inner.machines.view_for(&execution));
        self.inner.durable.settled(view).await
    }

    /// Every state machine, by name.
    pub async fn list_machines(&self) -> Result<Vec<MachineRecord>, RuntimeError> {
        let durable = &self.inner.durable;
        durable.settled(self.inner.machines.list()).await
    }

    /// Deletes a state machine; running executions finish on their revision.
    pub async fn delete_machine(&self, name_or_arn: &str) -> Result<(), RuntimeError> {
        self.inner.machines.delete(name_or_arn).await
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
        let input = limits::parse_json(
            input,
            "execution input",
            self.inner.config.max_payload_bytes,
            RuntimeError::InvalidInput,
        )?;
        let record = self.inner.machines.record(&machine_name)?;
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
                        None => self.inner.stored.input(&existing.arn)? == input,
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
                let machine =
                    live.revision(&*self.inner.durable.store, &machine_name, record.revision)?;
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
            Err(repeated) => self.inner.durable.settled(Ok(repeated)).await,
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
        self.inner.stored.named(machine, name)
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
        for effect in &outcome.effects {
            match effect {
                Effect::OfferTask {
                    task_token,
                    delivery_token,
                    queue,
                    ..
                } => live.register_task(&arn, queue, task_token, delivery_token, None),
                Effect::TaskTaken {
                    delivery_token,
                    poll_id: Some(poll_id),
                } => {
                    if let Some(info) = live.tokens.get_mut(delivery_token) {
                        info.poll_id = Some(poll_id.clone());
                    }
                    self.inner
                        .queues
                        .remember_poll(poll_id, &arn, delivery_token);
                }
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
            Some(self.inner.durable.committer.submit(batch))
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
            self.inner.durable.store.execution(arn),
            self.inner.durable.store.events(arn),
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
                // Recorded in the step, under the partition's lock; withdrawn from the
                // queue through `Pending::withdraw`.
                Effect::TaskTaken { .. } | Effect::CloseTask { .. } => {}
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
        match self.inner.stored.record(arn) {
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
        Ok(self
            .inner
            .stored
            .record(arn)?
            .stop_ms
            .unwrap_or_else(now_ms))
    }

    /// An execution's record and input.
    pub async fn describe_execution(&self, arn: &str) -> Result<ExecutionView, RuntimeError> {
        self.inner.durable.settled(self.execution_view(arn)).await
    }

    /// An execution's record: Describe without reading the input.
    pub async fn execution_record(&self, arn: &str) -> Result<ExecutionRecord, RuntimeError> {
        let record = if self.inner.arns.is_express(arn) {
            self.express_view(arn).map(|(view, _)| view.record)
        } else {
            self.inner.stored.record(arn)
        };
        self.inner.durable.settled(record).await
    }

    fn execution_view(&self, arn: &str) -> Result<ExecutionView, RuntimeError> {
        self.inner.arns.execution_machine(arn)?;
        if self.inner.arns.is_express(arn) {
            return self.express_view(arn).map(|(view, _)| view);
        }
        self.inner.stored.view(arn)
    }

    /// A page of a state machine's executions, newest first, optionally of one status,
    /// with the token of the next page (a cursor: see `paging`).
    pub async fn list_executions(
        &self,
        machine: &str,
        status: Option<Status>,
        page: &paging::PageRequest,
    ) -> Result<(Vec<ExecutionRecord>, Option<String>), RuntimeError> {
        self.inner
            .durable
            .settled(self.inner.stored.page(machine, status, page))
            .await
    }

    /// How many executions of each state machine are in each status (for the console's
    /// list; counters kept by the store, not a scan).
    pub async fn execution_counts(
        &self,
    ) -> Result<HashMap<String, HashMap<Status, u64>>, RuntimeError> {
        let durable = &self.inner.durable;
        durable.settled(self.inner.stored.counts()).await
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
        live.revision(&*self.inner.durable.store, name, revision)
    }

    /// An execution's whole history.
    pub async fn history(&self, arn: &str) -> Result<Vec<Event>, RuntimeError> {
        self.inner.durable.settled(self.events_of(arn)).await
    }

    fn events_of(&self, arn: &str) -> Result<Vec<Event>, RuntimeError> {
        if self.inner.arns.is_express(arn) {
            return self.express_view(arn).map(|(_, history)| history);
        }
        self.inner.stored.events(arn)
    }

    /// Why the server cannot serve requests, if it cannot (for `/health`).
    pub fn store_failure(&self) -> Option<String> {
        self.inner
            .durable
            .committer
            .failure()
            .map(|f| f.to_string())
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
        self.inner.durable.check()?;
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
            Offer::of_task(
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
        self.inner.partitions.execution_of_token(token)
    }

    /// SendTaskSuccess.
    pub async fn send_success(&self, token: &str, output: &str) -> Result<(), RuntimeError> {
        let output = limits::parse_json(
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
        self.inner.durable.check()?;
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
        let record = self.inner.stored.record(arn)?;
        let events = self.inner.durable.store.events(arn)?;
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

    // ---- tags (tags.rs) -----------------------------------------------------------------

    /// Adds or replaces tags on a state machine or activity (at most 50 in all).
    pub async fn tag_resource(
        &self,
        arn: &str,
        tags: &[(String, String)],
    ) -> Result<(), RuntimeError> {
        self.inner.tags.tag(arn, tags).await
    }

    /// Removes tags by key.
    pub async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), RuntimeError> {
        self.inner.tags.untag(arn, keys).await
    }

    /// A resource's tags, sorted by key.
    pub async fn list_tags(&self, arn: &str) -> Result<Vec<(String, String)>, RuntimeError> {
        self.inner.durable.settled(self.inner.tags.of(arn)).await
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

    // ---- activities (activities.rs) -----------------------------------------------------

    /// Creates an activity (idempotent).
    pub async fn create_activity(&self, name: &str) -> Result<ActivityRecord, RuntimeError> {
        self.inner.activities.create(name).await
    }

    /// An activity.
    pub async fn describe_activity(
        &self,
        name_or_arn: &str,
    ) -> Result<ActivityRecord, RuntimeError> {
        let durable = &self.inner.durable;
        durable
            .settled(self.inner.activities.record(name_or_arn))
            .await
    }

    /// Every activity, by name.
    pub async fn list_activities(&self) -> Result<Vec<ActivityRecord>, RuntimeError> {
        let durable = &self.inner.durable;
        durable.settled(self.inner.activities.list()).await
    }

    /// Deletes an activity.
    pub async fn delete_activity(&self, name_or_arn: &str) -> Result<(), RuntimeError> {
        self.inner.activities.delete(name_or_arn).await
    }
}

/// A step's batch on its way to disk, and what to do once it is durable.
struct Pending {
    /// None when the step wrote nothing.
    durable: Option<tokio::sync::oneshot::Receiver<Result<(), StoreError>>>,
    /// Offers to withdraw: (queue, delivery token).
    withdraw: Vec<(String, String)>,
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
