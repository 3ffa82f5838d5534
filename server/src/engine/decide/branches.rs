//! Parallel branches and Map iterations: starting them, collecting their ends, and
//! aborting a thread with everything under it.

use std::sync::Arc;

use serde_json::Value;

use super::{Decider, FailureSource, Ready, STEP_EVENTS};
use crate::asl::context::MapItem;
use crate::asl::definition::{State, StateKind};
use crate::asl::error::StatesError;
use crate::engine::effect::{Effect, TaskClosed, TimerKey};
use crate::engine::execution::{MapInput, Step};
use crate::engine::history::{EventKind, ThreadId};

impl<'a> Decider<'a, '_> {
    pub(super) fn start_branches(
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

    pub(super) fn start_map(
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

    /// A thread reached the end of its branch with `output`.
    pub(super) fn branch_done(&mut self, thread: ThreadId, output: Value) {
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
    pub(super) fn map_pump(&mut self, thread: ThreadId) {
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

    pub(super) fn start_iteration(
        &mut self,
        thread: ThreadId,
        index: usize,
    ) -> Result<(), StatesError> {
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

    pub(super) fn abort_iterations(&mut self, map_thread: ThreadId) {
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

    pub(super) fn abort_children(&mut self, thread: ThreadId) {
        for child in self.execution.children(thread) {
            self.abort(child);
        }
    }

    /// Stops whatever `thread`'s state is doing: its timers, its task, its children.
    pub(super) fn abort(&mut self, thread: ThreadId) {
        let Some(t) = self.execution.threads.get(&thread) else {
            return;
        };
        let step = t.step.light();
        let Some(state) = self.state_of(thread) else {
            return;
        };
        let (state_type, name) = (state.kind.type_name().to_string(), state.name.clone());
        // What no event records (a Parallel's or Map's retry delay, a Map's continuation)
        // is in the ledger; a Wait's end and a retry delay are in the thread's step.
        self.cancel_ledger_timers_of(thread);
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
