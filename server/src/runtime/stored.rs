//! Standard executions as the store holds them: records, inputs, histories and listings,
//! read without touching the running executions in memory.

use serde_json::Value;

use super::durable::Durable;
use super::paging::{self, PageRequest};
use super::{Arns, ExecutionView, RuntimeError};
use crate::engine::{Event, EventKind, Status};
use crate::store::{ExecutionCounts, ExecutionRecord};

/// The store's Standard executions.
pub(super) struct StoredExecutions {
    durable: Durable,
    arns: Arns,
}

impl StoredExecutions {
    pub fn new(durable: Durable, arns: Arns) -> StoredExecutions {
        StoredExecutions { durable, arns }
    }

    /// An execution's record (without its input), or ExecutionDoesNotExist.
    pub fn record(&self, arn: &str) -> Result<ExecutionRecord, RuntimeError> {
        self.arns.execution_machine(arn)?;
        self.durable.store.execution(arn)?.ok_or_else(|| {
            RuntimeError::ExecutionNotFound(format!("execution {arn} does not exist"))
        })
    }

    /// An execution's input, from its first event (written once, not in the record).
    pub fn input(&self, arn: &str) -> Result<Value, RuntimeError> {
        let first = self.durable.store.first_event(arn)?;
        Ok(match first.as_ref().map(|e| &e.kind) {
            Some(EventKind::ExecutionStarted { input, .. }) => input.clone(),
            _ => Value::Null,
        })
    }

    /// An execution's record and input.
    pub fn view(&self, arn: &str) -> Result<ExecutionView, RuntimeError> {
        let record = self.record(arn)?;
        let input = self.input(arn)?;
        Ok(ExecutionView {
            record,
            input,
            billing: None,
        })
    }

    /// An execution's whole history.
    pub fn events(&self, arn: &str) -> Result<Vec<Event>, RuntimeError> {
        // The record says whether it exists; the input (in the first event) is not needed.
        self.record(arn)?;
        Ok(self.durable.store.events(arn)?)
    }

    /// A page of a state machine's executions, newest first, optionally of one status,
    /// with the token of the next page (a cursor: see `paging`).
    pub fn page(
        &self,
        machine: &str,
        status: Option<Status>,
        page: &PageRequest,
    ) -> Result<(Vec<ExecutionRecord>, Option<String>), RuntimeError> {
        let name = self.arns.machine_name(machine)?;
        let after = page.cursor()?;
        let store = &self.durable.store;
        if store.machine(&name)?.is_none() {
            return Err(RuntimeError::MachineNotFound(format!(
                "state machine '{name}' does not exist"
            )));
        }
        let found = store.machine_executions(&name, status, after.as_deref(), page.size)?;
        let records = self.durable.damaged.readable(found.records, "execution");
        Ok((records, found.next.as_deref().map(paging::cursor_token)))
    }

    /// How many executions of each state machine are in each status (counters kept by
    /// the store, not a scan).
    pub fn counts(&self) -> Result<ExecutionCounts, RuntimeError> {
        Ok(self.durable.store.execution_counts()?)
    }
}
