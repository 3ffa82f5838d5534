//! What the engine asks of the runtime (its output besides the events): offer or close a
//! task, arm or cancel a timer; the timers it can ask for; and one command's outcome.

use serde_json::Value;

use super::history::{Event, ThreadId};

/// A timer the runtime keeps for an execution.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum TimerKey {
    /// A Wait state's end.
    Wait {
        /// The waiting thread.
        thread: ThreadId,
        /// When it ends (makes a stale timer recognisable).
        due_ms: i64,
    },
    /// A retry's delay.
    Backoff {
        /// The thread.
        thread: ThreadId,
        /// When to retry.
        due_ms: i64,
        /// For a Parallel or Map, the error being retried: AWS records no event for a
        /// retried attempt of these, so the durable timer is what carries the retry
        /// until the next attempt's Started event records it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A task's TimeoutSeconds.
    TaskTimeout {
        /// The task token.
        token: String,
    },
    /// A task's HeartbeatSeconds (in memory only: re-armed by every heartbeat).
    Heartbeat {
        /// The task token.
        token: String,
    },
    /// The execution's TimeoutSeconds.
    Execution,
    /// A Map that started as many iterations as one step may goes on in a step of its
    /// own, so other executions and calls get their turn in between (due at once).
    MapContinue {
        /// The Map's thread.
        thread: ThreadId,
    },
}

impl TimerKey {
    /// Whether the timer must survive a restart (heartbeat timers are re-armed instead).
    pub fn is_durable(&self) -> bool {
        !matches!(self, TimerKey::Heartbeat { .. })
    }

    /// Whether the replayed execution knows when this timer is due: a Wait's end, a
    /// task's retry delay or timeout and the execution's timeout are in its events; a
    /// Parallel's or Map's retry that no event records yet (AWS records none) and a Map's
    /// continuation are known only to the step that armed them.
    pub fn due_in_history(&self) -> bool {
        !matches!(
            self,
            TimerKey::Backoff { error: Some(_), .. } | TimerKey::MapContinue { .. }
        )
    }

    /// The thread the timer belongs to (none for the execution's and a task's, which
    /// belong to the execution and the task).
    pub fn thread(&self) -> Option<ThreadId> {
        match self {
            TimerKey::Wait { thread, .. }
            | TimerKey::Backoff { thread, .. }
            | TimerKey::MapContinue { thread } => Some(*thread),
            TimerKey::TaskTimeout { .. } | TimerKey::Heartbeat { .. } | TimerKey::Execution => None,
        }
    }
}

/// Something the runtime must do once the events are durable.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Offer a task on a queue: everything the runtime needs to register its tokens
    /// and hand it to a poller, so it never reads the step's events for them.
    OfferTask {
        /// The token the poller receives.
        delivery_token: String,
        /// The token `$$.Task.Token` gave the task (the same for most tasks).
        task_token: String,
        /// The queue.
        queue: String,
        /// The Task state's name.
        state_name: String,
        /// The task's input.
        input: Value,
        /// HeartbeatSeconds, for the worker's heartbeats.
        heartbeat_seconds: Option<u64>,
        /// TimeoutSeconds, shown to the worker.
        timeout_seconds: Option<u64>,
    },
    /// A poller took the task: `poll_id` (its idempotency key, if it gave one) now names
    /// it, so a repeated poll gets the same task back.
    TaskTaken {
        /// The delivery token.
        delivery_token: String,
        /// The poll's idempotency key.
        poll_id: Option<String>,
    },
    /// The task is finished or abandoned: forget its tokens and withdraw any offer.
    CloseTask {
        /// The task token.
        task_token: String,
        /// The delivery token.
        delivery_token: String,
        /// The queue it was offered on.
        queue: String,
        /// Why, so a result that arrives later is refused with the reason.
        why: TaskClosed,
    },
    /// Fire `key` at `due_ms`.
    ArmTimer {
        /// Which timer.
        key: TimerKey,
        /// When.
        due_ms: i64,
    },
    /// Forget `key`.
    CancelTimer {
        /// Which timer.
        key: TimerKey,
        /// When it was due (None for a heartbeat timer, which is never stored), so the
        /// runtime can delete its stored record without looking it up.
        due_ms: Option<i64>,
    },
}

/// Why a task stopped taking results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskClosed {
    /// Its worker reported success or failure.
    Reported,
    /// TimeoutSeconds or HeartbeatSeconds passed.
    TimedOut,
    /// Its state was aborted: the execution ended, or a Parallel branch or Map iteration
    /// beside it failed.
    Aborted,
}

/// The events and effects of one command.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// New history events, in order.
    pub events: Vec<Event>,
    /// What the runtime must do after committing them.
    pub effects: Vec<Effect>,
}
