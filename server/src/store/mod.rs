//! Durable storage behind a narrow trait named after what the runtime needs: state
//! machine revisions, execution records, history events, durable timers and activities.
//! `sled` is the embedded implementation (and the only module that imports sled); a
//! PostgreSQL-compatible one can sit behind the same trait.
//!
//! Writes go in a `Batch`, applied atomically; `flush` makes everything written so far
//! durable. The runtime writes many batches and flushes once (group commit).

mod codec;
#[cfg(test)]
pub(crate) mod conformance;
mod key_record;
mod leases;
mod postgres;
mod sled_store;

pub use key_record::{KeyRecord, KeySecret};
pub use leases::{
    Acquired, Announcement, ClusterView, Fence, Lease, LeaseRow, Leases, NodeInfo, NodeRow,
};
pub use postgres::PgStore;
pub use sled_store::SledStore;

use serde::{Deserialize, Serialize};

use crate::billing::Usage;
use crate::engine::{Event, Identity, Status, TimerKey};

/// Standard or Express.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MachineType {
    /// Durable, exactly-once.
    Standard,
    /// In memory, at-least-once.
    Express,
}

impl MachineType {
    /// The name AWS uses (`STANDARD`, `EXPRESS`).
    pub fn as_str(self) -> &'static str {
        match self {
            MachineType::Standard => "STANDARD",
            MachineType::Express => "EXPRESS",
        }
    }
}

/// A state machine's current facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineRecord {
    /// Its name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Standard or Express.
    pub machine_type: MachineType,
    /// The latest revision (1, 2, ...).
    pub revision: u32,
    /// When it was created.
    pub created_ms: i64,
    /// When its latest revision was stored.
    pub updated_ms: i64,
    /// The role ARN given on create or update (absent in records written before roles
    /// were kept, and when none was given: the server's default role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

/// An execution's summary: everything Describe shows except the input, which lives in
/// the ExecutionStarted event so that it is written once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// The state machine's name.
    pub machine_name: String,
    /// The state machine's ARN.
    pub machine_arn: String,
    /// The revision it runs.
    pub revision: u32,
    /// Where it stands.
    pub status: Status,
    /// Its output, once succeeded.
    pub output: Option<serde_json::Value>,
    /// The error it ended with.
    pub error: Option<String>,
    /// The cause it ended with.
    pub cause: Option<String>,
    /// When it started.
    pub start_ms: i64,
    /// When it ended.
    pub stop_ms: Option<i64>,
    /// Transitions so far.
    pub transitions: u64,
    /// The id of its last event.
    pub last_event_id: u64,
}

impl ExecutionRecord {
    /// The execution's identity, as its record holds it.
    pub fn identity(&self) -> Identity {
        Identity {
            arn: self.arn.clone(),
            name: self.name.clone(),
            machine_arn: self.machine_arn.clone(),
            machine_name: self.machine_name.clone(),
        }
    }
}

/// A durable timer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerRecord {
    /// When it fires.
    pub due_ms: i64,
    /// The execution it belongs to.
    pub execution: String,
    /// Which timer.
    pub key: TimerKey,
}

/// A stored revision of a state machine's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionRecord {
    /// The definition text.
    pub definition: String,
    /// When it was stored (`None` for revisions written before that was recorded).
    pub stored_ms: Option<i64>,
}

/// An activity (a named task queue that AWS-style workers poll).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityRecord {
    /// Its name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// When it was created.
    pub created_ms: i64,
}

/// An asynchronously started Express execution, recorded until it ends so that a crash
/// does not lose it (it is started again from the beginning: at-least-once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpressStart {
    /// The execution ARN.
    pub arn: String,
    /// The execution name.
    pub name: String,
    /// The state machine's name.
    pub machine_name: String,
    /// The state machine's ARN.
    pub machine_arn: String,
    /// The revision it runs.
    pub revision: u32,
    /// Its input.
    pub input: serde_json::Value,
    /// The state machine's role when it started (absent in older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

/// Usage counted for one state machine in one hour by one partition (each partition
/// writes its own counts, so partitions never overwrite each other's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// The state machine's name.
    pub machine: String,
    /// Hours since the Unix epoch.
    pub hour: i64,
    /// The partition that counted it (0 in records written before partitions).
    #[serde(default)]
    pub partition: u16,
    /// The counts.
    pub usage: Usage,
}

/// One write in a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Store a state machine record.
    PutMachine(MachineRecord),
    /// Store revision `revision` of `machine`'s definition.
    PutRevision {
        /// The state machine's name.
        machine: String,
        /// The revision number.
        revision: u32,
        /// The definition text.
        definition: String,
        /// When the revision was stored.
        stored_ms: i64,
    },
    /// Remove a state machine record (its revisions stay for running executions).
    DeleteMachine(String),
    /// Store an execution record.
    PutExecution(ExecutionRecord),
    /// Place an execution in the indexes (its machine's listing by status and start
    /// time, the counts by status): when it starts (`from: None`), and again when its
    /// status changes.
    IndexExecution {
        /// What the indexes know of it.
        entry: IndexEntry,
        /// Its status before (`None`: it has just started).
        from: Option<Status>,
    },
    /// Append history events to an execution.
    AppendEvents {
        /// The execution ARN.
        execution: String,
        /// The events, with their ids.
        events: Vec<Event>,
    },
    /// Store a timer.
    PutTimer(TimerRecord),
    /// Remove a timer.
    DeleteTimer(TimerRecord),
    /// Store an activity.
    PutActivity(ActivityRecord),
    /// Remove an activity.
    DeleteActivity(String),
    /// Record an asynchronous Express start.
    PutExpressStart(ExpressStart),
    /// Forget an Express start (the execution ended).
    DeleteExpressStart(String),
    /// Store an hour's usage counts (the whole value, not an increment).
    PutUsage(UsageRecord),
    /// Store an API key (revoking one stores it again, with its revocation time).
    PutKey(KeyRecord),
    /// Replace a resource's tags (none: remove the record).
    PutTags {
        /// The state machine or activity ARN.
        arn: String,
        /// Key and value pairs, sorted by key.
        tags: Vec<(String, String)>,
    },
}

/// An execution as the indexes know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Its ARN.
    pub arn: String,
    /// The state machine's name.
    pub machine: String,
    /// Its name.
    pub name: String,
    /// When it started.
    pub start_ms: i64,
    /// Its status now.
    pub status: Status,
}

impl IndexEntry {
    /// The entry of an execution's record.
    pub fn of(record: &ExecutionRecord) -> IndexEntry {
        IndexEntry {
            arn: record.arn.clone(),
            machine: record.machine_name.clone(),
            name: record.name.clone(),
            start_ms: record.start_ms,
            status: record.status,
        }
    }
}

/// One page of a state machine's executions, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionPage {
    /// The executions (and the records of the page that do not decode).
    pub records: Scanned<ExecutionRecord>,
    /// Where the next page starts (opaque bytes), when more follow.
    pub next: Option<Vec<u8>>,
}

/// Executions by state machine and status.
pub type ExecutionCounts =
    std::collections::HashMap<String, std::collections::HashMap<Status, u64>>;

/// Writes applied together or not at all.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    /// The writes, in order.
    pub writes: Vec<Write>,
    /// The lease its writer holds on the partition it writes (none: a store not shared
    /// by nodes, or writes of no partition such as state machines).
    pub fence: Option<Fence>,
    /// Queues this batch offers tasks on: a store that nodes share tells the other nodes
    /// once it commits, so that a worker polling one of them comes for the task.
    pub announce: Vec<String>,
}

impl Batch {
    /// Adds a write.
    pub fn push(&mut self, write: Write) {
        self.writes.push(write);
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

/// What a scan read: the records that decode, and the ones that do not, which stay in
/// the store untouched (one damaged record must not hide all the others).
#[derive(Debug, Clone, PartialEq)]
pub struct Scanned<T> {
    /// The records that decode, in key order.
    pub records: Vec<T>,
    /// The records that do not.
    pub damaged: Vec<Damaged>,
}

/// A stored record that cannot be read (a damaged disk, or a bug in an older version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    /// Its key, printable (`x|arn:...` for an execution record).
    pub key: String,
    /// Why it cannot be read.
    pub reason: String,
}

impl std::fmt::Display for Damaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

/// Why the store failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the data directory.
    #[error(
        "the data directory {path} is in use by another Stepwise server (or another program); stop it or choose another --data-dir"
    )]
    Locked {
        /// The directory.
        path: String,
    },
    /// A listing cursor this store did not make (a caller's forged `nextToken`).
    #[error("{0}")]
    Cursor(String),
    /// A live process already runs as this node.
    #[error(
        "another Stepwise node with the id '{node}' is running on the database {place}; stop it or give this one another --node-id"
    )]
    NodeIdInUse {
        /// The node id.
        node: String,
        /// The server and database (never the password).
        place: String,
    },
    /// Partitions whose lease the writer no longer holds: nothing of the group was
    /// written (another node owns them now).
    #[error("the lease of partitions {partitions:?} has passed to another node")]
    Fenced {
        /// The partitions.
        partitions: Vec<u16>,
    },
    /// The data cannot be read as a Stepwise store.
    #[error("the data directory {path} is corrupt or not a Stepwise store: {reason}")]
    Corrupt {
        /// The directory.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A stored record does not decode.
    #[error("a stored record ({key}) does not decode: {reason}")]
    Decode {
        /// Which record.
        key: String,
        /// Why.
        reason: String,
    },
    /// The disk refused a read or write.
    #[error("the store cannot read or write: {0}")]
    Io(String),
    /// An earlier write or flush failed, so memory may hold what the disk does not.
    #[error(
        "the store failed ({0}); the server refuses requests until it is restarted on a working disk"
    )]
    Failed(String),
}

/// What the runtime needs from durable storage. A read that finds a record it cannot
/// decode answers `StoreError::Decode` for that record alone; a scan reports such
/// records beside the others (`Scanned`).
///
/// The write/flush contract: `write` applies its batches atomically and in order (all of
/// them or none, a later write to a key winning), and its effects are visible to every
/// read that follows it at once; they are durable, and survive a crash, only once a
/// later `flush` returns. The runtime calls `write` from one thread (the committer) and
/// acknowledges nothing before the flush that covers it (group commit). After a write
/// or flush fails, the store answers `StoreError::Failed` to every later one.
///
/// Reads answer the runtime's questions without scanning what they do not need: the
/// running executions without the closed ones, a machine's executions of one status a
/// page at a time, the counts by status from counters kept with the writes.
pub trait Store: Send + Sync + 'static {
    /// Applies batches atomically, in order: a later write to a key wins (durable
    /// only after `flush`).
    fn write(&self, batches: &[&Batch]) -> Result<(), StoreError>;
    /// Makes every write so far durable.
    fn flush(&self) -> Result<(), StoreError>;
    /// A state machine by name.
    fn machine(&self, name: &str) -> Result<Option<MachineRecord>, StoreError>;
    /// Every state machine, by name.
    fn machines(&self) -> Result<Scanned<MachineRecord>, StoreError>;
    /// A revision's definition and when it was stored.
    fn revision(&self, machine: &str, revision: u32) -> Result<Option<RevisionRecord>, StoreError>;
    /// An execution by ARN.
    fn execution(&self, arn: &str) -> Result<Option<ExecutionRecord>, StoreError>;
    /// Every running execution (from the indexes: closed ones are not read).
    fn running_executions(&self) -> Result<Scanned<ExecutionRecord>, StoreError>;
    /// Up to `limit` executions of `machine` (of `status`, or all), newest first, from
    /// just after `after` (a page's `next`): executions added or changing status between
    /// pages neither shift nor repeat the ones that follow.
    fn machine_executions(
        &self,
        machine: &str,
        status: Option<Status>,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ExecutionPage, StoreError>;
    /// How many executions each state machine has in each status.
    fn execution_counts(&self) -> Result<ExecutionCounts, StoreError>;
    /// An execution's whole history, in order.
    fn events(&self, execution: &str) -> Result<Vec<Event>, StoreError>;
    /// An execution's first event (ExecutionStarted, with the input), without reading
    /// the rest of its history.
    fn first_event(&self, execution: &str) -> Result<Option<Event>, StoreError>;
    /// Every durable timer, earliest first.
    fn timers(&self) -> Result<Scanned<TimerRecord>, StoreError>;
    /// An activity by name.
    fn activity(&self, name: &str) -> Result<Option<ActivityRecord>, StoreError>;
    /// Every activity, by name.
    fn activities(&self) -> Result<Scanned<ActivityRecord>, StoreError>;
    /// Every recorded, unfinished asynchronous Express start.
    fn express_starts(&self) -> Result<Scanned<ExpressStart>, StoreError>;
    /// Every usage record.
    fn usage(&self) -> Result<Scanned<UsageRecord>, StoreError>;
    /// Every API key, revoked ones included, by id.
    fn keys(&self) -> Result<Scanned<KeyRecord>, StoreError>;
    /// A resource's tags, sorted by key.
    fn tags(&self, arn: &str) -> Result<Vec<(String, String)>, StoreError>;
    /// The data directory's partition count: the one recorded, or `proposed`, recorded
    /// and flushed, when it has none yet (a new directory, or one written before
    /// partitions). Fixed from then on: an execution's partition depends on it.
    fn partition_count(&self, proposed: u16) -> Result<u16, StoreError>;
    /// The partition leases, when nodes share the store (the embedded store has none:
    /// its one server owns every partition).
    fn leases(&self) -> Option<&dyn Leases> {
        None
    }
}
