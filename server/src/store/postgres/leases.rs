//! The leases of the PostgreSQL store (`store/leases.rs` says what they are for). Every
//! expiry is computed by the database's clock, so nodes whose clocks disagree still agree
//! on who holds what; renewals run on a connection of their own.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::types::ToSql;

use super::writes::{Params, boxed};
use super::{Connection, PgStore, explained, schema, sql, wait_on};
use crate::store::{
    Acquired, Announcement, Batch, ClusterView, Lease, LeaseRow, Leases, NodeInfo, NodeRow,
    StoreError,
};

/// How long joining waits for its node id's lock: a process that just stopped, or was
/// killed, leaves its connection to close a moment later.
const NODE_LOCK_WAIT: Duration = Duration::from_secs(5);

const UPSERT_NODE: &str = "INSERT INTO nodes (node_id, grpc_addr, http_addr, started_ms, seen_at) \
    VALUES ($1, $2, $3, $4, now()) ON CONFLICT (node_id) DO UPDATE SET \
    grpc_addr = EXCLUDED.grpc_addr, http_addr = EXCLUDED.http_addr, \
    started_ms = EXCLUDED.started_ms, seen_at = now()";
const CREATE_LEASES: &str = "INSERT INTO leases (partition, expires_at) \
    SELECT p, to_timestamp(0) FROM generate_series(0, $1::integer - 1) AS p \
    ON CONFLICT (partition) DO NOTHING";
/// Renewing and taking back one's own leases lock the rows in partition order, as the
/// fence does, so that they cannot deadlock with a group commit.
const TAKE_BACK: &str = "UPDATE leases SET epoch = epoch + 1, \
    expires_at = now() + $2 * interval '1 millisecond', acquired_at = now() \
    WHERE partition IN (SELECT partition FROM leases WHERE owner = $1 \
        ORDER BY partition FOR UPDATE) \
    RETURNING partition, epoch";
const SEEN: &str = "UPDATE nodes SET seen_at = now() WHERE node_id = $1";
const RENEW: &str = "UPDATE leases SET expires_at = now() + $2 * interval '1 millisecond' \
    WHERE partition IN (SELECT partition FROM leases WHERE owner = $1 \
        ORDER BY partition FOR UPDATE) \
    RETURNING partition, epoch";
/// A partition whose fence lock a group commit of its old owner holds is skipped, and
/// taken at a later attempt: a takeover never overtakes a commit under the old epoch.
const ACQUIRE: &str = "WITH free AS ( \
        SELECT partition, owner, expires_at < now() AS expired FROM leases \
        WHERE (owner IS NULL OR expires_at < now()) AND owner IS DISTINCT FROM $1 \
            AND pg_try_advisory_xact_lock($4, partition) \
        ORDER BY partition LIMIT $2 FOR UPDATE SKIP LOCKED) \
    UPDATE leases l SET owner = $1, epoch = l.epoch + 1, \
        expires_at = now() + $3 * interval '1 millisecond', acquired_at = now() \
    FROM free WHERE l.partition = free.partition \
    RETURNING l.partition, l.epoch, CASE WHEN free.expired THEN free.owner END";
const RELEASE: &str = "UPDATE leases SET owner = NULL, expires_at = to_timestamp(0) \
    WHERE owner = $1 AND partition = ANY($2)";
const LEAVE: &str = "DELETE FROM nodes WHERE node_id = $1";
const NODES: &str = "SELECT node_id, grpc_addr, http_addr, started_ms, \
    (extract(epoch FROM now() - seen_at) * 1000)::bigint FROM nodes ORDER BY node_id";
const LEASES: &str = "SELECT partition, owner, epoch, \
    (extract(epoch FROM expires_at - now()) * 1000)::bigint FROM leases ORDER BY partition";

/// The advisory lock key of a node id.
fn node_lock(node: &str) -> (i32, i32) {
    (
        schema::NODE_LOCK_SPACE,
        crate::placement::arn_hash(node) as i32,
    )
}

fn millis(lease: Duration) -> f64 {
    lease.as_millis() as f64
}

fn leases_of(rows: &[tokio_postgres::Row]) -> Vec<Lease> {
    rows.iter()
        .map(|row| Lease {
            partition: row.get::<_, i32>(0) as u16,
            epoch: row.get::<_, i64>(1) as u64,
        })
        .collect()
}

impl PgStore {
    /// Runs one statement on the lease connection.
    fn lease_query(
        &self,
        text: &'static str,
        params: Params,
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let connection: Arc<Connection> = Arc::clone(&self.leases);
        let rows = wait_on(self.runtime(), async move {
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as _).collect();
            connection.client.query(text, &refs).await
        })
        .ok_or_else(|| StoreError::Io("the PostgreSQL client stopped".into()))?;
        rows.map_err(|e| StoreError::Io(format!("PostgreSQL at {}: {}", self.place, explained(&e))))
    }

    /// The statements that announce a group's offers, one per queue (nothing before this
    /// node joined: no other node listens for a node it does not know).
    pub(super) fn announcements_of(&self, batches: &[&Batch]) -> Vec<(&'static str, Params)> {
        let Some(node) = self.node.get() else {
            return Vec::new();
        };
        let mut offers: std::collections::BTreeMap<&String, u32> = Default::default();
        for queue in batches.iter().flat_map(|b| &b.announce) {
            *offers.entry(queue).or_default() += 1;
        }
        offers
            .into_iter()
            .map(|(queue, count)| {
                // The queue last: it is the one part that may hold any character.
                let payload = format!("{}\n{count}\n{queue}", node.id);
                let params: Params = vec![boxed(payload)];
                (sql::ANNOUNCE, params)
            })
            .collect()
    }

    /// The fence statement for a group's batches: every partition they write, with the
    /// epoch each was written under. A batch fenced by a node that has not joined is
    /// refused without asking the database.
    pub(super) fn fence_of(
        &self,
        batches: &[&Batch],
    ) -> Result<Option<(&'static str, Params)>, StoreError> {
        let mut fences: Vec<(i32, i64)> = batches
            .iter()
            .filter_map(|batch| batch.fence)
            .map(|fence| (i32::from(fence.partition), fence.epoch as i64))
            .collect();
        if fences.is_empty() {
            return Ok(None);
        }
        fences.sort_unstable();
        fences.dedup();
        let Some(node) = self.node.get() else {
            return Err(StoreError::Fenced {
                partitions: fences.iter().map(|(p, _)| *p as u16).collect(),
            });
        };
        let (partitions, epochs): (Vec<i32>, Vec<i64>) = fences.into_iter().unzip();
        Ok(Some((
            sql::FENCE,
            vec![boxed(node.id.clone()), boxed(partitions), boxed(epochs)],
        )))
    }
}

/// The channel of offer announcements (`pg_notify` delivers them when the group commit
/// that sends them commits, and not if it rolls back).
const ANNOUNCE_CHANNEL: &str = "stepwise_offers";

/// Opens the connection that listens for announcements and passes each on.
pub(super) async fn listen(
    config: tokio_postgres::Config,
    announcements: tokio::sync::broadcast::Sender<Announcement>,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    use futures_util::StreamExt;
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(notice)) => {
                    let mut parts = notice.payload().splitn(3, '\n');
                    if let (Some(node), Some(offers), Some(queue)) =
                        (parts.next(), parts.next(), parts.next())
                    {
                        let _ = announcements.send(Announcement {
                            node: node.to_string(),
                            queue: queue.to_string(),
                            offers: offers.parse().unwrap_or(1),
                        });
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(
                        "the PostgreSQL connection that listens for other nodes' task offers ended: {e}"
                    );
                    return;
                }
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {ANNOUNCE_CHANNEL}"))
        .await?;
    Ok(client)
}

impl Leases for PgStore {
    fn join(
        &self,
        node: &NodeInfo,
        partitions: u16,
        lease: Duration,
    ) -> Result<Vec<Lease>, StoreError> {
        // The id's lock lives on the writer connection: if that connection is lost the
        // store has failed anyway, and the lock goes with it.
        let writer = Arc::clone(&self.writer);
        let (space, key) = node_lock(&node.id);
        let locked = wait_on(self.runtime(), async move {
            let writer = writer.lock().await;
            let deadline = tokio::time::Instant::now() + NODE_LOCK_WAIT;
            loop {
                let held: bool = writer
                    .client
                    .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&space, &key])
                    .await?
                    .get(0);
                if held || tokio::time::Instant::now() >= deadline {
                    return Ok::<_, tokio_postgres::Error>(held);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .ok_or_else(|| StoreError::Io("the PostgreSQL client stopped".into()))?
        .map_err(|e| StoreError::Io(format!("PostgreSQL at {}: {}", self.place, explained(&e))))?;
        if !locked {
            return Err(StoreError::NodeIdInUse {
                node: node.id.clone(),
                place: self.place.clone(),
            });
        }
        let _ = self.node.set(node.clone());
        let started_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        self.lease_query(
            UPSERT_NODE,
            vec![
                boxed(node.id.clone()),
                boxed(node.grpc_addr.clone()),
                boxed(node.http_addr.clone()),
                boxed(started_ms),
            ],
        )?;
        self.lease_query(CREATE_LEASES, vec![boxed(i32::from(partitions))])?;
        let rows = self.lease_query(
            TAKE_BACK,
            vec![boxed(node.id.clone()), boxed(millis(lease))],
        )?;
        Ok(leases_of(&rows))
    }

    fn renew(&self, node: &str, lease: Duration) -> Result<Vec<Lease>, StoreError> {
        self.lease_query(SEEN, vec![boxed(node.to_string())])?;
        let rows = self.lease_query(RENEW, vec![boxed(node.to_string()), boxed(millis(lease))])?;
        Ok(leases_of(&rows))
    }

    fn acquire(
        &self,
        node: &str,
        want: usize,
        lease: Duration,
    ) -> Result<Vec<Acquired>, StoreError> {
        if want == 0 {
            return Ok(Vec::new());
        }
        let rows = self.lease_query(
            ACQUIRE,
            vec![
                boxed(node.to_string()),
                boxed(want as i64),
                boxed(millis(lease)),
                boxed(schema::FENCE_LOCK_SPACE),
            ],
        )?;
        let mut acquired: Vec<Acquired> = rows
            .iter()
            .map(|row| Acquired {
                lease: Lease {
                    partition: row.get::<_, i32>(0) as u16,
                    epoch: row.get::<_, i64>(1) as u64,
                },
                from_expired: row.get(2),
            })
            .collect();
        acquired.sort_by_key(|a| a.lease.partition);
        Ok(acquired)
    }

    fn release(&self, node: &str, partitions: &[u16]) -> Result<(), StoreError> {
        let partitions: Vec<i32> = partitions.iter().map(|p| i32::from(*p)).collect();
        self.lease_query(RELEASE, vec![boxed(node.to_string()), boxed(partitions)])?;
        Ok(())
    }

    fn leave(&self, node: &str) -> Result<(), StoreError> {
        self.lease_query(LEAVE, vec![boxed(node.to_string())])?;
        Ok(())
    }

    fn announcements(&self) -> tokio::sync::broadcast::Receiver<Announcement> {
        self.announcements.subscribe()
    }

    fn cluster_secret(&self, proposed: &str) -> Result<String, StoreError> {
        self.transact(vec![(
            sql::PROPOSE_CLUSTER_SECRET,
            vec![boxed(proposed.to_string())],
        )])?;
        let rows = self.query(sql::CLUSTER_SECRET, vec![])?;
        rows.first()
            .map(|row| row.get::<_, String>(0))
            .filter(|secret| !secret.is_empty())
            .ok_or_else(|| StoreError::Decode {
                key: "stepwise_meta|cluster_secret".into(),
                reason: "missing or empty".into(),
            })
    }

    fn view(&self) -> Result<ClusterView, StoreError> {
        let nodes = self
            .lease_query(NODES, vec![])?
            .iter()
            .map(|row| NodeRow {
                node: NodeInfo {
                    id: row.get(0),
                    grpc_addr: row.get(1),
                    http_addr: row.get(2),
                },
                started_ms: row.get(3),
                seen_ms_ago: row.get(4),
            })
            .collect();
        let leases = self
            .lease_query(LEASES, vec![])?
            .iter()
            .map(|row| LeaseRow {
                partition: row.get::<_, i32>(0) as u16,
                owner: row.get(1),
                epoch: row.get::<_, i64>(2) as u64,
                expires_in_ms: row.get(3),
            })
            .collect();
        Ok(ClusterView { nodes, leases })
    }
}
