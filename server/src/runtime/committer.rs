//! Group commit. Every transition's batch goes to one committer thread, which writes all
//! the batches waiting at that moment, flushes once, and only then tells each submitter
//! its batch is durable. A lone batch does not wait for company: the thread flushes as
//! soon as the previous flush ends, so latency is one flush and throughput grows with
//! the number of concurrent transitions, not the disk's fsync rate.

use std::sync::Arc;
use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::store::{Batch, Store, StoreError};

/// Most batches written before one flush; bounds the latency of the first in a burst.
const MAX_BATCHES_PER_FLUSH: usize = 4096;

struct Job {
    batch: Batch,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The handle that submits batches to the committer thread.
pub struct Committer {
    jobs: std::sync::Mutex<Option<mpsc::Sender<Job>>>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Committer {
    /// Starts the committer thread; it ends when the last handle is dropped, after
    /// committing everything submitted.
    pub fn start(store: Arc<dyn Store>) -> Committer {
        let (jobs, receiver) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("stepwise-commit".into())
            .spawn(move || commit_loop(store, receiver))
            .expect("the committer thread starts");
        Committer {
            jobs: std::sync::Mutex::new(Some(jobs)),
            thread: std::sync::Mutex::new(Some(thread)),
        }
    }

    /// Commits what was submitted, then stops the thread (later submissions fail).
    pub fn close(&self) {
        self.jobs.lock().expect("committer lock").take();
        if let Some(thread) = self.thread.lock().expect("committer lock").take() {
            let _ = thread.join();
        }
    }

    /// Queues a batch; the receiver resolves once it is durable (or failed). Batches
    /// become durable in submission order.
    pub fn submit(&self, batch: Batch) -> oneshot::Receiver<Result<(), StoreError>> {
        let (done, durable) = oneshot::channel();
        let job = Job { batch, done };
        let rejected = match self.jobs.lock().expect("committer lock").as_ref() {
            Some(jobs) => jobs.send(job).err().map(|mpsc::SendError(job)| job),
            None => Some(job),
        };
        if let Some(job) = rejected {
            let _ = job
                .done
                .send(Err(StoreError::Io("the server is shutting down".into())));
        }
        durable
    }
}

fn commit_loop(store: Arc<dyn Store>, receiver: mpsc::Receiver<Job>) {
    while let Ok(first) = receiver.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCHES_PER_FLUSH {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let written: Vec<Result<(), StoreError>> =
            jobs.iter().map(|job| store.write(&job.batch)).collect();
        let flushed = store.flush();
        for (job, result) in jobs.into_iter().zip(written) {
            let outcome = match (&result, &flushed) {
                (Err(e), _) | (Ok(()), Err(e)) => Err(e.clone()),
                (Ok(()), Ok(())) => Ok(()),
            };
            if let Err(e) = &outcome {
                tracing::error!("commit failed: {e}");
            }
            let _ = job.done.send(outcome);
        }
    }
}
