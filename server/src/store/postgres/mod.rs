//! The PostgreSQL store (`--database-url`): the same trait as the embedded one, over a
//! database the team already runs. Its contract is the trait's: a `write` is one
//! transaction (every batch of a group commit in it, statements pipelined on one
//! connection, so a group costs one round trip rather than one per write) and is
//! durable once it commits (with `synchronous_commit` on, PostgreSQL's default), so
//! `flush` has nothing left to do.
//!
//! The trait is synchronous and is called from the server's async tasks; the client is
//! asynchronous. It runs on a small runtime of the store's own, and each call waits for
//! its answer on a channel, which blocks the caller's thread as a sled read from disk
//! does, and never starts a runtime inside another. One connection writes (the
//! committer's, in transactions); a few more answer reads, round robin. Every statement
//! (`sql.rs`) is prepared once per connection; `writes.rs` turns a group of batches into
//! the statements of its transaction; `schema.rs` holds the migrations.

mod leases;
mod schema;
mod sql;
mod writes;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use futures_util::future::{join_all, join3, try_join_all};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement};

use super::codec::{StoredRevision, decode, step_events};
use super::{
    ActivityRecord, Batch, Damaged, ExecutionCounts, ExecutionPage, ExecutionRecord, ExpressStart,
    KeyRecord, Leases, MachineRecord, NodeInfo, RevisionRecord, Scanned, Store, StoreError,
    TimerRecord, UsageRecord,
};
use crate::engine::{Event, Status};
use writes::{Params, boxed, statements_of};

/// Connections that answer reads (besides the one that writes).
const READERS: usize = 3;

/// Announcements a slow poller may fall behind by (it then asks every node).
const ANNOUNCEMENTS_BACKLOG: usize = 1024;

/// One connection with its prepared statements.
struct Connection {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl Connection {
    fn statement(&self, sql: &'static str) -> &Statement {
        self.statements
            .get(sql)
            .unwrap_or_else(|| panic!("the statement is not in sql::ALL: {sql}"))
    }
}

/// The store's own runtime, shut down without waiting when dropped: dropping a runtime
/// waits for its tasks, which a caller on another runtime must not do (it panics), and
/// the store is opened, refused and dropped from the server's async tasks.
struct StoreRuntime(Option<tokio::runtime::Runtime>);

impl Drop for StoreRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::ops::Deref for StoreRuntime {
    type Target = tokio::runtime::Runtime;

    fn deref(&self) -> &tokio::runtime::Runtime {
        self.0.as_ref().expect("present until dropped")
    }
}

/// The store over a PostgreSQL database.
pub struct PgStore {
    /// The store's own runtime; its connections end with it.
    runtime: StoreRuntime,
    writer: Arc<tokio::sync::Mutex<Connection>>,
    readers: Vec<Arc<Connection>>,
    next_reader: AtomicUsize,
    /// The connection that renews leases (`leases.rs`).
    leases: Arc<Connection>,
    /// The connection that listens for other nodes' announcements (kept open).
    _listener: Client,
    /// Where those announcements go.
    announcements: tokio::sync::broadcast::Sender<super::Announcement>,
    /// This node, once it joined: the owner its fences name.
    node: OnceLock<NodeInfo>,
    /// Set once a write failed: memory may then hold what the database does not.
    failed: AtomicBool,
    /// The server and database, for messages (never the password).
    place: String,
}

/// Runs `future` on `runtime` and waits for its output on this thread. On a worker of
/// the server's multi-threaded runtime the wait is announced (`block_in_place`), so the
/// worker's other tasks move to another thread instead of stalling behind a database
/// round trip: with the server's two workers each blocked in turn, the task bench ran
/// about 30 % slower (docs/PERFORMANCE.md).
fn wait_on<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    future: impl Future<Output = T> + Send + 'static,
) -> Option<T> {
    let (answer, answered) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = answer.send(future.await);
    });
    let on_worker = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if on_worker {
        tokio::task::block_in_place(|| answered.recv().ok())
    } else {
        answered.recv().ok()
    }
}

/// A client error with its causes ("error connecting to server: Connection refused"):
/// tokio-postgres keeps the reason in the error's source.
fn explained(error: &tokio_postgres::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(reason) = cause {
        let reason_text = reason.to_string();
        if !text.contains(&reason_text) {
            text.push_str(": ");
            text.push_str(&reason_text);
        }
        cause = reason.source();
    }
    text
}

/// Where a configuration points, for messages: user, hosts, ports and database.
fn place_of(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!(
        "{}@{}:{}/{}",
        config.get_user().unwrap_or("?"),
        hosts.join(","),
        ports.join(","),
        config.get_dbname().unwrap_or("?")
    )
}

async fn open_connection(
    config: tokio_postgres::Config,
) -> Result<Connection, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::error!("the PostgreSQL connection ended: {e}");
        }
    });
    Ok(Connection {
        client,
        statements: HashMap::new(),
    })
}

async fn prepare_all(connection: &mut Connection) -> Result<(), tokio_postgres::Error> {
    let prepared =
        try_join_all(sql::ALL.iter().map(|text| connection.client.prepare(text))).await?;
    connection.statements = sql::ALL.iter().copied().zip(prepared).collect();
    Ok(())
}

/// Applies the migrations the database lacks, under an advisory lock; refuses a schema
/// newer than this server's.
async fn migrate(connection: &mut Connection) -> Result<Result<(), String>, tokio_postgres::Error> {
    let client = &mut connection.client;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&schema::MIGRATION_LOCK])
        .await?;
    let migrated = async {
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS stepwise_schema \
                 (version integer PRIMARY KEY, applied_ms bigint NOT NULL)",
            )
            .await?;
        let applied: i32 = client
            .query_one("SELECT COALESCE(max(version), 0) FROM stepwise_schema", &[])
            .await?
            .get(0);
        if applied > schema::latest() {
            return Ok(Err(format!(
                "the database's schema is version {applied}, newer than this server's ({}): \
                 run a Stepwise server at least as new as the one that wrote it",
                schema::latest()
            )));
        }
        for (version, text) in schema::MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
            let transaction = client.transaction().await?;
            transaction.batch_execute(text).await?;
            transaction
                .execute(
                    "INSERT INTO stepwise_schema (version, applied_ms) \
                     VALUES ($1, (extract(epoch from clock_timestamp()) * 1000)::bigint)",
                    &[version],
                )
                .await?;
            transaction.commit().await?;
            tracing::info!(version, "PostgreSQL schema migrated");
        }
        Ok(Ok(()))
    }
    .await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&schema::MIGRATION_LOCK])
        .await?;
    migrated
}

/// Why a reachable database was not opened: its schema is newer than this server's.
struct Newer(String);

impl PgStore {
    /// Connects to the database at `url` (`postgres://USER[:PASSWORD]@HOST:PORT/DB`),
    /// creating or migrating its schema.
    pub fn connect(url: &str) -> Result<PgStore, StoreError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Io(format!("the database URL is not valid: {e}")))?;
        let place = place_of(&config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("stepwise-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Io(format!("cannot start the PostgreSQL client: {e}")))?;
        let runtime = StoreRuntime(Some(runtime));
        let unreachable = |e: tokio_postgres::Error| {
            StoreError::Io(format!("PostgreSQL at {place}: {}", explained(&e)))
        };
        let (announcements, _) = tokio::sync::broadcast::channel(ANNOUNCEMENTS_BACKLOG);
        let announced = announcements.clone();
        let opened = wait_on(&runtime, async move {
            let mut writer = open_connection(config.clone()).await?;
            if let Err(newer) = migrate(&mut writer).await? {
                return Ok(Err(Newer(newer)));
            }
            prepare_all(&mut writer).await?;
            let mut readers = Vec::with_capacity(READERS);
            for _ in 0..READERS {
                let mut reader = open_connection(config.clone()).await?;
                prepare_all(&mut reader).await?;
                readers.push(Arc::new(reader));
            }
            // Lease renewals have a connection of their own, so that a long read or a
            // slow group commit never delays one past the lease's expiry.
            let leases = open_connection(config.clone()).await?;
            let listener = leases::listen(config.clone(), announced.clone()).await?;
            Ok(Ok((writer, readers, leases, listener)))
        })
        .ok_or_else(|| StoreError::Io("the PostgreSQL client stopped".into()))?;
        let (writer, readers, leases, listener) = match opened.map_err(unreachable)? {
            Ok(connections) => connections,
            Err(Newer(newer)) => {
                return Err(StoreError::Corrupt {
                    path: place,
                    reason: newer,
                });
            }
        };
        tracing::info!(database = %place, "PostgreSQL store open");
        Ok(PgStore {
            runtime,
            writer: Arc::new(tokio::sync::Mutex::new(writer)),
            readers,
            next_reader: AtomicUsize::new(0),
            leases: Arc::new(leases),
            _listener: listener,
            announcements,
            node: OnceLock::new(),
            failed: AtomicBool::new(false),
            place,
        })
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// Runs a read on the next reader connection.
    fn query(&self, text: &'static str, params: Params) -> Result<Vec<Row>, StoreError> {
        let index = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let reader = Arc::clone(&self.readers[index]);
        let rows = wait_on(self.runtime(), async move {
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as _).collect();
            reader.client.query(reader.statement(text), &refs).await
        })
        .ok_or_else(|| StoreError::Io("the PostgreSQL client stopped".into()))?;
        rows.map_err(|e| StoreError::Io(format!("PostgreSQL at {}: {}", self.place, explained(&e))))
    }

    /// Runs statements as one transaction on the writer connection, pipelined. A
    /// transaction PostgreSQL chose to abort (a deadlock between nodes' group commits, a
    /// serialization failure) wrote nothing and runs again; a refused fence is
    /// `Fenced`, which leaves the store working.
    fn transact(&self, statements: Vec<(&'static str, Params)>) -> Result<(), StoreError> {
        const ATTEMPTS: usize = 5;
        if self.failed.load(Ordering::Relaxed) {
            return Err(StoreError::Failed(format!(
                "an earlier write to PostgreSQL at {} failed",
                self.place
            )));
        }
        let statements = Arc::new(statements);
        let mut attempt = 1;
        loop {
            let writer = Arc::clone(&self.writer);
            let group = Arc::clone(&statements);
            let done = wait_on(self.runtime(), async move {
                let writer = writer.lock().await;
                pipelined(&writer, &group).await
            })
            .ok_or_else(|| StoreError::Io("the PostgreSQL client stopped".into()))?;
            let Err(e) = done else {
                return Ok(());
            };
            if let Some(partitions) = fenced(&e) {
                return Err(StoreError::Fenced { partitions });
            }
            let aborted = e.code().is_some_and(|code| {
                *code == SqlState::T_R_DEADLOCK_DETECTED
                    || *code == SqlState::T_R_SERIALIZATION_FAILURE
            });
            if aborted && attempt < ATTEMPTS {
                tracing::debug!(
                    attempt,
                    "PostgreSQL aborted a group commit; running it again: {e}"
                );
                attempt += 1;
                continue;
            }
            self.failed.store(true, Ordering::Relaxed);
            return Err(StoreError::Io(format!(
                "PostgreSQL at {}: {}",
                self.place,
                explained(&e)
            )));
        }
    }
}

/// BEGIN, the statements and COMMIT, sent together and answered together: one round
/// trip and the commit's fsync per group. A statement that fails aborts the transaction,
/// and the COMMIT behind it then rolls it back, so the connection is idle again whatever
/// happened; every answer is awaited (none dropped half-read) and the first error
/// reported.
async fn pipelined(
    writer: &Connection,
    statements: &[(&'static str, Params)],
) -> Result<(), tokio_postgres::Error> {
    let refs: Vec<Vec<&(dyn ToSql + Sync)>> = statements
        .iter()
        .map(|(_, params)| params.iter().map(|p| &**p as _).collect())
        .collect();
    let client = &writer.client;
    let body = join_all(
        statements
            .iter()
            .zip(&refs)
            .map(|((text, _), params)| client.execute(writer.statement(text), params)),
    );
    let (begun, done, committed) = join3(
        client.batch_execute("BEGIN"),
        body,
        client.batch_execute("COMMIT"),
    )
    .await;
    begun?;
    for result in done {
        result?;
    }
    committed
}

/// The partitions a refused fence names (`stepwise_fence`'s error), if that is the error.
fn fenced(error: &tokio_postgres::Error) -> Option<Vec<u16>> {
    let db = error.as_db_error()?;
    if db.code().code() != schema::FENCE_REFUSED {
        return None;
    }
    Some(
        db.detail()
            .unwrap_or_default()
            .split(',')
            .filter_map(|p| p.trim().parse().ok())
            .collect(),
    )
}

/// A row's record, decoded; `key` names it as the embedded store would (`x|arn`).
fn decoded<T: serde::de::DeserializeOwned>(
    kind: &str,
    id: &str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    decode(format!("{kind}|{id}").as_bytes(), bytes)
}

/// Rows of (id, record) read into the records that decode and the ones that do not.
fn scanned<T: serde::de::DeserializeOwned>(
    kind: &str,
    rows: Vec<Row>,
) -> Result<Scanned<T>, StoreError> {
    let mut scanned = Scanned {
        records: Vec::new(),
        damaged: Vec::new(),
    };
    for row in rows {
        let id: String = row.get(0);
        let bytes: Vec<u8> = row.get(1);
        match decoded(kind, &id, &bytes) {
            Ok(record) => scanned.records.push(record),
            Err(StoreError::Decode { key, reason }) => {
                scanned.damaged.push(Damaged { key, reason })
            }
            Err(other) => return Err(other),
        }
    }
    Ok(scanned)
}

/// A listing cursor: the last execution's start time and name (opaque to callers).
fn cursor(start_ms: i64, name: &str) -> Vec<u8> {
    let mut bytes = start_ms.to_be_bytes().to_vec();
    bytes.extend_from_slice(name.as_bytes());
    bytes
}

fn read_cursor(bytes: &[u8]) -> Result<(i64, String), StoreError> {
    let bad = || StoreError::Cursor("the nextToken is not a token this server issued".into());
    let (start, name) = bytes.split_at_checked(8).ok_or_else(bad)?;
    let start_ms = i64::from_be_bytes(start.try_into().map_err(|_| bad())?);
    let name = String::from_utf8(name.to_vec()).map_err(|_| bad())?;
    Ok((start_ms, name))
}

impl PgStore {
    fn one<T: serde::de::DeserializeOwned>(
        &self,
        text: &'static str,
        kind: &str,
        id: &str,
        params: Params,
    ) -> Result<Option<T>, StoreError> {
        match self.query(text, params)?.first() {
            Some(row) => {
                let bytes: Vec<u8> = row.get(1);
                decoded(kind, id, &bytes).map(Some)
            }
            None => Ok(None),
        }
    }

    fn events_of(&self, text: &'static str, execution: &str) -> Result<Vec<Event>, StoreError> {
        let mut events = Vec::new();
        for row in self.query(text, vec![boxed(execution.to_string())])? {
            let first_id: i64 = row.get(0);
            let bytes: Vec<u8> = row.get(1);
            events.extend(step_events(
                format!("e|{execution}|{first_id}").as_bytes(),
                &bytes,
            )?);
        }
        Ok(events)
    }
}

impl Store for PgStore {
    fn write(&self, batches: &[&Batch]) -> Result<(), StoreError> {
        let mut statements = statements_of(batches);
        if statements.is_empty() {
            return Ok(());
        }
        if let Some(fence) = self.fence_of(batches)? {
            statements.insert(0, fence);
        }
        statements.extend(self.announcements_of(batches));
        self.transact(statements)
    }

    fn flush(&self) -> Result<(), StoreError> {
        // Every write committed durably already; a failed one is reported here too.
        if self.failed.load(Ordering::Relaxed) {
            return Err(StoreError::Failed(format!(
                "an earlier write to PostgreSQL at {} failed",
                self.place
            )));
        }
        Ok(())
    }

    fn machine(&self, name: &str) -> Result<Option<MachineRecord>, StoreError> {
        self.one(sql::MACHINE, "m", name, vec![boxed(name.to_string())])
    }

    fn machines(&self) -> Result<Scanned<MachineRecord>, StoreError> {
        scanned("m", self.query(sql::MACHINES, vec![])?)
    }

    fn revision(&self, machine: &str, revision: u32) -> Result<Option<RevisionRecord>, StoreError> {
        let rows = self.query(
            sql::REVISION,
            vec![boxed(machine.to_string()), boxed(i64::from(revision))],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let bytes: Vec<u8> = row.get(0);
        let stored: StoredRevision = decoded("r", &format!("{machine}|{revision}"), &bytes)?;
        Ok(Some(stored.into()))
    }

    fn execution(&self, arn: &str) -> Result<Option<ExecutionRecord>, StoreError> {
        self.one(sql::EXECUTION, "x", arn, vec![boxed(arn.to_string())])
    }

    fn running_executions(&self) -> Result<Scanned<ExecutionRecord>, StoreError> {
        scanned("x", self.query(sql::RUNNING, vec![])?)
    }

    fn machine_executions(
        &self,
        machine: &str,
        status: Option<Status>,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ExecutionPage, StoreError> {
        // One more than asked, to know whether a page follows.
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
        let mut params: Params = vec![boxed(machine.to_string()), boxed(fetch)];
        let after = after.map(read_cursor).transpose()?;
        if let Some((start_ms, name)) = after {
            params.push(boxed(start_ms));
            params.push(boxed(name));
        }
        let text = match (status, params.len() > 2) {
            (None, false) => sql::PAGE,
            (None, true) => sql::PAGE_AFTER,
            (Some(status), after) => {
                params.push(boxed(status.as_str().to_string()));
                if after {
                    sql::STATUS_PAGE_AFTER
                } else {
                    sql::STATUS_PAGE
                }
            }
        };
        let mut rows = self.query(text, params)?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = match rows.last() {
            Some(last) if more => Some(cursor(last.get(2), last.get::<_, &str>(3))),
            _ => None,
        };
        Ok(ExecutionPage {
            records: scanned("x", rows)?,
            next,
        })
    }

    fn execution_counts(&self) -> Result<ExecutionCounts, StoreError> {
        let mut counts = ExecutionCounts::new();
        for row in self.query(sql::COUNTS, vec![])? {
            let machine: String = row.get(0);
            let status: &str = row.get(1);
            let count: i64 = row.get(2);
            if let Some(status) = Status::ALL.into_iter().find(|s| s.as_str() == status) {
                counts
                    .entry(machine)
                    .or_default()
                    .insert(status, count as u64);
            }
        }
        Ok(counts)
    }

    fn events(&self, execution: &str) -> Result<Vec<Event>, StoreError> {
        self.events_of(sql::EVENTS, execution)
    }

    fn first_event(&self, execution: &str) -> Result<Option<Event>, StoreError> {
        Ok(self
            .events_of(sql::FIRST_EVENTS, execution)?
            .into_iter()
            .next())
    }

    fn timers(&self) -> Result<Scanned<TimerRecord>, StoreError> {
        let mut timers = Scanned {
            records: Vec::new(),
            damaged: Vec::new(),
        };
        for row in self.query(sql::TIMERS, vec![])? {
            let (execution, key, due_ms): (String, String, i64) =
                (row.get(0), row.get(1), row.get(2));
            let bytes: Vec<u8> = row.get(3);
            match decoded("t", &format!("{due_ms}|{execution}|{key}"), &bytes) {
                Ok(timer) => timers.records.push(timer),
                Err(StoreError::Decode { key, reason }) => {
                    timers.damaged.push(Damaged { key, reason })
                }
                Err(other) => return Err(other),
            }
        }
        Ok(timers)
    }

    fn activity(&self, name: &str) -> Result<Option<ActivityRecord>, StoreError> {
        self.one(sql::ACTIVITY, "a", name, vec![boxed(name.to_string())])
    }

    fn activities(&self) -> Result<Scanned<ActivityRecord>, StoreError> {
        scanned("a", self.query(sql::ACTIVITIES, vec![])?)
    }

    fn express_starts(&self) -> Result<Scanned<ExpressStart>, StoreError> {
        scanned("s", self.query(sql::EXPRESS_STARTS, vec![])?)
    }

    fn usage(&self) -> Result<Scanned<UsageRecord>, StoreError> {
        scanned("u", self.query(sql::USAGE, vec![])?)
    }

    fn keys(&self) -> Result<Scanned<KeyRecord>, StoreError> {
        scanned("i", self.query(sql::KEYS, vec![])?)
    }

    fn tags(&self, arn: &str) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .one(sql::TAGS, "g", arn, vec![boxed(arn.to_string())])?
            .unwrap_or_default())
    }

    fn partition_count(&self, proposed: u16) -> Result<u16, StoreError> {
        self.transact(vec![(
            sql::PROPOSE_PARTITIONS,
            vec![boxed(proposed.to_string())],
        )])?;
        let rows = self.query(sql::PARTITIONS, vec![])?;
        let value: Option<String> = rows.first().map(|row| row.get(0));
        value
            .as_deref()
            .and_then(|value| value.parse::<u16>().ok())
            .filter(|count| *count > 0)
            .ok_or_else(|| StoreError::Decode {
                key: "stepwise_meta|partitions".into(),
                reason: format!("{value:?} is not a partition count"),
            })
    }

    fn leases(&self) -> Option<&dyn Leases> {
        Some(self)
    }
}

#[cfg(test)]
mod tests;
