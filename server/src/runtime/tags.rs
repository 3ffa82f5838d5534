//! Tags of state machines and activities: a resource's whole set is rewritten under the
//! resource lock, so a concurrent delete (which clears them) cannot interleave.

use super::durable::{Durable, ResourceWrites};
use super::limits::{MAX_TAGS, check_tags};
use super::{Arns, RuntimeError};
use crate::store::{Batch, Write};

/// The tags of the store's resources.
pub(super) struct Tags {
    durable: Durable,
    arns: Arns,
    writes: ResourceWrites,
}

impl Tags {
    pub fn new(durable: Durable, arns: Arns, writes: ResourceWrites) -> Tags {
        Tags {
            durable,
            arns,
            writes,
        }
    }

    /// Adds or replaces tags on a state machine or activity (at most 50 in all).
    pub async fn tag(&self, arn: &str, tags: &[(String, String)]) -> Result<(), RuntimeError> {
        check_tags(tags)?;
        let _serial = self.writes.lock().await;
        let mut current = self.of(arn)?;
        for (key, value) in tags {
            current.retain(|(k, _)| k != key);
            current.push((key.clone(), value.clone()));
        }
        if current.len() > MAX_TAGS {
            return Err(RuntimeError::TooManyTags(format!(
                "{arn} would have {} tags; at most {MAX_TAGS} are allowed",
                current.len()
            )));
        }
        current.sort();
        self.put(arn, current).await
    }

    /// Removes tags by key.
    pub async fn untag(&self, arn: &str, keys: &[String]) -> Result<(), RuntimeError> {
        let _serial = self.writes.lock().await;
        let mut current = self.of(arn)?;
        current.retain(|(k, _)| !keys.contains(k));
        self.put(arn, current).await
    }

    async fn put(&self, arn: &str, tags: Vec<(String, String)>) -> Result<(), RuntimeError> {
        let mut batch = Batch::default();
        batch.push(Write::PutTags {
            arn: arn.to_string(),
            tags,
        });
        self.durable.commit(batch).await
    }

    /// The current tags of an existing state machine or activity, sorted by key.
    pub fn of(&self, arn: &str) -> Result<Vec<(String, String)>, RuntimeError> {
        let missing = || {
            RuntimeError::ResourceNotFound(format!(
                "{arn} is not a state machine or activity of this server"
            ))
        };
        let store = &self.durable.store;
        let exists = if arn.contains(":stateMachine:") {
            let name = self.arns.machine_name(arn).map_err(|_| missing())?;
            store.machine(&name)?.is_some()
        } else if arn.contains(":activity:") {
            let name = self.arns.activity_name(arn).map_err(|_| missing())?;
            store.activity(&name)?.is_some()
        } else {
            false
        };
        if !exists {
            return Err(missing());
        }
        Ok(store.tags(arn)?)
    }
}
