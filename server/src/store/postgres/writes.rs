//! A group of batches as the statements of one transaction: each write an upsert or a
//! delete of its table's row, then the changes to the counts, in one fixed order.

use std::collections::HashMap;

use tokio_postgres::types::ToSql;

use super::sql;
use crate::engine::Status;
use crate::store::codec::{StoredRevision, encode};
use crate::store::{Batch, TimerRecord, Write};

/// A statement's parameters, owned so the statement can run on the store's runtime.
pub(super) type Params = Vec<Box<dyn ToSql + Sync + Send>>;

/// A parameter.
pub(super) fn boxed<T: ToSql + Sync + Send + 'static>(value: T) -> Box<dyn ToSql + Sync + Send> {
    Box::new(value)
}

/// The statements of a group of batches, in order, then the changes to the counts.
pub(super) fn statements_of(batches: &[&Batch]) -> Vec<(&'static str, Params)> {
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
            Write::PutKey(record) => (
                sql::PUT_KEY,
                vec![boxed(record.id.clone()), boxed(encode(record))],
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
