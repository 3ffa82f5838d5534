//! The decider: given an execution, a command (start, a task result, a timer, stop) and
//! the environment (time, randomness), emit the history events that follow and the
//! effects the runtime must carry out. It runs until blocked: every state that needs
//! nothing from outside (Pass, Choice, Succeed, Fail, Parallel/Map bookkeeping, an
//! elapsed Wait) is processed in the same call, so its events commit in one batch.
//!
//! It never does I/O and changes the execution only through `Execution::evolve`.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::{Value, json};

use super::command::{Command, CommandError};
use super::effect::{Effect, Outcome, TaskClosed, TimerKey};
use super::execution::{Execution, Identity, MapInput, PendingTask, Status, Step};
use super::history::{Event, EventKind, Recovery, TaskFamily, ThreadId};
use super::machine::Machine;
use crate::asl::context::{
    ContextObject, ExecutionContext, MapContext, MapItem, StateContext, StateMachineContext,
    TaskContext,
};
use crate::asl::definition::{QueryLanguage, State, StateKind, Transition};
use crate::asl::error::{StatesError, names};
use crate::asl::eval::Env as AslEnv;
use crate::asl::flow::Ending;
use crate::asl::jsonata::Limits;
use crate::asl::random::RandomSource;
use crate::asl::retry::{self, ErrorHandling};
use crate::asl::states::{IntegrationPattern, Target};
use crate::asl::timestamp;
use crate::asl::variables::{Scope, check_assignment};

/// What the engine may read from the world: the time and a random source.
pub struct Env<'a> {
    /// Now, in Unix epoch milliseconds.
    pub now_ms: i64,
    /// For task tokens, `States.UUID`, `States.MathRandom` and retry jitter.
    pub random: &'a mut dyn RandomSource,
    /// The payload limit in bytes.
    pub max_payload_bytes: usize,
    /// The most events an execution may have; reaching it fails the execution with
    /// `States.Runtime` (AWS's quota is 25,000).
    pub max_history_events: u64,
    /// How far one JSONata evaluation may go.
    pub jsonata: &'a Limits,
}

/// Applies a command to an execution.
pub fn apply(
    execution: &mut Execution,
    machine: &Machine,
    command: Command,
    env: &mut Env,
) -> Result<Outcome, CommandError> {
    let mut decider = Decider {
        execution,
        machine,
        env,
        outcome: Outcome::default(),
        ready: VecDeque::new(),
        continuing: Vec::new(),
        pending_retry: None,
    };
    decider.command(command)?;
    decider.run();
    decider.enforce_history_limit();
    Ok(decider.outcome)
}

/// The most events a state emits between two history-limit checks (a task's result and
/// exit, a Map iteration's end cascading through nested Maps and Parallels).
const EVENTS_BETWEEN_CHECKS: u64 = 16;

/// Events one step may produce before a Map's further iterations wait for a step of
/// their own (each started iteration still runs to its end in this step, so a step of
/// Pass iterations holds a few times this many).
pub const STEP_EVENTS: usize = 1000;

/// Work found while deciding, done before returning.
enum Ready {
    /// Enter `state` on `thread` with `input`.
    Enter {
        thread: ThreadId,
        state: String,
        input: Value,
    },
}

struct Decider<'a, 'e> {
    execution: &'a mut Execution,
    machine: &'a Machine,
    env: &'a mut Env<'e>,
    outcome: Outcome,
    ready: VecDeque<Ready>,
    /// Maps told to continue in a later step (told once per step).
    continuing: Vec<ThreadId>,
    /// A Parallel's or Map's retry whose attempt is starting and not yet recorded by an
    /// event: (thread, retrier index, error).
    pending_retry: Option<(ThreadId, usize, String)>,
}

/// How a state's failure is reported in the history.
#[derive(Clone, Copy)]
enum FailureSource {
    /// A task result or timeout: TaskFailed / TaskTimedOut in the task's family.
    Task { family: TaskFamily, timed_out: bool },
    /// Raised by the service while the state ran (its data processing, its settings):
    /// the cause begins by naming the state, as AWS's do.
    State,
    /// A Parallel branch's or Map iteration's failure, or a Map's tolerance exceeded:
    /// the cause is the branch's own.
    Branch,
}

impl<'a> Decider<'a, '_> {
    fn emit(&mut self, kind: EventKind) {
        let id = self.execution.last_event_id + 1;
        let event = Event {
            id,
            previous_event_id: id - 1,
            timestamp_ms: self.env.now_ms,
            kind,
        };
        self.execution.evolve(&event);
        self.outcome.events.push(event);
    }

    fn effect(&mut self, effect: Effect) {
        self.outcome.effects.push(effect);
    }

    fn running(&self) -> bool {
        self.execution.status == Status::Running
    }

    fn command(&mut self, command: Command) -> Result<(), CommandError> {
        if let Command::Start {
            input,
            role_arn,
            timeout_seconds,
        } = command
        {
            if self.execution.last_event_id != 0 {
                return Err(CommandError::ExecutionAlreadyStarted);
            }
            let timeout_seconds = timeout_seconds.or(self.machine.definition().timeout_seconds);
            self.emit(EventKind::ExecutionStarted {
                input: input.clone(),
                role_arn,
                timeout_seconds,
            });
            if let Some(seconds) = timeout_seconds {
                let due_ms = self.env.now_ms + seconds as i64 * 1000;
                self.effect(Effect::ArmTimer {
                    key: TimerKey::Execution,
                    due_ms,
                });
            }
            let start = self.machine.definition().root.start_at.clone();
            self.ready.push_back(Ready::Enter {
                thread: 0,
                state: start,
                input,
            });
            return Ok(());
        }
        if !self.running() {
            return Err(CommandError::NotRunning(self.execution.status.as_str()));
        }
        match command {
            Command::Start { .. } => unreachable!("handled above"),
            Command::TaskStarted {
                token,
                worker_name,
                poll_id,
            } => {
                let (thread, task) = self.task_for(&token)?;
                if token != task.delivery_token || task.submitted {
                    return Err(CommandError::UnknownToken);
                }
                if task.started_ms.is_some() {
                    return Err(CommandError::AlreadyStarted);
                }
                self.effect(Effect::TaskTaken {
                    delivery_token: task.delivery_token.clone(),
                    poll_id: poll_id.clone(),
                });
                self.emit(EventKind::TaskStarted {
                    thread,
                    family: task.family,
                    worker_name,
                    poll_id,
                });
                if let Some(seconds) = task.heartbeat_seconds {
                    self.effect(Effect::ArmTimer {
                        key: TimerKey::Heartbeat {
                            token: task.task_token.clone(),
                        },
                        due_ms: self.env.now_ms + seconds as i64 * 1000,
                    });
                }
            }
            Command::TaskSucceeded { token, output } => {
                let (thread, task) = self.task_for(&token)?;
                if token == task.delivery_token && token != task.task_token {
                    // A `.waitForTaskToken` delivery: the integration call is done, the task
                    // now waits for its token.
                    self.emit(EventKind::TaskSubmitted { thread, output });
                    return Ok(());
                }
                self.close_task(thread, TaskClosed::Reported);
                self.emit(EventKind::TaskSucceeded {
                    thread,
                    family: task.family,
                    output: output.clone(),
                });
                let result = match self.state_of(thread).map(|s| &s.kind) {
                    Some(StateKind::Task(t)) if t.resource.target == Target::LambdaInvoke => {
                        json!({"Payload": output, "StatusCode": 200, "ExecutedVersion": "$LATEST"})
                    }
                    _ => output,
                };
                self.finish_with_result(thread, result);
            }
            Command::TaskFailed {
                token,
                error,
                cause,
            } => {
                let (thread, task) = self.task_for(&token)?;
                self.close_task(thread, TaskClosed::Reported);
                let source = FailureSource::Task {
                    family: task.family,
                    timed_out: false,
                };
                self.fail_state(thread, StatesError::new(error, cause), source);
            }
            Command::TimerFired(key) => self.timer(key),
            Command::Stop { error, cause } => {
                self.abort(0);
                self.emit(EventKind::ExecutionAborted { error, cause });
            }
            Command::Fail { error, cause } => {
                self.abort(0);
                self.emit(EventKind::ExecutionFailed {
                    error: Some(error),
                    cause: Some(cause),
                });
            }
        }
        Ok(())
    }

    /// The thread waiting on the task a token belongs to, and that task.
    fn task_for(&self, token: &str) -> Result<(ThreadId, PendingTask), CommandError> {
        let thread = self.thread_for(token)?;
        let task = self
            .execution
            .pending_task(thread)
            .cloned()
            .ok_or(CommandError::UnknownToken)?;
        Ok((thread, task))
    }

    fn thread_for(&self, token: &str) -> Result<ThreadId, CommandError> {
        self.execution
            .tokens
            .get(token)
            .copied()
            .ok_or(CommandError::UnknownToken)
    }

    fn timer(&mut self, key: TimerKey) {
        match key {
            TimerKey::Execution => {
                self.abort(0);
                let seconds = self.execution.timeout_seconds.unwrap_or_default();
                self.emit(EventKind::ExecutionTimedOut {
                    error: Some(names::TIMEOUT.into()),
                    cause: Some(format!(
                        "The execution ran longer than its TimeoutSeconds ({seconds} s)"
                    )),
                });
            }
            TimerKey::Wait { thread, due_ms } => {
                let live = self.execution.threads.get(&thread).map(|t| &t.step)
                    == Some(&Step::Waiting { due_ms });
                if live {
                    self.wait_done(thread);
                }
            }
            TimerKey::Backoff {
                thread,
                due_ms,
                error,
            } => {
                let step = self.execution.threads.get(&thread).map(|t| &t.step);
                if step == Some(&Step::Backoff { due_ms }) {
                    self.work(thread);
                } else if let Some(error) = error {
                    self.retry_branches(thread, error);
                }
            }
            TimerKey::TaskTimeout { token } => self.task_timed_out(&token, false),
            TimerKey::Heartbeat { token } => self.task_timed_out(&token, true),
            TimerKey::MapContinue { thread } => {
                let mapping = matches!(
                    self.execution.threads.get(&thread).map(|t| &t.step),
                    Some(Step::Map(_))
                );
                if mapping {
                    self.map_pump(thread);
                }
            }
        }
    }

    fn task_timed_out(&mut self, token: &str, heartbeat: bool) {
        let Ok(thread) = self.thread_for(token) else {
            return;
        };
        let Some(task) = self.execution.pending_task(thread).cloned() else {
            return;
        };
        if task.task_token != token || (heartbeat && task.started_ms.is_none()) {
            return;
        }
        self.close_task(thread, TaskClosed::TimedOut);
        let error = if heartbeat {
            StatesError::new(
                names::HEARTBEAT_TIMEOUT,
                format!(
                    "No heartbeat within HeartbeatSeconds ({} s)",
                    task.heartbeat_seconds.unwrap_or_default()
                ),
            )
        } else {
            StatesError::new(
                names::TIMEOUT,
                format!(
                    "The task ran longer than TimeoutSeconds ({} s)",
                    task.timeout_seconds.unwrap_or_default()
                ),
            )
        };
        let source = FailureSource::Task {
            family: task.family,
            timed_out: true,
        };
        self.fail_state(thread, error, source);
    }

    /// Withdraws a thread's task: its tokens and timers.
    fn close_task(&mut self, thread: ThreadId, why: TaskClosed) {
        if let Some(task) = self.execution.pending_task(thread).cloned() {
            self.effect(Effect::CloseTask {
                task_token: task.task_token.clone(),
                delivery_token: task.delivery_token.clone(),
                why,
            });
            if let Some(seconds) = task.timeout_seconds {
                // Armed when the task was scheduled (`schedule_task`).
                self.effect(Effect::CancelTimer {
                    key: TimerKey::TaskTimeout {
                        token: task.task_token.clone(),
                    },
                    due_ms: Some(task.scheduled_ms + seconds as i64 * 1000),
                });
            }
            if task.heartbeat_seconds.is_some() {
                self.effect(Effect::CancelTimer {
                    key: TimerKey::Heartbeat {
                        token: task.task_token,
                    },
                    due_ms: None,
                });
            }
        }
    }

    fn run(&mut self) {
        while let Some(Ready::Enter {
            thread,
            state,
            input,
        }) = self.ready.pop_front()
        {
            if !self.running() || !self.execution.threads.contains_key(&thread) {
                continue;
            }
            if self.enforce_history_limit() {
                return;
            }
            self.enter(thread, &state, input);
        }
    }

    /// Whether going on could take the history past its limit. Checked before every
    /// state is entered, every Map iteration is started and at the end of every step, so
    /// what is kept free covers failing the execution (one event, and up to two for each
    /// live thread it aborts) and what one state emits between two checks.
    fn at_history_limit(&self) -> bool {
        let room = 1 + 2 * self.execution.threads.len() as u64 + EVENTS_BETWEEN_CHECKS;
        self.execution.last_event_id + room > self.env.max_history_events
    }

    /// Fails the execution once its history is at the limit (AWS fails an execution
    /// whose history would exceed it); true if it did.
    fn enforce_history_limit(&mut self) -> bool {
        let limit = self.env.max_history_events;
        if !self.running() || !self.at_history_limit() {
            return false;
        }
        self.ready.clear();
        self.abort(0);
        self.emit(EventKind::ExecutionFailed {
            error: Some(names::RUNTIME.into()),
            cause: Some(format!(
                "The execution's history reached the limit of {limit} events"
            )),
        });
        true
    }

    fn state_of(&self, thread: ThreadId) -> Option<&'a State> {
        let machine: &'a Machine = self.machine;
        let name = self.execution.threads.get(&thread)?.state.as_deref()?;
        machine.state(name)
    }

    /// The context object for `thread` at `state`; `null` when the state never reads it.
    fn context(
        &self,
        thread: ThreadId,
        state: &State,
        task_token: Option<&str>,
        map_item: Option<MapItem>,
    ) -> Value {
        if !state.reads_context {
            return Value::Null;
        }
        let t = self.execution.thread(thread);
        let identity: &Identity = &self.execution.identity;
        ContextObject {
            execution: ExecutionContext {
                id: identity.arn.clone(),
                input: if state.reads_execution_input {
                    self.execution.input.clone()
                } else {
                    Value::Null
                },
                name: identity.name.clone(),
                role_arn: self.execution.role_arn.clone(),
                start_time: format_ms(self.execution.start_ms),
                redrive_count: 0,
            },
            state: t.state.as_ref().map(|name| StateContext {
                entered_time: format_ms(t.entered_ms),
                name: name.clone(),
                // An attempt whose retry no event has recorded yet counts it.
                retry_count: t.retries.total()
                    + u32::from(self.pending_retry.as_ref().is_some_and(|p| p.0 == thread)),
            }),
            state_machine: StateMachineContext {
                id: identity.machine_arn.clone(),
                name: identity.machine_name.clone(),
            },
            task: task_token.map(|token| TaskContext {
                token: token.to_string(),
            }),
            map: map_item.map(|item| MapContext { item }),
        }
        .to_value()
    }

    /// The environment of an evaluation for `thread`: its context object and the
    /// variables it can read (as they were before its current state).
    fn asl_env<'c>(&'c mut self, thread: ThreadId, context: &'c Value) -> AslEnv<'c> {
        AslEnv {
            context,
            random: &mut *self.env.random,
            max_payload_bytes: self.env.max_payload_bytes,
            variables: self.execution.variables(thread),
            now_ms: self.env.now_ms,
            jsonata: self.env.jsonata,
        }
    }

    /// Enters a state: emits its Entered event, then does its work.
    fn enter(&mut self, thread: ThreadId, name: &str, input: Value) {
        let Some(state) = self.machine.state(name) else {
            // Validation guarantees every Next names a state; reaching this is a bug.
            panic!("state '{name}' is not in the machine");
        };
        let state_type = state.kind.type_name().to_string();
        // A Wait's due time is part of its Entered event, so it is computed first; an
        // error here fails the state right after it is entered.
        let mut wait = None;
        if let StateKind::Wait(w) = &state.kind {
            let mut context = self.context(thread, state, None, None);
            // The thread is not at this state until its Entered event: `$$.State` must
            // still describe this entry, not the state before it.
            if let Some(fields) = context.as_object_mut() {
                let entering = StateContext {
                    entered_time: format_ms(self.env.now_ms),
                    name: name.to_string(),
                    retry_count: 0,
                };
                fields.insert(
                    "State".into(),
                    serde_json::to_value(entering).expect("the context always serializes"),
                );
            }
            let entered = ms_to_timestamp(self.env.now_ms);
            let mut env = self.asl_env(thread, &context);
            let selected = state.selected_input(&input, &env);
            wait = Some(selected.and_then(|selected| w.due(&selected, &mut env, entered)));
        }
        let wait_due_ms = match &wait {
            Some(Ok(due)) if due.as_millisecond() > self.env.now_ms => Some(due.as_millisecond()),
            _ => None,
        };
        self.emit(EventKind::StateEntered {
            thread,
            state_type,
            name: name.to_string(),
            input,
            wait_due_ms,
        });
        match (wait, wait_due_ms) {
            (Some(Err(error)), _) => self.fail_state(thread, error, FailureSource::State),
            (Some(Ok(_)), Some(due_ms)) => self.effect(Effect::ArmTimer {
                key: TimerKey::Wait { thread, due_ms },
                due_ms,
            }),
            (Some(Ok(_)), None) => self.wait_done(thread),
            (None, _) => self.work(thread),
        }
    }

    /// The state's own work, run on entry and again after a retry's delay.
    fn work(&mut self, thread: ThreadId) {
        let state = self
            .state_of(thread)
            .expect("a thread at work is at a state");
        let input = self.execution.thread(thread).input.clone();
        let result = match &state.kind {
            StateKind::Pass(_) => self.run_pass(thread, state, &input),
            StateKind::Succeed(_) | StateKind::Choice(_) => {
                self.pass_through(thread, state, &input)
            }
            StateKind::Fail(_) => self.run_fail(thread, state, &input),
            StateKind::Wait(_) => unreachable!("Wait states do their work on entry"),
            StateKind::Task(_) => self.schedule_task(thread, state, &input),
            StateKind::Parallel(_) => self.start_branches(thread, state, &input),
            StateKind::Map(_) => self.start_map(thread, state, &input),
        };
        if let Err(error) = result {
            self.fail_state(thread, error, FailureSource::State);
        }
    }

    fn run_pass(
        &mut self,
        thread: ThreadId,
        state: &'a State,
        input: &Value,
    ) -> Result<(), StatesError> {
        let StateKind::Pass(pass) = &state.kind else {
            unreachable!()
        };
        let context = self.context(thread, state, None, None);
        let ending = {
            let mut env = self.asl_env(thread, &context);
            let result = match state.language {
                QueryLanguage::JsonPath => {
                    Some(pass.result(state.flow.effective_input(input, &mut env)?))
                }
                QueryLanguage::Jsonata => None,
            };
            state.end(input, result, None, &mut env)?
        };
        self.leave(thread, state, ending, next_of(state))
    }

    fn run_fail(
        &mut self,
        thread: ThreadId,
        state: &'a State,
        input: &Value,
    ) -> Result<(), StatesError> {
        let StateKind::Fail(fail) = &state.kind else {
            unreachable!()
        };
        let context = self.context(thread, state, None, None);
        let outcome = fail.outcome(input, &mut self.asl_env(thread, &context))?;
        self.thread_failed(
            thread,
            outcome.error.unwrap_or_default(),
            outcome.cause.unwrap_or_default(),
        );
        Ok(())
    }

    fn start_branches(
        &mut self,
        thread: ThreadId,
        state: &'a State,
        input: &Value,
    ) -> Result<(), StatesError> {
        let StateKind::Parallel(parallel) = &state.kind else {
            unreachable!()
        };
        let context = self.context(thread, state, None, None);
        let effective = {
            let mut env = self.asl_env(thread, &context);
            let selected = state.selected_input(input, &env)?;
            state.work_input(input, selected, &mut env)?
        };
        let first_child = self.execution.next_thread;
        let retried = self.take_pending_retry(thread);
        self.emit(EventKind::ParallelStarted {
            thread,
            input: effective.clone(),
            first_child,
            branches: parallel.branches.len(),
            retried,
        });
        for (index, branch) in parallel.branches.iter().enumerate() {
            self.ready.push_back(Ready::Enter {
                thread: first_child + index as ThreadId,
                state: branch.start_at.clone(),
                input: effective.clone(),
            });
        }
        Ok(())
    }

    fn start_map(
        &mut self,
        thread: ThreadId,
        state: &'a State,
        input: &Value,
    ) -> Result<(), StatesError> {
        let StateKind::Map(map) = &state.kind else {
            unreachable!()
        };
        let context = self.context(thread, state, None, None);
        let (selected, items, max_concurrency, tolerance) = {
            let mut env = self.asl_env(thread, &context);
            let selected = state.selected_input(input, &env)?;
            let items = map.items(&selected, &mut env)?;
            let max_concurrency = map.concurrency(&selected, &mut env)?;
            let tolerance = map.tolerance(&selected, &mut env)?;
            (selected, items, max_concurrency, tolerance)
        };
        let retried = self.take_pending_retry(thread);
        self.emit(EventKind::MapStarted {
            thread,
            length: items.len(),
            max_concurrency,
            tolerated_count: tolerance.count,
            tolerated_percentage: tolerance.percentage,
            retried,
        });
        if let Step::Map(progress) = &mut self.execution.thread_mut(thread).step {
            progress.input = MapInput(Some(Arc::new((selected, items))));
        }
        self.map_pump(thread);
        Ok(())
    }

    /// Choice and Succeed: InputPath, then (Choice) pick the next state, then OutputPath.
    fn pass_through(
        &mut self,
        thread: ThreadId,
        state: &'a State,
        input: &Value,
    ) -> Result<(), StatesError> {
        let context = self.context(thread, state, None, None);
        let (next, ending) = {
            let mut env = self.asl_env(thread, &context);
            match &state.kind {
                StateKind::Choice(choice) => {
                    let selected = state.selected_input(input, &env)?;
                    let (rule, next) = choice.next(&selected, &mut env)?;
                    // JSONPath passes on what InputPath selected (read once, here);
                    // JSONata has no result for a Choice.
                    let result = (state.language == QueryLanguage::JsonPath).then_some(selected);
                    (
                        Some(next.to_string()),
                        state.end(input, result, rule, &mut env)?,
                    )
                }
                _ => (None, state.end(input, None, None, &mut env)?),
            }
        };
        self.leave(thread, state, ending, next)
    }

    fn wait_done(&mut self, thread: ThreadId) {
        let state = self
            .state_of(thread)
            .expect("a waiting thread is at a state");
        let input = self.execution.thread(thread).input.clone();
        let context = self.context(thread, state, None, None);
        let ending = state.end(&input, None, None, &mut self.asl_env(thread, &context));
        if let Err(error) =
            ending.and_then(|ending| self.leave(thread, state, ending, next_of(state)))
        {
            self.fail_state(thread, error, FailureSource::State);
        }
    }

    fn schedule_task(
        &mut self,
        thread: ThreadId,
        state: &'a State,
        input: &Value,
    ) -> Result<(), StatesError> {
        let StateKind::Task(task) = &state.kind else {
            unreachable!()
        };
        let arn = &self.execution.identity.arn;
        let task_token = new_token(arn, self.env.random);
        let delivery_token = match task.resource.pattern {
            IntegrationPattern::WaitForTaskToken => new_token(arn, self.env.random),
            _ => task_token.clone(),
        };
        let context = self.context(thread, state, Some(&task_token), None);
        let (timeouts, parameters) = {
            let mut env = self.asl_env(thread, &context);
            let selected = state.selected_input(input, &env)?;
            let timeouts = task.timeouts(&selected, &mut env)?;
            (timeouts, state.work_input(input, selected, &mut env)?)
        };
        let queue = task.resource.queue(&parameters)?;
        let family = TaskFamily::of(&task.resource.target);
        self.emit(EventKind::TaskScheduled {
            thread,
            family,
            resource: task.resource.arn.clone(),
            queue: queue.clone(),
            parameters: parameters.clone(),
            timeout_seconds: timeouts.timeout_seconds,
            heartbeat_seconds: timeouts.heartbeat_seconds,
            task_token: task_token.clone(),
            delivery_token: delivery_token.clone(),
        });
        self.effect(Effect::OfferTask {
            delivery_token,
            task_token: task_token.clone(),
            queue,
            state_name: state.name.clone(),
            input: task.resource.worker_input(&parameters),
            heartbeat_seconds: timeouts.heartbeat_seconds,
            timeout_seconds: timeouts.timeout_seconds,
        });
        if let Some(seconds) = timeouts.timeout_seconds {
            self.effect(Effect::ArmTimer {
                key: TimerKey::TaskTimeout { token: task_token },
                due_ms: self.env.now_ms + seconds as i64 * 1000,
            });
        }
        Ok(())
    }

    /// Task, Parallel and Map: ResultSelector, ResultPath and OutputPath on the result.
    fn finish_with_result(&mut self, thread: ThreadId, result: Value) {
        let state = self
            .state_of(thread)
            .expect("a finishing thread is at a state");
        let input = self.execution.thread(thread).input.clone();
        let context = self.context(thread, state, None, None);
        let ending = state.end(
            &input,
            Some(result),
            None,
            &mut self.asl_env(thread, &context),
        );
        if let Err(error) =
            ending.and_then(|ending| self.leave(thread, state, ending, next_of(state)))
        {
            self.fail_state(thread, error, FailureSource::State);
        }
    }

    /// Leaves a state with what its end produced, once its assignments are within
    /// AWS's variable limits (past one, the state fails instead).
    fn leave(
        &mut self,
        thread: ThreadId,
        state: &'a State,
        ending: Ending,
        next: Option<String>,
    ) -> Result<(), StatesError> {
        if !ending.assigned.is_empty() {
            let replaced: usize = ending
                .assigned
                .keys()
                .map(|name| self.execution.variable_bytes(thread, name))
                .sum();
            check_assignment(
                &ending.assigned,
                self.execution.all_variable_bytes(),
                replaced,
            )?;
        }
        let assigned: Scope = ending.assigned.into_iter().collect();
        self.exit_to(thread, state, ending.output, next, assigned);
        Ok(())
    }

    /// Emits the Exited event and moves on: to `next`, or the branch ends.
    fn exit_to(
        &mut self,
        thread: ThreadId,
        state: &'a State,
        output: Value,
        next: Option<String>,
        assigned: Scope,
    ) {
        self.emit(EventKind::StateExited {
            thread,
            state_type: state.kind.type_name().to_string(),
            name: state.name.clone(),
            output: output.clone(),
            next: next.clone(),
            assigned,
        });
        match next {
            Some(next) => self.ready.push_back(Ready::Enter {
                thread,
                state: next,
                input: output,
            }),
            None => self.branch_done(thread, output),
        }
    }

    /// A thread reached the end of its branch with `output`.
    fn branch_done(&mut self, thread: ThreadId, output: Value) {
        let Some((parent, index)) = self.execution.thread(thread).parent else {
            self.emit(EventKind::ExecutionSucceeded { output });
            return;
        };
        match self.execution.thread(parent).step.light() {
            Step::Parallel {
                first_child,
                branches,
            } => {
                let mut outputs = Vec::with_capacity(branches);
                for child in first_child..first_child + branches as ThreadId {
                    match &self.execution.thread(child).step {
                        Step::Done { output } => outputs.push(output.clone()),
                        _ => return,
                    }
                }
                // AWS records no ParallelStateSucceeded: the state's Exited event follows
                // its last branch's end (issue 17's recorded histories).
                self.finish_with_result(parent, Value::Array(outputs));
            }
            Step::Map(_) => {
                self.emit(EventKind::MapIterationSucceeded {
                    thread: parent,
                    index,
                });
                self.map_pump(parent);
            }
            other => {
                panic!("thread {thread}'s parent {parent} is not running branches ({other:?})")
            }
        }
    }

    /// Starts iterations up to MaxConcurrency; finishes the Map when all are done.
    fn map_pump(&mut self, thread: ThreadId) {
        loop {
            let Step::Map(progress) = &self.execution.thread(thread).step else {
                return;
            };
            if progress.next_index >= progress.length {
                if progress.running == 0 {
                    let outputs = progress
                        .outputs
                        .iter()
                        .map(|output| output.clone().unwrap_or_default())
                        .collect();
                    self.emit(EventKind::MapSucceeded { thread });
                    self.finish_with_result(thread, Value::Array(outputs));
                }
                return;
            }
            if progress.max_concurrency != 0 && progress.running as u64 >= progress.max_concurrency
            {
                return;
            }
            // AWS fails an execution whose history would pass its limit: start no more
            // iterations (the run loop fails it), rather than emit them all first.
            if self.at_history_limit() {
                return;
            }
            // One step holds the runtime for all its work: past its share, the rest of
            // the Map goes on in a later step.
            if self.outcome.events.len() >= STEP_EVENTS {
                if !self.continuing.contains(&thread) {
                    self.continuing.push(thread);
                    self.effect(Effect::ArmTimer {
                        key: TimerKey::MapContinue { thread },
                        due_ms: self.env.now_ms,
                    });
                }
                return;
            }
            let index = progress.next_index;
            if let Err(error) = self.start_iteration(thread, index) {
                self.abort_iterations(thread);
                self.fail_state(thread, error, FailureSource::State);
                return;
            }
        }
    }

    fn start_iteration(&mut self, thread: ThreadId, index: usize) -> Result<(), StatesError> {
        let state = self
            .state_of(thread)
            .expect("a mapping thread is at a state");
        let StateKind::Map(map) = &state.kind else {
            unreachable!()
        };
        let read = match &self.execution.thread(thread).step {
            Step::Map(progress) => progress.input.0.clone(),
            _ => None,
        };
        let read = match read {
            Some(read) => read,
            // After a restart: read once, then kept.
            None => {
                let input = self.execution.thread(thread).input.clone();
                let plain = self.context(thread, state, None, None);
                let mut env = self.asl_env(thread, &plain);
                let selected = state.selected_input(&input, &env)?;
                let items = map.items(&selected, &mut env)?;
                let read = Arc::new((selected, items));
                if let Step::Map(progress) = &mut self.execution.thread_mut(thread).step {
                    progress.input = MapInput(Some(read.clone()));
                }
                read
            }
        };
        let (selected, items) = &*read;
        let item = items.get(index).cloned().unwrap_or_default();
        let context = self.context(
            thread,
            state,
            None,
            Some(MapItem {
                index,
                value: item.clone(),
            }),
        );
        let iteration_input =
            map.iteration_input(selected, &item, &mut self.asl_env(thread, &context))?;
        let child = self.execution.next_thread;
        self.emit(EventKind::MapIterationStarted {
            thread,
            index,
            child,
            input: iteration_input.clone(),
        });
        self.ready.push_back(Ready::Enter {
            thread: child,
            state: map.processor.start_at.clone(),
            input: iteration_input,
        });
        Ok(())
    }

    /// A state failed: consult its Retry and Catch, record the failure, and act on it.
    fn fail_state(&mut self, thread: ThreadId, error: StatesError, source: FailureSource) {
        let state = self
            .state_of(thread)
            .expect("a failing thread is at a state");
        let error = match source {
            FailureSource::State => self.located(thread, state, error),
            FailureSource::Task { .. } | FailureSource::Branch => error,
        };
        let handling: Option<&ErrorHandling> = match &state.kind {
            StateKind::Task(t) => Some(&t.errors),
            StateKind::Parallel(p) => Some(&p.errors),
            StateKind::Map(m) => Some(&m.errors),
            _ => None,
        };
        let input = self.execution.thread(thread).input.clone();
        let mut counts = self.execution.thread(thread).retries.clone();
        // An attempt that failed before its Started event could record its retry.
        let unrecorded = self.take_pending_retry(thread);
        if let Some((retrier, error)) = &unrecorded {
            counts.record(*retrier, error);
        }
        let decision = match handling {
            Some(handling) => handling.recover(&error, &mut counts, &input, &mut *self.env.random),
            None => Ok(retry::Recovery::Fail),
        };
        let (error, decision) = match decision {
            Ok(decision) => (error, decision),
            // The catcher's ResultPath failed; that error replaces the original.
            Err(result_path_error) => (result_path_error, retry::Recovery::Fail),
        };
        let recovery = match &decision {
            retry::Recovery::Retry { retrier, delay_ms } => Recovery::Retry {
                retrier: *retrier,
                error: error.error.clone(),
                due_ms: self.env.now_ms + *delay_ms as i64,
            },
            retry::Recovery::Catch { .. } => Recovery::Caught,
            retry::Recovery::Fail => Recovery::Propagated,
        };
        match (source, &state.kind) {
            (FailureSource::Task { family, timed_out }, _) => {
                let kind = if timed_out {
                    EventKind::TaskTimedOut {
                        thread,
                        family,
                        error: error.error.clone(),
                        cause: error.cause.clone(),
                        recovery: recovery.clone(),
                    }
                } else {
                    EventKind::TaskFailed {
                        thread,
                        family,
                        error: error.error.clone(),
                        cause: error.cause.clone(),
                        recovery: recovery.clone(),
                    }
                };
                self.emit(kind);
            }
            // A Parallel or Map fails as a state (ParallelStateFailed, MapStateFailed)
            // when its branches fail it; an error of its own that fails the execution
            // (an invalid ItemsPath or MaxConcurrencyPath) has no such event on AWS.
            (FailureSource::State, StateKind::Parallel(_) | StateKind::Map(_))
                if matches!(recovery, Recovery::Propagated) => {}
            // A retried Parallel or Map records its StateFailed once, after its last
            // attempt (AWS); the Backoff timer carries the retry until the next
            // attempt's Started event records it.
            (_, StateKind::Parallel(_) | StateKind::Map(_))
                if matches!(recovery, Recovery::Retry { .. }) && unrecorded.is_none() => {}
            (
                FailureSource::State | FailureSource::Branch,
                StateKind::Parallel(_) | StateKind::Map(_),
            ) => {
                self.emit(EventKind::StateFailed {
                    thread,
                    state_type: state.kind.type_name().to_string(),
                    name: state.name.clone(),
                    error: error.error.clone(),
                    cause: error.cause.clone(),
                    recovery: recovery.clone(),
                    retried: unrecorded.clone(),
                });
            }
            (FailureSource::State, StateKind::Task(_))
                if !matches!(recovery, Recovery::Propagated) =>
            {
                // A Task whose input processing failed before it was scheduled; record it
                // as a task failure so the retry or catch has an event to hang on.
                let StateKind::Task(task) = &state.kind else {
                    unreachable!()
                };
                let family = TaskFamily::of(&task.resource.target);
                self.emit(EventKind::TaskFailed {
                    thread,
                    family,
                    error: error.error.clone(),
                    cause: error.cause.clone(),
                    recovery: recovery.clone(),
                });
            }
            _ => {}
        }
        match decision {
            retry::Recovery::Retry { .. } => {
                let Recovery::Retry { due_ms, error, .. } = recovery else {
                    unreachable!()
                };
                // Recorded by a StateFailed event, the wait is a Backoff step like a
                // Task's; otherwise the timer carries the error to retry.
                let error = (matches!(state.kind, StateKind::Parallel(_) | StateKind::Map(_))
                    && unrecorded.is_none())
                .then_some(error);
                self.effect(Effect::ArmTimer {
                    key: TimerKey::Backoff {
                        thread,
                        due_ms,
                        error,
                    },
                    due_ms,
                });
            }
            retry::Recovery::Catch {
                next,
                output,
                catcher,
            } => {
                let handling = handling.expect("only a state with Catch catches");
                let error_output = error.to_error_output();
                let context = self.context(thread, state, None, None);
                let ending = state.caught(
                    &input,
                    &error_output,
                    output,
                    (catcher, &handling.catch[catcher]),
                    &mut self.asl_env(thread, &context),
                );
                // A catcher whose Output or Assign fails cannot catch: its error ends the
                // thread (AWS: the error replaces the one caught).
                if let Err(error) =
                    ending.and_then(|ending| self.leave(thread, state, ending, Some(next)))
                {
                    let error = self.located(thread, state, error);
                    self.thread_failed(thread, error.error, error.cause);
                }
            }
            retry::Recovery::Fail => self.thread_failed(thread, error.error, error.cause),
        }
    }

    /// An error the service raised while a state ran: its cause begins as AWS's do,
    /// naming the state and the event that entered it, and stops at AWS's 32,768
    /// characters for a cause (it may quote the state's input). AWS's recorded causes
    /// begin so for paths, intrinsics, JSONata and data limits alike; the rule followed
    /// is that every error the service raises in a state does (NoChoiceMatched included).
    fn located(&self, thread: ThreadId, state: &State, mut error: StatesError) -> StatesError {
        if !error
            .cause
            .starts_with("An error occurred while executing the state")
        {
            let entered = self.execution.thread(thread).entered_event;
            error.cause = format!(
                "An error occurred while executing the state '{}' (entered at the event id #{entered}). {}",
                state.name, error.cause
            );
        }
        if let Some((cut, _)) = error.cause.char_indices().nth(MAX_CAUSE_CHARS) {
            error.cause.truncate(cut);
        }
        error
    }

    /// The retry of a Parallel or Map whose Backoff timer came due. Its failed attempt
    /// left no event (AWS records none), so the decision is taken again from the
    /// recorded counts, and the new attempt's first event records it.
    fn retry_branches(&mut self, thread: ThreadId, error: String) {
        let Some(t) = self.execution.threads.get(&thread) else {
            return;
        };
        // Anything else means the thread moved on (aborted): the timer is stale.
        if !matches!(t.step, Step::Active | Step::Parallel { .. } | Step::Map(_)) {
            return;
        }
        let (mut counts, input) = (t.retries.clone(), t.input.clone());
        let Some(state) = self.state_of(thread) else {
            return;
        };
        let handling = match &state.kind {
            StateKind::Parallel(p) => &p.errors,
            StateKind::Map(m) => &m.errors,
            _ => return,
        };
        let retried = StatesError::new(error.clone(), "");
        let decision = handling.recover(&retried, &mut counts, &input, &mut *self.env.random);
        if let Ok(retry::Recovery::Retry { retrier, .. }) = decision {
            self.pending_retry = Some((thread, retrier, error));
            self.work(thread);
            self.pending_retry = None;
        }
    }

    /// The retry `thread`'s current attempt is, if no event has recorded it yet.
    fn take_pending_retry(&mut self, thread: ThreadId) -> Option<(usize, String)> {
        match &self.pending_retry {
            Some((t, _, _)) if *t == thread => self
                .pending_retry
                .take()
                .map(|(_, retrier, error)| (retrier, error)),
            _ => None,
        }
    }

    /// A thread failed and nothing in it handled the error: fail its parent state or the
    /// execution.
    fn thread_failed(&mut self, thread: ThreadId, error: String, cause: String) {
        let Some((parent, index)) = self.execution.thread(thread).parent else {
            self.abort_children(0);
            self.emit(EventKind::ExecutionFailed {
                error: Some(error),
                cause: Some(cause),
            });
            return;
        };
        match self.execution.thread(parent).step.light() {
            Step::Parallel { .. } => {
                // One branch failed: stop the others, then the Parallel state fails with
                // the branch's error.
                for sibling in self.execution.children(parent) {
                    if sibling != thread {
                        self.abort(sibling);
                    }
                }
                self.fail_state(
                    parent,
                    StatesError::new(error, cause),
                    FailureSource::Branch,
                );
            }
            Step::Map(progress) => {
                self.emit(EventKind::MapIterationFailed {
                    thread: parent,
                    index,
                    error: error.clone(),
                    cause: cause.clone(),
                });
                let configured =
                    progress.tolerance.count.is_some() || progress.tolerance.percentage.is_some();
                if progress
                    .tolerance
                    .exceeded(progress.failed + 1, progress.length)
                {
                    self.abort_iterations(parent);
                    let failure = if configured {
                        StatesError::new(
                            names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                            format!(
                                "{} of {} iterations failed, more than tolerated; the last failed with {error}: {cause}",
                                progress.failed + 1,
                                progress.length
                            ),
                        )
                    } else {
                        StatesError::new(error, cause)
                    };
                    self.fail_state(parent, failure, FailureSource::Branch);
                } else {
                    self.map_pump(parent);
                }
            }
            other => {
                panic!("thread {thread}'s parent {parent} is not running branches ({other:?})")
            }
        }
    }

    fn abort_iterations(&mut self, map_thread: ThreadId) {
        for child in self.execution.children(map_thread) {
            let index = self
                .execution
                .thread(child)
                .parent
                .map(|(_, i)| i)
                .unwrap_or_default();
            self.abort(child);
            self.emit(EventKind::MapIterationAborted {
                thread: map_thread,
                index,
            });
        }
    }

    fn abort_children(&mut self, thread: ThreadId) {
        for child in self.execution.children(thread) {
            self.abort(child);
        }
    }

    /// Stops whatever `thread`'s state is doing, children first.
    fn abort(&mut self, thread: ThreadId) {
        let Some(t) = self.execution.threads.get(&thread) else {
            return;
        };
        let step = t.step.light();
        let Some(state) = self.state_of(thread) else {
            return;
        };
        let (state_type, name) = (state.kind.type_name().to_string(), state.name.clone());
        match step {
            Step::Task(_) => self.close_task(thread, TaskClosed::Aborted),
            Step::Waiting { due_ms } => self.effect(Effect::CancelTimer {
                key: TimerKey::Wait { thread, due_ms },
                due_ms: Some(due_ms),
            }),
            Step::Backoff { due_ms } => self.effect(Effect::CancelTimer {
                key: TimerKey::Backoff {
                    thread,
                    due_ms,
                    error: None,
                },
                due_ms: Some(due_ms),
            }),
            Step::Parallel { .. } => self.abort_children(thread),
            Step::Map(_) => self.abort_iterations(thread),
            // Between commands a Parallel or Map is Active only while it waits to retry.
            Step::Active if matches!(state.kind, StateKind::Parallel(_) | StateKind::Map(_)) => {}
            Step::Active | Step::Done { .. } | Step::Failed { .. } | Step::Aborted => return,
        }
        self.emit(EventKind::StateAborted {
            thread,
            state_type,
            name,
        });
    }
}

/// AWS's limit on a cause's length (HistoryEvent details, SendTaskFailure).
const MAX_CAUSE_CHARS: usize = 32_768;

/// Where a state goes when it ends normally (None: its branch ends).
fn next_of(state: &State) -> Option<String> {
    match &state.transition {
        Some(Transition::Next(next)) => Some(next.clone()),
        _ => None,
    }
}

/// An unguessable token of `arn`'s execution (see `placement::task_token`).
fn new_token(arn: &str, random: &mut dyn RandomSource) -> String {
    crate::placement::task_token(arn, [random.next_u64(), random.next_u64()])
}

fn ms_to_timestamp(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// Milliseconds as an RFC 3339 timestamp, for the context object.
pub fn format_ms(ms: i64) -> String {
    timestamp::format(ms_to_timestamp(ms))
}
