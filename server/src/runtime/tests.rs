//! The runtime over a real sled store in a temporary directory: what survives records
//! the store cannot read.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::engine::TimerKey;
use crate::store::SledStore;

struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "stepwise-runtime-{name}-{}-{}",
            std::process::id(),
            now_ms()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const WAITING: &str =
    r#"{"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 600, "End": true}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_records_are_set_aside_and_everything_else_recovers() {
    let dir = TempDir::new("damaged");
    let store = Arc::new(SledStore::open(&dir.0).unwrap());
    let runtime = Runtime::open(store.clone(), RuntimeConfig::default())
        .await
        .unwrap();
    runtime
        .create_machine("Hold", WAITING, MachineType::Standard, None)
        .await
        .unwrap();
    let mut arns = Vec::new();
    for name in ["healthy", "record-damaged", "history-damaged"] {
        let (arn, _) = runtime
            .start_execution("Hold", Some(name), r#"{"n": 1}"#)
            .await
            .unwrap();
        arns.push(arn);
    }
    runtime.shutdown(Duration::from_secs(10)).await;
    drop(runtime);
    store.damage_execution(&arns[1], true);
    store.damage_execution(&arns[2], false);

    // Recovery brings back the healthy one and sets the other two aside.
    let runtime = Runtime::open(store.clone(), RuntimeConfig::default())
        .await
        .unwrap();
    assert_eq!(runtime.running(), 1);
    let set_aside: Vec<String> = runtime.set_aside().iter().map(|d| d.to_string()).collect();
    assert_eq!(set_aside.len(), 2, "{set_aside:?}");
    assert!(
        set_aside[0].starts_with(&format!("x|{}: ", arns[1])),
        "{set_aside:?}"
    );
    assert!(
        set_aside[1].contains(&arns[2]) && set_aside[1].contains("history cannot be read"),
        "{set_aside:?}"
    );

    // A listing skips the unreadable record and counts it; the others are listed.
    let listed: Vec<String> = runtime
        .list_executions("Hold", None, &paging::PageRequest::first(100))
        .await
        .unwrap()
        .0
        .into_iter()
        .map(|r| r.arn)
        .collect();
    assert!(
        listed.contains(&arns[0]) && listed.contains(&arns[2]),
        "{listed:?}"
    );
    assert!(!listed.contains(&arns[1]));
    assert!(
        runtime
            .metrics_text()
            .contains("stepwise_damaged_records_skipped_total 1"),
        "{}",
        runtime.metrics_text()
    );
    assert!(
        runtime
            .metrics_text()
            .contains("stepwise_damaged_records_set_aside 2")
    );

    // Describe and history name the problem for the damaged ones only.
    for arn in &arns[1..] {
        let err = runtime.describe_execution(arn).await.unwrap_err();
        assert_eq!(err.aws_code(), "InternalFailure", "{err}");
        assert!(err.to_string().contains("cannot be read"), "{err}");
    }
    let err = runtime.history(&arns[2]).await.unwrap_err();
    assert_eq!(err.aws_code(), "InternalFailure", "{err}");
    let healthy = runtime.describe_execution(&arns[0]).await.unwrap();
    assert_eq!(healthy.input, json!({"n": 1}));

    // The healthy execution still runs: it can be stopped, and new work starts.
    runtime.stop_execution(&arns[0], None, None).await.unwrap();
    let (again, _) = runtime
        .start_execution("Hold", Some("after"), "{}")
        .await
        .unwrap();
    assert_eq!(
        runtime
            .describe_execution(&again)
            .await
            .unwrap()
            .record
            .status,
        Status::Running
    );
    runtime.shutdown(Duration::from_secs(10)).await;
}

const PASSING: &str = r#"{"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}}"#;

/// An execution name of `machine` whose execution falls (or does not fall) in `partition`.
fn name_in(runtime: &Runtime, machine: &str, partition: u16, inside: bool, from: usize) -> String {
    (from..)
        .map(|i| format!("run-{i}"))
        .find(|name| {
            let arn = runtime.arns().execution(machine, name);
            (runtime.inner.executions.partitions.of_execution(&arn).id == partition) == inside
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_held_partition_does_not_delay_the_others() {
    let dir = TempDir::new("partitions");
    let store = Arc::new(SledStore::open(&dir.0).unwrap());
    let config = RuntimeConfig {
        partitions: 4,
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::open(store, config).await.unwrap();
    runtime
        .create_machine("Quick", PASSING, MachineType::Standard, None)
        .await
        .unwrap();
    let held = 0;
    let held_name = name_in(&runtime, "Quick", held, true, 0);

    // Hold partition 0 as a slow engine step would: every step runs under its lock.
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let holder = {
        let runtime = runtime.clone();
        let released = released.clone();
        std::thread::spawn(move || {
            let guard = runtime.inner.executions.partitions.get(held).lock();
            locked_tx.send(()).unwrap();
            // Released when the test says so, or after 20 s whatever happens.
            let _ = release_rx.recv_timeout(Duration::from_secs(20));
            released.store(true, std::sync::atomic::Ordering::SeqCst);
            drop(guard);
        })
    };
    locked_rx.recv().unwrap();
    let blocked = {
        let runtime = runtime.clone();
        tokio::spawn(async move {
            runtime
                .start_execution("Quick", Some(&held_name), "{}")
                .await
        })
    };

    // Executions of the other partitions start, run and end meanwhile.
    let mut from = 0;
    for _ in 0..12 {
        let name = name_in(&runtime, "Quick", held, false, from);
        from = name[4..].parse::<usize>().unwrap() + 1;
        let (arn, _) = tokio::time::timeout(
            Duration::from_secs(10),
            runtime.start_execution("Quick", Some(&name), "{}"),
        )
        .await
        .expect("an execution of another partition waited for the held one")
        .unwrap();
        let record = runtime.execution_record(&arn).await.unwrap();
        assert_eq!(record.status, Status::Succeeded);
    }
    assert!(!released.load(std::sync::atomic::Ordering::SeqCst));
    assert!(
        !blocked.is_finished(),
        "the held partition's start went ahead"
    );

    // Once released, the held partition's execution goes on.
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    let (arn, _) = tokio::time::timeout(Duration::from_secs(10), blocked)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        runtime.execution_record(&arn).await.unwrap().status,
        Status::Succeeded
    );
    runtime.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_keeps_its_partition_count_and_every_execution_recovers() {
    let dir = TempDir::new("partition-count");
    let store = Arc::new(SledStore::open(&dir.0).unwrap());
    let config = |partitions| RuntimeConfig {
        partitions,
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::open(store.clone(), config(3)).await.unwrap();
    runtime
        .create_machine("Hold", WAITING, MachineType::Standard, None)
        .await
        .unwrap();
    let mut arns = Vec::new();
    for i in 0..9 {
        let (arn, _) = runtime
            .start_execution("Hold", Some(&format!("w{i}")), "{}")
            .await
            .unwrap();
        arns.push(arn);
    }
    runtime.shutdown(Duration::from_secs(10)).await;
    drop(runtime);

    // Asked for another count, the directory keeps its own, so every execution is found
    // in the partition that holds its timers and tokens.
    let runtime = Runtime::open(store.clone(), config(16)).await.unwrap();
    assert_eq!(runtime.inner.executions.partitions.count(), 3);
    assert_eq!(runtime.running(), 9);
    let in_partitions: usize = runtime
        .inner
        .executions
        .partitions
        .iter()
        .map(|p| p.lock().executions.len())
        .sum();
    assert_eq!(in_partitions, 9);
    for arn in &arns {
        let partition = runtime.inner.executions.partitions.of_execution(arn);
        assert!(partition.lock().executions.contains_key(arn));
        assert_eq!(partition.timers.of_execution(arn).len(), 1, "{arn}");
    }
    runtime.stop_execution(&arns[0], None, None).await.unwrap();
    runtime.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_stopped_after_a_restart_takes_every_stored_timer_with_it() {
    // A Parallel retried for ten minutes: no event records when (AWS records none), only
    // its stored timer, which the engine's ledger gets back from the store on recovery.
    let retried = r#"{"TimeoutSeconds": 3600, "StartAt": "Fan", "States": {"Fan": {
        "Type": "Parallel", "End": true,
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 600}],
        "Branches": [{"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Boom"}}}]}}}"#;
    let dir = TempDir::new("stopped-timers");
    let store = Arc::new(SledStore::open(&dir.0).unwrap());
    let runtime = Runtime::open(store.clone(), RuntimeConfig::default())
        .await
        .unwrap();
    runtime
        .create_machine("Retried", retried, MachineType::Standard, None)
        .await
        .unwrap();
    let (arn, _) = runtime
        .start_execution("Retried", Some("r"), "{}")
        .await
        .unwrap();
    let stored = |store: &SledStore| -> Vec<TimerKey> {
        let timers = store.timers().unwrap();
        assert!(timers.damaged.is_empty());
        timers
            .records
            .into_iter()
            .filter(|t| t.execution == arn)
            .map(|t| t.key)
            .collect()
    };
    let kinds = stored(&store);
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(kinds.contains(&TimerKey::Execution));
    assert!(kinds.iter().any(|k| matches!(
        k,
        TimerKey::Backoff { error: Some(e), .. } if e == "Boom"
    )));
    runtime.shutdown(Duration::from_secs(10)).await;
    drop(runtime);

    let runtime = Runtime::open(store.clone(), RuntimeConfig::default())
        .await
        .unwrap();
    runtime.stop_execution(&arn, None, None).await.unwrap();
    assert_eq!(stored(&store), Vec::<TimerKey>::new());
    let partition = runtime.inner.executions.partitions.of_execution(&arn);
    assert!(partition.timers.of_execution(&arn).is_empty());
    runtime.shutdown(Duration::from_secs(10)).await;
}

/// A sled store whose first read of one execution answers only once released: the
/// caller's view of the store is then older than what happens meanwhile.
struct SlowFirstRead {
    inner: SledStore,
    arn_suffix: &'static str,
    paused: std::sync::atomic::AtomicBool,
    released: std::sync::atomic::AtomicBool,
}

impl crate::store::Store for SlowFirstRead {
    fn execution(&self, arn: &str) -> Result<Option<ExecutionRecord>, crate::store::StoreError> {
        let read = self.inner.execution(arn);
        if arn.ends_with(self.arn_suffix)
            && !self.paused.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            // Bounded, so a test that never releases it fails instead of hanging.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while !self.released.load(std::sync::atomic::Ordering::SeqCst)
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        read
    }
    fn write(&self, batches: &[&crate::store::Batch]) -> Result<(), crate::store::StoreError> {
        self.inner.write(batches)
    }
    fn flush(&self) -> Result<(), crate::store::StoreError> {
        self.inner.flush()
    }
    fn machine(&self, name: &str) -> Result<Option<MachineRecord>, crate::store::StoreError> {
        self.inner.machine(name)
    }
    fn machines(&self) -> Result<crate::store::Scanned<MachineRecord>, crate::store::StoreError> {
        self.inner.machines()
    }
    fn revision(
        &self,
        machine: &str,
        revision: u32,
    ) -> Result<Option<crate::store::RevisionRecord>, crate::store::StoreError> {
        self.inner.revision(machine, revision)
    }
    fn running_executions(
        &self,
    ) -> Result<crate::store::Scanned<ExecutionRecord>, crate::store::StoreError> {
        self.inner.running_executions()
    }
    fn machine_executions(
        &self,
        machine: &str,
        status: Option<crate::engine::Status>,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<crate::store::ExecutionPage, crate::store::StoreError> {
        self.inner.machine_executions(machine, status, after, limit)
    }
    fn execution_counts(&self) -> Result<crate::store::ExecutionCounts, crate::store::StoreError> {
        self.inner.execution_counts()
    }
    fn events(
        &self,
        execution: &str,
    ) -> Result<Vec<crate::engine::Event>, crate::store::StoreError> {
        self.inner.events(execution)
    }
    fn first_event(
        &self,
        execution: &str,
    ) -> Result<Option<crate::engine::Event>, crate::store::StoreError> {
        self.inner.first_event(execution)
    }
    fn timers(
        &self,
    ) -> Result<crate::store::Scanned<crate::store::TimerRecord>, crate::store::StoreError> {
        self.inner.timers()
    }
    fn activity(&self, name: &str) -> Result<Option<ActivityRecord>, crate::store::StoreError> {
        self.inner.activity(name)
    }
    fn activities(
        &self,
    ) -> Result<crate::store::Scanned<ActivityRecord>, crate::store::StoreError> {
        self.inner.activities()
    }
    fn express_starts(
        &self,
    ) -> Result<crate::store::Scanned<crate::store::ExpressStart>, crate::store::StoreError> {
        self.inner.express_starts()
    }
    fn usage(
        &self,
    ) -> Result<crate::store::Scanned<crate::store::UsageRecord>, crate::store::StoreError> {
        self.inner.usage()
    }
    fn tags(&self, arn: &str) -> Result<Vec<(String, String)>, crate::store::StoreError> {
        self.inner.tags(arn)
    }
    fn keys(
        &self,
    ) -> Result<crate::store::Scanned<crate::store::KeyRecord>, crate::store::StoreError> {
        self.inner.keys()
    }
    fn partition_count(&self, proposed: u16) -> Result<u16, crate::store::StoreError> {
        self.inner.partition_count(proposed)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_check_that_read_the_store_before_the_named_execution_ended_reads_again() {
    // The first start reads the store (no such execution yet) and is held before it
    // takes the partition's lock; meanwhile a second start of the same name runs the
    // execution to its end and out of memory. The first must not start it again.
    let dir = TempDir::new("name-check");
    let store = Arc::new(SlowFirstRead {
        inner: SledStore::open(&dir.0).unwrap(),
        arn_suffix: ":once",
        paused: Default::default(),
        released: Default::default(),
    });
    let runtime = Runtime::open(store.clone(), RuntimeConfig::default())
        .await
        .unwrap();
    let at_once = r#"{"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}}"#;
    (runtime
        .create_machine("AtOnce", at_once, MachineType::Standard, None)
        .await)
        .unwrap();
    let held = tokio::spawn({
        let runtime = runtime.clone();
        async move { runtime.start_execution("AtOnce", Some("once"), "{}").await }
    });
    // The second start begins once the first is held in its read, however slow the
    // machine.
    while !store.paused.load(std::sync::atomic::Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (arn, _) = (runtime.start_execution("AtOnce", Some("once"), "{}").await).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while runtime.running() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(runtime.running(), 0, "the execution ended and left memory");
    store
        .released
        .store(true, std::sync::atomic::Ordering::SeqCst);
    match held.await.unwrap() {
        Err(RuntimeError::ExecutionAlreadyExists(_)) => {}
        other => panic!("the held start should find the ended execution: {other:?}"),
    }
    let history = runtime.history(&arn).await.unwrap();
    let started = (history.iter())
        .filter(|e| matches!(e.kind, crate::engine::EventKind::ExecutionStarted { .. }));
    assert_eq!(started.count(), 1, "{history:?}");
    runtime.shutdown(Duration::from_secs(10)).await;
}
