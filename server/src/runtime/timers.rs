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
    by_key: HashMap<(String, TimerKey), i64>,
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
        if let Some(old) = armed
            .by_key
            .insert((execution.to_string(), key.clone()), due_ms)
        {
            armed
                .by_due
                .remove(&(old, execution.to_string(), key.clone()));
        }
        armed.by_due.insert((due_ms, execution.to_string(), key));
        drop(armed);
        self.changed.notify_one();
    }

    /// Disarms `key` of `execution`.
    pub fn cancel(&self, execution: &str, key: &TimerKey) {
        let mut armed = self.armed.lock().expect("timer lock");
        if let Some(due) = armed.by_key.remove(&(execution.to_string(), key.clone())) {
            armed
                .by_due
                .remove(&(due, execution.to_string(), key.clone()));
        }
    }

    /// When `key` of `execution` is due, if armed.
    pub fn due_of(&self, execution: &str, key: &TimerKey) -> Option<i64> {
        let armed = self.armed.lock().expect("timer lock");
        armed
            .by_key
            .get(&(execution.to_string(), key.clone()))
            .copied()
    }

    /// Every timer of `execution` with its due time.
    pub fn of_execution(&self, execution: &str) -> Vec<(TimerKey, i64)> {
        let armed = self.armed.lock().expect("timer lock");
        armed
            .by_key
            .iter()
            .filter(|((e, _), _)| e == execution)
            .map(|((_, key), due)| (key.clone(), *due))
            .collect()
    }

    /// Disarms every timer of `execution`.
    pub fn cancel_execution(&self, execution: &str) {
        for (key, _) in self.of_execution(execution) {
            self.cancel(execution, &key);
        }
    }

    /// Removes and returns every timer due at `now_ms`, earliest first.
    pub fn take_due(&self, now_ms: i64) -> Vec<(String, TimerKey, i64)> {
        let mut armed = self.armed.lock().expect("timer lock");
        let mut due = Vec::new();
        while let Some(first) = armed.by_due.first().cloned() {
            if first.0 > now_ms {
                break;
            }
            armed.by_due.remove(&first);
            armed.by_key.remove(&(first.1.clone(), first.2.clone()));
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
