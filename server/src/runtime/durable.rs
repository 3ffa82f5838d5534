//! The store as the runtime's parts reach it: writes become durable through the group
//! committer, reads are answered once nothing they saw can still be lost to a crash, and
//! records that do not decode are set aside and counted rather than failing a listing.

use std::sync::Arc;

use super::RuntimeError;
use super::committer::Committer;
use super::damaged::DamagedRecords;
use crate::store::{Batch, Store};

/// Serialises the read-modify-writes of state machines, activities and tags, which await
/// the committer between read and write: concurrent updates each get their own revision,
/// and a delete's clearing of tags cannot interleave with a TagResource.
pub(super) type ResourceWrites = Arc<tokio::sync::Mutex<()>>;

/// The store, its committer and the record of what could not be read (cheap to clone).
#[derive(Clone)]
pub(super) struct Durable {
    pub store: Arc<dyn Store>,
    pub committer: Arc<Committer>,
    pub damaged: Arc<DamagedRecords>,
}

impl Durable {
    /// Starts the committer on `store`.
    pub fn start(store: Arc<dyn Store>) -> Durable {
        Durable {
            committer: Arc::new(Committer::start(store.clone())),
            store,
            damaged: Arc::default(),
        }
    }

    /// Writes a batch and waits until it is durable.
    pub async fn commit(&self, batch: Batch) -> Result<(), RuntimeError> {
        match self.committer.submit(batch).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(RuntimeError::Unavailable("the committer stopped".into())),
        }
    }

    /// `read`'s answer once nothing it could have seen can still be lost to a crash: the
    /// store and memory run ahead of the disk by up to one group commit.
    pub async fn settled<T>(&self, read: Result<T, RuntimeError>) -> Result<T, RuntimeError> {
        let value = read?;
        self.committer.settled().await?;
        Ok(value)
    }

    /// Fails once the store has failed, for calls that would otherwise not notice.
    pub fn check(&self) -> Result<(), RuntimeError> {
        match self.committer.failure() {
            Some(failure) => Err(failure.into()),
            None => Ok(()),
        }
    }
}
