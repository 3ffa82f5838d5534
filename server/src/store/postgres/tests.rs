//! The PostgreSQL store against a real server: the suite's throwaway cluster, which
//! run-tests.sh starts (scripts/postgres.sh) and names in `STEPWISE_TEST_DATABASE_URL`.
//! Each test gets databases of its own, dropped when it ends.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::store::{Acquired, Announcement, Lease, Write};

/// The cluster's URL; without one these tests cannot run, and say how to get one.
pub(crate) fn cluster_url() -> String {
    std::env::var("STEPWISE_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "STEPWISE_TEST_DATABASE_URL is not set: run the suite with ./run-tests.sh, which \
             starts a throwaway PostgreSQL, or start one with `scripts/postgres.sh start DIR` \
             and export the URL it prints"
        )
    })
}

/// Runs SQL on the database at `url`, on a thread and runtime of its own (callers may be
/// inside a runtime already).
fn administer_on(url: &str, statement: String) {
    let url = url.to_string();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
                tokio::spawn(connection);
                client.batch_execute(&statement).await.unwrap();
            })
    })
    .join()
    .unwrap();
}

/// Runs one administrative statement on the cluster.
fn administer(statement: String) {
    administer_on(&cluster_url(), statement);
}

/// A database of the cluster for one test, dropped (with any session still on it) when
/// this is.
pub(crate) struct TestDatabase {
    name: String,
    /// Its URL.
    pub url: String,
}

impl TestDatabase {
    /// A new, empty database whose name starts with `label`.
    pub(crate) fn new(label: &str) -> TestDatabase {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "stepwise_{label}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        administer(format!("CREATE DATABASE \"{name}\""));
        let cluster = cluster_url();
        let (base, query) = cluster.split_once('?').unwrap_or((&cluster, ""));
        let base = base.rsplit_once('/').map_or(base, |(base, _)| base);
        let url = if query.is_empty() {
            format!("{base}/{name}")
        } else {
            format!("{base}/{name}?{query}")
        };
        TestDatabase { name, url }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        administer(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ));
    }
}

#[test]
fn meets_the_store_contract() {
    let databases = std::sync::Mutex::new(HashMap::<String, TestDatabase>::new());
    let open = |name: &str| {
        let url = databases
            .lock()
            .unwrap()
            .entry(name.to_string())
            .or_insert_with(|| TestDatabase::new(name))
            .url
            .clone();
        Box::new(PgStore::connect(&url).unwrap()) as Box<dyn Store>
    };
    crate::store::conformance::all(&open);
}

#[test]
fn a_schema_newer_than_the_server_is_refused_and_an_older_one_migrated() {
    let database = TestDatabase::new("schema");
    drop(PgStore::connect(&database.url).unwrap());
    // Opening again migrates nothing and keeps what is there.
    let store = PgStore::connect(&database.url).unwrap();
    assert_eq!(store.partition_count(7).unwrap(), 7);
    drop(store);
    let newer = schema::latest() + 1;
    administer_on(
        &database.url,
        format!("INSERT INTO stepwise_schema (version, applied_ms) VALUES ({newer}, 0)"),
    );
    let refused = PgStore::connect(&database.url).err().expect("refused");
    let message = refused.to_string();
    assert!(
        message.contains(&format!("schema is version {newer}"))
            && message.contains("run a Stepwise server at least as new"),
        "{message}"
    );
}

#[test]
fn an_unreachable_database_is_a_clear_error_without_the_password() {
    // A port nothing listens on (bound and released here).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = PgStore::connect(&format!("postgres://who:secret@127.0.0.1:{port}/db"))
        .err()
        .expect("refused");
    let message = err.to_string();
    assert!(
        message.contains(&format!("who@127.0.0.1:{port}/db")),
        "{message}"
    );
    assert!(!message.contains("secret"), "{message}");
    assert!(
        message.contains("refused"),
        "the reason is given: {message}"
    );
    let err = PgStore::connect("not a url").err().expect("refused");
    assert!(
        err.to_string().contains("database URL is not valid"),
        "{err}"
    );
}

fn node(id: &str) -> NodeInfo {
    NodeInfo {
        id: id.into(),
        grpc_addr: format!("{id}:1"),
        http_addr: format!("{id}:2"),
    }
}

fn lease(partition: u16, epoch: u64) -> Lease {
    Lease { partition, epoch }
}

const LEASE: std::time::Duration = std::time::Duration::from_secs(60);

#[test]
fn a_second_process_with_a_node_id_is_refused_until_the_first_is_gone() {
    let database = TestDatabase::new("nodeid");
    let first = PgStore::connect(&database.url).unwrap();
    first.join(&node("a"), 4, LEASE).unwrap();
    let second = PgStore::connect(&database.url).unwrap();
    let refused = second.join(&node("a"), 4, LEASE).unwrap_err();
    assert!(
        matches!(&refused, StoreError::NodeIdInUse { node, place } if node == "a" && place.ends_with(&database.name)),
        "{refused}"
    );
    assert!(
        refused
            .to_string()
            .contains("another Stepwise node with the id 'a'")
    );
    // Another id joins beside it.
    second.join(&node("b"), 4, LEASE).unwrap();
    drop(first);
    // Its connection closes a moment after: the next process with its id waits that out.
    let third = PgStore::connect(&database.url).unwrap();
    third.join(&node("a"), 4, LEASE).unwrap();
}

#[test]
fn the_cluster_secret_is_the_first_proposed_and_kept() {
    let database = TestDatabase::new("secret");
    let first = PgStore::connect(&database.url).unwrap();
    assert_eq!(first.cluster_secret("one").unwrap(), "one");
    let second = PgStore::connect(&database.url).unwrap();
    assert_eq!(second.cluster_secret("two").unwrap(), "one");
}

/// Makes a node's leases expire now, as if it had stopped renewing long ago.
fn expire(database: &TestDatabase, owner: &str) {
    administer_on(
        &database.url,
        format!(
            "UPDATE leases SET expires_at = now() - interval '1 second' WHERE owner = '{owner}'"
        ),
    );
}

#[test]
fn leases_are_taken_when_free_or_expired_and_a_restarted_node_takes_its_own_back() {
    let database = TestDatabase::new("leases");
    let a = PgStore::connect(&database.url).unwrap();
    assert!(a.join(&node("a"), 4, LEASE).unwrap().is_empty());
    let taken = a.acquire("a", 3, LEASE).unwrap();
    assert_eq!(
        taken,
        (0..3)
            .map(|partition| Acquired {
                lease: lease(partition, 1),
                from_expired: None,
            })
            .collect::<Vec<_>>()
    );
    let b = PgStore::connect(&database.url).unwrap();
    b.join(&node("b"), 4, LEASE).unwrap();
    // Only the free one: a's are unexpired.
    let taken = b.acquire("b", 4, LEASE).unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].lease, lease(3, 1));
    // a stops renewing: b takes its partitions over under new epochs, saying from whom.
    expire(&database, "a");
    let taken = b.acquire("b", 1, LEASE).unwrap();
    assert_eq!(taken[0].lease, lease(0, 2));
    assert_eq!(taken[0].from_expired.as_deref(), Some("a"));
    // a's renewal answers only what it still holds.
    let renewed = a.renew("a", LEASE).unwrap();
    assert_eq!(
        renewed.iter().map(|l| l.partition).collect::<Vec<_>>(),
        vec![1, 2]
    );
    // A released lease goes at once, and not as a dead node's.
    b.release("b", &[3]).unwrap();
    let c = PgStore::connect(&database.url).unwrap();
    c.join(&node("c"), 4, LEASE).unwrap();
    let taken = c.acquire("c", 4, LEASE).unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].lease, lease(3, 2));
    assert_eq!(taken[0].from_expired, None);
    // a dies and comes back under its id: its leases are its own again, under new epochs.
    drop(a);
    let a = PgStore::connect(&database.url).unwrap();
    let back = a.join(&node("a"), 4, LEASE).unwrap();
    assert_eq!(back, vec![lease(1, 2), lease(2, 2)]);
    let view = c.view().unwrap();
    assert_eq!(view.live_nodes(LEASE).count(), 3);
    assert_eq!(view.owner_of(3).map(|n| n.node.id.as_str()), Some("c"));
    assert_eq!(
        view.owner_of(0).map(|n| n.node.grpc_addr.as_str()),
        Some("b:1")
    );
    c.leave("c").unwrap();
    assert_eq!(c.view().unwrap().nodes.len(), 2);
}

#[test]
fn a_write_under_a_lost_lease_is_refused_whole_and_the_store_keeps_working() {
    let database = TestDatabase::new("fence");
    let a = PgStore::connect(&database.url).unwrap();
    a.join(&node("a"), 2, LEASE).unwrap();
    let held = a.acquire("a", 2, LEASE).unwrap();
    assert_eq!(held.len(), 2);
    let timer = |execution: &str| TimerRecord {
        due_ms: 5,
        execution: execution.into(),
        key: crate::engine::TimerKey::Execution,
    };
    let fenced = |partition: u16, epoch: u64, execution: &str| Batch {
        writes: vec![Write::PutTimer(timer(execution))],
        fence: Some(lease(partition, epoch)),
        ..Batch::default()
    };
    a.write(&[&fenced(0, 1, "arn:first"), &fenced(1, 1, "arn:other")])
        .unwrap();
    // b takes partition 0 over.
    expire(&database, "a");
    let b = PgStore::connect(&database.url).unwrap();
    b.join(&node("b"), 2, LEASE).unwrap();
    let taken = b.acquire("b", 1, LEASE).unwrap();
    assert_eq!(taken[0].lease, lease(0, 2));
    // a, paused through all that, writes under its old epoch: nothing of the group lands.
    let err = a
        .write(&[&fenced(0, 1, "arn:stale"), &fenced(1, 1, "arn:fine")])
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Fenced { partitions } if partitions == &vec![0]),
        "{err}"
    );
    let executions: Vec<String> = b
        .timers()
        .unwrap()
        .records
        .into_iter()
        .map(|t| t.execution)
        .collect();
    assert_eq!(executions, vec!["arn:first", "arn:other"]);
    // The store is not failed: a's partition 1 is still its own.
    a.write(&[&fenced(1, 1, "arn:fine")]).unwrap();
    a.flush().unwrap();
    // A fence without joining is refused without asking the database.
    let stranger = PgStore::connect(&database.url).unwrap();
    assert!(matches!(
        stranger.write(&[&fenced(1, 1, "arn:x")]),
        Err(StoreError::Fenced { .. })
    ));
    b.write(&[&fenced(0, 2, "arn:new-owner")]).unwrap();
    assert_eq!(b.timers().unwrap().records.len(), 4);
}

#[test]
fn a_group_that_fails_part_way_leaves_nothing_and_the_store_refuses_further_writes() {
    let database = TestDatabase::new("atomic");
    let store = PgStore::connect(&database.url).unwrap();
    let timer = TimerRecord {
        due_ms: 5,
        execution: "arn:x".into(),
        key: crate::engine::TimerKey::Execution,
    };
    let first = Batch {
        writes: vec![Write::PutTimer(timer.clone())],
        ..Batch::default()
    };
    // PostgreSQL's text holds no NUL: the second statement of the group fails.
    let second = Batch {
        writes: vec![Write::DeleteMachine("bad\0name".into())],
        ..Batch::default()
    };
    let err = store.write(&[&first, &second]).unwrap_err();
    assert!(matches!(err, StoreError::Io(_)), "{err}");
    assert!(store.timers().unwrap().records.is_empty(), "all or nothing");
    // Memory may now be ahead of the database: nothing more is written, flush says so.
    assert!(matches!(store.write(&[&first]), Err(StoreError::Failed(_))));
    assert!(matches!(store.flush(), Err(StoreError::Failed(_))));
    drop(store);
    // A restart reads what committed and writes again.
    let store = PgStore::connect(&database.url).unwrap();
    store.write(&[&first]).unwrap();
    assert_eq!(store.timers().unwrap().records, vec![timer]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_fails_cleanly_from_inside_a_runtime_as_the_server_opens_it() {
    // The server opens its store from an async task: a refusal there must be an error
    // it can report, not a panic from the store's own runtime being dropped.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = PgStore::connect(&format!("postgres://who@127.0.0.1:{port}/db"))
        .err()
        .expect("refused");
    assert!(matches!(err, StoreError::Io(_)), "{err}");
    let database = TestDatabase::new("async");
    let store = PgStore::connect(&database.url).unwrap();
    assert_eq!(store.partition_count(3).unwrap(), 3);
    store.join(&node("n"), 3, LEASE).unwrap();
    let second = PgStore::connect(&database.url).unwrap();
    let refused = second.join(&node("n"), 3, LEASE).unwrap_err();
    assert!(
        matches!(refused, StoreError::NodeIdInUse { .. }),
        "{refused}"
    );
    drop(second);
    drop(store);
}

#[test]
fn a_cursor_it_did_not_make_is_refused_as_a_bad_token() {
    let database = TestDatabase::new("cursor");
    let store = PgStore::connect(&database.url).unwrap();
    for forged in [&b"abc"[..], &[0, 0, 0, 0, 0, 0, 0, 1, 0xFF][..]] {
        let err = store
            .machine_executions("M", None, Some(forged), 10)
            .expect_err("refused");
        assert!(matches!(err, StoreError::Cursor(_)), "{err}");
        let runtime: crate::runtime::RuntimeError = err.into();
        assert_eq!(runtime.aws_code(), "InvalidToken");
    }
}

#[test]
fn offers_are_announced_to_every_node_when_their_commit_commits_and_not_otherwise() {
    let database = TestDatabase::new("announce");
    let a = PgStore::connect(&database.url).unwrap();
    a.join(&node("a"), 2, LEASE).unwrap();
    a.acquire("a", 1, LEASE).unwrap();
    let b = PgStore::connect(&database.url).unwrap();
    let mut heard = b.announcements();
    let offering = |fence: Option<Lease>, queue: &str| Batch {
        writes: vec![Write::DeleteExpressStart("arn:x".into())],
        fence,
        announce: vec![queue.into(), queue.into()],
    };
    // Refused by its fence: rolled back, so nothing is announced.
    let stale = offering(Some(lease(1, 9)), "never");
    assert!(matches!(a.write(&[&stale]), Err(StoreError::Fenced { .. })));
    a.write(&[&offering(Some(lease(0, 1)), "work")]).unwrap();
    let said = b
        .runtime()
        .block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(5), heard.recv()).await
        })
        .expect("announced within 5 s")
        .unwrap();
    assert_eq!(
        said,
        Announcement {
            node: "a".into(),
            queue: "work".into(),
            offers: 2,
        }
    );
    // Once per queue per commit.
    assert!(heard.try_recv().is_err());
}

#[test]
fn a_takeover_waits_for_a_commit_in_flight_under_the_old_epoch() {
    let database = TestDatabase::new("overtake");
    let a = PgStore::connect(&database.url).unwrap();
    a.join(&node("a"), 1, LEASE).unwrap();
    assert_eq!(a.acquire("a", 1, LEASE).unwrap().len(), 1);
    expire(&database, "a");
    // a's group commit has passed its fence and not committed yet.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (client, connection) = runtime
        .block_on(tokio_postgres::connect(&database.url, NoTls))
        .unwrap();
    runtime.spawn(connection);
    runtime
        .block_on(client.batch_execute("BEGIN; SELECT stepwise_fence('a', '{0}', '{1}')"))
        .unwrap();
    let b = PgStore::connect(&database.url).unwrap();
    b.join(&node("b"), 1, LEASE).unwrap();
    assert!(
        b.acquire("b", 1, LEASE).unwrap().is_empty(),
        "not while a commit under epoch 1 is in flight"
    );
    runtime.block_on(client.batch_execute("COMMIT")).unwrap();
    let taken = b.acquire("b", 1, LEASE).unwrap();
    assert_eq!(taken[0].lease, lease(0, 2));
    // From then on a's fence refuses.
    let refused = runtime
        .block_on(client.batch_execute("SELECT stepwise_fence('a', '{0}', '{1}')"))
        .unwrap_err();
    assert_eq!(
        refused.as_db_error().map(|e| e.code().code()),
        Some(schema::FENCE_REFUSED)
    );
}
