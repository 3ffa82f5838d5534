//! The timer service: every armed timer (Wait ends, retry delays, task and heartbeat
//! timeouts, execution timeouts), earliest first. Durable ones are also in the store,
//! so a restart re-arms them; one already overdue fires at once, in due-time order.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::engine::TimerKey;

#[derive(Default)]
struct Armed {
    by_due: BTreeSet<(i64, String, TimerKey)>,
    /// Each execution's timers and when they are due: finding an execution's timers
    /// must not scan every armed timer (100,000 waiting executions made each ending
    /// execution scan them all, twice).
    by_execution: HashMap<String, HashMap<TimerKey, i64>>,
}

impl Armed {
    fn remove(&mut self, execution: &str, key: &TimerKey) -> Option<i64> {
        let timers = self.by_execution.get_mut(execution)?;
        let due = timers.remove(key)?;
        if timers.is_empty() {
            self.by_execution.remove(execution);
        }
        self.by_due
            .remove(&(due, execution.to_string(), key.clone()));
        Some(due)
    }
}

/// Armed timers.
#[derive(Default)]
pub struct Timers {
    armed: Mutex<Armed>,
    changed: Notify,
}

impl Timers {
    /// Arms (or re-arms) `key` of `execution` for `due_ms`.
    pub fn arm(&self, execution: &str, key: TimerKey, due_ms: i64) {
        let mut armed = self.armed.lock().expect("timer lock");
        armed.remove(execution, &key);
        armed
            .by_execution
            .entry(execution.to_string())
            .or_default()
            .insert(key.clone(), due_ms);
        armed.by_due.insert((due_ms, execution.to_string(), key));
        drop(armed);
        self.changed.notify_one();
    }

    /// Disarms `key` of `execution`.
    pub fn cancel(&self, execution: &str, key: &TimerKey) {
        self.armed
            .lock()
            .expect("timer lock")
            .remove(execution, key);
    }

    /// Every timer of `execution` with its due time.
    pub fn of_execution(&self, execution: &str) -> Vec<(TimerKey, i64)> {
        let armed = self.armed.lock().expect("timer lock");
        armed
            .by_execution
            .get(execution)
            .map(|timers| {
                timers
                    .iter()
                    .map(|(key, due)| (key.clone(), *due))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Removes and returns every timer due at `now_ms`, earliest first.
    pub fn take_due(&self, now_ms: i64) -> Vec<(String, TimerKey, i64)> {
        let mut armed = self.armed.lock().expect("timer lock");
        let mut due = Vec::new();
        while let Some(first) = armed.by_due.first().cloned() {
            if first.0 > now_ms {
                break;
            }
            armed.remove(&first.1, &first.2);
            due.push((first.1, first.2, first.0));
        }
        due
    }

    /// When the next timer is due.
    pub fn next_due(&self) -> Option<i64> {
        self.armed
            .lock()
            .expect("timer lock")
            .by_due
            .first()
            .map(|t| t.0)
    }

    /// Resolves when a timer is armed (the loop then recomputes its sleep).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// How many timers are armed.
    pub fn len(&self) -> usize {
        self.armed.lock().expect("timer lock").by_due.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str) -> TimerKey {
        TimerKey::TaskTimeout { token: name.into() }
    }

    #[test]
    fn timers_are_kept_per_execution_and_taken_earliest_first() {
        let timers = Timers::default();
        timers.arm("a", token("1"), 30);
        timers.arm("a", token("2"), 10);
        timers.arm("b", token("3"), 20);
        // Re-arming replaces the due time.
        timers.arm("a", token("1"), 5);
        assert_eq!(timers.len(), 3);
        let mut of_a = timers.of_execution("a");
        of_a.sort_by_key(|(_, due)| *due);
        assert_eq!(of_a, vec![(token("1"), 5), (token("2"), 10)]);
        assert_eq!(timers.next_due(), Some(5));

        timers.cancel("a", &token("2"));
        assert_eq!(timers.of_execution("a"), vec![(token("1"), 5)]);
        let taken: Vec<i64> = timers.take_due(25).into_iter().map(|t| t.2).collect();
        assert_eq!(taken, vec![5, 20]);
        assert_eq!(timers.len(), 0);
        assert!(timers.of_execution("a").is_empty());
    }
}
