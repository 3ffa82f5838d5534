//! Calls on a node of a cluster that the partition's owner must answer: run here when
//! this node serves the partition, forwarded to its owner otherwise (following it while
//! it moves), and task polls that look at every node's queues.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{MAX_POLL_SECONDS, Offer, Runtime, RuntimeError, cluster, forward, random};

impl Runtime {
    /// Whether another node of the cluster serves this execution's partition.
    pub(crate) fn served_elsewhere(&self, arn: &str) -> bool {
        let executions = &self.inner.executions;
        executions.cluster.is_some()
            && !self.inner.arns.is_express(arn)
            && executions
                .partitions
                .of_execution(arn)
                .lock()
                .holding
                .is_none()
    }

    /// The owner's history feed of an execution another node serves, as that node's
    /// gRPC stream; `None` when this node serves it (or nobody does at the moment: the
    /// local feed then reads the store).
    pub async fn watch_at_owner(
        &self,
        arn: &str,
        exclude_execution_data: bool,
    ) -> Option<tonic::Streaming<stepwise_proto::v1::HistoryEvent>> {
        if !self.served_elsewhere(arn) {
            return None;
        }
        let cluster = self.inner.executions.cluster.as_ref()?;
        let partition = self.inner.executions.partitions.of_execution(arn).id;
        let addr = cluster.owner_addr(partition)?;
        let watched = cluster.peers.watch(&addr, arn, exclude_execution_data);
        watched.await.ok()
    }

    /// A task from this node's queues for a worker polling another node (`TakeTask`):
    /// started here, answered at once.
    pub async fn take_task(
        &self,
        queues: &[String],
        worker_name: &str,
        poll_id: Option<&str>,
    ) -> Result<Option<Offer>, RuntimeError> {
        let executions = &self.inner.executions;
        forward::serve_forwarded(executions.poll(queues, worker_name, Duration::ZERO, poll_id))
            .await
    }

    /// Runs `here` on this node; when the execution's partition is served by another
    /// node, runs `there` on that node instead, following the partition while it moves
    /// (its owner died or was paused: until its lease has passed to another node).
    pub(super) async fn routed<T, Here, HereDone, There, ThereDone>(
        &self,
        here: Here,
        there: There,
    ) -> Result<T, RuntimeError>
    where
        Here: Fn() -> HereDone,
        HereDone: Future<Output = Result<T, RuntimeError>>,
        There: Fn(Arc<cluster::Cluster>, String) -> ThereDone,
        ThereDone: Future<Output = Result<T, RuntimeError>>,
    {
        let mut result = here().await;
        let Some(cluster) = self.inner.executions.cluster.clone() else {
            return result;
        };
        if forward::is_forwarded() {
            // One hop only: the node that forwarded this follows the partition itself.
            return result;
        }
        let deadline =
            tokio::time::Instant::now() + cluster.config.lease * 2 + Duration::from_secs(10);
        loop {
            let Err(RuntimeError::Elsewhere(partition)) = result else {
                return result;
            };
            let forwarded = match cluster.owner_addr(partition) {
                Some(addr) => there(cluster.clone(), addr).await,
                None => Err(RuntimeError::Elsewhere(partition)),
            };
            match forwarded {
                Err(RuntimeError::Unavailable(_) | RuntimeError::Elsewhere(_))
                    if tokio::time::Instant::now() < deadline => {}
                other => return other,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            cluster.refresh(&*self.inner.durable.store);
            result = here().await;
        }
    }

    /// A poll on a node of a cluster with other live nodes (`poll`'s part for them).
    pub(super) async fn poll_across(
        &self,
        cluster: &cluster::Cluster,
        queues: &[String],
        worker_name: &str,
        wait: Duration,
        poll_id: Option<&str>,
    ) -> Result<Option<Offer>, RuntimeError> {
        let executions = &self.inner.executions;
        // A worker polling any node gets tasks of every node: this node's queues and
        // each other node's (taken and started there, so each task still goes to one
        // poller); then it waits for a task offered here, or for another node's
        // announcement of one on these queues, and asks that node.
        let names: Vec<String> = (queues.iter())
            .map(|q| self.inner.arns.activity_name(q))
            .collect::<Result<_, _>>()?;
        let deadline =
            tokio::time::Instant::now() + wait.min(Duration::from_secs(MAX_POLL_SECONDS));
        let mut ask: Option<Vec<String>> = None;
        // Another node's answer can be lost after it started the task (it was slow, or
        // the connection broke): asked again under the same poll id, it gives that task.
        let asked_as = poll_id.map_or_else(random::uuid, str::to_string);
        loop {
            if !cluster.has_peers() {
                // Alone in the cluster: this node's queues are all there are. It polls
                // them as a server on its own does, looking for other nodes between.
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                let wait = left.min(cluster::PEER_POLL_INTERVAL);
                let here = executions.poll(queues, worker_name, wait, poll_id);
                if let Some(offer) = here.await? {
                    return Ok(Some(offer));
                }
                if tokio::time::Instant::now() >= deadline || executions.queues.is_closed() {
                    return Ok(None);
                }
                continue;
            }
            // Registered before looking, so an offer made in between wakes the wait.
            let offered = executions.queues.offered();
            tokio::pin!(offered);
            offered.as_mut().enable();
            let announced = cluster.remote_offers.wait(&names);
            let announced_by = ask.as_ref().filter(|peers| peers.len() == 1).cloned();
            // A woken poll looks here first (a task offered here, or the announcing
            // node next); a new poll takes its turn among the nodes, this one included,
            // so that while this node's queues are never empty (a saturated cluster)
            // the other nodes' tasks are not left waiting behind them.
            let sources: Vec<Option<String>> = match ask.take() {
                Some(peers) => std::iter::once(None)
                    .chain(peers.into_iter().map(Some))
                    .collect(),
                None => {
                    let mut every: Vec<Option<String>> = std::iter::once(None)
                        .chain(cluster.peer_addrs().into_iter().map(Some))
                        .collect();
                    let turn = cluster.poll_turns.fetch_add(1, Ordering::Relaxed);
                    let start = turn % every.len();
                    every.rotate_left(start);
                    every
                }
            };
            for source in sources {
                let offer = match source {
                    None => {
                        let here = executions.poll(queues, worker_name, Duration::ZERO, poll_id);
                        here.await?
                    }
                    Some(addr) => take_from(cluster, &addr, queues, worker_name, &asked_as).await,
                };
                if offer.is_some() {
                    return Ok(offer);
                }
            }
            // An announcement comes with the commit, and the task reaches its node's
            // queue a moment after: asked too soon, the node is asked again shortly.
            for addr in announced_by.iter().flatten() {
                for pause_ms in [1, 3, 8] {
                    tokio::time::sleep(Duration::from_millis(pause_ms)).await;
                    if let Some(offer) =
                        take_from(cluster, addr, queues, worker_name, &asked_as).await
                    {
                        return Ok(Some(offer));
                    }
                }
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || executions.queues.is_closed() {
                return Ok(None);
            }
            ask = tokio::select! {
                _ = &mut offered => Some(Vec::new()),
                _ = tokio::time::sleep(left.min(cluster::PEER_POLL_INTERVAL)) => None,
                woken = announced => match woken {
                    Ok(Some(addr)) => Some(vec![addr]),
                    _ => None,
                },
            };
        }
    }
}

/// A task from another node's queues, started there for this poll, if it has one; a
/// request that failed is sent again (same poll id: the task it may have started) a
/// couple of times before the node is passed over.
async fn take_from(
    cluster: &cluster::Cluster,
    addr: &str,
    queues: &[String],
    worker_name: &str,
    poll_id: &str,
) -> Option<Offer> {
    const ATTEMPTS: usize = 3;
    for attempt in 1..=ATTEMPTS {
        match (cluster.peers)
            .take_task(addr, queues, worker_name, Some(poll_id))
            .await
        {
            Ok(taken) => return taken,
            Err(e) => {
                tracing::debug!(peer = %addr, attempt, "a node's queues could not be asked: {e}")
            }
        }
    }
    None
}
