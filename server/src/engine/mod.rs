//! The engine: a pure interpreter. `decide::apply(execution, armed, machine, command,
//! env)` returns the history events that follow and the effects the runtime must carry
//! out once they are durable; `Execution::evolve` applies an event, `Execution::replay`
//! rebuilds an execution from its history, and `ArmedTimers` is the ledger of the timers
//! it armed. No I/O, clock or randomness of its own.

pub mod armed;
pub mod command;
pub mod decide;
pub mod effect;
pub mod execution;
pub mod history;
pub mod machine;

pub use armed::ArmedTimers;
pub use command::{Command, CommandError};
pub use decide::{Env, apply};
pub use effect::{Effect, Outcome, TaskClosed, TimerKey};
pub use execution::{Execution, Identity, Status};
pub use history::{Event, EventKind, ThreadId};
pub use machine::Machine;

#[cfg(test)]
mod causes_tests;
#[cfg(test)]
mod golden_tests;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod timers_tests;
#[cfg(test)]
mod variables_tests;
