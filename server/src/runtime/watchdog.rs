//! The clock behind JSONata's time limit: the engine reads no clock, so an evaluation
//! registers its cancel token here and a thread of the runtime cancels it when its time
//! is up. The evaluator checks the token as it goes, so a runaway expression ends with
//! an error soon after its deadline.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use jsonata_core::evaluator::CancelToken;

use crate::asl::jsonata::Watch;

/// Cancels each registered evaluation that is still running at its deadline.
pub struct Watchdog {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<Deadlines>,
    changed: Condvar,
}

#[derive(Default)]
struct Deadlines {
    next_ticket: u64,
    by_time: BTreeMap<(Instant, u64), CancelToken>,
    by_ticket: HashMap<u64, Instant>,
    /// When the thread wakes next (None: it is awake).
    wake_at: Option<Instant>,
}

/// How long the thread sleeps at most between checks that the watchdog still exists.
const IDLE_CHECK: Duration = Duration::from_secs(1);

impl Watchdog {
    /// Starts the watching thread; it ends on its own once the watchdog is dropped.
    pub fn start() -> Arc<Watchdog> {
        let shared = Arc::new(Shared::default());
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("jsonata-watchdog".into())
            .spawn(move || watch(weak))
            .expect("the watchdog thread starts");
        Arc::new(Watchdog { shared })
    }
}

fn watch(shared: Weak<Shared>) {
    while let Some(shared) = shared.upgrade() {
        let mut deadlines = shared.state.lock().expect("watchdog lock");
        let now = Instant::now();
        while let Some(entry) = deadlines.by_time.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, ticket), token) = entry.remove_entry();
            deadlines.by_ticket.remove(&ticket);
            tracing::warn!("a JSONata evaluation ran past its time limit and was cancelled");
            token.cancel();
        }
        let wait = deadlines
            .by_time
            .keys()
            .next()
            .map_or(IDLE_CHECK, |(due, _)| due.saturating_duration_since(now))
            .min(IDLE_CHECK);
        deadlines.wake_at = Some(now + wait);
        let (mut deadlines, _) = shared
            .changed
            .wait_timeout(deadlines, wait)
            .expect("watchdog lock");
        deadlines.wake_at = None;
    }
}

impl Watch for Watchdog {
    fn begin(&self, token: &CancelToken, time_ms: u64) -> u64 {
        let due = Instant::now() + Duration::from_millis(time_ms);
        let mut deadlines = self.shared.state.lock().expect("watchdog lock");
        let ticket = deadlines.next_ticket;
        deadlines.next_ticket += 1;
        deadlines.by_time.insert((due, ticket), token.clone());
        deadlines.by_ticket.insert(ticket, due);
        // Wake the thread only when it sleeps past this deadline: evaluations mostly
        // end long before, and a wake-up per evaluation cost more than the evaluation.
        if deadlines.wake_at.is_some_and(|wake| wake > due) {
            self.shared.changed.notify_one();
        }
        ticket
    }

    fn end(&self, ticket: u64) {
        let mut deadlines = self.shared.state.lock().expect("watchdog lock");
        if let Some(due) = deadlines.by_ticket.remove(&ticket) {
            deadlines.by_time.remove(&(due, ticket));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_past_its_deadline_is_cancelled_and_an_ended_one_is_not() {
        let watchdog = Watchdog::start();
        let slow = CancelToken::new();
        let quick = CancelToken::new();
        watchdog.begin(&slow, 50);
        let ticket = watchdog.begin(&quick, 50);
        watchdog.end(ticket);
        let started = Instant::now();
        while !slow.is_cancelled() && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(slow.is_cancelled(), "cancelled after its deadline");
        assert!(
            !quick.is_cancelled(),
            "an evaluation that ended is left alone"
        );
    }
}
