//! Commands from outside (start, task results, timers, stop) and the tasks they close.

use serde_json::json;

use super::{Decider, FailureSource, Ready};
use crate::asl::definition::StateKind;
use crate::asl::error::{StatesError, names};
use crate::asl::states::Target;
use crate::engine::command::{Command, CommandError};
use crate::engine::effect::{Effect, TaskClosed, TimerKey};
use crate::engine::execution::{PendingTask, Step};
use crate::engine::history::{EventKind, ThreadId};

impl<'a> Decider<'a, '_> {
    pub(super) fn command(&mut self, command: Command) -> Result<(), CommandError> {
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
    pub(super) fn task_for(&self, token: &str) -> Result<(ThreadId, PendingTask), CommandError> {
        let thread = self.thread_for(token)?;
        let task = self
            .execution
            .pending_task(thread)
            .cloned()
            .ok_or(CommandError::UnknownToken)?;
        Ok((thread, task))
    }

    pub(super) fn thread_for(&self, token: &str) -> Result<ThreadId, CommandError> {
        self.execution
            .tokens
            .get(token)
            .copied()
            .ok_or(CommandError::UnknownToken)
    }

    pub(super) fn timer(&mut self, key: TimerKey) {
        // Fired: the runtime deletes its record with the step.
        self.armed.disarm(&key);
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

    pub(super) fn task_timed_out(&mut self, token: &str, heartbeat: bool) {
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
    pub(super) fn close_task(&mut self, thread: ThreadId, why: TaskClosed) {
        if let Some(task) = self.execution.pending_task(thread).cloned() {
            self.effect(Effect::CloseTask {
                task_token: task.task_token.clone(),
                delivery_token: task.delivery_token.clone(),
                queue: task.queue.clone(),
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
}
