//! What every store must do, written once against the trait and run on each store (the
//! embedded one always; PostgreSQL where the suite has one). `open(name)` opens the store
//! called `name` (a directory, a database), a new empty one the first time: each check
//! has its own, and opens it again to see what survives reopening.

use serde_json::json;

use super::{
    ActivityRecord, Batch, ExecutionPage, ExecutionRecord, ExpressStart, IndexEntry, KeyRecord,
    KeySecret, MachineRecord, MachineType, RevisionRecord, Store, TimerRecord, UsageRecord, Write,
};
use crate::billing::Usage;
use crate::engine::{Event, EventKind, Status, TimerKey};

/// Opens the store under test called `name` (again).
pub(crate) type Open<'a> = &'a dyn Fn(&str) -> Box<dyn Store>;

fn event(id: u64) -> Event {
    Event {
        id,
        previous_event_id: id - 1,
        timestamp_ms: 1,
        kind: EventKind::ExecutionSucceeded { output: json!(id) },
    }
}

fn write(store: &dyn Store, writes: Vec<Write>) {
    store
        .write(&[&Batch {
            writes,
            ..Batch::default()
        }])
        .unwrap();
    store.flush().unwrap();
}

fn due_times(store: &dyn Store) -> Vec<i64> {
    store
        .timers()
        .unwrap()
        .records
        .iter()
        .map(|t| t.due_ms)
        .collect()
}

/// A group of batches applies in order, a later write to the same record winning.
pub(crate) fn a_group_applies_in_order_and_a_later_write_wins(open_named: Open) {
    let open = || open_named("group");
    let store = open();
    let timer = |due_ms| TimerRecord {
        due_ms,
        execution: "arn:x".into(),
        key: TimerKey::Execution,
    };
    let batch = |writes: Vec<Write>| Batch {
        writes,
        ..Batch::default()
    };
    let armed = batch(vec![Write::PutTimer(timer(5)), Write::PutTimer(timer(9))]);
    let fired = batch(vec![Write::DeleteTimer(timer(5))]);
    let rearmed = batch(vec![Write::PutTimer(timer(5))]);
    let cleared = batch(vec![Write::DeleteTimer(timer(9))]);
    store.write(&[&armed, &fired]).unwrap();
    assert_eq!(
        due_times(&*store),
        [9],
        "the delete later in the group wins"
    );
    store.write(&[&cleared, &rearmed]).unwrap();
    assert_eq!(due_times(&*store), [5]);
    store.write(&[]).unwrap();
    store.flush().unwrap();
}

/// Every kind of record reads back as written, after reopening, in its order.
pub(crate) fn every_record_reads_back_after_reopening(open_named: Open) {
    let open = || open_named("records");
    let machine = MachineRecord {
        name: "m".into(),
        arn: "arn:m".into(),
        machine_type: MachineType::Standard,
        revision: 1,
        created_ms: 5,
        updated_ms: 5,
        role_arn: None,
    };
    let execution = ExecutionRecord {
        arn: "arn:x".into(),
        name: "x".into(),
        machine_name: "m".into(),
        machine_arn: "arn:m".into(),
        revision: 1,
        status: Status::Running,
        output: Some(json!({"z": 1, "a": [2, {"k": "v"}]})),
        error: None,
        cause: None,
        start_ms: 1,
        stop_ms: None,
        transitions: 0,
        last_event_id: 300,
    };
    let activity = ActivityRecord {
        name: "act".into(),
        arn: "arn:act".into(),
        created_ms: 3,
    };
    let usage = UsageRecord {
        machine: "m".into(),
        hour: 7,
        partition: 2,
        usage: Usage::default(),
    };
    {
        let store = open();
        let mut writes = vec![
            Write::PutMachine(machine.clone()),
            Write::PutRevision {
                machine: "m".into(),
                revision: 1,
                definition: "{}".into(),
                stored_ms: 7,
            },
            Write::PutActivity(activity.clone()),
            Write::PutUsage(usage.clone()),
            Write::PutTags {
                arn: "arn:m".into(),
                tags: vec![("a".into(), "1".into()), ("b".into(), "2".into())],
            },
            Write::PutTags {
                arn: "arn:gone".into(),
                tags: vec![("a".into(), "1".into())],
            },
        ];
        // A history of several steps, ids past the width of one decimal digit.
        for step in [1..=9, 10..=10, 11..=300] {
            writes.push(Write::AppendEvents {
                execution: "arn:x".into(),
                events: step.map(event).collect(),
            });
        }
        for (due, name) in [(50, "b"), (-10, "a"), (1_000, "c")] {
            writes.push(Write::PutTimer(TimerRecord {
                due_ms: due,
                execution: format!("arn:{name}"),
                key: TimerKey::Execution,
            }));
        }
        writes.push(Write::IndexExecution {
            entry: IndexEntry::of(&execution),
            from: None,
        });
        writes.push(Write::PutExecution(execution.clone()));
        write(&*store, writes);
        write(
            &*store,
            vec![Write::PutTags {
                arn: "arn:gone".into(),
                tags: vec![],
            }],
        );
    }
    let store = open();
    assert_eq!(store.machine("m").unwrap(), Some(machine.clone()));
    assert_eq!(store.machines().unwrap().records, vec![machine]);
    assert_eq!(store.machine("n").unwrap(), None);
    assert_eq!(
        store.revision("m", 1).unwrap(),
        Some(RevisionRecord {
            definition: "{}".into(),
            stored_ms: Some(7)
        })
    );
    assert_eq!(store.revision("m", 2).unwrap(), None);
    let ids: Vec<u64> = store
        .events("arn:x")
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, (1..=300).collect::<Vec<_>>(), "events in id order");
    assert_eq!(store.first_event("arn:x").unwrap().map(|e| e.id), Some(1));
    assert!(
        store.events("arn:x2").unwrap().is_empty(),
        "one execution's events are not another's"
    );
    assert_eq!(store.first_event("arn:none").unwrap(), None);
    assert_eq!(due_times(&*store), [-10, 50, 1_000], "timers by due time");
    let read = store.execution("arn:x").unwrap().unwrap();
    assert_eq!(read, execution);
    assert_eq!(
        serde_json::to_string(&read.output).unwrap(),
        r#"{"z":1,"a":[2,{"k":"v"}]}"#,
        "a payload keeps its keys' order"
    );
    assert_eq!(store.activity("act").unwrap(), Some(activity.clone()));
    assert_eq!(store.activities().unwrap().records, vec![activity]);
    assert_eq!(store.usage().unwrap().records, vec![usage]);
    assert_eq!(
        store.tags("arn:m").unwrap(),
        vec![("a".to_string(), "1".to_string()), ("b".into(), "2".into())]
    );
    assert!(store.tags("arn:gone").unwrap().is_empty());

    let start = ExpressStart {
        arn: "arn:express:s".into(),
        name: "s".into(),
        machine_name: "m".into(),
        machine_arn: "arn:m".into(),
        revision: 1,
        input: json!({"n": 1}),
        role_arn: None,
    };
    write(&*store, vec![Write::PutExpressStart(start.clone())]);
    assert_eq!(store.express_starts().unwrap().records, vec![start]);
    write(
        &*store,
        vec![
            Write::DeleteExpressStart("arn:express:s".into()),
            Write::DeleteActivity("act".into()),
            Write::DeleteMachine("m".into()),
        ],
    );
    assert!(store.express_starts().unwrap().records.is_empty());
    assert_eq!(store.activity("act").unwrap(), None);
    assert_eq!(store.machine("m").unwrap(), None);
    assert!(
        store.revision("m", 1).unwrap().is_some(),
        "a deleted machine's revisions stay for its running executions"
    );
}

/// A record of execution `name` of `machine`, started at `start_ms`.
pub(crate) fn record(machine: &str, name: &str, start_ms: i64, status: Status) -> ExecutionRecord {
    ExecutionRecord {
        arn: format!("arn:{machine}:{name}"),
        name: name.into(),
        machine_name: machine.into(),
        machine_arn: format!("arn:{machine}"),
        revision: 1,
        status,
        output: None,
        error: None,
        cause: None,
        start_ms,
        stop_ms: None,
        transitions: 0,
        last_event_id: 1,
    }
}

/// Writes an execution's record and its index change, as a step does.
fn put(store: &dyn Store, record: &ExecutionRecord, from: Option<Status>) {
    write(
        store,
        vec![
            Write::IndexExecution {
                entry: IndexEntry::of(record),
                from,
            },
            Write::PutExecution(record.clone()),
        ],
    );
}

/// The names of the running executions recovery would find, sorted.
fn running_names(store: &dyn Store) -> Vec<String> {
    let mut names: Vec<String> = (store.running_executions().unwrap().records)
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.sort();
    names
}

/// The names on a page, in order.
pub(crate) fn names(page: &ExecutionPage) -> Vec<&str> {
    page.records
        .records
        .iter()
        .map(|r| r.name.as_str())
        .collect()
}

/// A machine's executions newest first (ties by name, descending), whole or by status,
/// paged by a cursor that nothing between pages shifts; counts by status kept as they
/// change and across a reopening; the running ones for recovery.
pub(crate) fn executions_are_listed_newest_first_and_paged_by_a_stable_cursor(open_named: Open) {
    let open = || open_named("listing");
    let store = open();
    for (name, start) in [("a", 10), ("b", 20), ("c", 30), ("d", 30), ("e", 40)] {
        put(&*store, &record("M", name, start, Status::Running), None);
    }
    put(&*store, &record("Other", "x", 50, Status::Running), None);
    // Ended in the step that started it: indexed once, in its final status.
    put(&*store, &record("M", "quick", 5, Status::Succeeded), None);
    put(
        &*store,
        &record("M", "b", 20, Status::Failed),
        Some(Status::Running),
    );

    let all = store.machine_executions("M", None, None, 100).unwrap();
    // Newest first; the two started at 30 by name, descending.
    assert_eq!(names(&all), ["e", "d", "c", "b", "a", "quick"]);
    assert_eq!(all.next, None);
    let running = store
        .machine_executions("M", Some(Status::Running), None, 100)
        .unwrap();
    assert_eq!(names(&running), ["e", "d", "c", "a"]);
    let failed = store
        .machine_executions("M", Some(Status::Failed), None, 100)
        .unwrap();
    assert_eq!(names(&failed), ["b"]);
    assert_eq!(failed.records.records[0].status, Status::Failed);

    // Pages of two: a start and an end between pages shift nothing after the cursor.
    let first = store
        .machine_executions("M", Some(Status::Running), None, 2)
        .unwrap();
    assert_eq!(names(&first), ["e", "d"]);
    put(&*store, &record("M", "new", 60, Status::Running), None);
    put(
        &*store,
        &record("M", "e", 40, Status::Aborted),
        Some(Status::Running),
    );
    let second = store
        .machine_executions("M", Some(Status::Running), first.next.as_deref(), 2)
        .unwrap();
    assert_eq!(names(&second), ["c", "a"]);
    // Exactly two were left: a full page, and no token for an empty next one.
    assert_eq!(second.next, None);
    // The whole listing pages the same way.
    let mut pages = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = store
            .machine_executions("M", None, after.as_deref(), 3)
            .unwrap();
        pages.extend(names(&page).into_iter().map(str::to_string));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, ["new", "e", "d", "c", "b", "a", "quick"]);

    let counts = store.execution_counts().unwrap();
    let of_m = &counts["M"];
    assert_eq!(of_m[&Status::Running], 4, "{counts:?}");
    assert_eq!(of_m[&Status::Failed], 1);
    assert_eq!(of_m[&Status::Succeeded], 1);
    assert_eq!(of_m[&Status::Aborted], 1);
    assert_eq!(counts["Other"][&Status::Running], 1);
    assert_eq!(running_names(&*store), ["a", "c", "d", "new", "x"]);
    // With most executions closed, recovery still finds the same running ones.
    for name in ["z1", "z2", "z3"] {
        put(&*store, &record("M", name, 1, Status::Succeeded), None);
    }
    assert_eq!(running_names(&*store), ["a", "c", "d", "new", "x"]);
    let counts = store.execution_counts().unwrap();
    assert_eq!(
        store.execution("arn:M:quick").unwrap().unwrap().status,
        Status::Succeeded
    );

    // Counts survive a reopening.
    drop(store);
    let store = open();
    assert_eq!(store.execution_counts().unwrap(), counts);
}

/// The partition count is recorded by the first open that proposes one, and kept.
pub(crate) fn the_partition_count_is_recorded_once(open_named: Open) {
    let open = || open_named("partitions");
    assert_eq!(open().partition_count(12).unwrap(), 12);
    assert_eq!(open().partition_count(64).unwrap(), 12);
}

fn nested(levels: usize) -> serde_json::Value {
    (0..levels).fold(json!("leaf"), |inner, _| json!({ "k": inner }))
}

/// Two events whose payloads nest to the payload limit and twice that: deeper than
/// serde_json reads by default (128), as a template can wrap a payload at the limit.
pub(crate) fn deep_events() -> Vec<Event> {
    let deepest = 2 * crate::asl::json::MAX_NESTING;
    [crate::asl::json::MAX_NESTING, deepest]
        .into_iter()
        .enumerate()
        .map(|(i, levels)| Event {
            kind: EventKind::ExecutionSucceeded {
                output: nested(levels),
            },
            ..event(i as u64 + 1)
        })
        .collect()
}

/// Records holding payloads nested deeper than serde_json reads by default come back.
pub(crate) fn deeply_nested_payloads_come_back(open_named: Open) {
    let open = || open_named("deep");
    let events = deep_events();
    write(
        &*open(),
        vec![Write::AppendEvents {
            execution: "arn:deep".into(),
            events: events.clone(),
        }],
    );
    assert_eq!(open().events("arn:deep").unwrap(), events);
}

/// API keys read back by id, both kinds of secret, and a revocation replaces the record.
pub(crate) fn keys_read_back_and_revocations_stick(open_named: Open) {
    let open = || open_named("keys");
    let bearer = KeyRecord {
        id: "SWKB".into(),
        role: "worker".into(),
        patterns: vec!["tests-*".into(), "builds".into()],
        secret: KeySecret::Sha256 {
            hash: "ab".repeat(32),
        },
        description: "ci runners".into(),
        created_ms: 5,
        revoked_ms: None,
    };
    let signing = KeyRecord {
        id: "SWKA".into(),
        role: "admin".into(),
        patterns: vec![],
        secret: KeySecret::Signing {
            secret: "s3cret".into(),
        },
        description: String::new(),
        created_ms: 6,
        revoked_ms: None,
    };
    assert!(open().keys().unwrap().records.is_empty());
    write(
        &*open(),
        vec![
            Write::PutKey(bearer.clone()),
            Write::PutKey(signing.clone()),
        ],
    );
    assert_eq!(
        open().keys().unwrap().records,
        vec![signing.clone(), bearer.clone()],
        "by id"
    );
    let revoked = KeyRecord {
        revoked_ms: Some(9),
        ..bearer
    };
    write(&*open(), vec![Write::PutKey(revoked.clone())]);
    assert_eq!(open().keys().unwrap().records, vec![signing, revoked]);
}

/// Every check above, on one store.
pub(crate) fn all(open: Open) {
    a_group_applies_in_order_and_a_later_write_wins(open);
    every_record_reads_back_after_reopening(open);
    executions_are_listed_newest_first_and_paged_by_a_stable_cursor(open);
    the_partition_count_is_recorded_once(open);
    deeply_nested_payloads_come_back(open);
    keys_read_back_and_revocations_stick(open);
}
