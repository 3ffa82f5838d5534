//! This node's part in a cluster: the partitions it serves, by lease (`store::Leases`).
//! It joins by taking back what a dead earlier process with its id held, then takes
//! free partitions up to a fair share (the partition count over the live nodes, rounded
//! up); every round it renews, lets go of what it lost, gives partitions up when nodes
//! have joined, and takes expired ones over when nodes have died. A partition taken is
//! recovered from the store (its running executions replayed, timers re-armed at their
//! due times, unstarted tasks offered) before it is served; one lost or given up leaves
//! memory (`Partition::relinquish`).

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::executions::Executions;
use super::forward::Peers;
use super::partition::Holding;
use super::recovery::Recovery;
use super::remote_offers::RemoteOffers;
use super::{RuntimeError, now_ms};
use crate::store::{ClusterView, ExpressStart, Lease, NodeInfo};

/// How long a poll waits on this node's queues, and for another node's announcement,
/// before asking every other node again (an announcement lost with a connection, or
/// made before the poll began).
pub(super) const PEER_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How a node takes part in a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The node's id and the addresses the other nodes reach it at.
    pub node: NodeInfo,
    /// How long a lease lasts without renewal: a dead node's partitions move after it
    /// (renewed every third of it).
    pub lease: Duration,
    /// How this node reaches the others when they serve TLS (`None`: plain text).
    pub peer_tls: Option<PeerTls>,
}

/// TLS for the calls nodes make to each other.
#[derive(Clone)]
pub struct PeerTls {
    /// CA certificates (PEM) the nodes' certificates chain to (`None`: the system's).
    pub ca: Option<Vec<u8>>,
    /// This node's certificate and key (PEM), presented when the nodes require client
    /// certificates.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerTls")
            .field("ca", &self.ca.is_some())
            .field("identity", &self.identity.is_some())
            .finish()
    }
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            node: NodeInfo {
                id: "stepwise".into(),
                grpc_addr: String::new(),
                http_addr: String::new(),
            },
            lease: Duration::from_secs(10),
            peer_tls: None,
        }
    }
}

/// This node's membership.
pub(super) struct Cluster {
    pub config: ClusterConfig,
    /// The nodes and leases as last read.
    view: Mutex<ClusterView>,
    /// When the leases were last renewed (this process's clock).
    renewed: Mutex<Instant>,
    /// Whether the last view had other live nodes.
    has_peers: std::sync::atomic::AtomicBool,
    /// Lease renewals that failed in a row.
    pub failed_renewals: std::sync::atomic::AtomicU64,
    /// Connections to the other nodes.
    pub peers: Peers,
    /// Polls here waiting for the other nodes' tasks.
    pub remote_offers: RemoteOffers,
    /// New polls so far: where each starts looking (`Runtime::poll_across`).
    pub poll_turns: std::sync::atomic::AtomicUsize,
}

/// The shared store's leases (a cluster exists only over a store that has them).
fn leases_of(executions: &Executions) -> &dyn crate::store::Leases {
    (executions.durable.store.leases()).expect("a cluster's store has leases")
}

/// Partitions for each live node: the count over the nodes, rounded up.
fn fair_share(partitions: u16, live_nodes: usize) -> usize {
    usize::from(partitions).div_ceil(live_nodes.max(1))
}

impl Cluster {
    pub fn new(config: ClusterConfig, cluster_secret: String) -> Cluster {
        let peer_tls = config.peer_tls.clone();
        Cluster {
            config,
            view: Mutex::default(),
            renewed: Mutex::new(Instant::now()),
            failed_renewals: Default::default(),
            has_peers: Default::default(),
            peers: Peers::new(cluster_secret, peer_tls),
            remote_offers: RemoteOffers::default(),
            poll_turns: Default::default(),
        }
    }

    fn set_view(&self, view: ClusterView) {
        let me = &self.config.node.id;
        let peers = view.live_nodes(self.config.lease).any(|n| &n.node.id != me);
        self.has_peers
            .store(peers, std::sync::atomic::Ordering::Relaxed);
        *self.view.lock().expect("cluster lock") = view;
    }

    /// Whether other live nodes share the store (a node alone announces nothing).
    pub fn has_peers(&self) -> bool {
        self.has_peers.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The gRPC address of a live node other than this one.
    pub fn addr_of(&self, node: &str) -> Option<String> {
        if node == self.config.node.id {
            return None;
        }
        let view = self.view.lock().expect("cluster lock");
        view.live_nodes(self.config.lease)
            .find(|n| n.node.id == node)
            .map(|n| n.node.grpc_addr.clone())
    }

    /// The nodes and leases as last read.
    pub fn view(&self) -> ClusterView {
        self.view.lock().expect("cluster lock").clone()
    }

    /// The gRPC address of the node serving `partition`, unless it is this one.
    pub fn owner_addr(&self, partition: u16) -> Option<String> {
        let view = self.view.lock().expect("cluster lock");
        let owner = view.owner_of(partition)?;
        (owner.node.id != self.config.node.id).then(|| owner.node.grpc_addr.clone())
    }

    /// Reads the nodes and leases again (a call found a partition elsewhere than the
    /// view said).
    pub fn refresh(&self, store: &dyn crate::store::Store) {
        let Some(leases) = store.leases() else {
            return;
        };
        match leases.view() {
            Ok(view) => self.set_view(view),
            Err(e) => tracing::warn!("reading the cluster's leases failed: {e}"),
        }
    }

    /// The gRPC addresses of the other live nodes.
    pub fn peer_addrs(&self) -> Vec<String> {
        let view = self.view.lock().expect("cluster lock");
        view.live_nodes(self.config.lease)
            .filter(|n| n.node.id != self.config.node.id)
            .map(|n| n.node.grpc_addr.clone())
            .collect()
    }

    /// Joins: takes back the leases of a dead earlier process with this id, then free
    /// partitions up to a fair share; recovers them. Answers the Express starts to run
    /// again.
    pub fn join(&self, executions: &Executions) -> Result<Vec<ExpressStart>, RuntimeError> {
        let leases = leases_of(executions);
        let count = executions.partitions.count();
        let taken = leases.join(&self.config.node, count, self.config.lease)?;
        *self.renewed.lock().expect("cluster lock") = Instant::now();
        tracing::info!(node = %self.config.node.id, partitions = taken.len(), "joined the cluster (leases of an earlier process with this id taken back)");
        let mut starts = self.recover(executions, &taken)?;
        starts.extend(self.balance(executions, self.share(executions)?)?);
        Ok(starts)
    }

    /// Recovers partitions just leased and serves them.
    fn recover(
        &self,
        executions: &Executions,
        taken: &[Lease],
    ) -> Result<Vec<ExpressStart>, RuntimeError> {
        if taken.is_empty() {
            return Ok(Vec::new());
        }
        let held: Vec<(u16, Holding)> = taken
            .iter()
            .map(|lease| (lease.partition, Holding::Lease(lease.epoch)))
            .collect();
        Recovery {
            durable: &executions.durable,
            partitions: &executions.partitions,
            queues: &executions.queues,
        }
        .run(&held)
    }

    /// Reads the nodes and leases; answers this node's fair share of the partitions.
    fn share(&self, executions: &Executions) -> Result<usize, RuntimeError> {
        let leases = leases_of(executions);
        let view = leases.view()?;
        let live = view.live_nodes(self.config.lease).count();
        self.set_view(view);
        Ok(fair_share(executions.partitions.count(), live))
    }

    /// Takes free partitions while this node has fewer than its `share`. (Giving
    /// partitions up is `round`'s: it waits for commits in flight.)
    fn balance(
        &self,
        executions: &Executions,
        share: usize,
    ) -> Result<Vec<ExpressStart>, RuntimeError> {
        let leases = leases_of(executions);
        let held = executions.partitions.held().len();
        if held >= share {
            return Ok(Vec::new());
        }
        let acquired = leases.acquire(&self.config.node.id, share - held, self.config.lease)?;
        if acquired.is_empty() {
            return Ok(Vec::new());
        }
        let dead: Vec<&str> = acquired
            .iter()
            .filter_map(|a| a.from_expired.as_deref())
            .collect();
        tracing::info!(
            partitions = ?acquired.iter().map(|a| a.lease.partition).collect::<Vec<_>>(),
            from_expired = ?dead,
            "partitions taken over"
        );
        let taken: Vec<Lease> = acquired.iter().map(|a| a.lease).collect();
        let starts = self.recover(executions, &taken)?;
        // The view read before the takeover names the old owners; read it again so
        // calls for these partitions stop being sent there.
        self.set_view(leases.view()?);
        Ok(starts)
    }

    /// One round: renew, let go of what was lost, give up partitions beyond the fair
    /// share, take free ones below it.
    async fn round(&self, executions: &Arc<Executions>) -> Result<(), RuntimeError> {
        use std::sync::atomic::Ordering;
        let leases = leases_of(executions);
        let node = &self.config.node.id;
        let partitions = &executions.partitions;
        let renewed = match leases.renew(node, self.config.lease) {
            Ok(renewed) => renewed,
            Err(e) => {
                let failures = self.failed_renewals.fetch_add(1, Ordering::Relaxed) + 1;
                let since = self.renewed.lock().expect("cluster lock").elapsed();
                if since >= self.config.lease {
                    // The leases may be someone else's by now: stop serving them (the
                    // fences would refuse every write anyway).
                    let held = partitions.held();
                    for partition in &held {
                        partitions.get(*partition).relinquish(&executions.queues);
                    }
                    tracing::error!(
                        failures,
                        partitions = held.len(),
                        "leases not renewed for a whole lease period ({e}); their partitions are no longer served here"
                    );
                } else {
                    tracing::warn!(failures, "renewing the leases failed: {e}");
                }
                return Ok(());
            }
        };
        self.failed_renewals.store(0, Ordering::Relaxed);
        *self.renewed.lock().expect("cluster lock") = Instant::now();
        // Leases the database still gives this node but it no longer serves (it stopped
        // serving them while it could not renew): given back, to be taken again under a
        // new epoch and recovered, by this node or another.
        let strays: Vec<u16> = (renewed.iter())
            .filter(|lease| {
                partitions.get(lease.partition).lock().holding != Some(Holding::Lease(lease.epoch))
            })
            .map(|lease| lease.partition)
            .collect();
        if !strays.is_empty() {
            leases.release(node, &strays)?;
            tracing::warn!(partitions = ?strays, "leases this node no longer served given back");
        }
        for partition in partitions.held() {
            let still = renewed.iter().any(|lease| {
                lease.partition == partition
                    && partitions.get(partition).lock().holding == Some(Holding::Lease(lease.epoch))
            });
            if !still {
                let left = partitions.get(partition).relinquish(&executions.queues);
                tracing::warn!(partition, executions = left, "lease lost to another node");
            }
        }
        let share = self.share(executions)?;
        let held = partitions.held();
        if held.len() > share {
            // Nodes joined: give the highest-numbered partitions beyond the share up.
            // Served no more from now; what was submitted commits under the lease
            // still held; then the lease goes.
            let given: Vec<u16> = held[share..].to_vec();
            for partition in &given {
                partitions.get(*partition).relinquish(&executions.queues);
            }
            executions.durable.committer.settled().await?;
            leases.release(node, &given)?;
            tracing::info!(partitions = ?given, "partitions given up to the nodes that joined");
            return Ok(());
        }
        let starts = self.balance(executions, share)?;
        for start in starts {
            executions.restart_express(start).await?;
        }
        Ok(())
    }

    /// Seconds since the leases were last renewed.
    pub(super) fn renewed_ago(&self) -> f64 {
        self.renewed
            .lock()
            .expect("cluster lock")
            .elapsed()
            .as_secs_f64()
    }

    /// Gives every lease up and leaves the cluster (a graceful stop, after the last
    /// commit): the other nodes take the partitions over at once, not after the lease.
    pub fn leave(&self, executions: &Executions) {
        let Some(leases) = executions.durable.store.leases() else {
            return;
        };
        let held = executions.partitions.held();
        let node = &self.config.node.id;
        match leases
            .release(node, &held)
            .and_then(|()| leases.leave(node))
        {
            Ok(()) => tracing::info!(partitions = held.len(), "left the cluster"),
            Err(e) => tracing::warn!("leaving the cluster failed ({e}); the leases expire instead"),
        }
    }
}

/// Starts a node's cluster services: the lease rounds and the hand-over of other
/// nodes' announced tasks to polls waiting here.
pub(super) fn spawn_loops(executions: &Arc<Executions>) {
    let Some(leases) = executions.durable.store.leases() else {
        return;
    };
    tokio::spawn(lease_loop(
        Arc::downgrade(executions),
        executions.stop.subscribe(),
    ));
    tokio::spawn(super::remote_offers::dispatch_loop(
        Arc::downgrade(executions),
        leases.announcements(),
        executions.stop.subscribe(),
    ));
}

/// Renews this node's leases every third of the lease period, until the runtime stops.
pub(super) async fn lease_loop(
    executions: Weak<Executions>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let Some(runtime) = executions.upgrade() else {
            return;
        };
        let Some(cluster) = runtime.cluster.clone() else {
            return;
        };
        let started = now_ms();
        if let Err(e) = cluster.round(&runtime).await {
            tracing::warn!("a lease round failed: {e}");
        }
        drop(runtime);
        let period = cluster.config.lease / 3;
        let spent = Duration::from_millis((now_ms() - started).max(0) as u64);
        tokio::select! {
            _ = tokio::time::sleep(period.saturating_sub(spent)) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_partition() {
        assert_eq!(fair_share(64, 1), 64);
        assert_eq!(fair_share(64, 3), 22);
        assert_eq!(fair_share(64, 0), 64);
        assert_eq!(fair_share(2, 3), 1);
        for nodes in 1..10 {
            assert!(fair_share(64, nodes) * nodes >= 64);
        }
    }
}
