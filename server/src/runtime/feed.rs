//! Following an execution's history as it commits: the events so far, then each new
//! batch, until the terminal event. The gRPC watch and the console's live page both read
//! one of these.

use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;

use super::{Committed, Runtime, RuntimeError};
use crate::engine::Event;

/// How often a feed of an execution another node serves reads its history again.
const ELSEWHERE_READ_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

/// An execution's events in order, each once, ending after the terminal event.
pub struct HistoryFeed {
    runtime: Runtime,
    arn: String,
    history: Option<Vec<Event>>,
    committed: broadcast::Receiver<Arc<Committed>>,
    /// Set when the server starts to stop: the feed ends instead of holding the drain.
    stopping: watch::Receiver<bool>,
    last_id: u64,
    ended: bool,
}

impl Runtime {
    /// Follows `arn`'s history from its first event.
    pub async fn follow(&self, arn: &str) -> Result<HistoryFeed, RuntimeError> {
        let partition = self.inner.executions.partitions.of_execution(arn);
        let committed = partition.committed.subscribe();
        let history = self.history(arn).await?;
        Ok(HistoryFeed {
            runtime: self.clone(),
            arn: arn.to_string(),
            history: Some(history),
            committed,
            stopping: self.inner.executions.stop.subscribe(),
            last_id: 0,
            ended: false,
        })
    }
}

impl HistoryFeed {
    /// The same feed without the events up to `id` (already given by another feed).
    pub fn after(mut self, id: u64) -> HistoryFeed {
        self.last_id = self.last_id.max(id);
        self
    }

    /// The next events not seen yet (the whole history first); `None` once the terminal
    /// event was given or the server is stopping.
    pub async fn next(&mut self) -> Option<Vec<Event>> {
        while !self.ended {
            if *self.stopping.borrow() {
                return None;
            }
            let batch = match self.history.take() {
                Some(history) => history,
                None => {
                    // Another node's commits reach this node only through the store:
                    // while it serves the execution, the feed reads the store again
                    // now and then.
                    let elsewhere = self.runtime.served_elsewhere(&self.arn);
                    let received = tokio::select! {
                        received = self.committed.recv() => received,
                        _ = tokio::time::sleep(ELSEWHERE_READ_INTERVAL), if elsewhere => {
                            Err(RecvError::Lagged(0))
                        }
                        _ = self.stopping.changed() => return None,
                    };
                    match received {
                        Ok(batch) if batch.execution == self.arn => batch.events.clone(),
                        Ok(_) => continue,
                        // Fell behind the live feed, or the execution is served by
                        // another node: catch up from the store.
                        Err(RecvError::Lagged(_)) => self.runtime.history(&self.arn).await.ok()?,
                        Err(RecvError::Closed) => return None,
                    }
                }
            };
            let mut fresh = Vec::new();
            for event in batch {
                if event.id <= self.last_id {
                    continue;
                }
                self.last_id = event.id;
                let terminal = event.kind.is_terminal();
                fresh.push(event);
                if terminal {
                    self.ended = true;
                    break;
                }
            }
            if !fresh.is_empty() {
                return Some(fresh);
            }
        }
        None
    }
}
