//! Partitions: the running executions split by a stable hash of their ARN
//! (`crate::placement`), each partition with its own lock, token tables, usage counts and
//! armed timers. Engine work for executions of different partitions never waits on a
//! shared lock; what stays global (task queues, the group committer) has locks of its own
//! that no engine step holds.
//!
//! A partition is also the unit a cluster node owns: `Partitions` answers "which
//! partition holds this execution or token", and the runtime touches executions only
//! through it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast;

use super::express;
use super::queues::Queues;
use super::random::TokenRandom;
use super::timers::Timers;
use super::{Committed, RuntimeError, summarize};
use crate::asl::validate;
use crate::billing::Usage;
use crate::engine::execution::Step;
use crate::engine::{ArmedTimers, Execution, Machine, TaskClosed};
use crate::placement;
use crate::store::{Fence, Store};

/// Tokens of closed tasks remembered (across all partitions) so a late result gets a
/// precise error rather than "unknown token".
const RETIRED_TOKENS: usize = 100_000;

/// Commits a partition's feeds may fall behind by before they catch up from the store.
const COMMITTED_BACKLOG: usize = 1024;

/// A running execution.
pub(super) struct Running {
    pub execution: Execution,
    /// The timers the engine armed for it and has not seen fire or cancelled.
    pub armed: ArmedTimers,
    pub machine: Arc<Machine>,
    pub revision: u32,
    /// Set for Express executions, which live in memory only.
    pub express: Option<express::ExpressRun>,
    /// The trace context of the call that started it (not persisted).
    pub traceparent: Option<String>,
}

/// Where a token's task waits.
pub(super) struct TokenInfo {
    pub execution: String,
    /// The idempotency key of the poll that started the task, if any.
    pub poll_id: Option<String>,
}

/// Whether this node serves a partition, and how its writes are fenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Holding {
    /// The only server of its store: nothing to fence.
    Alone,
    /// Under a lease of this epoch.
    Lease(u64),
}

/// What a partition's lock guards.
#[derive(Default)]
pub(super) struct Live {
    /// Whether this node serves the partition (`None`: another node does, or none yet).
    pub holding: Option<Holding>,
    pub executions: HashMap<String, Running>,
    /// Counts each time executions left memory (one finished, or the partition was
    /// given up) or the partition was taken: a store read made while it stayed the same
    /// missed nothing that memory does not show (`Executions::start_execution`).
    pub departures: u64,
    /// Parsed state machine revisions with their definition sizes, by (name, revision):
    /// one cache per partition, so starting an execution reads no shared map.
    pub machines: HashMap<(String, u32), (Arc<Machine>, usize)>,
    pub tokens: HashMap<String, TokenInfo>,
    retired: HashMap<String, (String, TaskClosed)>,
    retired_order: VecDeque<String>,
    retired_limit: usize,
    pub random: TokenRandom,
    /// The last finished Express executions, newest last.
    pub finished_express: VecDeque<express::Finished>,
    /// This partition's usage counts by (state machine, hour).
    pub usage: HashMap<(String, i64), Usage>,
}

impl Live {
    /// The fence for a write of this partition, or `Elsewhere` when this node does not
    /// serve it.
    pub fn fence(&self, partition: u16) -> Result<Option<Fence>, RuntimeError> {
        match self.holding {
            Some(Holding::Alone) => Ok(None),
            Some(Holding::Lease(epoch)) => Ok(Some(Fence { partition, epoch })),
            None => Err(RuntimeError::Elsewhere(partition)),
        }
    }

    /// Registers a pending task's tokens (and the poll that took it, if any), so results
    /// and heartbeats sent with either token find the execution: once when the engine
    /// offers the task, again for each pending task when recovery replays an execution.
    pub fn register_task(
        &mut self,
        execution: &str,
        task_token: &str,
        delivery_token: &str,
        poll_id: Option<&str>,
    ) {
        for token in [task_token, delivery_token] {
            self.tokens.insert(
                token.to_string(),
                TokenInfo {
                    execution: execution.to_string(),
                    poll_id: poll_id.map(str::to_string),
                },
            );
        }
    }

    /// Forgets a closed task's token, remembering why it closed; returns what it was.
    pub fn retire(&mut self, token: &str, why: TaskClosed) -> Option<TokenInfo> {
        let info = self.tokens.remove(token)?;
        self.retired
            .insert(token.to_string(), (info.execution.clone(), why));
        self.retired_order.push_back(token.to_string());
        while self.retired_order.len() > self.retired_limit {
            if let Some(old) = self.retired_order.pop_front() {
                self.retired.remove(&old);
            }
        }
        Some(info)
    }

    /// A closed task's execution and why it closed, while it is remembered.
    pub fn retired(&self, token: &str) -> Option<&(String, TaskClosed)> {
        self.retired.get(token)
    }

    /// A state machine revision, parsed (from this partition's cache, or read from the
    /// store and cached).
    pub fn revision(
        &mut self,
        store: &dyn Store,
        name: &str,
        revision: u32,
    ) -> Result<Arc<Machine>, RuntimeError> {
        self.revision_with_size(store, name, revision)
            .map(|(machine, _)| machine)
    }

    /// A revision parsed, with its definition's size in bytes.
    pub fn revision_with_size(
        &mut self,
        store: &dyn Store,
        name: &str,
        revision: u32,
    ) -> Result<(Arc<Machine>, usize), RuntimeError> {
        if let Some(cached) = self.machines.get(&(name.to_string(), revision)) {
            return Ok(cached.clone());
        }
        let text = store
            .revision(name, revision)?
            .ok_or_else(|| {
                RuntimeError::Damaged(format!(
                    "revision {revision} of state machine '{name}' is missing from the store"
                ))
            })?
            .definition;
        let parsed = validate::parse(&text).map_err(|d| {
            RuntimeError::Damaged(format!(
                "stored revision {revision} of '{name}' no longer validates: {}",
                summarize(&d)
            ))
        })?;
        let cached = (Arc::new(Machine::new(parsed.machine)), text.len());
        self.machines
            .insert((name.to_string(), revision), cached.clone());
        Ok(cached)
    }
}

/// One partition.
pub(super) struct Partition {
    /// Its number, `0..count`.
    pub id: u16,
    live: Mutex<Live>,
    /// Its armed timers, fired by a timer task of its own.
    pub timers: Timers,
    /// Its executions' events as they become durable, for history feeds: a feed listens
    /// to its execution's partition only, so a commit wakes the feeds of one partition.
    pub committed: broadcast::Sender<Arc<Committed>>,
}

impl Partition {
    fn new(id: u16, count: u16, holding: Option<Holding>) -> Partition {
        Partition {
            id,
            live: Mutex::new(Live {
                holding,
                retired_limit: (RETIRED_TOKENS / usize::from(count.max(1))).max(1),
                ..Live::default()
            }),
            timers: Timers::default(),
            committed: broadcast::channel(COMMITTED_BACKLOG).0,
        }
    }

    /// Its running executions and tables, locked.
    pub fn lock(&self) -> MutexGuard<'_, Live> {
        self.live.lock().expect("partition lock")
    }

    /// Stops serving the partition (its lease was lost or given up): its executions
    /// leave memory with their offers, tokens, timers and usage counts. What they had
    /// committed is in the store, for the node that takes the partition over. Returns
    /// how many executions left.
    pub fn relinquish(&self, queues: &Queues) -> usize {
        let mut live = self.lock();
        live.holding = None;
        live.departures += 1;
        let executions = std::mem::take(&mut live.executions);
        for (arn, running) in &executions {
            for thread in running.execution.threads.values() {
                if let Step::Task(task) = &thread.step {
                    queues.withdraw(&task.queue, &task.delivery_token);
                    live.tokens.remove(&task.task_token);
                    live.tokens.remove(&task.delivery_token);
                }
            }
            for (key, _) in self.timers.of_execution(arn) {
                self.timers.cancel(arn, &key);
            }
        }
        live.usage.clear();
        executions.len()
    }
}

/// Every partition of the data directory.
pub(super) struct Partitions {
    list: Vec<Partition>,
}

impl Partitions {
    /// `count` partitions (at least one), each held as `holding` says.
    pub fn new(count: u16, holding: Option<Holding>) -> Partitions {
        let count = count.max(1);
        Partitions {
            list: (0..count)
                .map(|id| Partition::new(id, count, holding))
                .collect(),
        }
    }

    /// The partitions this node serves.
    pub fn held(&self) -> Vec<u16> {
        self.iter()
            .filter(|p| p.lock().holding.is_some())
            .map(|p| p.id)
            .collect()
    }

    /// How many there are.
    pub fn count(&self) -> u16 {
        self.list.len() as u16
    }

    /// The partition that holds an execution.
    pub fn of_execution(&self, arn: &str) -> &Partition {
        &self.list[usize::from(placement::partition_of(arn, self.count()))]
    }

    /// The partitions a task token may belong to: the one its ARN hash names, or every
    /// partition for a token of the older shape that carries none.
    pub fn of_token(&self, token: &str) -> Vec<&Partition> {
        match placement::token_hash(token) {
            Some(hash) => {
                vec![&self.list[usize::from(placement::partition_of_hash(hash, self.count()))]]
            }
            None => self.list.iter().collect(),
        }
    }

    /// The execution a task token belongs to, or why none: TaskTimedOut for a task that
    /// closed (saying how), TaskDoesNotExist for a token never issued or forgotten.
    pub fn execution_of_token(&self, token: &str) -> Result<String, RuntimeError> {
        let mut retired = None;
        let candidates = self.of_token(token);
        let only = candidates.len() == 1;
        for partition in candidates {
            let live = partition.lock();
            if only && live.holding.is_none() {
                // The token names its partition, and another node serves it.
                return Err(RuntimeError::Elsewhere(partition.id));
            }
            if let Some(info) = live.tokens.get(token) {
                return Ok(info.execution.clone());
            }
            if retired.is_none() {
                retired = live.retired(token).cloned();
            }
        }
        if let Some((execution, why)) = retired {
            // AWS's TaskTimedOut covers every such token ("the task token has either
            // expired or the task associated with the token has already been closed");
            // the message says which, so a worker's log does not alarm anyone when its
            // task was simply cancelled.
            let what = match why {
                TaskClosed::Reported => "already has its result",
                TaskClosed::TimedOut => "timed out (its TimeoutSeconds or HeartbeatSeconds passed)",
                TaskClosed::Aborted => {
                    "was cancelled: its state was aborted (the execution ended, or a Parallel branch or Map iteration beside it failed)"
                }
            };
            return Err(RuntimeError::TaskTimedOut(format!(
                "the task for this token {what} (execution {execution})"
            )));
        }
        Err(RuntimeError::TaskDoesNotExist(
            "no task has this token (it was never issued, or it ended before the server last restarted)".into(),
        ))
    }

    /// Each partition's running executions and armed timers, in Prometheus text (a
    /// partition much busier than the others shows a hot spot; in a cluster, which
    /// partitions a node serves).
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(
            out,
            "# HELP stepwise_partitions Partitions of the data directory.\n# TYPE stepwise_partitions gauge\nstepwise_partitions {}",
            self.count()
        );
        let counts: Vec<(usize, usize)> = self
            .iter()
            .map(|p| (p.lock().executions.len(), p.timers.len()))
            .collect();
        let _ = writeln!(
            out,
            "# HELP stepwise_partition_running_executions Executions running in memory, by partition.\n# TYPE stepwise_partition_running_executions gauge"
        );
        for (id, (running, _)) in counts.iter().enumerate() {
            let _ = writeln!(
                out,
                "stepwise_partition_running_executions{{partition=\"{id}\"}} {running}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP stepwise_partition_armed_timers Timers armed, by partition.\n# TYPE stepwise_partition_armed_timers gauge"
        );
        for (id, (_, timers)) in counts.iter().enumerate() {
            let _ = writeln!(
                out,
                "stepwise_partition_armed_timers{{partition=\"{id}\"}} {timers}"
            );
        }
    }

    /// A partition by number.
    pub fn get(&self, id: u16) -> &Partition {
        &self.list[usize::from(id)]
    }

    /// Every partition, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Partition> {
        self.list.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_leads_to_its_execution_partition() {
        let partitions = Partitions::new(16, Some(Holding::Alone));
        let arn = "arn:aws:states:us-east-1:123456789012:execution:M:e";
        let token = placement::task_token(arn, [1, 2]);
        let found = partitions.of_token(&token);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, partitions.of_execution(arn).id);
        // An older token is looked for everywhere.
        assert_eq!(
            partitions
                .of_token("0123456789abcdef0123456789abcdef")
                .len(),
            16
        );
    }

    #[test]
    fn retired_tokens_are_bounded_per_partition() {
        let partitions = Partitions::new(50_000, Some(Holding::Alone));
        let mut live = partitions.get(0).lock();
        assert_eq!(live.retired_limit, 2);
        for token in ["a", "b", "c"] {
            live.register_task("x", token, token, None);
            assert!(live.retire(token, TaskClosed::Reported).is_some());
        }
        assert!(live.retired("a").is_none());
        assert_eq!(live.retired("c").map(|r| r.1), Some(TaskClosed::Reported));
        assert!(live.retire("c", TaskClosed::Reported).is_none());
    }

    #[test]
    fn metrics_show_each_partition() {
        let partitions = Partitions::new(2, Some(Holding::Alone));
        partitions
            .get(1)
            .timers
            .arm("x", crate::engine::TimerKey::Execution, 5);
        let mut text = String::new();
        partitions.render_metrics(&mut text);
        assert!(text.contains("stepwise_partitions 2\n"), "{text}");
        assert!(text.contains("stepwise_partition_running_executions{partition=\"0\"} 0\n"));
        assert!(text.contains("stepwise_partition_armed_timers{partition=\"1\"} 1\n"));
    }
}
