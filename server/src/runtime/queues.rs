//! Task queues: tasks offered by executions wait here until a worker polls. Each offer
//! goes to exactly one poller (taking it is one locked step); the poller then records
//! TaskStarted durably before the task is handed over, so a task taken by a poller that
//! dies before that commit is simply offered again after a restart.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::Notify;

use crate::asl::definition::StateKind;
use crate::engine::Machine;
use crate::engine::execution::{PendingTask, Thread};

/// A task waiting for a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    /// The delivery token.
    pub token: String,
    /// The queue.
    pub queue: String,
    /// The execution it belongs to.
    pub execution: String,
    /// The Task state's name.
    pub state_name: String,
    /// The task's input.
    pub input: Value,
    /// HeartbeatSeconds.
    pub heartbeat_seconds: Option<u64>,
    /// TimeoutSeconds.
    pub timeout_seconds: Option<u64>,
    /// The trace context of the execution's start, if it was traced.
    pub traceparent: Option<String>,
}

impl Offer {
    /// The offer a pending task makes to pollers: what its worker receives.
    pub fn of_task(
        execution: &str,
        machine: &Machine,
        thread: &Thread,
        task: &PendingTask,
        traceparent: Option<String>,
    ) -> Offer {
        let state = thread.state.as_deref().and_then(|name| machine.state(name));
        let input = match state.map(|s| &s.kind) {
            Some(StateKind::Task(t)) => t.resource.worker_input(&task.parameters),
            _ => task.parameters.clone(),
        };
        Offer {
            token: task.delivery_token.clone(),
            queue: task.queue.clone(),
            execution: execution.to_string(),
            state_name: thread.state.clone().unwrap_or_default(),
            input,
            heartbeat_seconds: task.heartbeat_seconds,
            timeout_seconds: task.timeout_seconds,
            traceparent,
        }
    }
}

#[derive(Default)]
struct Waiting {
    by_queue: HashMap<String, VecDeque<Offer>>,
    /// Set at shutdown: polls return at once with nothing.
    closed: bool,
    /// Poll idempotency keys of started tasks: poll id → (execution, delivery token). Kept
    /// with the queues, whose lock every poll takes anyway, so a poll learns whether it
    /// repeats an earlier one without visiting every partition.
    polls: HashMap<String, (String, String)>,
}

/// All queues.
#[derive(Default)]
pub struct Queues {
    waiting: Mutex<Waiting>,
    offered: Notify,
}

impl Queues {
    /// Adds a task to the end of its queue and wakes pollers.
    pub fn offer(&self, offer: Offer) {
        let mut waiting = self.waiting.lock().expect("queue lock");
        waiting
            .by_queue
            .entry(offer.queue.clone())
            .or_default()
            .push_back(offer);
        drop(waiting);
        self.offered.notify_waiters();
    }

    /// Withdraws a task that is no longer wanted (finished, aborted, timed out).
    pub fn withdraw(&self, queue: &str, token: &str) {
        let mut waiting = self.waiting.lock().expect("queue lock");
        if let Some(offers) = waiting.by_queue.get_mut(queue) {
            offers.retain(|o| o.token != token);
        }
    }

    /// Ends every poll in progress and refuses new ones (at shutdown), so that long polls
    /// do not hold up the drain of requests in flight.
    pub fn close(&self) {
        self.waiting.lock().expect("queue lock").closed = true;
        self.offered.notify_waiters();
    }

    /// Resolves at the next offer on any queue (or at shutdown).
    pub fn offered(&self) -> tokio::sync::futures::Notified<'_> {
        self.offered.notified()
    }

    /// Whether the queues were closed (at shutdown).
    pub fn is_closed(&self) -> bool {
        self.waiting.lock().expect("queue lock").closed
    }

    /// Takes the oldest task of the first queue that has one.
    pub fn take(&self, queues: &[String]) -> Option<Offer> {
        let mut waiting = self.waiting.lock().expect("queue lock");
        if waiting.closed {
            return None;
        }
        queues
            .iter()
            .find_map(|q| waiting.by_queue.get_mut(q).and_then(VecDeque::pop_front))
    }

    /// Takes a task, waiting until `deadline` for one to be offered.
    pub async fn take_or_wait(
        &self,
        queues: &[String],
        deadline: tokio::time::Instant,
    ) -> Option<Offer> {
        loop {
            // Register for wake-ups before looking, so an offer made in between is not missed.
            let notified = self.offered.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(offer) = self.take(queues) {
                return Some(offer);
            }
            if self.is_closed() {
                return None;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.take(queues);
            }
        }
    }

    /// Remembers the task a poll (by its idempotency key) started.
    pub fn remember_poll(&self, poll_id: &str, execution: &str, delivery_token: &str) {
        self.waiting.lock().expect("queue lock").polls.insert(
            poll_id.to_string(),
            (execution.to_string(), delivery_token.to_string()),
        );
    }

    /// Forgets a poll whose task closed.
    pub fn forget_poll(&self, poll_id: &str) {
        self.waiting
            .lock()
            .expect("queue lock")
            .polls
            .remove(poll_id);
    }

    /// The execution and delivery token of the task a poll started.
    pub fn poll_of(&self, poll_id: &str) -> Option<(String, String)> {
        self.waiting
            .lock()
            .expect("queue lock")
            .polls
            .get(poll_id)
            .cloned()
    }

    /// How many tasks wait on `queue`.
    pub fn len(&self, queue: &str) -> usize {
        let waiting = self.waiting.lock().expect("queue lock");
        waiting.by_queue.get(queue).map_or(0, VecDeque::len)
    }
}
