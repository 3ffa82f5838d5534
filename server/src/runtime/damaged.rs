//! Records the store cannot read (a damaged disk, a bug in an older version) affect
//! only themselves: a listing skips them, Describe names the problem, and recovery sets
//! such an execution aside and recovers everything else. Nothing here deletes or
//! rewrites them: they stay in the store, as found, for a person to inspect.
//!
//! What recovery set aside is kept for `/health` and logged at start-up; what a listing
//! skipped is counted (`stepwise_damaged_records_skipped_total`) and logged each time.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::{Damaged, Scanned};

/// What the runtime knows of unreadable records.
#[derive(Default)]
pub struct DamagedRecords {
    set_aside: Mutex<Vec<Damaged>>,
    skipped: AtomicU64,
}

impl DamagedRecords {
    /// The records of a scan that decode; the others are logged and counted.
    pub fn readable<T>(&self, scanned: Scanned<T>, what: &str) -> Vec<T> {
        for damaged in &scanned.damaged {
            tracing::warn!(key = %damaged.key, reason = %damaged.reason, "skipped a stored {what} that cannot be read");
        }
        self.skipped
            .fetch_add(scanned.damaged.len() as u64, Ordering::Relaxed);
        scanned.records
    }

    /// Recovery could not bring this record back: keep it out of the running set and
    /// say so in `/health`.
    pub fn set_aside(&self, damaged: Damaged) {
        tracing::error!(key = %damaged.key, reason = %damaged.reason, "set aside a stored record that cannot be read; it stays in the store untouched");
        self.set_aside
            .lock()
            .expect("damaged records lock")
            .push(damaged);
    }

    /// What recovery set aside.
    pub fn set_aside_list(&self) -> Vec<Damaged> {
        self.set_aside.lock().expect("damaged records lock").clone()
    }

    /// How many unreadable records listings have skipped since the start.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// The two figures in Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let set_aside = self.set_aside_list().len();
        let _ = writeln!(
            out,
            "# HELP stepwise_damaged_records_set_aside Stored records recovery could not read and set aside.\n# TYPE stepwise_damaged_records_set_aside gauge\nstepwise_damaged_records_set_aside {set_aside}"
        );
        let _ = writeln!(
            out,
            "# HELP stepwise_damaged_records_skipped_total Unreadable stored records that listings skipped.\n# TYPE stepwise_damaged_records_skipped_total counter\nstepwise_damaged_records_skipped_total {}",
            self.skipped()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_keeps_the_good_records_and_counts_the_rest() {
        let damaged = DamagedRecords::default();
        let scanned = Scanned {
            records: vec![1, 2],
            damaged: vec![Damaged {
                key: "x|arn:bad".into(),
                reason: "expected value at line 1 column 1".into(),
            }],
        };
        assert_eq!(damaged.readable(scanned, "execution"), [1, 2]);
        assert_eq!(damaged.skipped(), 1);
        assert!(
            damaged.set_aside_list().is_empty(),
            "skipping is not setting aside"
        );
        damaged.set_aside(Damaged {
            key: "x|arn:bad".into(),
            reason: "its history cannot be read".into(),
        });
        assert_eq!(damaged.set_aside_list().len(), 1);
    }
}
