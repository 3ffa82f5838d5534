//! The sled implementation: one tree, keys prefixed by record kind, so that a batch
//! touching several kinds is still one atomic sled batch.
//!
//! Keys: `m|name` machine, `r|name|rev` revision, `x|arn` execution (a Standard
//! execution's ARN is its machine and name, so it is also the name index; stores written
//! before that also hold `n|machine|name`, no longer read), `e|arn|id` event (id big-endian, so events iterate in order),
//! `t|due|arn|key` timer (due big-endian with the sign bit flipped, so timers iterate by
//! due time), `a|name` activity, `i|id` API key, `u|machine|hour|partition` usage (stores written before
//! partitions have `u|machine|hour`, moved to partition 0 on open). `|` is a 0 byte;
//! names and ARNs never contain one. `\0format` and `\0partitions` describe the store.
//!
//! Indexes (kept by `Write::IndexExecution`, built once for a store written before
//! them, marked by `\0indexes`): `k|machine|STATUS|order` a machine's executions of one
//! status, newest first (`order`: the start time inverted, then the name's bytes
//! inverted and 0xFF, so ties list names descending; the whole listing merges the five
//! statuses by order); `c|machine|STATUS` each status's count (the machines with running
//! executions, whose RUNNING index recovery reads).

use std::path::Path;

use serde::de::DeserializeOwned;

use std::collections::HashMap;

use super::codec::{StoredRevision, decode, encode, step_events};
use super::{
    ActivityRecord, Batch, Damaged, ExecutionCounts, ExecutionPage, ExecutionRecord, ExpressStart,
    IndexEntry, KeyRecord, MachineRecord, RevisionRecord, Scanned, Store, StoreError, TimerRecord,
    UsageRecord, Write,
};
use crate::engine::{Event, Status};

const SEP: u8 = 0;
/// The key of the format marker (sorts before every record kind).
const FORMAT_KEY: &[u8] = b"\0format";
/// The layout this code reads and writes.
const FORMAT: &str = "stepwise-sled-1";
/// The key of the partition count, recorded when the directory is first opened.
const PARTITIONS_KEY: &[u8] = b"\0partitions";
/// The key marking that the execution indexes are complete.
const INDEXES_KEY: &[u8] = b"\0indexes";
/// Execution index entries per batch while building the indexes of an older store.
const INDEX_BUILD_BATCH: usize = 10_000;

/// The embedded store.
pub struct SledStore {
    db: sled::Db,
    /// Set once a write or flush failed.
    failed: std::sync::atomic::AtomicBool,
    /// The counts by state machine and status, as stored; locked across each write so
    /// the stored counters and this copy change together.
    counts: std::sync::Mutex<Counts>,
}

/// Executions by (state machine, status).
type Counts = HashMap<(String, Status), u64>;

/// Changes to the counts that a batch makes.
type CountChanges = HashMap<(String, Status), i64>;

/// `counts` with `changes` applied: the counters to store, and the new counts.
fn applied(counts: &Counts, changes: &CountChanges) -> Vec<((String, Status), u64)> {
    (changes.iter())
        .filter(|(_, change)| **change != 0)
        .map(|(key, change)| {
            let now = counts.get(key).copied().unwrap_or_default();
            (key.clone(), now.saturating_add_signed(*change))
        })
        .collect()
}

/// sled flushes its log when the last handle drops, and after an I/O error that flush
/// blocks for ever (seen with ENOSPC: the server never exited after SIGTERM). A store
/// whose disk failed is therefore abandoned, not dropped: nothing more could be made
/// durable anyway, and the process is on its way out (a restart recovers the last
/// durable state).
impl Drop for SledStore {
    fn drop(&mut self) {
        if self.failed.load(std::sync::atomic::Ordering::Relaxed) {
            // A handle that is never dropped keeps sled's last drop (and its flush) from
            // ever running.
            std::mem::forget(self.db.clone());
        }
    }
}

/// sled's own default page cache: 1 GiB.
pub const DEFAULT_CACHE_BYTES: u64 = 1024 * 1024 * 1024;

impl SledStore {
    /// Opens (or creates) the store in `dir` with the default page cache.
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        Self::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the store in `dir`, caching at most `cache_bytes` of pages in
    /// memory (the bulk of the server's memory once the data outgrows it).
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<SledStore, StoreError> {
        let path = dir.display().to_string();
        let existed = std::fs::metadata(dir.join("db")).is_ok_and(|m| m.len() > 0);
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Io(format!("cannot create {path}: {e}")))?;
        keep_private(dir);
        // sled releases its file lock when the last reference to the database is
        // reclaimed, which can trail the drop by a moment; a store reopened in the same
        // process (a graceful restart) waits that moment out. Another server holding the
        // directory keeps it locked past the wait and gets a clear error.
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        let db = loop {
            match open_db(dir, &path, cache_bytes) {
                Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other?,
            }
        };
        // sled recovers from a damaged log by dropping what it cannot read, which would
        // look like an empty store. A marker written at creation tells "new" from "lost".
        match db.get(FORMAT_KEY).map_err(io)? {
            Some(format) if format.as_ref() == FORMAT.as_bytes() => {}
            Some(other) => {
                return Err(StoreError::Corrupt {
                    path,
                    reason: format!("unknown store format '{}'", String::from_utf8_lossy(&other)),
                });
            }
            None if existed => {
                return Err(StoreError::Corrupt {
                    path,
                    reason: "its data has no Stepwise format marker (damaged, or not written by Stepwise); \
                             nothing was changed"
                        .into(),
                });
            }
            None => {
                db.insert(FORMAT_KEY, FORMAT.as_bytes()).map_err(io)?;
                db.flush().map_err(io)?;
            }
        }
        move_usage_to_partitions(&db)?;
        build_indexes(&db)?;
        let counts = read_counts(&db)?;
        Ok(SledStore {
            db,
            failed: std::sync::atomic::AtomicBool::new(false),
            counts: std::sync::Mutex::new(counts),
        })
    }

    /// Passes a write's or flush's result through, remembering a failure.
    fn noting_failure<T>(&self, result: sled::Result<T>) -> Result<T, StoreError> {
        result.map_err(|e| {
            self.failed
                .store(true, std::sync::atomic::Ordering::Relaxed);
            io(e)
        })
    }
}

/// Usage records of a store written before partitions (`u|machine|hour`) become
/// partition 0's, in one atomic batch: their counts are then summed with the other
/// partitions' like any other record's, never counted twice.
fn move_usage_to_partitions(db: &sled::Db) -> Result<(), StoreError> {
    let mut moves = sled::Batch::default();
    let mut moved = 0usize;
    for entry in db.scan_prefix(prefix(&[b"u"])) {
        let (old_key, value) = entry.map_err(io)?;
        // A record that does not decode stays where it is, reported by every scan.
        let Ok(record) = decode::<UsageRecord>(&old_key, &value) else {
            continue;
        };
        let new_key = usage_key(&record);
        if new_key != old_key.as_ref() {
            moves.remove(old_key);
            moves.insert(new_key, encode(&record));
            moved += 1;
        }
    }
    if moved > 0 {
        db.apply_batch(moves).map_err(io)?;
        db.flush().map_err(io)?;
        tracing::info!(
            records = moved,
            "usage records of a store written before partitions now belong to partition 0"
        );
    }
    Ok(())
}

/// Indexes every execution of a store written before the indexes, once (a crash part
/// way leaves no marker, and the next start builds them again from the records).
fn build_indexes(db: &sled::Db) -> Result<(), StoreError> {
    if db.get(INDEXES_KEY).map_err(io)?.is_some() {
        return Ok(());
    }
    let mut changes = CountChanges::new();
    let mut batch = sled::Batch::default();
    let (mut indexed, mut unreadable) = (0usize, 0usize);
    for entry in db.scan_prefix(prefix(&[b"x"])) {
        let (key, value) = entry.map_err(io)?;
        let Ok(record) = decode::<ExecutionRecord>(&key, &value) else {
            unreadable += 1;
            continue;
        };
        index_writes(&mut batch, &IndexEntry::of(&record), None, &mut changes);
        indexed += 1;
        if indexed % INDEX_BUILD_BATCH == 0 {
            db.apply_batch(std::mem::take(&mut batch)).map_err(io)?;
        }
    }
    for ((machine, status), count) in applied(&Counts::new(), &changes) {
        batch.insert(count_key(&machine, status), encode(&count));
    }
    batch.insert(INDEXES_KEY, &b"1"[..]);
    db.apply_batch(batch).map_err(io)?;
    db.flush().map_err(io)?;
    if indexed > 0 {
        tracing::info!(
            executions = indexed,
            "indexed the executions of a store written before execution indexes (once)"
        );
    }
    if unreadable > 0 {
        // Not indexed, so neither listed nor recovered: say so loudly, once.
        tracing::error!(
            records = unreadable,
            "execution records that cannot be read were left out of the indexes; they stay in the store untouched"
        );
    }
    Ok(())
}

/// A listing's next entry, if it is still within `listing`.
fn next_listed(
    entries: &mut sled::Iter,
    listing: &[u8],
) -> Result<Option<(sled::IVec, sled::IVec)>, StoreError> {
    match entries.next() {
        Some(entry) => {
            let (key, value) = entry.map_err(io)?;
            Ok(key.starts_with(listing).then_some((key, value)))
        }
        None => Ok(None),
    }
}

/// Makes the data directory readable by its owner alone: it holds the secrets of
/// signing keys and every payload. A directory this user does not own stays as it is,
/// with a warning.
fn keep_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(metadata) = std::fs::metadata(dir) else {
        return;
    };
    if metadata.permissions().mode() & 0o077 == 0 {
        return;
    }
    if let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
        tracing::warn!(dir = %dir.display(), error = %e, "the data directory can be read by other users, and could not be made private");
    }
}

/// A listing source's current entry's order (its key after the listing's prefix).
fn order_of(source: &(Vec<u8>, sled::Iter, Option<(sled::IVec, sled::IVec)>)) -> &[u8] {
    let (listing, _, head) = source;
    head.as_ref()
        .map_or(&[][..], |(key, _)| &key[listing.len()..])
}

/// The stored counts by state machine and status.
fn read_counts(db: &sled::Db) -> Result<Counts, StoreError> {
    let mut counts = Counts::new();
    let start = prefix(&[b"c"]);
    for entry in db.scan_prefix(&start) {
        let (key, value) = entry.map_err(io)?;
        let rest = &key[start.len()..];
        let Some(split) = rest.iter().rposition(|b| *b == SEP) else {
            continue;
        };
        let machine = String::from_utf8_lossy(&rest[..split]).into_owned();
        let status = Status::ALL
            .into_iter()
            .find(|s| s.as_str().as_bytes() == &rest[split + 1..]);
        if let (Some(status), Ok(count)) = (status, decode::<u64>(&key, &value)) {
            counts.insert((machine, status), count);
        }
    }
    Ok(counts)
}

fn count_key(machine: &str, status: Status) -> Vec<u8> {
    key(&[b"c", machine.as_bytes(), status.as_str().as_bytes()])
}

/// An execution's place in its machine's listing: newest first, then names descending
/// (as the listing was sorted before it had an index).
fn listing_order(start_ms: i64, name: &str) -> Vec<u8> {
    let mut order = (!u64::from_be_bytes(ordered_ms(start_ms)))
        .to_be_bytes()
        .to_vec();
    // Names are UTF-8 without NUL, so no inverted byte is 0xFF: the terminator sorts a
    // name after every longer name it begins.
    order.extend(name.bytes().map(|b| !b));
    order.push(0xFF);
    order
}

/// The index writes of an execution starting (`from: None`) or changing status; `changes`
/// collects the changes to the counters.
fn index_writes(
    batch: &mut sled::Batch,
    entry: &IndexEntry,
    from: Option<Status>,
    changes: &mut CountChanges,
) {
    let machine = entry.machine.as_bytes();
    let order = listing_order(entry.start_ms, &entry.name);
    let arn = encode(&entry.arn);
    let mut count = |status: Status, change: i64| {
        *changes.entry((entry.machine.clone(), status)).or_default() += change;
    };
    match from {
        None => {}
        Some(from) if from == entry.status => return,
        Some(from) => {
            batch.remove(key(&[b"k", machine, from.as_str().as_bytes(), &order]));
            count(from, -1);
        }
    }
    batch.insert(
        key(&[b"k", machine, entry.status.as_str().as_bytes(), &order]),
        arn,
    );
    count(entry.status, 1);
}

fn usage_key(record: &UsageRecord) -> Vec<u8> {
    key(&[
        b"u",
        record.machine.as_bytes(),
        &ordered_ms(record.hour),
        &record.partition.to_be_bytes(),
    ])
}

/// How long opening waits for a lock that may be on its way out.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn open_db(dir: &Path, path: &str, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    sled::Config::new()
        .path(dir)
        .cache_capacity(cache_bytes)
        // The runtime flushes after every group of batches; a timer-driven flush on top
        // would only add fsyncs.
        .flush_every_ms(None)
        .open()
        .map_err(|e| match e {
            // sled takes an exclusive file lock; a second opener gets WouldBlock, which
            // sled wraps in a message of its own.
            sled::Error::Io(io)
                if io.kind() == std::io::ErrorKind::WouldBlock
                    || io.to_string().contains("could not acquire lock") =>
            {
                StoreError::Locked {
                    path: path.to_string(),
                }
            }
            sled::Error::Io(io) => StoreError::Io(format!("cannot open {path}: {io}")),
            sled::Error::Corruption { .. }
            | sled::Error::Unsupported(_)
            | sled::Error::ReportableBug(_) => StoreError::Corrupt {
                path: path.to_string(),
                reason: e.to_string(),
            },
            other => StoreError::Io(other.to_string()),
        })
}

fn key(parts: &[&[u8]]) -> Vec<u8> {
    let mut key = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            key.push(SEP);
        }
        key.extend_from_slice(part);
    }
    key
}

fn prefix(parts: &[&[u8]]) -> Vec<u8> {
    let mut p = key(parts);
    p.push(SEP);
    p
}

/// Orders signed milliseconds correctly as bytes.
fn ordered_ms(ms: i64) -> [u8; 8] {
    ((ms as u64) ^ (1 << 63)).to_be_bytes()
}

fn timer_key(timer: &TimerRecord) -> Vec<u8> {
    let timer_id = serde_json::to_vec(&timer.key).expect("timer keys serialize");
    key(&[
        b"t",
        &ordered_ms(timer.due_ms),
        timer.execution.as_bytes(),
        &timer_id,
    ])
}

fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

impl SledStore {
    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        match self.db.get(key).map_err(io)? {
            Some(bytes) => decode(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn scan<T: DeserializeOwned>(&self, prefix: &[u8]) -> Result<Scanned<T>, StoreError> {
        let mut scanned = Scanned {
            records: Vec::new(),
            damaged: Vec::new(),
        };
        for entry in self.db.scan_prefix(prefix) {
            let (k, v) = entry.map_err(io)?;
            match decode(&k, &v) {
                Ok(record) => scanned.records.push(record),
                Err(StoreError::Decode { key, reason }) => {
                    scanned.damaged.push(Damaged { key, reason })
                }
                Err(other) => return Err(other),
            }
        }
        Ok(scanned)
    }
}

impl SledStore {
    /// Reads the record an index entry points to into `scanned` (an entry whose record
    /// is gone is skipped: nothing writes one, but an index must not invent executions).
    fn read_listed(
        &self,
        arn: &str,
        scanned: &mut Scanned<ExecutionRecord>,
    ) -> Result<(), StoreError> {
        match self.get(&key(&[b"x", arn.as_bytes()])) {
            Ok(Some(record)) => scanned.records.push(record),
            Ok(None) => {}
            Err(StoreError::Decode { key, reason }) => {
                scanned.damaged.push(Damaged { key, reason })
            }
            Err(other) => return Err(other),
        }
        Ok(())
    }
}

#[cfg(test)]
impl SledStore {
    /// Overwrites an execution's record (`record`) or every key of its history with
    /// bytes that do not decode, as a damaged disk would, for tests of what survives.
    pub(crate) fn damage_execution(&self, arn: &str, record: bool) {
        let keys: Vec<sled::IVec> = if record {
            vec![key(&[b"x", arn.as_bytes()]).into()]
        } else {
            self.db
                .scan_prefix(prefix(&[b"e", arn.as_bytes()]))
                .keys()
                .map(|k| k.unwrap())
                .collect()
        };
        for k in keys {
            self.db.insert(k, &b"{\"damaged"[..]).unwrap();
        }
        self.db.flush().unwrap();
    }
}

impl Store for SledStore {
    fn write(&self, batches: &[&Batch]) -> Result<(), StoreError> {
        // One sled batch for the whole group: sled seals and writes its log buffer at
        // the end of every `apply_batch`, so a batch per step cost a log write (and a
        // `sync_file_range`) per step, two per execution on a Pass chain.
        let mut sled_batch = sled::Batch::default();
        let mut counts = self.counts.lock().expect("counts lock");
        let mut changes = CountChanges::new();
        for write in batches.iter().flat_map(|batch| &batch.writes) {
            match write {
                Write::PutMachine(record) => {
                    sled_batch.insert(key(&[b"m", record.name.as_bytes()]), encode(record))
                }
                Write::PutRevision {
                    machine,
                    revision,
                    definition,
                    stored_ms,
                } => sled_batch.insert(
                    key(&[b"r", machine.as_bytes(), &revision.to_be_bytes()]),
                    encode(&StoredRevision::Dated {
                        definition: definition.clone(),
                        stored_ms: *stored_ms,
                    }),
                ),
                Write::DeleteMachine(name) => sled_batch.remove(key(&[b"m", name.as_bytes()])),
                Write::PutExecution(record) => {
                    sled_batch.insert(key(&[b"x", record.arn.as_bytes()]), encode(record))
                }
                Write::IndexExecution { entry, from } => {
                    index_writes(&mut sled_batch, entry, *from, &mut changes)
                }
                // A step's events go under one key (its first event's id): sled copies a
                // tree node on every insert, and one insert per event was a fifth of the
                // server's CPU on a Pass chain (docs/PERFORMANCE.md).
                Write::AppendEvents { execution, events } => {
                    if let Some(first) = events.first() {
                        sled_batch.insert(
                            key(&[b"e", execution.as_bytes(), &first.id.to_be_bytes()]),
                            encode(events),
                        );
                    }
                }
                Write::PutTimer(timer) => sled_batch.insert(timer_key(timer), encode(timer)),
                Write::DeleteTimer(timer) => sled_batch.remove(timer_key(timer)),
                Write::PutActivity(record) => {
                    sled_batch.insert(key(&[b"a", record.name.as_bytes()]), encode(record))
                }
                Write::DeleteActivity(name) => sled_batch.remove(key(&[b"a", name.as_bytes()])),
                Write::PutExpressStart(start) => {
                    sled_batch.insert(key(&[b"s", start.arn.as_bytes()]), encode(start))
                }
                Write::DeleteExpressStart(arn) => sled_batch.remove(key(&[b"s", arn.as_bytes()])),
                Write::PutTags { arn, tags } if tags.is_empty() => {
                    sled_batch.remove(key(&[b"g", arn.as_bytes()]))
                }
                Write::PutTags { arn, tags } => {
                    sled_batch.insert(key(&[b"g", arn.as_bytes()]), encode(tags))
                }
                Write::PutUsage(record) => sled_batch.insert(usage_key(record), encode(record)),
                Write::PutKey(record) => {
                    sled_batch.insert(key(&[b"i", record.id.as_bytes()]), encode(record))
                }
            }
        }
        let counters = applied(&counts, &changes);
        for ((machine, status), count) in &counters {
            sled_batch.insert(count_key(machine, *status), encode(count));
        }
        self.noting_failure(self.db.apply_batch(sled_batch))?;
        counts.extend(counters);
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.noting_failure(self.db.flush()).map(|_| ())
    }

    fn machine(&self, name: &str) -> Result<Option<MachineRecord>, StoreError> {
        self.get(&key(&[b"m", name.as_bytes()]))
    }

    fn machines(&self) -> Result<Scanned<MachineRecord>, StoreError> {
        self.scan(&prefix(&[b"m"]))
    }

    fn revision(&self, machine: &str, revision: u32) -> Result<Option<RevisionRecord>, StoreError> {
        let stored: Option<StoredRevision> =
            self.get(&key(&[b"r", machine.as_bytes(), &revision.to_be_bytes()]))?;
        Ok(stored.map(RevisionRecord::from))
    }

    fn execution(&self, arn: &str) -> Result<Option<ExecutionRecord>, StoreError> {
        self.get(&key(&[b"x", arn.as_bytes()]))
    }

    fn running_executions(&self) -> Result<Scanned<ExecutionRecord>, StoreError> {
        let mut scanned = Scanned {
            records: Vec::new(),
            damaged: Vec::new(),
        };
        // The counters name every machine with running executions (deleted ones too),
        // and each one's RUNNING index lists them: no closed execution is read. When
        // most executions are running anyway, one scan of the records beats a point
        // read per execution (100,000 waiting executions recovered a second faster).
        let (machines, running, total) = {
            let counts = self.counts.lock().expect("counts lock");
            let machines: Vec<String> = counts
                .iter()
                .filter(|((_, status), count)| *status == Status::Running && **count > 0)
                .map(|((machine, _), _)| machine.clone())
                .collect();
            let of = |running: bool| -> u64 {
                counts
                    .iter()
                    .filter(|((_, status), _)| !running || *status == Status::Running)
                    .map(|(_, count)| *count)
                    .sum()
            };
            (machines, of(true), of(false))
        };
        if running * 2 >= total {
            let all = self.scan::<ExecutionRecord>(&prefix(&[b"x"]))?;
            scanned.damaged = all.damaged;
            scanned.records = (all.records.into_iter())
                .filter(|record| record.status == Status::Running)
                .collect();
            return Ok(scanned);
        }
        for machine in machines {
            let listing = prefix(&[
                b"k",
                machine.as_bytes(),
                Status::Running.as_str().as_bytes(),
            ]);
            for entry in self.db.scan_prefix(&listing) {
                let (key, value) = entry.map_err(io)?;
                match decode::<String>(&key, &value) {
                    Ok(arn) => self.read_listed(&arn, &mut scanned)?,
                    Err(StoreError::Decode { key, reason }) => {
                        scanned.damaged.push(Damaged { key, reason })
                    }
                    Err(other) => return Err(other),
                }
            }
        }
        Ok(scanned)
    }

    fn machine_executions(
        &self,
        machine: &str,
        status: Option<Status>,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ExecutionPage, StoreError> {
        use std::ops::Bound;
        // Every execution is in exactly one status's index; the whole listing merges
        // them by order (one insert per execution fewer than an index of its own).
        let statuses = match status {
            Some(status) => vec![status],
            None => Status::ALL.to_vec(),
        };
        let mut sources = Vec::with_capacity(statuses.len());
        for status in statuses {
            let listing = prefix(&[b"k", machine.as_bytes(), status.as_str().as_bytes()]);
            let start = match after {
                Some(after) => Bound::Excluded([listing.as_slice(), after].concat()),
                None => Bound::Included(listing.clone()),
            };
            let mut entries = self.db.range::<Vec<u8>, _>((start, Bound::Unbounded));
            let head = next_listed(&mut entries, &listing)?;
            sources.push((listing, entries, head));
        }
        let mut page = ExecutionPage {
            records: Scanned {
                records: Vec::new(),
                damaged: Vec::new(),
            },
            next: None,
        };
        let mut last: Option<Vec<u8>> = None;
        let mut taken = 0usize;
        while let Some(source) = sources
            .iter_mut()
            .filter(|(_, _, head)| head.is_some())
            .min_by(|a, b| order_of(a).cmp(order_of(b)))
        {
            if taken == limit {
                page.next = last;
                break;
            }
            let (listing, entries, head) = source;
            let (key, value) = head.take().expect("a source with a head");
            match decode::<String>(&key, &value) {
                Ok(arn) => self.read_listed(&arn, &mut page.records)?,
                Err(StoreError::Decode { key, reason }) => {
                    page.records.damaged.push(Damaged { key, reason })
                }
                Err(other) => return Err(other),
            }
            last = Some(key[listing.len()..].to_vec());
            taken += 1;
            *head = next_listed(entries, listing)?;
        }
        Ok(page)
    }

    fn execution_counts(&self) -> Result<ExecutionCounts, StoreError> {
        let mut counts = ExecutionCounts::new();
        for ((machine, status), count) in self.counts.lock().expect("counts lock").iter() {
            if *count > 0 {
                counts
                    .entry(machine.clone())
                    .or_default()
                    .insert(*status, *count);
            }
        }
        Ok(counts)
    }

    fn events(&self, execution: &str) -> Result<Vec<Event>, StoreError> {
        let mut events = Vec::new();
        for entry in self.db.scan_prefix(prefix(&[b"e", execution.as_bytes()])) {
            let (k, v) = entry.map_err(io)?;
            events.extend(step_events(&k, &v)?);
        }
        Ok(events)
    }

    fn first_event(&self, execution: &str) -> Result<Option<Event>, StoreError> {
        match self
            .db
            .scan_prefix(prefix(&[b"e", execution.as_bytes()]))
            .next()
        {
            Some(entry) => {
                let (k, v) = entry.map_err(io)?;
                Ok(step_events(&k, &v)?.into_iter().next())
            }
            None => Ok(None),
        }
    }

    fn timers(&self) -> Result<Scanned<TimerRecord>, StoreError> {
        self.scan(&prefix(&[b"t"]))
    }

    fn activity(&self, name: &str) -> Result<Option<ActivityRecord>, StoreError> {
        self.get(&key(&[b"a", name.as_bytes()]))
    }

    fn activities(&self) -> Result<Scanned<ActivityRecord>, StoreError> {
        self.scan(&prefix(&[b"a"]))
    }

    fn keys(&self) -> Result<Scanned<KeyRecord>, StoreError> {
        self.scan(&prefix(&[b"i"]))
    }

    fn express_starts(&self) -> Result<Scanned<ExpressStart>, StoreError> {
        self.scan(&prefix(&[b"s"]))
    }

    fn usage(&self) -> Result<Scanned<UsageRecord>, StoreError> {
        self.scan(&prefix(&[b"u"]))
    }

    fn tags(&self, arn: &str) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self.get(&key(&[b"g", arn.as_bytes()]))?.unwrap_or_default())
    }

    fn partition_count(&self, proposed: u16) -> Result<u16, StoreError> {
        let damaged = |reason: String| StoreError::Decode {
            key: "\0partitions".replace('\0', "|"),
            reason,
        };
        match self.db.get(PARTITIONS_KEY).map_err(io)? {
            Some(bytes) => String::from_utf8_lossy(&bytes)
                .parse::<u16>()
                .ok()
                .filter(|count| *count > 0)
                .ok_or_else(|| {
                    damaged(format!(
                        "'{}' is not a partition count",
                        String::from_utf8_lossy(&bytes)
                    ))
                }),
            None => {
                let recorded = self
                    .db
                    .insert(PARTITIONS_KEY, proposed.to_string().as_bytes())
                    .and_then(|_| self.db.flush());
                self.noting_failure(recorded)?;
                Ok(proposed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{EventKind, Status};
    use serde_json::json;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("stepwise-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_data_directory_is_readable_by_its_owner_alone() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |dir: &Path| std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
        let new = temp_dir("private-new");
        drop(SledStore::open(&new).unwrap());
        assert_eq!(mode(&new), 0o700);
        let open = temp_dir("private-open");
        std::fs::create_dir_all(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        drop(SledStore::open(&open).unwrap());
        assert_eq!(mode(&open), 0o700, "an existing directory is made private");
        let _ = std::fs::remove_dir_all(&new);
        let _ = std::fs::remove_dir_all(&open);
    }

    fn event_ids(store: &SledStore, arn: &str) -> Vec<u64> {
        store.events(arn).unwrap().iter().map(|e| e.id).collect()
    }

    fn event(id: u64) -> Event {
        Event {
            id,
            previous_event_id: id - 1,
            timestamp_ms: 1,
            kind: EventKind::ExecutionSucceeded { output: json!(id) },
        }
    }

    #[test]
    fn events_of_one_step_share_a_key_and_older_one_event_keys_still_read() {
        let dir = temp_dir("step-keys");
        let store = SledStore::open(&dir).unwrap();
        // The layout before steps shared a key: one event per key.
        for id in 1..=2 {
            store
                .db
                .insert(
                    key(&[b"e", b"arn:x", &event(id).id.to_be_bytes()]),
                    encode(&event(id)),
                )
                .unwrap();
        }
        for step in [3..=5, 6..=6, 7..=10] {
            let mut batch = Batch::default();
            batch.push(Write::AppendEvents {
                execution: "arn:x".into(),
                events: step.map(event).collect(),
            });
            store.write(&[&batch]).unwrap();
        }
        let ids = event_ids(&store, "arn:x");
        assert_eq!(ids, (1..=10).collect::<Vec<_>>());
        assert_eq!(
            store.db.scan_prefix(prefix(&[b"e", b"arn:x"])).count(),
            2 + 3,
            "one key per old event, one per step"
        );
        assert!(store.events("arn:x2").unwrap().is_empty());
        assert_eq!(store.first_event("arn:x").unwrap().map(|e| e.id), Some(1));
        let mut batch = Batch::default();
        batch.push(Write::AppendEvents {
            execution: "arn:y".into(),
            events: (1..=3).map(event).collect(),
        });
        store.write(&[&batch]).unwrap();
        assert_eq!(store.first_event("arn:y").unwrap().map(|e| e.id), Some(1));
        assert_eq!(store.first_event("arn:none").unwrap(), None);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn meets_the_store_contract() {
        let dir = temp_dir("contract");
        let open =
            |name: &str| Box::new(SledStore::open(&dir.join(name)).unwrap()) as Box<dyn Store>;
        crate::store::conformance::all(&open);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn records_holding_payloads_nested_deeper_than_serde_json_reads_come_back() {
        // A payload at the nesting limit inside an event inside a step's array is deeper
        // than serde_json's default 128; what a template wraps around one deeper still.
        let dir = temp_dir("deep");
        let events = crate::store::conformance::deep_events();
        {
            let store = SledStore::open(&dir).unwrap();
            let mut batch = Batch::default();
            batch.push(Write::AppendEvents {
                execution: "arn:deep".into(),
                events: events.clone(),
            });
            store.write(&[&batch]).unwrap();
            store.flush().unwrap();
            assert_eq!(store.events("arn:deep").unwrap(), events);
        }
        // Read back after reopening, on a thread with the default 2 MiB stack.
        let reopened = dir.clone();
        let read = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || SledStore::open(&reopened).unwrap().events("arn:deep"))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(read.unwrap(), events);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_record_nested_past_anything_written_is_damaged_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let err = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || decode::<serde_json::Value>(b"x\0arn", deep.as_bytes()).unwrap_err())
            .unwrap()
            .join()
            .unwrap();
        assert!(
            matches!(&err, StoreError::Decode { key, reason } if key == "x|arn" && reason.contains("100000 levels")),
            "{err}"
        );
    }

    #[test]
    fn a_revision_written_before_revisions_had_a_time_still_reads() {
        // The rest of reading back after reopening is the store contract
        // (`meets_the_store_contract`); this layout is the embedded store's own history.
        let dir = temp_dir("undated");
        {
            let store = SledStore::open(&dir).unwrap();
            store
                .db
                .insert(
                    key(&[b"r", b"m", &2u32.to_be_bytes()]),
                    encode(&"{\"old\": true}"),
                )
                .unwrap();
            store.flush().unwrap();
        }
        let store = SledStore::open(&dir).unwrap();
        assert_eq!(
            store.revision("m", 2).unwrap(),
            Some(RevisionRecord {
                definition: "{\"old\": true}".into(),
                stored_ms: None
            })
        );
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_damaged_store_is_refused_not_silently_reset() {
        let dir = temp_dir("damaged");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("db"), vec![0x5au8; 4096]).unwrap();
        let err = SledStore::open(&dir).err().expect("refused");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(
            err.to_string().contains("no Stepwise format marker"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        // A fresh directory gets the marker and opens again.
        let fresh = temp_dir("fresh");
        drop(SledStore::open(&fresh).unwrap());
        assert!(SledStore::open(&fresh).is_ok());
        std::fs::remove_dir_all(&fresh).unwrap();
    }

    #[test]
    fn a_second_open_of_the_same_directory_is_refused_clearly() {
        let dir = temp_dir("locked");
        let _first = SledStore::open(&dir).unwrap();
        // sled locks the directory per process, so the second opener is a child process.
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "store::sled_store::tests::open_in_child",
                "--nocapture",
            ])
            .env("STEPWISE_TEST_LOCKED_DIR", &dir)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&status.stdout);
        assert!(
            out.contains("is in use by another Stepwise server"),
            "{out}"
        );
        drop(_first);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_store_written_before_partitions_is_read_and_keeps_its_usage() {
        let dir = temp_dir("before-partitions");
        let usage = |calls: u64| crate::billing::Usage {
            standard_transitions: calls,
            ..Default::default()
        };
        {
            // What an older server left: no partition count, usage at `u|machine|hour`.
            let store = SledStore::open(&dir).unwrap();
            let old = UsageRecord {
                machine: "M".into(),
                hour: 7,
                partition: 0,
                usage: usage(5),
            };
            let mut legacy = serde_json::to_value(&old).unwrap();
            legacy.as_object_mut().unwrap().remove("partition");
            store
                .db
                .insert(
                    key(&[b"u", b"M", &ordered_ms(7)]),
                    serde_json::to_vec(&legacy).unwrap(),
                )
                .unwrap();
            store.db.flush().unwrap();
        }
        let store = SledStore::open(&dir).unwrap();
        let records = store.usage().unwrap();
        assert!(records.damaged.is_empty());
        assert_eq!(records.records.len(), 1, "moved, not copied");
        assert_eq!(records.records[0].partition, 0);
        assert_eq!(records.records[0].usage, usage(5));
        // Another partition's count for the same hour is a record of its own.
        let mut batch = Batch::default();
        batch.push(Write::PutUsage(UsageRecord {
            machine: "M".into(),
            hour: 7,
            partition: 3,
            usage: usage(2),
        }));
        store.write(&[&batch]).unwrap();
        assert_eq!(store.usage().unwrap().records.len(), 2);

        // The partition count is recorded on first asking, then fixed.
        assert_eq!(store.partition_count(8).unwrap(), 8);
        assert_eq!(store.partition_count(64).unwrap(), 8);
        drop(store);
        let store = SledStore::open(&dir).unwrap();
        assert_eq!(store.partition_count(64).unwrap(), 8);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    use crate::store::conformance::{names, record};

    #[test]
    fn a_store_written_before_the_indexes_gets_them_on_open() {
        let dir = temp_dir("before-indexes");
        {
            let store = SledStore::open(&dir).unwrap();
            // What an older server left: records without index entries or counters.
            let mut batch = Batch::default();
            batch.push(Write::PutExecution(record("M", "old", 1, Status::Running)));
            batch.push(Write::PutExecution(record(
                "M",
                "done",
                2,
                Status::Succeeded,
            )));
            store.write(&[&batch]).unwrap();
            store.db.remove(INDEXES_KEY).unwrap();
            store.db.flush().unwrap();
        }
        let store = SledStore::open(&dir).unwrap();
        let all = store.machine_executions("M", None, None, 10).unwrap();
        assert_eq!(names(&all), ["done", "old"]);
        let running = store.running_executions().unwrap();
        assert_eq!(running.records.len(), 1);
        assert_eq!(running.records[0].name, "old");
        assert_eq!(
            store.execution_counts().unwrap()["M"][&Status::Succeeded],
            1
        );
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Helper for the test above; does nothing unless run as its child.
    #[test]
    fn open_in_child() {
        if let Ok(dir) = std::env::var("STEPWISE_TEST_LOCKED_DIR") {
            match SledStore::open(Path::new(&dir)) {
                Ok(_) => println!("opened"),
                Err(e) => println!("{e}"),
            }
        }
    }
}
