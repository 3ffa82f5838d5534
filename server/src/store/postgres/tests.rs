//! The PostgreSQL store against a real server: the suite's throwaway cluster, which
//! run-tests.sh starts (scripts/postgres.sh) and names in `STEPWISE_TEST_DATABASE_URL`.
//! Each test gets databases of its own, dropped when it ends.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::store::Write;

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

#[test]
fn a_second_server_on_the_same_database_is_refused_until_the_first_is_gone() {
    let database = TestDatabase::new("inuse");
    let first = PgStore::connect(&database.url).unwrap();
    let refused = PgStore::connect(&database.url).err().expect("refused");
    assert!(
        matches!(&refused, StoreError::DatabaseInUse { place } if place.ends_with(&database.name)),
        "{refused}"
    );
    assert!(
        refused
            .to_string()
            .contains("is in use by another Stepwise server")
    );
    drop(first);
    // Its connection closes a moment after: the next server waits that out.
    drop(PgStore::connect(&database.url).unwrap());
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
    };
    // PostgreSQL's text holds no NUL: the second statement of the group fails.
    let second = Batch {
        writes: vec![Write::DeleteMachine("bad\0name".into())],
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
    let refused = PgStore::connect(&database.url).err().expect("in use");
    assert!(
        matches!(refused, StoreError::DatabaseInUse { .. }),
        "{refused}"
    );
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
