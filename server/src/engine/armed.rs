//! The engine's ledger of the durable timers whose due time no event records: a
//! Parallel's or Map's retry delay (AWS records no event for a retried attempt until the
//! next one starts) and a Map's continuation. Every other timer's due time is in the
//! replayed execution (a Wait's end, a task's timeout or retry delay, the execution's
//! timeout), so the engine can cancel it from the execution alone; with this ledger it
//! cancels every timer of an aborted thread or an ending execution itself. The runtime
//! keeps the ledger beside the execution and refills it from the stored timers when it
//! replays one. Kept to these few, it costs a typical execution nothing (a Wait's timer
//! in it would have added about half a KiB to each of 100,000 waiting executions).

use std::collections::BTreeMap;

use super::effect::TimerKey;
use super::history::ThreadId;

/// Armed timers whose due time only the step that armed them knew.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArmedTimers {
    due: BTreeMap<TimerKey, i64>,
}

impl ArmedTimers {
    /// The ledger of a replayed execution, from its stored timers (`arm` keeps the ones
    /// it should).
    pub fn restore(timers: impl IntoIterator<Item = (TimerKey, i64)>) -> Self {
        let mut armed = ArmedTimers::default();
        for (key, due_ms) in timers {
            armed.arm(key, due_ms);
        }
        armed
    }

    /// Records a timer if its due time is in no event (heartbeat timers, never stored,
    /// are cancelled with their task and need no due time).
    pub fn arm(&mut self, key: TimerKey, due_ms: i64) {
        if key.is_durable() && !key.due_in_history() {
            self.due.insert(key, due_ms);
        }
    }

    /// Forgets a timer that fired or was cancelled.
    pub fn disarm(&mut self, key: &TimerKey) {
        self.due.remove(key);
    }

    /// The timers of one thread (its Wait, its retry delay, its Map's continuation).
    pub fn of_thread(&self, thread: ThreadId) -> Vec<(TimerKey, i64)> {
        self.due
            .iter()
            .filter(|(key, _)| key.thread() == Some(thread))
            .map(|(key, due_ms)| (key.clone(), *due_ms))
            .collect()
    }

    /// Every timer, forgotten.
    pub fn take_all(&mut self) -> Vec<(TimerKey, i64)> {
        std::mem::take(&mut self.due).into_iter().collect()
    }

    /// How many are armed.
    pub fn len(&self) -> usize {
        self.due.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_timers_no_event_records_by_thread_until_disarmed_or_taken() {
        let retry = |thread, due_ms| TimerKey::Backoff {
            thread,
            due_ms,
            error: Some("E".into()),
        };
        let mut armed = ArmedTimers::restore([
            (
                TimerKey::Wait {
                    thread: 2,
                    due_ms: 50,
                },
                50,
            ),
            (
                TimerKey::Backoff {
                    thread: 2,
                    due_ms: 60,
                    error: None,
                },
                60,
            ),
            (TimerKey::TaskTimeout { token: "t".into() }, 80),
            (TimerKey::Execution, 90),
            (TimerKey::Heartbeat { token: "t".into() }, 10),
            (retry(2, 70), 70),
        ]);
        assert_eq!(armed.len(), 1, "only the Parallel's retry is in no event");
        armed.arm(TimerKey::MapContinue { thread: 3 }, 40);
        armed.arm(retry(4, 75), 75);
        assert_eq!(armed.of_thread(2), vec![(retry(2, 70), 70)]);
        assert_eq!(
            armed.of_thread(3),
            vec![(TimerKey::MapContinue { thread: 3 }, 40)]
        );
        armed.disarm(&retry(2, 70));
        assert!(armed.of_thread(2).is_empty());
        assert_eq!(armed.take_all().len(), 2);
        assert!(armed.is_empty());
    }
}
