//! Entering states and leaving them: each state type's work, and where it goes next.

use serde_json::Value;

use super::{Decider, FailureSource, Ready, format_ms, ms_to_timestamp};
use crate::asl::context::StateContext;
use crate::asl::definition::{QueryLanguage, State, StateKind, Transition};
use crate::asl::error::StatesError;
use crate::asl::flow::Ending;
use crate::asl::random::RandomSource;
use crate::asl::states::IntegrationPattern;
use crate::asl::variables::{Scope, check_assignment};
use crate::engine::effect::{Effect, TimerKey};
use crate::engine::history::{EventKind, TaskFamily, ThreadId};

impl<'a> Decider<'a, '_> {
    /// Enters a state: emits its Entered event, then does its work.
    pub(super) fn enter(&mut self, thread: ThreadId, name: &str, input: Value) {
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
    pub(super) fn work(&mut self, thread: ThreadId) {
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

    pub(super) fn run_pass(
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

    pub(super) fn run_fail(
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

    /// Choice and Succeed: InputPath, then (Choice) pick the next state, then OutputPath.
    pub(super) fn pass_through(
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

    pub(super) fn wait_done(&mut self, thread: ThreadId) {
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

    pub(super) fn schedule_task(
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
    pub(super) fn finish_with_result(&mut self, thread: ThreadId, result: Value) {
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
    pub(super) fn leave(
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
    pub(super) fn exit_to(
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
}

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
