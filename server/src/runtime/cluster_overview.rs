//! What a node shows of its cluster: its lines in `/health`, its leases in `/metrics`,
//! the console's overview of every node, and what it answers another node's
//! `NodeStatus` with.

use super::Runtime;
use super::cluster::Cluster;
use super::executions::Executions;
use super::partition::{Holding, Partitions};

/// A node as the cluster overview shows it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeOverview {
    /// Its id.
    pub id: String,
    /// Where its gRPC API and HTTP listener are.
    pub grpc_addr: String,
    /// Its HTTP listener (console, AWS API, health).
    pub http_addr: String,
    /// Whether it renewed within a lease period.
    pub live: bool,
    /// Seconds since it last renewed.
    pub seen_seconds_ago: f64,
    /// The partitions whose unexpired lease it holds.
    pub partitions: Vec<u16>,
    /// Executions running in its memory (`None`: it did not answer).
    pub running_executions: Option<u64>,
}

/// The cluster as one node sees it (the console's cluster view).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterOverview {
    /// The node that answers.
    pub node: String,
    /// The lease period, in seconds.
    pub lease_seconds: u64,
    /// The database's partitions.
    pub partition_count: u16,
    /// Partitions nobody holds an unexpired lease on (moving between nodes).
    pub unowned: Vec<u16>,
    /// Every node the database knows, by id.
    pub nodes: Vec<NodeOverview>,
}

impl Cluster {
    /// The node's part for `/health`: what it serves and how fresh its leases are.
    pub fn status(&self, partitions: &Partitions) -> String {
        use std::fmt::Write;
        let held = partitions.held();
        let view = self.view();
        let live: Vec<&str> = view
            .live_nodes(self.config.lease)
            .map(|n| n.node.id.as_str())
            .collect();
        let mut text = format!(
            "node {}: serving {} of {} partitions ({}); leases renewed {:.1} s ago (lease {} s)\n",
            self.config.node.id,
            held.len(),
            partitions.count(),
            ranges(&held),
            self.renewed_ago(),
            self.config.lease.as_secs()
        );
        let _ = writeln!(text, "live nodes: {}", live.join(", "));
        text
    }

    /// The node's leases in Prometheus text.
    pub fn render_metrics(&self, partitions: &Partitions, out: &mut String) {
        use std::fmt::Write;
        use std::sync::atomic::Ordering;
        let view = self.view();
        let node = &self.config.node.id;
        let _ = writeln!(
            out,
            "# HELP stepwise_cluster_node This node's id.\n# TYPE stepwise_cluster_node gauge\nstepwise_cluster_node{{node=\"{node}\"}} 1"
        );
        let _ = writeln!(
            out,
            "# HELP stepwise_cluster_live_nodes Nodes that renewed within a lease period, as last read.\n# TYPE stepwise_cluster_live_nodes gauge\nstepwise_cluster_live_nodes {}",
            view.live_nodes(self.config.lease).count()
        );
        let _ = writeln!(
            out,
            "# HELP stepwise_cluster_lease_renewed_seconds Seconds since this node last renewed its leases.\n# TYPE stepwise_cluster_lease_renewed_seconds gauge\nstepwise_cluster_lease_renewed_seconds {:.3}",
            self.renewed_ago()
        );
        let _ = writeln!(
            out,
            "# HELP stepwise_cluster_lease_renewal_failures Lease renewals that failed in a row.\n# TYPE stepwise_cluster_lease_renewal_failures gauge\nstepwise_cluster_lease_renewal_failures {}",
            self.failed_renewals.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP stepwise_cluster_lease_epoch The epoch of each partition this node serves.\n# TYPE stepwise_cluster_lease_epoch gauge"
        );
        for partition in partitions.iter() {
            if let Some(Holding::Lease(epoch)) = partition.lock().holding {
                let _ = writeln!(
                    out,
                    "stepwise_cluster_lease_epoch{{partition=\"{}\"}} {epoch}",
                    partition.id
                );
            }
        }
    }

    /// The cluster now: the leases and nodes read again, and each live node asked what
    /// it runs.
    pub async fn overview(&self, executions: &Executions) -> ClusterOverview {
        self.refresh(&*executions.durable.store);
        let view = self.view();
        let lease_ms = self.config.lease.as_millis() as i64;
        let mut unowned = Vec::new();
        let mut owned: std::collections::HashMap<&str, Vec<u16>> = Default::default();
        for lease in &view.leases {
            match (&lease.owner, lease.expires_in_ms > 0) {
                (Some(owner), true) => owned.entry(owner).or_default().push(lease.partition),
                _ => unowned.push(lease.partition),
            }
        }
        let mut nodes = Vec::new();
        for row in &view.nodes {
            let live = row.seen_ms_ago <= lease_ms;
            let running_executions = if row.node.id == self.config.node.id {
                Some(executions.running() as u64)
            } else if live {
                let status = self.peers.node_status(&row.node.grpc_addr).await;
                status.ok().map(|s| s.running_executions)
            } else {
                None
            };
            nodes.push(NodeOverview {
                id: row.node.id.clone(),
                grpc_addr: row.node.grpc_addr.clone(),
                http_addr: row.node.http_addr.clone(),
                live,
                seen_seconds_ago: row.seen_ms_ago as f64 / 1000.0,
                partitions: owned.remove(row.node.id.as_str()).unwrap_or_default(),
                running_executions,
            });
        }
        ClusterOverview {
            node: self.config.node.id.clone(),
            lease_seconds: self.config.lease.as_secs(),
            partition_count: executions.partitions.count(),
            unowned,
            nodes,
        }
    }
}

/// Sorted partition numbers as ranges: `0-3, 7, 9-10`.
fn ranges(partitions: &[u16]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < partitions.len() {
        let start = partitions[i];
        let mut end = start;
        while i + 1 < partitions.len() && partitions[i + 1] == end + 1 {
            i += 1;
            end = partitions[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

impl Runtime {
    /// The cluster as this node sees it, when it is one of a cluster's.
    pub async fn cluster_overview(&self) -> Option<ClusterOverview> {
        let executions = &self.inner.executions;
        let cluster = executions.cluster.as_ref()?;
        Some(cluster.overview(executions).await)
    }

    /// What this node serves now: its id, partitions and running executions.
    pub fn node_status(&self) -> (String, Vec<u16>, usize) {
        let executions = &self.inner.executions;
        let id =
            (executions.cluster.as_ref()).map_or_else(String::new, |c| c.config.node.id.clone());
        (id, executions.partitions.held(), executions.running())
    }

    /// This node's partitions and leases, when it is one of a cluster's (for `/health`).
    pub fn cluster_status(&self) -> Option<String> {
        let executions = &self.inner.executions;
        let cluster = executions.cluster.as_ref()?;
        Some(cluster.status(&executions.partitions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_read_as_ranges() {
        assert_eq!(ranges(&[0, 1, 2, 3, 7, 9, 10]), "0-3, 7, 9-10");
        assert_eq!(ranges(&[5]), "5");
        assert_eq!(ranges(&[]), "none");
    }
}
