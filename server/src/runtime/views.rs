//! What the runtime answers with: state machines and executions as Describe shows them,
//! and the events each step made durable (for watchers).

use serde_json::Value;

use crate::asl::validate::Diagnostic;
use crate::billing::ExpressBilling;
use crate::engine::Event;
use crate::store::{ExecutionRecord, MachineRecord};

/// A state machine as Describe shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineView {
    /// Its record.
    pub record: MachineRecord,
    /// The latest revision's definition.
    pub definition: String,
    /// Warnings about the definition.
    pub warnings: Vec<Diagnostic>,
}

/// An execution as Describe shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionView {
    /// Its record.
    pub record: ExecutionRecord,
    /// Its input.
    pub input: Value,
    /// For a finished Express execution: its billed duration and memory.
    pub billing: Option<ExpressBilling>,
}

/// Events that just became durable.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The execution.
    pub execution: String,
    /// Its new events.
    pub events: Vec<Event>,
}
