//! Metrics a user can scrape, in Prometheus text format at `/metrics`: executions by
//! outcome, state transitions, tasks dispatched, poll wait time, commit latency and group-commit sizes.
//! Plain atomics: recording is a few relaxed increments on the hot path.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::committer::GroupCounts;
use crate::engine::Status;

/// Upper bounds of the histogram buckets, in seconds.
const BOUNDS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0,
];

/// A latency histogram with fixed buckets.
#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BOUNDS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = BOUNDS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BOUNDS.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, bound) in BOUNDS.iter().enumerate() {
            cumulative += self.counts[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.counts[BOUNDS.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {cumulative}");
    }
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

/// The runtime's counters.
#[derive(Default)]
pub struct Metrics {
    started: AtomicU64,
    ended: [AtomicU64; 4],
    transitions: AtomicU64,
    tasks_dispatched: AtomicU64,
    /// How long PollTask calls waited.
    pub poll_wait: Histogram,
    /// How long a step waited for its batch to be durable.
    pub commit_latency: Histogram,
}

impl Metrics {
    /// An execution started.
    pub fn execution_started(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    /// An execution ended with `status`.
    pub fn execution_ended(&self, status: Status) {
        let index = match status {
            Status::Succeeded => 0,
            Status::Failed => 1,
            Status::TimedOut => 2,
            Status::Aborted => 3,
            Status::Running => return,
        };
        self.ended[index].fetch_add(1, Ordering::Relaxed);
    }

    /// State transitions happened.
    pub fn transitions(&self, count: u64) {
        self.transitions.fetch_add(count, Ordering::Relaxed);
    }

    /// A task was handed to a poller.
    pub fn task_dispatched(&self) {
        self.tasks_dispatched.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition, with the committer's group-commit counts.
    pub fn render(&self, groups: &GroupCounts) -> String {
        let mut out = String::new();
        counter(
            &mut out,
            "stepwise_executions_started_total",
            "Executions started.",
            self.started.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP stepwise_executions_ended_total Executions ended, by status.\n# TYPE stepwise_executions_ended_total counter"
        );
        for (status, count) in ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]
            .iter()
            .zip(&self.ended)
        {
            let _ = writeln!(
                out,
                "stepwise_executions_ended_total{{status=\"{status}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        counter(
            &mut out,
            "stepwise_state_transitions_total",
            "State transitions (states entered and retries).",
            self.transitions.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "stepwise_tasks_dispatched_total",
            "Tasks handed to pollers.",
            self.tasks_dispatched.load(Ordering::Relaxed),
        );
        self.poll_wait.render(
            &mut out,
            "stepwise_poll_wait_seconds",
            "How long PollTask calls waited.",
        );
        self.commit_latency.render(
            &mut out,
            "stepwise_commit_latency_seconds",
            "How long a step waited for its batch to be durable.",
        );
        counter(
            &mut out,
            "stepwise_store_flushes_total",
            "Store flushes (each group commit is one).",
            groups.flushes.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "stepwise_store_batches_committed_total",
            "Step batches made durable; divided by flushes, the mean group size.",
            groups.batches.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "stepwise_store_batches_fenced_total",
            "Step batches refused because their partition's lease had passed to another node.",
            groups.fenced.load(Ordering::Relaxed),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::default();
        metrics.execution_started();
        metrics.execution_ended(Status::Failed);
        metrics.transitions(3);
        metrics.commit_latency.observe(Duration::from_micros(300));
        metrics.commit_latency.observe(Duration::from_millis(20));
        let text = metrics.render(&GroupCounts::default());
        assert!(text.contains("stepwise_executions_started_total 1"));
        assert!(text.contains("stepwise_executions_ended_total{status=\"FAILED\"} 1"));
        assert!(text.contains("stepwise_state_transitions_total 3"));
        assert!(text.contains("stepwise_commit_latency_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("stepwise_commit_latency_seconds_bucket{le=\"0.025\"} 2"));
        assert!(text.contains("stepwise_commit_latency_seconds_count 2"));
        assert!(text.contains("stepwise_store_flushes_total 0"));
    }
}
