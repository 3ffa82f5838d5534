//! History events: what happened to an execution, in order, shaped like AWS Step
//! Functions' HistoryEvent (id from 1, previous event id, timestamp, type, details).
//!
//! Each event also carries the internal facts the engine needs to rebuild an execution
//! from its history alone (which thread it concerns, task tokens, timer due times, where
//! a state goes next). The API shows the AWS fields; the store keeps everything, so
//! `Execution::replay(history)` yields exactly the state the live engine had. Every
//! event is one AWS shows, so ids stay contiguous.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::asl::variables::Scope;

/// A thread of control: the root of the execution, a Parallel branch or a Map iteration.
pub type ThreadId = u32;

/// One history event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// 1, 2, 3, ... within the execution.
    pub id: u64,
    /// The event this one follows from (0 for the first).
    pub previous_event_id: u64,
    /// When it happened, in Unix epoch milliseconds.
    pub timestamp_ms: i64,
    /// What happened.
    pub kind: EventKind,
}

/// Which family of task events a Task state's resource uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskFamily {
    /// `ActivityScheduled`, `ActivityStarted`, ...
    Activity,
    /// `LambdaFunctionScheduled`, ...
    LambdaFunction,
    /// `TaskScheduled`, ... (`arn:aws:states:::` integrations)
    Task,
}

impl TaskFamily {
    /// The family a resource reports in: activities and Lambda function ARNs have their
    /// own event names; every `arn:aws:states:::` integration uses `Task...`.
    pub fn of(target: &crate::asl::states::Target) -> TaskFamily {
        use crate::asl::states::Target;
        match target {
            Target::Activity { .. } => TaskFamily::Activity,
            Target::LambdaFunction { .. } => TaskFamily::LambdaFunction,
            Target::LambdaInvoke | Target::Service { .. } => TaskFamily::Task,
        }
    }
}

/// What a failure led to, decided by the state's Retry and Catch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Recovery {
    /// Run the state's work again at `due_ms`; retrier `retrier` fired for `error`.
    Retry {
        /// Which retrier.
        retrier: usize,
        /// The error name it fired for (MaxAttempts counts per name).
        error: String,
        /// When to run again.
        due_ms: i64,
    },
    /// A catcher matched; the state exits with the next event.
    Caught,
    /// Nothing handled it: the thread fails with the error.
    Propagated,
}

/// What happened, with the details AWS shows and the internal facts replay needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EventKind {
    /// The execution began.
    ExecutionStarted {
        /// The execution's input.
        input: Value,
        /// The role AWS would run as.
        role_arn: String,
        /// The execution's time limit, if any (internal).
        timeout_seconds: Option<u64>,
    },
    /// The execution ended successfully.
    ExecutionSucceeded {
        /// Its output.
        output: Value,
    },
    /// The execution failed.
    ExecutionFailed {
        /// The error name.
        error: Option<String>,
        /// The cause.
        cause: Option<String>,
    },
    /// The execution was stopped.
    ExecutionAborted {
        /// The error given to Stop.
        error: Option<String>,
        /// The cause given to Stop.
        cause: Option<String>,
    },
    /// The execution ran past its TimeoutSeconds.
    ExecutionTimedOut {
        /// `States.Timeout`.
        error: Option<String>,
        /// Why.
        cause: Option<String>,
    },
    /// A state was entered (`PassStateEntered`, `TaskStateEntered`, ...).
    StateEntered {
        /// The thread entering it.
        thread: ThreadId,
        /// Its type name (`Pass`, `Task`, ...).
        state_type: String,
        /// Its name.
        name: String,
        /// Its raw input.
        input: Value,
        /// For a Wait state that must wait: when it ends (internal).
        wait_due_ms: Option<i64>,
    },
    /// A state was left (`PassStateExited`, ...).
    StateExited {
        /// The thread leaving it.
        thread: ThreadId,
        /// Its type name.
        state_type: String,
        /// Its name.
        name: String,
        /// Its output.
        output: Value,
        /// The next state in the same branch; `None` when the branch (or execution) ends.
        next: Option<String>,
        /// The variables its `Assign` set (AWS's `assignedVariables`); absent in
        /// histories written before variables existed.
        #[serde(default, skip_serializing_if = "Scope::is_empty")]
        assigned: Scope,
    },
    /// A state's work was stopped because a sibling branch failed or the execution
    /// ended (`TaskStateAborted`, `WaitStateAborted`, `ParallelStateAborted`, `MapStateAborted`).
    StateAborted {
        /// The thread.
        thread: ThreadId,
        /// Its type name.
        state_type: String,
        /// Its name.
        name: String,
    },
    /// A task was offered to a queue (`ActivityScheduled`, `LambdaFunctionScheduled`,
    /// `TaskScheduled`).
    TaskScheduled {
        /// The thread.
        thread: ThreadId,
        /// Which event family.
        family: TaskFamily,
        /// The Resource ARN.
        resource: String,
        /// The queue it was offered on.
        queue: String,
        /// The task's input (after Parameters).
        parameters: Value,
        /// TimeoutSeconds, resolved.
        timeout_seconds: Option<u64>,
        /// HeartbeatSeconds, resolved.
        heartbeat_seconds: Option<u64>,
        /// The token `$$.Task.Token` gave the task.
        task_token: String,
        /// The token a poller receives (equal to the task token except for
        /// `.waitForTaskToken`, where the poller's result only submits the task).
        delivery_token: String,
    },
    /// A worker took the task (`ActivityStarted`, `LambdaFunctionStarted`, `TaskStarted`).
    TaskStarted {
        /// The thread.
        thread: ThreadId,
        /// Which event family.
        family: TaskFamily,
        /// The poller's self-reported name.
        worker_name: String,
        /// The poll's idempotency key (internal), so a retried poll finds its task.
        poll_id: Option<String>,
    },
    /// For `.waitForTaskToken`: the worker delivered the task; its completion now comes
    /// only through the task token (`TaskSubmitted`).
    TaskSubmitted {
        /// The thread.
        thread: ThreadId,
        /// What the worker returned.
        output: Value,
    },
    /// The task succeeded (`ActivitySucceeded`, ...).
    TaskSucceeded {
        /// The thread.
        thread: ThreadId,
        /// Which event family.
        family: TaskFamily,
        /// The task's result.
        output: Value,
    },
    /// The task failed (`ActivityFailed`, ...).
    TaskFailed {
        /// The thread.
        thread: ThreadId,
        /// Which event family.
        family: TaskFamily,
        /// The error name.
        error: String,
        /// The cause.
        cause: String,
        /// What Retry/Catch made of it.
        recovery: Recovery,
    },
    /// The task timed out or missed a heartbeat (`ActivityTimedOut`, ...).
    TaskTimedOut {
        /// The thread.
        thread: ThreadId,
        /// Which event family.
        family: TaskFamily,
        /// `States.Timeout` or `States.HeartbeatTimeout`.
        error: String,
        /// Why.
        cause: String,
        /// What Retry/Catch made of it.
        recovery: Recovery,
    },
    /// A Parallel or Map state failed (`ParallelStateFailed`, `MapStateFailed`): a branch
    /// or too many iterations failed, or its own data processing did.
    StateFailed {
        /// The thread.
        thread: ThreadId,
        /// Its type name.
        state_type: String,
        /// Its name.
        name: String,
        /// The error name.
        error: String,
        /// The cause.
        cause: String,
        /// What Retry/Catch made of it.
        recovery: Recovery,
        /// The retry the failed attempt was, when it failed before its Started event
        /// could record it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retried: Option<(usize, String)>,
    },
    /// A Parallel state started its branches (`ParallelStateStarted`); the branch
    /// threads get the next ids in order.
    ParallelStarted {
        /// The Parallel state's thread.
        thread: ThreadId,
        /// The input every branch receives.
        input: Value,
        /// The first branch thread's id.
        first_child: ThreadId,
        /// How many branches.
        branches: usize,
        /// The retry this attempt is (retrier index, error), recorded here because AWS
        /// records no event for a retried Parallel's failed attempt.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retried: Option<(usize, String)>,
    },
    /// Every branch succeeded (`ParallelStateSucceeded`).
    ParallelSucceeded {
        /// The Parallel state's thread.
        thread: ThreadId,
    },
    /// A Map state found its items (`MapStateStarted`).
    MapStarted {
        /// The Map state's thread.
        thread: ThreadId,
        /// How many items.
        length: usize,
        /// MaxConcurrency, resolved (0: unlimited).
        max_concurrency: u64,
        /// ToleratedFailureCount, resolved.
        tolerated_count: Option<u64>,
        /// ToleratedFailurePercentage, resolved.
        tolerated_percentage: Option<f64>,
        /// The retry this attempt is (retrier index, error), as for ParallelStarted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retried: Option<(usize, String)>,
    },
    /// An iteration began (`MapIterationStarted`).
    MapIterationStarted {
        /// The Map state's thread.
        thread: ThreadId,
        /// The item's index.
        index: usize,
        /// The iteration's thread.
        child: ThreadId,
        /// The iteration's input.
        input: Value,
    },
    /// An iteration succeeded (`MapIterationSucceeded`).
    MapIterationSucceeded {
        /// The Map state's thread.
        thread: ThreadId,
        /// The item's index.
        index: usize,
    },
    /// An iteration failed (`MapIterationFailed`).
    MapIterationFailed {
        /// The Map state's thread.
        thread: ThreadId,
        /// The item's index.
        index: usize,
        /// The error name.
        error: String,
        /// The cause.
        cause: String,
    },
    /// An iteration was stopped (`MapIterationAborted`).
    MapIterationAborted {
        /// The Map state's thread.
        thread: ThreadId,
        /// The item's index.
        index: usize,
    },
    /// Every iteration is done within tolerance (`MapStateSucceeded`).
    MapSucceeded {
        /// The Map state's thread.
        thread: ThreadId,
    },
}

impl EventKind {
    /// The AWS event type name, e.g. `TaskStateEntered` or `LambdaFunctionScheduled`.
    pub fn type_name(&self) -> String {
        let family = |f: &TaskFamily| match f {
            TaskFamily::Activity => "Activity",
            TaskFamily::LambdaFunction => "LambdaFunction",
            TaskFamily::Task => "Task",
        };
        match self {
            EventKind::ExecutionStarted { .. } => "ExecutionStarted".into(),
            EventKind::ExecutionSucceeded { .. } => "ExecutionSucceeded".into(),
            EventKind::ExecutionFailed { .. } => "ExecutionFailed".into(),
            EventKind::ExecutionAborted { .. } => "ExecutionAborted".into(),
            EventKind::ExecutionTimedOut { .. } => "ExecutionTimedOut".into(),
            EventKind::StateEntered { state_type, .. } => format!("{state_type}StateEntered"),
            EventKind::StateExited { state_type, .. } => format!("{state_type}StateExited"),
            EventKind::StateAborted { state_type, .. } => format!("{state_type}StateAborted"),
            EventKind::StateFailed { state_type, .. } => format!("{state_type}StateFailed"),
            EventKind::TaskScheduled { family: f, .. } => format!("{}Scheduled", family(f)),
            EventKind::TaskStarted { family: f, .. } => format!("{}Started", family(f)),
            EventKind::TaskSubmitted { .. } => "TaskSubmitted".into(),
            EventKind::TaskSucceeded { family: f, .. } => format!("{}Succeeded", family(f)),
            EventKind::TaskFailed { family: f, .. } => format!("{}Failed", family(f)),
            EventKind::TaskTimedOut { family: f, .. } => format!("{}TimedOut", family(f)),
            EventKind::ParallelStarted { .. } => "ParallelStateStarted".into(),
            EventKind::ParallelSucceeded { .. } => "ParallelStateSucceeded".into(),
            EventKind::MapStarted { .. } => "MapStateStarted".into(),
            EventKind::MapIterationStarted { .. } => "MapIterationStarted".into(),
            EventKind::MapIterationSucceeded { .. } => "MapIterationSucceeded".into(),
            EventKind::MapIterationFailed { .. } => "MapIterationFailed".into(),
            EventKind::MapIterationAborted { .. } => "MapIterationAborted".into(),
            EventKind::MapSucceeded { .. } => "MapStateSucceeded".into(),
        }
    }

    /// The thread the event concerns; `None` for the execution's own events.
    pub fn thread(&self) -> Option<ThreadId> {
        match self {
            EventKind::ExecutionStarted { .. }
            | EventKind::ExecutionSucceeded { .. }
            | EventKind::ExecutionFailed { .. }
            | EventKind::ExecutionAborted { .. }
            | EventKind::ExecutionTimedOut { .. } => None,
            EventKind::StateEntered { thread, .. }
            | EventKind::StateExited { thread, .. }
            | EventKind::StateAborted { thread, .. }
            | EventKind::TaskScheduled { thread, .. }
            | EventKind::TaskStarted { thread, .. }
            | EventKind::TaskSubmitted { thread, .. }
            | EventKind::TaskSucceeded { thread, .. }
            | EventKind::TaskFailed { thread, .. }
            | EventKind::TaskTimedOut { thread, .. }
            | EventKind::StateFailed { thread, .. }
            | EventKind::ParallelStarted { thread, .. }
            | EventKind::ParallelSucceeded { thread }
            | EventKind::MapStarted { thread, .. }
            | EventKind::MapIterationStarted { thread, .. }
            | EventKind::MapIterationSucceeded { thread, .. }
            | EventKind::MapIterationFailed { thread, .. }
            | EventKind::MapIterationAborted { thread, .. }
            | EventKind::MapSucceeded { thread } => Some(*thread),
        }
    }

    /// For a failure that Retry and Catch decide on (a task's failure or time-out, a
    /// Parallel or Map state's failure): its thread, error, cause and recovery.
    pub fn failure(&self) -> Option<(ThreadId, &str, &str, &Recovery)> {
        match self {
            EventKind::TaskFailed {
                thread,
                error,
                cause,
                recovery,
                ..
            }
            | EventKind::TaskTimedOut {
                thread,
                error,
                cause,
                recovery,
                ..
            }
            | EventKind::StateFailed {
                thread,
                error,
                cause,
                recovery,
                ..
            } => Some((*thread, error, cause, recovery)),
            _ => None,
        }
    }

    /// Whether this event ends the execution.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            EventKind::ExecutionSucceeded { .. }
                | EventKind::ExecutionFailed { .. }
                | EventKind::ExecutionAborted { .. }
                | EventKind::ExecutionTimedOut { .. }
        )
    }
}
