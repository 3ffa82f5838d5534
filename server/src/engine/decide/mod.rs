//! The decider: given an execution, a command (start, a task result, a timer, stop) and
//! the environment (time, randomness), emit the history events that follow and the
//! effects the runtime must carry out. It runs until blocked: every state that needs
//! nothing from outside (Pass, Choice, Succeed, Fail, Parallel/Map bookkeeping, an
//! elapsed Wait) is processed in the same call, so its events commit in one batch.
//!
//! It never does I/O and changes the execution only through `Execution::evolve`.
//!
//! This file holds the decider's loop and what every idea shares (emitting, the context
//! object, the history limit); `commands` takes what comes from outside, `states` enters
//! and leaves states, `branches` runs Parallel branches and Map iterations, `failure`
//! applies Retry and Catch and passes an unhandled failure up.

mod branches;
mod commands;
mod failure;
mod states;

use std::collections::VecDeque;

use serde_json::Value;

use super::armed::ArmedTimers;
use super::command::{Command, CommandError};
use super::effect::{Effect, Outcome, TimerKey};
use super::execution::{Execution, Identity, Status};
use super::history::{Event, EventKind, TaskFamily, ThreadId};
use super::machine::Machine;
use crate::asl::context::{
    ContextObject, ExecutionContext, MapContext, MapItem, StateContext, StateMachineContext,
    TaskContext,
};
use crate::asl::definition::State;
use crate::asl::error::names;
use crate::asl::eval::Env as AslEnv;
use crate::asl::jsonata::Limits;
use crate::asl::random::RandomSource;
use crate::asl::timestamp;

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
    armed: &mut ArmedTimers,
    machine: &Machine,
    command: Command,
    env: &mut Env,
) -> Result<Outcome, CommandError> {
    let mut decider = Decider {
        execution,
        armed,
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
    /// The armed timers no event records, kept in step with `effect`.
    armed: &'a mut ArmedTimers,
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
        let ends = event.kind.is_terminal();
        // Only its own timer's firing times an execution out; any other end cancels it.
        let timer_left = !matches!(event.kind, EventKind::ExecutionTimedOut { .. });
        self.execution.evolve(&event);
        self.outcome.events.push(event);
        if ends {
            // Its threads' timers went as they were aborted; its TimeoutSeconds and
            // whatever the ledger still holds go with it.
            if let (Some(seconds), true) = (self.execution.timeout_seconds, timer_left) {
                self.effect(Effect::CancelTimer {
                    key: TimerKey::Execution,
                    // Armed at the start (`command`), from its event's time.
                    due_ms: Some(self.execution.start_ms + seconds as i64 * 1000),
                });
            }
            for (key, due_ms) in self.armed.take_all() {
                self.effect(Effect::CancelTimer {
                    key,
                    due_ms: Some(due_ms),
                });
            }
        }
    }

    /// Records an effect, keeping the ledger of armed timers in step.
    fn effect(&mut self, effect: Effect) {
        match &effect {
            Effect::ArmTimer { key, due_ms } => self.armed.arm(key.clone(), *due_ms),
            Effect::CancelTimer { key, .. } => self.armed.disarm(key),
            _ => {}
        }
        self.outcome.effects.push(effect);
    }

    /// Cancels the timers of a thread that only the ledger knows, as its state is
    /// aborted.
    fn cancel_ledger_timers_of(&mut self, thread: ThreadId) {
        for (key, due_ms) in self.armed.of_thread(thread) {
            self.effect(Effect::CancelTimer {
                key,
                due_ms: Some(due_ms),
            });
        }
    }

    fn running(&self) -> bool {
        self.execution.status == Status::Running
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
}

fn ms_to_timestamp(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// Milliseconds as an RFC 3339 timestamp, for the context object.
pub fn format_ms(ms: i64) -> String {
    timestamp::format(ms_to_timestamp(ms))
}
