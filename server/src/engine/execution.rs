//! The state of one execution, changed only by applying history events (`evolve`). The
//! decider emits events and evolves its working copy with each, so a history replayed
//! from the store rebuilds exactly the live state (`Execution::replay`).
//!
//! An execution is a set of threads: the root, one per running Parallel branch and one
//! per running Map iteration. Each thread is at one state and knows what that state is
//! waiting for (`Step`). Finished branch threads stay until their parent collects them.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::history::{Event, EventKind, Recovery, TaskFamily, ThreadId};
use crate::asl::json::payload_size;
use crate::asl::retry::RetryCounts;
use crate::asl::states::Tolerance;
use crate::asl::variables::{Scope, Variables};

/// Where an execution stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// Still going.
    Running,
    /// Ended with an output.
    Succeeded,
    /// Ended with an error.
    Failed,
    /// Ran past its TimeoutSeconds.
    TimedOut,
    /// Stopped.
    Aborted,
}

impl Status {
    /// Every status, running first.
    pub const ALL: [Status; 5] = [
        Status::Running,
        Status::Succeeded,
        Status::Failed,
        Status::TimedOut,
        Status::Aborted,
    ];

    /// The name AWS uses (`RUNNING`, `SUCCEEDED`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "RUNNING",
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED_OUT",
            Status::Aborted => "ABORTED",
        }
    }
}

/// The facts about an execution that never change after it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The execution ARN.
    pub arn: String,
    /// The execution name.
    pub name: String,
    /// The state machine ARN.
    pub machine_arn: String,
    /// The state machine name.
    pub machine_name: String,
}

/// A task the execution is waiting for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingTask {
    /// Which task event family it reports in.
    pub family: TaskFamily,
    /// The queue it was offered on.
    pub queue: String,
    /// Its input.
    pub parameters: Value,
    /// The token `$$.Task.Token` gave it.
    pub task_token: String,
    /// The token a poller receives.
    pub delivery_token: String,
    /// TimeoutSeconds.
    pub timeout_seconds: Option<u64>,
    /// HeartbeatSeconds.
    pub heartbeat_seconds: Option<u64>,
    /// When it was scheduled.
    pub scheduled_ms: i64,
    /// When a worker took it.
    pub started_ms: Option<i64>,
    /// The idempotency key of the poll that took it.
    pub poll_id: Option<String>,
    /// For `.waitForTaskToken`: the worker delivered it; only the task token completes it.
    pub submitted: bool,
}

/// What a thread's current state is doing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Step {
    /// Entered (or about to enter) and not waiting for anything from outside.
    Active,
    /// A Wait state waiting until `due_ms`.
    Waiting {
        /// When it ends.
        due_ms: i64,
    },
    /// Waiting to retry the state's work at `due_ms`.
    Backoff {
        /// When to retry.
        due_ms: i64,
    },
    /// Waiting for a task.
    Task(PendingTask),
    /// Waiting for branches `first_child..first_child + branches`.
    Parallel {
        /// The first branch thread.
        first_child: ThreadId,
        /// How many branches.
        branches: usize,
    },
    /// Running iterations.
    Map(MapProgress),
    /// The branch this thread ran has finished with `output`.
    Done {
        /// The branch output.
        output: Value,
    },
    /// The thread failed and nothing handled it.
    Failed {
        /// The error name.
        error: String,
        /// The cause.
        cause: String,
    },
    /// The thread was stopped.
    Aborted,
}

impl Step {
    /// A copy to decide on, without a Map's outputs and input: copying those at every
    /// iteration's end made a Map of n items cost n².
    pub fn light(&self) -> Step {
        match self {
            Step::Map(progress) => Step::Map(progress.clone_counts()),
            other => other.clone(),
        }
    }
}

impl MapProgress {
    /// The counts alone (outputs and input left empty).
    fn clone_counts(&self) -> MapProgress {
        MapProgress {
            length: self.length,
            next_index: self.next_index,
            running: self.running,
            failed: self.failed,
            max_concurrency: self.max_concurrency,
            tolerance: self.tolerance,
            outputs: Vec::new(),
            input: MapInput::default(),
        }
    }
}

/// How far a Map state has got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapProgress {
    /// How many items.
    pub length: usize,
    /// The next item to start.
    pub next_index: usize,
    /// Iterations running now.
    pub running: usize,
    /// Iterations that failed.
    pub failed: usize,
    /// MaxConcurrency (0: unlimited).
    pub max_concurrency: u64,
    /// Tolerated failures.
    pub tolerance: Tolerance,
    /// Each finished iteration's output (an error output for a failed one).
    pub outputs: Vec<Option<Value>>,
    /// The state's input after InputPath and its items, read once (see [`MapInput`]).
    #[serde(skip)]
    pub input: MapInput,
}

/// A Map's input after InputPath and the items ItemsPath selects in it, kept while the
/// Map runs so each iteration does not select them again: that cost a copy of the whole
/// input per item, n² for n items. Derived from the history, so it takes no part in
/// comparing states and a restart computes it again when first needed.
#[derive(Clone, Default)]
pub struct MapInput(pub Option<std::sync::Arc<(Value, Vec<Value>)>>);

impl PartialEq for MapInput {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for MapInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(input) => write!(f, "MapInput({} items)", input.1.len()),
            None => f.write_str("MapInput(not read yet)"),
        }
    }
}

/// One thread of control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    /// Its id.
    pub id: ThreadId,
    /// The Parallel/Map thread it belongs to and its branch or item index.
    pub parent: Option<(ThreadId, usize)>,
    /// The state it is at (None before its first state).
    pub state: Option<String>,
    /// That state's raw input.
    pub input: Value,
    /// When that state was entered.
    pub entered_ms: i64,
    /// Retries of that state so far.
    pub retries: RetryCounts,
    /// What that state is doing.
    pub step: Step,
    /// The id of the event that entered that state (AWS names it in causes).
    #[serde(default)]
    pub entered_event: u64,
    /// The variables of this thread's scope (the root's are the machine's; a branch's or
    /// iteration's are its own and end with it).
    #[serde(default)]
    pub variables: Scope,
    /// What `variables` hold, in bytes of JSON text (for AWS's per-execution limit).
    #[serde(default)]
    pub variable_bytes: usize,
}

impl Thread {
    fn new(id: ThreadId, parent: Option<(ThreadId, usize)>, input: Value) -> Self {
        Thread {
            id,
            parent,
            state: None,
            input,
            entered_ms: 0,
            retries: RetryCounts::default(),
            step: Step::Active,
            entered_event: 0,
            variables: Scope::new(),
            variable_bytes: 0,
        }
    }
}

/// One execution's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// Who it is.
    pub identity: Identity,
    /// Where it stands.
    pub status: Status,
    /// Its input.
    pub input: Value,
    /// Its output, once it succeeded.
    pub output: Option<Value>,
    /// The error it ended with.
    pub error: Option<String>,
    /// The cause it ended with.
    pub cause: Option<String>,
    /// The role it runs as (kept for `$$.Execution.RoleArn`).
    pub role_arn: String,
    /// Its time limit.
    pub timeout_seconds: Option<u64>,
    /// When it started.
    pub start_ms: i64,
    /// When it ended.
    pub stop_ms: Option<i64>,
    /// State transitions so far (states entered plus retries), as AWS bills them.
    pub transitions: u64,
    /// The id of the last event.
    pub last_event_id: u64,
    /// Live threads by id.
    pub threads: BTreeMap<ThreadId, Thread>,
    /// The next thread id to hand out.
    pub next_thread: ThreadId,
    /// Task and delivery tokens of pending tasks, to their threads.
    pub tokens: HashMap<String, ThreadId>,
    /// Each Parallel or Map thread's live children by branch or item index: finding a
    /// child by scanning every thread made a Map of n items cost n².
    children: BTreeMap<ThreadId, BTreeMap<usize, ThreadId>>,
}

impl Execution {
    /// A not-yet-started execution (no events applied).
    pub fn new(identity: Identity) -> Self {
        Execution {
            identity,
            status: Status::Running,
            input: Value::Null,
            output: None,
            error: None,
            cause: None,
            role_arn: String::new(),
            timeout_seconds: None,
            start_ms: 0,
            stop_ms: None,
            transitions: 0,
            last_event_id: 0,
            threads: BTreeMap::new(),
            next_thread: 0,
            tokens: HashMap::new(),
            children: BTreeMap::new(),
        }
    }

    /// Rebuilds an execution from its whole history.
    pub fn replay(identity: Identity, history: &[Event]) -> Self {
        let mut execution = Execution::new(identity);
        for event in history {
            execution.evolve(event);
        }
        execution
    }

    /// The thread with this id (it must be live).
    pub fn thread(&self, id: ThreadId) -> &Thread {
        self.threads
            .get(&id)
            .unwrap_or_else(|| panic!("thread {id} is not live"))
    }

    /// The thread with this id, to change (it must be live).
    pub(crate) fn thread_mut(&mut self, id: ThreadId) -> &mut Thread {
        self.threads
            .get_mut(&id)
            .unwrap_or_else(|| panic!("thread {id} is not live"))
    }

    /// The variables `thread` can read: its own scope, then its parents' outwards.
    pub fn variables(&self, thread: ThreadId) -> Variables<'_> {
        let mut scopes = Vec::new();
        let mut at = self.threads.get(&thread);
        while let Some(t) = at {
            if !t.variables.is_empty() {
                scopes.push(&t.variables);
            }
            at = t.parent.and_then(|(parent, _)| self.threads.get(&parent));
        }
        Variables::of(scopes)
    }

    /// What `name` holds in `thread`'s own scope, in bytes (0: unset).
    pub fn variable_bytes(&self, thread: ThreadId, name: &str) -> usize {
        self.threads
            .get(&thread)
            .and_then(|t| t.variables.get(name))
            .map_or(0, payload_size)
    }

    /// What every live scope's variables hold together, in bytes.
    pub fn all_variable_bytes(&self) -> usize {
        self.threads.values().map(|t| t.variable_bytes).sum()
    }

    /// The pending task of a thread, if it waits for one.
    pub fn pending_task(&self, id: ThreadId) -> Option<&PendingTask> {
        match &self.threads.get(&id)?.step {
            Step::Task(task) => Some(task),
            _ => None,
        }
    }

    /// Child threads of `parent`, in branch/item order.
    pub fn children(&self, parent: ThreadId) -> Vec<ThreadId> {
        self.children
            .get(&parent)
            .map(|children| children.values().copied().collect())
            .unwrap_or_default()
    }

    /// Adds a thread (and indexes it under its parent).
    fn insert_thread(&mut self, thread: Thread) {
        if let Some((parent, index)) = thread.parent {
            self.children
                .entry(parent)
                .or_default()
                .insert(index, thread.id);
        }
        self.threads.insert(thread.id, thread);
    }

    /// Removes a thread (and its index entry).
    fn remove_thread(&mut self, id: ThreadId) -> Option<Thread> {
        let thread = self.threads.remove(&id)?;
        if let Some((parent, index)) = thread.parent
            && let Some(children) = self.children.get_mut(&parent)
        {
            children.remove(&index);
            if children.is_empty() {
                self.children.remove(&parent);
            }
        }
        Some(thread)
    }

    /// Removes `parent`'s children and their descendants.
    fn remove_descendants(&mut self, parent: ThreadId) {
        for child in self.children(parent) {
            self.remove_descendants(child);
            if let Some(thread) = self.remove_thread(child)
                && let Step::Task(task) = thread.step
            {
                self.tokens.remove(&task.task_token);
                self.tokens.remove(&task.delivery_token);
            }
        }
    }

    fn clear_task(&mut self, id: ThreadId) {
        if let Some(task) = self.pending_task(id).cloned() {
            self.tokens.remove(&task.task_token);
            self.tokens.remove(&task.delivery_token);
        }
    }

    fn recover(&mut self, id: ThreadId, recovery: &Recovery, error: &str, cause: &str) {
        let step = match recovery {
            Recovery::Retry {
                retrier,
                error,
                due_ms,
            } => {
                self.record_retry(id, *retrier, error);
                Step::Backoff { due_ms: *due_ms }
            }
            Recovery::Caught => Step::Active,
            Recovery::Propagated => Step::Failed {
                error: error.to_string(),
                cause: cause.to_string(),
            },
        };
        self.thread_mut(id).step = step;
    }

    /// A retry of `id`'s state: counted for its retrier and billed as a transition.
    fn record_retry(&mut self, id: ThreadId, retrier: usize, error: &str) {
        self.thread_mut(id).retries.record(retrier, error);
        self.transitions += 1;
    }

    fn end(&mut self, status: Status, at: i64) {
        self.status = status;
        self.stop_ms = Some(at);
        self.threads.clear();
        self.children.clear();
        self.tokens.clear();
    }

    /// Applies one event. Events come from the decider, which only emits ones that fit
    /// the current state; anything else is a bug, hence the panics on missing threads.
    pub fn evolve(&mut self, event: &Event) {
        self.last_event_id = event.id;
        let at = event.timestamp_ms;
        match &event.kind {
            EventKind::ExecutionStarted {
                input,
                role_arn,
                timeout_seconds,
            } => {
                self.input = input.clone();
                self.role_arn = role_arn.clone();
                self.timeout_seconds = *timeout_seconds;
                self.start_ms = at;
                self.status = Status::Running;
                self.insert_thread(Thread::new(0, None, input.clone()));
                self.next_thread = 1;
            }
            EventKind::ExecutionSucceeded { output } => {
                self.output = Some(output.clone());
                self.end(Status::Succeeded, at);
            }
            EventKind::ExecutionFailed { error, cause } => {
                (self.error, self.cause) = (error.clone(), cause.clone());
                self.end(Status::Failed, at);
            }
            EventKind::ExecutionAborted { error, cause } => {
                (self.error, self.cause) = (error.clone(), cause.clone());
                self.end(Status::Aborted, at);
            }
            EventKind::ExecutionTimedOut { error, cause } => {
                (self.error, self.cause) = (error.clone(), cause.clone());
                self.end(Status::TimedOut, at);
            }
            EventKind::StateEntered {
                thread,
                name,
                input,
                wait_due_ms,
                ..
            } => {
                self.transitions += 1;
                let t = self.thread_mut(*thread);
                t.state = Some(name.clone());
                t.input = input.clone();
                t.entered_ms = at;
                t.entered_event = event.id;
                t.retries = RetryCounts::default();
                t.step = match wait_due_ms {
                    Some(due_ms) => Step::Waiting { due_ms: *due_ms },
                    None => Step::Active,
                };
            }
            EventKind::StateExited {
                thread,
                output,
                next,
                assigned,
                ..
            } => {
                // A Parallel's branches end with it (a Map's with MapStateSucceeded).
                self.remove_descendants(*thread);
                let t = self.thread_mut(*thread);
                for (name, value) in assigned {
                    let size = payload_size(value);
                    let replaced = t.variables.insert(name.clone(), value.clone());
                    let replaced = replaced.as_ref().map_or(0, payload_size);
                    t.variable_bytes = (t.variable_bytes + size).saturating_sub(replaced);
                }
                t.step = match next {
                    Some(_) => Step::Active,
                    None => Step::Done {
                        output: output.clone(),
                    },
                };
            }
            EventKind::StateAborted { thread, .. } => {
                self.clear_task(*thread);
                self.remove_descendants(*thread);
                self.thread_mut(*thread).step = Step::Aborted;
            }
            EventKind::TaskScheduled {
                thread,
                family,
                queue,
                parameters,
                timeout_seconds,
                heartbeat_seconds,
                task_token,
                delivery_token,
                ..
            } => {
                self.tokens.insert(task_token.clone(), *thread);
                self.tokens.insert(delivery_token.clone(), *thread);
                self.thread_mut(*thread).step = Step::Task(PendingTask {
                    family: *family,
                    queue: queue.clone(),
                    parameters: parameters.clone(),
                    task_token: task_token.clone(),
                    delivery_token: delivery_token.clone(),
                    timeout_seconds: *timeout_seconds,
                    heartbeat_seconds: *heartbeat_seconds,
                    scheduled_ms: at,
                    started_ms: None,
                    poll_id: None,
                    submitted: false,
                });
            }
            EventKind::TaskStarted {
                thread, poll_id, ..
            } => {
                if let Step::Task(task) = &mut self.thread_mut(*thread).step {
                    task.started_ms = Some(at);
                    task.poll_id = poll_id.clone();
                }
            }
            EventKind::TaskSubmitted { thread, .. } => {
                let mut delivery = None;
                if let Step::Task(task) = &mut self.thread_mut(*thread).step {
                    task.submitted = true;
                    delivery = Some(task.delivery_token.clone());
                }
                if let Some(delivery) = delivery {
                    self.tokens.remove(&delivery);
                }
            }
            EventKind::TaskSucceeded { thread, .. } => {
                self.clear_task(*thread);
                self.thread_mut(*thread).step = Step::Active;
            }
            kind @ (EventKind::TaskFailed { .. }
            | EventKind::TaskTimedOut { .. }
            | EventKind::StateFailed { .. }) => {
                let (thread, error, cause, recovery) =
                    kind.failure().expect("a failure event has failure fields");
                // A task's failure ends the task; a Parallel's or Map's ends its children.
                if let EventKind::StateFailed { retried, .. } = kind {
                    self.remove_descendants(thread);
                    if let Some((retrier, error)) = retried {
                        self.record_retry(thread, *retrier, error);
                    }
                } else {
                    self.clear_task(thread);
                }
                self.recover(thread, recovery, error, cause);
            }
            EventKind::ParallelStarted {
                thread,
                input,
                first_child,
                branches,
                retried,
            } => {
                // A retried attempt's branches replace the failed attempt's.
                self.remove_descendants(*thread);
                if let Some((retrier, error)) = retried {
                    self.record_retry(*thread, *retrier, error);
                }
                for index in 0..*branches {
                    let id = first_child + index as ThreadId;
                    self.insert_thread(Thread::new(id, Some((*thread, index)), input.clone()));
                }
                self.next_thread = first_child + *branches as ThreadId;
                self.thread_mut(*thread).step = Step::Parallel {
                    first_child: *first_child,
                    branches: *branches,
                };
            }
            EventKind::ParallelSucceeded { thread } | EventKind::MapSucceeded { thread } => {
                self.remove_descendants(*thread);
                self.thread_mut(*thread).step = Step::Active;
            }
            EventKind::MapStarted {
                thread,
                length,
                max_concurrency,
                tolerated_count,
                tolerated_percentage,
                retried,
            } => {
                self.remove_descendants(*thread);
                if let Some((retrier, error)) = retried {
                    self.record_retry(*thread, *retrier, error);
                }
                self.thread_mut(*thread).step = Step::Map(MapProgress {
                    length: *length,
                    next_index: 0,
                    running: 0,
                    failed: 0,
                    max_concurrency: *max_concurrency,
                    tolerance: Tolerance {
                        count: *tolerated_count,
                        percentage: *tolerated_percentage,
                    },
                    outputs: vec![None; *length],
                    input: MapInput::default(),
                });
            }
            EventKind::MapIterationStarted {
                thread,
                index,
                child,
                input,
            } => {
                self.insert_thread(Thread::new(*child, Some((*thread, *index)), input.clone()));
                self.next_thread = self.next_thread.max(child + 1);
                if let Step::Map(progress) = &mut self.thread_mut(*thread).step {
                    progress.next_index = index + 1;
                    progress.running += 1;
                }
            }
            EventKind::MapIterationSucceeded { thread, index } => {
                let child = self.child_at(*thread, *index);
                let output = match child.map(|c| self.remove_thread(c).map(|t| t.step)) {
                    Some(Some(Step::Done { output })) => output,
                    _ => Value::Null,
                };
                if let Step::Map(progress) = &mut self.thread_mut(*thread).step {
                    progress.outputs[*index] = Some(output);
                    progress.running -= 1;
                }
            }
            EventKind::MapIterationFailed {
                thread,
                index,
                error,
                cause,
            } => {
                self.remove_child_at(*thread, *index);
                if let Step::Map(progress) = &mut self.thread_mut(*thread).step {
                    progress.outputs[*index] =
                        Some(serde_json::json!({"Error": error, "Cause": cause}));
                    progress.failed += 1;
                    progress.running -= 1;
                }
            }
            EventKind::MapIterationAborted { thread, index } => {
                self.remove_child_at(*thread, *index);
                if let Step::Map(progress) = &mut self.thread_mut(*thread).step {
                    progress.running -= 1;
                }
            }
        }
    }

    fn child_at(&self, parent: ThreadId, index: usize) -> Option<ThreadId> {
        self.children.get(&parent)?.get(&index).copied()
    }

    fn remove_child_at(&mut self, parent: ThreadId, index: usize) {
        if let Some(child) = self.child_at(parent, index) {
            self.remove_descendants(child);
            self.clear_task(child);
            self.remove_thread(child);
        }
    }
}
