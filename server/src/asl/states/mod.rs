//! One file per state type: its fields and what it does to its data. The engine decides
//! *when* each runs; these decide *what* it computes.

mod choice;
mod fail;
mod map;
mod parallel;
mod pass;
mod succeed;
mod task;
mod wait;

#[cfg(test)]
pub(crate) use choice::all_operator_names;
pub use choice::{Choice, ChoiceRule, Comparison, Condition, Family, Operand, Relation, TypeTest};
pub use fail::{Fail, FailOutcome, Text};
pub use map::{Map, Tolerance};
pub use parallel::Parallel;
pub use pass::Pass;
pub use succeed::Succeed;
pub use task::{IntegrationPattern, Resource, Target, Task, TaskTimeouts};
pub use wait::{Wait, WaitFor};
