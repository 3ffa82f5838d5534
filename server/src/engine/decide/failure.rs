//! A state's failure: its Retry and Catch, the event that records it, and a thread's
//! failure passed up to its Parallel, Map or the execution.

use super::{Decider, FailureSource};
use crate::asl::definition::{State, StateKind};
use crate::asl::error::{StatesError, names};
use crate::asl::retry::{self, ErrorHandling};
use crate::engine::effect::{Effect, TimerKey};
use crate::engine::execution::Step;
use crate::engine::history::{EventKind, Recovery, TaskFamily, ThreadId};

impl<'a> Decider<'a, '_> {
    /// A state failed: consult its Retry and Catch, record the failure, and act on it.
    pub(super) fn fail_state(
        &mut self,
        thread: ThreadId,
        error: StatesError,
        source: FailureSource,
    ) {
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
        if let Some(kind) = failure_record(thread, state, source, &error, &recovery, &unrecorded) {
            self.emit(kind);
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
    pub(super) fn located(
        &self,
        thread: ThreadId,
        state: &State,
        mut error: StatesError,
    ) -> StatesError {
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
    pub(super) fn retry_branches(&mut self, thread: ThreadId, error: String) {
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
    pub(super) fn take_pending_retry(&mut self, thread: ThreadId) -> Option<(usize, String)> {
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
    pub(super) fn thread_failed(&mut self, thread: ThreadId, error: String, cause: String) {
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
}

/// The event that records a state's failure and what was decided about it, if AWS records
/// one: a task's TaskFailed or TaskTimedOut; a Parallel's or Map's StateFailed, except
/// while it is retried without a record (the Backoff timer carries that retry) or when
/// an error of its own fails the execution; a TaskFailed for a Task whose input
/// processing failed before it was scheduled, when Retry or Catch needs an event to hang
/// on; nothing for other states, whose failure is the execution's or their branch's.
fn failure_record(
    thread: ThreadId,
    state: &State,
    source: FailureSource,
    error: &StatesError,
    recovery: &Recovery,
    unrecorded: &Option<(usize, String)>,
) -> Option<EventKind> {
    let (error, cause, recovery) = (error.error.clone(), error.cause.clone(), recovery.clone());
    let branching = matches!(state.kind, StateKind::Parallel(_) | StateKind::Map(_));
    match (source, &state.kind) {
        (FailureSource::Task { family, timed_out }, _) => Some(if timed_out {
            EventKind::TaskTimedOut {
                thread,
                family,
                error,
                cause,
                recovery,
            }
        } else {
            EventKind::TaskFailed {
                thread,
                family,
                error,
                cause,
                recovery,
            }
        }),
        // A Parallel or Map fails as a state (ParallelStateFailed, MapStateFailed) when
        // its branches fail it; an error of its own that fails the execution (an invalid
        // ItemsPath or MaxConcurrencyPath) has no such event on AWS.
        (FailureSource::State, _) if branching && matches!(recovery, Recovery::Propagated) => None,
        // A retried Parallel or Map records its StateFailed once, after its last attempt
        // (AWS); the Backoff timer carries the retry until the next attempt's Started
        // event records it.
        _ if branching && matches!(recovery, Recovery::Retry { .. }) && unrecorded.is_none() => {
            None
        }
        _ if branching => Some(EventKind::StateFailed {
            thread,
            state_type: state.kind.type_name().to_string(),
            name: state.name.clone(),
            error,
            cause,
            recovery,
            retried: unrecorded.clone(),
        }),
        (FailureSource::State, StateKind::Task(task))
            if !matches!(recovery, Recovery::Propagated) =>
        {
            Some(EventKind::TaskFailed {
                thread,
                family: TaskFamily::of(&task.resource.target),
                error,
                cause,
                recovery,
            })
        }
        _ => None,
    }
}

/// AWS's limit on a cause's length (HistoryEvent details, SendTaskFailure).
const MAX_CAUSE_CHARS: usize = 32_768;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::asl::validate::parse;
    use crate::engine::machine::Machine;

    fn machine() -> Machine {
        let definition = json!({
            "StartAt": "Work",
            "States": {
                "Work": {"Type": "Task", "Resource": "arn:aws:states:::activity:q", "Next": "Fan"},
                "Fan": {"Type": "Parallel", "Next": "Done", "Branches": [
                    {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": true}}}
                ]},
                "Done": {"Type": "Succeed"}
            }
        });
        Machine::new(parse(&definition.to_string()).expect("valid").machine)
    }

    fn record(
        state: &str,
        source: FailureSource,
        recovery: Recovery,
        unrecorded: Option<(usize, String)>,
    ) -> Option<String> {
        let machine = machine();
        let state = machine.state(state).expect("state");
        let error = StatesError::new("E", "why");
        failure_record(3, state, source, &error, &recovery, &unrecorded)
            .map(|kind| kind.type_name().to_string())
    }

    fn retry() -> Recovery {
        Recovery::Retry {
            retrier: 0,
            error: "E".into(),
            due_ms: 9,
        }
    }

    #[test]
    fn a_task_result_or_timeout_is_always_recorded() {
        let task = |timed_out| FailureSource::Task {
            family: TaskFamily::Activity,
            timed_out,
        };
        for recovery in [retry(), Recovery::Caught, Recovery::Propagated] {
            assert_eq!(
                record("Work", task(false), recovery.clone(), None),
                Some("ActivityFailed".into())
            );
            assert_eq!(
                record("Work", task(true), recovery, None),
                Some("ActivityTimedOut".into())
            );
        }
    }

    #[test]
    fn a_task_failing_before_it_is_scheduled_is_recorded_only_when_handled() {
        let state = FailureSource::State;
        assert_eq!(
            record("Work", state, Recovery::Caught, None),
            Some("ActivityFailed".into())
        );
        assert_eq!(
            record("Work", state, retry(), None),
            Some("ActivityFailed".into())
        );
        assert_eq!(record("Work", state, Recovery::Propagated, None), None);
    }

    #[test]
    fn a_parallel_records_its_failure_once_after_its_last_attempt() {
        let branch = FailureSource::Branch;
        // Retried: the Backoff timer carries it, no event.
        assert_eq!(record("Fan", branch, retry(), None), None);
        // Retried again after an attempt no event recorded: that attempt's retry is
        // recorded now.
        let earlier = Some((0, "E".to_string()));
        assert_eq!(
            record("Fan", branch, retry(), earlier),
            Some("ParallelStateFailed".into())
        );
        assert_eq!(
            record("Fan", branch, Recovery::Caught, None),
            Some("ParallelStateFailed".into())
        );
        assert_eq!(
            record("Fan", branch, Recovery::Propagated, None),
            Some("ParallelStateFailed".into())
        );
        // Its own error failing the execution has no StateFailed on AWS.
        assert_eq!(
            record("Fan", FailureSource::State, Recovery::Propagated, None),
            None
        );
    }

    #[test]
    fn other_states_leave_the_record_to_their_branch_or_the_execution() {
        assert_eq!(
            record("Done", FailureSource::State, Recovery::Propagated, None),
            None
        );
    }
}
