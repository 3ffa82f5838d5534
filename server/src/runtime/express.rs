//! Express executions and usage accounting.
//!
//! An Express execution runs in memory: its events are kept with it (and logged through
//! `tracing`, as AWS logs Express executions to CloudWatch), never written per
//! transition. A synchronous start returns the outcome to its caller and writes nothing
//! but usage counts (at-most-once: if the server dies, the caller gets an error and may
//! retry). An asynchronous start writes one small record, removed when the execution
//! ends; after a crash every recorded execution starts again from the beginning
//! (at-least-once: its tasks may run more than once). Executions are limited to
//! `express_max_seconds` (AWS: 5 minutes). The last `express_history` finished ones stay
//! inspectable through Describe and GetHistory.
//!
//! Usage is counted per state machine and hour, in memory and in the store in the same
//! batch as the work it counts, so a window query reads a few counters, not histories.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

use super::effects::record_of;
use super::executions::Executions;
use super::{ExecutionView, Live, Running, RuntimeError, now_ms};
use crate::billing::{Cost, ExpressBilling, Usage, express_billing};
use crate::engine::{ArmedTimers, Command, Event, EventKind, Execution, Identity, Status};
use crate::store::{Batch, ExecutionRecord, ExpressStart, MachineRecord, UsageRecord, Write};

/// The in-memory part of a running Express execution.
pub(super) struct ExpressRun {
    /// Its events so far.
    pub history: Vec<Event>,
    /// Whether its start is recorded in the store (an asynchronous start).
    pub durable: bool,
    /// The caller of a synchronous start, waiting for the outcome.
    pub waiter: Option<oneshot::Sender<ExecutionView>>,
    /// The definition's size, for the memory estimate.
    pub definition_bytes: usize,
}

/// A finished Express execution kept for inspection.
pub(super) struct Finished {
    /// Its place among every partition's finished executions (0, 1, ...): the last
    /// `express_history` of them stay inspectable, wherever they ran.
    order: u64,
    view: ExecutionView,
    history: Vec<Event>,
}

/// What StartExecution/StartSyncExecution of an Express machine gives back.
pub struct ExpressStarted {
    /// The execution ARN.
    pub arn: String,
    /// When it started.
    pub start_ms: i64,
}

const MS_PER_HOUR: i64 = 3_600_000;

impl Executions {
    /// The role reported in `$$.Execution.RoleArn`: the state machine's, or the
    /// server's default one when it was given none.
    pub(crate) fn role_of(&self, machine_role: Option<&str>) -> String {
        match machine_role {
            Some(role) => role.to_string(),
            None => format!("arn:aws:iam::{}:role/stepwise", self.config.account_id),
        }
    }

    /// Starts an Express execution; `sync` carries the waiter of a synchronous start.
    pub(super) async fn start_express(
        &self,
        record: &MachineRecord,
        name: &str,
        input: Value,
        sync: Option<oneshot::Sender<ExecutionView>>,
    ) -> Result<ExpressStarted, RuntimeError> {
        let arn = self.express_arn(&record.name, name)?;
        let start = ExpressStart {
            arn: arn.clone(),
            name: name.to_string(),
            machine_name: record.name.clone(),
            machine_arn: record.arn.clone(),
            revision: record.revision,
            input,
            role_arn: record.role_arn.clone(),
        };
        self.run_express(start, sync).await?;
        let start_ms = {
            let live = self.partitions.of_execution(&arn).lock();
            live.executions.get(&arn).map(|r| r.execution.start_ms)
        };
        Ok(ExpressStarted {
            arn,
            start_ms: start_ms.unwrap_or_else(now_ms),
        })
    }

    /// A new Express execution's ARN. Its id is random, so it is drawn until the ARN
    /// falls in a partition this node serves: an Express execution lives in memory on
    /// the node that runs it, and in a cluster that node must own its partition (the
    /// usage it counts and its start record are written under that partition's lease).
    fn express_arn(&self, machine: &str, name: &str) -> Result<String, RuntimeError> {
        const DRAWS: usize = 256;
        for _ in 0..DRAWS {
            let arn = (self.arns).express_execution(machine, name, &super::random::uuid());
            if self.partitions.of_execution(&arn).lock().holding.is_some() {
                return Ok(arn);
            }
        }
        Err(RuntimeError::Unavailable(
            "this node serves no partitions at the moment (it is joining its cluster, or has lost its leases); try again or use another node".into(),
        ))
    }

    /// Runs an Express execution from its start record.
    async fn run_express(
        &self,
        start: ExpressStart,
        waiter: Option<oneshot::Sender<ExecutionView>>,
    ) -> Result<(), RuntimeError> {
        let arn = start.arn.clone();
        let durable = waiter.is_none();
        let partition = self.partitions.of_execution(&arn);
        let (pending, committed) = {
            let mut live = partition.lock();
            let (machine, definition_bytes) =
                live.revision_with_size(&*self.durable.store, &start.machine_name, start.revision)?;
            let mut running = Running {
                execution: Execution::new(Identity {
                    arn: arn.clone(),
                    name: start.name.clone(),
                    machine_arn: start.machine_arn.clone(),
                    machine_name: start.machine_name.clone(),
                }),
                armed: ArmedTimers::default(),
                machine: machine.clone(),
                revision: start.revision,
                traceparent: stepwise_proto::trace::current_traceparent(),
                express: Some(ExpressRun {
                    history: Vec::new(),
                    durable,
                    waiter,
                    definition_bytes,
                }),
            };
            let limit = self.config.express_max_seconds;
            let timeout_seconds = Some(
                machine
                    .definition()
                    .timeout_seconds
                    .map_or(limit, |t| t.min(limit)),
            );
            let command = Command::Start {
                input: start.input.clone(),
                role_arn: self.role_of(start.role_arn.as_deref()),
                timeout_seconds,
            };
            let step = self.step(partition, &mut live, &mut running, command, None)?;
            live.executions.insert(arn.clone(), running);
            step
        };
        self.finish_step(partition, &arn, pending, committed)
            .await
            .map(|_| ())
    }

    /// Starts again an asynchronous Express execution found unfinished at start-up.
    pub(super) async fn restart_express(&self, start: ExpressStart) -> Result<(), RuntimeError> {
        tracing::info!(execution = %start.arn, "restarting an unfinished Express execution from the beginning");
        self.run_express(start, None).await
    }

    /// StartSyncExecution: runs an Express execution and returns its outcome.
    pub async fn start_sync_execution(
        &self,
        machine: &str,
        name: Option<&str>,
        input: &str,
    ) -> Result<ExecutionView, RuntimeError> {
        let machine_name = self.arns.machine_name(machine)?;
        let record = self.machines.record(&machine_name)?;
        if record.machine_type != crate::store::MachineType::Express {
            return Err(RuntimeError::MachineTypeNotSupported(format!(
                "StartSyncExecution runs EXPRESS state machines only; '{machine_name}' is STANDARD"
            )));
        }
        let name = self.execution_name(name)?;
        let input = super::limits::parse_json(
            input,
            "execution input",
            self.config.max_payload_bytes,
            RuntimeError::InvalidInput,
        )?;
        let (waiter, outcome) = oneshot::channel();
        let started = self
            .start_express(&record, &name, input, Some(waiter))
            .await?;
        let limit = Duration::from_secs(self.config.express_max_seconds + 5);
        match tokio::time::timeout(limit, outcome).await {
            Ok(Ok(view)) => Ok(view),
            _ => Err(RuntimeError::Unavailable(format!(
                "the Express execution {} did not report its outcome",
                started.arn
            ))),
        }
    }

    /// Counts a step's usage and adds the writes that keep the counts durable; for an
    /// Express execution, keeps its events in memory instead of writing them.
    pub(super) fn account(
        &self,
        partition: u16,
        live: &mut Live,
        running: &mut Running,
        transitions_before: u64,
        events: &[Event],
        batch: &mut Batch,
    ) {
        let machine = running.execution.identity.machine_name.clone();
        let now = now_ms();
        let started = events
            .iter()
            .any(|e| matches!(e.kind, EventKind::ExecutionStarted { .. }));
        let Some(run) = running.express.as_mut() else {
            let transitions = running.execution.transitions - transitions_before;
            if started || transitions > 0 {
                let record = count(live, partition, &machine, now, |usage| {
                    usage.standard_executions += u64::from(started);
                    usage.standard_transitions += transitions;
                });
                batch.push(Write::PutUsage(record));
            }
            return;
        };
        // At DEBUG, so off unless asked for (`RUST_LOG=stepwise::express=debug`): AWS
        // logs Express executions only when a logging configuration turns it on, and at
        // INFO these lines cost a sixth of the server's CPU on express-sync load.
        for event in events {
            tracing::debug!(
                target: "stepwise::express",
                execution = %running.execution.identity.arn,
                id = event.id,
                event = %event.kind.type_name(),
                "express transition"
            );
        }
        run.history.extend_from_slice(events);
        // A synchronous start writes nothing until it ends, and then its request and
        // duration in one batch: its only durable trace is the usage it is billed for,
        // and a caller who saw no outcome (the server died) is not billed for it.
        let start_ms = running.execution.start_ms;
        let count_request = |live: &mut Live, batch: &mut Batch| {
            batch.push(Write::PutUsage(count(
                live,
                partition,
                &machine,
                start_ms,
                |usage| usage.express_requests += 1,
            )));
        };
        if started && run.durable {
            count_request(live, batch);
            // Recorded before the start returns: a crash from here on re-runs it.
            let identity = &running.execution.identity;
            batch.push(Write::PutExpressStart(ExpressStart {
                arn: identity.arn.clone(),
                name: identity.name.clone(),
                machine_name: identity.machine_name.clone(),
                machine_arn: identity.machine_arn.clone(),
                revision: running.revision,
                input: running.execution.input.clone(),
                role_arn: Some(running.execution.role_arn.clone()),
            }));
        }
        if running.execution.status != Status::Running {
            if !run.durable {
                count_request(live, batch);
            }
            let billing = billing_of(&running.execution, run);
            batch.push(Write::PutUsage(count(
                live,
                partition,
                &machine,
                now,
                |usage| usage.add_express(billing),
            )));
            if run.durable {
                batch.push(Write::DeleteExpressStart(
                    running.execution.identity.arn.clone(),
                ));
            }
        }
    }

    /// Moves a finished Express execution to the inspection ring and tells its waiter.
    pub(super) fn finish_express(
        &self,
        live: &mut Live,
        execution: Execution,
        revision: u32,
        mut run: ExpressRun,
    ) {
        let billing = billing_of(&execution, &run);
        let view = ExecutionView {
            record: record_of(&execution, revision),
            input: execution.input.clone(),
            billing: Some(billing),
        };
        if let Some(waiter) = run.waiter.take() {
            let _ = waiter.send(view.clone());
        }
        let order = self
            .express_finished
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        live.finished_express.push_back(Finished {
            order,
            view,
            history: std::mem::take(&mut run.history),
        });
        while live
            .finished_express
            .front()
            .is_some_and(|oldest| !self.still_kept(oldest.order))
        {
            live.finished_express.pop_front();
        }
    }

    /// Whether the finished Express execution numbered `order` is among the last
    /// `express_history` to finish (a partition keeps older ones until its next finish).
    fn still_kept(&self, order: u64) -> bool {
        let finished = self
            .express_finished
            .load(std::sync::atomic::Ordering::Relaxed);
        order + self.config.express_history as u64 >= finished && self.config.express_history > 0
    }

    /// A running or recently finished Express execution, with its events.
    pub(super) fn express_view(
        &self,
        arn: &str,
    ) -> Result<(ExecutionView, Vec<Event>), RuntimeError> {
        let live = self.partitions.of_execution(arn).lock();
        if let Some(running) = live.executions.get(arn)
            && let Some(run) = &running.express
        {
            let view = ExecutionView {
                record: record_of(&running.execution, running.revision),
                input: running.execution.input.clone(),
                billing: None,
            };
            return Ok((view, run.history.clone()));
        }
        if let Some(finished) = live
            .finished_express
            .iter()
            .rev()
            .find(|f| f.view.record.arn == arn && self.still_kept(f.order))
        {
            return Ok((finished.view.clone(), finished.history.clone()));
        }
        Err(RuntimeError::ExecutionNotFound(format!(
            "Express execution {arn} is not in memory: Express histories are not persisted; only running executions and the last {} finished ones can be inspected, and none survive a restart",
            self.config.express_history
        )))
    }

    /// The Express executions in memory: running ones, then the finished ones kept for
    /// inspection, newest first.
    pub fn recent_express(&self) -> Vec<ExecutionRecord> {
        let mut running = Vec::new();
        let mut finished = Vec::new();
        for partition in self.partitions.iter() {
            let live = partition.lock();
            running.extend(
                live.executions
                    .values()
                    .filter(|r| r.express.is_some())
                    .map(|r| record_of(&r.execution, r.revision)),
            );
            finished.extend(
                live.finished_express
                    .iter()
                    .filter(|f| self.still_kept(f.order))
                    .map(|f| (f.order, f.view.record.clone())),
            );
        }
        running.sort_by_key(|r| std::cmp::Reverse(r.start_ms));
        finished.sort_by_key(|(order, _)| std::cmp::Reverse(*order));
        running.extend(finished.into_iter().map(|(_, record)| record));
        running
    }

    /// Usage of one state machine (or all) between two times, with its estimated cost.
    /// Counts are kept per hour, so the window is widened to whole hours.
    pub async fn usage(
        &self,
        machine: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<(Usage, Cost), RuntimeError> {
        self.durable
            .settled(self.usage_in(machine, from_ms, to_ms))
            .await
    }

    fn usage_in(
        &self,
        machine: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<(Usage, Cost), RuntimeError> {
        if to_ms < from_ms {
            return Err(RuntimeError::InvalidArgument(format!(
                "the usage window ends ({to_ms}) before it starts ({from_ms})"
            )));
        }
        let machine = machine
            .filter(|m| !m.is_empty())
            .map(|m| self.arns.machine_name(m))
            .transpose()?;
        let (first, last) = (
            from_ms.div_euclid(MS_PER_HOUR),
            to_ms.div_euclid(MS_PER_HOUR),
        );
        let mut total = Usage::default();
        for partition in self.partitions.iter() {
            for ((name, hour), usage) in &partition.lock().usage {
                if (first..=last).contains(hour) && machine.as_ref().is_none_or(|m| m == name) {
                    total.add(usage);
                }
            }
        }
        Ok((total, total.cost(&self.config.prices)))
    }

    /// A caller's execution name, or a fresh one.
    pub(super) fn execution_name(&self, name: Option<&str>) -> Result<String, RuntimeError> {
        let name = match name.filter(|n| !n.is_empty()) {
            Some(name) => name.to_string(),
            None => super::random::uuid(),
        };
        super::check_name("execution", &name)?;
        Ok(name)
    }
}

/// Adds to the counts of `machine` in the hour of `at_ms`; returns the record to store.
fn count(
    live: &mut Live,
    partition: u16,
    machine: &str,
    at_ms: i64,
    add: impl FnOnce(&mut Usage),
) -> UsageRecord {
    let hour = at_ms.div_euclid(MS_PER_HOUR);
    let usage = live.usage.entry((machine.to_string(), hour)).or_default();
    add(usage);
    UsageRecord {
        machine: machine.to_string(),
        hour,
        partition,
        usage: *usage,
    }
}

/// An Express execution's billing from its duration, definition, largest payload and
/// Parallel/Map steps.
fn billing_of(execution: &Execution, run: &ExpressRun) -> ExpressBilling {
    let duration = execution.stop_ms.unwrap_or_else(now_ms) - execution.start_ms;
    let mut data_bytes = crate::asl::json::payload_size(&execution.input);
    let mut steps = 0;
    for event in &run.history {
        match &event.kind {
            EventKind::ParallelStarted { branches, .. } => steps += branches,
            EventKind::MapIterationStarted { input, .. } => {
                steps += 1;
                data_bytes = data_bytes.max(crate::asl::json::payload_size(input));
            }
            EventKind::StateExited { output, .. } => {
                data_bytes = data_bytes.max(crate::asl::json::payload_size(output))
            }
            _ => {}
        }
    }
    express_billing(
        duration.max(0) as u64,
        run.definition_bytes,
        data_bytes,
        steps,
    )
}
