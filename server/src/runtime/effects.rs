//! What makes one step of a stored (Standard) execution durable: the step's events, the
//! execution's record, and the timers its effects arm and cancel, as one store batch.
//! Built from the engine's `Outcome` alone (plus the timer that fired and, when the
//! execution ended, the timers it still had), never by reading the events for what to
//! do; the runtime adds usage and commits it.

use crate::engine::{Effect, Execution, Outcome, Status, TimerKey};
use crate::store::{Batch, ExecutionRecord, IndexEntry, TimerRecord, Write};

/// The writes of one step. `fired` is the timer whose firing caused the step;
/// `armed` lists the execution's timers still armed, whose records go once it ends.
pub(super) fn step_writes(
    outcome: &Outcome,
    execution: &Execution,
    revision: u32,
    fired: Option<TimerRecord>,
    armed: impl FnOnce() -> Vec<(TimerKey, i64)>,
) -> Batch {
    let arn = &execution.identity.arn;
    let mut batch = Batch::default();
    if let Some(fired) = fired {
        batch.push(Write::DeleteTimer(fired));
    }
    if !outcome.events.is_empty() {
        batch.push(Write::AppendEvents {
            execution: arn.clone(),
            events: outcome.events.clone(),
        });
        let record = record_of(execution, revision);
        // The indexes change only when the execution starts or its status changes, not at
        // every step.
        // A step that records event 1 started it; a step of a running execution that
        // leaves it not running ended it (an ended execution takes no more steps).
        let started = outcome.events.first().is_some_and(|e| e.id == 1);
        let ended = execution.status != Status::Running;
        if started || ended {
            batch.push(Write::IndexExecution {
                entry: IndexEntry::of(&record),
                from: (!started).then_some(Status::Running),
            });
        }
        batch.push(Write::PutExecution(record));
    }
    let timer = |key: &TimerKey, due_ms: i64| TimerRecord {
        due_ms,
        execution: arn.clone(),
        key: key.clone(),
    };
    for effect in &outcome.effects {
        match effect {
            Effect::ArmTimer { key, due_ms } if key.is_durable() => {
                batch.push(Write::PutTimer(timer(key, *due_ms)))
            }
            Effect::CancelTimer {
                key,
                due_ms: Some(due_ms),
            } if key.is_durable() => batch.push(Write::DeleteTimer(timer(key, *due_ms))),
            _ => {}
        }
    }
    if execution.status != Status::Running {
        // Its timers go with it (a Parallel or Map waiting to retry has one the engine
        // cannot name: its due time is only in the timer).
        for (key, due_ms) in armed() {
            if key.is_durable() {
                batch.push(Write::DeleteTimer(timer(&key, due_ms)));
            }
        }
    }
    batch
}

/// An execution's record, as its state stands.
pub(super) fn record_of(execution: &Execution, revision: u32) -> ExecutionRecord {
    ExecutionRecord {
        arn: execution.identity.arn.clone(),
        name: execution.identity.name.clone(),
        machine_name: execution.identity.machine_name.clone(),
        machine_arn: execution.identity.machine_arn.clone(),
        revision,
        status: execution.status,
        output: execution.output.clone(),
        error: execution.error.clone(),
        cause: execution.cause.clone(),
        start_ms: execution.start_ms,
        stop_ms: execution.stop_ms,
        transitions: execution.transitions,
        last_event_id: execution.last_event_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Event, EventKind, Identity};
    use serde_json::json;

    fn execution(status: Status) -> Execution {
        let mut execution = Execution::new(Identity {
            arn: "arn:e".into(),
            name: "e".into(),
            machine_arn: "arn:m".into(),
            machine_name: "m".into(),
        });
        execution.status = status;
        execution
    }

    fn started() -> Event {
        Event {
            id: 1,
            previous_event_id: 0,
            timestamp_ms: 5,
            kind: EventKind::ExecutionStarted {
                input: json!({}),
                role_arn: "r".into(),
                timeout_seconds: None,
            },
        }
    }

    fn kinds(batch: &Batch) -> Vec<&'static str> {
        batch
            .writes
            .iter()
            .map(|w| match w {
                Write::AppendEvents { .. } => "events",
                Write::PutExecution(_) => "record",
                Write::IndexExecution { .. } => "index",
                Write::PutTimer(_) => "put-timer",
                Write::DeleteTimer(_) => "delete-timer",
                _ => "other",
            })
            .collect()
    }

    #[test]
    fn events_record_and_durable_timers_in_order() {
        let wait = TimerKey::Wait {
            thread: 0,
            due_ms: 90,
        };
        let outcome = Outcome {
            events: vec![started()],
            effects: vec![
                Effect::ArmTimer {
                    key: wait.clone(),
                    due_ms: 90,
                },
                // Heartbeats are never stored.
                Effect::ArmTimer {
                    key: TimerKey::Heartbeat { token: "t".into() },
                    due_ms: 50,
                },
                Effect::CancelTimer {
                    key: TimerKey::Heartbeat { token: "t".into() },
                    due_ms: None,
                },
                Effect::CancelTimer {
                    key: wait.clone(),
                    due_ms: Some(90),
                },
            ],
        };
        let fired = TimerRecord {
            due_ms: 4,
            execution: "arn:e".into(),
            key: TimerKey::Execution,
        };
        let batch = step_writes(
            &outcome,
            &execution(Status::Running),
            3,
            Some(fired),
            || panic!("a running execution keeps its timers"),
        );
        assert_eq!(
            kinds(&batch),
            [
                "delete-timer",
                "events",
                "index",
                "record",
                "put-timer",
                "delete-timer"
            ]
        );
        // A start enters the indexes.
        let Write::IndexExecution { entry, from: None } = &batch.writes[2] else {
            panic!("{:?}", batch.writes[2])
        };
        assert_eq!(entry.status, Status::Running);
        let Write::PutExecution(record) = &batch.writes[3] else {
            panic!()
        };
        assert_eq!((record.arn.as_str(), record.revision), ("arn:e", 3));
        let Write::DeleteTimer(cancelled) = &batch.writes[5] else {
            panic!()
        };
        assert_eq!((&cancelled.key, cancelled.due_ms), (&wait, 90));
    }

    #[test]
    fn an_ended_execution_takes_its_durable_timers_with_it() {
        let backoff = TimerKey::Backoff {
            thread: 2,
            due_ms: 70,
            error: Some("E".into()),
        };
        let aborted = Event {
            id: 2,
            previous_event_id: 1,
            timestamp_ms: 6,
            kind: EventKind::ExecutionAborted {
                error: None,
                cause: None,
            },
        };
        let batch = step_writes(
            &Outcome {
                events: vec![aborted],
                effects: vec![],
            },
            &execution(Status::Aborted),
            1,
            None,
            || {
                vec![
                    (backoff.clone(), 70),
                    (TimerKey::Heartbeat { token: "t".into() }, 60),
                ]
            },
        );
        assert_eq!(kinds(&batch), ["events", "index", "record", "delete-timer"]);
        // An end moves it from the running index to its final status's.
        let Write::IndexExecution {
            entry,
            from: Some(Status::Running),
        } = &batch.writes[1]
        else {
            panic!("{:?}", batch.writes[1])
        };
        assert_eq!(entry.status, Status::Aborted);
        let Write::DeleteTimer(gone) = &batch.writes[3] else {
            panic!()
        };
        assert_eq!((&gone.key, gone.due_ms), (&backoff, 70));
    }

    #[test]
    fn a_step_with_nothing_to_record_writes_nothing() {
        let batch = step_writes(
            &Outcome::default(),
            &execution(Status::Running),
            1,
            None,
            Vec::new,
        );
        assert!(batch.is_empty());
    }
}
