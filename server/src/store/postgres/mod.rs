//! The PostgreSQL store (`--database-url`): the same trait as the embedded one, over a
//! database the team already runs. Its contract is the trait's: a `write` is one
//! transaction (every batch of a group commit in it, statements pipelined on one
//! connection, so a group costs a round trip or two rather than one per write) and is
//! durable once it commits (with `synchronous_commit` on, PostgreSQL's default), so
//! `flush` has nothing left to do.
//!
//! The trait is synchronous and is called from the server's async tasks; the client is
//! asynchronous. It runs on a small runtime of the store's own, and each call waits for
//! its answer on a channel, which blocks the caller's thread as a sled read from disk
//! does, and never starts a runtime inside another. One connection writes (the
//! committer's, in transactions); a few more answer reads, round robin. Every statement
//! is prepared once per connection.

mod schema;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures_util::future::{join_all, join3, try_join_all};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement};

use super::codec::{StoredRevision, decode, encode, step_events};
use super::{
    ActivityRecord, Batch, Damaged, ExecutionCounts, ExecutionPage, ExecutionRecord, ExpressStart,
    MachineRecord, RevisionRecord, Scanned, Store, StoreError, TimerRecord, UsageRecord, Write,
};
use crate::engine::{Event, Status};

/// Connections that answer reads (besides the one that writes).
const READERS: usize = 3;

/// A statement's parameters, owned so the statement can run on the store's runtime.
type Params = Vec<Box<dyn ToSql + Sync + Send>>;

/// Every statement the store runs, prepared on each connection when it opens.
mod sql {
    pub const PUT_MACHINE: &str = "INSERT INTO machines (name, record) VALUES ($1, $2) \
        ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record";
    pub const PUT_REVISION: &str = "INSERT INTO revisions (machine, revision, record) \
        VALUES ($1, $2, $3) ON CONFLICT (machine, revision) DO UPDATE SET record = EXCLUDED.record";
    pub const DELETE_MACHINE: &str = "DELETE FROM machines WHERE name = $1";
    pub const PUT_EXECUTION: &str = "INSERT INTO executions \
        (arn, machine, name, status, start_ms, record) VALUES ($1, $2, $3, $4, $5, $6) \
        ON CONFLICT (arn) DO UPDATE SET status = EXCLUDED.status, record = EXCLUDED.record";
    pub const COUNT_EXECUTIONS: &str = "INSERT INTO execution_counts (machine, status, count) \
        VALUES ($1, $2, GREATEST($3::bigint, 0)) ON CONFLICT (machine, status) \
        DO UPDATE SET count = GREATEST(execution_counts.count + $3::bigint, 0)";
    pub const APPEND_EVENTS: &str = "INSERT INTO events (execution, first_id, events) \
        VALUES ($1, $2, $3) ON CONFLICT (execution, first_id) DO UPDATE SET events = EXCLUDED.events";
    pub const PUT_TIMER: &str = "INSERT INTO timers (execution, timer_key, due_ms, record) \
        VALUES ($1, $2, $3, $4) ON CONFLICT (execution, timer_key, due_ms) \
        DO UPDATE SET record = EXCLUDED.record";
    pub const DELETE_TIMER: &str =
        "DELETE FROM timers WHERE execution = $1 AND timer_key = $2 AND due_ms = $3";
    pub const PUT_ACTIVITY: &str = "INSERT INTO activities (name, record) VALUES ($1, $2) \
        ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record";
    pub const DELETE_ACTIVITY: &str = "DELETE FROM activities WHERE name = $1";
    pub const PUT_EXPRESS_START: &str = "INSERT INTO express_starts (arn, record) VALUES ($1, $2) \
        ON CONFLICT (arn) DO UPDATE SET record = EXCLUDED.record";
    pub const DELETE_EXPRESS_START: &str = "DELETE FROM express_starts WHERE arn = $1";
    pub const PUT_USAGE: &str = "INSERT INTO usage (machine, hour, partition, record) \
        VALUES ($1, $2, $3, $4) ON CONFLICT (machine, hour, partition) \
        DO UPDATE SET record = EXCLUDED.record";
    pub const PUT_TAGS: &str = "INSERT INTO tags (arn, tags) VALUES ($1, $2) \
        ON CONFLICT (arn) DO UPDATE SET tags = EXCLUDED.tags";
    pub const DELETE_TAGS: &str = "DELETE FROM tags WHERE arn = $1";
    pub const PROPOSE_PARTITIONS: &str = "INSERT INTO stepwise_meta (key, value) \
        VALUES ('partitions', $1) ON CONFLICT (key) DO NOTHING";

    pub const MACHINE: &str = "SELECT name, record FROM machines WHERE name = $1";
    pub const MACHINES: &str = "SELECT name, record FROM machines ORDER BY name";
    pub const REVISION: &str = "SELECT record FROM revisions WHERE machine = $1 AND revision = $2";
    pub const EXECUTION: &str = "SELECT arn, record FROM executions WHERE arn = $1";
    pub const RUNNING: &str = "SELECT arn, record FROM executions WHERE status = 'RUNNING'";
    pub const PAGE: &str = "SELECT arn, record, start_ms, name FROM executions \
        WHERE machine = $1 ORDER BY start_ms DESC, name DESC LIMIT $2";
    pub const PAGE_AFTER: &str = "SELECT arn, record, start_ms, name FROM executions \
        WHERE machine = $1 AND (start_ms, name) < ($3, $4) \
        ORDER BY start_ms DESC, name DESC LIMIT $2";
    pub const STATUS_PAGE: &str = "SELECT arn, record, start_ms, name FROM executions \
        WHERE machine = $1 AND status = $3 ORDER BY start_ms DESC, name DESC LIMIT $2";
    pub const STATUS_PAGE_AFTER: &str = "SELECT arn, record, start_ms, name FROM executions \
        WHERE machine = $1 AND status = $5 AND (start_ms, name) < ($3, $4) \
        ORDER BY start_ms DESC, name DESC LIMIT $2";
    pub const COUNTS: &str = "SELECT machine, status, count FROM execution_counts WHERE count > 0";
    pub const EVENTS: &str =
        "SELECT first_id, events FROM events WHERE execution = $1 ORDER BY first_id";
    pub const FIRST_EVENTS: &str =
        "SELECT first_id, events FROM events WHERE execution = $1 ORDER BY first_id LIMIT 1";
    pub const TIMERS: &str = "SELECT execution, timer_key, due_ms, record FROM timers \
        ORDER BY due_ms, execution, timer_key";
    pub const ACTIVITY: &str = "SELECT name, record FROM activities WHERE name = $1";
    pub const ACTIVITIES: &str = "SELECT name, record FROM activities ORDER BY name";
    pub const EXPRESS_STARTS: &str = "SELECT arn, record FROM express_starts ORDER BY arn";
    pub const USAGE: &str = "SELECT machine || '|' || hour || '|' || partition, record FROM usage \
        ORDER BY machine, hour, partition";
    pub const TAGS: &str = "SELECT arn, tags FROM tags WHERE arn = $1";
    pub const PARTITIONS: &str = "SELECT value FROM stepwise_meta WHERE key = 'partitions'";

    /// Every statement above.
    pub const ALL: &[&str] = &[
        PUT_MACHINE,
        PUT_REVISION,
        DELETE_MACHINE,
        PUT_EXECUTION,
        COUNT_EXECUTIONS,
        APPEND_EVENTS,
        PUT_TIMER,
        DELETE_TIMER,
        PUT_ACTIVITY,
        DELETE_ACTIVITY,
        PUT_EXPRESS_START,
        DELETE_EXPRESS_START,
        PUT_USAGE,
        PUT_TAGS,
        DELETE_TAGS,
        PROPOSE_PARTITIONS,
        MACHINE,
        MACHINES,
        REVISION,
        EXECUTION,
        RUNNING,
        PAGE,
        PAGE_AFTER,
        STATUS_PAGE,
        STATUS_PAGE_AFTER,
        COUNTS,
        EVENTS,
        FIRST_EVENTS,
        TIMERS,
        ACTIVITY,
        ACTIVITIES,
        EXPRESS_STARTS,
        USAGE,
        TAGS,
        PARTITIONS,
    ];
}

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
    /// Set once a write failed: memory may then hold what the database does not.
    failed: AtomicBool,
    /// The server and database, for messages (never the password).
    place: String,
}

/// Runs `future` on `runtime` and waits for its output on this thread.
fn wait_on<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    future: impl Future<Output = T> + Send + 'static,
) -> Option<T> {
    let (answer, answered) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = answer.send(future.await);
    });
    answered.recv().ok()
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

/// Why a reachable database was not opened.
enum Refused {
    /// Its schema is newer than this server's.
    Newer(String),
    /// Another server holds it.
    InUse,
}

/// How long opening waits for a server lock that may be on its way out: a server that
/// just stopped in this process, or was killed, leaves its connection to close a moment
/// later.
const SERVER_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Takes the server lock on the writer connection, waiting out a lock on its way out;
/// false if another server keeps it.
async fn hold_server_lock(connection: &Connection) -> Result<bool, tokio_postgres::Error> {
    let deadline = tokio::time::Instant::now() + SERVER_LOCK_WAIT;
    loop {
        let held: bool = connection
            .client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&schema::SERVER_LOCK])
            .await?
            .get(0);
        if held {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

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
        let opened = wait_on(&runtime, async move {
            let mut writer = open_connection(config.clone()).await?;
            if let Err(newer) = migrate(&mut writer).await? {
                return Ok(Err(Refused::Newer(newer)));
            }
            if !hold_server_lock(&writer).await? {
                return Ok(Err(Refused::InUse));
            }
            prepare_all(&mut writer).await?;
            let mut readers = Vec::with_capacity(READERS);
            for _ in 0..READERS {
                let mut reader = open_connection(config.clone()).await?;
                prepare_all(&mut reader).await?;
                readers.push(Arc::new(reader));
            }
            Ok(Ok((writer, readers)))
        })
        .ok_or_else(|| StoreError::Io("the PostgreSQL client stopped".into()))?;
        let (writer, readers) = match opened.map_err(unreachable)? {
            Ok(connections) => connections,
            Err(Refused::Newer(newer)) => {
                return Err(StoreError::Corrupt {
                    path: place,
                    reason: newer,
                });
            }
            Err(Refused::InUse) => return Err(StoreError::DatabaseInUse { place }),
        };
        tracing::info!(database = %place, "PostgreSQL store open");
        Ok(PgStore {
            runtime,
            writer: Arc::new(tokio::sync::Mutex::new(writer)),
            readers,
            next_reader: AtomicUsize::new(0),
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

    /// Runs statements as one transaction on the writer connection, pipelined.
    fn transact(&self, statements: Vec<(&'static str, Params)>) -> Result<(), StoreError> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(StoreError::Failed(format!(
                "an earlier write to PostgreSQL at {} failed",
                self.place
            )));
        }
        let writer = Arc::clone(&self.writer);
        let done = wait_on(self.runtime(), async move {
            let writer = writer.lock().await;
            let refs: Vec<Vec<&(dyn ToSql + Sync)>> = statements
                .iter()
                .map(|(_, params)| params.iter().map(|p| &**p as _).collect())
                .collect();
            let client = &writer.client;
            // BEGIN, the statements and COMMIT go out together and come back together:
            // one round trip and the commit's fsync per group. A statement that fails
            // aborts the transaction, and the COMMIT behind it then rolls it back, so
            // the connection is idle again whatever happened; every answer is awaited
            // (none dropped half-read) and the first error reported.
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
        })
        .ok_or_else(|| StoreError::Io("the PostgreSQL client stopped".into()))?;
        done.map_err(|e| {
            self.failed.store(true, Ordering::Relaxed);
            StoreError::Io(format!("PostgreSQL at {}: {}", self.place, explained(&e)))
        })
    }
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
    let bad = || StoreError::Decode {
        key: "listing cursor".into(),
        reason: "it was not made by this store".into(),
    };
    let (start, name) = bytes.split_at_checked(8).ok_or_else(bad)?;
    let start_ms = i64::from_be_bytes(start.try_into().map_err(|_| bad())?);
    let name = String::from_utf8(name.to_vec()).map_err(|_| bad())?;
    Ok((start_ms, name))
}

fn boxed<T: ToSql + Sync + Send + 'static>(value: T) -> Box<dyn ToSql + Sync + Send> {
    Box::new(value)
}

/// The statements of a group of batches, in order, then the changes to the counts.
fn statements_of(batches: &[&Batch]) -> Vec<(&'static str, Params)> {
    let mut statements: Vec<(&'static str, Params)> = Vec::new();
    let mut counts: HashMap<(String, Status), i64> = HashMap::new();
    for write in batches.iter().flat_map(|batch| &batch.writes) {
        let statement: (&'static str, Params) = match write {
            Write::PutMachine(record) => (
                sql::PUT_MACHINE,
                vec![boxed(record.name.clone()), boxed(encode(record))],
            ),
            Write::PutRevision {
                machine,
                revision,
                definition,
                stored_ms,
            } => (
                sql::PUT_REVISION,
                vec![
                    boxed(machine.clone()),
                    boxed(i64::from(*revision)),
                    boxed(encode(&StoredRevision::Dated {
                        definition: definition.clone(),
                        stored_ms: *stored_ms,
                    })),
                ],
            ),
            Write::DeleteMachine(name) => (sql::DELETE_MACHINE, vec![boxed(name.clone())]),
            Write::PutExecution(record) => (
                sql::PUT_EXECUTION,
                vec![
                    boxed(record.arn.clone()),
                    boxed(record.machine_name.clone()),
                    boxed(record.name.clone()),
                    boxed(record.status.as_str().to_string()),
                    boxed(record.start_ms),
                    boxed(encode(record)),
                ],
            ),
            Write::IndexExecution { entry, from } => {
                // The listing reads the execution rows themselves; only the counts change.
                if *from != Some(entry.status) {
                    if let Some(from) = from {
                        *counts.entry((entry.machine.clone(), *from)).or_default() -= 1;
                    }
                    *counts
                        .entry((entry.machine.clone(), entry.status))
                        .or_default() += 1;
                }
                continue;
            }
            Write::AppendEvents { execution, events } => {
                let Some(first) = events.first() else {
                    continue;
                };
                (
                    sql::APPEND_EVENTS,
                    vec![
                        boxed(execution.clone()),
                        boxed(first.id as i64),
                        boxed(encode(events)),
                    ],
                )
            }
            Write::PutTimer(timer) => (
                sql::PUT_TIMER,
                vec![
                    boxed(timer.execution.clone()),
                    boxed(timer_key(timer)),
                    boxed(timer.due_ms),
                    boxed(encode(timer)),
                ],
            ),
            Write::DeleteTimer(timer) => (
                sql::DELETE_TIMER,
                vec![
                    boxed(timer.execution.clone()),
                    boxed(timer_key(timer)),
                    boxed(timer.due_ms),
                ],
            ),
            Write::PutActivity(record) => (
                sql::PUT_ACTIVITY,
                vec![boxed(record.name.clone()), boxed(encode(record))],
            ),
            Write::DeleteActivity(name) => (sql::DELETE_ACTIVITY, vec![boxed(name.clone())]),
            Write::PutExpressStart(start) => (
                sql::PUT_EXPRESS_START,
                vec![boxed(start.arn.clone()), boxed(encode(start))],
            ),
            Write::DeleteExpressStart(arn) => (sql::DELETE_EXPRESS_START, vec![boxed(arn.clone())]),
            Write::PutUsage(record) => (
                sql::PUT_USAGE,
                vec![
                    boxed(record.machine.clone()),
                    boxed(record.hour),
                    boxed(i32::from(record.partition)),
                    boxed(encode(record)),
                ],
            ),
            Write::PutTags { arn, tags } if tags.is_empty() => {
                (sql::DELETE_TAGS, vec![boxed(arn.clone())])
            }
            Write::PutTags { arn, tags } => {
                (sql::PUT_TAGS, vec![boxed(arn.clone()), boxed(encode(tags))])
            }
        };
        statements.push(statement);
    }
    let mut changes: Vec<_> = counts
        .into_iter()
        .filter(|(_, change)| *change != 0)
        .collect();
    // One order for every group, so two transactions never wait on each other's counters.
    changes.sort_by(|a, b| (&a.0.0, a.0.1.as_str()).cmp(&(&b.0.0, b.0.1.as_str())));
    for ((machine, status), change) in changes {
        statements.push((
            sql::COUNT_EXECUTIONS,
            vec![
                boxed(machine),
                boxed(status.as_str().to_string()),
                boxed(change),
            ],
        ));
    }
    statements
}

/// A timer's identity within its execution (its key as JSON).
fn timer_key(timer: &TimerRecord) -> String {
    serde_json::to_string(&timer.key).expect("timer keys serialize")
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
        let statements = statements_of(batches);
        if statements.is_empty() {
            return Ok(());
        }
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
        Ok(Some(match stored {
            StoredRevision::Dated {
                definition,
                stored_ms,
            } => RevisionRecord {
                definition,
                stored_ms: Some(stored_ms),
            },
            StoredRevision::Undated(definition) => RevisionRecord {
                definition,
                stored_ms: None,
            },
        }))
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
}

#[cfg(test)]
mod tests;
