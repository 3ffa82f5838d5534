//! The durable timers an execution has armed and not yet seen fire or be cancelled: the
//! engine's own ledger, so that it cancels every timer of an ending execution, or of an
//! aborted thread, itself. Most due times could be read back from the execution's state,
//! but a Parallel's or Map's retry delay and a Map's continuation are known only to the
//! step that armed them (AWS records no event for either). The runtime keeps the ledger
//! beside the execution and refills it from the stored timers when it replays one.

use std::collections::BTreeMap;

use super::effect::TimerKey;
use super::history::ThreadId;

/// Armed durable timers and their due times.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArmedTimers {
    due: BTreeMap<TimerKey, i64>,
}

impl ArmedTimers {
    /// The ledger of a replayed execution, from its stored (or re-armed) timers;
    /// heartbeat timers, never stored, are left out as `arm` leaves them out.
    pub fn restore(timers: impl IntoIterator<Item = (TimerKey, i64)>) -> Self {
        let mut armed = ArmedTimers::default();
        for (key, due_ms) in timers {
            armed.arm(key, due_ms);
        }
        armed
    }

    /// Records a timer (a heartbeat timer is re-armed by every heartbeat outside the
    /// engine and cancelled with its task, so it is not kept).
    pub fn arm(&mut self, key: TimerKey, due_ms: i64) {
        if key.is_durable() {
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
    fn keeps_durable_timers_by_thread_until_disarmed_or_taken() {
        let wait = TimerKey::Wait {
            thread: 2,
            due_ms: 50,
        };
        let mut armed = ArmedTimers::restore([
            (wait.clone(), 50),
            (TimerKey::Execution, 90),
            (TimerKey::Heartbeat { token: "t".into() }, 10),
        ]);
        assert_eq!(armed.len(), 2, "heartbeats are not kept");
        armed.arm(
            TimerKey::Backoff {
                thread: 2,
                due_ms: 70,
                error: Some("E".into()),
            },
            70,
        );
        armed.arm(TimerKey::MapContinue { thread: 3 }, 40);
        assert_eq!(armed.of_thread(2).len(), 2);
        assert_eq!(
            armed.of_thread(3),
            vec![(TimerKey::MapContinue { thread: 3 }, 40)]
        );
        armed.disarm(&wait);
        assert_eq!(armed.of_thread(2).len(), 1);
        assert_eq!(armed.take_all().len(), 3);
        assert!(armed.is_empty());
    }
}
