//! The runtime: the imperative shell around the pure engine. It owns the running
//! executions (in memory, spread over partitions; the store is the durable copy, read
//! back only on recovery), turns each engine step into one store batch, commits batches
//! in groups, and only after a batch is durable releases its effects: tasks offered,
//! timers armed, watchers told. On start-up each partition replays its running
//! executions from their histories, re-offers tasks no worker has started, and re-arms
//! timers (overdue ones fire at once).
//!
//! This file is the map: `Runtime` holds the parts (`Machines`, `Activities`, `Tags`,
//! `StoredExecutions`, `Executions`) and hands each call to the one that owns it; in a
//! cluster, `routing` sends the calls another node must answer there.

mod activities;
mod cluster;
mod cluster_overview;
mod committer;
mod config;
mod damaged;
mod durable;
mod effects;
mod errors;
mod executions;
mod express;
mod feed;
mod forward;
mod keys;
mod limits;
mod machines;
mod metrics;
mod names;
pub mod paging;
mod partition;
mod queues;
mod random;
mod recovery;
mod remote_offers;
mod routing;
mod stored;
mod tags;
mod timers;
mod views;
pub mod watchdog;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The records the runtime answers with (stored as they are; the API layers name them
/// through the runtime, never the store).
pub use crate::store::{ActivityRecord, ExecutionRecord, MachineRecord, MachineType};
pub use cluster::{ClusterConfig, PeerTls};
pub use cluster_overview::{ClusterOverview, NodeOverview};
pub use config::RuntimeConfig;
pub use errors::RuntimeError;
use errors::summarize;
pub use feed::HistoryFeed;
pub use forward::{CALLER_HEADER, FORWARDED_HEADER, serve_forwarded};
pub use keys::NewKey;
pub use limits::check_tags;
pub use names::{Arns, check_name};
pub use queues::Offer;
pub use views::{Committed, ExecutionView, MachineView};

use crate::auth::Caller;
use crate::billing::{Cost, Usage};
use crate::engine::{Event, Machine, Status};
use crate::store::{Damaged, Store};
use activities::Activities;
use durable::Durable;
use executions::Executions;
use keys::Keys;
use machines::Machines;
use partition::{Holding, Live, Partitions, Running};
use queues::Queues;
use stored::StoredExecutions;
use tags::Tags;

/// The longest a PollTask waits, as AWS's GetActivityTask.
pub const MAX_POLL_SECONDS: u64 = 60;

struct Inner {
    arns: Arns,
    durable: Durable,
    machines: Arc<Machines>,
    activities: Activities,
    tags: Tags,
    stored: Arc<StoredExecutions>,
    executions: Arc<Executions>,
    keys: Keys,
}

/// The runtime handle (cheap to clone).
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

impl Runtime {
    /// Opens the runtime on a store: recovers every running execution, re-offers its
    /// unstarted tasks and re-arms its timers, then starts the timer service.
    pub async fn open(
        store: Arc<dyn Store>,
        config: RuntimeConfig,
    ) -> Result<Runtime, RuntimeError> {
        if !(1..=crate::placement::MAX_PARTITIONS).contains(&config.partitions) {
            return Err(RuntimeError::InvalidArgument(format!(
                "a data directory may have from 1 to {} partitions, not {}",
                crate::placement::MAX_PARTITIONS,
                config.partitions
            )));
        }
        let partitions = store.partition_count(config.partitions)?;
        if partitions != config.partitions {
            tracing::info!(
                partitions,
                "the data directory keeps the partition count it was created with"
            );
        }
        let (stop, _) = tokio::sync::watch::channel(false);
        let arns = Arns {
            region: config.region.clone(),
            account_id: config.account_id.clone(),
        };
        // A store that nodes share is served partition by partition, by lease; the
        // embedded one is this server's alone.
        let shared = store.leases().is_some();
        let cluster_secret = (store.leases())
            .map(|leases| leases.cluster_secret(&crate::auth::keys::new_secret()))
            .transpose()?;
        let cluster = (cluster_secret.clone())
            .map(|secret| Arc::new(cluster::Cluster::new(config.cluster.clone(), secret)));
        let admin_credential = config.admin_credential.clone();
        let durable = Durable::start(store);
        let writes = durable::ResourceWrites::default();
        // Shared by the calls that read them and the running executions.
        let machines = Arc::new(Machines::new(durable.clone(), arns.clone(), writes.clone()));
        let stored = Arc::new(StoredExecutions::new(durable.clone(), arns.clone()));
        let executions = Arc::new(Executions {
            config,
            arns: arns.clone(),
            durable: durable.clone(),
            machines: machines.clone(),
            stored: stored.clone(),
            partitions: Partitions::new(partitions, (!shared).then_some(Holding::Alone)),
            queues: Queues::default(),
            express_finished: Default::default(),
            stop,
            metrics: metrics::Metrics::default(),
            jsonata: crate::asl::jsonata::Limits {
                watch: Some(watchdog::Watchdog::start()),
                ..Default::default()
            },
            cluster: cluster.clone(),
        });
        let express_starts = match &cluster {
            Some(cluster) => cluster.join(&executions)?,
            None => {
                let every: Vec<(u16, Holding)> =
                    (0..partitions).map(|p| (p, Holding::Alone)).collect();
                recovery::Recovery {
                    durable: &durable,
                    partitions: &executions.partitions,
                    queues: &executions.queues,
                }
                .run(&every)?
            }
        };
        for partition in executions.partitions.iter() {
            tokio::spawn(executions::timer_loop(
                Arc::downgrade(&executions),
                partition.id,
                executions.stop.subscribe(),
            ));
        }
        if cluster.is_some() {
            cluster::spawn_loops(&executions);
        }
        // Asynchronous Express executions that had not finished start again from the
        // beginning (at-least-once).
        for start in express_starts {
            executions.restart_express(start).await?;
        }
        let runtime = Runtime {
            inner: Arc::new(Inner {
                machines,
                activities: Activities::new(durable.clone(), arns.clone(), writes.clone()),
                tags: Tags::new(durable.clone(), arns.clone(), writes.clone()),
                keys: Keys::new(durable.clone(), writes, admin_credential, cluster_secret),
                stored,
                durable,
                arns,
                executions,
            }),
        };
        Ok(runtime)
    }

    /// The metrics in Prometheus text format.
    pub fn metrics_text(&self) -> String {
        let mut text =
            (self.inner.executions.metrics).render(self.inner.durable.committer.counts());
        self.inner.durable.damaged.render_metrics(&mut text);
        let executions = &self.inner.executions;
        executions.partitions.render_metrics(&mut text);
        if let Some(cluster) = &executions.cluster {
            cluster.render_metrics(&executions.partitions, &mut text);
        }
        text
    }

    /// Stored records recovery could not read and set aside (for `/health`).
    pub fn set_aside(&self) -> Vec<Damaged> {
        self.inner.durable.damaged.set_aside_list()
    }

    /// The first step of a shutdown: ends long polls and live history feeds (gRPC
    /// watches, the console's live pages) and refuses new ones, and stops the timer
    /// service, so that nothing in flight waits for something that will not come.
    pub fn drain(&self) {
        self.inner.executions.queues.close();
        let _ = self.inner.executions.stop.send(true);
    }

    /// Commits everything submitted and flushes, waiting at most `limit`: a store whose
    /// disk hangs must not keep the process from ending (a restart recovers the last
    /// durable state).
    pub async fn shutdown(&self, limit: Duration) {
        self.drain();
        let inner = self.inner.clone();
        let closing = tokio::task::spawn_blocking(move || {
            inner.durable.committer.close();
            // After a store failure nothing more can be made durable, and sled's flush on
            // a full disk blocks (seen with ENOSPC on a tmpfs).
            if inner.durable.committer.failure().is_none() {
                if let Err(e) = inner.durable.store.flush() {
                    tracing::error!("final flush failed: {e}");
                } else if let Some(cluster) = &inner.executions.cluster {
                    // Everything is committed: the other nodes may take over at once.
                    cluster.leave(&inner.executions);
                }
            }
        });
        if tokio::time::timeout(limit, closing).await.is_err() {
            tracing::error!(
                "the store did not finish its last flush within {limit:?}; stopping anyway (a restart recovers the last durable state)"
            );
        }
    }

    /// The ARN builder.
    pub fn arns(&self) -> &Arns {
        &self.inner.arns
    }

    // ---- state machines (machines.rs) -------------------------------------------------

    /// Creates a state machine (idempotent for the same definition and type).
    pub async fn create_machine(
        &self,
        name: &str,
        definition: &str,
        machine_type: MachineType,
        role_arn: Option<&str>,
    ) -> Result<MachineView, RuntimeError> {
        let machines = &self.inner.machines;
        machines
            .create(name, definition, machine_type, role_arn)
            .await
    }

    /// Stores a new revision of a state machine's definition.
    pub async fn update_machine(
        &self,
        name_or_arn: &str,
        definition: &str,
        role_arn: Option<&str>,
    ) -> Result<MachineView, RuntimeError> {
        let machines = &self.inner.machines;
        machines.update(name_or_arn, definition, role_arn).await
    }

    /// A state machine with its latest definition.
    pub async fn describe_machine(&self, name_or_arn: &str) -> Result<MachineView, RuntimeError> {
        let durable = &self.inner.durable;
        durable.settled(self.inner.machines.view(name_or_arn)).await
    }

    /// The state machine an execution runs, as it was at the execution's revision.
    pub async fn describe_machine_for_execution(
        &self,
        arn: &str,
    ) -> Result<MachineView, RuntimeError> {
        if self.inner.arns.is_express(arn) {
            // AWS: "This API action is not supported by EXPRESS state machines."
            self.inner.arns.execution_machine(arn)?;
            return Err(RuntimeError::MachineTypeNotSupported(format!(
                "DescribeStateMachineForExecution does not support EXPRESS executions such as {arn}"
            )));
        }
        let view = self
            .inner
            .stored
            .record(arn)
            .and_then(|execution| self.inner.machines.view_for(&execution));
        self.inner.durable.settled(view).await
    }

    /// Every state machine, by name.
    pub async fn list_machines(&self) -> Result<Vec<MachineRecord>, RuntimeError> {
        let durable = &self.inner.durable;
        durable.settled(self.inner.machines.list()).await
    }

    /// Deletes a state machine; running executions finish on their revision.
    pub async fn delete_machine(&self, name_or_arn: &str) -> Result<(), RuntimeError> {
        self.inner.machines.delete(name_or_arn).await
    }

    // ---- executions (executions.rs) -----------------------------------------------------

    /// Starts an execution. Returns its ARN and start time.
    pub async fn start_execution(
        &self,
        machine: &str,
        name: Option<&str>,
        input: &str,
    ) -> Result<(String, i64), RuntimeError> {
        let executions = &self.inner.executions;
        // Named here when the caller gave no name: the name makes the ARN, which picks
        // the partition, and a start forwarded to its owner must keep both.
        let name = match (&executions.cluster, name) {
            (Some(_), None) => Some(executions.execution_name(None)?),
            (_, name) => name.map(str::to_string),
        };
        let name = name.as_deref();
        self.routed(
            || executions.start_execution(machine, name, input),
            |cluster, addr| async move {
                (cluster.peers)
                    .start_execution(&addr, machine, name, input)
                    .await
            },
        )
        .await
    }

    /// StartSyncExecution: runs an Express execution and returns its outcome.
    pub async fn start_sync_execution(
        &self,
        machine: &str,
        name: Option<&str>,
        input: &str,
    ) -> Result<ExecutionView, RuntimeError> {
        let executions = &self.inner.executions;
        executions.start_sync_execution(machine, name, input).await
    }

    /// Stops a running execution; returns when it stopped.
    pub async fn stop_execution(
        &self,
        arn: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<i64, RuntimeError> {
        let executions = &self.inner.executions;
        self.routed(
            || executions.stop_execution(arn, error.clone(), cause.clone()),
            |cluster, addr| {
                let (error, cause) = (error.clone(), cause.clone());
                async move { cluster.peers.stop_execution(&addr, arn, error, cause).await }
            },
        )
        .await
    }

    /// An execution's record and input.
    pub async fn describe_execution(&self, arn: &str) -> Result<ExecutionView, RuntimeError> {
        self.inner.executions.describe_execution(arn).await
    }

    /// An execution's record: Describe without reading the input.
    pub async fn execution_record(&self, arn: &str) -> Result<ExecutionRecord, RuntimeError> {
        self.inner.executions.execution_record(arn).await
    }

    /// A page of a state machine's executions, newest first, optionally of one status,
    /// with the token of the next page (a cursor: see `paging`).
    pub async fn list_executions(
        &self,
        machine: &str,
        status: Option<Status>,
        page: &paging::PageRequest,
    ) -> Result<(Vec<ExecutionRecord>, Option<String>), RuntimeError> {
        let durable = &self.inner.durable;
        durable
            .settled(self.inner.stored.page(machine, status, page))
            .await
    }

    /// How many executions of each state machine are in each status (for the console's
    /// list; counters kept by the store, not a scan).
    pub async fn execution_counts(
        &self,
    ) -> Result<HashMap<String, HashMap<Status, u64>>, RuntimeError> {
        let durable = &self.inner.durable;
        durable.settled(self.inner.stored.counts()).await
    }

    /// The definition an execution runs (its machine's revision at its start).
    pub async fn execution_definition(&self, arn: &str) -> Result<Arc<Machine>, RuntimeError> {
        let record = self.execution_record(arn).await?;
        self.revision_definition(&record.machine_name, record.revision)
    }

    /// A state machine revision, parsed (from the revision cache).
    pub fn revision_definition(
        &self,
        name: &str,
        revision: u32,
    ) -> Result<Arc<Machine>, RuntimeError> {
        self.inner.executions.revision_definition(name, revision)
    }

    /// An execution's whole history.
    pub async fn history(&self, arn: &str) -> Result<Vec<Event>, RuntimeError> {
        self.inner.executions.history(arn).await
    }

    /// Why the server cannot serve requests, if it cannot (for `/health`).
    pub fn store_failure(&self) -> Option<String> {
        self.inner
            .durable
            .committer
            .failure()
            .map(|f| f.to_string())
    }

    /// Checks that replaying the stored history of an execution rebuilds the state the
    /// runtime holds (in memory while it runs) and the stored record.
    pub fn verify_replay(&self, arn: &str) -> Result<(), RuntimeError> {
        self.inner.executions.verify_replay(arn)
    }

    /// The Express executions in memory: running ones, then the finished ones kept for
    /// inspection, newest first.
    pub fn recent_express(&self) -> Vec<ExecutionRecord> {
        self.inner.executions.recent_express()
    }

    /// Usage of one state machine (or all) between two times, with its estimated cost.
    pub async fn usage(
        &self,
        machine: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<(Usage, Cost), RuntimeError> {
        self.inner.executions.usage(machine, from_ms, to_ms).await
    }

    // ---- tasks (executions.rs) ----------------------------------------------------------

    /// Long-polls `queues` (names or activity ARNs) for up to `wait`. A poll that repeats
    /// an earlier `poll_id` gets the task that poll started, if it is still running.
    pub async fn poll(
        &self,
        queues: &[String],
        worker_name: &str,
        wait: Duration,
        poll_id: Option<&str>,
    ) -> Result<Option<Offer>, RuntimeError> {
        let executions = &self.inner.executions;
        let cluster = executions.cluster.as_deref();
        let Some(cluster) = cluster.filter(|_| !forward::is_forwarded()) else {
            return executions.poll(queues, worker_name, wait, poll_id).await;
        };
        self.poll_across(cluster, queues, worker_name, wait, poll_id)
            .await
    }

    /// SendTaskSuccess.
    pub async fn send_success(
        &self,
        token: &str,
        output: &str,
        caller: &Caller,
    ) -> Result<(), RuntimeError> {
        let executions = &self.inner.executions;
        self.routed(
            || executions.send_success(token, output, caller),
            |cluster, addr| async move {
                (cluster.peers)
                    .send_success(&addr, token, output, caller)
                    .await
            },
        )
        .await
    }

    /// SendTaskFailure.
    pub async fn send_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
        caller: &Caller,
    ) -> Result<(), RuntimeError> {
        let executions = &self.inner.executions;
        self.routed(
            || executions.send_failure(token, error, cause, caller),
            |cluster, addr| async move {
                (cluster.peers)
                    .send_failure(&addr, token, error, cause, caller)
                    .await
            },
        )
        .await
    }

    /// SendTaskHeartbeat: pushes the task's heartbeat deadline out by HeartbeatSeconds.
    pub async fn heartbeat(&self, token: &str, caller: &Caller) -> Result<(), RuntimeError> {
        let executions = &self.inner.executions;
        self.routed(
            || std::future::ready(executions.heartbeat(token, caller)),
            |cluster, addr| async move { cluster.peers.heartbeat(&addr, token, caller).await },
        )
        .await
    }

    /// Tasks waiting on a queue (for tests and metrics).
    pub fn queued(&self, queue: &str) -> usize {
        self.inner.executions.queues.len(queue)
    }

    /// Executions running in memory (for tests and metrics).
    pub fn running(&self) -> usize {
        self.inner.executions.running()
    }

    // ---- tags (tags.rs) -----------------------------------------------------------------

    /// Adds or replaces tags on a state machine or activity (at most 50 in all).
    pub async fn tag_resource(
        &self,
        arn: &str,
        tags: &[(String, String)],
    ) -> Result<(), RuntimeError> {
        self.inner.tags.tag(arn, tags).await
    }

    /// Removes tags by key.
    pub async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), RuntimeError> {
        self.inner.tags.untag(arn, keys).await
    }

    /// A resource's tags, sorted by key.
    pub async fn list_tags(&self, arn: &str) -> Result<Vec<(String, String)>, RuntimeError> {
        self.inner.durable.settled(self.inner.tags.of(arn)).await
    }

    // ---- activities (activities.rs) -----------------------------------------------------

    /// Creates an activity (idempotent).
    pub async fn create_activity(&self, name: &str) -> Result<ActivityRecord, RuntimeError> {
        self.inner.activities.create(name).await
    }

    /// An activity.
    pub async fn describe_activity(
        &self,
        name_or_arn: &str,
    ) -> Result<ActivityRecord, RuntimeError> {
        let durable = &self.inner.durable;
        durable
            .settled(self.inner.activities.record(name_or_arn))
            .await
    }

    /// Every activity, by name.
    pub async fn list_activities(&self) -> Result<Vec<ActivityRecord>, RuntimeError> {
        let durable = &self.inner.durable;
        durable.settled(self.inner.activities.list()).await
    }

    /// Deletes an activity.
    pub async fn delete_activity(&self, name_or_arn: &str) -> Result<(), RuntimeError> {
        self.inner.activities.delete(name_or_arn).await
    }
}

#[cfg(test)]
mod tests;
