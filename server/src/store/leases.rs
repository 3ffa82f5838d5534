//! Partition leases: how the nodes of a cluster share one database. Each partition has a
//! lease row (owner, epoch, expiry by the database's clock); a node renews the leases it
//! holds while it is alive, takes expired or released ones, and every group commit it
//! makes carries a `Fence` per partition it writes, so a node that lost a lease (paused,
//! cut off) can commit nothing for that partition once another node has taken it.

use std::time::Duration;

use super::StoreError;

/// A node as the others reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Its id (`--node-id`).
    pub id: String,
    /// Where its gRPC API listens, as the other nodes dial it.
    pub grpc_addr: String,
    /// Where its HTTP listener is.
    pub http_addr: String,
}

/// A lease held: which partition, under which epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The partition.
    pub partition: u16,
    /// The epoch its writes are fenced with.
    pub epoch: u64,
}

/// A batch's claim to be written by the holder of a partition's lease.
pub type Fence = Lease;

/// A node's word that it offered tasks on a queue (its commit made them available).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The node that offers them.
    pub node: String,
    /// The queue.
    pub queue: String,
    /// How many tasks it offered there in that commit.
    pub offers: u32,
}

/// A lease just taken, and from whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acquired {
    /// The lease.
    pub lease: Lease,
    /// The node whose lease expired (`None`: it was released, or never held).
    pub from_expired: Option<String>,
}

/// A node as the database last heard of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    /// Its id and addresses.
    pub node: NodeInfo,
    /// When it started (Unix ms).
    pub started_ms: i64,
    /// How long ago it last renewed, in ms.
    pub seen_ms_ago: i64,
}

/// A partition's lease as the database holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    /// The partition.
    pub partition: u16,
    /// Its owner, if any.
    pub owner: Option<String>,
    /// Its epoch.
    pub epoch: u64,
    /// Milliseconds until it expires (negative: expired).
    pub expires_in_ms: i64,
}

/// Every node and lease, read at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterView {
    /// The nodes, by id.
    pub nodes: Vec<NodeRow>,
    /// The leases, by partition.
    pub leases: Vec<LeaseRow>,
}

impl ClusterView {
    /// The nodes heard from within `lease` (the live ones).
    pub fn live_nodes(&self, lease: Duration) -> impl Iterator<Item = &NodeRow> {
        let lease_ms = lease.as_millis() as i64;
        self.nodes.iter().filter(move |n| n.seen_ms_ago <= lease_ms)
    }

    /// The node that holds a partition's unexpired lease.
    pub fn owner_of(&self, partition: u16) -> Option<&NodeRow> {
        let lease = self
            .leases
            .iter()
            .find(|l| l.partition == partition && l.expires_in_ms > 0)?;
        let owner = lease.owner.as_deref()?;
        self.nodes.iter().find(|n| n.node.id == owner)
    }
}

/// The leases of a store that several nodes share (the PostgreSQL store).
pub trait Leases: Send + Sync {
    /// Registers this node and takes the lock of its id (refused with `NodeIdInUse` while
    /// a live process holds it), creates the lease rows of `partitions`, and takes back,
    /// under new epochs, the leases a dead earlier process with this id held.
    fn join(
        &self,
        node: &NodeInfo,
        partitions: u16,
        lease: Duration,
    ) -> Result<Vec<Lease>, StoreError>;
    /// Says the node is alive and extends its leases; answers the ones it still holds.
    fn renew(&self, node: &str, lease: Duration) -> Result<Vec<Lease>, StoreError>;
    /// Takes up to `want` partitions whose lease expired or was released, under new
    /// epochs.
    fn acquire(
        &self,
        node: &str,
        want: usize,
        lease: Duration,
    ) -> Result<Vec<Acquired>, StoreError>;
    /// Gives partitions up: their leases expire at once, without an owner.
    fn release(&self, node: &str, partitions: &[u16]) -> Result<(), StoreError>;
    /// Leaves the cluster (a graceful stop, after releasing every lease).
    fn leave(&self, node: &str) -> Result<(), StoreError>;
    /// Every node and lease now.
    fn view(&self) -> Result<ClusterView, StoreError>;
    /// The announcements of every node's commits that offer tasks (`Batch::announce`),
    /// from now on.
    fn announcements(&self) -> tokio::sync::broadcast::Receiver<Announcement>;
    /// The secret the nodes present to each other when they forward calls: `proposed`,
    /// recorded by the first node to ask, then whatever was recorded (whoever can read
    /// the database is trusted with it, as with everything else in it).
    fn cluster_secret(&self, proposed: &str) -> Result<String, StoreError>;
}
