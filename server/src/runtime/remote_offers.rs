//! Polls on this node that wait for tasks other nodes offer. Another node announces each
//! commit that offers tasks (`store::Announcement`: its queue and how many); one task of
//! this node's reads them and wakes as many waiting polls as there are tasks, each told
//! which node to ask. Waking every poll for every announcement would send each task's
//! node one request per waiting poll, all but one of them in vain.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::oneshot;

use super::executions::Executions;
use crate::store::Announcement;

/// Where a woken poll should look: one node's gRPC address, or every node.
pub(super) type Ask = Option<String>;

/// One waiting poll, registered under each of its queues; woken once.
struct Waiter {
    wake: Mutex<Option<oneshot::Sender<Ask>>>,
}

impl Waiter {
    /// Wakes the poll; false if it was woken already or has stopped waiting.
    fn wake(&self, ask: Ask) -> bool {
        match self.wake.lock().expect("waiter lock").take() {
            Some(sender) => sender.send(ask).is_ok(),
            None => false,
        }
    }

    fn is_gone(&self) -> bool {
        (self.wake.lock().expect("waiter lock"))
            .as_ref()
            .is_none_or(oneshot::Sender::is_closed)
    }
}

/// The polls waiting, by queue, oldest first.
#[derive(Default)]
pub(super) struct RemoteOffers {
    waiting: Mutex<HashMap<String, VecDeque<Arc<Waiter>>>>,
}

impl RemoteOffers {
    /// Registers a poll waiting on `queues`; the receiver says where to look once
    /// another node offers a task on one of them.
    pub fn wait(&self, queues: &[String]) -> oneshot::Receiver<Ask> {
        let (sender, receiver) = oneshot::channel();
        let waiter = Arc::new(Waiter {
            wake: Mutex::new(Some(sender)),
        });
        let mut waiting = self.waiting.lock().expect("remote offers lock");
        for queue in queues {
            let polls = waiting.entry(queue.clone()).or_default();
            // Polls that stopped waiting leave their entries behind; sweep them out
            // before they pile up under a queue nobody offers on.
            if polls.len() >= 64 {
                polls.retain(|w| !w.is_gone());
            }
            polls.push_back(waiter.clone());
        }
        receiver
    }

    /// Wakes up to `offers` polls waiting on `queue`, telling them to ask `addr`.
    pub fn announce(&self, queue: &str, addr: &str, offers: u32) {
        let mut waiting = self.waiting.lock().expect("remote offers lock");
        let Some(polls) = waiting.get_mut(queue) else {
            return;
        };
        let mut woken = 0;
        while woken < offers {
            let Some(waiter) = polls.pop_front() else {
                break;
            };
            if waiter.wake(Some(addr.to_string())) {
                woken += 1;
            }
        }
    }

    /// Wakes every waiting poll to ask every node (announcements were missed).
    pub fn wake_all(&self) {
        let mut waiting = self.waiting.lock().expect("remote offers lock");
        for polls in waiting.values_mut() {
            for waiter in polls.drain(..) {
                waiter.wake(None);
            }
        }
    }
}

/// Hands other nodes' announcements to the polls waiting here, until the runtime stops.
pub(super) async fn dispatch_loop(
    executions: Weak<Executions>,
    mut announcements: tokio::sync::broadcast::Receiver<Announcement>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let heard = tokio::select! {
            heard = announcements.recv() => heard,
            _ = stop.changed() => return,
        };
        let Some(runtime) = executions.upgrade() else {
            return;
        };
        let Some(cluster) = runtime.cluster.as_ref() else {
            return;
        };
        match heard {
            Ok(said) => {
                if let Some(addr) = cluster.addr_of(&said.node) {
                    (cluster.remote_offers).announce(&said.queue, &addr, said.offers);
                }
            }
            Err(RecvError::Lagged(_)) => cluster.remote_offers.wake_all(),
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announcement_wakes_as_many_polls_as_it_offers_tasks() {
        let offers = RemoteOffers::default();
        let mut first = offers.wait(&["a".into(), "b".into()]);
        let mut second = offers.wait(&["a".into()]);
        let mut third = offers.wait(&["a".into()]);
        let gone = offers.wait(&["c".into()]);
        drop(gone);
        offers.announce("a", "node-2:1", 2);
        assert_eq!(first.try_recv().unwrap(), Some("node-2:1".into()));
        assert_eq!(second.try_recv().unwrap(), Some("node-2:1".into()));
        assert!(third.try_recv().is_err(), "one task each");
        // A poll woken through one queue is not woken again through another.
        offers.announce("b", "node-3:1", 1);
        offers.wake_all();
        assert_eq!(third.try_recv().unwrap(), None);
        // Nobody waits on "c" any more: nothing to wake, nothing kept.
        offers.announce("c", "node-2:1", 1);
    }
}
