//! Group commit. Every transition's batch goes to one committer thread, which writes all
//! the batches waiting at that moment, flushes once, and only then tells each submitter
//! its batch is durable. A lone batch does not wait for company: the thread flushes as
//! soon as the previous flush ends, so latency is one flush and throughput grows with
//! the number of concurrent transitions, not the disk's fsync rate.
//!
//! Reads must not show what is not durable yet (the store and the runtime's memory both
//! run ahead of the disk by up to one flush): a reader calls [`Committer::settled`] after
//! reading, which waits until everything submitted before that moment is flushed.
//!
//! A failed write or flush is fatal: the store's memory may hold writes the disk does
//! not (sled keeps them in its page cache and refuses further writes after an I/O error),
//! so from then on every submission and every read barrier fails with the first error,
//! and a restart recovers the last durable state.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{oneshot, watch};

use crate::store::{Batch, Store, StoreError};

/// Most batches written before one flush; bounds the latency of the first in a burst.
const MAX_BATCHES_PER_FLUSH: usize = 4096;

struct Job {
    sequence: u64,
    batch: Batch,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// What submitters share under one lock: the channel and the last sequence number given.
struct Submissions {
    jobs: Option<mpsc::Sender<Job>>,
    last_sequence: u64,
}

/// The handle that submits batches to the committer thread.
pub struct Committer {
    submissions: Mutex<Submissions>,
    /// The highest sequence number known durable.
    flushed: watch::Receiver<u64>,
    /// The first store failure; set once, never cleared.
    failure: Arc<OnceLock<StoreError>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    counts: Arc<GroupCounts>,
}

/// How well commits group: flushes done and batches they made durable.
#[derive(Default)]
pub struct GroupCounts {
    /// Store flushes.
    pub flushes: AtomicU64,
    /// Batches made durable by those flushes.
    pub batches: AtomicU64,
    /// Batches refused because their partition's lease had passed to another node.
    pub fenced: AtomicU64,
}

impl Committer {
    /// Starts the committer thread; it ends when the last handle is dropped, after
    /// committing everything submitted.
    pub fn start(store: Arc<dyn Store>) -> Committer {
        let (jobs, receiver) = mpsc::channel::<Job>();
        let (flushed_sender, flushed) = watch::channel(0);
        let failure = Arc::new(OnceLock::new());
        let thread_failure = failure.clone();
        let counts = Arc::new(GroupCounts::default());
        let thread_counts = counts.clone();
        let thread = std::thread::Builder::new()
            .name("stepwise-commit".into())
            .spawn(move || {
                commit_loop(
                    store,
                    receiver,
                    flushed_sender,
                    thread_failure,
                    &thread_counts,
                )
            })
            .expect("the committer thread starts");
        Committer {
            submissions: Mutex::new(Submissions {
                jobs: Some(jobs),
                last_sequence: 0,
            }),
            flushed,
            failure,
            thread: Mutex::new(Some(thread)),
            counts,
        }
    }

    /// Flushes done and batches committed so far.
    pub fn counts(&self) -> &GroupCounts {
        &self.counts
    }

    /// Commits what was submitted, then stops the thread (later submissions fail).
    pub fn close(&self) {
        self.submissions.lock().expect("committer lock").jobs.take();
        if let Some(thread) = self.thread.lock().expect("committer lock").take() {
            let _ = thread.join();
        }
    }

    /// The store failure that stopped all commits, if one happened.
    pub fn failure(&self) -> Option<StoreError> {
        self.failure.get().cloned()
    }

    /// Queues a batch; the receiver resolves once it is durable (or failed). Batches
    /// become durable in submission order.
    pub fn submit(&self, batch: Batch) -> oneshot::Receiver<Result<(), StoreError>> {
        let (done, durable) = oneshot::channel();
        if let Some(failure) = self.failure() {
            let _ = done.send(Err(failure));
            return durable;
        }
        let mut submissions = self.submissions.lock().expect("committer lock");
        submissions.last_sequence += 1;
        let job = Job {
            sequence: submissions.last_sequence,
            batch,
            done,
        };
        let rejected = match submissions.jobs.as_ref() {
            Some(jobs) => jobs.send(job).err().map(|mpsc::SendError(job)| job),
            None => Some(job),
        };
        drop(submissions);
        if let Some(job) = rejected {
            let _ = job
                .done
                .send(Err(StoreError::Io("the server is shutting down".into())));
        }
        durable
    }

    /// Waits until every batch submitted before this call is durable, so what a reader
    /// has just read cannot be undone by a crash. Fails once the store has failed.
    pub async fn settled(&self) -> Result<(), StoreError> {
        let wanted = self
            .submissions
            .lock()
            .expect("committer lock")
            .last_sequence;
        let mut flushed = self.flushed.clone();
        loop {
            if let Some(failure) = self.failure() {
                return Err(failure);
            }
            if *flushed.borrow_and_update() >= wanted {
                return Ok(());
            }
            if flushed.changed().await.is_err() {
                // The thread ended: everything it took was committed or failed.
                return match self.failure() {
                    Some(failure) => Err(failure),
                    None => Ok(()),
                };
            }
        }
    }
}

/// Writes a group and flushes. Batches of partitions whose lease has passed to another
/// node are answered `Fenced` and the rest written without them: the store refused the
/// whole transaction, so nothing was written, and the other partitions' batches are
/// not to blame.
fn write_unfenced(
    store: &dyn Store,
    jobs: &mut Vec<Job>,
    counts: &GroupCounts,
) -> Result<(), StoreError> {
    loop {
        let batches: Vec<&Batch> = jobs.iter().map(|job| &job.batch).collect();
        let written = store.write(&batches).and_then(|()| store.flush());
        let Err(StoreError::Fenced { partitions }) = written else {
            return written;
        };
        let lost = |job: &Job| {
            job.batch
                .fence
                .is_some_and(|f| partitions.is_empty() || partitions.contains(&f.partition))
        };
        let (refused, kept): (Vec<Job>, Vec<Job>) =
            std::mem::take(jobs).into_iter().partition(lost);
        if refused.is_empty() {
            // The store named partitions no batch was fenced with: nothing to leave out.
            *jobs = kept;
            return Err(StoreError::Io(format!(
                "the store refused a fence for partitions {partitions:?} that no batch carries"
            )));
        }
        tracing::warn!(
            ?partitions,
            batches = refused.len(),
            "group commit refused by a fence: another node holds these partitions now"
        );
        (counts.fenced).fetch_add(refused.len() as u64, Ordering::Relaxed);
        for job in refused {
            let _ = job.done.send(Err(StoreError::Fenced {
                partitions: partitions.clone(),
            }));
        }
        *jobs = kept;
        if jobs.is_empty() {
            return Ok(());
        }
    }
}

fn commit_loop(
    store: Arc<dyn Store>,
    receiver: mpsc::Receiver<Job>,
    flushed_sequence: watch::Sender<u64>,
    failure: Arc<OnceLock<StoreError>>,
    counts: &GroupCounts,
) {
    while let Ok(first) = receiver.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCHES_PER_FLUSH {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        // Taken before refused batches leave the group: they are settled too.
        let last = jobs.last().map(|job| job.sequence).unwrap_or_default();
        let outcome = match failure.get() {
            Some(earlier) => Err(earlier.clone()),
            None => write_unfenced(&*store, &mut jobs, counts),
        };
        match &outcome {
            Ok(()) => {
                counts.flushes.fetch_add(1, Ordering::Relaxed);
                counts
                    .batches
                    .fetch_add(jobs.len() as u64, Ordering::Relaxed);
                flushed_sequence.send_replace(last);
            }
            Err(e) => {
                let failed = match e {
                    StoreError::Failed(_) => e.clone(),
                    other => StoreError::Failed(other.to_string()),
                };
                if failure.set(failed).is_ok() {
                    tracing::error!(
                        "the store failed: {e}; every request is refused until the server is restarted"
                    );
                    // Wake readers waiting on the barrier so they see the failure.
                    flushed_sequence.send_modify(|_| {});
                }
            }
        }
        let outcome = outcome.map_err(|_| failure.get().cloned().expect("set above"));
        for job in jobs {
            let _ = job.done.send(outcome.clone());
        }
    }
}
