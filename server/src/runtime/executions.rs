//! Running executions: starting them, stepping them (the engine under the partition's
//! lock, the batch to the committer, the effects released once it is durable), tasks
//! handed to pollers and their results, and the timers each partition fires.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::durable::Durable;
use super::effects::{self, AfterCommit, record_of};
use super::machines::Machines;
use super::partition::{Live, Partition, Partitions, Running};
use super::queues::{Offer, Queues};
use super::stored::StoredExecutions;
use super::{
    Arns, Committed, ExecutionView, MAX_POLL_SECONDS, RuntimeConfig, RuntimeError, limits, metrics,
    now_ms,
};
use crate::auth::{Action, Caller};
use crate::engine::{
    self, ArmedTimers, Command, CommandError, Effect, Event, EventKind, Execution, Identity,
    Machine, Status, TimerKey,
};
use crate::store::{Batch, ExecutionRecord, MachineType, StoreError, TimerRecord};

/// The running executions and everything that moves them.
pub(super) struct Executions {
    pub config: RuntimeConfig,
    pub arns: Arns,
    pub durable: Durable,
    /// Read when an execution starts (its machine's current revision and role).
    pub machines: Arc<Machines>,
    pub stored: Arc<StoredExecutions>,
    pub partitions: Partitions,
    pub queues: Queues,
    /// How many Express executions have finished (orders their inspection rings).
    pub express_finished: std::sync::atomic::AtomicU64,
    pub stop: tokio::sync::watch::Sender<bool>,
    pub metrics: metrics::Metrics,
    /// How far one JSONata evaluation may go, with the watch that ends slow ones.
    pub jsonata: crate::asl::jsonata::Limits,
    /// This node's membership, when nodes share the store.
    pub cluster: Option<Arc<super::cluster::Cluster>>,
}

impl Executions {
    /// Starts an execution. Returns its ARN and start time.
    pub async fn start_execution(
        &self,
        machine: &str,
        name: Option<&str>,
        input: &str,
    ) -> Result<(String, i64), RuntimeError> {
        let machine_name = self.arns.machine_name(machine)?;
        let name = self.execution_name(name)?;
        let input = limits::parse_json(
            input,
            "execution input",
            self.config.max_payload_bytes,
            RuntimeError::InvalidInput,
        )?;
        let record = self.machines.record(&machine_name)?;
        if record.machine_type == MachineType::Express {
            let started = self.start_express(&record, &name, input, None).await?;
            return Ok((started.arn, started.start_ms));
        }
        let arn = self.arns.execution(&machine_name, &name);
        let partition = self.partitions.of_execution(&arn);
        // The name check reads the store before the partition's lock is taken, not
        // under it (a database round trip would hold up every call on the partition);
        // under the lock the read stands if no execution left memory meanwhile.
        let (departures, in_memory) = {
            let live = partition.lock();
            (live.departures, live.executions.contains_key(&arn))
        };
        let stored = match in_memory {
            true => None,
            false => self.durable.store.execution(&arn)?,
        };
        let started = {
            let mut live = partition.lock();
            live.fence(partition.id)?;
            let existing = match live.executions.get(&arn) {
                Some(running) => Some(record_of(&running.execution, running.revision)),
                None if live.departures == departures => stored,
                None => self.durable.store.execution(&arn)?,
            };
            if let Some(existing) = existing {
                // AWS: the same name and input as a running execution returns it;
                // anything else is ExecutionAlreadyExists. An execution started a moment
                // ago by a concurrent call may not be in the store yet: its input is in
                // memory, and its batch was submitted before this lock was released.
                let same = existing.status == Status::Running
                    && match live.executions.get(&arn) {
                        Some(running) => running.execution.input == input,
                        None => self.stored.input(&existing.arn)? == input,
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
                    live.revision(&*self.durable.store, &machine_name, record.revision)?;
                let identity = Identity {
                    arn: arn.clone(),
                    name: name.clone(),
                    machine_arn: record.arn.clone(),
                    machine_name: machine_name.clone(),
                };
                let mut running = Running {
                    execution: Execution::new(identity),
                    armed: ArmedTimers::default(),
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
            Ok((durable, committed)) => {
                let start_ms = self
                    .finish_step(partition, &arn, durable, committed)
                    .await?;
                Ok((arn, start_ms))
            }
            // The start this call repeats: answered once it is durable.
            Err(repeated) => self.durable.settled(Ok(repeated)).await,
        }
    }

    /// Applies a command under its partition's lock: updates the partition's token
    /// tables and prepares the batch and what to do once it is durable; the caller waits
    /// for it outside the lock (`finish_step`).
    pub(super) fn step(
        &self,
        partition: &Partition,
        live: &mut Live,
        running: &mut Running,
        command: Command,
        fired: Option<TimerRecord>,
    ) -> Result<(Pending, Committed), RuntimeError> {
        let fence = live.fence(partition.id)?;
        let arn = running.execution.identity.arn.clone();
        let transitions_before = running.execution.transitions;
        let mut env = engine::Env {
            now_ms: now_ms(),
            random: &mut live.random,
            max_payload_bytes: self.config.max_payload_bytes,
            max_history_events: self.config.max_history_events,
            jsonata: &self.jsonata,
        };
        let outcome = engine::apply(
            &mut running.execution,
            &mut running.armed,
            &running.machine,
            command,
            &mut env,
        )
        .map_err(|e| match e {
            CommandError::UnknownToken | CommandError::AlreadyStarted => {
                RuntimeError::TaskTimedOut(format!(
                    "the task for this token is no longer running in {arn}"
                ))
            }
            CommandError::NotRunning(status) => RuntimeError::FailedPrecondition(format!(
                "the execution {arn} has already ended ({status})"
            )),
            CommandError::ExecutionAlreadyStarted => {
                RuntimeError::ExecutionAlreadyExists(format!("the execution {arn} already started"))
            }
        })?;
        // Express executions keep their history and timers in memory: nothing per
        // transition reaches the store (usage is added by `account`).
        let mut batch = if running.express.is_none() {
            effects::step_writes(&outcome, &running.execution, running.revision, fired)
        } else {
            Batch::default()
        };
        for effect in &outcome.effects {
            match effect {
                Effect::OfferTask {
                    task_token,
                    delivery_token,
                    ..
                } => live.register_task(&arn, task_token, delivery_token, None),
                Effect::TaskTaken {
                    delivery_token,
                    poll_id: Some(poll_id),
                } => {
                    if let Some(info) = live.tokens.get_mut(delivery_token) {
                        info.poll_id = Some(poll_id.clone());
                    }
                    self.queues.remember_poll(poll_id, &arn, delivery_token);
                }
                Effect::CloseTask {
                    task_token,
                    delivery_token,
                    why,
                    ..
                } => {
                    for token in [task_token, delivery_token] {
                        if let Some(info) = live.retire(token, *why)
                            && let Some(poll_id) = &info.poll_id
                        {
                            self.queues.forget_poll(poll_id);
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
        let metrics = &self.metrics;
        metrics.transitions(running.execution.transitions - transitions_before);
        for event in &outcome.events {
            tracing::debug!(execution = %arn, id = event.id, event = %event.kind.type_name(), "transition");
            match &event.kind {
                EventKind::ExecutionStarted { .. } => metrics.execution_started(),
                kind if kind.is_terminal() => metrics.execution_ended(running.execution.status),
                _ => {}
            }
        }
        let after = effects::after_commit(&arn, outcome.effects, running.traceparent.as_deref());
        let durable = if batch.is_empty() {
            None
        } else {
            batch.fence = fence;
            if self.cluster.as_ref().is_some_and(|c| c.has_peers()) {
                batch.announce = (after.iter())
                    .filter_map(|action| match action {
                        AfterCommit::Offer(offer) => Some(offer.queue.clone()),
                        _ => None,
                    })
                    .collect();
            }
            Some(self.durable.committer.submit(batch))
        };
        Ok((
            Pending { durable, after },
            Committed {
                execution: arn,
                events: outcome.events,
            },
        ))
    }

    /// Waits for a step's batch, then does what the step left for after it. Returns the
    /// execution's start time (for StartExecution).
    pub(super) async fn finish_step(
        &self,
        partition: &Partition,
        arn: &str,
        mut pending: Pending,
        committed: Committed,
    ) -> Result<i64, RuntimeError> {
        if let Some(durable) = pending.durable.take() {
            let waited = std::time::Instant::now();
            let result = match durable.await {
                Ok(result) => result.map_err(RuntimeError::from),
                Err(_) => Err(RuntimeError::Unavailable("the committer stopped".into())),
            };
            self.metrics.commit_latency.observe(waited.elapsed());
            if let Err(e) = result {
                if let RuntimeError::Elsewhere(_) = e {
                    // Another node took the partition over: what it has is the truth.
                    let left = partition.relinquish(&self.queues);
                    tracing::warn!(
                        partition = partition.id,
                        executions = left,
                        "partition lost to another node"
                    );
                    return Err(e);
                }
                // What is in memory is ahead of the store: drop it and rebuild the
                // execution from what the store has, so the two agree again.
                self.reload(partition, arn);
                return Err(e);
            }
        }
        self.release(partition, arn, pending.after);
        let start_ms = {
            let mut live = partition.lock();
            let start = live.executions.get(arn).map(|r| r.execution.start_ms);
            if live
                .executions
                .get(arn)
                .is_some_and(|r| r.execution.status != Status::Running)
                && let Some(finished) = live.executions.remove(arn)
            {
                live.departures += 1;
                if let Some(run) = finished.express {
                    self.finish_express(&mut live, finished.execution, finished.revision, run);
                }
            }
            start
        };
        if !committed.events.is_empty() {
            let _ = partition.committed.send(Arc::new(committed));
        }
        Ok(start_ms.unwrap_or_default())
    }

    fn reload(&self, partition: &Partition, arn: &str) {
        let mut live = partition.lock();
        let Some(running) = live.executions.remove(arn) else {
            return;
        };
        // It may not come back (below): a name check in flight must read again.
        live.departures += 1;
        if running.express.is_some() {
            // Express state lives in memory only; there is nothing to reload it from.
            live.executions.insert(arn.to_string(), running);
            return;
        }
        match (
            self.durable.store.execution(arn),
            self.durable.store.events(arn),
        ) {
            (Ok(Some(record)), Ok(events)) if record.status == Status::Running => {
                let execution = Execution::replay(running.execution.identity.clone(), &events);
                live.executions.insert(
                    arn.to_string(),
                    Running {
                        execution,
                        // The failed step's timers were never armed: the partition's are
                        // the durable ones.
                        armed: ArmedTimers::restore(partition.timers.of_execution(arn)),
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

    /// Does what a durable step left for after it.
    fn release(&self, partition: &Partition, arn: &str, actions: Vec<AfterCommit>) {
        // Held throughout, so a later step cannot close a task between the check below
        // and its offer (its withdrawal would then come first and miss it).
        let live = partition.lock();
        if live.holding.is_none() {
            // Given up since the step: its new owner offers and arms from the store.
            return;
        }
        for action in actions {
            match action {
                AfterCommit::Offer(offer) => {
                    // A task closed since (by a later step) is no longer offered.
                    if live.tokens.contains_key(&offer.token) {
                        self.queues.offer(offer);
                    }
                }
                AfterCommit::Withdraw { queue, token } => self.queues.withdraw(&queue, &token),
                AfterCommit::Arm { key, due_ms } => partition.timers.arm(arn, key, due_ms),
                AfterCommit::Cancel { key } => partition.timers.cancel(arn, &key),
            }
        }
    }

    /// Runs a command against a running execution and waits until it is durable.
    async fn command(
        &self,
        arn: &str,
        command: Command,
        fired: Option<TimerRecord>,
    ) -> Result<(), RuntimeError> {
        let partition = self.partitions.of_execution(arn);
        let (pending, committed) = {
            let mut live = partition.lock();
            live.fence(partition.id)?;
            let Some(mut running) = live.executions.remove(arn) else {
                drop(live);
                return Err(self.not_running(arn));
            };
            let result = self.step(partition, &mut live, &mut running, command, fired);
            live.executions.insert(arn.to_string(), running);
            result?
        };
        self.finish_step(partition, arn, pending, committed)
            .await
            .map(|_| ())
    }

    fn not_running(&self, arn: &str) -> RuntimeError {
        match self.stored.record(arn) {
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
        self.arns.execution_machine(arn)?;
        limits::check_error_and_cause(
            error.as_deref().unwrap_or_default(),
            cause.as_deref().unwrap_or_default(),
        )?;
        self.command(arn, Command::Stop { error, cause }, None)
            .await?;
        Ok(self.stored.record(arn)?.stop_ms.unwrap_or_else(now_ms))
    }

    /// An execution's record and input.
    pub async fn describe_execution(&self, arn: &str) -> Result<ExecutionView, RuntimeError> {
        self.durable.settled(self.execution_view(arn)).await
    }

    /// An execution's record: Describe without reading the input.
    pub async fn execution_record(&self, arn: &str) -> Result<ExecutionRecord, RuntimeError> {
        let record = if self.arns.is_express(arn) {
            self.express_view(arn).map(|(view, _)| view.record)
        } else {
            self.stored.record(arn)
        };
        self.durable.settled(record).await
    }

    fn execution_view(&self, arn: &str) -> Result<ExecutionView, RuntimeError> {
        self.arns.execution_machine(arn)?;
        if self.arns.is_express(arn) {
            return self.express_view(arn).map(|(view, _)| view);
        }
        self.stored.view(arn)
    }

    /// A state machine revision, parsed (from the revision cache).
    pub fn revision_definition(
        &self,
        name: &str,
        revision: u32,
    ) -> Result<Arc<Machine>, RuntimeError> {
        // Any partition's cache will do; the name spreads machines over them.
        let mut live = self.partitions.of_execution(name).lock();
        live.revision(&*self.durable.store, name, revision)
    }

    /// An execution's whole history.
    pub async fn history(&self, arn: &str) -> Result<Vec<Event>, RuntimeError> {
        self.durable.settled(self.events_of(arn)).await
    }

    fn events_of(&self, arn: &str) -> Result<Vec<Event>, RuntimeError> {
        if self.arns.is_express(arn) {
            return self.express_view(arn).map(|(_, history)| history);
        }
        self.stored.events(arn)
    }

    // ---- tasks ----------------------------------------------------------------------

    /// Long-polls `queues` (names or activity ARNs) for up to `wait`. A poll that repeats
    /// an earlier `poll_id` gets the task that poll started, if it is still running.
    pub async fn poll(
        self: &Arc<Self>,
        queues: &[String],
        worker_name: &str,
        wait: Duration,
        poll_id: Option<&str>,
    ) -> Result<Option<Offer>, RuntimeError> {
        // An empty poll writes nothing, so it would not notice a failed store by itself.
        self.durable.check()?;
        if queues.is_empty() {
            return Err(RuntimeError::InvalidArgument(
                "PollTask needs at least one queue".into(),
            ));
        }
        limits::check_length("workerName", worker_name, 0, limits::MAX_WORKER_NAME_CHARS)?;
        let names: Vec<String> = queues
            .iter()
            .map(|q| self.arns.activity_name(q))
            .collect::<Result<_, _>>()?;
        if let Some(offer) = poll_id.and_then(|id| self.repeated_poll(id)) {
            return Ok(Some(offer));
        }
        let wait = wait.min(Duration::from_secs(MAX_POLL_SECONDS));
        let polled_at = std::time::Instant::now();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let Some(offer) = self.queues.take_or_wait(&names, deadline).await else {
                self.metrics.poll_wait.observe(polled_at.elapsed());
                return Ok(None);
            };
            // Record TaskStarted in its own task, so that a poller that goes away
            // mid-commit does not leave a task taken but never started.
            let runtime = Arc::clone(self);
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
                    self.metrics.poll_wait.observe(polled_at.elapsed());
                    self.metrics.task_dispatched();
                    tracing::debug!(execution = %offer.execution, queue = %offer.queue, state = %offer.state_name, worker = worker_name, "task handed to a worker");
                    return Ok(Some(offer));
                }
                Ok(Err(RuntimeError::Unavailable(e))) => {
                    self.queues.offer(offer);
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
        let (execution, delivery) = self.queues.poll_of(poll_id)?;
        let live = self.partitions.of_execution(&execution).lock();
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
        self.partitions.execution_of_token(token)
    }

    /// Refuses a task's result, failure or heartbeat from a caller whose key may not work
    /// on the task's queue. A token whose task is not running passes: the call then
    /// answers why (TaskTimedOut), as it would anyone holding the token.
    fn allow_work(
        &self,
        operation: &str,
        execution: &str,
        token: &str,
        caller: &Caller,
    ) -> Result<(), RuntimeError> {
        if !caller.checked {
            return Ok(());
        }
        let queue = {
            let live = self.partitions.of_execution(execution).lock();
            live.executions.get(execution).and_then(|running| {
                let thread = running.execution.tokens.get(token)?;
                let task = running.execution.pending_task(*thread)?;
                Some(task.queue.clone())
            })
        };
        match queue {
            Some(queue) => Ok(caller.allow(operation, Action::Work(&queue))?),
            None => Ok(()),
        }
    }

    /// SendTaskSuccess.
    pub async fn send_success(
        &self,
        token: &str,
        output: &str,
        caller: &Caller,
    ) -> Result<(), RuntimeError> {
        let output = limits::parse_json(
            output,
            "task output",
            self.config.max_payload_bytes,
            RuntimeError::InvalidOutput,
        )?;
        let execution = self.token_execution(token)?;
        self.allow_work("SendTaskSuccess", &execution, token, caller)?;
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
        caller: &Caller,
    ) -> Result<(), RuntimeError> {
        limits::check_error_and_cause(error, cause)?;
        let execution = self.token_execution(token)?;
        self.allow_work("SendTaskFailure", &execution, token, caller)?;
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
    pub fn heartbeat(&self, token: &str, caller: &Caller) -> Result<(), RuntimeError> {
        // A heartbeat writes nothing, so it would not notice a failed store by itself.
        self.durable.check()?;
        let execution = self.token_execution(token)?;
        self.allow_work("SendTaskHeartbeat", &execution, token, caller)?;
        let partition = self.partitions.of_execution(&execution);
        let live = partition.lock();
        live.fence(partition.id)?;
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
        let record = self.stored.record(arn)?;
        let events = self.durable.store.events(arn)?;
        let replayed = Execution::replay(record.identity(), &events);
        let mismatch = |what: &str| {
            Err(RuntimeError::FailedPrecondition(format!(
                "replaying {arn} gives a different {what}"
            )))
        };
        if record_of(&replayed, record.revision) != record {
            return mismatch("record");
        }
        let live = self.partitions.of_execution(arn).lock();
        if let Some(running) = live.executions.get(arn)
            && running.execution != replayed
        {
            return mismatch("in-memory state");
        }
        Ok(())
    }

    /// Executions running in memory (for tests and metrics).
    pub fn running(&self) -> usize {
        self.partitions
            .iter()
            .map(|p| p.lock().executions.len())
            .sum()
    }
}

/// A step's batch on its way to disk, and what to do once it is durable.
pub(super) struct Pending {
    /// None when the step wrote nothing.
    durable: Option<tokio::sync::oneshot::Receiver<Result<(), StoreError>>>,
    /// What to do once it is.
    after: Vec<AfterCommit>,
}

/// Fires a partition's due timers; sleeps until the next one or until one is armed.
pub(super) async fn timer_loop(
    executions: Weak<Executions>,
    partition: u16,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let Some(runtime) = executions.upgrade() else {
            return;
        };
        let timers = &runtime.partitions.get(partition).timers;
        let now = now_ms();
        for (execution, key, due_ms) in timers.take_due(now) {
            let fired = key.is_durable().then(|| TimerRecord {
                due_ms,
                execution: execution.clone(),
                key: key.clone(),
            });
            let runtime = Arc::clone(&runtime);
            tokio::spawn(async move {
                match runtime
                    .command(&execution, Command::TimerFired(key), fired)
                    .await
                {
                    Ok(())
                    | Err(
                        RuntimeError::FailedPrecondition(_)
                        | RuntimeError::ExecutionNotFound(_)
                        | RuntimeError::Elsewhere(_),
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
