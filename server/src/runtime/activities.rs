//! Activities: named task queues that AWS-style workers poll, created and deleted under
//! the resource lock.

use super::durable::{Durable, ResourceWrites};
use super::{Arns, RuntimeError, check_name, now_ms};
use crate::store::{ActivityRecord, Batch, Write};

/// The activities of the store.
pub(super) struct Activities {
    durable: Durable,
    arns: Arns,
    writes: ResourceWrites,
}

impl Activities {
    pub fn new(durable: Durable, arns: Arns, writes: ResourceWrites) -> Activities {
        Activities {
            durable,
            arns,
            writes,
        }
    }

    /// Creates an activity (idempotent).
    pub async fn create(&self, name: &str) -> Result<ActivityRecord, RuntimeError> {
        check_name("activity", name)?;
        let _serial = self.writes.lock().await;
        if let Some(existing) = self.durable.store.activity(name)? {
            return Ok(existing);
        }
        let record = ActivityRecord {
            name: name.to_string(),
            arn: self.arns.activity(name),
            created_ms: now_ms(),
        };
        let mut batch = Batch::default();
        batch.push(Write::PutActivity(record.clone()));
        self.durable.commit(batch).await?;
        Ok(record)
    }

    /// An activity by name or ARN, or ActivityDoesNotExist.
    pub fn record(&self, name_or_arn: &str) -> Result<ActivityRecord, RuntimeError> {
        let name = self.arns.activity_name(name_or_arn)?;
        self.durable.store.activity(&name)?.ok_or_else(|| {
            RuntimeError::ActivityNotFound(format!("activity '{name}' does not exist"))
        })
    }

    /// Every activity that can be read, by name.
    pub fn list(&self) -> Result<Vec<ActivityRecord>, RuntimeError> {
        let activities = self.durable.store.activities()?;
        Ok(self.durable.damaged.readable(activities, "activity"))
    }

    /// Deletes an activity (and its tags).
    pub async fn delete(&self, name_or_arn: &str) -> Result<(), RuntimeError> {
        let _serial = self.writes.lock().await;
        let record = self.record(name_or_arn)?;
        let mut batch = Batch::default();
        batch.push(Write::PutTags {
            arn: record.arn,
            tags: Vec::new(),
        });
        batch.push(Write::DeleteActivity(record.name));
        self.durable.commit(batch).await
    }
}
